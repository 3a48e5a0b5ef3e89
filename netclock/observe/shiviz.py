"""GoVector's log format, read and written, and the checks ShiViz applies to it.

A log holds two lines per event, exactly as GoVector writes them::

    client {"client":2, "server":1}
    sent ping

The first line is the host, one space and the clock in GoVector's text form (keys
sorted); the second is the event text. A merged file, the one ShiViz loads, starts with
the parser regex :data:`SHIVIZ_REGEX` on its own line and one blank line.

ShiViz refuses a log where a host's own entry does not start at 1 and grow by exactly 1
per event, or where a clock claims an event another host never logged;
:func:`validate_shiviz` reports both before anyone opens a browser.
"""

from __future__ import annotations

import heapq
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from netclock.clock import VectorClock, check_pid
from netclock.errors import ClockError, ConfigError, UsageError

__all__ = [
    "SHIVIZ_REGEX",
    "EventLogWriter",
    "LogEvent",
    "format_event",
    "merge_logs",
    "parse_log",
    "validate_shiviz",
]

log = logging.getLogger(__name__)

SHIVIZ_REGEX = r"(?<host>\S*) (?<clock>{.*})\n(?<event>.*)"
"""ShiViz's parser regex for GoVector logs (JavaScript syntax), the first line of a merged file."""

BUFFER_BYTES = 64 * 1024
"""How much text :class:`EventLogWriter` keeps in memory before it writes to the file."""

