"""The space-time diagram: a run's events and messages as one self-contained HTML page.

:func:`build_model` reads a run folder (its ``*.events.jsonl`` files, through
:mod:`netclock.observe.eventlog`) or a GoVector/ShiViz log and returns a plain, JSON-ready
dict; :func:`render_html` turns that dict into a page that needs no network (``netclock
viz PATH [-o out.html]`` does both).

Matching sends to deliveries. The JSON-lines log carries message ids, so a delivery
belongs to the send with the same id, a second delivery of one id is a duplicate, and a
send no one delivered is lost. A GoVector log has no ids: a receive at host ``h`` whose
clock entry for ``p`` rose to ``k`` above ``h``'s previous event is taken to deliver
``p``'s event number ``k`` (when several entries rose, the one that explains all of the
receive's clock wins). An unmatched event whose text names a send ("send ... to b") is
reported lost; duplicates cannot be seen in a GoVector log, and neither can a message
whose news reached the receiver first through a third process (its receive raises no
entry, so its send is reported lost). Prefer the JSON-lines log when both exist.

Who crashed, when, and who restarted comes from the run folder's fault record
(``faults.jsonl``), as for the checker: each crash is marked on its process line after the
last event logged before it. A folder without a record had no crash.

Every event gets a ``rank``: the length of the longest happened-before chain that ends
in it. Ranks grow along each process and along each message, so a drawing with one row
per rank never has an arrow pointing backwards.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import sys
from array import array
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import accumulate
from pathlib import Path
from typing import Any, TypedDict

from netclock.errors import ConfigError
from netclock.observe.eventlog import (
    EVENT_KINDS,
    FAULT_RECORD,
    Event,
    FaultRecord,
    RunInfo,
    event_files,
    read_events,
    read_fault_record,
    read_run_info,
)
from netclock.observe.shiviz import parse_log
from netclock.tools.check import crash_text
from netclock.tools.check_byzantine import load_adversaries, role_of

__all__ = [
    "EventKind",
    "Model",
    "VizCrash",
    "VizEvent",
    "VizMessage",
    "VizProcess",
    "build_model",
    "render_html",
    "render_run",
    "render_side_by_side",
    "write_run",
]

MAX_TEXT = 400
"""Event texts longer than this many characters are cut (with an ellipsis) in the model."""

EventKind = str
"""One of ``init send deliver local failed drop refused stop`` (GoVector logs: ``send deliver
local``)."""

_SEND_TEXT = re.compile(r"(?i)\bsen(?:d|ds|ding|t)\b")
_TO_PEER = re.compile(r"\bto (\S+)")
_INIT_TEXT = re.compile(r"(?i)\binit")


class VizCrash(TypedDict):
    """One crash of a process (fault record): when, and the last event logged before it.

    ``after`` indexes ``Model.events`` (None when the process logged nothing before it);
    ``text`` says what happened (``killed at 2.00 s``).
    """

    at: float | None
    after: int | None
    text: str


class VizSuspicion(TypedDict):
    """A failure detector's suspicion of ``peer``: from the ``suspect`` event ``start`` to
    the ``restore`` event ``end`` (indexes into ``Model.events``; None: to the end)."""

    peer: str
    start: int
    end: int | None


class VizProcess(TypedDict):
    """One process line: its id, event count, whether it ever crashed (fault record).

    ``crashed`` is None for a GoVector log without a fault record (nobody can tell);
    ``restarts`` are the times (seconds since the run's start) it was started again;
    ``role`` is "Byzantine" or "omission" when the process's own record says so.
    ``suspicions`` its failure detector's (docs/detectors.md); ``host`` the machine whose
    clock its wall times are (from its event log's init line; None when unknown).
    """

    id: str
    events: int
    crashed: bool | None
    incarnations: list[int]
    crashes: list[VizCrash]
    restarts: list[float]
    role: str
    suspicions: list[VizSuspicion]
    host: str | None


class VizEvent(TypedDict):
    """One dot: ``index`` is its position in ``Model.events``; ``rank`` its row."""

    index: int
    process: str
    kind: EventKind
    clock: dict[str, int]
    text: str
    rank: int
    time: float | None
    inc: int | None
    id: str | None
    waited: float | None
    """Seconds a broadcast waited in a FIFO or causal buffer after it arrived (early)."""
    redelivered: bool
    """A delivery a logged perfect link made again after a restart (not a duplicate)."""


class VizMessage(TypedDict):
    """One sent message: its send event, every delivery of it, and what became of it.

    ``lost`` means no delivery at all; ``failed`` means a reliable link handed it back
    (``failed_event`` is that event). ``to`` is ``None`` when a GoVector text names no peer.
    """

    id: str | None
    sender: str
    to: str | None
    send: int
    deliveries: list[int]
    lost: bool
    failed: bool
    failed_event: int | None


class VizSample(TypedDict):
    """A node's ``sample`` event (docs/eventlog.md): its inbox depth and its peer sessions.

    ``links`` maps a peer to ``[sent, retransmitted, srtt, rto]`` (seconds; srtt None
    before the first measurement).
    """

    process: str
    time: float
    inbox: int | None
    links: dict[str, list[Any]]


class Model(TypedDict):
    """What :func:`render_html` draws; plain JSON types only."""

    version: int
    title: str
    source: str
    processes: list[VizProcess]
    events: list[VizEvent]
    messages: list[VizMessage]
    unmatched: list[int]
    summary: dict[str, int]
    samples: list[VizSample]
    """Every ``sample`` event, in file order (they are not in ``events``)."""
    started: float | None
    """When the run started (``run.json``; None when unknown): the charts' time 0."""


_Delta = tuple[Any, ...]
"""A flat ``(name, change, name, change, ...)`` tuple: how a clock differs from the one before."""


class _Raw:
    """An event as read, before ranking: what the page needs of it and no more.

    ``delta`` is how the clock differs from the process's previous event (:func:`_delta`),
    so a run's clocks cost what changes in them; ``clock`` is the whole clock of a GoVector
    event (matching needs it), None for an event log's. ``text`` None means the text
    follows from kind, id and peer (:func:`_text`).
    """

    __slots__ = (
        "clock",
        "delta",
        "extra",
        "inc",
        "kind",
        "msg_id",
        "peer",
        "process",
        "text",
        "time",
    )

    def __init__(
        self,
        process: str,
        kind: str,
        text: str | None,
        *,
        clock: dict[str, int] | None = None,
        delta: _Delta = (),
        time: float | None = None,
        inc: int | None = None,
        msg_id: str | None = None,
        peer: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.process = process
        self.kind = kind
        self.text = text
        self.clock = clock
        self.delta = delta
        self.time = time
        self.inc = inc
        self.msg_id = msg_id
        self.peer = peer
        self.extra = extra or _NO_EXTRA


_NO_EXTRA: dict[str, Any] = {}


class _Msg:
    """A message as matched: its send, its deliveries, the ``failed`` event (or None)."""

    __slots__ = ("deliveries", "failed_event", "id", "send", "sender", "to")

    def __init__(
        self,
        id: str | None,
        sender: str,
        to: str | None,
        send: int,
        deliveries: list[int],
        failed_event: int | None = None,
    ) -> None:
        self.id = id
        self.sender = sender
        self.to = to
        self.send = send
        self.deliveries = deliveries
        self.failed_event = failed_event


def _delta(
    prev: Mapping[str, int], clock: Mapping[str, int], names: dict[str, str] | None = None
) -> _Delta:
    """How ``clock`` differs from ``prev``: flat ``(name, change)`` pairs, a vanished entry's
    change minus its old value. Changes are mostly 1 (one shared int object) and names are
    interned through ``names``, so a delta holds no object of its own but the tuple."""
    out: list[Any] = []
    appeared = 0
    intern = names.setdefault if names is not None else None
    for name, value in clock.items():
        before = prev.get(name)
        if before != value:
            out += (name if intern is None else intern(name, name), value - (before or 0))
            appeared += before is None
    if len(clock) - appeared < len(prev):
        out += [x for name in prev if name not in clock for x in (name, -prev[name])]
    return tuple(out)


def _apply(clock: dict[str, int], delta: _Delta) -> None:
    """``clock`` after one event's ``delta`` (see :func:`_delta`)."""
    for n in range(0, len(delta), 2):
        name = delta[n]
        value = clock.get(name, 0) + delta[n + 1]
        if value:
            clock[name] = value
        else:
            clock.pop(name, None)


# -- reading ---------------------------------------------------------------------------------


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


def _id_text(event: Event) -> str | None:
    return None if event.mid is None else ":".join(str(part) for part in event.mid)


def _event_text(e: Event, msg_id: str | None) -> str:
    if e.ev == "local":
        return e.text
    if e.ev == "send":
        return f"send {msg_id} to {e.peer}"
    if e.ev == "deliver":
        return f"deliver {msg_id} from {e.peer}"
    if e.ev == "init":
        return f"init: {e.link or '?'} link, promises {', '.join(e.promises) or 'none'}"
    if e.ev == "failed":
        return f"failed: the link gave up on {msg_id} to {e.peer}"
    if e.ev == "drop":
        return f"drop from {e.peer}: {e.text}"
    if e.ev == "refused":
        return f"refused from {e.peer}: {e.text}"
    if e.ev in ("suspect", "restore"):
        return f"{e.ev} {e.peer} (timeout {e.value or 0:.3f} s)"
    if e.ev == "leader":
        return f"leader {e.peer}"
    if e.ev == "violation":
        return f"synchrony assumption violated by the host: {e.text} {e.value or 0:.3f} s"
    if e.ev == "bcast":
        return f"broadcast {msg_id} ({e.bkind})"
    if e.ev == "bdeliver":
        return _bdeliver_text(e, msg_id)
    return "stop (clean)" if e.clean else "stop (not clean)"


def _bdeliver_text(e: Event, msg_id: str | None) -> str:
    text = f"deliver broadcast {msg_id} ({e.bkind}) from {e.peer}"
    if e.waited:
        past = "its causal past" if e.bkind == "causal" else "an earlier broadcast of its origin"
        text += f"; arrived early, waited {e.waited * 1000:.1f} ms for {past}"
    return text


def _text(raw: _Raw) -> str:
    """An event's text: as read, or made from its kind, id and peer (see :class:`_Raw`)."""
    if raw.text is not None:
        return raw.text
    if raw.kind == "send":
        return f"send {raw.msg_id} to {raw.peer}"
    return f"deliver {raw.msg_id} from {raw.peer}"


def _read_jsonl(
    path: Path, notes: list[str], names: dict[str, str], samples: list[VizSample]
) -> list[_Raw]:
    """The events of one log, their clocks kept as deltas; ``names`` interns process ids.

    ``sample`` lines go to ``samples`` (the charts), not into the diagram.
    """
    out: list[_Raw] = []
    prev: dict[str, Mapping[str, int]] = {}
    intern = names.setdefault
    incs: dict[int | None, int | None] = {}  # one int object per incarnation, not per event
    for e in read_events(path, notes, strict=False):
        if e.ev == "sample":
            if e.sample is not None and e.t is not None:
                node = intern(e.node, e.node)
                samples.append(VizSample(process=node, time=e.t, **e.sample))  # type: ignore[typeddict-item]
            continue
        msg_id = _id_text(e)
        node = intern(e.node, e.node)
        plain = e.ev in ("send", "deliver") and msg_id is not None and e.peer is not None
        extra = None
        if e.bkind is not None:
            extra = {"bkind": e.bkind, "waited": e.waited}
        if e.host is not None:
            extra = (extra or {}) | {"host": e.host}
        if e.redelivered:
            extra = (extra or {}) | {"redelivered": True}
        out.append(
            _Raw(
                node,
                e.ev,
                None if plain else _short(_event_text(e, msg_id)),
                delta=_delta(prev.get(node, _NO_EXTRA), e.clock, names),
                time=e.t,
                inc=incs.setdefault(e.inc, e.inc),
                msg_id=msg_id,
                peer=None if e.peer is None else intern(e.peer, e.peer),
                extra=extra,
            )
        )
        prev[node] = e.clock
    return out


def _read_govector(paths: Sequence[Path]) -> list[_Raw]:
    out: list[_Raw] = []
    for path in paths:
        for event in parse_log(path):
            first = event.clock[event.host] == 1 and _INIT_TEXT.search(event.event)
            out.append(
                _Raw(
                    event.host,
                    "init" if first else "local",
                    _short(event.event),
                    clock=event.clock.to_dict(),
                )
            )
    return out


def _fault_record(path: Path, skipped: list[str]) -> FaultRecord | None:
    """The folder's fault record; None when there is none or it cannot be read (noted)."""
    record = path / FAULT_RECORD
    if not path.is_dir() or not record.is_file():
        return None
    try:
        return read_fault_record(record, skipped)
    except ConfigError as exc:
        skipped.append(str(exc))
        return None


def _crashes(
    record: FaultRecord, pid: str, times: Sequence[float | None], first: int
) -> list[VizCrash]:
    """The crashes of ``pid``, each after the last of its events logged before it
    (``times``: its events' wall times, None or NaN when unknown)."""
    out: list[VizCrash] = []
    for life in record.crashes(pid):
        end = life.end if life.end is not None else float("inf")
        last = next(
            (i for i in range(len(times) - 1, -1, -1) if (t := times[i]) is not None and t <= end),
            None,
        )
        after = first + last if last is not None else (first + len(times) - 1 if times else None)
        out.append(VizCrash(at=life.end_at, after=after, text=crash_text(life)))
    return out


def _suspicions(marks: Iterable[tuple[int, str, str]]) -> list[VizSuspicion]:
    """The suspicion intervals of one process line from its ``(index, kind, peer)``
    ``suspect`` and ``restore`` events, in order."""
    out: list[VizSuspicion] = []
    open_: dict[str, VizSuspicion] = {}
    for i, kind, peer in marks:
        if kind == "suspect" and peer not in open_:
            open_[peer] = VizSuspicion(peer=peer, start=i, end=None)
            out.append(open_[peer])
        elif kind == "restore" and peer in open_:
            open_.pop(peer)["end"] = i
    return out


def _run_info(folder: Path) -> RunInfo:
    """What ``run.json`` says, or nothing when it is missing or malformed (it only names things)."""
    try:
        return read_run_info(folder) or RunInfo()
    except ConfigError:
        return RunInfo()


# -- building --------------------------------------------------------------------------------


class _Graph:
    """Per-process sequences of events plus message edges; computes ranks."""

    def __init__(self, order: list[str], raws: list[_Raw]) -> None:
        by_process: dict[str, list[_Raw]] = {pid: [] for pid in order}
        for raw in raws:
            by_process.setdefault(raw.process, []).append(raw)
        self.order = [pid for pid in by_process if by_process[pid]]
        self.events: list[_Raw] = []
        self.first: list[int] = []
        for pid in self.order:
            self.first.append(len(self.events))
            self.events.extend(by_process[pid])
        self.first.append(len(self.events))
        self.edges: list[tuple[int, int]] = []

    def ranks(self) -> tuple[array[int], int]:
        """Longest-chain ranks (:func:`longest_chains`) of these events and edges."""
        sends = array("i", (send for send, _ in self.edges))
        delivers = array("i", (deliver for _, deliver in self.edges))
        return longest_chains(self.first, sends, delivers)


def longest_chains(
    first: Sequence[int], sends: Sequence[int], delivers: Sequence[int]
) -> tuple[array[int], int]:
    """Each event's rank: the length of the longest happened-before chain ending in it.

    Events are numbered lane by lane (lane ``p`` holds ``first[p]`` to ``first[p + 1] - 1``);
    message ``k`` runs from event ``sends[k]`` to ``delivers[k]``. Message edges that would
    close a cycle (only a corrupt log has them) are ignored and counted: ``(ranks, broken)``.
    Flat arrays, not a list per event: a million events cost a few MB here.
    """
    lanes = len(first) - 1
    n = first[lanes]
    proc_of = array("i", [0]) * n
    for p in range(lanes):
        proc_of[first[p] : first[p + 1]] = array("i", [p]) * (first[p + 1] - first[p])
    incoming = array("i", [0]) * n
    out_start = array("i", [0]) * (n + 1)  # the deliveries of send i: out_start[i]..[i+1]
    for send, deliver in zip(sends, delivers, strict=True):
        out_start[send + 1] += 1
        incoming[deliver] += 1
    out_start = array("i", accumulate(out_start))
    out_list, fill = array("i", [0]) * len(sends), out_start[:-1]
    for send, deliver in zip(sends, delivers, strict=True):
        out_list[fill[send]] = deliver
        fill[send] += 1
    del fill
    rank = array("i", [0]) * n
    done = bytearray(n)
    nxt = list(first[:-1])
    ready = [p for p, start in enumerate(nxt) if start < first[p + 1] and not incoming[start]]
    broken = 0
    finished = 0
    while finished < n:
        if not ready:
            # Only a corrupt log gets here: a delivery that precedes its own send.
            heads = [nxt[p] for p in range(lanes) if nxt[p] < first[p + 1]]
            stuck = min(heads)
            broken += incoming[stuck]
            incoming[stuck] = 0
            ready.append(proc_of[stuck])
        p = ready.pop()
        end = first[p + 1]
        # Along the process while its next event has no pending edge: it would go on
        # ``ready`` and come straight back (ranks do not depend on the order).
        ahead = True
        while ahead:
            i = nxt[p]
            done[i] = 1
            finished += 1
            nxt[p] = i + 1
            up = rank[i] + 1
            # Program order first, then messages: a process goes on ``ready`` (or on
            # along its line) once per event, when its head has no pending edge left.
            ahead = i + 1 < end and not incoming[i + 1]
            if i + 1 < end and rank[i + 1] < up:
                rank[i + 1] = up
            for o in range(out_start[i], out_start[i + 1]):
                j = out_list[o]
                if done[j]:
                    continue
                rank[j] = max(rank[j], up)
                incoming[j] -= 1
                if not incoming[j] and nxt[proc_of[j]] == j:
                    ready.append(proc_of[j])
    return rank, broken


def _match_ids(graph: _Graph) -> tuple[list[_Msg], list[int]]:
    """Messages from a JSON-lines log: a send and its deliveries share an id and a receiver.

    Ids number the messages of one link (sender to receiver), so the same id names one
    message to each peer: the receiver is part of the key.
    """
    sends: dict[tuple[str, str | None], int] = {}
    delivered: dict[tuple[str, str | None], list[int]] = {}
    failed: dict[tuple[str, str | None], int] = {}
    for i, raw in enumerate(graph.events):
        if raw.msg_id is None:
            continue
        if raw.kind == "send":
            sends.setdefault((raw.msg_id, raw.peer), i)
        elif raw.kind == "deliver":
            delivered.setdefault((raw.msg_id, raw.process), []).append(i)
        elif raw.kind == "failed":
            failed.setdefault((raw.msg_id, raw.peer), i)
    messages = _match_broadcasts(graph)
    for key, i in sends.items():
        raw = graph.events[i]
        deliveries = delivered.pop(key, [])
        for j in deliveries:
            graph.edges.append((i, j))
        messages.append(_Msg(key[0], raw.process, raw.peer, i, deliveries, failed.get(key)))
    unmatched = sorted(j for js in delivered.values() for j in js)
    return messages, unmatched


def _match_broadcasts(graph: _Graph) -> list[_Msg]:
    """Broadcasts: one message per (broadcast, delivering process), so each is an arrow."""
    sends: dict[tuple[str, str], int] = {}
    delivered: dict[tuple[str, str], list[int]] = {}
    for i, raw in enumerate(graph.events):
        kind = raw.extra.get("bkind")
        if raw.msg_id is None or kind is None:
            continue
        if raw.kind == "bcast":
            sends.setdefault((raw.msg_id, kind), i)
        elif raw.kind == "bdeliver":
            delivered.setdefault((raw.msg_id, kind), []).append(i)
    messages: list[_Msg] = []
    for key, i in sends.items():
        for j in delivered.pop(key, []):
            if j == i + 1 and graph.events[j].process == graph.events[i].process:
                continue  # the origin's own delivery, right after its broadcast
            graph.edges.append((i, j))
            sender, to = graph.events[i].process, graph.events[j].process
            messages.append(_Msg(f"{key[0]} ({key[1]})", sender, to, i, [j]))
    return messages


def _pick_sender(
    graph: _Graph,
    clocks: list[dict[str, int]],
    own: dict[tuple[str, int], int],
    host: str,
    prev: dict[str, int],
    i: int,
) -> int | None:
    clock = clocks[i]
    candidates = [
        own[(pid, count)]
        for pid, count in clock.items()
        if pid != host and count > prev.get(pid, 0) and (pid, count) in own
    ]
    if not candidates:
        return None

    def explains(c: int) -> bool:
        sent = clocks[c]
        return all(
            max(prev.get(pid, 0), sent.get(pid, 0)) == count
            for pid, count in clock.items()
            if pid != host
        )

    def known_by_another(c: int) -> bool:
        pid = graph.events[c].process
        count = clocks[c].get(pid, 0)
        return any(d != c and clocks[d].get(pid, 0) >= count for d in candidates)

    for c in candidates:
        if explains(c):
            return c
    latest = [c for c in candidates if not known_by_another(c)]
    return (latest or candidates)[0]


def _match_clocks(graph: _Graph) -> list[_Msg]:
    """Messages from a GoVector log, found by the receive rule (see the module docstring)."""
    clocks = [raw.clock or {} for raw in graph.events]
    own: dict[tuple[str, int], int] = {}
    for i, raw in enumerate(graph.events):
        own.setdefault((raw.process, clocks[i].get(raw.process, 0)), i)
    sent_by: dict[int, list[int]] = {}
    for p, host in enumerate(graph.order):
        prev: dict[str, int] = {}
        for i in range(graph.first[p], graph.first[p + 1]):
            sender = _pick_sender(graph, clocks, own, host, prev, i)
            if sender is not None:
                sent_by.setdefault(sender, []).append(i)
                graph.events[i].kind = "deliver"
                graph.events[i].peer = graph.events[sender].process
            prev = clocks[i]
    hosts = set(graph.order)
    messages: list[_Msg] = []
    for i, raw in enumerate(graph.events):
        deliveries = sent_by.get(i, [])
        if deliveries:
            raw.kind = "send"
            raw.peer = graph.events[deliveries[0]].process
        elif _SEND_TEXT.search(_text(raw)) and raw.kind == "local":
            raw.kind = "send"
            named = _TO_PEER.search(_text(raw))
            raw.peer = named.group(1) if named and named.group(1) in hosts else None
        else:
            continue
        for j in deliveries:
            graph.edges.append((i, j))
        messages.append(_Msg(None, raw.process, raw.peer, i, deliveries))
    return messages


def _fill_deltas(raws: list[_Raw]) -> None:
    """Give GoVector events (whole clocks, in process order) their deltas."""
    prev: dict[str, Mapping[str, int]] = {}
    for raw in raws:
        clock = raw.clock or {}
        raw.delta = _delta(prev.get(raw.process, _NO_EXTRA), clock)
        prev[raw.process] = clock


def _sources(path: Path) -> tuple[str, list[Path], str, list[str]]:
    """(kind, files, title, preferred process order) for a folder or a file."""
    if not path.exists():
        raise ConfigError(f"{path} does not exist; give a run folder or a log file")
    if path.is_file():
        kind = "events.jsonl" if path.name.endswith(".jsonl") else "govector"
        return kind, [path], path.name, []
    info = _run_info(path)
    title = info.name or path.name
    order = list(info.nodes)
    jsonl = event_files(path)
    if jsonl:
        return "events.jsonl", jsonl, title, order
    logs = [p for p in sorted(path.glob("*.log")) if p.name != "merged.log"]
    if not logs and (path / "merged.log").is_file():
        logs = [path / "merged.log"]
    if logs:
        return "govector", logs, title, order
    raise ConfigError(
        f"{path} holds no *.events.jsonl or *.log files; give a run folder or a log file"
    )


@dataclass
class _Run:
    """A run as read and matched: what both the model and the page are made from."""

    title: str
    source: str
    graph: _Graph
    messages: list[_Msg]
    unmatched: list[int]
    rank: Sequence[int]
    processes: list[VizProcess]
    summary: dict[str, int]
    samples: list[VizSample]
    started: float | None


def _load(path: str | Path) -> _Run:
    """Read, match and rank a run folder or log file (see :func:`build_model`)."""
    source = Path(path)
    kind, files, title, order = _sources(source)
    skipped: list[str] = []
    samples: list[VizSample] = []
    if kind == "events.jsonl":
        names: dict[str, str] = {}
        raws = [raw for f in files for raw in _read_jsonl(f, skipped, names, samples)]
    else:
        raws = _read_govector(files)
        raws.sort(key=lambda raw: (raw.clock or {}).get(raw.process, 0))
    if not raws:
        raise ConfigError(f"{source} holds no events; is the run folder or log file right?")
    graph = _Graph(order, raws)
    del raws
    unmatched: list[int] = []
    if kind == "events.jsonl":
        messages, unmatched = _match_ids(graph)
    else:
        messages = _match_clocks(graph)
        _fill_deltas(graph.events)
    rank, broken = graph.ranks()
    record = _fault_record(source, skipped)
    adversaries = load_adversaries(source) if source.is_dir() else None
    processes: list[VizProcess] = []
    for p, pid in enumerate(graph.order):
        mine = graph.events[graph.first[p] : graph.first[p + 1]]
        incs = sorted({raw.inc for raw in mine if raw.inc is not None})
        times = [raw.time for raw in mine]
        crashes = [] if record is None else _crashes(record, pid, times, graph.first[p])
        crashed = bool(crashes) if record is not None or kind != "govector" else None
        restarts = (
            [] if record is None else [x.start_at for x in record.lives.get(pid, ()) if x.restart]
        )
        processes.append(
            VizProcess(
                id=pid,
                events=len(mine),
                crashed=crashed,
                incarnations=incs,
                crashes=crashes,
                restarts=restarts,
                role=role_of(adversaries, pid),
                suspicions=_suspicions(
                    (i, raw.kind, raw.peer)
                    for i, raw in enumerate(mine, start=graph.first[p])
                    if raw.peer is not None and raw.kind in ("suspect", "restore")
                ),
                host=next((e.extra["host"] for e in mine if "host" in e.extra), None),
            )
        )
    delivered = sum(1 for m in messages if m.deliveries)
    kinds = [raw.kind for raw in graph.events]
    again = sum(1 for raw in graph.events if raw.extra.get("redelivered"))
    summary = {
        "processes": len(processes),
        "events": len(graph.events),
        "messages": len(messages),
        "delivered": delivered,
        # as the checker counts: handed back (failed) is not lost
        "lost": sum(1 for m in messages if not m.deliveries and m.failed_event is None),
        "duplicates": sum(
            1
            for m in messages
            for d in m.deliveries[1:]
            if not graph.events[d].extra.get("redelivered")
        ),
        "redelivered": again,
        "failed": sum(1 for m in messages if m.failed_event is not None),
        "dropped": kinds.count("drop"),
        "refused": kinds.count("refused"),
        "crashed": sum(1 for p in processes if p["crashed"]),
        "unmatched": len(unmatched),
        "inconsistent": broken,
        "skipped": len(skipped),
        "rows": max(rank) + 1,
    }
    started = _run_info(source).started if source.is_dir() else None
    return _Run(title, kind, graph, messages, unmatched, rank, processes, summary, samples, started)


def build_model(path: str | Path) -> Model:
    """Read a run folder or a log file into the model that :func:`render_html` draws.

    Raises :class:`ConfigError` when ``path`` is missing or holds no events. Lines of a
    JSON-lines log that are not events as ``docs/eventlog.md`` defines them (a crash can
    cut the last one) are skipped and counted in ``summary["skipped"]``. The model holds
    a dict per event with its whole clock: for tests and small runs; ``netclock viz``
    uses :func:`render_run`, which never builds it.
    """
    run = _load(path)
    events: list[VizEvent] = []
    clocks: dict[str, dict[str, int]] = {}
    for i, raw in enumerate(run.graph.events):
        clock = clocks.setdefault(raw.process, {})
        _apply(clock, raw.delta)
        events.append(
            VizEvent(
                index=i,
                process=raw.process,
                kind=raw.kind,
                clock=dict(clock),
                text=_text(raw),
                rank=run.rank[i],
                time=raw.time,
                inc=raw.inc,
                id=raw.msg_id,
                waited=raw.extra.get("waited"),
                redelivered=bool(raw.extra.get("redelivered")),
            )
        )
    messages = [
        VizMessage(
            id=m.id,
            sender=m.sender,
            to=m.to,
            send=m.send,
            deliveries=m.deliveries,
            lost=not m.deliveries,
            failed=m.failed_event is not None,
            failed_event=m.failed_event,
        )
        for m in run.messages
    ]
    return Model(
        version=1,
        title=run.title,
        source=run.source,
        processes=run.processes,
        events=events,
        messages=messages,
        unmatched=run.unmatched,
        summary=run.summary,
        samples=run.samples,
        started=run.started,
    )


# -- rendering -------------------------------------------------------------------------------
_KIND_CODE = {kind: number for number, kind in enumerate(EVENT_KINDS)}
_UNSET: Any = object()
_START_GAP = 60.0
"""Seconds between a run's start and its first event beyond which the start (another
host's clock, or a wrong run.json) is not taken as the charts' time 0."""
_CODE_BASE = 65
CLOCK_MARK = 4096
"""Every this many events of a process line the page holds its whole clock (``ck``), so
selecting an event replays at most this many events' clock changes."""
"""Kind codes and clock-change counts are characters from ``A`` on (one byte each in JSON)."""


def _run_of(model: Model) -> _Run:
    """A model back in the form the page is made from (``render_html`` of a model)."""
    prev: dict[str, Mapping[str, int]] = {}
    raws: list[_Raw] = []
    for e in model["events"]:
        waited = e["waited"]
        extra: dict[str, Any] = {} if waited is None else {"waited": waited}
        if e["redelivered"]:
            extra["redelivered"] = True
        raws.append(
            _Raw(
                e["process"],
                e["kind"],
                e["text"],
                delta=_delta(prev.get(e["process"], _NO_EXTRA), e["clock"]),
                time=e["time"],
                inc=e["inc"],
                msg_id=e["id"],
                extra=extra,
            )
        )
        prev[e["process"]] = e["clock"]
    graph = _Graph([p["id"] for p in model["processes"]], raws)
    messages = [
        _Msg(m["id"], m["sender"], m["to"], m["send"], m["deliveries"], m["failed_event"])
        for m in model["messages"]
    ]
    rank = [e["rank"] for e in model["events"]]
    return _Run(
        model["title"],
        model["source"],
        graph,
        messages,
        model["unmatched"],
        rank,
        model["processes"],
        model["summary"],
        model["samples"],
        model["started"],
    )


def _compact(model: Model) -> dict[str, Any]:
    """The page's data of ``model`` (see :func:`_page_data`)."""
    return _page_data(_run_of(model))


def _derivable(run: _Run) -> set[int]:
    """Events whose text the page makes itself from their message (see :func:`_text`)."""
    events = run.graph.events
    known = set(run.graph.order)
    out: set[int] = set()
    for m in run.messages:
        if m.id is None or m.to not in known:
            continue
        raw = events[m.send]
        if raw.text is None and raw.kind == "send" and raw.peer == m.to and raw.msg_id == m.id:
            out.add(m.send)
        for d in m.deliveries:
            raw = events[d]
            if raw.text is None and raw.peer == m.sender and raw.msg_id == m.id:
                out.add(d)
    return out


def _page_data(run: _Run) -> dict[str, Any]:
    """The run in the columnar form the page's script reads (docs in the template).

    Events are grouped by process (``first`` holds each process's first index); a kind
    and a clock-change count are one character each; ranks, wall times (microseconds)
    and clock entries are differences from the process's previous event; texts only where
    the page cannot make them from the message; message ids as the sequence number when
    they read ``sender:incarnation:n``.
    """
    graph, events = run.graph, run.graph.events
    names = {pid: i for i, pid in enumerate(graph.order)}
    local = _KIND_CODE["local"]
    times = [raw.time for raw in events if raw.time is not None]
    times += [x["time"] for x in run.samples]
    t0 = min(times) if times else None
    del times
    if t0 is not None and run.started is not None and 0 <= t0 - run.started < _START_GAP:
        t0 = run.started  # times since the run's start, as the fault record's
    kinds: list[str] = []
    counts: list[str] = []
    ranks: list[int] = []
    micros: list[int] = []
    untimed: list[int] = []
    incs: list[list[int | None]] = []
    changes: list[int] = []
    waited: list[list[float | int]] = []
    again: list[int] = []
    marks: list[list[list[int]]] = []
    span = 0
    for p in range(len(graph.order)):
        last_rank, last_us, last_inc = 0, 0, _UNSET
        clock: dict[str, int] = {}
        marks.append([])
        for i in range(graph.first[p], graph.first[p + 1]):
            raw = events[i]
            if (i - graph.first[p]) % CLOCK_MARK == 0:
                marks[p].append(_mark(clock, names))
            _apply(clock, raw.delta)
            kinds.append(chr(_CODE_BASE + _KIND_CODE.get(raw.kind, local)))
            ranks.append(run.rank[i] - last_rank)
            last_rank = run.rank[i]
            if t0 is not None:
                if raw.time is None:
                    untimed.append(i)
                    micros.append(0)
                else:
                    us = round((raw.time - t0) * 1e6)
                    micros.append(us - last_us)
                    last_us = us
                    span = max(span, us)
            if raw.inc != last_inc:
                incs.append([i, raw.inc])
                last_inc = raw.inc
            delta = raw.delta
            counts.append(chr(_CODE_BASE + len(delta) // 2))
            for n in range(0, len(delta), 2):
                changes += (names.setdefault(delta[n], len(names)), delta[n + 1])
            if raw.extra.get("waited"):
                waited.append([i, raw.extra["waited"]])
            if raw.extra.get("redelivered"):
                again.append(i)
    derivable = _derivable(run)
    texts = {i: _text(raw) for i, raw in enumerate(events) if i not in derivable}
    sends: list[int] = []
    firsts: list[int] = []
    tos: list[int] = []
    ids: list[int | str | None] = []
    extra: list[list[int]] = []
    failed: list[list[int]] = []
    last_send = 0
    for mi, m in enumerate(run.messages):
        sends.append(m.send - last_send)
        last_send = m.send
        firsts.append(m.deliveries[0] if m.deliveries else -1)
        extra += ([mi, d] for d in m.deliveries[1:])
        tos.append(names[m.to] if m.to is not None and m.to in graph.order else -1)
        seq = _seq(m, events[m.send].inc)
        ids.append(seq if seq is not None else m.id)
        if m.failed_event is not None:
            failed.append([mi, m.failed_event])
    samples = _sample_columns(run.samples, names, t0, span)
    return {
        "samples": samples,
        "span": max([span, *samples["t"]]) / 1e6,
        "title": run.title,
        "source": run.source,
        "kinds": list(EVENT_KINDS),
        "names": list(names),
        "processes": run.processes,
        "first": graph.first,
        "k": "".join(kinds),
        "r": ranks,
        "t0": t0,
        "t": micros if t0 is not None else None,
        "untimed": untimed,
        "inc": incs,
        "cn": "".join(counts),
        "cv": packed_changes([_column(changes)]),
        "ck": marks,
        "ckEvery": CLOCK_MARK,
        "text": texts,
        "waited": waited,
        "redelivered": again,
        "ms": sends,
        "md": firsts,
        "mt": tos,
        "mid": ids,
        "mx": extra,
        "mf": failed,
        "unmatched": run.unmatched,
        "summary": run.summary,
    }


def _mark(clock: Mapping[str, int], names: dict[str, int]) -> list[int]:
    """A whole clock for the page's ``ck``: flat ``(name, value)`` pairs."""
    return [x for name, value in clock.items() for x in (names.setdefault(name, len(names)), value)]


def _sample_columns(
    samples: list[VizSample], names: dict[str, int], t0: float | None, span: int
) -> dict[str, list[Any]]:
    """Samples as columns: process, microseconds since ``t0``, inbox depth (-1: unknown),
    and ``[sample, peer, sent, retransmitted, srtt, rto]`` rows of the peer sessions, those
    :func:`kept_rows` keeps (``span``: the events' latest time)."""
    out: dict[str, list[Any]] = {"p": [], "t": [], "inbox": [], "links": []}
    if t0 is None:
        return out
    rows = []
    for n, x in enumerate(samples):
        out["p"].append(names.setdefault(x["process"], len(names)))
        out["t"].append(round((x["time"] - t0) * 1e6))
        out["inbox"].append(-1 if x["inbox"] is None else x["inbox"])
        for peer, row in x["links"].items():
            if type(row) is list and len(row) == 4 and all(_plain(v) for v in row):
                rows.append([n, names.setdefault(peer, len(names)), *row])
    p, t = out["p"], out["t"]
    span = max([span, *t])
    kept = kept_rows([(p[row[0]], row[1]) for row in rows], [t[row[0]] for row in rows], span)
    out["links"] = [rows[r] for r in kept]
    return out


SAMPLE_SLOTS = 240
"""Equal parts of a run's span in each of which a page keeps a peer session's last sample
row: twice the template's ``BUCKETS``, so each part lies in one bucket of the charts."""


def kept_rows(keys: Iterable[Hashable], times: Iterable[int], span: int) -> list[int]:
    """The rows of sample series (``keys[r]``: which series, ``times[r]``: microseconds) a
    page keeps, in order: each series' first row and its last in each of
    :data:`SAMPLE_SLOTS` equal parts of ``span``. Counters summed per chart bucket come out
    as from every row; a minute of 64 processes keeps 240 rows a session instead of 600."""
    slot_of: dict[Hashable, int] = {}
    last: dict[Hashable, int] = {}  # the series' latest row in its slot; -1: kept already
    kept: list[int] = []
    for r, (key, t) in enumerate(zip(keys, times, strict=True)):
        slot = min(SAMPLE_SLOTS - 1, max(0, t) * SAMPLE_SLOTS // span) if span > 0 else 0
        before = slot_of.get(key)
        if before is None:
            kept.append(r)
            slot_of[key], last[key] = slot, -1
            continue
        if slot != before:
            if last[key] >= 0:
                kept.append(last[key])
            slot_of[key] = slot
        last[key] = r
    kept.extend(r for r in last.values() if r >= 0)
    kept.sort()
    return kept


def _plain(value: Any) -> bool:
    """A finite number or None: what a sample's link row may hold."""
    return value is None or (type(value) in (int, float) and value - value == 0)


def _seq(m: _Msg, inc: int | None) -> int | None:
    """``n`` when the message's id reads ``sender:inc:n`` (the page rebuilds it), else None."""
    if m.id is None or inc is None:
        return None
    prefix = f"{m.sender}:{inc}:"
    tail = m.id[len(prefix) :]
    if m.id.startswith(prefix) and tail.isdigit() and str(int(tail)) == tail:
        return int(tail)
    return None


_CHUNK = 1 << 16
"""Numbers of a column turned to text at a time (the encoder would hold one string each)."""


_NAME_CODES, _CHANGE_CODES = "BHI", "bhi"
"""The array typecodes tried, smallest first, for the clock changes' names and values."""


def packed_changes(columns: Sequence[Sequence[int]]) -> Any:
    """The clock changes (``columns``, each flat ``name, change`` pairs, one after another)
    as the page carries them: two little-endian columns of the smallest integer type that
    holds them, base64 (``{"n": {"t": code, "b": text}, "d": ...}``, names and changes), or
    the flat JSON list when a change needs more than 32 bits (a liar's clock). A million
    events at 64-entry clocks change 23 entries each: a few bytes a pair instead of a JSON
    number each, which the browser no longer has to parse one by one."""
    if not all(type(column) is array for column in columns):
        return _Chunks(columns)
    names = _packed([column[0::2] for column in columns], _NAME_CODES)
    deltas = _packed([column[1::2] for column in columns], _CHANGE_CODES)
    if names is None or deltas is None:
        return _Chunks(columns)
    return {"n": names, "d": deltas}


def _column(values: list[int]) -> array[int] | list[int]:
    try:
        return array("q", values)
    except OverflowError:  # a liar's clock
        return values


def _packed(parts: list[Any], codes: str) -> dict[str, str] | None:
    for code in codes:
        packed = array(code)
        try:
            for part in parts:
                packed += array(code, part)
        except OverflowError:
            continue
        if sys.byteorder == "big":
            packed.byteswap()
        return {"t": code, "b": base64.b64encode(packed.tobytes()).decode("ascii")}
    return None


def unpacked_changes(cv: Any) -> list[int]:
    """The flat ``name, change`` pairs of a page's ``cv`` (:func:`packed_changes` undone)."""
    if isinstance(cv, list):
        return cv
    columns = []
    for key in ("n", "d"):
        column = array(cv[key]["t"], base64.b64decode(cv[key]["b"]))
        if sys.byteorder == "big":
            column.byteswap()
        columns.append(column)
    flat = [0] * (2 * len(columns[0]))
    flat[0::2], flat[1::2] = columns[0].tolist(), columns[1].tolist()
    return flat


class _Rows:
    """A JSON list of lists made a chunk at a time by ``chunks`` (each chunk a list of rows
    of numbers and None) as the page is written, never held whole."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: Callable[[], Iterator[list[list[Any]]]]) -> None:
        self.chunks = chunks


class _Chunks(list[Any]):
    """One JSON list held as several parts (``array`` columns or lists of JSON values), so
    that a column of a million numbers is neither copied into one nor held as objects."""


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode
"""``json.dumps`` with these options, without making an encoder per call (one per text)."""


def _json_parts(value: Any) -> Iterator[str]:
    """``value`` as compact ASCII JSON, in pieces; a column of ints (a list, an ``array``
    or :class:`_Chunks` of them) is joined as text a chunk at a time: the encoder would
    first hold one string object per number of the whole page. Strings come out inert
    inside a ``<script>`` element (``<``, ``>`` and ``&`` escaped)."""
    if type(value) is array or (type(value) is list and all(type(x) is int for x in value)):
        value = _Chunks([value])
    if type(value) is _Chunks:
        yield "["
        sep = ""
        for part in value:
            for text in _column_texts(part):
                yield sep + text
                sep = ","
        yield "]"
    elif type(value) is _Rows:
        yield "["
        sep = ""
        for chunk in value.chunks():
            if chunk:
                yield sep + _ENCODE(chunk)[1:-1]
                sep = ","
        yield "]"
    elif type(value) is dict:
        yield "{"
        for n, (key, item) in enumerate(value.items()):
            yield ("," if n else "") + _inert(json.dumps(str(key))) + ":"
            yield from _json_parts(item)
        yield "}"
    else:
        yield _inert(_ENCODE(value))


def _column_texts(part: Sequence[Any]) -> Iterator[str]:
    """The items of one part of a :class:`_Chunks`, comma-joined a chunk at a time."""
    plain = type(part) is array or all(type(x) is int for x in part)
    for start in range(0, len(part), _CHUNK):
        items = part[start : start + _CHUNK]
        yield ",".join(map(str, items) if plain else (_script_json(x) for x in items))


def _inert(text: str) -> str:
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _script_json(value: Any) -> str:
    """JSON that is inert inside a ``<script>`` element, whatever strings it holds."""
    return "".join(_json_parts(value))


def _template() -> str:
    template = resources.files("netclock.tools").joinpath("viz_template.html")
    return template.read_text(encoding="utf-8")


def render_html(model: Model) -> str:
    """One self-contained HTML page (inline script and style, no network) drawing ``model``.

    Event texts are embedded as escaped JSON, so no text can close the script element.
    Write the result with ``encoding="utf-8"``.
    """
    return _page(_compact(model))


def render_run(path: str | Path) -> tuple[str, dict[str, int]]:
    """The page of a run folder or log file and its summary, without a dict per event.

    Same page as ``render_html(build_model(path))``; raises as :func:`build_model` does.
    """
    data = _run_data(path)
    return _page(data), data["summary"]


def write_run(path: str | Path, out: str | Path) -> dict[str, int]:
    """Write :func:`render_run`'s page to ``out`` as it is made, never holding it as one
    string (at a million events it is hundreds of MB); the run's summary. ``out`` appears
    whole or not at all: the page is written beside it and renamed."""
    data = _run_data(path)
    target = Path(out)
    partial = target.with_name(target.name + ".partial")
    try:
        with open(partial, "w", encoding="utf-8") as file:
            file.writelines(_page_parts(data))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    summary: dict[str, int] = data["summary"]
    return summary


def _run_data(path: str | Path) -> dict[str, Any]:
    """The page's data of a run: event logs in one pass as numbers
    (:mod:`netclock.tools.viz_data`), GoVector logs through the objects here."""
    from netclock.tools.viz_data import page_data  # it builds on this module

    kind, *_ = _sources(Path(path))
    if kind == "events.jsonl":
        return page_data(path)[0]
    return _page_data(_load(path))


def render_side_by_side(paths: Sequence[str | Path]) -> tuple[str, list[dict[str, int]]]:
    """One page showing two runs side by side, and each run's summary.

    Each run is its own viewer page (as :func:`render_run` makes it) in a frame of the
    same self-contained page; both charts span the longer run, so equal times since each
    run's start line up, and a time range brushed in one is brushed in the other.
    """
    if len(paths) != 2:
        raise ConfigError(f"give two runs to show side by side, not {len(paths)}")
    datas = [_run_data(path) for path in paths]
    span = max(data["span"] for data in datas)
    pages = []
    for data in datas:
        data["span"] = span
        pages.append(_page(data))
    names = [
        f"{data['title']} ({Path(path).name})" for data, path in zip(datas, paths, strict=True)
    ]
    summaries = [data["summary"] for data in datas]
    del datas
    # the viewer's own head (its Content-Security-Policy: one place), then the pair's
    head = _template().split("<style>", 1)[0]
    body = resources.files("netclock.tools").joinpath("viz_pair.html").read_text(encoding="utf-8")
    page = head.replace("__NETCLOCK_TITLE__", html.escape(" vs ".join(names) + " \u00b7 netclock"))
    page += body
    page = page.replace("__NETCLOCK_NAMES__", _script_json(names))
    return page.replace("__NETCLOCK_PAGES__", _script_json(pages)), summaries


def _page(data: dict[str, Any]) -> str:
    return "".join(_page_parts(data))


def _page_parts(data: dict[str, Any]) -> Iterator[str]:
    head, tail = _template().split("__NETCLOCK_DATA__", 1)
    yield head.replace("__NETCLOCK_TITLE__", html.escape(f"{data['title']} \u00b7 netclock"))
    yield from _json_parts(data)
    yield tail
