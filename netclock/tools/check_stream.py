"""What the checker keeps of a run's link events: one pass, a few numbers per message.

:class:`LinkEvents` is fed every event of a run once, node by node and incarnation by
incarnation (the order :mod:`netclock.tools.check` reads a run in), and keeps no
:class:`~netclock.observe.eventlog.Event`: each send is a few numbers in arrays indexed by
its sequence number (where it was logged, its wall time, a fingerprint of its clock), each
delivery a row of numbers, and the clocks that the causal check needs go to a spill that
moves to a temporary file once it is large. Clock sanity is judged as the events pass
(per node, only the previous event's clock is held). About 100 bytes stay per message
(a run of 1,000,000 events: tens of MB instead of the gigabyte the events would hold).

:meth:`LinkEvents.match` then plays the checker's rules over those numbers, in the same
order as over the events, so every count and every quoted example is the same.

A clock's fingerprint is ``hash(frozenset(clock.items()))``: a delivery whose clock's
fingerprint differs from its send's carries another clock; equal fingerprints are taken as
equal clocks (a collision of 64-bit hashes within one run is not a practical concern).
"""

from __future__ import annotations

import math
import tempfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress, groupby
from typing import IO

from netclock.observe.eventlog import TICKING, Clock, Event, MessageLine, MsgId

__all__ = ["LinkEvents", "Matched", "Ranked"]

MAX_EXAMPLES = 3
"""How many offending events each property quotes."""

_SPILL_ITEMS = 1 << 20
"""Numbers the clock spill holds in memory before it writes them to its temporary file."""
_SPARSE = 1 << 16
"""A sequence number this far beyond a link's highest goes to a dict, not the arrays."""


def fmt(mid: MsgId) -> str:
    """A message id as the checker prints it: ``sender:incarnation:seq``."""
    return f"{mid[0]}:{mid[1]}:{mid[2]}"


def clock_text(clock: Clock, only: Iterable[str] | None = None) -> str:
    """A clock as the checker prints it: ``{a:1, b:2}``, entries sorted; with ``only``,
    just those entries (absent ones as 0) and ``...`` for the rest."""
    if only is None:
        return "{" + ", ".join(f"{k}:{v}" for k, v in sorted(clock.items())) + "}"
    return "{" + ", ".join(f"{k}:{clock.get(k, 0)}" for k in only) + ", ...}"


MAX_CLOCK_TEXT = 16
"""Most entries a clock_sanity example prints of each clock; above it, only (up to this
many of) the entries where the two clocks differ, so one forged line of thousands of
entries stays one readable sentence."""


def clock_pair_text(expected: Clock, found: Clock) -> tuple[str, str]:
    """``expected`` and ``found`` as :func:`clock_text`, cut to where they differ when
    either has more than :data:`MAX_CLOCK_TEXT` entries."""
    if len(expected) <= MAX_CLOCK_TEXT and len(found) <= MAX_CLOCK_TEXT:
        return clock_text(expected), clock_text(found)
    keys = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
    return clock_text(expected, keys[:MAX_CLOCK_TEXT]), clock_text(found, keys[:MAX_CLOCK_TEXT])


@dataclass(slots=True)
class Ranked:
    """A count of offending events and the examples that come first in the checker's order.

    ``add`` takes a rank (smaller: earlier in the order the checker reads the run); the
    examples are the :data:`MAX_EXAMPLES` smallest-ranked texts, whatever order they were
    found in.
    """

    count: int = 0
    best: list[tuple[tuple[int, int], str]] = field(default_factory=list)

    def add(self, text: str, rank: tuple[int, int]) -> None:
        self.count += 1
        if len(self.best) < MAX_EXAMPLES:
            self.best.append((rank, text))
            self.best.sort()
        elif rank < self.best[-1][0]:
            self.best[-1] = (rank, text)
            self.best.sort()

    @property
    def examples(self) -> list[str]:
        return [text for _, text in self.best]


