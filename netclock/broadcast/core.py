"""The crash-model broadcast cores: best-effort, eager reliable, uniform, FIFO and causal.

Each core is sans-IO (h11/aioquic): the adapter hands it the broadcasts of its own process
(:meth:`broadcast`) and the broadcast messages its link delivered (:meth:`receive`, with the
authenticated link-level sender and ``now``); each call returns a :class:`Step`, the messages
to send (``(peer, message)``, the origin's clock and id unchanged) and the broadcasts to
deliver to the application, in order, with the time each first arrived. A core keeps only
what is outstanding (:meth:`outstanding`): the ids above each origin's contiguous delivered
prefix, what waits for acks or for its dependencies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from netclock.broadcast.frame import BMessage, BroadcastKey, Deps, Kind

Life = tuple[str, int]
"""An origin's life: ``(origin, incarnation)``."""


class Step(NamedTuple):
    """What one input produced: messages to send and broadcasts to deliver (with their
    first arrival time), in delivery order."""

    sends: list[tuple[str, BMessage]]
    delivers: list[tuple[BMessage, float]]


class Seen:
    """Which broadcast ids were taken, per origin life: a contiguous prefix and the ids above
    it (memory bounded by the gaps: ids above a missing one)."""

    __slots__ = ("_above", "_prefix")

    def __init__(self) -> None:
        self._prefix: dict[Life, int] = {}
        self._above: dict[Life, set[int]] = {}

    def __contains__(self, key: BroadcastKey) -> bool:
        life = (key[0], key[1])
        if key[2] <= self._prefix.get(life, 0):
            return True
        above = self._above.get(life)
        return above is not None and key[2] in above

    def add(self, key: BroadcastKey) -> bool:
        """Take ``key``; False when it was taken already."""
        life = (key[0], key[1])
        seq = key[2]
        prefix = self._prefix.get(life, 0)
        above = self._above.get(life)
        if seq <= prefix or (above is not None and seq in above):
            return False
        if seq == prefix + 1:
            prefix = seq
            if above:
                while prefix + 1 in above:
                    prefix += 1
                    above.discard(prefix)
                if not above:
                    del self._above[life]
            self._prefix[life] = prefix
        else:
            self._above.setdefault(life, set()).add(seq)
        return True

    def held(self) -> int:
        """How many ids are kept above the prefixes."""
        return sum(len(s) for s in self._above.values())


class BestEffortCore:
    """Best-effort broadcast (BEB1 validity, BEB2 no duplication, BEB3 no creation): the
    origin sends to every peer; a receiver delivers what the origin itself sent it, once."""

    kind = Kind.BEST_EFFORT

    def __init__(self, me: str, incarnation: int, peers: Iterable[str]) -> None:
        self.me = me
        self.incarnation = incarnation
        self.peers: tuple[str, ...] = ()
        self.n = 1
        self.set_peers(peers)
        self._seq = 0
        self._seen = Seen()
        self.refused = 0
        """Messages refused (a relay where none is expected, another kind): counted, dropped."""

    def set_peers(self, peers: Iterable[str]) -> None:
        """The group is this process and ``peers`` from now on (a node learns its peers)."""
        self.peers = tuple(sorted(set(peers) - {self.me}))
        self.n = len(self.peers) + 1

    def new(self, clock: Any, payload: Any) -> BMessage:
        """This process's next broadcast of this kind (its id taken, not yet sent)."""
        self._seq += 1
        return BMessage(self.kind, self.me, self.incarnation, self._seq, clock, payload)

    def broadcast(self, msg: BMessage, now: float) -> Step:
        """Send ``msg`` (from :meth:`new`) to every peer and deliver it here."""
        self._seen.add(msg.key)
        return Step([(p, msg) for p in self.peers], [(msg, now)])

    def receive(self, sender: str, msg: BMessage, now: float) -> Step:
        """A message the link delivered from ``sender``."""
        if sender != msg.origin or msg.kind is not self.kind or not self._seen.add(msg.key):
            self.refused += sender != msg.origin or msg.kind is not self.kind
            return Step([], [])
        return Step([], [(msg, now)])

    def outstanding(self) -> int:
        """How many things the core holds for messages not yet settled."""
        return self._seen.held()


