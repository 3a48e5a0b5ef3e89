"""The event log of a run: its schema, its writer, its reader, and the run folder's ``run.json``.

Every node writes ``<node>.events.jsonl`` (one JSON object a line, see ``docs/eventlog.md``)
and, beside it, the same events in GoVector's format (``<node>.log``, see
:mod:`netclock.observe.shiviz`). This module is the only place that knows the JSON-lines
format: :class:`EventRecorder` writes both logs, :func:`read_events` reads one events file
into typed :class:`Event` records, and :func:`read_run_info` / :func:`write_run_info` own
``run.json``. :func:`read_fault_record` reads the run's ground truth, ``faults.jsonl`` (what
the launcher did to which process, and when), into a :class:`FaultRecord`. The checker and
the viewer read through it.

Writing never blocks the event loop on disk per event, nor formats text while the node runs:
each event is one binary record (:mod:`netclock.observe.pending`), the records of one loop
iteration written with one ``write`` (a ``call_soon`` scheduled by the first event of the
iteration), and the text lines (:mod:`netclock.observe.textlog`) are rendered when the node
stops, when its next life starts, or when the launcher ends the run. What was written
reaches the kernel at once, so a node killed with SIGKILL leaves every event up to its last
completed loop iteration; a kill in the middle of that ``write`` can cut the last record,
and the readers tolerate exactly that. The readers read records not yet rendered after the
text. A message leaves only after the send event that stamped it is written: every link
calls :meth:`EventRecorder.flush` (through the Node, ``LinkUser.link_before_send``) before
a datagram or frame with application messages leaves, so a peer never receives a clock
value its sender's logs lack.
"""

from __future__ import annotations

import asyncio
import json
import json.scanner
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from sys import intern
from typing import IO, Any, NamedTuple

from netclock.clock import MAX_PID_LENGTH, VectorClock, check_clock_entries, check_pid
from netclock.errors import ClockError, ConfigError, UsageError
from netclock.observe.compact import ChainReader, Resolved
from netclock.observe.pending import (
    PENDING_SUFFIX,
    LogReading,
    PendingWriter,
    finish_pending,
    finish_steps,
    pending_for,
    pending_path,
)
from netclock.observe.textlog import GOVECTOR_KINDS, TICKING

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
    "MessageLine",
    "iter_events",
    "iter_records",
    "message_event",
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
def _open(path: str | os.PathLike[str], mode: str, what: str) -> IO[bytes]:
    try:
        return open(path, mode, buffering=0)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the {what} {path}: {exc.strerror}; choose a writable folder"
        ) from exc


