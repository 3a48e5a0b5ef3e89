"""The checker: a run's event log against the textbook properties of its links.

:func:`load_run` reads a run folder (``run.json`` and every ``*.events.jsonl``, through
:mod:`netclock.observe.eventlog`) or one events file; :func:`check_run` matches every
delivery to its send by message id and returns a :class:`Report`; :func:`format_report`
renders it for people and :meth:`Report.as_dict` for programs (``netclock check`` prints
one or the other).

How the log is read (choices where ``docs/eventlog.md`` leaves room):

- A node's events are grouped by incarnation (``inc``); incarnations are taken in
  increasing order, each in the order its lines appear (files sorted by name).
- Who crashed, and when, comes only from the run's fault record (``faults.jsonl``, read by
  :func:`~netclock.observe.eventlog.read_fault_record`), never from the logs: a node is
  *correct* iff it was never killed and no process of it exited unexpectedly. A run
  folder without a fault record (made by hand, or older) had no crash: every node is
  correct, and the report says so.
- Reliable delivery (PL1). A message is *owed* when both its sender and its receiver
  survive from its send on: neither crashed at or after the send's time, and neither was
  down after a crash at that time (see :meth:`FaultRecord.survives`). Between processes
  correct for the whole run every message is owed. An owed message that was neither
  delivered (to any incarnation of the receiver) nor handed back as ``failed`` is a
  violation, whatever caused it; one that is not owed is *lost to a crash*.
- A message is its id *and* its receiver: links number messages per peer, so the same
  ``[sender, incarnation, seq]`` names one message to each peer. A delivery matches the
  send of its id to the delivering node when its ``from`` is the id's sender; otherwise
  it is *created* (a message sent to another node counts as never sent to this one). A
  matching delivery whose ``msg_clock`` differs from the send's clock is created too,
  but it does deliver the message (it is not also counted lost).
- ``kill -9`` cuts the end off a node's log. A delivery of an id that its sender never
  logged is *unlogged*, not created, when the sender's incarnation's log has no ``stop``
  (it was cut off) and the sequence number lies beyond every send that incarnation
  logged to that receiver (the lost tail); so is a delivery from a node with no log at
  all when no ``run.json`` lists the run's nodes (one events file checked alone).
  Unlogged messages take part in the duplication, FIFO and causal checks.
  An unterminated, unparsable last line of a file is the same cut and is skipped.
- Duplication, FIFO and causal order look at each message's first delivery at a node;
  a later delivery of the same id is a duplicate and nothing else.
- ``failed`` and ``drop`` do not tick the clock; ``init`` sets the own entry to 1 (or,
  for a restart that keeps its clock, one more than the previous incarnation's last).
- A property is promised when every ``init`` of the run lists it. Clock sanity is
  promised by netclock's log format itself, whatever the link. Causal order is never
  promised: it is information only.
"""

from __future__ import annotations

import enum
import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netclock.cluster.node_count import natural_order, node_range
from netclock.errors import ConfigError
from netclock.links.base import PROMISES
from netclock.observe.eventlog import (
    EVENT_SUFFIX,
    FAULT_RECORD,
    Event,
    FaultRecord,
    Life,
    MessageLine,
    MsgId,
    RunInfo,
    event_files,
    iter_events,
    iter_records,
    message_event,
    read_fault_record,
    read_run_info,
)
from netclock.tools.check_byzantine import (
    Adversaries,
    false_claim_notes,
    forged_text,
    load_adversaries,
    refusal_notes,
    role_of,
)
from netclock.tools.check_stream import MAX_EXAMPLES, LinkEvents, Matched, Ranked, fmt

if TYPE_CHECKING:
    from netclock.tools.check_broadcast import BroadcastEvents

__all__ = [
    "Incarnation",
    "NodeSummary",
    "PROPERTY_NAMES",
    "PairCounts",
    "PropertyResult",
    "Report",
    "Run",
    "Status",
    "check_run",
    "crash_lines",
    "crash_text",
    "format_report",
    "gc_paused",
    "load_run",
    "promise_sentence",
]

PROPERTY_NAMES = (
    "no_creation",
    "no_duplication",
    "reliable_delivery",
    "fifo",
    "authenticity",
    "causal_order",
    "clock_sanity",
)
"""Every property the checker reports, in report order."""

LINK_PROMISABLE = frozenset({"fifo"}.union(*PROMISES.values()))
"""The property names an ``init`` event may promise: what links promise, and FIFO order."""

_LABELS = {
    "no_creation": "no creation",
    "no_duplication": "no duplication",
    "reliable_delivery": "reliable delivery",
    "fifo": "FIFO order",
    "authenticity": "authenticity",
}
_EXPECTED_WITHOUT = {
    "reliable_delivery": "losses",
    "no_duplication": "duplicates",
    "fifo": "out-of-order deliveries",
}


