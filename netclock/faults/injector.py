"""One node's faults: the one place that decides whether a datagram goes and a peer is cut off.

A :class:`FaultInjector` applies a :class:`~netclock.faults.plan.FaultPlan` to what one node
(``local_id``) sends, adds the partitions made live with :meth:`~FaultInjector.partition`
and :meth:`~FaultInjector.heal`, counts what happened per peer, and hands out random
generators seeded from the plan's seed. It is a sans-IO core: every time is given.

Every link holds one, and uses it like this:

- A **datagram link** (UDP) calls :meth:`~FaultInjector.decide` for every datagram it is about
  to send and sends one copy per entry of ``fate.delays`` after that many seconds (nothing
  when ``fate.drop``). For every datagram it receives while :attr:`~FaultInjector.live_cuts`
  is not empty it calls :meth:`~FaultInjector.admits` and drops what is refused.
- A **stream link** (TCP/TLS) keeps its connection to a peer down while
  :meth:`~FaultInjector.cut_until` is not None (a cut in either direction cuts a two-way
  connection), arms one timer at :meth:`~FaultInjector.next_change` to cut or reconnect,
  draws reconnect jitter from ``rng("reconnect", peer)`` and per-frame delays as
  ``delay_model(peer).sample(rng("delay", peer).random())``.
- While :attr:`~FaultInjector.quiet` is true nothing can happen, and a link may skip the
  injector altogether; read it again after :meth:`~FaultInjector.partition`,
  :meth:`~FaultInjector.heal` or a new :attr:`~FaultInjector.plan`.

Time. ``now`` and ``until`` are on the clock of ``epoch`` (the links use the wall clock,
``time.time()``, so that every node of a cluster cuts and heals on the same schedule); the
plan's times are seconds since ``epoch``. A link that arms event-loop timers converts.

Scheduled and live partitions. The plan's partitions cut their direction at the sender:
each node's :meth:`~FaultInjector.decide` drops what it would send into a cut, so a one-way
partition stays one way. A live partition is a command to this node: it cuts both
directions here (sends by :meth:`~FaultInjector.decide`, receipts by
:meth:`~FaultInjector.admits`) until :meth:`~FaultInjector.heal` or its ``until``.
:meth:`~FaultInjector.cut_until` and :meth:`~FaultInjector.next_change` see both kinds and
both directions, and merge overlapping or touching windows.

Replay. Fates depend only on the plan and the datagram's key (see
:mod:`netclock.faults.fate`); ``rng(purpose, peer)`` streams only on ``(seed, purpose,
local_id, peer)``. The same seed replays a run in any process.
"""

from __future__ import annotations

import dataclasses
import math
import random

from netclock.clock import check_pid
from netclock.errors import ClockError, UsageError
from netclock.faults import config
from netclock.faults.delay import DelayModel
from netclock.faults.fate import PARTITIONED, DirectionFates, Fate, seeded_random
from netclock.faults.omission import OMITTED, Omitter
from netclock.faults.plan import FaultPlan

__all__ = ["FaultInjector", "FaultStats"]

_QUIET = FaultPlan()


