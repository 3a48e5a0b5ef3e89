"""Omission faults (netclock.faults.omission): seeded, per node, counted apart from loss."""

from __future__ import annotations

import pickle

import pytest

from netclock import FaultPlan
from netclock.errors import ConfigError
from netclock.faults.injector import FaultInjector
from netclock.faults.omission import OMITTED, Omission, Omitter


def _omitted(seed: int, p: float, n: int = 1000) -> list[bool]:
    omitter = Omitter(seed, "m", Omission(send=p))
    return [omitter.omits_send("c") for _ in range(n)]


def test_the_same_seed_omits_the_same_datagrams_and_another_seed_others() -> None:
    assert _omitted(7, 0.3) == _omitted(7, 0.3)
    assert _omitted(7, 0.3) != _omitted(8, 0.3)


def test_send_omission_rate_is_near_its_probability() -> None:
    assert 250 <= sum(_omitted(1, 0.3)) <= 350
    assert not any(_omitted(1, 0.0))
    assert all(_omitted(1, 1.0))


def test_receive_omission_is_drawn_apart_from_send_omission() -> None:
    omitter = Omitter(3, "m", Omission(send=0.5, receive=0.5))
    sends = [omitter.omits_send("c") for _ in range(200)]
    receives = [omitter.omits_receive("c") for _ in range(200)]
    assert sends != receives
    assert omitter.send_omitted == {"c": sum(sends)}
    assert omitter.receive_omitted == {"c": sum(receives)}


def test_the_plan_reads_omission_per_node_and_round_trips() -> None:
    plan = FaultPlan.from_dict({"seed": 5, "omission": {"m": {"send": 0.25, "receive": 0.1}}})
    assert plan.omission["m"] == Omission(send=0.25, receive=0.1)
    assert not plan.is_quiet
    assert FaultPlan.from_dict(plan.to_dict()) == plan
    assert pickle.loads(pickle.dumps(plan)).omission == plan.omission
    assert "omission" not in FaultPlan(seed=5).to_dict()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"omission": {"m": {"send": 1.5}}}, "faults.omission.m.send"),
        ({"omission": {"m": {"sned": 0.1}}}, "faults.omission.m"),
        ({"omission": {"m": 0.3}}, "faults.omission.m"),
        ({"omission": ["m"]}, "faults.omission"),
    ],
)
def test_omission_mistakes_are_one_config_error_naming_the_key(
    table: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        FaultPlan.from_dict(table)


def test_the_injector_counts_omissions_apart_from_loss_and_only_for_its_node() -> None:
    plan = FaultPlan(seed=2, loss=0.2, omission={"m": Omission(send=0.3, receive=0.4)})
    faulty = FaultInjector(plan, "m", 0.0)
    honest = FaultInjector(plan, "c", 0.0)
    fates = [faulty.decide("c", (i,), 0, 1.0) for i in range(1000)]
    stats = faulty.stats["c"]
    assert stats.omitted == sum(f is OMITTED for f in fates)
    assert 250 <= stats.omitted <= 350
    assert stats.dropped > 0
    assert stats.delivered == stats.sent - stats.dropped - stats.omitted + stats.duplicated
    assert honest.omitter is None
    assert not honest.omits_receive("m")
    assert 300 <= sum(faulty.omits_receive("c") for _ in range(1000)) <= 500