# -- the log ------------------------------------------------------------------------------------
KEPT_KINDS = frozenset({"init", "stop", "refused", "suspect", "restore", "leader", "violation"})
"""The kinds a run read from files keeps as events (the detector checks read them); the
link and broadcast events are kept as numbers only (:mod:`netclock.tools.check_stream`,
:mod:`netclock.tools.check_broadcast`)."""


@dataclass(frozen=True, slots=True)
class Incarnation:
    """One incarnation of one node: its events in log order.

    Made from events in memory, ``held`` is every event. Read from a run folder by
    :func:`load_run`, ``held`` is only the first and last event and those of
    :data:`KEPT_KINDS` (``count`` says how many there were); :attr:`events` then reads the
    incarnation's events again from ``files``.
    """

    node: str
    inc: int
    held: tuple[Event, ...]
    count: int | None = None
    t_min: float | None = None
    files: tuple[Path, ...] = ()

    @property
    def events(self) -> tuple[Event, ...]:
        """Every event of the incarnation, in log order (read again from its files when
        the run was read from a folder)."""
        if self.count is None:
            return self.held
        notes: list[str] = []
        return tuple(
            e
            for file in self.files
            for e in iter_events(file, notes)
            if e.node == self.node and e.inc == self.inc
        )

    @property
    def size(self) -> int:
        """How many events the incarnation logged."""
        return len(self.held) if self.count is None else self.count

    @property
    def first_t(self) -> float | None:
        """The earliest wall time of its events (None: none has one)."""
        if self.count is not None:
            return self.t_min
        return min((e.t for e in self.held if e.t is not None), default=None)

    @property
    def init(self) -> Event | None:
        """The ``init`` event, when the incarnation starts with one."""
        first = self.held[0] if self.held else None
        return first if first is not None and first.ev == "init" else None

    @property
    def complete(self) -> bool:
        """True when the log of this incarnation ends with ``stop`` (nothing was cut off)."""
        return bool(self.held) and self.held[-1].ev == "stop"


@dataclass(frozen=True, slots=True)
class Run:
    """A run as read from its folder: ``nodes`` maps each node to its incarnations.

    ``faults`` is the run's fault record, None when the folder has none (nobody crashed).
    ``adversaries`` holds what Byzantine and omission nodes recorded (None: one events file).
    ``links`` is what :func:`load_run` kept of the link events as it read them (None: the
    checker feeds them from ``nodes``).
    """

    source: Path
    name: str | None
    link: str | None
    seed: Any
    declared_nodes: tuple[str, ...]
    nodes: Mapping[str, tuple[Incarnation, ...]]
    notes: tuple[str, ...] = ()
    faults: FaultRecord | None = None
    adversaries: Adversaries | None = None
    links: LinkEvents | None = field(default=None, repr=False, compare=False)
    broadcasts: BroadcastEvents | None = field(default=None, repr=False, compare=False)

    @property
    def event_count(self) -> int:
        """How many events the run's logs hold."""
        return sum(i.size for incs in self.nodes.values() for i in incs)

    def correct(self, node: str) -> bool:
        """True when the fault record says ``node`` never crashed (no record: nobody did)."""
        return self.faults is None or self.faults.correct(node)

    def owed(self, sender: str, receiver: str, t: float | None) -> bool:
        """True when a message sent at wall time ``t`` must reach ``receiver`` (PL1).

        Both ends survive from ``t`` on (:meth:`FaultRecord.survives`); without a time,
        both must be correct for the whole run.
        """
        if self.faults is None:
            return True
        if t is None:
            return self.correct(sender) and self.correct(receiver)
        return self.faults.survives(sender, t) and self.faults.survives(receiver, t)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside the block (as it was, after it).

    Reading a run makes millions of objects and no cycles; with the collector on, each
    full collection walks every object read so far, which made reading a 200,000-event run
    a third slower.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def load_run(source: str | Path) -> Run:
    """Read a run folder (``run.json`` and ``faults.jsonl`` optional, every ``*.events.jsonl``)
    or one events file (checked without a fault record).

    Raises ConfigError naming ``file:line`` for a malformed line, and when the folder
    holds no event log. The caller passes the result to :func:`check_run`.
    """
    path = Path(source)
    info: RunInfo | None = None
    if path.is_dir():
        files = event_files(path)
        info = read_run_info(path)
        if not files:
            raise ConfigError(
                f"{path} holds no *{EVENT_SUFFIX} file; pass a run folder written with "
                "event logging on"
            )
    elif path.is_file():
        files = [path]
    else:
        raise ConfigError(f"{path} does not exist; pass a run folder or an events file")
    info = info or RunInfo()
    notes: list[str] = []
    record_path = path / FAULT_RECORD
    faults = read_fault_record(record_path, notes) if record_path.is_file() else None
    known: dict[str, None] = dict.fromkeys(info.nodes)
    for file in files:
        if file.name.endswith(EVENT_SUFFIX):
            known.setdefault(file.name[: -len(EVENT_SUFFIX)])
    with gc_paused():
        mark = len(notes)
        read: tuple[dict[str, tuple[Incarnation, ...]], LinkEvents | None] | None
        from netclock.tools.check_broadcast import BroadcastEvents  # it imports this module

        streamed = BroadcastEvents()
        broadcasts: BroadcastEvents | None = streamed
        read = _stream(files, notes, streamed)
        if read is None:
            del notes[mark:]
            read, broadcasts = _grouped(files, notes), None
    nodes, links = read
    for name in known:
        nodes.setdefault(name, ())
    nodes = dict(sorted(nodes.items()))
    return Run(
        source=path,
        name=info.name,
        link=info.link,
        seed=info.seed,
        declared_nodes=info.nodes,
        nodes=nodes,
        notes=tuple(notes),
        faults=faults,
        adversaries=load_adversaries(path) if path.is_dir() else None,
        links=links,
        broadcasts=broadcasts,
    )


