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
import io
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, islice, repeat
from operator import add, itemgetter, le, mod, sub
from pathlib import Path
from typing import Any, Self

from netclock.clock import MAX_COUNTER, VectorClock, check_pid
from netclock.errors import ClockError, ConfigError, UsageError
from netclock.observe.compact import checked_entries

__all__ = [
    "SHIVIZ_REGEX",
    "EventLogWriter",
    "LogEvent",
    "format_event",
    "iter_log",
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


def _raw_events(lines: Iterable[str], name: str) -> Iterator[tuple[str, str, str, int]]:
    """``(host, clock text, event text, clock line's number)`` of each event of a log's
    lines (each with its ``\\n``, as a file iterates them), checking only the clock line's
    shape.

    Skips a leading regex line and blank lines between events, and what a writer killed in
    mid-write leaves at the end: a cut clock line, or a clock line without its event line
    (a cut event line is read as it is).
    """
    pending: re.Match[str] | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.rstrip("\n").rstrip("\r")
        if pending is not None:
            yield pending["host"], pending["clock"], line, number - 1
            pending = None
            continue
        if number == 1 and _is_regex_line(line):
            continue
        if not line.strip():
            continue
        if not raw.endswith("\n"):
            log.debug("%s: skipped an unfinished last event (its writer was killed)", name)
            return
        pending = _CLOCK_LINE.fullmatch(line)
        if pending is None:
            raise ConfigError(
                f"{name}, line {number}: expected 'host {{clock}}' but found {line!r:.80}; "
                "is this a GoVector log?"
            )
    if pending is not None:
        log.debug("%s: skipped a last event without its text (its writer was killed)", name)


_decode = json.JSONDecoder().decode


def _clock(text: str, known: set[str]) -> VectorClock:
    """The clock in GoVector's text form ``text``, checked (:func:`checked_entries`)."""
    try:
        value = _decode(text)
    except (ValueError, RecursionError) as exc:
        raise ClockError(f"not a clock: {text!r:.80}") from exc
    checked = checked_entries(value, known)
    return VectorClock._trusted(dict(checked) if checked is value else checked)


def _events(lines: Iterable[str], name: str) -> Iterator[LogEvent]:
    """:func:`_raw_events` with hosts and clocks checked, as :class:`LogEvent` values."""
    known: set[str] = set()
    for index, (host_text, clock_text, event, number) in enumerate(_raw_events(lines, name)):
        try:
            host = host_text if host_text in known else check_pid(host_text)
            clock = _clock(clock_text, known)
        except ClockError as exc:
            raise ConfigError(f"{name}, line {number}: {exc}") from exc
        yield LogEvent(host, clock, event, index)


@contextmanager
def _lines_of(path: Path) -> Iterator[Iterator[str]]:
    """The lines of the log at ``path``, read as they are needed, then those of the records
    still pending for it (:mod:`netclock.observe.pending`: the file itself may then be
    missing); a file that cannot be read or is not UTF-8 raises :class:`ConfigError`."""
    from netclock.observe.pending import LogReading, pending_for  # it renders with us

    reading = LogReading(path, pending_for(path), govector=True)
    notes: list[str] = []
    try:
        with reading.text() as file:
            yield chain(file, reading.lines(notes))
    except FileNotFoundError as exc:
        if reading.records is None:
            raise ConfigError(f"cannot read the log {path}: {exc.strerror}") from exc
        yield reading.lines(notes)
    except OSError as exc:
        raise ConfigError(f"cannot read the log {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the log {path} is not UTF-8 text ({exc.reason})") from exc
    finally:
        reading.close()
    for note in notes:
        log.debug("%s", note)


def iter_log(path: str | os.PathLike[str]) -> Iterator[LogEvent]:
    """The events of the GoVector log at ``path``, one at a time (:func:`parse_log` without
    holding them)."""
    with _lines_of(Path(path)) as lines:
        yield from _events(lines, str(path))


def parse_log(source: str | os.PathLike[str]) -> list[LogEvent]:
    """The events of a GoVector log, in file order; raises :class:`ConfigError` if malformed.

    ``source`` is a path (a ``Path``, or a ``str`` without a line break) or the log's
    text (a ``str`` with a line break, or empty). A leading regex line and blank lines
    between events, as in merged files, are skipped; so is what a writer killed in
    mid-write leaves at the end: a cut clock line, or a clock line without its event line
    (a cut event line is read as it is).
    """
    if isinstance(source, str) and (not source or "\n" in source):
        return list(_events(io.StringIO(source, newline="\n"), "<text>"))
    return list(iter_log(source))


class _Rules:
    """ShiViz's rules, event by event, given how many events each host logged in all."""

    __slots__ = ("last", "logged", "problems")

    def __init__(self, logged: Mapping[str, int]) -> None:
        self.logged = logged
        self.last: dict[str, int] = {}
        self.problems: list[str] = []

    def check(self, e: LogEvent, index: int) -> None:
        """Note what ShiViz would refuse in ``e``, the ``index``-th event of the log."""
        own = e.clock[e.host]
        previous = self.last.get(e.host)
        if previous is None and own != 1:
            self.problems.append(
                f"event {index} ({e.host} {e.clock}): the first event of {e.host!r} "
                f"has own entry {own}, it must be 1"
            )
        elif previous is not None and own != previous + 1:
            self.problems.append(
                f"event {index} ({e.host} {e.clock}): {e.host!r}'s own entry goes from "
                f"{previous} to {own}, it must grow by exactly 1 per event"
            )
        self.last[e.host] = own
        logged = self.logged
        for other, value in e.clock.items():
            if other != e.host and value > logged.get(other, 0):
                self.problems.append(
                    f"event {index} ({e.host} {e.clock}): knows {other}:{value} but "
                    f"{other!r} logged only {logged.get(other, 0)} event(s)"
                )

    def verdict(self, count: int) -> list[str]:
        """The problems, after ``count`` events."""
        return self.problems if count else ["the log has no events; ShiViz needs at least one"]


def validate_shiviz(events: Iterable[LogEvent]) -> list[str]:
    """What ShiViz would refuse in ``events`` (all hosts together); empty means valid.

    Each host's own entry must be 1 on its first event and grow by exactly 1 per event,
    and no clock may claim more events of a host than that host logged in ``events``.
    """
    events = list(events)
    rules = _Rules(Counter(e.host for e in events))
    for e in events:
        rules.check(e, e.index)
    return rules.verdict(len(events))


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


def _write_merged(out: Path, body: Iterable[str]) -> int:
    """Write the merged log: the regex line, a blank line, then ``body``'s pieces (one
    event each); returns how many pieces."""
    pieces = iter(body)
    written = 0
    try:
        with open(out, "w", encoding="utf-8", newline="\n") as file:
            file.write(f"{SHIVIZ_REGEX}\n\n")
            while batch := list(islice(pieces, MERGE_CHUNK)):
                file.write("".join(batch))
                written += len(batch)
    except OSError as exc:
        raise ConfigError(f"cannot write the merged log {out}: {exc.strerror}") from exc
    return written


MERGE_CHUNK = 4096
"""Events the merge formats before each write."""


def _hosts_of(path: Path) -> Counter[str]:
    """How many events each host has in the log at ``path`` (clocks not parsed)."""
    with _lines_of(path) as lines:
        return Counter(host for host, *_ in _raw_events(lines, str(path)))


def merge_logs(
    paths: Iterable[str | os.PathLike[str]], out_path: str | os.PathLike[str]
) -> list[str]:
    """Join GoVector logs into one file for ShiViz; returns :func:`validate_shiviz`'s problems.

    The file holds :data:`SHIVIZ_REGEX`, a blank line, then every event once, each host's
    events in their own order and causes before effects. A host found in two files with
    different histories is refused with :class:`ConfigError` (the same history twice is
    kept once). The file is written even when problems are returned: show them to the
    user, since ShiViz will refuse the file until they are fixed.

    When each file holds one host of its own (a run folder's logs), the merge streams: it
    counts each file's events, then reads all files side by side and writes as it goes,
    holding one event per host, whatever the run's size.
    """
    files = [Path(raw) for raw in paths]
    out = Path(out_path)
    fast = _fast_merge(files, out)
    if fast is not None:
        return fast
    counts = [_hosts_of(path) for path in files]
    hosts = [next(iter(c)) for c in counts if len(c) == 1]
    if len(hosts) != len(files) or len(set(hosts)) != len(hosts):
        return _merge_in_memory(files, Path(out_path))
    logged = {host: c[host] for host, c in zip(hosts, counts, strict=True)}
    rules = _Rules(logged)
    order = sorted(range(len(files)), key=hosts.__getitem__)
    streams = [iter_log(files[i]) for i in order]
    merged = 0

    def body() -> Iterator[str]:
        nonlocal merged
        heap: list[tuple[int, str, int, int, LogEvent]] = []
        for h, stream in enumerate(streams):
            first = next(stream, None)
            if first is not None:
                heap.append((sum(first.clock.values()), first.host, h, 0, first))
        heapq.heapify(heap)
        while heap:
            _, _, h, pos, e = heap[0]
            rules.check(e, merged)
            merged += 1
            yield format_event(e.host, e.clock, e.event)
            after = next(streams[h], None)
            if after is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (sum(after.clock.values()), after.host, h, pos + 1, after))

    try:
        _write_merged(out, body())
    except ConfigError:
        out.unlink(missing_ok=True)  # a bad line further on: no half-merged file is left
        raise
    log.debug("merged %d events of %d hosts into %s", merged, len(hosts), out)
    return rules.verdict(merged)