def _plain(text: Any) -> Any:
    """``text`` as UTF-8 can hold it (a lone surrogate as its escape), or as it is."""
    if type(text) is not str:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class EventRecorder:
    """Writes one node's events to its GoVector log and/or its JSON-lines event log.

    Files are opened at construction (the GoVector log truncated, as GoVector does, unless
    ``append``; the event log appended to, so a restarted incarnation continues it); a path
    that cannot be written raises :class:`ConfigError`. While the node runs, each event is
    one binary record in the pending file (:mod:`netclock.observe.pending`); the records of
    one event-loop iteration reach the OS together, early in the next iteration (outside a
    running loop: at once), or sooner when a link calls :meth:`flush` before a message
    leaves. :meth:`close` renders them into the text logs; a pending file left by a killed
    life is rendered when the next one starts (or by :func:`~netclock.observe.pending.finish_run`,
    or read as it is by the readers).
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
        govector = None if govector_log is None else Path(govector_log)
        if govector is None and self.event_log is None:
            raise UsageError("an EventRecorder needs a GoVector log, an event log or both")
        pending = pending_path(govector, self.event_log)
        if pending.is_file():  # a life killed before it rendered its records
            try:
                finish_pending(pending)
            except ConfigError as exc:
                log.warning("%s", exc)
        for path, mode, what in (
            (govector, "ab" if append else "wb", "GoVector log"),
            (self.event_log, "ab", "event log"),
        ):
            if path is not None:
                _open(path, mode, what).close()  # created (or truncated) now: a bad path fails here
        self._writer: PendingWriter | None = PendingWriter(
            pending, node_id, incarnation, govector, self.event_log
        )
        self._pack = self._writer.pack
        self._scheduled = False

    def record(self, ev: str, clock: VectorClock, logged: str, **fields: Any) -> None:
        """Record one event of kind ``ev`` (see :data:`FIELDS` for what ``fields`` holds).

        ``clock`` is the node's clock after the event; ``logged`` is its text in the
        GoVector log (kinds outside :data:`GOVECTOR_KINDS` are not written there); a field
        msgpack cannot hold is written as its ``repr``. ``msg_clock`` may be a
        :class:`VectorClock` or its map.
        """
        if ev not in _KIND_SET:
            raise UsageError(f"event kind {ev!r} is not one of {', '.join(EVENT_KINDS)}")
        self._pack_checked((2, time.time(), ev, clock._entries, logged, fields))

    def _pack_checked(self, record: tuple[Any, ...]) -> None:
        """Pack a record whose text or fields came from the application: what msgpack cannot
        hold (an int past 64 bits, a lone surrogate) is written as the JSON writer would
        have (``repr``, ``backslashreplace``) instead of failing the node."""
        if self._writer is None:
            return  # closed: nothing more is written
        try:
            self._writer.check(record)
        except (TypeError, ValueError, OverflowError):
            if record[0] == 0:  # a send: only its text can fail
                record = (*record[:6], _plain(record[6]))
            else:
                fields = {name: repr(v) for name, v in record[5].items()}
                record = (*record[:4], _plain(record[4]), fields)
        self._pack(record)
        if not self._scheduled:
            self._schedule()

    def record_send(
        self, clock: VectorClock, peer: str, incarnation: int, seq: int, text: str | None
    ) -> None:
        """:meth:`record` of a ``send`` of message ``(node, incarnation, seq)`` to ``peer``
        (``text`` None: ``send node:incarnation:seq to peer``), at the cost of one record."""
        record = (0, time.time(), clock._entries, peer, incarnation, seq, text)
        if text is not None:
            self._pack_checked(record)
            return
        self._pack(record)
        if not self._scheduled:
            self._schedule()

    def record_delivery(
        self, clock: VectorClock, sender: str, incarnation: int, seq: int, msg_clock: VectorClock
    ) -> None:
        """:meth:`record` of a ``deliver`` of ``(sender, incarnation, seq)`` that carried
        ``msg_clock``, with the default text ``deliver sender:incarnation:seq from sender``."""
        self._pack((1, time.time(), clock._entries, sender, incarnation, seq, msg_clock._entries))
        if not self._scheduled:
            self._schedule()

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
        """Hand what was recorded to the OS now (a link calls it before a message leaves).

        The write scheduled for this loop iteration stays scheduled: it writes what is
        recorded after this call.
        """
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Write what is left, render it into the text logs and close; idempotent."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        finish_pending(writer.path)

    async def aclose(self) -> None:
        """:meth:`close` that lets the running loop run while the text is rendered (about
        every :data:`~netclock.observe.pending.RENDER_BATCH` events); cancelled, it renders
        the rest at once. Until the text is complete the pending file stays."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        steps = finish_steps(writer.path)
        try:
            for _ in steps:
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            for _ in steps:
                pass
            raise


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
    """The event logs of a run folder, sorted by name (a node still running, or killed
    before its first life rendered its records, may have only their pending file)."""
    pending = EVENT_SUFFIX + PENDING_SUFFIX
    found = {*folder.glob("*" + EVENT_SUFFIX)}
    found.update(p.with_name(p.name[: -len(PENDING_SUFFIX)]) for p in folder.glob("*" + pending))
    return sorted(found)


def read_run_info(folder: Path) -> RunInfo | None:
    """``folder/run.json`` (None when there is none); raises :class:`ConfigError` if malformed."""
    path = folder / RUN_INFO
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}; check the run folder") from exc
    except (ValueError, RecursionError) as exc:
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
    if type(value) is not str or not value or len(value) > MAX_PID_LENGTH:
        raise _bad(where, f"{name!r} must be a string of 1 to {MAX_PID_LENGTH} characters")
    return intern(value)  # node ids repeat on every line: one string each, not one per line


