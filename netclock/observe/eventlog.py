"""The event log of a run: its schema, its writer, its reader, and the run folder's ``run.json``.

Every node writes ``<node>.events.jsonl`` (one JSON object a line, see ``docs/eventlog.md``)
and, beside it, the same events in GoVector's format (``<node>.log``, see
:mod:`netclock.observe.shiviz`). This module is the only place that knows the JSON-lines
format: :class:`EventRecorder` writes both logs, :func:`read_events` reads one events file
into typed :class:`Event` records, and :func:`read_run_info` / :func:`write_run_info` own
``run.json``. :func:`read_fault_record` reads the run's ground truth, ``faults.jsonl`` (what
the launcher did to which process, and when), into a :class:`FaultRecord`. The checker and
the viewer read through it.

Writing never blocks the event loop on disk per event: events are formatted into memory and
written once per loop iteration (a ``call_soon`` scheduled by the first event of the
iteration), each file with one ``write`` call. What was written reaches the kernel at once,
so a node killed with SIGKILL leaves every event up to its last completed loop iteration in
both files; a kill in the middle of that ``write`` can cut the last line, and
:func:`read_events` tolerates exactly that. A message leaves only after the send event that
stamped it is written: every link calls :meth:`EventRecorder.flush` (through the Node,
``LinkUser.link_before_send``) before a datagram or frame with application messages leaves,
so a peer never receives a clock value its sender's logs lack.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from sys import intern
from typing import IO, Any, NamedTuple

from netclock.clock import VectorClock, check_clock_entries, check_pid
from netclock.errors import ClockError, ConfigError, UsageError
from netclock.observe.compact import (
    FORMAT,
    FULL_EVERY,
    ChainReader,
    ClockChanges,
    ClockText,
    Resolved,
    delta_text,
)
from netclock.observe.shiviz import event_lines

__all__ = [
    "EVENT_KINDS",
    "EVENT_SUFFIX",
    "FAULT_KINDS",
    "FAULT_RECORD",
    "FIELDS",
    "GOVECTOR_KINDS",
    "RUN_INFO",
    "TICKING",
    "DETECTOR_KINDS",
    "Clock",
    "Event",
    "EventRecorder",
    "Fault",
    "FaultRecord",
    "Life",
    "MsgId",
    "RunInfo",
    "event_files",
    "iter_events",
    "read_events",
    "read_fault_record",
    "read_run_info",
    "write_run_info",
]

log = logging.getLogger(__name__)

# -- the schema ---------------------------------------------------------------------------------
EVENT_SUFFIX = ".events.jsonl"
"""A node's event log is ``<node>`` followed by this, in the run folder."""
RUN_INFO = "run.json"
"""The file that describes a run, in the run folder."""
FAULT_RECORD = "faults.jsonl"
"""The run's ground truth: every fault injected and every process start and end, in order."""
FAULT_KINDS = ("start", "kill", "pause", "resume", "partition", "heal", "exit", "stop")
"""Every value of a fault record line's ``do`` field (``docs/eventlog.md``, "The fault record")."""

EVENT_KINDS = (
    "init",
    "send",
    "deliver",
    "local",
    "failed",
    "drop",
    "refused",
    "bcast",
    "bdeliver",
    "stop",
    "suspect",
    "restore",
    "leader",
    "violation",
    "sample",
)
"""Every value of a line's ``ev`` field, in the order ``docs/eventlog.md`` lists them."""
FIELDS: Mapping[str, tuple[str, ...]] = {
    "init": ("link", "promises"),
    "send": ("to", "id"),
    "deliver": ("from", "id", "msg_clock"),
    "local": ("text",),
    "failed": ("to", "id"),
    "drop": ("from", "reason"),
    "refused": ("from", "reason"),
    "stop": ("clean", "stats"),
    "suspect": ("peer", "timeout"),
    "restore": ("peer", "timeout"),
    "leader": ("peer",),
    "violation": ("what", "seen", "bound", "peer"),
    "bcast": ("id", "bkind"),
    "bdeliver": ("from", "id", "msg_clock", "bkind"),
    "sample": ("inbox", "links"),
}
"""The fields each kind adds to the common ones (``t``, ``node``, ``inc``, ``ev``, ``clock``)."""
TICKING = frozenset({"send", "deliver", "local", "bcast", "bdeliver"})
"""The kinds that tick the own clock entry (``init`` sets it; the others leave it alone)."""
GOVECTOR_KINDS = frozenset({"init", *TICKING})
"""The kinds that also go to the GoVector log: ShiViz needs +1 per event, so no others."""

