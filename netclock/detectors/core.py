"""The failure detectors as sans-IO cores: P, ◇P and Ω over heartbeats, with injected time.

Each core watches a fixed set of peers. It says when it next needs the time
(:meth:`HeartbeatDetector.get_timer`), is told what happened (:meth:`~HeartbeatDetector.
on_heartbeat`, :meth:`~HeartbeatDetector.handle_timer`), and hands back what to send
(:meth:`~HeartbeatDetector.heartbeats_to_send`: every peer once per ``period``) and what it
concluded (:meth:`~HeartbeatDetector.events`: :class:`Suspect`, :class:`Restore`,
:class:`Leader`, :class:`SynchronyViolated`). It imports no asyncio and opens no socket;
``now`` is any monotonic clock in seconds.

- :class:`PerfectDetector` (P, "exclude on timeout"): suspects a peer not heard from for
  ``timeout`` seconds and never takes it back. Strongly accurate only when every heartbeat
  arrives within ``timeout`` of the previous one: in the synchronous model with ``timeout
  >= period + delta + step``.
- :class:`EventuallyPerfectDetector` (◇P, "increasing timeout"): the same, but a heartbeat
  from a suspected peer restores it and multiplies that peer's timeout by ``grow``, so
  after GST it stops making mistakes.
- :class:`EventualLeaderDetector` (Ω): ◇P plus a :class:`Leader` event whenever the
  highest-ranked unsuspected process (the smallest id, this one included) changes.

Synchrony watch. Given ``bound`` (the model's Δ) the core reports a heartbeat whose
measured delay exceeded ``bound + step_bound`` (the network's bound plus this process's
step), and given ``step_bound`` a heartbeat timer that fired more than that late (the host
did not schedule this process): a :class:`SynchronyViolated` event for each new largest
delay from a peer or gap (``counters["violations"]`` counts them all), so a mistake of P
in such a run is blamed on the host, not on the algorithm.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from netclock.errors import ConfigError

__all__ = [
    "DetectorEvent",
    "EventualLeaderDetector",
    "EventuallyPerfectDetector",
    "HeartbeatDetector",
    "Leader",
    "PerfectDetector",
    "Restore",
    "Suspect",
    "SynchronyViolated",
]


@dataclass(frozen=True, slots=True)
class Suspect:
    """``peer`` is suspected from ``at`` on: nothing heard from it for ``timeout`` seconds."""

    peer: str
    at: float
    timeout: float


@dataclass(frozen=True, slots=True)
class Restore:
    """``peer`` was suspected wrongly (a heartbeat came); its timeout is now ``timeout``."""

    peer: str
    at: float
    timeout: float


@dataclass(frozen=True, slots=True)
class Leader:
    """Ω's leader is ``peer`` from ``at`` on (possibly this process itself)."""

    peer: str
    at: float


@dataclass(frozen=True, slots=True)
class SynchronyViolated:
    """The host broke the synchrony assumption at ``at``: ``what`` (``"delay"`` of a
    heartbeat from ``peer``, or ``"gap"``: this process was not scheduled) took ``seen``
    seconds where the model promised at most ``bound``."""

    at: float
    what: str
    seen: float
    bound: float
    peer: str | None = None


DetectorEvent = Suspect | Restore | Leader | SynchronyViolated