def _mid(where: str, value: Any) -> MsgId:
    if (
        type(value) is not list
        or len(value) != 3
        or type(value[0]) is not str
        or not value[0]
        or len(value[0]) > MAX_PID_LENGTH
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


_new_event = tuple.__new__
_MESSAGE_KINDS = frozenset({"send", "deliver"})


MessageLine = tuple[
    str, int, str, int, str, Resolved, str, MsgId, "Resolved | None", "float | None", bool
]
"""A ``send`` or ``deliver`` line whose every field is right, as :func:`iter_records` gives
it: ``(file, line, node, inc, ev, clock, peer, id, msg_clock, t, redelivered)``, the fields
of its :class:`Event` (whose ``where`` is ``file:line``; a send's ``msg_clock`` is None and
its ``redelivered`` False). :func:`message_event` makes it that event."""


def _message_line(name: str, number: int, entry: dict[str, Any], ev: str) -> MessageLine | None:
    """Line ``number`` of ``name``, a ``send`` or ``deliver``, when every field is right and
    its clocks came whole from the :class:`ChainReader`; None for anything else (the general
    path of :func:`_event` then says what is wrong)."""
    node, inc, clock, mid = entry.get("node"), entry.get("inc"), entry.get("clock"), entry.get("id")
    peer = entry.get("to" if ev == "send" else "from")
    if (
        type(node) is not str
        or not node
        or type(inc) is not int
        or inc < 0
        or type(clock) is not Resolved
        or type(peer) is not str
        or not peer
        or type(mid) is not list
        or len(mid) != 3
        or len(node) > MAX_PID_LENGTH
        or len(peer) > MAX_PID_LENGTH
    ):
        return None
    sender, sinc, seq = mid
    if type(sender) is not str or not sender or type(sinc) is not int or type(seq) is not int:
        return None
    if len(sender) > MAX_PID_LENGTH:
        return None
    if sinc < 0 or seq < 0:
        return None
    if ev == "send":
        return (name, number, node, inc, "send", clock, peer, (sender, sinc, seq), None,
                _time(entry), False)  # fmt: skip
    msg = entry.get("msg_clock")
    if type(msg) is not Resolved:
        return None
    return (name, number, node, inc, "deliver", clock, peer, (sender, sinc, seq), msg,
            _time(entry), entry.get("redelivered") is True)  # fmt: skip


def _message_event(where: str, line: MessageLine) -> Event:
    """The event of a message line, its ids interned, at ``where``, in one C call."""
    _, _, node, inc, ev, clock, peer, (sender, sinc, seq), msg, t, redelivered = line
    return _new_event(
        Event,
        (where, intern(node), inc, ev, clock, intern(peer), (intern(sender), sinc, seq), msg,
         None, (), False, "", t, None, None, None, None, None, None, None, redelivered),
    )  # fmt: skip


def message_event(line: MessageLine) -> Event:
    """The :class:`Event` of a :data:`MessageLine`: what :func:`iter_events` gives for it."""
    return _message_event(f"{line[0]}:{line[1]}", line)


def _event(where: str, entry: Any) -> Event:
    """Validate one decoded line; raises :class:`ConfigError` naming ``where``."""
    if type(entry) is dict:
        ev = entry.get("ev")
        if type(ev) is str and ev in _MESSAGE_KINDS:
            line = _message_line("", 0, entry, ev)
            if line is not None:
                return _message_event(where, line)
    if type(entry) is not dict:
        raise _bad(where, "an event must be a JSON object")
    node = _str(where, entry, "node")
    inc = entry.get("inc")
    if type(inc) is not int or inc < 0:
        raise _bad(where, "'inc' must be a non-negative int")
    ev = entry.get("ev")
    if type(ev) is not str or ev not in _KIND_SET:
        raise _bad(where, f"'ev' must be one of {', '.join(sorted(EVENT_KINDS))}, not {ev!r:.80}")
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
_EVENT_LOG = "a netclock event log"
_CUT_EVENT = "skipped an unfinished last line (the node was killed)"


def _json_lines(
    path: Path,
    what: str,
    notes: list[str],
    cut_note: str,
    *,
    errors: str = "strict",
    pending: bool = False,
) -> Iterator[tuple[str, Any]]:
    """``(file:line, decoded value)`` for each non-blank line of ``path`` (``what`` it holds),
    read one line at a time (a file of any size in constant memory); with ``pending``, then
    those of the pending records that belong to it (:func:`~netclock.observe.pending.pending_for`;
    the file itself may then be missing).

    An unterminated, unparsable last line (its writer was killed in mid-write) is skipped
    with ``file:line: cut_note`` in ``notes``; any other unparsable line gives ``_NOT_JSON``.
    """
    for name, number, value in _numbered_lines(
        path, what, notes, cut_note, errors=errors, pending=pending
    ):
        yield f"{name}:{number}", value


def _numbered_lines(
    path: Path, what: str, notes: list[str], cut_note: str, *, errors: str, pending: bool
) -> Iterator[tuple[str, int, Any]]:
    """:func:`_json_lines` as ``(file, line, decoded value)``: the ``file:line`` text is left
    to the caller, who may not need it."""
    decode = json.JSONDecoder().decode
    reading = LogReading(path, pending_for(path) if pending else None, govector=False)
    try:
        try:
            with reading.text(errors) as file:
                yield from _decoded(file, str(path), decode, notes, cut_note)
        except FileNotFoundError as exc:
            if reading.records is None:
                raise ConfigError(
                    f"cannot read {path}: {exc.strerror}; check the run folder"
                ) from exc
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}; check the run folder") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path} is not UTF-8 text; pass {what}") from exc
        if reading.records is not None:
            lines = reading.lines(notes)
            yield from _decoded(lines, str(reading.records), decode, notes, cut_note)
    finally:
        reading.close()