class _Where:
    """``file:line`` texts stored as one number: a prefix's index and the line."""

    def __init__(self) -> None:
        self.prefixes: list[str] = []
        self.index: dict[str, int] = {}
        self.odd: list[str] = []

    def pack(self, where: str) -> int:
        prefix, _, line = where.rpartition(":")
        if prefix and line.isdigit() and len(line) < 10:
            found = self.index.get(prefix)
            if found is None:
                found = self.index[prefix] = len(self.prefixes)
                self.prefixes.append(prefix)
            return (found << 32) | int(line)
        self.odd.append(where)
        return -len(self.odd)

    def line(self, name: str, number: int) -> int:
        """:meth:`pack` of ``name:number`` without making that text (once ``name`` is known)."""
        found = self.index.get(name)
        if found is None or number >= 10**9:
            return self.pack(f"{name}:{number}")
        return (found << 32) | number

    def text(self, packed: int) -> str:
        if packed < 0:
            return self.odd[-packed - 1]
        return f"{self.prefixes[packed >> 32]}:{packed & 0xFFFFFFFF}"


class _Sends:
    """The sends of one link ``(sender, incarnation, receiver)``, indexed by sequence number."""

    __slots__ = ("fingerprint", "marks", "order", "sparse", "t", "where")

    def __init__(self) -> None:
        self.marks = bytearray()
        self.fingerprint = array("q")
        self.t = array("d")
        self.where = array("q")
        self.order = array("q")
        self.sparse: dict[int, tuple[int, float, int, int]] = {}

    def get(self, seq: int) -> tuple[int, float, int, int] | None:
        """``(fingerprint, t, where, order)`` of send ``seq``, None when it was not logged."""
        if 0 <= seq < len(self.marks):
            if not self.marks[seq]:
                return None
            return self.fingerprint[seq], self.t[seq], self.where[seq], self.order[seq]
        return self.sparse.get(seq)

    def clock(self, seq: int) -> int | None:
        """The clock fingerprint of send ``seq``, None when it was not logged."""
        if 0 <= seq < len(self.marks):
            return self.fingerprint[seq] if self.marks[seq] else None
        found = self.sparse.get(seq)
        return None if found is None else found[0]

    def put(self, seq: int, fingerprint: int, t: float, where: int, order: int) -> None:
        if seq < 0 or seq > len(self.marks) + _SPARSE:
            self.sparse[seq] = (fingerprint, t, where, order)
            return
        grow = seq + 1 - len(self.marks)
        if grow > 0:
            self.marks.extend(bytes(grow))
            self.fingerprint.extend([0] * grow)
            self.t.extend([0.0] * grow)
            self.where.extend([0] * grow)
            self.order.extend([0] * grow)
        self.marks[seq] = 1
        self.fingerprint[seq] = fingerprint
        self.t[seq] = t
        self.where[seq] = where
        self.order[seq] = order

    def add(
        self, seq: int, fingerprint: int, t: float, where: int, order: int
    ) -> tuple[int, float, int, int] | None:
        """Keep send ``seq`` unless it was kept already; what was kept before, or None."""
        marks = self.marks
        if seq == len(marks):  # the next number: the common case
            marks.append(1)
            self.fingerprint.append(fingerprint)
            self.t.append(t)
            self.where.append(where)
            self.order.append(order)
            return None
        before = self.get(seq)
        if before is None:
            self.put(seq, fingerprint, t, where, order)
        return before

    def last(self) -> int:
        """The highest sequence number kept (-1 when none is above)."""
        return max(self.marks.rfind(1), max(self.sparse, default=-1))

    def missing(self, got: _Delivered) -> Iterator[tuple[int, tuple[int, float, int, int]]]:
        """``(seq, (fingerprint, t, where, order))`` of each send ``got`` has no delivery of."""
        incs, none = got.incs, got.NONE
        delivered = len(incs)
        for seq in compress(range(len(self.marks)), self.marks):
            if seq < delivered and incs[seq] != none:
                continue
            if seq >= delivered and got.get(seq) is not None:
                continue
            yield seq, (self.fingerprint[seq], self.t[seq], self.where[seq], self.order[seq])
        for seq, send in self.sparse.items():
            if got.get(seq) is None:
                yield seq, send