class _Building:
    """The incarnation being read: what it keeps, how many events, the earliest time, and
    its last line (an event, or a message line whose event is made only if it stays last)."""

    __slots__ = ("count", "held", "inc", "last", "node", "t_min")

    def __init__(self, first: Event) -> None:
        assert first.inc is not None  # a strict read gives every event its incarnation
        self.node, self.inc = first.node, first.inc
        self.held = [first]
        self.last: Event | MessageLine = first
        self.count = 0
        self.t_min: float | None = None

    def done(self, files: tuple[Path, ...]) -> Incarnation:
        last = self.last
        if not isinstance(last, Event):
            last = message_event(last)
        if last is not self.held[-1]:
            self.held.append(last)
        return Incarnation(self.node, self.inc, tuple(self.held), self.count, self.t_min, files)


def _stream(
    files: list[Path], notes: list[str], broadcasts: BroadcastEvents
) -> tuple[dict[str, tuple[Incarnation, ...]], LinkEvents] | None:
    """One pass over ``files`` keeping only :data:`KEPT_KINDS` events and the link events'
    numbers; None when the files do not hold the incarnations one after another in the
    checker's order (node names, then incarnations, ascending), which :func:`_grouped`
    then reads."""
    links = LinkEvents()
    nodes: dict[str, list[Incarnation]] = {}
    files_of = tuple(files)
    current: _Building | None = None
    kept = KEPT_KINDS
    known_ids: set[str] = set()
    for file in files:
        for read in iter_records(file, notes, known_ids):
            if not isinstance(read, Event):  # a send or deliver: numbers, unless it comes first
                _, _, node, inc, _, _, _, _, _, t, _ = read
                if current is not None and node == current.node and inc == current.inc:
                    current.count += 1
                    current.last = read
                    if t is not None and (current.t_min is None or t < current.t_min):
                        current.t_min = t
                    links.feed_line(read)
                    continue
                e = message_event(read)
            else:
                e = read
            if current is None or e.node != current.node or e.inc != current.inc:
                if current is not None:
                    done = current.done(files_of)
                    nodes.setdefault(current.node, []).append(done)
                    links.end_incarnation(current.node, current.inc, done.held[-1])
                    broadcasts.end_incarnation(current.node, current.inc, done.held[-1])
                assert e.inc is not None
                if current is not None and (
                    e.inc <= current.inc
                    if e.node == current.node
                    else e.node < current.node or e.node in nodes
                ):
                    links.close()
                    return None
                current = _Building(e)
                links.start_incarnation(e.node, e.inc)
                broadcasts.start_incarnation(e.node, e.inc)
            elif e.ev in kept:
                current.held.append(e)
            current.count += 1
            current.last = e
            t = e.t
            if t is not None and (current.t_min is None or t < current.t_min):
                current.t_min = t
            links.feed(e)
            broadcasts.feed(e)
    if current is not None:
        done = current.done(files_of)
        nodes.setdefault(current.node, []).append(done)
        links.end_incarnation(current.node, current.inc, done.held[-1])
        broadcasts.end_incarnation(current.node, current.inc, done.held[-1])
    return {name: tuple(incs) for name, incs in nodes.items()}, links


def _grouped(
    files: list[Path], notes: list[str]
) -> tuple[dict[str, tuple[Incarnation, ...]], None]:
    """Every event in memory, grouped by node and incarnation (files whose incarnations
    are interleaved)."""
    grouped: dict[str, dict[int, list[Event]]] = {}
    for file in files:
        for event in iter_events(file, notes):
            inc = event.inc
            assert inc is not None  # a strict read gives every event its incarnation
            grouped.setdefault(event.node, {}).setdefault(inc, []).append(event)
    nodes = {
        name: tuple(Incarnation(name, inc, tuple(evs)) for inc, evs in sorted(incs.items()))
        for name, incs in grouped.items()
    }
    return nodes, None