_scan = json.scanner.c_make_scanner(json.JSONDecoder())  # type: ignore[attr-defined]
"""The JSON decoder's C scanner: ``(value, end)`` of the value a string starts with (what
``decode`` calls after two Python calls and two regular expressions)."""


def _decoded(
    lines: Iterable[str], name: str, decode: Callable[[str], Any], notes: list[str], cut_note: str
) -> Iterator[tuple[str, int, Any]]:
    scan = _scan
    for number, line in enumerate(lines, 1):
        try:  # one value and its line break (what our writers write), decoded in C alone
            entry, end = scan(line, 0)
        except (StopIteration, ValueError, RecursionError):
            end = -1
        if end == len(line) - 1 and line[end] == "\n":
            yield name, number, entry
            continue
        if line.isspace():
            continue
        try:
            entry = decode(line)
        except (ValueError, RecursionError):  # RecursionError: nested beyond Python's stack
            if not line.endswith("\n"):
                notes.append(f"{name}:{number}: {cut_note}")
                log.debug("%s:%d: unfinished last line skipped", name, number)
                continue
            entry = _NOT_JSON
        yield name, number, entry


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
    Records still pending (:mod:`netclock.observe.pending`: the node runs, or was killed)
    are read after the file's lines, as the lines they will become.
    """
    chain = ChainReader()
    errors = "strict" if strict else "replace"
    for name, number, entry in _numbered_lines(
        path, _EVENT_LOG, notes, _CUT_EVENT, errors=errors, pending=True
    ):
        where = f"{name}:{number}"
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


def iter_records(
    path: Path, notes: list[str], known_ids: set[str] | None = None
) -> Iterator[Event | MessageLine]:
    """:func:`iter_events` (strict) for a reader that wants little of a message: each
    ``send`` and ``deliver`` line whose every field is right comes as its
    :data:`MessageLine` (no :class:`Event`, no ``file:line`` text), every other line as its
    event. The same lines, notes and errors, in the same order. ``known_ids`` are process
    ids found valid before (the reader adds those it checks): one set for all the files
    of a run checks each id once, not once per file."""
    chain = ChainReader(known_ids)
    for name, number, entry in _numbered_lines(
        path, _EVENT_LOG, notes, _CUT_EVENT, errors="strict", pending=True
    ):
        if entry is _NOT_JSON:
            raise _bad(f"{name}:{number}", "not a JSON object")
        if type(entry) is dict:
            problem = chain.resolve(entry)
            if problem is not None:
                raise _bad(f"{name}:{number}", problem)
            ev = entry.get("ev")
            if type(ev) is str and ev in _MESSAGE_KINDS:
                line = _message_line(name, number, entry, ev)
                if line is not None:
                    yield line
                    continue
        yield _event(f"{name}:{number}", entry)


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
