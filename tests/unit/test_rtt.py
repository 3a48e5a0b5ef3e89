"""Specification of the retransmission-timeout estimator (RFC 6298)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.errors import ConfigError
from netclock.links.rtt import RttEstimator

PROPERTY = settings(max_examples=60, deadline=None, print_blob=True)


def test_rto_before_any_sample_is_the_initial_value() -> None:
    rtt = RttEstimator(initial=0.05, minimum=0.005, maximum=1.0)
    assert rtt.srtt is None
    assert rtt.rttvar is None
    assert rtt.rto == pytest.approx(0.05)


def test_first_sample_sets_srtt_to_r_and_rttvar_to_half_r() -> None:
    rtt = RttEstimator(initial=1.0, minimum=0.001, maximum=60.0, granularity=0.0)
    rtt.on_sample(0.1)
    assert rtt.srtt == pytest.approx(0.1)
    assert rtt.rttvar == pytest.approx(0.05)
    assert rtt.rto == pytest.approx(0.1 + 4 * 0.05)


def test_later_samples_follow_rfc6298_weights() -> None:
    rtt = RttEstimator(initial=1.0, minimum=0.001, maximum=60.0, granularity=0.0)
    rtt.on_sample(0.1)
    rtt.on_sample(0.3)
    # RTTVAR = 3/4 * 0.05 + 1/4 * |0.1 - 0.3| = 0.0875 ; SRTT = 7/8 * 0.1 + 1/8 * 0.3 = 0.125
    assert rtt.rttvar == pytest.approx(0.0875)
    assert rtt.srtt == pytest.approx(0.125)
    assert rtt.rto == pytest.approx(0.125 + 4 * 0.0875)


def test_clock_granularity_is_the_least_variance_term() -> None:
    rtt = RttEstimator(initial=1.0, minimum=0.0001, maximum=60.0, granularity=0.01)
    for _ in range(200):
        rtt.on_sample(0.02)
    assert rtt.rttvar is not None
    assert 4 * rtt.rttvar < 0.01
    assert rtt.rto == pytest.approx(0.02 + 0.01)


def test_rto_is_clamped_to_minimum_and_maximum() -> None:
    low = RttEstimator(initial=0.05, minimum=0.005, maximum=1.0)
    low.on_sample(0.0001)
    assert low.rto == pytest.approx(0.005)
    high = RttEstimator(initial=0.05, minimum=0.005, maximum=1.0)
    high.on_sample(5.0)
    assert high.rto == pytest.approx(1.0)
    assert RttEstimator(initial=9.0, minimum=0.005, maximum=1.0).rto == pytest.approx(1.0)


def test_backoff_doubles_the_rto_up_to_the_maximum() -> None:
    rtt = RttEstimator(initial=0.1, minimum=0.005, maximum=1.0)
    seen = []
    for _ in range(6):
        rtt.back_off()
        seen.append(rtt.rto)
    assert seen == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    assert rtt.backed_off


def test_reset_backoff_returns_to_the_estimate() -> None:
    rtt = RttEstimator(initial=0.1, minimum=0.005, maximum=1.0)
    rtt.back_off()
    rtt.back_off()
    rtt.reset_backoff()
    assert rtt.rto == pytest.approx(0.1)
    assert not rtt.backed_off


def test_a_new_sample_ends_the_backoff() -> None:
    rtt = RttEstimator(initial=0.1, minimum=0.005, maximum=1.0, granularity=0.0)
    rtt.back_off()
    rtt.on_sample(0.01)
    assert rtt.rto == pytest.approx(0.03)


@pytest.mark.parametrize(
    ("initial", "minimum", "maximum"),
    [(0.05, 0.0, 1.0), (0.05, 2.0, 1.0), (0.0, 0.005, 1.0), (-1.0, 0.005, 1.0)],
)
def test_nonsense_bounds_raise_config_error(initial: float, minimum: float, maximum: float) -> None:
    with pytest.raises(ConfigError):
        RttEstimator(initial=initial, minimum=minimum, maximum=maximum)


@PROPERTY
@given(
    st.lists(
        st.one_of(st.floats(min_value=0.0, max_value=10.0), st.none()),
        max_size=60,
    )
)
def test_rto_always_stays_within_bounds(steps: list[float | None]) -> None:
    rtt = RttEstimator(initial=0.05, minimum=0.005, maximum=1.0)
    for step in steps:
        if step is None:
            rtt.back_off()
        else:
            rtt.on_sample(step)
        assert 0.005 <= rtt.rto <= 1.0, f"rto {rtt.rto} after {steps}"