class _Delivered:
    """Which sequence numbers of one link were delivered, and by which incarnation of the
    receiver first: an array indexed by sequence number (a dict for far-off numbers)."""

    __slots__ = ("incs", "sparse")
    NONE = -(1 << 62)

    def __init__(self) -> None:
        self.incs = array("q")
        self.sparse: dict[int, int] = {}

    def get(self, seq: int) -> int | None:
        if 0 <= seq < len(self.incs):
            inc = self.incs[seq]
            return None if inc == self.NONE else inc
        return self.sparse.get(seq)

    def first(self, seq: int, inc: int) -> int | None:
        """Incarnation ``inc`` delivered ``seq``: the incarnation that delivered it before, or
        None (this is the first delivery, now kept)."""
        incs = self.incs
        if seq == len(incs):  # the next number: the common case
            incs.append(inc)
            return None
        before = self.get(seq)
        if before is None:
            self.put(seq, inc)
        return before

    def put(self, seq: int, inc: int) -> None:
        if seq < 0 or seq > len(self.incs) + _SPARSE:
            self.sparse[seq] = inc
            return
        grow = seq + 1 - len(self.incs)
        if grow > 0:
            self.incs.extend([self.NONE] * grow)
        self.incs[seq] = inc


class _Spill:
    """Records of numbers appended in order and read back in the same order; past
    :data:`_SPILL_ITEMS` numbers they go to an anonymous temporary file in blocks of whole
    records (each block preceded by its length). The checker's records are clocks: ``n``,
    the ``n`` node numbers, then the ``n`` values."""

    def __init__(self) -> None:
        self.buffer = array("Q")
        self.file: IO[bytes] | None = None

    def append(self, record: list[int]) -> None:
        """One record: its first number ``n`` says how many numbers follow (``2n``)."""
        self.buffer.extend(record)
        if len(self.buffer) >= _SPILL_ITEMS:
            if self.file is None:
                self.file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
            array("Q", [len(self.buffer)]).tofile(self.file)
            self.buffer.tofile(self.file)
            del self.buffer[:]

    def _blocks(self) -> Iterator[array[int]]:
        if self.file is not None:
            self.file.seek(0)
            while header := self.file.read(8):
                block = array("Q")
                block.frombytes(self.file.read(8 * array("Q", header)[0]))
                yield block
            self.file.seek(0, 2)
        yield self.buffer

    def records(self) -> Iterator[tuple[array[int], int]]:
        """Each record as ``(block, position)``: ``block[position]`` is its ``n``."""
        for block in self._blocks():
            position, size = 0, len(block)
            while position < size:
                yield block, position
                position += 1 + 2 * block[position]

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


@dataclass(slots=True)
class Matched:
    """What :meth:`LinkEvents.match` finds: counts per pair and the offending events."""

    tallies: dict[tuple[str, str], dict[str, int]]
    created: Ranked
    forged: Ranked
    duplicated: Ranked
    lost: Ranked
    fifo: Ranked
    causal: Ranked
    sanity: Ranked
    relived: int = 0
    relived_first: str = ""


_Origin = tuple[str, dict[str, int], tuple[str, int, str], _Sends | None, _Delivered]
"""A receiver's deliveries from one sender's incarnation: the sender, the pair's tally,
the link, its sends and what it delivered."""
Forgery = Callable[[MsgId, str], object | None]
"""The forgery the adversaries' record holds for ``(id, receiver)``, None when none."""
Owed = Callable[[str, str, float | None], bool]
"""Whether a message from sender to receiver sent at ``t`` had to arrive (PL1)."""


