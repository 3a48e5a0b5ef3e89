"""The failure detectors' textbook properties, on the sans-IO cores with injected time.

A small discrete-event simulation runs n cores: each sends a heartbeat to every peer once
per period, every heartbeat takes the delay the schedule gives it, crashed processes stop
for good, paused ones do nothing until they resume (then, as under asyncio, they read what
arrived before their timers run). Hypothesis draws the schedules: Δ, GST, crash and pause
patterns, and the seed of the delays.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.detectors.core import (
    DetectorEvent,
    EventualLeaderDetector,
    EventuallyPerfectDetector,
    HeartbeatDetector,
    Leader,
    PerfectDetector,
    Restore,
    Suspect,
    SynchronyViolated,
)
from netclock.errors import ConfigError

PERIOD = 0.1
Delay = Callable[[str, str, float], float]


@dataclass
class Sim:
    """n detector cores exchanging heartbeats under a schedule (all times in seconds)."""

    kind: type[HeartbeatDetector]
    n: int
    delay: Delay
    timeout: float
    crashes: dict[str, float] = field(default_factory=dict)
    pauses: dict[str, tuple[float, float]] = field(default_factory=dict)
    bound: float | None = None
    step_bound: float | None = None

    def __post_init__(self) -> None:
        self.ids = [f"p{i}" for i in range(self.n)]
        self.cores = {
            me: self.kind(
                me,
                self.ids,
                period=PERIOD,
                timeout=self.timeout,
                now=0.0,
                bound=self.bound,
                step_bound=self.step_bound,
            )
            for me in self.ids
        }
        self.log: dict[str, list[DetectorEvent]] = {me: [] for me in self.ids}
        self.queue: list[tuple[float, int, int, str, str, str, float]] = []
        self.gen = dict.fromkeys(self.ids, 0)
        self.count = 0
        self.now = 0.0
        for me in self.ids:
            self._arm(me)

    def _push(self, t: float, prio: int, kind: str, me: str, data: str, x: float) -> None:
        self.count += 1
        heapq.heappush(self.queue, (t, prio, self.count, kind, me, data, x))

    def _arm(self, me: str) -> None:
        self.gen[me] += 1
        self._push(self.cores[me].get_timer(), 1, "timer", me, "", float(self.gen[me]))

    def crashed(self, me: str, t: float) -> bool:
        return t >= self.crashes.get(me, float("inf"))

    def run_until(self, end: float) -> None:
        while self.queue and self.queue[0][0] <= end:
            t, prio, _, kind, me, data, x = heapq.heappop(self.queue)
            self.now = t
            if self.crashed(me, t):
                continue
            pause = self.pauses.get(me)
            if pause is not None and pause[0] <= t < pause[1]:
                self._push(pause[1], prio, kind, me, data, x)  # waits for SIGCONT
                continue
            core = self.cores[me]
            if kind == "timer":
                if x != self.gen[me]:
                    continue
                core.handle_timer(t)
                for peer in core.heartbeats_to_send():
                    self._push(t + self.delay(me, peer, t), 0, "hb", peer, me, t)
            else:
                core.on_heartbeat(data, t, delay=t - x)
            self.log[me].extend(core.events())
            self._arm(me)
        self.now = end

    def settle(self) -> None:
        """Run until every timeout of a crashed peer has expired everywhere."""
        for _ in range(60):
            due = [
                core._heard[p] + core.timeouts[p]
                for me, core in self.cores.items()
                if not self.crashed(me, self.now)
                for p in self.crashes
                if p in core._heard
            ]
            end = max(due, default=self.now)
            if end < self.now:
                return
            self.run_until(end + PERIOD)

    @property
    def correct(self) -> list[str]:
        return [me for me in self.ids if me not in self.crashes]


def synchronous(delta: float, seed: int) -> Delay:
    rng = random.Random(seed)
    return lambda s, r, t: rng.random() * delta


def partial(delta: float, gst: float, seed: int, worst: float = 3.0) -> Delay:
    """Heavy-tailed (Pareto, capped at ``worst`` so the simulation ends) until GST, then < Δ."""
    rng = random.Random(seed)

    def delay(s: str, r: str, t: float) -> float:
        if t >= gst:
            return rng.random() * delta
        return min(worst, 0.01 * float((1.0 - rng.random()) ** (-1 / 1.2)))

    return delay


deltas = st.floats(0.005, 0.3)
seeds = st.integers(0, 2**32)
sizes = st.integers(2, 5)


@st.composite
def crash_patterns(draw: st.DrawFn, n: int) -> dict[str, float]:
    victims = draw(st.lists(st.integers(0, n - 1), max_size=n - 1, unique=True))
    return {f"p{i}": draw(st.floats(0.0, 4.0)) for i in victims}


# -- P ------------------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(n=sizes, delta=deltas, seed=seeds, data=st.data())
def test_p_strong_accuracy_and_completeness_in_synchronous_schedules(
    n: int, delta: float, seed: int, data: st.DataObject
) -> None:
    crashes = data.draw(crash_patterns(n))
    sim = Sim(PerfectDetector, n, synchronous(delta, seed), PERIOD + delta, crashes, bound=delta)
    sim.run_until(5.0)
    sim.settle()
    for me, events in sim.log.items():
        for ev in events:
            assert isinstance(ev, Suspect), ev
            assert ev.at >= crashes[ev.peer], f"{me} suspected {ev.peer} before it crashed"
    for me in sim.correct:
        assert sim.cores[me].suspected == set(crashes), me


@settings(max_examples=25, deadline=None)
@given(n=sizes, delta=deltas, seed=seeds, data=st.data())
def test_p_mistakes_in_a_schedule_the_host_broke_are_reported_not_blamed(
    n: int, delta: float, seed: int, data: st.DataObject
) -> None:
    late = data.draw(st.floats(0.0, 0.3))
    paused = data.draw(st.sampled_from([None, *range(n)]))
    start = data.draw(st.floats(0.0, 3.0))
    length = data.draw(st.floats(0.0, 1.0))
    rng = random.Random(seed)

    def host(s: str, r: str, t: float) -> float:  # the model's < Δ, plus the host's lateness
        extra = rng.random() * delta * 5 if rng.random() < late else 0.0
        return rng.random() * delta + extra

    pauses = {} if paused is None else {f"p{paused}": (start, start + length)}
    step = PERIOD / 10
    sim = Sim(
        PerfectDetector,
        n,
        host,
        PERIOD + delta + step,
        pauses=pauses,
        bound=delta,
        step_bound=step,
    )
    judged = 6.0
    # A heartbeat sent before ``judged`` may be up to 6 Δ late: let it arrive, so the
    # violation it shows is on record for a suspicion it caused before ``judged``.
    sim.run_until(judged + 6 * delta + PERIOD)
    for me, events in sim.log.items():
        for ev in events:
            if not isinstance(ev, Suspect) or ev.at > judged:
                continue
            excused = any(
                isinstance(v, SynchronyViolated) and (v.what == "gap" or v.peer == ev.peer)
                for v in sim.log[me]
            ) or any(isinstance(v, SynchronyViolated) and v.what == "gap" for v in sim.log[ev.peer])
            assert excused, f"{me} suspected live {ev.peer} and nobody saw the host break Δ"


# -- ◇P and Ω -----------------------------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(
    n=sizes,
    delta=deltas,
    gst=st.floats(0.0, 4.0),
    seed=seeds,
    kind=st.sampled_from([EventuallyPerfectDetector, EventualLeaderDetector]),
    data=st.data(),
)
def test_eventually_perfect_completeness_and_eventual_accuracy_after_gst(
    n: int,
    delta: float,
    gst: float,
    seed: int,
    kind: type[HeartbeatDetector],
    data: st.DataObject,
) -> None:
    crashes = data.draw(crash_patterns(n))
    live = [i for i in range(n) if f"p{i}" not in crashes]
    paused = data.draw(st.sampled_from([None, *live]))
    start = data.draw(st.floats(0.0, gst))
    pauses = {} if paused is None else {f"p{paused}": (start, gst)}
    sim = Sim(kind, n, partial(delta, gst, seed), PERIOD / 2, crashes, pauses)
    horizon = gst + 4.0 + 30 * (PERIOD + delta)
    sim.run_until(horizon)
    sim.settle()
    stable = gst + 3.0  # every heartbeat sent before GST has arrived (the cap of its delay)
    for me in sim.correct:
        core = sim.cores[me]
        assert core.suspected == set(crashes), f"{me} at the end: {sorted(core.suspected)}"
        for ev in sim.log[me]:
            if isinstance(ev, Suspect) and ev.peer not in crashes and ev.at > stable:
                # after GST a mistake only happens while the timeout is still below the bound,
                # and each mistake doubles it: finitely many mistakes, then none
                assert ev.timeout < PERIOD + delta, f"{me}: mistake after GST: {ev}"
    if kind is EventualLeaderDetector:
        leaders = {sim.cores[me].leader for me in sim.correct}
        assert leaders == {min(sim.correct)}, "Ω: the correct processes disagree"
        for me in sim.correct:
            last = [ev for ev in sim.log[me] if isinstance(ev, Leader)][-1]
            assert last.peer == min(sim.correct)


# -- single cores, by hand ------------------------------------------------------------------------
def test_p_suspects_after_the_timeout_and_never_restores() -> None:
    core = PerfectDetector("a", ["a", "b"], period=0.1, timeout=0.3, now=0.0)
    assert core.peers == ("b",)
    core.handle_timer(0.0)
    assert core.heartbeats_to_send() == ("b",)
    assert core.heartbeats_to_send() == ()
    core.on_heartbeat("b", 0.05)
    assert core.get_timer() == pytest.approx(0.1)
    core.handle_timer(0.35)
    assert core.events() == [Suspect("b", 0.35, 0.3)]
    assert core.on_heartbeat("b", 0.4)
    assert core.suspected == {"b"}
    assert core.events() == []
    assert core.counters["late"] == 1


def test_eventually_perfect_restores_and_doubles_the_timeout() -> None:
    core = EventuallyPerfectDetector("a", ["b"], period=0.1, timeout=0.3, now=0.0)
    core.handle_timer(0.3)
    core.on_heartbeat("b", 0.5)
    assert core.events() == [Suspect("b", 0.3, 0.3), Restore("b", 0.5, 0.6)]
    assert core.timeouts["b"] == pytest.approx(0.6)
    assert core.counters["false_suspicions"] == 1


def test_leader_is_the_smallest_unsuspected_id_itself_included() -> None:
    core = EventualLeaderDetector("b", ["a", "b", "c"], period=0.1, timeout=0.3, now=0.0)
    assert core.events() == [Leader("a", 0.0)]
    core.on_heartbeat("c", 0.2)
    core.handle_timer(0.31)
    assert core.events() == [Suspect("a", 0.31, 0.3), Leader("b", 0.31)]
    core.on_heartbeat("a", 0.4)
    assert core.events() == [Restore("a", 0.4, 0.6), Leader("a", 0.4)]


def test_heartbeats_from_unwatched_peers_change_nothing() -> None:
    core = PerfectDetector("a", ["b"], period=0.1, timeout=0.3, now=0.0)
    assert not core.on_heartbeat("mallory", 0.1)
    assert core.counters["heartbeats"] == 0


def test_synchrony_watch_reports_late_heartbeats_and_scheduling_gaps() -> None:
    core = PerfectDetector(
        "a", ["b"], period=0.1, timeout=1.0, now=0.0, bound=0.01, step_bound=0.02
    )
    core.on_heartbeat("b", 0.0, delay=0.025)  # within Δ plus our own step
    core.on_heartbeat("b", 0.0, delay=0.05)
    core.handle_timer(0.5)
    assert core.events() == [
        SynchronyViolated(0.0, "delay", 0.05, pytest.approx(0.03), "b"),
        SynchronyViolated(0.5, "gap", 0.5, 0.02, None),
    ]
    core.on_heartbeat("b", 0.55, delay=0.04)  # not a new worst: counted, not reported
    core.handle_timer(0.6)
    assert core.events() == []
    assert core.counters["violations"] == 3


def test_the_grace_of_a_silent_peer_ends_with_its_first_heartbeat() -> None:
    core = PerfectDetector("a", ["b"], period=0.1, timeout=0.3, now=0.0, grace=2.0)
    assert core.get_timer() == 0.0
    core.handle_timer(0.0)
    assert core.get_timer() == pytest.approx(0.1)
    core.on_heartbeat("b", 0.2)
    core.handle_timer(0.5)
    assert core.events() == [Suspect("b", 0.5, 0.3)]  # not at 2.3: b was heard from


def test_a_heartbeat_timer_that_fell_behind_does_not_burst() -> None:
    core = PerfectDetector("a", ["b"], period=0.1, timeout=10.0, now=0.0)
    core.handle_timer(1.0)
    assert core.heartbeats_to_send() == ("b",)
    assert core.get_timer() == pytest.approx(1.1)


@pytest.mark.parametrize(
    "kwargs",
    [{"period": 0}, {"timeout": -1.0}, {"grow": 1.0}, {"grace": -1.0}, {"period": True}],
)
def test_bad_detector_settings_are_one_config_error(kwargs: dict[str, object]) -> None:
    settings_: dict[str, object] = {"period": 0.1, "timeout": 0.3, "now": 0.0, **kwargs}
    with pytest.raises(ConfigError, match="detector"):
        PerfectDetector("a", ["b"], **settings_)  # type: ignore[arg-type]


def test_a_peer_added_later_is_watched_from_then_on() -> None:
    core = EventualLeaderDetector("b", ["c"], period=0.1, timeout=0.3, now=0.0)
    assert core.events() == [Leader("b", 0.0)]
    core.add_peer("a", 1.0, grace=0.5)
    assert core.peers == ("a", "c")
    assert core.events() == [Leader("a", 1.0)]
    core.on_heartbeat("c", 1.75)
    core.handle_timer(1.75)
    assert core.events() == []
    core.handle_timer(1.8)
    assert core.events() == [Suspect("a", 1.8, 0.3), Leader("b", 1.8)]