def run_folders(source: str | Path) -> list[Path]:
    """The runs ``source`` holds: itself (a run folder or an events file), or, for a folder
    without event logs whose sub-folders have them (a run that compares links), each of
    those sub-folders, sorted by name."""
    path = Path(source)
    if path.is_dir() and not event_files(path):
        runs = sorted(sub for sub in path.iterdir() if sub.is_dir() and event_files(sub))
        if runs:
            return runs
    return [path]


# -- the report ----------------------------------------------------------------------------------
class Status(enum.Enum):
    """A property's outcome: the first two for promised properties, the rest information."""

    OK = "ok"
    VIOLATED = "VIOLATED"
    HOLDS = "holds"
    DOES_NOT_HOLD = "does not hold"
    NOT_CHECKED = "not checked"


@dataclass(frozen=True, slots=True)
class PairCounts:
    """Message counts from ``sender`` to ``receiver`` (both ``*`` for a link's total).

    ``lost_crashed`` is the part of ``lost`` that was not owed: lost to a crash of its
    sender or receiver (see the module docstring); ``failed`` messages were handed back;
    ``unlogged`` deliveries belong to sends cut off a crashed sender's log; ``dropped``
    counts ``drop`` events (messages refused at delivery, no id).
    """

    sender: str
    receiver: str
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    lost_crashed: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    failed: int = 0
    created: int = 0
    unlogged: int = 0
    dropped: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the counts."""
        return {name: getattr(self, name) for name in _COUNT_FIELDS} | {
            "sender": self.sender,
            "receiver": self.receiver,
        }


_COUNT_FIELDS = (
    "sent",
    "delivered",
    "lost",
    "lost_crashed",
    "duplicated",
    "out_of_order",
    "failed",
    "created",
    "unlogged",
    "dropped",
)


@dataclass(frozen=True, slots=True)
class PropertyResult:
    """One property: whether it is promised, its status, how many events break it."""

    name: str
    promised: bool
    status: Status
    count: int
    summary: str
    examples: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "promised": self.promised,
            "status": self.status.value,
            "count": self.count,
            "summary": self.summary,
            "examples": list(self.examples),
        }


@dataclass(frozen=True, slots=True)
class NodeSummary:
    """One node: its incarnations, its event count, whether it is correct (fault record).

    ``lives`` are its processes as the fault record has them (empty without a record).
    """

    node: str
    incarnations: tuple[int, ...]
    events: int
    correct: bool
    link: str | None
    lives: tuple[Life, ...] = ()
    role: str = ""
    """"Byzantine" or "omission" when the node's own record says it lied or omitted."""

    @property
    def crashes(self) -> tuple[Life, ...]:
        """The lives that ended in a crash."""
        return tuple(life for life in self.lives if life.crashed)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times in seconds since the run's start)."""
        return {
            "node": self.node,
            "incarnations": list(self.incarnations),
            "events": self.events,
            "correct": self.correct,
            "link": self.link,
            "crashed_at": [life.end_at for life in self.crashes],
            "restarted_at": [life.start_at for life in self.lives if life.restart],
            "role": self.role,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """The checker's verdict on a run; ``ok`` is False when a promised property is violated."""

    name: str | None
    source: str
    seed: Any
    links: Mapping[str, PairCounts]
    link_promises: Mapping[str, tuple[str, ...]]
    pairs: tuple[PairCounts, ...]
    nodes: tuple[NodeSummary, ...]
    properties: tuple[PropertyResult, ...]
    notes: tuple[str, ...] = ()
    fault_record: bool = False

    @property
    def ok(self) -> bool:
        """True when every promised property holds."""
        return not any(p.status is Status.VIOLATED for p in self.properties)

    @property
    def violated(self) -> tuple[str, ...]:
        """The names of the promised properties that do not hold."""
        return tuple(p.name for p in self.properties if p.status is Status.VIOLATED)

    def result(self, name: str) -> PropertyResult:
        """The result for property ``name`` (see ``PROPERTY_NAMES``)."""
        for result in self.properties:
            if result.name == name:
                return result
        raise KeyError(name)

    def pair(self, sender: str, receiver: str) -> PairCounts:
        """The counts from ``sender`` to ``receiver`` (all zero when they exchanged nothing)."""
        for counts in self.pairs:
            if counts.sender == sender and counts.receiver == receiver:
                return counts
        return PairCounts(sender, receiver)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole report (what ``--json`` prints)."""
        return {
            "name": self.name,
            "source": self.source,
            "seed": self.seed,
            "ok": self.ok,
            "violated": list(self.violated),
            "links": {
                kind: counts.as_dict() | {"promises": list(self.link_promises.get(kind, ()))}
                for kind, counts in self.links.items()
            },
            "pairs": [p.as_dict() for p in self.pairs],
            "nodes": [n.as_dict() for n in self.nodes],
            "properties": {p.name: p.as_dict() for p in self.properties},
            "notes": list(self.notes),
            "fault_record": self.fault_record,
        }


# -- the checks ----------------------------------------------------------------------------------
class _Tally(Counter[str]):
    """The counts of one pair (or link) while the checker runs, keyed by field name."""

    def freeze(self, sender: str, receiver: str) -> PairCounts:
        return PairCounts(sender, receiver, *(self[name] for name in _COUNT_FIELDS))


@dataclass(slots=True)
class _Finding:
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)


_fmt = fmt


def _links(run: Run) -> LinkEvents:
    """The run's link events as numbers: kept by :func:`load_run`, or fed from ``nodes``."""
    if run.links is not None:
        return run.links
    links = LinkEvents()
    for incs in run.nodes.values():
        for inc in incs:
            links.start_incarnation(inc.node, inc.inc)
            for e in inc.events:
                links.feed(e)
            links.end_incarnation(inc.node, inc.inc, inc.events[-1] if inc.events else None)
    return links


def clocks_restart(run: Run) -> bool:
    """True when some node's clock starts again at 1 in a later incarnation."""
    for incs in run.nodes.values():
        top = 0
        for inc in incs:
            if inc.held and inc.held[0].clock.get(inc.node, 0) <= top:
                return True
            if inc.held:
                top = inc.held[-1].clock.get(inc.node, 0)
    return False


def _match(run: Run, restart: bool) -> Matched:
    links = _links(run)
    adversaries = run.adversaries

    def forgery(mid: MsgId, receiver: str) -> object | None:
        return None if adversaries is None else adversaries.forgery(mid, receiver)

    def told(mid: MsgId, receiver: str) -> bool:
        """A member's own message with a lying clock, as its record says: sent."""
        return adversaries is not None and adversaries.told(mid, receiver) is not None

    try:
        return links.match(
            nodes=frozenset(run.nodes),
            declared=bool(run.declared_nodes),
            forgery=forgery,
            told=told,
            forged_text=forged_text,  # type: ignore[arg-type]
            owed=run.owed,
            causal=not restart,
        )
    finally:
        if run.links is None:
            links.close()


def _finding(found: Ranked) -> _Finding:
    return _Finding(found.count, found.examples)


def _promises(run: Run, notes: list[str]) -> tuple[frozenset[str], dict[str, tuple[str, ...]]]:
    """The properties every init promises, and each link kind's promises (as its inits say)."""
    inits = [inc.init for incs in run.nodes.values() for inc in incs if inc.init is not None]
    if not inits:
        notes.append("no init event in the logs: nothing is promised")
        return frozenset(), {}
    sets = [frozenset(e.promises) & LINK_PROMISABLE for e in inits]
    common = frozenset.intersection(*sets)
    some = frozenset.union(*sets)
    if some != common:
        notes.append(
            "nodes disagree on promises: "
            + ", ".join(sorted(some - common))
            + " promised by some nodes only, so reported as information"
        )
    unknown = {p for e in inits for p in e.promises} - LINK_PROMISABLE
    if unknown:
        notes.append(f"unknown promises ignored: {', '.join(sorted(unknown))}")
    per_link: dict[str, tuple[str, ...]] = {}
    for e in inits:
        assert e.link is not None
        mine = frozenset(e.promises) & LINK_PROMISABLE
        before = per_link.get(e.link)
        kept = mine if before is None else mine & frozenset(before)
        per_link[e.link] = tuple(p for p in PROPERTY_NAMES if p in kept)
    return common, per_link


def _link_of(run: Run) -> dict[str, str]:
    """Each node's link kind (its first init), defaulting to run.json's link."""
    kinds: dict[str, str] = {}
    for node, incs in run.nodes.items():
        for inc in incs:
            if inc.init is not None and inc.init.link is not None:
                kinds[node] = inc.init.link
                break
    return kinds


def _result(
    name: str, promised: bool, finding: _Finding, ok_text: str, bad_text: tuple[str, str]
) -> PropertyResult:
    """``bad_text`` is the (singular, plural) phrase that follows the count."""
    if finding.count:
        status = Status.VIOLATED if promised else Status.DOES_NOT_HOLD
        summary = f"{finding.count} {bad_text[0] if finding.count == 1 else bad_text[1]}"
    else:
        status = Status.OK if promised else Status.HOLDS
        summary = ok_text
    return PropertyResult(name, promised, status, finding.count, summary, tuple(finding.examples))


def check_run(run: Run) -> Report:
    """Check ``run`` against its links' promises; the report's ``ok`` is the verdict.

    Runs in time linear in the number of events (up to a log factor for causal order).
    """
    with gc_paused():
        return _check(run)


def _check(run: Run) -> Report:
    restart = clocks_restart(run)
    c = _match(run, restart)
    notes = list(run.notes)
    promised, per_link = _promises(run, notes)

    excused = sum(t.get("lost_crashed", 0) for t in c.tallies.values())
    lost_text = "every message owed was delivered or handed back"
    if excused:
        lost_text += f" ({excused} lost to a crash of its sender or receiver, not a violation)"
    properties = [
        _result(
            "no_creation",
            "no_creation" in promised,
            _finding(c.created),
            "every delivery matches a send",
            ("delivery matches no send", "deliveries match no send"),
        ),
        _result(
            "no_duplication",
            "no_duplication" in promised,
            _finding(c.duplicated),
            "no message delivered twice",
            ("extra delivery of a message", "extra deliveries of a message"),
        ),
        _result(
            "reliable_delivery",
            "reliable_delivery" in promised,
            _finding(c.lost),
            lost_text,
            (
                "message owed never delivered nor handed back",
                "messages owed never delivered nor handed back",
            ),
        ),
        _result(
            "fifo",
            "fifo" in promised,
            _finding(c.fifo),
            "each sender's messages delivered in send order",
            (
                "delivery behind a later message of the same sender",
                "deliveries behind a later message of the same sender",
            ),
        ),
        _result(
            "authenticity",
            "authenticity" in promised,
            _finding(c.forged),
            "every delivery matches a send of the sender it names (id and clock)",
            (
                "delivery claims a sender that did not send it",
                "deliveries claim a sender that did not send them",
            ),
        ),
    ]
    if restart:
        properties.append(
            PropertyResult(
                "causal_order",
                False,
                Status.NOT_CHECKED,
                0,
                "a restarted node's clock starts again at 1, so clock entries are ambiguous",
            )
        )
    else:
        properties.append(
            _result(
                "causal_order",
                False,
                _finding(c.causal),
                "no delivery overtook a causally earlier message",
                (
                    "delivery overtook a causally earlier message to the same node",
                    "deliveries overtook a causally earlier message to the same node",
                ),
            )
        )
    properties.append(
        _result(
            "clock_sanity",
            True,
            _finding(c.sanity),
            "own entry +1 per send, deliver and local event",
            ("event breaks the clock rules", "events break the clock rules"),
        )
    )
    from netclock.tools.check_detectors import detector_properties  # it builds on this module

    properties.extend(detector_properties(run))

    from netclock.tools.check_broadcast import broadcast_properties  # it imports this module

    properties += broadcast_properties(run, notes=notes, events=run.broadcasts)
    kinds = _link_of(run)
    default_kind = run.link or "?"
    links: dict[str, _Tally] = {}
    for (sender, receiver), t in c.tallies.items():
        kind = kinds.get(sender) or kinds.get(receiver) or default_kind
        links.setdefault(kind, _Tally()).update(t)
    if not links and run.link:
        links[run.link] = _Tally()
    nodes = tuple(
        NodeSummary(
            node,
            tuple(i.inc for i in incs),
            sum(i.size for i in incs),
            run.correct(node),
            kinds.get(node),
            () if run.faults is None else run.faults.lives.get(node, ()),
            role_of(run.adversaries, node),
        )
        for node, incs in run.nodes.items()
    )
    if run.adversaries is not None:
        notes.extend(run.adversaries.notes())
    held = (e for incs in run.nodes.values() for i in incs for e in i.held)
    notes.extend(refusal_notes(held, LISTED_NODES))
    if run.adversaries is None or run.adversaries.forgeries:
        # deliveries are not kept as events: read again, in a run with recorded liars only
        events = (e for ns in run.nodes.values() for i in ns for e in i.events)
        notes.extend(false_claim_notes(events))
    for name in run.declared_nodes:
        if not run.nodes.get(name):
            notes.append(f"node {name} logged nothing")
    if run.faults is None:
        notes.append("no fault record: every node judged correct")
    elif run.faults.entries:
        stops = [f for f in run.faults.entries if f.do == "stop"]
        if not stops:
            notes.append(
                "the fault record has no stop: the launcher ended before the run did "
                "(killed?); what was in flight then counts as never delivered"
            )
        elif stops[-1].fields.get("reason") == "duration":
            notes.append(
                "the run was stopped by its duration: what was in flight then, or waiting "
                "for a program that no longer read its inbox, counts as never delivered"
            )
    if c.relived:
        notes.append(
            f"{c.relived} message(s) delivered again to a later life of their receiver, "
            f"whose earlier life delivered them but died before its ack got back (the link "
            f"resends to the new life): not duplicates (e.g. {c.relived_first})"
        )
    return Report(
        name=run.name,
        source=str(run.source),
        seed=run.seed,
        links={k: t.freeze("*", "*") for k, t in sorted(links.items())},
        link_promises=per_link,
        pairs=tuple(_Tally(t).freeze(s, r) for (s, r), t in sorted(c.tallies.items())),
        nodes=nodes,
        properties=tuple(properties),
        notes=tuple(notes),
        fault_record=run.faults is not None,
    )


# -- presentation --------------------------------------------------------------------------------
def _join(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def promise_sentence(link: str, promises: Iterable[str]) -> str:
    """What ``link`` promises and what a reader should therefore expect to see.

    For example ``fairloss promises no creation only: losses, duplicates and
    out-of-order deliveries are expected``.
    """
    kept = [p for p in PROPERTY_NAMES if p in set(promises)]
    if not kept:
        return f"{link} promises nothing: every property below is information"
    missing = [_EXPECTED_WITHOUT[p] for p in _EXPECTED_WITHOUT if p not in kept]
    text = f"{link} promises {_join([_LABELS[p] for p in kept])}"
    if missing:
        text += f" only: {_join(missing)} are expected"
    return text


_COLUMNS = (
    ("sent", "sent"),
    ("delivered", "deliv"),
    ("lost", "lost"),
    ("lost_crashed", "(crash)"),
    ("duplicated", "dup"),
    ("out_of_order", "order"),
    ("failed", "failed"),
    ("created", "created"),
    ("unlogged", "unlogged"),
    ("dropped", "dropped"),
)
_OPTIONAL_COLUMNS = frozenset({"lost_crashed", "unlogged", "dropped"})


LISTED_NODES = 8
"""Up to this many nodes the report lists each one; beyond, the nodes with nothing to tell
(correct, one life, no role) are one summary and only the others are listed."""
LISTED_PAIRS = 24
"""Up to this many pairs the report lists each one; beyond, only the pairs with something
to note, the worst first (what breaks a promise of the link, then what no crash explains,
then the rest), at most this many; ``netclock check --pairs`` lists all."""


def _node_text(n: NodeSummary) -> str:
    incs = ",".join(str(i) for i in n.incarnations) or "-"
    state = "correct" if n.correct else "crashed"
    role = f", {n.role}" if n.role else ""
    return f"{n.node} (inc {incs}, {n.events} events, {state}{role})"


def _unremarkable(n: NodeSummary) -> bool:
    return n.correct and len(n.incarnations) == 1 and not n.role


def _nodes_line(nodes: Sequence[NodeSummary]) -> str:
    """The report's ``nodes:`` line: every node, or past :data:`LISTED_NODES` a summary of
    the unremarkable ones and the others in full."""
    if len(nodes) <= LISTED_NODES:
        return "nodes: " + ", ".join(_node_text(n) for n in nodes)
    plain = [n for n in nodes if _unremarkable(n)]
    parts = [_node_text(n) for n in nodes if not _unremarkable(n)]
    if plain:
        low, high = min(n.events for n in plain), max(n.events for n in plain)
        events = f"{low} events" if low == high else f"{low}-{high} events"
        parts.insert(0, f"{len(plain)} correct with one life each ({events})")
    return f"nodes: {len(nodes)} ({node_range([n.node for n in nodes])}): " + ", ".join(parts)


def _trouble(p: PairCounts, promises: frozenset[str], crashed: frozenset[str]) -> tuple[int, ...]:
    """How much a pair has to note, most telling first: what breaks a promise of the link,
    then what else no crash explains, then what a crash does (all 0: nothing)."""
    lost = p.lost - p.lost_crashed
    broken = p.created
    broken += p.duplicated if "no_duplication" in promises else 0
    broken += lost if "reliable_delivery" in promises else 0
    broken += p.out_of_order if "fifo" in promises else 0
    ended = p.sender in crashed or p.receiver in crashed
    other = lost + p.duplicated + p.out_of_order + p.unlogged + p.dropped + p.created
    other += 0 if ended else p.failed
    explained = p.lost_crashed + (p.failed if ended else 0) + (p.sent != p.delivered)
    return broken, other, explained


def _listed_pairs(report: Report, every: bool) -> tuple[list[PairCounts], str]:
    """The pairs the report lists and the line that says what it left out ('' for none)."""
    pairs = report.pairs
    if every or len(pairs) <= LISTED_PAIRS:
        return sorted(pairs, key=lambda p: (natural_order(p.sender), natural_order(p.receiver))), ""
    promises = frozenset(name for kinds in report.link_promises.values() for name in kinds)
    crashed = frozenset(n.node for n in report.nodes if not n.correct)
    ranked = sorted(
        ((_trouble(p, promises, crashed), p) for p in pairs),
        key=lambda tp: (
            tuple(-x for x in tp[0]),
            natural_order(tp[1].sender),
            natural_order(tp[1].receiver),
        ),
    )
    noted = [p for trouble, p in ranked if any(trouble)]
    if not noted:
        return [], (
            f"  {len(pairs)} pairs, each delivered all it sent, nothing else to note "
            "(netclock check --pairs lists them)"
        )
    listed = noted[:LISTED_PAIRS]
    quiet = len(pairs) - len(noted)
    left = [f"{quiet} delivered all they sent, nothing else to note"] if quiet else []
    if len(noted) > len(listed):
        left.append(f"{len(noted) - len(listed)} with something to note, none more than the last")
    return listed, (
        f"  {len(pairs) - len(listed)} more pairs: {'; '.join(left)} "
        "(netclock check --pairs lists every pair)"
    )


def crash_text(life: Life) -> str:
    """What ended a crashed life, and when: ``killed at 2.00 s``."""
    if life.ended_by == "kill":
        text = f"killed at {life.end_at:.2f} s"
    else:
        text = f"exited unexpectedly at {life.end_at:.2f} s"
        detail = [] if life.code is None else [f"code {life.code}"]
        detail += [] if life.error is None else [life.error]
        if detail:
            text += f" ({': '.join(detail)})"
    return text


def crash_lines(nodes: Iterable[NodeSummary]) -> list[str]:
    """One line per node the fault record shows crashed: each crash and restart, in order."""
    out = []
    for n in nodes:
        if n.correct:
            continue
        parts = []
        for life in n.lives:
            if life.restart:
                inc = "" if life.incarnation is None else f" (inc {life.incarnation})"
                parts.append(f"restarted at {life.start_at:.2f} s{inc}")
            if life.crashed:
                parts.append(crash_text(life))
        out.append(f"crashed: {n.node} " + ", ".join(parts))
    return out


def format_report(report: Report, *, ascii_only: bool = False, every_pair: bool = False) -> str:
    """The report as compact text: counts per link and pair, one line per property, verdict.

    ``ascii_only`` writes ``ok``/``XX``/``(info)`` instead of check marks, for terminals
    that cannot print them. Past :data:`LISTED_NODES` nodes those with nothing to tell
    are one summary; past :data:`LISTED_PAIRS` pairs only those with something to note are
    listed, unless ``every_pair``.
    """
    good, bad = ("ok", "XX") if ascii_only else ("\u2713", "\u2717")
    out: list[str] = []
    title = report.name or report.source
    out.append(
        f"netclock check: {title}" + (f" (seed {report.seed})" if report.seed is not None else "")
    )
    if report.nodes:
        out.append(_nodes_line(report.nodes))
        out.extend(crash_lines(report.nodes))
    for kind in report.links:
        sentence = promise_sentence(kind, report.link_promises.get(kind, ()))
        out.append(sentence + "; causal order is information only")
    rows = [(f"link {kind}", counts) for kind, counts in report.links.items()]
    pairs, left_out = _listed_pairs(report, every_pair)
    rows += [(f"  {p.sender} -> {p.receiver}", p) for p in pairs]
    columns = [
        (name, head)
        for name, head in _COLUMNS
        if name not in _OPTIONAL_COLUMNS or any(getattr(c, name) for _, c in rows)
    ]
    label_width = max([len(label) for label, _ in rows] + [4])
    widths = [
        max(len(head), *(len(str(getattr(c, name))) for _, c in rows)) if rows else len(head)
        for name, head in columns
    ]
    out.append(
        " " * label_width
        + "".join(f"  {head:>{w}}" for (_, head), w in zip(columns, widths, strict=True))
    )
    for label, counts in rows:
        out.append(
            f"{label:<{label_width}}"
            + "".join(
                f"  {getattr(counts, name):>{w}}"
                for (name, _), w in zip(columns, widths, strict=True)
            )
        )
    if left_out:
        out.append(left_out)
    name_width = max(len(p.name) for p in report.properties)
    for p in report.properties:
        mark = (good if p.status is Status.OK else bad) if p.promised else "(info)"
        line = f"{mark:<6} {p.name:<{name_width}}  "
        if p.promised:
            line += p.summary
        else:
            line += f"{p.status.value}: {p.summary}"
        if p.examples:
            line += f" (e.g. {p.examples[0]})"
        out.append(line)
    out.extend(f"note: {note}" for note in report.notes)
    if report.ok:
        out.append("verdict: OK, every promised property holds")
    else:
        out.append(f"verdict: VIOLATED: {', '.join(report.violated)}")
    return "\n".join(out)