MsgId = tuple[str, int, int]
"""A message id: ``(sender, incarnation, seq)``."""
Clock = Mapping[str, int]
"""A clock as read from a log: node id to counter, no zero entries."""

_KIND_SET = frozenset(EVENT_KINDS)


class Event(NamedTuple):
    """One validated line of an event log; ``where`` is ``file:line``.

    ``peer`` is ``to`` (send, failed) or ``from`` (deliver, drop, refused); ``clock`` and
    ``msg_clock`` hold no zero entries; ``text`` is a local event's text or a drop's (or refusal's)
    reason; ``t`` the wall-clock time when the line has a finite one. A strict read
    (:func:`read_events`) guarantees every field its kind has (``inc`` is never None); a
    lenient one reads a field that is missing or malformed as None (or empty). (A named tuple
    rather than a frozen dataclass: a run holds hundreds of thousands of them and tuples
    are built several times faster.)
    """

    where: str
    node: str
    inc: int | None
    ev: str
    clock: Clock
    peer: str | None = None
    mid: MsgId | None = None
    msg_clock: Clock | None = None
    link: str | None = None
    promises: tuple[str, ...] = ()
    clean: bool = False
    text: str = ""
    t: float | None = None
    value: float | None = None
    """A detector event's number: the timeout of ``suspect``/``restore``, the seconds seen
    of a ``violation``."""
    detector: Mapping[str, Any] | None = None
    """An ``init`` line's failure detector (kind, period, timing, delta, gst), if any."""

    bkind: str | None = None
    waited: float | None = None
    digest: str | None = None
    host: str | None = None
    """An ``init`` line's host name: whose clock the line's wall times ``t`` are read on."""
    sample: Mapping[str, Any] | None = None
    """A ``sample`` line's ``inbox`` and ``links`` (docs/eventlog.md), as read."""
    redelivered: bool = False
    """A ``deliver`` line's ``redelivered``: a logged perfect link handed the message again
    after a restart (docs/durability.md)."""


