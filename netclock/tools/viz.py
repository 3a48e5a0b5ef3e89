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

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
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


@dataclass
class _Raw:
    """An event as read, before ranking."""

    process: str
    kind: str
    clock: dict[str, int]
    text: str
    time: float | None = None
    inc: int | None = None
    msg_id: str | None = None
    peer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


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


def _read_jsonl(path: Path, notes: list[str]) -> list[_Raw]:
    out: list[_Raw] = []
    for e in read_events(path, notes, strict=False):
        msg_id = _id_text(e)
        out.append(
            _Raw(
                process=e.node,
                kind=e.ev,
                clock=dict(e.clock),
                text=_short(_event_text(e, msg_id)),
                time=e.t,
                inc=e.inc,
                msg_id=msg_id,
                peer=e.peer,
                extra=({} if e.msg_clock is None else {"msg_clock": dict(e.msg_clock)})
                | ({} if e.bkind is None else {"bkind": e.bkind, "waited": e.waited})
                | ({} if e.host is None else {"host": e.host}),
            )
        )
    return out


def _read_govector(paths: Sequence[Path]) -> list[_Raw]:
    out: list[_Raw] = []
    for path in paths:
        for event in parse_log(path):
            first = event.clock[event.host] == 1 and _INIT_TEXT.search(event.event)
            out.append(
                _Raw(
                    process=event.host,
                    kind="init" if first else "local",
                    clock=event.clock.to_dict(),
                    text=_short(event.event),
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


def _crashes(record: FaultRecord, pid: str, mine: list[_Raw], first: int) -> list[VizCrash]:
    """The crashes of ``pid``, each after the last of its events logged before it."""
    out: list[VizCrash] = []
    for life in record.crashes(pid):
        end = life.end if life.end is not None else float("inf")
        before = [i for i, raw in enumerate(mine) if raw.time is not None and raw.time <= end]
        after = first + before[-1] if before else (first + len(mine) - 1 if mine else None)
        out.append(VizCrash(at=life.end_at, after=after, text=crash_text(life)))
    return out


def _suspicions(mine: list[_Raw], first: int) -> list[VizSuspicion]:
    """The suspicion intervals of one process line (``first``: its first event's index)."""
    out: list[VizSuspicion] = []
    open_: dict[str, VizSuspicion] = {}
    for i, raw in enumerate(mine, start=first):
        if raw.peer is None:
            continue
        if raw.kind == "suspect" and raw.peer not in open_:
            open_[raw.peer] = VizSuspicion(peer=raw.peer, start=i, end=None)
            out.append(open_[raw.peer])
        elif raw.kind == "restore" and raw.peer in open_:
            open_.pop(raw.peer)["end"] = i
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
        self.proc_of: list[int] = []
        self.first: list[int] = []
        for number, pid in enumerate(self.order):
            self.first.append(len(self.events))
            self.events.extend(by_process[pid])
            self.proc_of.extend([number] * len(by_process[pid]))
        self.first.append(len(self.events))
        self.edges: list[tuple[int, int]] = []

    def ranks(self) -> tuple[list[int], int]:
        """Longest-chain ranks; message edges that would close a cycle are ignored (counted)."""
        n = len(self.events)
        incoming = [0] * n
        out_edges: list[list[int]] = [[] for _ in range(n)]
        for send, deliver in self.edges:
            out_edges[send].append(deliver)
            incoming[deliver] += 1
        rank = [0] * n
        done = [False] * n
        nxt = list(self.first[:-1])
        ready = [
            p for p, start in enumerate(nxt) if start < self.first[p + 1] and not incoming[start]
        ]
        broken = 0
        finished = 0
        while finished < n:
            if not ready:
                # Only a corrupt log gets here: a delivery that precedes its own send.
                heads = [nxt[p] for p in range(len(self.order)) if nxt[p] < self.first[p + 1]]
                stuck = min(heads)
                broken += incoming[stuck]
                incoming[stuck] = 0
                ready.append(self.proc_of[stuck])
            p = ready.pop()
            i = nxt[p]
            done[i] = True
            finished += 1
            nxt[p] = i + 1
            # Program order first, then messages: a process is put on ``ready`` exactly
            # once per event, when its head has no pending edge left.
            if i + 1 < self.first[p + 1]:
                rank[i + 1] = max(rank[i + 1], rank[i] + 1)
                if not incoming[i + 1]:
                    ready.append(p)
            for j in out_edges[i]:
                if done[j]:
                    continue
                rank[j] = max(rank[j], rank[i] + 1)
                incoming[j] -= 1
                if not incoming[j] and nxt[self.proc_of[j]] == j:
                    ready.append(self.proc_of[j])
        return rank, broken


def _match_ids(graph: _Graph) -> tuple[list[VizMessage], list[int]]:
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
    messages: list[VizMessage] = _match_broadcasts(graph)
    for key, i in sends.items():
        raw = graph.events[i]
        deliveries = delivered.pop(key, [])
        for j in deliveries:
            graph.edges.append((i, j))
        messages.append(
            VizMessage(
                id=key[0],
                sender=raw.process,
                to=raw.peer,
                send=i,
                deliveries=deliveries,
                lost=not deliveries,
                failed=key in failed,
                failed_event=failed.get(key),
            )
        )
    unmatched = sorted(j for js in delivered.values() for j in js)
    return messages, unmatched


def _match_broadcasts(graph: _Graph) -> list[VizMessage]:
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
    messages: list[VizMessage] = []
    for key, i in sends.items():
        for j in delivered.pop(key, []):
            if j == i + 1 and graph.events[j].process == graph.events[i].process:
                continue  # the origin's own delivery, right after its broadcast
            graph.edges.append((i, j))
            messages.append(
                VizMessage(
                    id=f"{key[0]} ({key[1]})",
                    sender=graph.events[i].process,
                    to=graph.events[j].process,
                    send=i,
                    deliveries=[j],
                    lost=False,
                    failed=False,
                    failed_event=None,
                )
            )
    return messages


def _pick_sender(
    graph: _Graph, own: dict[tuple[str, int], int], host: str, prev: dict[str, int], i: int
) -> int | None:
    clock = graph.events[i].clock
    candidates = [
        own[(pid, count)]
        for pid, count in clock.items()
        if pid != host and count > prev.get(pid, 0) and (pid, count) in own
    ]
    if not candidates:
        return None

    def explains(c: int) -> bool:
        sent = graph.events[c].clock
        return all(
            max(prev.get(pid, 0), sent.get(pid, 0)) == count
            for pid, count in clock.items()
            if pid != host
        )

    def known_by_another(c: int) -> bool:
        pid = graph.events[c].process
        count = graph.events[c].clock.get(pid, 0)
        return any(d != c and graph.events[d].clock.get(pid, 0) >= count for d in candidates)

    for c in candidates:
        if explains(c):
            return c
    latest = [c for c in candidates if not known_by_another(c)]
    return (latest or candidates)[0]


def _match_clocks(graph: _Graph) -> list[VizMessage]:
    """Messages from a GoVector log, found by the receive rule (see the module docstring)."""
    own: dict[tuple[str, int], int] = {}
    for i, raw in enumerate(graph.events):
        own.setdefault((raw.process, raw.clock.get(raw.process, 0)), i)
    sent_by: dict[int, list[int]] = {}
    for p, host in enumerate(graph.order):
        prev: dict[str, int] = {}
        for i in range(graph.first[p], graph.first[p + 1]):
            sender = _pick_sender(graph, own, host, prev, i)
            if sender is not None:
                sent_by.setdefault(sender, []).append(i)
                graph.events[i].kind = "deliver"
                graph.events[i].peer = graph.events[sender].process
            prev = graph.events[i].clock
    hosts = set(graph.order)
    messages: list[VizMessage] = []
    for i, raw in enumerate(graph.events):
        deliveries = sent_by.get(i, [])
        if deliveries:
            raw.kind = "send"
            raw.peer = graph.events[deliveries[0]].process
        elif _SEND_TEXT.search(raw.text) and raw.kind == "local":
            raw.kind = "send"
            named = _TO_PEER.search(raw.text)
            raw.peer = named.group(1) if named and named.group(1) in hosts else None
        else:
            continue
        for j in deliveries:
            graph.edges.append((i, j))
        messages.append(
            VizMessage(
                id=None,
                sender=raw.process,
                to=raw.peer,
                send=i,
                deliveries=deliveries,
                lost=not deliveries,
                failed=False,
                failed_event=None,
            )
        )
    return messages


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


def build_model(path: str | Path) -> Model:
    """Read a run folder or a log file into the model that :func:`render_html` draws.

    Raises :class:`ConfigError` when ``path`` is missing or holds no events. Lines of a
    JSON-lines log that are not events as ``docs/eventlog.md`` defines them (a crash can
    cut the last one) are skipped and counted in ``summary["skipped"]``.
    """
    source = Path(path)
    kind, files, title, order = _sources(source)
    skipped: list[str] = []
    if kind == "events.jsonl":
        raws = [raw for f in files for raw in _read_jsonl(f, skipped)]
    else:
        raws = _read_govector(files)
        raws.sort(key=lambda raw: raw.clock.get(raw.process, 0))
    if not raws:
        raise ConfigError(f"{source} holds no events; is the run folder or log file right?")
    graph = _Graph(order, raws)
    unmatched: list[int] = []
    if kind == "events.jsonl":
        messages, unmatched = _match_ids(graph)
    else:
        messages = _match_clocks(graph)
    rank, broken = graph.ranks()
    record = _fault_record(source, skipped)
    adversaries = load_adversaries(source) if source.is_dir() else None
    events = [
        VizEvent(
            index=i,
            process=raw.process,
            kind=raw.kind,
            clock=raw.clock,
            text=raw.text,
            rank=rank[i],
            time=raw.time,
            inc=raw.inc,
            id=raw.msg_id,
            waited=raw.extra.get("waited"),
        )
        for i, raw in enumerate(graph.events)
    ]
    processes: list[VizProcess] = []
    for p, pid in enumerate(graph.order):
        mine = graph.events[graph.first[p] : graph.first[p + 1]]
        incs = sorted({raw.inc for raw in mine if raw.inc is not None})
        crashes = [] if record is None else _crashes(record, pid, mine, graph.first[p])
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
                suspicions=_suspicions(mine, graph.first[p]),
                host=next((e.extra["host"] for e in mine if "host" in e.extra), None),
            )
        )
    deliveries = sum(len(m["deliveries"]) for m in messages)
    summary = {
        "processes": len(processes),
        "events": len(events),
        "messages": len(messages),
        "delivered": sum(1 for m in messages if m["deliveries"]),
        "lost": sum(1 for m in messages if m["lost"]),
        "duplicates": deliveries - sum(1 for m in messages if m["deliveries"]),
        "failed": sum(1 for m in messages if m["failed"]),
        "dropped": sum(1 for e in events if e["kind"] == "drop"),
        "refused": sum(1 for e in events if e["kind"] == "refused"),
        "crashed": sum(1 for p in processes if p["crashed"]),
        "unmatched": len(unmatched),
        "inconsistent": broken,
        "skipped": len(skipped),
        "rows": max(rank) + 1,
    }
    return Model(
        version=1,
        title=title,
        source=kind,
        processes=processes,
        events=events,
        messages=messages,
        unmatched=unmatched,
        summary=summary,
    )