class _NotOwnFormat(Exception):
    """A log is not exactly as our writers leave it: the fast merge gives way to the other."""


class _RulesNeeded(Exception):
    """A chunk of events may break a ShiViz rule: merge again, checking event by event."""


FAST_READ_BYTES = 256 * 1024
"""About how much of each log the fast merge reads at a time (whole events)."""
_ODD_TEXT = re.compile("[\r\u2028\u2029]").search


def _fast_count(path: Path) -> tuple[str, int]:
    """The host and event count of a log that holds exactly two lines per event (a clock
    line, an event line), the host of its first line, and ends with a line break; raises
    :class:`_NotOwnFormat` otherwise (the second pass checks every clock line)."""
    from netclock.observe.pending import pending_for  # it renders with us

    if pending_for(path) is not None:
        raise _NotOwnFormat
    lines = 0
    try:
        with open(path, "rb") as file:
            first = file.readline()
            lines, last = first.count(b"\n"), first[-1:]
            while block := file.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
    except OSError:
        raise _NotOwnFormat from None
    host, space, _ = first.partition(b" ")
    if not space or last != b"\n" or lines % 2:
        raise _NotOwnFormat
    try:
        return check_pid(host.decode("utf-8")), lines // 2
    except (ClockError, UnicodeDecodeError):
        raise _NotOwnFormat from None