DETECTOR_KINDS = frozenset({"suspect", "restore", "leader", "violation"})
"""The failure detector's kinds (docs/detectors.md): no tick, not in the GoVector log."""


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) and value - value == 0 else None


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What ``run.json`` says about a run (every field may be missing)."""

    name: str | None = None
    link: str | None = None
    nodes: tuple[str, ...] = ()
    seed: Any = None
    started: float | None = None


# -- writing ------------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, VectorClock):
        return value.to_dict()
    return repr(value)


def _make_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, default=_jsonable)`` without building an encoder per call."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the C encoder
        return json.JSONEncoder(default=_jsonable).encode
    encode = make(
        None, _jsonable, json.encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return lambda value: "".join(encode(value, 0))


_encode = _make_encoder()


SMALL_CLOCK = 4
"""A clock of at most this many entries goes whole into the event log when its text is at hand
(a delta would be as long, and costs more to make)."""


def _fields_text(fields: dict[str, Any]) -> str:
    """The rest of a line after the clock: ``fields`` as JSON members and the closing brace.

    A message's fields (``to`` or ``from`` and ``id``, as the Node passes them: node ids,
    which never need escaping, and integers) are formatted directly; the rest by the JSON
    encoder.
    """
    if len(fields) == 2:
        mid = fields.get("id")
        peer = fields.get("to", fields.get("from"))
        if (
            type(mid) is list
            and len(mid) == 3
            and type(peer) is str
            and type(mid[0]) is str
            and type(mid[1]) is int
            and type(mid[2]) is int
        ):
            name = "to" if "to" in fields else "from"
            return f', "{name}": "{peer}", "id": ["{mid[0]}", {mid[1]}, {mid[2]}]}}'
    return ", " + _encode(fields)[1:] if fields else "}"


def _open(path: str | os.PathLike[str], mode: str, what: str) -> IO[bytes]:
    try:
        return open(path, mode, buffering=0)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the {what} {path}: {exc.strerror}; choose a writable folder"
        ) from exc


def _write_all(file: IO[bytes], lines: list[str]) -> None:
    view = memoryview("".join(lines).encode("utf-8", "backslashreplace"))
    lines.clear()
    while view:
        view = view[file.write(view) or 0 :]


class EventRecorder:
    """Writes one node's events to its GoVector log and/or its JSON-lines event log.

    Files are opened at construction (the GoVector log truncated, as GoVector does, unless
    ``append``; the event log appended to, so a restarted incarnation continues it); a path
    that cannot be written raises :class:`ConfigError`. :meth:`record` formats an event
    into memory; the events of one event-loop iteration reach both files together, early
    in the next iteration (outside a running loop: at once), or sooner when a link calls
    :meth:`flush` before a message leaves. Call :meth:`close` at the end.
    """

    def __init__(
        self,
        node_id: str,
        incarnation: int,
        *,
        govector_log: str | os.PathLike[str] | None = None,
        event_log: str | os.PathLike[str] | None = None,
        append: bool = False,
    ) -> None:
        try:
            self.node_id = check_pid(node_id)  # so it goes into both logs as it is
        except ClockError as exc:
            raise UsageError(f"node id: {exc}") from None
        self.incarnation = incarnation
        self.event_log = None if event_log is None else Path(event_log)
        """The JSON-lines event log's path (None without one)."""
        self._govector = (
            None
            if govector_log is None
            else _open(govector_log, "ab" if append else "wb", "GoVector log")
        )
        try:
            self._jsonl = None if event_log is None else _open(event_log, "ab", "event log")
        except ConfigError:
            if self._govector is not None:
                self._govector.close()
            raise
        self._govector_lines: list[str] = []
        self._jsonl_lines: list[str] = []
        self._who = f', "node": "{node_id}", "inc": {incarnation}, "ev": "'
        self._scheduled = False
        self._changes = ClockChanges()
        self._text = ClockText()
        self._text_stale = False
        self._msg_changes: dict[Any, ClockChanges] = {}
        self._lines = 0

    def record(self, ev: str, clock: VectorClock, logged: str, **fields: Any) -> None:
        """Record one event of kind ``ev`` (see :data:`FIELDS` for what ``fields`` holds).

        ``clock`` is the node's clock after the event; ``logged`` is its text in the
        GoVector log (kinds outside :data:`GOVECTOR_KINDS` are not written there). The event
        log gets the clock compactly (:mod:`netclock.observe.compact`); ``msg_clock`` may be
        a :class:`VectorClock` or its map.
        """
        if ev not in _KIND_SET:
            raise UsageError(f"event kind {ev!r} is not one of {', '.join(EVENT_KINDS)}")
        entries = clock._entries  # read only: the recorder renders what changed
        changed = self._changes.changes(entries)
        clock_text = ""
        if self._govector is not None and ev in GOVECTOR_KINDS:
            clock_text = self._text.render(entries, None if self._text_stale else changed)
            self._text_stale = False
            self._govector_lines.append(event_lines(self.node_id, clock_text, logged))
        elif changed != []:
            self._text_stale = True  # changes not rendered: the next render starts afresh
        if self._jsonl is not None:
            self._lines += 1
            if changed is None or self._lines >= FULL_EVERY:
                self._lines = 0
                self._changes_full()
                if not clock_text:
                    clock_text = str(clock)
                head = f'"clock": {clock_text}'
            elif clock_text and len(entries) <= SMALL_CLOCK:
                head = f'"clock": {clock_text}'  # rendered already, and as short as a delta
            else:
                head = f'"dc": {delta_text(entries, changed)}'
            if "msg_clock" in fields:
                head += self._msg_clock(fields)
            elif ev == "init":
                fields["format"] = FORMAT
            rest = _fields_text(fields)
            self._jsonl_lines.append(f'{{"t": {time.time()!r}{self._who}{ev}", {head}{rest}\n')
        if not self._scheduled:
            self._schedule()

    def _changes_full(self) -> None:
        """A full clock goes out: the readers' chain restarts here, so do the senders'."""
        self._msg_changes.clear()

    def _msg_clock(self, fields: dict[str, Any]) -> str:
        """``msg_clock`` (popped from ``fields``) as a field: ``dmc`` against the previous
        delivery from the same sender when the ids are the same, else in full."""
        value = fields.pop("msg_clock")
        entries = value._entries if isinstance(value, VectorClock) else value
        sender = fields.get("from")
        if len(entries) <= SMALL_CLOCK:
            self._msg_changes.pop(sender, None)  # its next delta starts from a whole one
            return f', "msg_clock": {_encode(entries)}'
        changes = self._msg_changes.get(sender)
        if changes is None:
            changes = self._msg_changes[sender] = ClockChanges()
        changed = changes.changes(entries)
        if changed is None:
            return f', "msg_clock": {_encode(entries)}'
        return f', "dmc": {delta_text(entries, changed)}'

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._scheduled = True
        loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Write what was recorded to the files now (a link calls it before a message leaves).

        The write scheduled for this loop iteration stays scheduled: it writes what is
        recorded after this call.
        """
        if self._govector is not None and self._govector_lines:
            _write_all(self._govector, self._govector_lines)
        if self._jsonl is not None and self._jsonl_lines:
            _write_all(self._jsonl, self._jsonl_lines)

    def close(self) -> None:
        """Write what is left and close both files; idempotent."""
        self.flush()
        for file in (self._govector, self._jsonl):
            if file is not None:
                file.close()
        self._govector = self._jsonl = None


def write_run_info(folder: Path, info: RunInfo) -> None:
    """Write ``folder/run.json`` describing a run."""
    (folder / RUN_INFO).write_text(
        json.dumps(
            {
                "name": info.name,
                "link": info.link,
                "nodes": list(info.nodes),
                "seed": info.seed,
                "started": info.started,
            },
            indent=2,
        ),
        encoding="utf-8",
    )


# -- reading ------------------------------------------------------------------------------------
def event_files(folder: Path) -> list[Path]:
    """The event logs of a run folder, sorted by name."""
    return sorted(folder.glob("*" + EVENT_SUFFIX))


def read_run_info(folder: Path) -> RunInfo | None:
    """``folder/run.json`` (None when there is none); raises :class:`ConfigError` if malformed."""
    path = folder / RUN_INFO
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}; check the run folder") from exc
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); fix or remove it") from None
    if type(value) is not dict:
        raise ConfigError(f"{path} must hold a JSON object; fix or remove it")
    nodes = value.get("nodes", [])
    if type(nodes) is not list or not all(type(n) is str for n in nodes):
        raise ConfigError(f"{path}: 'nodes' must be a list of node ids; fix or remove it")
    for key in ("name", "link"):
        if value.get(key) is not None and type(value[key]) is not str:
            raise ConfigError(f"{path}: {key!r} must be a string; fix or remove it")
    started = value.get("started")
    if type(started) is int:
        started = float(started)
    return RunInfo(
        name=value.get("name"),
        link=value.get("link"),
        nodes=tuple(nodes),
        seed=value.get("seed"),
        started=started if type(started) is float else None,
    )


def _bad(where: str, what: str) -> ConfigError:
    return ConfigError(f"{where}: {what}; fix or remove that line")


def _clock(where: str, name: str, value: Any) -> Clock:
    if type(value) is Resolved:
        return value
    try:
        return check_clock_entries(value)
    except ClockError as exc:
        raise _bad(where, f"{name!r} is not a clock: {exc}") from None


def _str(where: str, entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    if type(value) is not str or not value:
        raise _bad(where, f"{name!r} must be a non-empty string")
    return intern(value)  # node ids repeat on every line: one string each, not one per line


def _mid(where: str, value: Any) -> MsgId:
    if (
        type(value) is not list
        or len(value) != 3
        or type(value[0]) is not str
        or not value[0]
        or type(value[1]) is not int
        or type(value[2]) is not int
        or value[1] < 0
        or value[2] < 0
    ):
        raise _bad(where, "'id' must be [sender, incarnation, seq]")
    return (intern(value[0]), value[1], value[2])


def _time(entry: dict[str, Any]) -> float | None:
    t = entry.get("t")
    if type(t) is float:
        return t if t - t == 0.0 else None  # finite
    return float(t) if type(t) is int else None


def _event(where: str, entry: Any) -> Event:
    """Validate one decoded line; raises :class:`ConfigError` naming ``where``."""
    if type(entry) is not dict:
        raise _bad(where, "an event must be a JSON object")
    node = _str(where, entry, "node")
    inc = entry.get("inc")
    if type(inc) is not int or inc < 0:
        raise _bad(where, "'inc' must be a non-negative int")
    ev = entry.get("ev")
    if type(ev) is not str or ev not in _KIND_SET:
        raise _bad(where, f"'ev' must be one of {', '.join(sorted(EVENT_KINDS))}, not {ev!r}")
    ev = intern(ev)
    clock = _clock(where, "clock", entry.get("clock"))
    t = _time(entry)
    if ev in ("send", "failed"):
        peer, mid = _str(where, entry, "to"), _mid(where, entry.get("id"))
        return Event(where, node, inc, ev, clock, peer, mid, t=t)
    if ev in ("deliver", "bdeliver"):
        delivered = Event(
            where,
            node,
            inc,
            ev,
            clock,
            _str(where, entry, "from"),
            _mid(where, entry.get("id")),
            _clock(where, "msg_clock", entry.get("msg_clock")),
            t=t,
        )
        if ev == "deliver":
            return delivered._replace(redelivered=entry.get("redelivered") is True)
        return _broadcast(where, delivered, entry)
    if ev == "bcast":
        return _broadcast(where, Event(where, node, inc, ev, clock, t=t), entry)
    if ev in ("drop", "refused"):
        reason = str(entry.get("reason", ""))
        return Event(where, node, inc, ev, clock, _str(where, entry, "from"), text=reason, t=t)
    if ev == "init":
        promises = entry.get("promises", [])
        if type(promises) is not list or not all(type(p) is str for p in promises):
            raise _bad(where, "'promises' must be a list of property names")
        link = _str(where, entry, "link")
        detector = entry.get("detector")
        if detector is not None and (type(detector) is not dict or "kind" not in detector):
            raise _bad(where, "'detector' must be an object with a 'kind'")
        host = entry.get("host")
        return Event(
            where,
            node,
            inc,
            ev,
            clock,
            link=link,
            promises=tuple(promises),
            t=t,
            detector=detector,
            host=host if type(host) is str else None,
        )
    if ev in DETECTOR_KINDS:
        about = (
            _str(where, entry, "peer")
            if ev != "violation" or entry.get("peer") is not None
            else None
        )
        value = _number(entry.get("seen" if ev == "violation" else "timeout"))
        if ev != "leader" and value is None:
            raise _bad(where, f"a {ev} event needs a finite number of seconds")
        text = str(entry.get("what", ""))
        return Event(where, node, inc, ev, clock, about, text=text, t=t, value=value)
    if ev == "sample":
        return Event(where, node, inc, ev, clock, t=t, sample=_sample(entry))
    if ev == "stop":
        clean = entry.get("clean")
        if type(clean) is not bool:
            raise _bad(where, "'clean' must be true or false")
        return Event(where, node, inc, ev, clock, clean=clean, t=t)
    return Event(where, node, inc, ev, clock, text=str(entry.get("text", "")), t=t)


def _seconds(value: Any) -> float | None:
    return float(value) if type(value) is int or type(value) is float else None


def _broadcast(where: str, event: Event, entry: dict[str, Any]) -> Event:
    """``event`` (a ``bcast`` or ``bdeliver`` line, docs/broadcast.md) with its broadcast
    fields: the id naming the origin, the kind, and a delivery's wait and digest."""
    digest = entry.get("digest")
    return event._replace(
        mid=_mid(where, entry.get("id")),
        bkind=_str(where, entry, "bkind"),
        waited=_seconds(entry.get("waited")),
        digest=digest if type(digest) is str else None,
    )