_CLOCK_LINE = re.compile(r"(?P<host>\S+) (?P<clock>\{.*\})")
# JavaScript's "." stops at these, so ShiViz would cut an event text at any of them.
# JavaScript's "." stops at these, so ShiViz would cut an event text at any of them.
_LINE_BREAK = re.compile("[\n\r\u2028\u2029]").search
_LINE_BREAKS = str.maketrans({"\n": " ", "\r": " ", "\u2028": " ", "\u2029": " "})


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One event read from a GoVector log; ``index`` is its position in what was parsed."""

    host: str
    clock: VectorClock
    event: str
    index: int


def format_event(host: str, clock: VectorClock, event: str) -> str:
    """The two lines GoVector writes for one event (line breaks in ``event`` become spaces)."""
    return event_lines(host, str(clock), event)


def event_lines(host: str, clock_text: str, event: str) -> str:
    """:func:`format_event` for a clock already in its text form (``str(clock)``)."""
    if _LINE_BREAK(event):
        event = event.translate(_LINE_BREAKS)
    return f"{host} {clock_text}\n{event}\n"


class ClosedOnExit:
    """Base of the log writers: ``with`` closes them (``close`` must be idempotent)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventLogWriter(ClosedOnExit):
    """Writes one host's events to a GoVector log, buffered in memory.

    The file is created (or truncated, as GoVector does) at construction, so a path that
    cannot be written fails here with :class:`ConfigError`. Events reach the file when
    the buffer passes ``buffer_bytes``, on :meth:`flush`, and on :meth:`close`; call
    one of the last two before relying on the file's contents.
    """

    def __init__(self, path: str | os.PathLike[str], *, buffer_bytes: int = BUFFER_BYTES) -> None:
        self.path = Path(path)
        try:
            self._file = open(  # noqa: SIM115 - closed by close()
                self.path, "w", encoding="utf-8", errors="backslashreplace", newline="\n"
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot write the GoVector log {self.path}: {exc.strerror}; "
                "choose a path in an existing, writable folder"
            ) from exc
        self._buffer: list[str] = []
        self._buffered = 0
        self._limit = buffer_bytes
        self._checked_host = ""
        self._closed = False

    def write(self, host: str, clock: VectorClock, event: str) -> None:
        """Append one event; it reaches the file on the next flush."""
        if self._closed:
            raise UsageError(f"the GoVector log {self.path} is closed; open a new writer")
        if host != self._checked_host:
            check_pid(host)
            self._checked_host = host
        text = format_event(host, clock, event)
        self._buffer.append(text)
        self._buffered += len(text)
        if self._buffered > self._limit:
            self.flush()

    def flush(self) -> None:
        """Write the buffered events to the file and hand them to the OS."""
        if self._closed or not self._buffer:
            return
        self._file.write("".join(self._buffer))
        self._buffer.clear()
        self._buffered = 0
        self._file.flush()

    def close(self) -> None:
        """Flush and close the file; calling it again does nothing."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            self._file.close()


# -- reading -------------------------------------------------------------------------------------


def _is_regex_line(line: str) -> bool:
    return all(f"(?<{name}>" in line for name in ("host", "clock", "event"))


def _parse_text(text: str, name: str) -> list[LogEvent]:
    lines = text.split("\n")
    cut = bool(text) and not text.endswith("\n")  # a write cut off by a kill
    if not cut:
        lines.pop()
    last = len(lines) - 1
    i = 1 if lines and _is_regex_line(lines[0]) else 0
    events: list[LogEvent] = []
    while i < len(lines):
        line = lines[i].rstrip("\r")
        if not line.strip():
            i += 1
            continue
        match = _CLOCK_LINE.fullmatch(line)
        if i == last and (cut or match is not None):
            # A cut clock line, or a clock line whose event line was never written.
            log.debug("%s: skipped an unfinished last event (its writer was killed)", name)
            break
        if match is None:
            raise ConfigError(
                f"{name}, line {i + 1}: expected 'host {{clock}}' but found {line!r:.80}; "
                "is this a GoVector log?"
            )
        try:
            host = check_pid(match["host"])
            clock = VectorClock.parse(match["clock"])
        except ClockError as exc:
            raise ConfigError(f"{name}, line {i + 1}: {exc}") from exc
        events.append(LogEvent(host, clock, lines[i + 1].rstrip("\r"), len(events)))
        i += 2
    return events


def parse_log(source: str | os.PathLike[str]) -> list[LogEvent]:
    """The events of a GoVector log, in file order; raises :class:`ConfigError` if malformed.

    ``source`` is a path (a ``Path``, or a ``str`` without a line break) or the log's
    text (a ``str`` with a line break, or empty). A leading regex line and blank lines
    between events, as in merged files, are skipped; so is what a writer killed in
    mid-write leaves at the end: a cut clock line, or a clock line without its event line
    (a cut event line is read as it is).
    """
    if isinstance(source, str) and (not source or "\n" in source):
        return _parse_text(source, "<text>")
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the log {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the log {path} is not UTF-8 text ({exc.reason})") from exc
    return _parse_text(text, str(path))


def validate_shiviz(events: Iterable[LogEvent]) -> list[str]:
    """What ShiViz would refuse in ``events`` (all hosts together); empty means valid.

    Each host's own entry must be 1 on its first event and grow by exactly 1 per event,
    and no clock may claim more events of a host than that host logged in ``events``.
    """
    events = list(events)
    if not events:
        return ["the log has no events; ShiViz needs at least one"]
    logged = Counter(e.host for e in events)
    last: dict[str, int] = {}
    problems: list[str] = []
    for e in events:
        own = e.clock[e.host]
        previous = last.get(e.host)
        if previous is None and own != 1:
            problems.append(
                f"event {e.index} ({e.host} {e.clock}): the first event of {e.host!r} "
                f"has own entry {own}, it must be 1"
            )
        elif previous is not None and own != previous + 1:
            problems.append(
                f"event {e.index} ({e.host} {e.clock}): {e.host!r}'s own entry goes from "
                f"{previous} to {own}, it must grow by exactly 1 per event"
            )
        last[e.host] = own
        for other, value in e.clock.items():
            if other != e.host and value > logged[other]:
                problems.append(
                    f"event {e.index} ({e.host} {e.clock}): knows {other}:{value} but "
                    f"{other!r} logged only {logged[other]} event(s)"
                )
    return problems


# -- merging -------------------------------------------------------------------------------------


def _interleave(histories: Sequence[list[LogEvent]]) -> list[LogEvent]:
    """One sequence that keeps each history's order and puts causes before effects.

    A k-way merge by (sum of clock entries, host, index): if ``a`` happened before ``b``,
    ``a``'s sum is smaller, and so is that of every event before ``a`` on its host.
    """

    def key(h: int, pos: int) -> tuple[int, str, int, int]:
        e = histories[h][pos]
        return (sum(e.clock.to_wire().values()), e.host, h, pos)

    heap = [key(h, 0) for h, history in enumerate(histories) if history]
    heapq.heapify(heap)
    merged: list[LogEvent] = []
    while heap:
        *_, h, pos = heapq.heappop(heap)
        e = histories[h][pos]
        merged.append(LogEvent(e.host, e.clock, e.event, len(merged)))
        if pos + 1 < len(histories[h]):
            heapq.heappush(heap, key(h, pos + 1))
    return merged


def merge_logs(
    paths: Iterable[str | os.PathLike[str]], out_path: str | os.PathLike[str]
) -> list[str]:
    """Join GoVector logs into one file for ShiViz; returns :func:`validate_shiviz`'s problems.

    The file holds :data:`SHIVIZ_REGEX`, a blank line, then every event once, each host's
    events in their own order and causes before effects. A host found in two files with
    different histories is refused with :class:`ConfigError` (the same history twice is
    kept once). The file is written even when problems are returned: show them to the
    user, since ShiViz will refuse the file until they are fixed.
    """
    histories: dict[str, list[LogEvent]] = {}
    source: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        per_host: dict[str, list[LogEvent]] = {}
        for e in parse_log(path):
            per_host.setdefault(e.host, []).append(e)
        for host, history in per_host.items():
            if host not in histories:
                histories[host] = history
                source[host] = path
            elif [(e.clock, e.event) for e in history] != [
                (e.clock, e.event) for e in histories[host]
            ]:
                raise ConfigError(
                    f"host {host!r} has different events in {source[host]} and {path}; "
                    "merge the logs of one run at a time"
                )
    merged = _interleave([histories[host] for host in sorted(histories)])
    body = "".join(format_event(e.host, e.clock, e.event) for e in merged)
    out = Path(out_path)
    try:
        out.write_text(f"{SHIVIZ_REGEX}\n\n{body}", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise ConfigError(f"cannot write the merged log {out}: {exc.strerror}") from exc
    log.debug("merged %d events of %d hosts into %s", len(merged), len(histories), out)
    return validate_shiviz(merged)