class _Templates:
    """GoVector's text form per tuple of process ids (sorted, every id valid): a ``%d``
    template, so a chunk of clocks renders in C."""

    __slots__ = ("known",)

    def __init__(self) -> None:
        self.known: dict[tuple[str, ...], str] = {}

    def of(self, ids: list[tuple[str, ...]]) -> list[str]:
        """The template of each tuple; raises :class:`_NotOwnFormat` for unsorted or bad ids."""
        known = self.known
        try:
            return list(map(known.__getitem__, ids))
        except KeyError:
            pass
        for key in set(ids).difference(known):
            if not key or list(key) != sorted(key):
                raise _NotOwnFormat
            try:
                for pid in key:
                    check_pid(pid)
            except ClockError:
                raise _NotOwnFormat from None
            known[key] = "{" + ", ".join(f'"{pid}":%d' for pid in key) + "}"
        return list(map(known.__getitem__, ids))


_Item = tuple[int, str, int, int, str, "tuple[LogEvent, int] | None"]
"""A fast-merge item: the clock's sum, the host, its stream, the event's position in it,
the event's two lines, and None or, when the ShiViz rules must look at it, ``(event, own
entry before it)``."""


def _fast_chunks(
    path: Path,
    host: str,
    h: int,
    logged: Mapping[str, int],
    templates: _Templates,
    rules: bool,
) -> Iterator[Iterator[_Item]]:
    """The events of one own-format log as merge items, a chunk at a time, read and checked
    in C: each clock must be the canonical text of positive counters under checked ids, so
    the lines are copied as they are. The ShiViz rules hold for a whole chunk when its own
    entries count up by one and no entry passes its host's count; a chunk where they do not
    carries its events for :class:`_Rules`. Anything else raises :class:`_NotOwnFormat`."""
    prefix = host + " {"
    cut = len(host) + 1
    joiner = "\n" + host + " "
    own_of = itemgetter(host)
    last_own = 0
    pos = 0
    try:
        file = open(path, encoding="utf-8", newline="\n")  # noqa: SIM115 - closed below
    except OSError:
        raise _NotOwnFormat from None
    with file:
        while True:
            try:
                lines = file.readlines(FAST_READ_BYTES)
                if len(lines) % 2:
                    lines.append(file.readline())
            except (OSError, UnicodeDecodeError):
                raise _NotOwnFormat from None
            if not lines:
                return
            clock_lines, event_lines = lines[0::2], lines[1::2]
            events_text = "".join(event_lines)
            if (
                not all(map(str.startswith, clock_lines, repeat(prefix)))
                or not all(map(str.endswith, clock_lines, repeat("}\n")))
                or not events_text.endswith("\n")
                or "\r" in events_text
                or (not events_text.isascii() and _ODD_TEXT(events_text))
            ):
                raise _NotOwnFormat
            body = "".join(clock_lines)[cut:-1].replace(joiner, ",")
            if '":0' in body or '":-' in body:
                raise _NotOwnFormat
            try:
                clocks = _decode("[" + body + "]")
            except (ValueError, RecursionError):
                raise _NotOwnFormat from None
            if len(clocks) != len(clock_lines) or set(map(type, clocks)) != {dict}:
                raise _NotOwnFormat
            values = list(map(dict.values, clocks))
            ids = list(map(tuple, clocks))
            try:
                sums = list(map(sum, values))
                texts = list(map(mod, templates.of(ids), map(tuple, values)))
                own = list(map(own_of, clocks))
            except (TypeError, KeyError):
                raise _NotOwnFormat from None
            if (
                ",".join(texts) != body
                or list(map(sub, map(len, clock_lines), map(len, texts))).count(cut + 1)
                != len(texts)
                or (max(sums) > MAX_COUNTER and max(map(max, values)) > MAX_COUNTER)
            ):
                raise _NotOwnFormat
            n = len(clocks)
            positions = range(pos, pos + n)
            pieces = list(map(add, clock_lines, event_lines))
            checked: Iterable[tuple[LogEvent, int] | None] = repeat(None)
            if own != list(range(last_own + 1, last_own + 1 + n)) or not _within(
                ids, values, host, logged
            ):
                if not rules:
                    raise _RulesNeeded
                befores = [last_own, *own[:-1]]
                checked = [
                    (LogEvent(host, VectorClock._trusted(clock), line[:-1], i), before)
                    for clock, line, i, before in zip(
                        clocks, event_lines, positions, befores, strict=True
                    )
                ]
            last_own = own[-1]
            pos += n
            del lines, clock_lines, event_lines, events_text, body, clocks, values, ids, texts
            yield zip(sums, repeat(host), repeat(h), positions, pieces, checked)