def _optional(read: Callable[..., Any], where: str, *args: Any) -> Any:
    if args[-1] is None:  # a field the line does not have: every reader refuses None
        return None
    try:
        return read(where, *args)
    except ConfigError:
        return None


def _lenient_event(where: str, entry: Any) -> Event | None:
    """An event when ``node``, ``ev`` and ``clock`` are right (other odd fields read as None)."""
    if type(entry) is not dict:
        return None
    node, ev = entry.get("node"), entry.get("ev")
    clock = _optional(_clock, where, "clock", entry.get("clock"))
    if type(node) is not str or type(ev) is not str or ev not in _KIND_SET or clock is None:
        return None
    inc, peer = entry.get("inc"), entry.get("to" if ev in ("send", "failed") else "from")
    if ev in DETECTOR_KINDS:
        peer = entry.get("peer")
    link, promises = entry.get("link"), entry.get("promises")
    if type(promises) is not list or not all(type(p) is str for p in promises):
        promises = []
    return Event(
        where,
        node,
        inc if type(inc) is int else None,
        ev,
        clock,
        peer if type(peer) is str else None,
        _optional(_mid, where, entry.get("id")),
        _optional(_clock, where, "msg_clock", entry.get("msg_clock")),
        link if type(link) is str else None,
        tuple(promises),
        entry.get("clean") is True,
        str(
            entry.get(
                "reason" if ev in ("drop", "refused") else "what" if ev == "violation" else "text",
                "",
            )
        ),
        _time(entry),
        _number(entry.get("seen" if ev == "violation" else "timeout")),
        None,
        *_lenient_broadcast(entry),
        host=entry["host"] if type(entry.get("host")) is str else None,
        sample=_sample(entry) if ev == "sample" else None,
        redelivered=entry.get("redelivered") is True,
    )