# -- rendering -------------------------------------------------------------------------------

_KIND_CODE = {kind: number for number, kind in enumerate(EVENT_KINDS)}


def _compact(model: Model) -> dict[str, Any]:
    """The model in the array form the page's script reads (smaller for big runs)."""
    pindex = {p["id"]: i for i, p in enumerate(model["processes"])}
    events = [
        [
            pindex[e["process"]],
            _KIND_CODE.get(e["kind"], _KIND_CODE["local"]),
            e["rank"],
            e["clock"],
            e["text"],
            e["time"],
            e["inc"],
            e["id"],
            e["waited"],
        ]
        for e in model["events"]
    ]
    messages = [
        [
            m["send"],
            m["deliveries"],
            -1 if m["to"] is None or m["to"] not in pindex else pindex[m["to"]],
            1 if m["failed"] else 0,
            -1 if m["failed_event"] is None else m["failed_event"],
            m["id"],
        ]
        for m in model["messages"]
    ]
    return {
        "title": model["title"],
        "source": model["source"],
        "kinds": list(EVENT_KINDS),
        "processes": model["processes"],
        "events": events,
        "messages": messages,
        "unmatched": model["unmatched"],
        "summary": model["summary"],
    }


def _script_json(value: Any) -> str:
    """JSON that is inert inside a ``<script>`` element, whatever strings it holds."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _template() -> str:
    template = resources.files("netclock.tools").joinpath("viz_template.html")
    return template.read_text(encoding="utf-8")


def render_html(model: Model) -> str:
    """One self-contained HTML page (inline script and style, no network) drawing ``model``.

    Event texts are embedded as escaped JSON, so no text can close the script element.
    Write the result with ``encoding="utf-8"``.
    """
    page = _template()
    page = page.replace("__NETCLOCK_TITLE__", html.escape(f"{model['title']} \u00b7 netclock"))
    return page.replace("__NETCLOCK_DATA__", _script_json(_compact(model)))