def _within(
    ids: list[tuple[str, ...]], values: list[Any], host: str, logged: Mapping[str, int]
) -> bool:
    """Whether no clock of a chunk claims more events of another host than it logged."""
    bounds: dict[tuple[str, ...], tuple[int, ...]] = {}
    for key in set(ids):
        bounds[key] = tuple(MAX_COUNTER if pid == host else logged.get(pid, 0) for pid in key)
    if len(bounds) == 1:
        [bound] = bounds.values()
        return all(map(le, chain.from_iterable(values), bound * len(values)))
    return all(all(map(le, v, bounds[key])) for v, key in zip(values, ids, strict=True))


def _fast_merge(files: list[Path], out: Path) -> list[str] | None:
    """:func:`merge_logs` for logs as our writers leave them (one host per file, two lines
    per event, canonical clocks): each event's lines are copied, not parsed and rendered
    again; None when a log is not in that form (the caller then merges the general way)."""
    try:
        counted = [_fast_count(path) for path in files]
    except _NotOwnFormat:
        return None
    hosts = [host for host, _ in counted]
    if not files or len(set(hosts)) != len(hosts):
        return None
    logged = dict(counted)
    order = sorted(range(len(files)), key=hosts.__getitem__)
    partial = out.with_name(out.name + ".partial")
    try:
        try:
            merged, problems = _fast_pass(files, partial, order, hosts, logged, rules=False)
        except _RulesNeeded:
            merged, problems = _fast_pass(files, partial, order, hosts, logged, rules=True)
        if merged != sum(logged.values()):
            raise _NotOwnFormat
        os.replace(partial, out)
    except (_NotOwnFormat, ConfigError, OSError):
        partial.unlink(missing_ok=True)  # the general merge says what went wrong
        return None
    log.debug("merged %d events of %d hosts into %s (own format)", merged, len(hosts), out)
    return problems