def _sample(entry: dict[str, Any]) -> dict[str, Any]:
    """A sample's fields, each None unless of the right type (they only feed charts)."""
    inbox, links = entry.get("inbox"), entry.get("links")
    return {
        "inbox": inbox if type(inbox) is int else None,
        "links": links if type(links) is dict else {},
    }


def _lenient_broadcast(entry: dict[str, Any]) -> tuple[str | None, float | None, str | None]:
    bkind, waited, digest = entry.get("bkind"), entry.get("waited"), entry.get("digest")
    return (
        bkind if type(bkind) is str else None,
        _seconds(waited),
        digest if type(digest) is str else None,
    )


_NOT_JSON = object()


def _json_lines(
    path: Path, what: str, notes: list[str], cut_note: str, *, errors: str = "strict"
) -> Iterator[tuple[str, Any]]:
    """``(file:line, decoded value)`` for each non-blank line of ``path`` (``what`` it holds),
    read one line at a time (a file of any size in constant memory).

    An unterminated, unparsable last line (its writer was killed in mid-write) is skipped
    with ``file:line: cut_note`` in ``notes``; any other unparsable line gives ``_NOT_JSON``.
    """
    decode = json.JSONDecoder().decode
    try:
        with open(path, encoding="utf-8", errors=errors, newline="\n") as file:
            for number, line in enumerate(file, 1):
                if line.isspace():
                    continue
                try:
                    entry = decode(line)
                except ValueError:
                    if not line.endswith("\n"):
                        notes.append(f"{path}:{number}: {cut_note}")
                        log.debug("%s:%d: unfinished last line skipped", path, number)
                        continue
                    entry = _NOT_JSON
                yield f"{path}:{number}", entry
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}; check the run folder") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text; pass {what}") from exc