@dataclasses.dataclass
class FaultStats:
    """What the faults did to the datagrams one node sent to one peer.

    ``sent`` counts datagrams offered to the injector; ``dropped`` those lost at random;
    ``partitioned`` those cut by a partition (scheduled or live); ``omitted`` those this
    node's own send-omission fault withheld (:mod:`netclock.faults.omission`); ``duplicated``
    those sent twice; ``delayed`` copies given a positive delay; ``delivered`` copies handed to
    the socket (or scheduled for it). Always ``delivered == sent - dropped - partitioned -
    omitted + duplicated``.
    """

    sent: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    delivered: int = 0
    partitioned: int = 0
    omitted: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for stats reports and JSON)."""
        return dataclasses.asdict(self)


class FaultInjector:
    """Applies a :class:`FaultPlan` and live partitions to one node's traffic (see module).

    ``plan=None`` is a plan that does nothing (an injector that only takes live partitions
    costs a few empty dicts). ``epoch`` is the time, on the clock of every ``now`` given
    later, that the plan's partition times count from: give every node of a cluster the
    same epoch so their partitions start and heal together.
    """

    def __init__(self, plan: FaultPlan | None, local_id: str, epoch: float) -> None:
        self.local_id = config.node_id(local_id, "FaultInjector local_id")
        self.epoch = float(epoch)
        self.stats: dict[str, FaultStats] = {}
        """Counters per peer, created at the first datagram to it."""
        self.live_cuts: dict[str, float] = {}
        """Live partitions: peer -> when the cut ends, in seconds since the epoch
        (``math.inf`` until healed). Read it; change it with :meth:`partition` and
        :meth:`heal`. An entry may outlive its end until a query finds it over."""
        self._plan = _QUIET
        self._plan_quiet = True
        self._directions: dict[str, DirectionFates] = {}
        self._between: dict[str, tuple[tuple[float, float], ...]] = {}
        self._rngs: dict[tuple[str, str], random.Random] = {}
        self.omitter: Omitter | None = None
        """This node's omission faults (None: it has none)."""
        if plan is not None:
            self.plan = plan

    # -- the plan ----------------------------------------------------------------------------
    @property
    def plan(self) -> FaultPlan:
        """The plan in force. Assign a new one to change faults live; counters carry on,
        and so do the generators of :meth:`rng` unless the seed changes."""
        return self._plan

    @plan.setter
    def plan(self, plan: FaultPlan) -> None:
        if not isinstance(plan, FaultPlan):
            raise UsageError(f"a FaultInjector needs a FaultPlan, not {config.describe(plan)}")
        if plan.seed != self._plan.seed:
            self._rngs = {}
        self._plan = plan
        self._plan_quiet = plan.is_quiet
        self._directions = {}
        self._between = {}
        omission = plan.omission.get(self.local_id)
        self.omitter = (
            None
            if omission is None or omission.is_quiet
            else Omitter(plan.seed, self.local_id, omission)
        )

    @property
    def quiet(self) -> bool:
        """True when nothing can happen: the plan is quiet and no live partition is recorded."""
        return self._plan_quiet and not self.live_cuts

    # -- datagrams ---------------------------------------------------------------------------
    def decide(self, receiver: str, key: tuple[int | str, ...], attempt: int, now: float) -> Fate:
        """The fate of the datagram ``key`` (transmission ``attempt``) to ``receiver``, counted.

        A live partition with ``receiver`` drops it; otherwise the plan decides (see
        :meth:`FaultPlan.fate`). The caller must then send one copy per entry of
        ``fate.delays``, after that many seconds, and nothing when ``fate.drop``.
        """
        direction = self._directions.get(receiver)
        if direction is None:
            direction = self._direction(receiver)
        stats = self.stats.get(receiver)
        if stats is None:
            stats = self.stats[receiver] = FaultStats()
        t = now - self.epoch
        cuts = self.live_cuts
        if cuts and t < cuts.get(receiver, -math.inf):
            fate = PARTITIONED
        elif self.omitter is not None and self.omitter.omits_send(receiver):
            fate = OMITTED
        else:
            fate = direction.fate(key, attempt, t)
        stats.sent += 1
        delays = fate.delays
        if not delays:
            if fate is PARTITIONED:
                stats.partitioned += 1
            elif fate is OMITTED:
                stats.omitted += 1
            else:
                stats.dropped += 1
            return fate
        stats.delivered += len(delays)
        if len(delays) > 1:
            stats.duplicated += 1
        for delay in delays:
            if delay > 0.0:
                stats.delayed += 1
        return fate

    def admits(self, sender: str, now: float) -> bool:
        """False when a live partition cuts this node off from ``sender`` at ``now``.

        Scheduled partitions are enforced by the sender's :meth:`decide`, not here.
        """
        return self._live(sender, now - self.epoch) is None

    def omits_receive(self, sender: str) -> bool:
        """True when this node's receive-omission fault discards the datagram from ``sender``
        that just arrived (a datagram link asks for every datagram while not :attr:`quiet`)."""
        return self.omitter is not None and self.omitter.omits_receive(sender)

    # -- partitions --------------------------------------------------------------------------
    def partition(self, peer: str, until: float | None = None) -> None:
        """Cut this node off from ``peer`` in both directions from now until ``until``.

        ``until`` is on the epoch's clock; ``None`` lasts until :meth:`heal`. A cut already
        in force is never shortened: the cut lasts until the later of the two ends.
        """
        peer = self._peer(peer)
        if until is not None and math.isnan(until):
            raise UsageError("a live partition must end at a time or never, not at NaN")
        end = math.inf if until is None else until - self.epoch
        known = self.live_cuts.get(peer)
        self.live_cuts[peer] = end if known is None else max(known, end)

    def heal(self, peer: str) -> None:
        """End the live partition with ``peer`` now; the plan's partitions stay in force."""
        self.live_cuts.pop(peer, None)

    def cut_until(self, peer: str, now: float) -> float | None:
        """When this node and ``peer`` can reach each other again, or None if they can now.

        A cut in either direction counts, scheduled or live; touching and overlapping
        cuts merge, so the answer is when the whole cut in force ends (``math.inf``: not
        before a :meth:`heal`, or never). On the epoch's clock.
        """
        t = now - self.epoch
        windows = self._windows(peer, t)
        until: float | None = None
        for start, end in windows:
            if start <= t < end and (until is None or end > until):
                until = end
        if until is None:
            return None
        grown = True
        while grown and until != math.inf:
            grown = False
            for start, end in windows:
                if start <= until < end:
                    until, grown = end, True
        return self.epoch + until

    def next_change(self, peer: str, now: float) -> float | None:
        """The first time after ``now`` at which a cut between this node and ``peer``
        (either direction, scheduled or live) starts or ends; None when none will.

        A stream link arms a timer there and asks :meth:`cut_until` again. On the epoch's
        clock.
        """
        t = now - self.epoch
        later = [x for window in self._windows(peer, t) for x in window if t < x < math.inf]
        return self.epoch + min(later) if later else None

    # -- streams -----------------------------------------------------------------------------
    def delay_model(self, peer: str) -> DelayModel:
        """The delay model of the direction from this node to ``peer``."""
        direction = self._directions.get(peer)
        return (direction or self._direction(peer)).delay

    def rng(self, purpose: str, peer: str) -> random.Random:
        """The generator for ``purpose`` (such as ``"reconnect"`` or ``"delay"``) towards ``peer``.

        The same object on every call; its stream depends only on the plan's seed,
        ``purpose``, this node and ``peer`` (see :func:`~netclock.faults.fate.seeded_random`),
        so a run replays from its seed in any process. Use one purpose per use, so that one
        use drawing more numbers never shifts another's.
        """
        key = (purpose, peer)
        generator = self._rngs.get(key)
        if generator is None:
            generator = seeded_random(self._plan.seed, purpose, self.local_id, self._peer(peer))
            self._rngs[key] = generator
        return generator

    # -- counters ----------------------------------------------------------------------------
    def stats_dict(self) -> dict[str, dict[str, int]]:
        """Counters per receiver, as plain dicts."""
        return {receiver: stats.as_dict() for receiver, stats in self.stats.items()}

    def totals(self) -> FaultStats:
        """Counters summed over every receiver."""
        total = FaultStats()
        for stats in self.stats.values():
            for key, value in stats.as_dict().items():
                setattr(total, key, getattr(total, key) + value)
        return total

    # -- resolving ---------------------------------------------------------------------------
    def _peer(self, peer: str) -> str:
        try:
            return check_pid(peer)
        except ClockError as exc:
            raise UsageError(f"fault injector asked about a bad peer id: {exc}") from None

    def _direction(self, peer: str) -> DirectionFates:
        direction = self._directions[peer] = self._plan.direction(self.local_id, peer)
        return direction

    def _live(self, peer: str, t: float) -> float | None:
        """The end of the live cut with ``peer`` in force at ``t``; forgets one that is over."""
        end = self.live_cuts.get(peer)
        if end is not None and t >= end:
            del self.live_cuts[peer]
            return None
        return end

    def _windows(self, peer: str, t: float) -> tuple[tuple[float, float], ...]:
        """Every window cutting this node and ``peer`` apart, either way, live one included."""
        windows = self._between.get(peer)
        if windows is None:
            plan, me = self._plan, self.local_id
            windows = self._between[peer] = plan.windows(me, peer) + plan.windows(peer, me)
        live = self._live(peer, t)
        return windows if live is None else (*windows, (-math.inf, live))
