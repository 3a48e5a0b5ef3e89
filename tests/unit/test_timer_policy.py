"""The retransmission timer under CPU contention: a floor that follows measured scheduling
delay, and a timeout postponed once by the time the process was not run (injected time)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import VectorClock
from netclock.errors import ConfigError
from netclock.links.rtt import RttEstimator, SchedulingDelay
from netclock.links.session import PeerSession
from netclock.wire import envelope as wire

PROPERTY = settings(max_examples=50, deadline=None, print_blob=True)


def test_a_quiet_process_puts_no_floor_under_the_timeout() -> None:
    delay = SchedulingDelay()
    for step in range(100):
        delay.observe(0.0, step * 0.01)
    rtt, plain = RttEstimator(initial=0.05, minimum=0.005), RttEstimator(0.05, 0.005)
    rtt.scheduling = delay
    rtt.on_sample(0.002)
    plain.on_sample(0.002)
    assert delay.floor == 0.0
    assert rtt.rto == plain.rto


def test_a_late_timer_raises_the_floor_of_every_estimator_sharing_it() -> None:
    delay = SchedulingDelay(factor=4.0, half_life=2.0, maximum=1.0)
    estimators = [RttEstimator(initial=0.05, minimum=0.005) for _ in range(3)]
    for rtt in estimators:
        rtt.scheduling = delay
        rtt.on_sample(0.002)
    delay.observe(0.1, now=10.0)
    assert delay.floor == pytest.approx(0.4)
    assert [rtt.rto for rtt in estimators] == [pytest.approx(0.4)] * 3


def test_the_floor_decays_by_half_each_half_life_once_the_load_is_gone() -> None:
    delay = SchedulingDelay(factor=4.0, half_life=2.0, maximum=1.0)
    delay.observe(0.1, now=0.0)
    delay.observe(0.0, now=2.0)
    assert delay.peak == pytest.approx(0.05)
    delay.observe(0.0, now=6.0)
    assert delay.floor == pytest.approx(4 * 0.0125)


def test_the_floor_is_capped_and_backoff_doubles_from_it_up_to_the_maximum() -> None:
    delay = SchedulingDelay(factor=4.0, maximum=0.5)
    delay.observe(10.0, now=1.0)
    assert delay.floor == pytest.approx(0.5)
    rtt = RttEstimator(initial=0.05, minimum=0.005, maximum=0.8)
    rtt.scheduling = delay
    assert rtt.rto == pytest.approx(0.5)
    rtt.back_off()
    assert rtt.rto == pytest.approx(0.8)


def test_a_negative_lateness_counts_as_none() -> None:
    delay = SchedulingDelay()
    delay.observe(-0.5, now=1.0)
    assert delay.peak == 0.0


def test_nonsense_settings_are_one_config_error() -> None:
    with pytest.raises(ConfigError, match="half_life positive"):
        SchedulingDelay(half_life=0.0)


@PROPERTY
@given(
    lateness=st.lists(
        st.tuples(st.floats(-1.0, 5.0), st.floats(0.0, 3.0)), min_size=1, max_size=30
    ),
    minimum=st.floats(0.001, 0.1),
    maximum=st.floats(0.1, 2.0),
)
def test_rto_stays_within_minimum_and_maximum_whatever_the_scheduling(
    lateness: list[tuple[float, float]], minimum: float, maximum: float
) -> None:
    delay = SchedulingDelay(maximum=1.0)
    rtt = RttEstimator(initial=0.05, minimum=minimum, maximum=maximum)
    rtt.scheduling = delay
    now = 0.0
    for late, gap in lateness:
        now += gap
        delay.observe(late, now)
        assert minimum <= rtt.rto <= maximum
        assert rtt.rto >= min(delay.floor, maximum) - 1e-12


def _sent(now: float) -> tuple[PeerSession, float]:
    session = PeerSession("a", 1, "b")
    session.send(VectorClock({"a": 1}), "m", now)
    assert session.datagrams_to_send(now)
    deadline = session.get_timer()
    assert deadline is not None
    return session, deadline


def test_a_postponed_retransmission_does_not_fire_before_the_new_deadline() -> None:
    session, deadline = _sent(0.0)
    session.postpone_retransmission(deadline + 0.5)
    session.handle_timer(deadline + 0.1)
    assert session.datagrams_to_send(deadline + 0.1) == []
    assert session.stats["timeouts"] == 0
    session.handle_timer(deadline + 0.5)
    resent = session.datagrams_to_send(deadline + 0.5)
    assert [m.seq for d in resent for m in _segment(d).messages] == [1]
    assert session.stats["retransmitted"] == 1


def test_postponing_never_brings_a_deadline_earlier() -> None:
    session, deadline = _sent(0.0)
    session.postpone_retransmission(deadline - 0.01)
    assert session.get_timer() == pytest.approx(deadline)


def test_postponing_an_idle_session_arms_nothing() -> None:
    session = PeerSession("a", 1, "b")
    session.postpone_retransmission(5.0)
    assert session.get_timer() is None


def _segment(datagram: bytes) -> wire.Segment:
    segment = wire.decode(datagram)
    assert isinstance(segment, wire.Segment)
    return segment