def _fast_pass(
    files: list[Path],
    out: Path,
    order: list[int],
    hosts: list[str],
    logged: dict[str, int],
    *,
    rules: bool,
) -> tuple[int, list[str]]:
    """One try of :func:`_fast_merge`: the events merged and the problems. Without ``rules``
    every piece is copied in C, and a chunk where a ShiViz rule may fail raises
    :class:`_RulesNeeded`; with ``rules`` those chunks' events go through :class:`_Rules`."""
    checker = _Rules(logged)
    templates = _Templates()
    streams = [
        chain.from_iterable(_fast_chunks(files[i], hosts[i], h, logged, templates, rules))
        for h, i in enumerate(order)
    ]
    if not rules:
        merged = _write_merged(out, map(itemgetter(4), heapq.merge(*streams)))
        return merged, checker.verdict(merged)

    def body() -> Iterator[str]:
        last = checker.last
        for merged, item in enumerate(heapq.merge(*streams)):
            checked = item[5]
            if checked is not None:
                event, before = checked
                if before:
                    last[event.host] = before
                else:
                    last.pop(event.host, None)
                checker.check(event, merged)
            yield item[4]

    merged = _write_merged(out, body())
    return merged, checker.verdict(merged)


def _merge_in_memory(files: list[Path], out: Path) -> list[str]:
    """:func:`merge_logs` for files that hold several hosts, or a host twice."""
    histories: dict[str, list[LogEvent]] = {}
    source: dict[str, Path] = {}
    for path in files:
        per_host: dict[str, list[LogEvent]] = {}
        for e in iter_log(path):
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
    _write_merged(out, (format_event(e.host, e.clock, e.event) for e in merged))
    log.debug("merged %d events of %d hosts into %s", len(merged), len(histories), out)
    return validate_shiviz(merged)