def iter_events(path: Path, notes: list[str], *, strict: bool = True) -> Iterator[Event]:
    """The events of one events file, in file order, one at a time (:func:`read_events`
    without holding them: the file is read a line at a time).

    Compact clocks (``dc``, ``dmc``: format 2, :mod:`netclock.observe.compact`) come back
    whole. An unterminated, unparsable last line is what a kill in mid-write leaves: it is
    skipped, with a sentence in ``notes``. Any other line that is not an event raises
    :class:`ConfigError` naming ``file:line`` when ``strict``. A lenient read (for
    pictures) skips it too, one note per line, replaces bytes that are not UTF-8, and
    keeps every line whose ``node``, ``ev`` and ``clock`` are right (see :class:`Event`);
    after a skipped line, lines with compact clocks are skipped until the next full clock.
    """
    chain = ChainReader()
    lines = _json_lines(
        path,
        "a netclock event log",
        notes,
        "skipped an unfinished last line (the node was killed)",
        errors="strict" if strict else "replace",
    )
    for where, entry in lines:
        if entry is _NOT_JSON:
            if strict:
                raise _bad(where, "not a JSON object")
            notes.append(f"{where}: not JSON, skipped")
            chain.lost()
            continue
        problem = chain.resolve(entry) if type(entry) is dict else None
        if problem is not None:
            if strict:
                raise _bad(where, problem)
            notes.append(f"{where}: {problem}, skipped")
            continue
        if strict:
            yield _event(where, entry)
            continue
        event = _lenient_event(where, entry)
        if event is None:
            notes.append(f"{where}: not an event, skipped")
            log.debug("%s: not an event, skipped: %.80r", where, entry)
            chain.lost()
            continue
        yield event


