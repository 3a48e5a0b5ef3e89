"""The timing models as fault-plan delays: bounds, tails, GST, config forms and replay."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.cli.fault_flags import add_fault_flags, plan_from_flags
from netclock.errors import ConfigError
from netclock.faults.delay import FixedDelay, delay_from_config, parse_delay
from netclock.faults.injector import FaultInjector
from netclock.faults.plan import FaultPlan
from netclock.faults.timing import Asynchronous, PartialSynchrony, Synchronous

units = st.floats(0.0, 1.0, exclude_max=True)


@settings(max_examples=200)
@given(u=units, delta=st.floats(1e-4, 10.0))
def test_synchronous_delays_stay_below_delta(u: float, delta: float) -> None:
    assert 0.0 <= Synchronous(delta).sample(u) < delta


def test_asynchronous_delays_are_finite_unbounded_and_heavy_tailed() -> None:
    model = Asynchronous(scale=0.01, shape=1.5)
    assert model.sample(0.0) == 0.0
    assert model.sample(0.5) == pytest.approx(0.01 * (2 ** (1 / 1.5) - 1))
    tail = [model.sample(1 - 10.0**-k) for k in range(1, 12)]
    assert all(math.isfinite(d) for d in tail)
    assert tail == sorted(tail)
    assert tail[-1] > 1000 * tail[0]
    assert model.bound_at(0.0) is None


def test_partial_synchrony_is_asynchronous_before_gst_and_bounded_after() -> None:
    plan = FaultPlan(seed=7, delay=PartialSynchrony(gst=5.0, delta=0.02))
    direction = plan.direction("a", "b")
    before = [direction.fate((i,), 0, 1.0).delays[0] for i in range(2000)]
    after = [direction.fate((i,), 0, 5.0).delays[0] for i in range(2000)]
    assert max(before) > 0.02
    assert max(after) < 0.02
    assert plan.delay.bound_at(4.9) is None
    assert plan.delay.bound_at(5.0) == 0.02


def test_timing_fates_replay_from_the_seed() -> None:
    plan = FaultPlan(seed=3, delay=Asynchronous())
    one = FaultInjector(plan, "a", 100.0)
    two = FaultInjector(plan, "a", 200.0)
    assert [one.decide("b", (i,), 0, 101.0) for i in range(50)] == [
        two.decide("b", (i,), 0, 201.0) for i in range(50)
    ]


@pytest.mark.parametrize(
    "model",
    [Synchronous(0.02), Asynchronous(0.005, 2.0), PartialSynchrony(3.0, 0.02, 0.01, 1.2)],
)
def test_timing_models_round_trip_through_the_plan(model: object) -> None:
    plan = FaultPlan(seed=1, delay=model)  # type: ignore[arg-type]
    assert FaultPlan.from_dict(plan.to_dict()) == plan


def test_cluster_file_tables_select_a_timing_model() -> None:
    assert delay_from_config({"kind": "synchronous", "delta": "20ms"}, "faults.delay") == (
        Synchronous(0.02)
    )
    table = {"kind": "partial", "gst": 5, "delta": "20ms", "shape": 2}
    assert delay_from_config(table, "faults.delay") == PartialSynchrony(5.0, 0.02, 0.01, 2.0)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"kind": "synchronous"}, "faults.delay.delta is required"),
        ({"kind": "partial", "delta": 0.02}, "faults.delay.gst is required"),
        ({"kind": "synchronous", "delta": 0}, "positive bound"),
        ({"kind": "asynchronous", "shape": 0}, "tail shape"),
        ({"kind": "asynchronous", "delta": 1}, "faults.delay.delta is not a known key"),
        ({"kind": "gauss"}, "synchronous, asynchronous, partial"),
    ],
)
def test_timing_config_mistakes_are_one_sentence(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        delay_from_config(table, "faults.delay")


def test_command_line_forms() -> None:
    assert parse_delay("sync:20ms") == Synchronous(0.02)
    assert parse_delay("async") == Asynchronous()
    assert parse_delay("async:5ms:2") == Asynchronous(0.005, 2.0)
    assert parse_delay("partial:5s:20ms") == PartialSynchrony(5.0, 0.02)
    assert parse_delay("2ms") == FixedDelay(0.002)
    for bad in ("sync", "sync:1:2", "partial:5s", "async:x", "async:1ms:y"):
        with pytest.raises(ConfigError, match="--delay"):
            parse_delay(bad)


def test_delay_flag_puts_a_timing_model_in_the_plan() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    add_fault_flags(parser)
    plan = plan_from_flags(parser.parse_args(["--seed", "4", "--delay", "partial:2s:10ms"]))
    assert plan.delay == PartialSynchrony(2.0, 0.01)
    assert plan.seed == 4
    with pytest.raises(SystemExit):
        parser.parse_args(["--delay", "sync:-1ms"])