class EagerReliableCore(BestEffortCore):
    """Eager reliable broadcast (RB1-RB4): every process relays a broadcast to every other on
    first receipt, then delivers it, so if one correct process delivers it, every correct
    one does, even when the origin crashed midway. Needs no failure detector."""

    kind = Kind.RELIABLE

    def receive(self, sender: str, msg: BMessage, now: float) -> Step:
        """A message the link delivered from ``sender`` (the origin or a relay)."""
        if msg.kind is not self.kind:
            self.refused += 1
            return Step([], [])
        if not self._seen.add(msg.key):
            return Step([], [])
        skip = (sender, msg.origin)
        return Step([(p, msg) for p in self.peers if p not in skip], [(msg, now)])


class UniformReliableCore(BestEffortCore):
    """Uniform reliable broadcast, majority-ack: every process relays a broadcast to every
    other on first receipt; a relay (or the origin's send) is an ack; a process delivers once
    more than half of all ``n`` processes have acked. If any process delivers, even one that
    then crashes, a majority holds the message, one of them correct, so every correct
    process delivers it (needs a correct majority)."""

    kind = Kind.UNIFORM

    def __init__(self, me: str, incarnation: int, peers: Iterable[str]) -> None:
        super().__init__(me, incarnation, peers)
        self._pending: dict[BroadcastKey, tuple[BMessage, set[str], float]] = {}

    def broadcast(self, msg: BMessage, now: float) -> Step:
        """Send ``msg`` to every peer; it is delivered here once a majority has relayed it."""
        self._pending[msg.key] = (msg, {self.me}, now)
        return Step([(p, msg) for p in self.peers], self._ready(msg.key))

    def receive(self, sender: str, msg: BMessage, now: float) -> Step:
        """A message from ``sender``: the origin's send or a relay, both count as acks."""
        if msg.kind is not self.kind or sender not in self.peers:
            self.refused += 1
            return Step([], [])
        key = msg.key
        if key in self._seen:
            return Step([], [])
        entry = self._pending.get(key)
        sends: list[tuple[str, BMessage]] = []
        if entry is None:
            entry = self._pending[key] = (msg, {self.me}, now)
            sends = [(p, msg) for p in self.peers]  # the sender too: its ack
        entry[1].add(sender)
        return Step(sends, self._ready(key))

    def _ready(self, key: BroadcastKey) -> list[tuple[BMessage, float]]:
        msg, acks, arrived = self._pending[key]
        if 2 * len(acks) <= self.n:
            return []
        del self._pending[key]
        self._seen.add(key)
        return [(msg, arrived)]

    def outstanding(self) -> int:
        """Ids held above the prefixes plus broadcasts waiting for a majority."""
        return self._seen.held() + len(self._pending)


class FifoCore(EagerReliableCore):
    """FIFO reliable broadcast: eager reliable broadcast, then each origin life's broadcasts
    delivered in ``seq`` order (a later one waits for the earlier ones)."""

    kind = Kind.FIFO

    def __init__(self, me: str, incarnation: int, peers: Iterable[str]) -> None:
        super().__init__(me, incarnation, peers)
        self._next: dict[Life, int] = {}
        self._held: dict[Life, dict[int, tuple[BMessage, float]]] = {}

    def broadcast(self, msg: BMessage, now: float) -> Step:
        """Send ``msg`` to every peer and deliver it here (its predecessors are delivered)."""
        step = super().broadcast(msg, now)
        return Step(step.sends, self._order(step.delivers))

    def receive(self, sender: str, msg: BMessage, now: float) -> Step:
        """A message from ``sender``: relayed on first receipt, delivered in order."""
        step = super().receive(sender, msg, now)
        return Step(step.sends, self._order(step.delivers)) if step.delivers else step

    def _order(self, delivers: list[tuple[BMessage, float]]) -> list[tuple[BMessage, float]]:
        out: list[tuple[BMessage, float]] = []
        for msg, arrived in delivers:
            life = (msg.origin, msg.incarnation)
            expected = self._next.get(life, 1)
            if msg.seq != expected:
                self._held.setdefault(life, {})[msg.seq] = (msg, arrived)
                continue
            out.append((msg, arrived))
            expected += 1
            held = self._held.get(life)
            while held and expected in held:
                out.append(held.pop(expected))
                expected += 1
            if held is not None and not held:
                del self._held[life]
            self._next[life] = expected
        return out

    def outstanding(self) -> int:
        """Ids held above the prefixes plus broadcasts waiting for an earlier one."""
        return self._seen.held() + sum(len(h) for h in self._held.values())