def read_events(path: Path, notes: list[str], *, strict: bool = True) -> list[Event]:
    """Every event of one events file, in file order: ``list(iter_events(...))``."""
    return list(iter_events(path, notes, strict=strict))


# -- the fault record ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Fault:
    """One line of ``faults.jsonl``; ``where`` is ``file:line``, ``fields`` the whole line.

    ``node`` is set for every kind but ``partition``/``heal`` (which name two ``nodes``)
    and ``stop`` (which names none).
    """

    where: str
    t: float
    at: float
    do: str
    node: str | None
    nodes: tuple[str, ...]
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Life:
    """One process of a node: from its ``start`` to its end (``None``: it ran to the record's end).

    Times are wall-clock ``t`` (seconds since the epoch) with their ``at`` (seconds since
    the run's start). ``crashed`` is True when the life ended by a kill or by an exit the
    launcher did not expect; ``ended_by`` is ``"kill"``, ``"exit"`` or ``None``.
    """

    node: str
    start: float
    start_at: float
    end: float | None = None
    end_at: float | None = None
    ended_by: str | None = None
    crashed: bool = False
    restart: bool = False
    incarnation: int | None = None
    code: int | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """A run's ground truth, read from ``faults.jsonl``: every entry and each node's lives.

    A node is *correct* (for the whole run) iff it was never killed and no process of it
    exited unexpectedly; a node the record never names is correct.
    """

    entries: tuple[Fault, ...]
    lives: Mapping[str, tuple[Life, ...]]

    def crashes(self, node: str) -> tuple[Life, ...]:
        """The lives of ``node`` that ended in a crash, in order."""
        return tuple(life for life in self.lives.get(node, ()) if life.crashed)

    def correct(self, node: str) -> bool:
        """True when ``node`` never crashed during the run."""
        return not self.crashes(node)

    def survives(self, node: str, t: float) -> bool:
        """True when ``node`` was up (or not yet started) at ``t`` and never crashed later.

        That is: no life of ``node`` ended in a crash at or after ``t``, and if one crashed
        before ``t``, a later life had started by ``t``. Whatever ``node`` had to do from
        ``t`` on, it was alive to do it.
        """
        up = True
        for life in self.lives.get(node, ()):
            if life.start <= t:
                up = True
            if life.crashed and life.end is not None:
                if life.end >= t:
                    return False
                up = False
        return up