def _positive(value: float, name: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 1e9:
        raise ConfigError(f"detector {name} must be a positive number of seconds, not {value!r}")
    return float(value)


class HeartbeatDetector:
    """What P, ◇P and Ω share: heartbeats every ``period``, a timeout per peer.

    A peer never heard from gets ``grace`` seconds more than its timeout from ``now`` (its
    process may start later). Call :meth:`handle_timer` at :meth:`get_timer`, then
    :meth:`heartbeats_to_send` and :meth:`events`; call :meth:`on_heartbeat` for each
    heartbeat received, then :meth:`events`.
    """

    symbol: ClassVar[str] = ""
    restores: ClassVar[bool] = False

    def __init__(
        self,
        me: str,
        peers: Iterable[str],
        *,
        period: float,
        timeout: float,
        now: float,
        grace: float = 0.0,
        grow: float = 2.0,
        bound: float | None = None,
        step_bound: float | None = None,
    ) -> None:
        self.me = me
        self.period = _positive(period, "period")
        initial = self._initial = _positive(timeout, "timeout")
        if grace < 0:
            raise ConfigError(f"detector grace must not be negative, not {grace!r}")
        if not isinstance(grow, int | float) or not 1.0 < grow <= 100.0:
            raise ConfigError(f"detector grow must be a factor above 1 (such as 2), not {grow!r}")
        self.grow = float(grow)
        self.bound = None if bound is None else _positive(bound, "bound")
        self.step_bound = None if step_bound is None else _positive(step_bound, "step bound")
        self.peers = tuple(sorted({p for p in peers if p != me}))
        self.timeouts: dict[str, float] = dict.fromkeys(self.peers, initial)
        """Each peer's current timeout (◇P raises it after each false suspicion)."""
        self._heard: dict[str, float] = dict.fromkeys(self.peers, now + grace)
        """The last heartbeat's arrival; for a peer never heard from, ``grace`` after it was
        added (so the first heartbeat, however early, replaces it)."""
        self._silent: set[str] = set(self.peers)
        """Peers never heard from."""
        self._worst: dict[tuple[str, str | None], float] = {}
        """The largest delay (per peer) and gap reported so far: only a new worst is."""
        self._suspected: set[str] = set()
        self._next_beat = now
        self._beat = False
        self._events: list[DetectorEvent] = []
        self.counters = {"heartbeats": 0, "late": 0, "false_suspicions": 0, "violations": 0}
        """``heartbeats`` received; ``late``: from a peer already suspected; the others
        count :class:`Restore` and :class:`SynchronyViolated` events."""
        self.leader: str | None = None
        """Ω's current leader (None for P and ◇P)."""
        self._changed(now)

    # -- what the core knows ----------------------------------------------------------------
    @property
    def suspected(self) -> frozenset[str]:
        """The peers suspected now."""
        return frozenset(self._suspected)

    # -- inputs ---------------------------------------------------------------------------------
    def add_peer(self, peer: str, now: float, grace: float = 0.0) -> None:
        """Watch ``peer`` from ``now`` on (unsuspected, ``grace`` more seconds at first)."""
        if peer == self.me or peer in self._heard:
            return
        self.peers = tuple(sorted((*self.peers, peer)))
        self._heard[peer] = now + grace
        self._silent.add(peer)
        self.timeouts[peer] = self._initial
        self._changed(now)

    def on_heartbeat(self, peer: str, now: float, delay: float | None = None) -> bool:
        """A heartbeat from ``peer`` arrived at ``now`` after ``delay`` seconds (if measured).

        Returns False (and changes nothing) for a peer this core does not watch.
        """
        heard = self._heard
        if peer not in heard:
            return False
        self.counters["heartbeats"] += 1
        if delay is not None and self.bound is not None:
            allowed = self.bound + (self.step_bound or 0.0)  # the network's Δ, our own step
            if delay > allowed:
                self._violated(now, "delay", delay, allowed, peer)
        if peer in self._silent:
            self._silent.discard(peer)
            heard[peer] = now
        else:
            heard[peer] = max(heard[peer], now)
        if peer in self._suspected:
            self.counters["late"] += 1
            if self.restores:
                self._suspected.discard(peer)
                timeout = self.timeouts[peer] = self.timeouts[peer] * self.grow
                self.counters["false_suspicions"] += 1
                self._events.append(Restore(peer, now, timeout))
                self._changed(now)
        return True

    def handle_timer(self, now: float) -> None:
        """Run what is due at ``now`` (calling it early is harmless)."""
        if now >= self._next_beat:
            late = now - self._next_beat
            if self.step_bound is not None and late > self.step_bound:
                self._violated(now, "gap", late, self.step_bound, None)
            self._beat = True
            self._next_beat = self._next_beat + self.period
            if self._next_beat <= now:
                self._next_beat = now + self.period  # fell behind: no burst of heartbeats
        suspected = self._suspected
        changed = False
        for peer, heard in self._heard.items():
            if peer not in suspected and now >= heard + self.timeouts[peer]:
                suspected.add(peer)
                self._events.append(Suspect(peer, now, self.timeouts[peer]))
                changed = True
        if changed:
            self._changed(now)

    # -- outputs -------------------------------------------------------------------------------
    def get_timer(self) -> float:
        """The next time :meth:`handle_timer` must run: a heartbeat or a timeout."""
        deadline = self._next_beat
        suspected, timeouts = self._suspected, self.timeouts
        for peer, heard in self._heard.items():
            if peer not in suspected:
                expiry = heard + timeouts[peer]
                deadline = min(deadline, expiry)
        return deadline

    def heartbeats_to_send(self) -> tuple[str, ...]:
        """The peers to send one heartbeat each now (all of them, once per period)."""
        if not self._beat:
            return ()
        self._beat = False
        return self.peers

    def events(self) -> list[DetectorEvent]:
        """Drain the events since the last call, in the order they happened."""
        events, self._events = self._events, []
        return events

    # -- subclasses ---------------------------------------------------------------------------
    def _changed(self, now: float) -> None:
        """The suspected set changed at ``now`` (and once at creation)."""

    def _violated(self, now: float, what: str, seen: float, bound: float, peer: str | None) -> None:
        self.counters["violations"] += 1
        if seen <= self._worst.get((what, peer), 0.0):
            return
        self._worst[what, peer] = seen
        self._events.append(SynchronyViolated(now, what, seen, bound, peer))


class PerfectDetector(HeartbeatDetector):
    """P: exclude on timeout. A suspected peer stays suspected (crash-stop)."""

    symbol = "P"


class EventuallyPerfectDetector(HeartbeatDetector):
    """◇P: increasing timeout. A heartbeat from a suspected peer restores it and
    multiplies its timeout by ``grow``."""

    symbol = "◇P"
    restores = True


class EventualLeaderDetector(EventuallyPerfectDetector):
    """Ω on ◇P: the leader is the smallest id among this process and the unsuspected peers.

    A :class:`Leader` event is emitted at creation and on every change.
    """

    symbol = "Ω"

    def _changed(self, now: float) -> None:
        leader = min([self.me, *(p for p in self.peers if p not in self._suspected)])
        if leader != self.leader:
            self.leader = leader
            self._events.append(Leader(leader, now))


DETECTORS: dict[str, type[HeartbeatDetector]] = {
    "perfect": PerfectDetector,
    "eventually_perfect": EventuallyPerfectDetector,
    "eventual_leader": EventualLeaderDetector,
}
"""The detector kinds a configuration may name, and their cores."""