class CausalCore(EagerReliableCore):
    """Waiting causal broadcast (CRB) over eager reliable broadcast.

    Each broadcast carries its dependencies: the origin's count of delivered broadcasts per
    origin life (this core's own vector, not the GoVector clock, which ticks on every send
    and receive and would stall delivery), with its own entry set to the broadcasts it made
    before. A message waits in the causal buffer until every count it depends on has been
    delivered here; so if m1 happened before m2, no process delivers m2 before m1. The
    buffer never holds a message whose dependencies are all delivered.
    """

    kind = Kind.CAUSAL

    def __init__(self, me: str, incarnation: int, peers: Iterable[str]) -> None:
        super().__init__(me, incarnation, peers)
        self.delivered: dict[Life, int] = {}
        """How many broadcasts of each origin life were delivered here."""
        self._waiting: dict[Life, dict[int, tuple[BMessage, float]]] = {}
        self.waiting = 0
        """Messages in the causal buffer now."""
        self.peak = 0
        """The most messages the causal buffer ever held at once."""

    def new(self, clock: Any, payload: Any) -> BMessage:
        """The next broadcast, its dependencies the counts delivered here so far."""
        own = (self.me, self.incarnation)
        msg = super().new(clock, payload)
        deps: Deps = tuple(
            (origin, inc, count)
            for (origin, inc), count in sorted(self.delivered.items())
            if count and (origin, inc) != own
        )
        if msg.seq > 1:
            deps += ((self.me, self.incarnation, msg.seq - 1),)
        return msg._replace(extra=deps)

    def broadcast(self, msg: BMessage, now: float) -> Step:
        """Send ``msg`` to every peer and deliver it here (its dependencies are delivered)."""
        step = super().broadcast(msg, now)
        return Step(step.sends, self._release(step.delivers))

    def receive(self, sender: str, msg: BMessage, now: float) -> Step:
        """A message from ``sender``: relayed on first receipt, delivered once its
        dependencies are."""
        step = super().receive(sender, msg, now)
        return Step(step.sends, self._release(step.delivers)) if step.delivers else step

    def _deliverable(self, msg: BMessage) -> bool:
        delivered = self.delivered
        if delivered.get((msg.origin, msg.incarnation), 0) != msg.seq - 1:
            return False
        return all(delivered.get((o, i), 0) >= c for o, i, c in msg.extra)

    def _release(self, delivers: list[tuple[BMessage, float]]) -> list[tuple[BMessage, float]]:
        out: list[tuple[BMessage, float]] = []
        for msg, arrived in delivers:
            if not self._deliverable(msg):
                self._waiting.setdefault((msg.origin, msg.incarnation), {})[msg.seq] = (
                    msg,
                    arrived,
                )
                self.waiting += 1
                self.peak = max(self.peak, self.waiting)
                continue
            self._deliver(msg, arrived, out)
            progress = True
            while progress:  # each origin life's next message may now be free
                progress = False
                for life, held in list(self._waiting.items()):
                    head = held.get(self.delivered.get(life, 0) + 1)
                    if head is not None and self._deliverable(head[0]):
                        del held[head[0].seq]
                        if not held:
                            del self._waiting[life]
                        self.waiting -= 1
                        self._deliver(head[0], head[1], out)
                        progress = True
        return out

    def _deliver(self, msg: BMessage, arrived: float, out: list[tuple[BMessage, float]]) -> None:
        life = (msg.origin, msg.incarnation)
        self.delivered[life] = self.delivered.get(life, 0) + 1
        out.append((msg, arrived))

    def buffered(self) -> list[BMessage]:
        """The messages in the causal buffer now (for tests and the viewer)."""
        return [m for held in self._waiting.values() for m, _ in held.values()]

    def is_deliverable(self, msg: BMessage) -> bool:
        """True when every dependency of ``msg`` (and its origin's previous one) is delivered."""
        return self._deliverable(msg)

    def outstanding(self) -> int:
        """Ids held above the prefixes plus the causal buffer."""
        return self._seen.held() + self.waiting