def _fault(where: str, entry: Any) -> Fault:
    if type(entry) is not dict:
        raise _bad(where, "a fault record entry must be a JSON object")
    t, at = _time(entry), entry.get("at")
    if t is None:
        raise _bad(where, "'t' must be a time in seconds since the epoch")
    if type(at) is not int and type(at) is not float:
        raise _bad(where, "'at' must be seconds since the run's start")
    do = entry.get("do")
    if do not in FAULT_KINDS:
        raise _bad(where, f"'do' must be one of {', '.join(FAULT_KINDS)}, not {do!r}")
    node, nodes = entry.get("node"), entry.get("nodes", [])
    if do in ("partition", "heal"):
        if type(nodes) is not list or len(nodes) != 2 or not all(type(n) is str for n in nodes):
            raise _bad(where, f"{do} needs 'nodes': [a, b]")
        node = None
    elif do == "stop":
        node = None
    elif type(node) is not str or not node:
        raise _bad(where, f"{do} needs 'node', a node id")
    return Fault(where, t, float(at), do, node, tuple(nodes) if do != "stop" else (), entry)


def _lives(entries: list[Fault]) -> dict[str, tuple[Life, ...]]:
    """Each node's lives: a start opens one; a kill or an exit closes the open one."""
    first = (entries[0].t, 0.0) if entries else (0.0, 0.0)
    done: dict[str, list[Life]] = {}
    open_: dict[str, Life] = {}
    for f in entries:
        node = f.node
        if node is None or f.do not in ("start", "kill", "exit"):
            continue
        if f.do == "start":
            if node in open_:  # a start without a recorded end: close the previous life
                done.setdefault(node, []).append(open_.pop(node))
            inc = f.fields.get("incarnation")
            open_[node] = Life(
                node,
                f.t,
                f.at,
                restart=f.fields.get("restart") is True,
                incarnation=inc if type(inc) is int else None,
            )
            continue
        raw_code, raw_error = f.fields.get("code"), f.fields.get("error")
        code = raw_code if type(raw_code) is int else None
        error = raw_error if type(raw_error) is str else None
        life = open_.pop(node, None)
        if life is None:
            lives = done.setdefault(node, [])
            if f.do == "exit" and lives and lives[-1].ended_by == "kill":
                lives[-1] = replace(lives[-1], code=code, error=error)  # a killed process ends
                continue
            life = Life(node, *first)  # ended without a recorded start: up since the record began
        crashed = f.do == "kill" or f.fields.get("expected") is not True
        done.setdefault(node, []).append(
            replace(
                life, end=f.t, end_at=f.at, ended_by=f.do, crashed=crashed, code=code, error=error
            )
        )
    for node, life in open_.items():
        done.setdefault(node, []).append(life)
    return {node: tuple(sorted(lives, key=lambda x: x.start)) for node, lives in done.items()}


def read_fault_record(path: Path, notes: list[str] | None = None) -> FaultRecord:
    """The fault record at ``path`` (``<run folder>/faults.jsonl``), entries in file order.

    An unterminated, unparsable last line (the launcher itself was killed in mid-write)
    is skipped, with a sentence in ``notes``; any other line that is not an entry raises
    :class:`ConfigError` naming ``file:line``.
    """
    entries: list[Fault] = []
    cut_note = "skipped an unfinished last line of the fault record"
    notes = [] if notes is None else notes
    for where, entry in _json_lines(path, "a netclock fault record", notes, cut_note):
        if entry is _NOT_JSON:
            raise _bad(where, "not a JSON object")
        entries.append(_fault(where, entry))
    return FaultRecord(tuple(entries), _lives(entries))