class _Ids(dict[str, int]):
    """Node names to numbers: a name met for the first time gets the next number."""

    __slots__ = ("names",)

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def __missing__(self, name: str) -> int:
        number = self[name] = len(self.names)
        self.names.append(name)
        return number


class LinkEvents:
    """The link events of one run, fed in the checker's order, kept as numbers.

    Feed every event with :meth:`feed` (incarnation by incarnation: call
    :meth:`start_incarnation` first), then call :meth:`match` (as often as needed: it
    changes nothing here) and finally :meth:`close` (it drops the temporary file).
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self.ids = _Ids(self.names)
        self.where = _Where()
        self.sends: dict[tuple[str, int, str], _Sends] = {}
        self.failed: dict[tuple[str, int, str], set[int]] = {}
        self.counts: dict[tuple[str, str], dict[str, int]] = {}
        self.complete: dict[tuple[str, int], bool] = {}
        self.sanity = Ranked()
        self.order = 0
        # one row per delivery, in feeding order
        self.d_node = array("q")
        self.d_inc = array("q")
        self.d_sender = array("q")
        self.d_sinc = array("Q")
        self.d_seq = array("Q")
        self.d_from = array("q")
        self.d_fingerprint = array("q")
        self.d_where = array("q")
        self.d_own = array("Q")
        self.clocks = _Spill()
        # clock sanity: the current incarnation's node, previous clock and the own entry
        # that the node's previous incarnation ended on
        self._node = ""
        self._prev: Clock | None = None
        self._last_own = 0

    def start_incarnation(self, node: str, inc: int) -> None:
        """The events fed next belong to incarnation ``inc`` of ``node`` (incarnations of
        one node in increasing order, one after the other)."""
        if node != self._node:
            self._node, self._last_own = node, 0
        elif self._prev is not None:
            self._last_own = self._prev.get(node, 0)
        self._prev = None
        self.complete[(node, inc)] = False

    def end_incarnation(self, node: str, inc: int, last: Event | None) -> None:
        """The incarnation fed last ends with ``last`` (complete when it is a ``stop``)."""
        self.complete[(node, inc)] = last is not None and last.ev == "stop"

    def feed(self, e: Event) -> None:
        """One event of the current incarnation, in log order."""
        order = self.order
        self.order = order + 1
        ev = e.ev
        if ev == "send":
            assert e.mid is not None
            assert e.peer is not None
            self._send(self.where.pack(e.where), e.node, e.clock, e.peer, e.mid, e.t, order)
        elif ev == "deliver":
            assert e.mid is not None
            assert e.msg_clock is not None
            assert e.peer is not None
            self._deliver(self.where.pack(e.where), e.node, e.inc, e.peer, e.mid, e.msg_clock)
        elif ev == "failed":
            assert e.mid is not None
            assert e.peer is not None
            mid = e.mid
            self.failed.setdefault((mid[0], mid[1], e.peer), set()).add(mid[2])
            self._count(e.node, e.peer, "failed")
        elif ev == "drop":
            assert e.peer is not None
            self._count(e.peer, e.node, "dropped")
        problem = self._clock_problem(ev, e.inc, e.clock, e.msg_clock)
        if problem is not None:
            self.sanity.add(f"{e.where}: {problem}", (1, order))
        self._prev = e.clock

    def feed_line(self, line: MessageLine) -> None:
        """:meth:`feed` of a send or deliver line as
        :func:`~netclock.observe.eventlog.iter_records` gives it, without its event."""
        name, number, node, inc, ev, clock, peer, mid, msg_clock, t, _ = line
        order = self.order
        self.order = order + 1
        if msg_clock is None:  # a send
            self._send(self.where.line(name, number), node, clock, peer, mid, t, order)
        else:
            self._deliver(self.where.line(name, number), node, inc, peer, mid, msg_clock)
        problem = self._clock_problem(ev, inc, clock, msg_clock)
        if problem is not None:
            self.sanity.add(f"{name}:{number}: {problem}", (1, order))
        self._prev = clock

    def _count(self, sender: str, receiver: str, what: str) -> None:
        pair = self.counts.get((sender, receiver))
        if pair is None:
            pair = self.counts[(sender, receiver)] = {}
        pair[what] = pair.get(what, 0) + 1

    def _send(
        self,
        where: int,
        node: str,
        clock: Clock,
        peer: str,
        mid: MsgId,
        t: float | None,
        order: int,
    ) -> None:
        link = (mid[0], mid[1], peer)
        sends = self.sends.get(link)
        if sends is None:
            sends = self.sends[link] = _Sends()
        fingerprint = hash(frozenset(clock.items()))
        before = sends.add(mid[2], fingerprint, math.nan if t is None else t, where, order)
        if before is not None:
            text = self.where.text
            self.sanity.add(
                f"{text(where)}: id {fmt(mid)} to {peer} was already sent at {text(before[2])}",
                (0, order),
            )
            return
        self._count(node, peer, "sent")

    def _deliver(
        self, where: int, node: str, inc: int | None, peer: str, mid: MsgId, clock: Clock
    ) -> None:
        ids = self.ids
        self.d_node.append(ids[node])
        self.d_inc.append(-1 if inc is None else inc)
        self.d_sender.append(ids[mid[0]])
        self.d_sinc.append(mid[1])
        self.d_seq.append(mid[2])
        self.d_from.append(ids[peer])
        self.d_fingerprint.append(hash(frozenset(clock.items())))
        self.d_where.append(where)
        self.d_own.append(clock.get(mid[0], 0))
        self.clocks.append([len(clock), *map(ids.__getitem__, clock), *clock.values()])

    def _clock_problem(
        self, ev: str, inc: int | None, clock: Clock, msg_clock: Clock | None
    ) -> str | None:
        """What breaks the clock rules in an event (None: nothing): each node's own entry is
        1 at init, +1 per send/deliver/local, unchanged otherwise."""
        node, prev = self._node, self._prev
        if prev is None:
            if ev != "init":
                return f"incarnation {inc} of {node} starts without init"
            own = clock.get(node, 0)
            if own not in (1, self._last_own + 1):
                return f"init sets {node}'s own entry to {own}, not 1"
            return None
        if ev == "init":
            return f"a second init in incarnation {inc} of {node}"
        if ev in TICKING:
            expected = {**prev}
            expected[node] = prev.get(node, 0) + 1
            if msg_clock is not None:
                for pid, value in msg_clock.items():
                    if pid != node and value > expected.get(pid, 0):
                        expected[pid] = value
            if clock == expected:
                return None
            what = "ticks" if msg_clock is None else "ticks and merges"
        else:
            if clock == prev:
                return None
            expected = dict(prev)
            what = "leaves the clock unchanged"
        should, has = clock_pair_text(expected, clock)
        return f"{ev} should give {should} ({ev} {what}), the log has {has}"

    # -- after the pass ----------------------------------------------------------------------
    def match(
        self,
        *,
        nodes: frozenset[str],
        declared: bool,
        forgery: Forgery,
        told: Callable[[MsgId, str], bool],
        forged_text: Callable[[str, MsgId, str, object], str],
        owed: Owed,
        causal: bool,
    ) -> Matched:
        """Match deliveries to sends, find losses and (when ``causal``) causal overtakes.

        ``nodes`` are the run's nodes and ``declared`` whether run.json listed them (a
        delivery from an unknown sender is then created, not cut off its log).
        """
        tallies = {pair: dict(counts) for pair, counts in self.counts.items()}
        m = Matched(tallies, Ranked(), Ranked(), Ranked(), Ranked(), Ranked(), Ranked(), Ranked())
        m.sanity.count = self.sanity.count
        m.sanity.best = list(self.sanity.best)
        firsts = bytearray(len(self.d_node))
        delivered = self._match_deliveries(m, firsts, nodes, declared, forgery, told, forged_text)
        self._find_losses(m, owed, delivered)
        if causal:
            self._check_causal(m, firsts)
        return m

    def _tally(self, m: Matched, sender: str, receiver: str) -> dict[str, int]:
        pair = m.tallies.get((sender, receiver))
        if pair is None:
            pair = m.tallies[(sender, receiver)] = {}
        return pair

    def _match_deliveries(
        self,
        m: Matched,
        firsts: bytearray,
        nodes: frozenset[str],
        declared: bool,
        forgery: Forgery,
        told: Callable[[MsgId, str], bool],
        forged_text: Callable[[str, MsgId, str, object], str],
    ) -> dict[tuple[str, int, str], _Delivered]:
        names, text, tallies = self.names, self.where.text, m.tallies
        delivered: dict[tuple[str, int, str], _Delivered] = {}
        high: dict[tuple[int, int], int] = {}
        # what the receiver's deliveries from each (sender, incarnation) need, met once
        origins: dict[tuple[int, int], _Origin] = {}
        receiver_id, receiver = -1, ""
        rows = zip(
            self.d_node, self.d_inc, self.d_sender, self.d_sinc, self.d_seq, self.d_from,
            self.d_fingerprint, self.d_where, strict=True,
        )  # fmt: skip
        for i, (node_id, inc, sender_id, sinc, seq, from_id, fingerprint, where) in enumerate(rows):
            if node_id != receiver_id:
                receiver_id, receiver, high, origins = node_id, names[node_id], {}, {}
            origin = (sender_id, sinc)
            cached = origins.get(origin)
            if cached is None:
                sender = names[sender_id]
                t = tallies.get((sender, receiver))
                if t is None:
                    t = tallies[(sender, receiver)] = {}
                link = (sender, sinc, receiver)
                got = delivered.get(link)
                if got is None:
                    got = delivered[link] = _Delivered()
                cached = origins[origin] = (sender, t, link, self.sends.get(link), got)
            sender, t, link, sends, got = cached
            sent = None if sends is None else sends.clock(seq)
            if sent is None or from_id != sender_id:
                peer, mid = names[from_id], (sender, sinc, seq)
                if sent is not None or peer != sender or not told(mid, receiver):
                    forged = forgery(mid, receiver)
                    cut = forged is None and not self.complete.get((sender, sinc), False)
                    beyond = seq > (-1 if sends is None else sends.last())
                    known = sender in nodes or not declared
                    if sent is not None or peer != sender or not (cut and beyond and known):
                        t["created"] = t.get("created", 0) + 1
                        why = "was never sent" if peer == sender else f"claims to come from {peer}"
                        found = f"{text(where)}: {fmt(mid)} {why} to {receiver}"
                        if forged is not None:
                            found = forged_text(text(where), mid, receiver, forged)
                        m.created.add(found, (0, i))
                        m.forged.add(found, (0, i))
                        continue
                    t["unlogged"] = t.get("unlogged", 0) + 1
            elif fingerprint != sent:
                t["created"] = t.get("created", 0) + 1
                m.created.add(
                    f"{text(where)}: {fmt((sender, sinc, seq))} carries a clock its send did "
                    "not have",
                    (0, i),
                )
            first_inc = got.first(seq, inc)
            if first_inc is not None:
                if inc != first_inc:
                    m.relived += 1
                    if m.relived == 1:
                        m.relived_first = f"{text(where)}: {fmt((sender, sinc, seq))}"
                    continue
                t["duplicated"] = t.get("duplicated", 0) + 1
                m.duplicated.add(
                    f"{text(where)}: {fmt((sender, sinc, seq))} delivered again", (0, i)
                )
                continue
            t["delivered"] = t.get("delivered", 0) + 1
            firsts[i] = 1
            top = high.get(origin, -1)
            if seq < top:
                t["out_of_order"] = t.get("out_of_order", 0) + 1
                m.fifo.add(
                    f"{text(where)}: {fmt((sender, sinc, seq))} delivered after seq {top} of the "
                    "same sender",
                    (0, i),
                )
            else:
                high[origin] = seq
        return delivered

    def _find_losses(
        self, m: Matched, owed: Owed, delivered: dict[tuple[str, int, str], _Delivered]
    ) -> None:
        text, nothing = self.where.text, _Delivered()
        for link, sends in self.sends.items():
            sender, sinc, receiver = link
            got = delivered.get(link, nothing)
            failed = self.failed.get(link, set())
            for seq, (_, t, where, order) in sends.missing(got):
                if seq in failed:
                    continue
                tally = self._tally(m, sender, receiver)
                tally["lost"] = tally.get("lost", 0) + 1
                if owed(sender, receiver, None if math.isnan(t) else t):
                    m.lost.add(
                        f"{text(where)}: {fmt((sender, sinc, seq))} to {receiver} was never "
                        "delivered",
                        (0, order),
                    )
                else:
                    tally["lost_crashed"] = tally.get("lost_crashed", 0) + 1

    def _check_causal(self, m: Matched, firsts: bytearray) -> None:
        """Deliveries that overtook a causally earlier message to the same receiver.

        The rule of :meth:`netclock.tools.check` (``_Checker.check_causal``): at receiver
        ``r``, ``m2``'s first delivery is too early iff some message ``m1`` from ``s1`` that
        ``r`` delivers later has ``k1 <= C2[s1]``. Per sender, the least ``(k, row)`` of what
        ``r`` has yet to deliver from it (a suffix minimum, worked out backwards first)
        answers it with one look-up per clock entry. The clocks are read back from the spill
        in delivery order, one receiver at a time.
        """
        names = self.names
        records = self.clocks.records()
        start = 0
        for receiver_id, receiving in groupby(self.d_node):
            end = start + len(list(receiving))
            flags = firsts[start:end]
            rows = list(compress(range(start, end), flags))
            senders = list(compress(self.d_sender[start:end], flags))
            owns = list(compress(self.d_own[start:end], flags))
            # after[index]: the least (k, row) of its sender's rows after it; pending: per
            # sender, the least (k, row) of its rows not yet delivered
            pending: dict[int, tuple[int, int]] = {}
            after: list[tuple[int, int] | None] = [None] * len(rows)
            for index in range(len(rows) - 1, -1, -1):
                sender, here = senders[index], (owns[index], index)
                later = after[index] = pending.get(sender)
                if later is None or here < later:
                    pending[sender] = here
            index = -1
            # not strict: the spill's records go on with the next receiver's
            rest = zip(range(start, end), flags, records, strict=False)
            for i, first, (block, position) in rest:
                if not first:
                    continue
                index += 1
                later = after[index]
                if later is None:
                    del pending[senders[index]]
                else:
                    pending[senders[index]] = later
                size = block[position]
                for j in range(position + 1, position + 1 + size):
                    low = pending.get(block[j])
                    if low is not None and low[0] <= block[j + size]:
                        e = rows[low[1]]
                        mid = (names[self.d_sender[i]], self.d_sinc[i], self.d_seq[i])
                        earlier = (names[self.d_sender[e]], self.d_sinc[e], self.d_seq[e])
                        m.causal.add(
                            f"{names[receiver_id]} delivered {fmt(mid)} before "
                            f"{fmt(earlier)}, whose send happened before it",
                            (0, i),
                        )
                        break
            start = end

    def close(self) -> None:
        """Drop the clock spill's temporary file (the object is done with)."""
        self.clocks.close()
