"""Specification of FaultPlan: seeded, reproducible fates for datagrams, and their configuration.

Every statistical test uses fixed seeds and a fixed set of keys, so its outcome is decided
once and for all (it cannot flake); the bounds are six standard deviations wide so that a
change of the hashing scheme would not break them either. Seeds are in every message.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import math
import os
import pickle
import random
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock import (
    ExponentialDelay,
    FaultPlan,
    FixedDelay,
    LinkFaults,
    NoDelay,
    Partition,
    UniformDelay,
)
from netclock.cli.fault_flags import add_fault_flags, plan_from_flags
from netclock.errors import ConfigError, UsageError
from netclock.faults.config import parse_duration
from netclock.faults.delay import parse_delay
from netclock.faults.fate import Fate
from netclock.faults.injector import FaultInjector, FaultStats

PROPERTY = settings(max_examples=60, deadline=None, print_blob=True)
N = 20_000


def _within(observed: int, n: int, p: float, seed: int, what: str) -> None:
    """Assert a binomial count lies within six standard deviations of its mean."""
    mean = n * p
    bound = 6 * math.sqrt(n * p * (1 - p))
    assert abs(observed - mean) <= bound, (
        f"seed={seed}: {what} observed {observed} of {n}, expected {mean:.0f} ± {bound:.0f}"
    )


def _fates(plan: FaultPlan, keys: list[tuple[int | str, ...]]) -> list[Fate]:
    return [plan.fate("a", "b", key, 0, 0.0) for key in keys]


def _noisy(seed: int) -> FaultPlan:
    return FaultPlan(
        seed=seed,
        loss=0.2,
        duplicate=0.1,
        reorder=0.2,
        reorder_delay=0.01,
        delay=UniformDelay(0.001, 0.005),
    )


MIXED_KEYS: list[tuple[int | str, ...]] = [
    *((seq,) for seq in range(200)),
    *((seq, transmission) for seq in range(20) for transmission in range(5)),
    ("hello", 1),
    (2**70,),
    (-5, 3),
    (),
]


# -- determinism -------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 7, 2**64 - 1])
def test_same_seed_gives_same_fates_across_fresh_plans(seed: int) -> None:
    first = _fates(_noisy(seed), MIXED_KEYS)
    second = _fates(_noisy(seed), MIXED_KEYS)
    assert first == second, f"seed={seed}"


def test_same_seed_gives_same_fates_in_any_interleaving() -> None:
    seed = 11
    plan = _noisy(seed)
    calls = [
        (s, r, key, attempt)
        for s, r in (("a", "b"), ("b", "a"), ("a", "c"))
        for key in MIXED_KEYS[:50]
        for attempt in range(3)
    ]
    in_order = {call: plan.fate(*call, 0.0) for call in calls}
    shuffled = list(calls)
    random.Random(seed).shuffle(shuffled)
    fresh = _noisy(seed)
    assert {call: fresh.fate(*call, 0.0) for call in shuffled} == in_order, f"seed={seed}"


def test_same_seed_gives_same_fates_in_another_process() -> None:
    """A fresh interpreter with a different str-hash seed computes the very same fates."""
    seed = 42
    program = (
        "import json, sys\n"
        "from netclock import FaultPlan, UniformDelay\n"
        f"plan = FaultPlan(seed={seed}, loss=0.2, duplicate=0.1, reorder=0.2, "
        "reorder_delay=0.01, delay=UniformDelay(0.001, 0.005))\n"
        "keys = json.loads(sys.argv[1])\n"
        "print(json.dumps([plan.fate('a', 'b', tuple(k), 1, 0.0) for k in keys]))\n"
    )
    keys = [list(key) for key in MIXED_KEYS]
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", program, json.dumps(keys)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=True,
    )
    remote = json.loads(result.stdout)
    plan = _noisy(seed)
    local = [
        [fate.drop, list(fate.delays)]
        for fate in (plan.fate("a", "b", key, 1, 0.0) for key in MIXED_KEYS)
    ]
    assert remote == local, f"seed={seed}"


def _documented_fate(
    seed: int, sender: str, receiver: str, key: tuple[int | str, ...], attempt: int
) -> Fate:
    """The derivation the module docstring promises, written out independently."""
    prefix = b"".join(
        len(x).to_bytes(4, "little") + x for x in (sender.encode(), receiver.encode())
    )
    if all(isinstance(k, int) and -(2**63) <= k < 2**63 for k in (*key, attempt)):
        person = b"netclock-fi"
        body = b"".join(int(k).to_bytes(8, "little", signed=True) for k in (*key, attempt))
    else:
        person = b"netclock-fa"
        body = repr((key, attempt)).encode()
    digest = hashlib.blake2b(
        prefix + body, key=seed.to_bytes(8, "little"), person=person, digest_size=48
    ).digest()
    w = [int.from_bytes(digest[i : i + 8], "little") for i in range(0, 48, 8)]
    if w[0] < 0.2 * 2**64:
        return Fate(True, ())
    copies = 2 if w[1] < 0.1 * 2**64 else 1
    delays = []
    for i in range(copies):
        delay = 0.001 + 0.004 * ((w[3 + 2 * i] >> 11) * 2.0**-53)
        delays.append(delay + 0.01 if w[2 + 2 * i] < 0.2 * 2**64 else delay)
    return Fate(False, tuple(delays))


@pytest.mark.parametrize("seed", [0, 99])
def test_fates_follow_the_documented_derivation(seed: int) -> None:
    plan = _noisy(seed)
    for key in MIXED_KEYS:
        for attempt in (0, 3):
            expected = _documented_fate(seed, "a", "node-2", key, attempt)
            assert plan.fate("a", "node-2", key, attempt, 0.0) == expected, f"seed={seed} {key}"


def test_different_seeds_give_different_fates() -> None:
    keys: list[tuple[int | str, ...]] = [(seq,) for seq in range(200)]
    assert _fates(FaultPlan(seed=1, loss=0.5), keys) != _fates(FaultPlan(seed=2, loss=0.5), keys)


@PROPERTY
@given(
    seed=st.integers(0, 2**64 - 1),
    key=st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=10).map(tuple),
    attempt=st.integers(0, 2**40),
)
def test_fate_is_a_pure_function_with_well_formed_delays(
    seed: int, key: tuple[int | str, ...], attempt: int
) -> None:
    plan = _noisy(seed)
    fate = plan.fate("a", "b", key, attempt, 3.0)
    assert fate == _noisy(seed).fate("a", "b", key, attempt, 3.0)
    assert fate.drop == (fate.delays == ())
    assert len(fate.delays) <= 2
    assert all(0.001 <= d < 0.005 + 0.01 for d in fate.delays), f"seed={seed} fate={fate}"


# -- rates and independence --------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_observed_loss_rate_matches_loss_for_20000_keys(seed: int) -> None:
    plan = FaultPlan(seed=seed, loss=0.1)
    lost = sum(plan.fate("a", "b", (seq,), 0, 0.0).drop for seq in range(N))
    _within(lost, N, 0.1, seed, "losses")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_observed_duplicate_rate_matches_duplicate_for_20000_keys(seed: int) -> None:
    plan = FaultPlan(seed=seed, loss=0.2, duplicate=0.05)
    fates = [plan.fate("a", "b", (seq, 0), 0, 0.0) for seq in range(N)]
    survivors = [fate for fate in fates if not fate.drop]
    _within(len(survivors), N, 0.8, seed, "survivors")
    _within(sum(len(fate.delays) == 2 for fate in survivors), len(survivors), 0.05, seed, "dups")


def test_observed_reorder_rate_and_reorder_delay() -> None:
    seed = 5
    plan = FaultPlan(seed=seed, reorder=0.1, reorder_delay=0.003)
    delays = [plan.fate("a", "b", (seq,), 0, 0.0).delays for seq in range(N)]
    assert all(len(d) == 1 and d[0] in (0.0, 0.003) for d in delays), f"seed={seed}"
    _within(sum(d[0] > 0 for d in delays), N, 0.1, seed, "reordered copies")


def test_certain_loss_drops_everything_and_certain_duplication_doubles_everything() -> None:
    lossy = FaultPlan(seed=3, loss=1.0, duplicate=1.0)
    assert all(lossy.fate("a", "b", (seq,), 0, 0.0) == Fate(True, ()) for seq in range(500))
    doubled = FaultPlan(seed=3, duplicate=1.0)
    assert all(doubled.fate("a", "b", (seq,), 0, 0.0).delays == (0.0, 0.0) for seq in range(500))


def test_loss_decisions_are_independent_across_attempts_keys_and_directions() -> None:
    seed = 9
    plan = FaultPlan(seed=seed, loss=0.5)

    def lost(sender: str, receiver: str, key: tuple[int, ...], attempt: int) -> bool:
        return plan.fate(sender, receiver, key, attempt, 0.0).drop

    pairs = {
        "attempt 0 and 1": [(lost("a", "b", (k,), 0), lost("a", "b", (k,), 1)) for k in range(N)],
        "key k and k+1": [(lost("a", "b", (k,), 0), lost("a", "b", (k + 1,), 0)) for k in range(N)],
        "(k,0) and (k,)": [(lost("a", "b", (k, 0), 0), lost("a", "b", (k,), 0)) for k in range(N)],
        "a->b and b->a": [(lost("a", "b", (k,), 0), lost("b", "a", (k,), 0)) for k in range(N)],
    }
    for what, outcomes in pairs.items():
        _within(sum(x and y for x, y in outcomes), N, 0.25, seed, f"both lost, {what}")
        _within(sum(x != y for x, y in outcomes), N, 0.5, seed, f"disagreements, {what}")


def test_uniform_delay_stays_in_range_with_the_right_mean() -> None:
    seed = 4
    plan = FaultPlan(seed=seed, delay=UniformDelay(0.001, 0.005))
    delays = [plan.fate("a", "b", (seq,), 0, 0.0).delays[0] for seq in range(N)]
    assert all(0.001 <= d < 0.005 for d in delays), f"seed={seed}"
    # Uniform on [1ms, 5ms): sd of one sample 4ms/sqrt(12); six sd of the mean.
    assert abs(sum(delays) / N - 0.003) < 6 * 0.004 / math.sqrt(12 * N), f"seed={seed}"


def test_exponential_delay_has_its_mean_and_respects_its_cap() -> None:
    seed = 6
    plan = FaultPlan(seed=seed, delay=ExponentialDelay(0.002))
    delays = [plan.fate("a", "b", (seq,), 0, 0.0).delays[0] for seq in range(N)]
    assert abs(sum(delays) / N - 0.002) < 6 * 0.002 / math.sqrt(N), f"seed={seed}"
    capped = FaultPlan(seed=seed, delay=ExponentialDelay(0.002, cap=0.004))
    capped_delays = [capped.fate("a", "b", (seq,), 0, 0.0).delays[0] for seq in range(N)]
    assert max(capped_delays) == 0.004, f"seed={seed}"
    # P(exp > 2 means) = e**-2.
    _within(sum(d == 0.004 for d in capped_delays), N, math.exp(-2), seed, "capped delays")


def test_delay_models_map_uniform_numbers_to_delays() -> None:
    assert NoDelay().sample(0.7) == 0.0
    assert FixedDelay(0.25).sample(0.7) == 0.25
    assert UniformDelay(1.0, 3.0).sample(0.5) == 2.0
    assert ExponentialDelay(1.0).sample(1 - math.exp(-1)) == pytest.approx(1.0)
    assert ExponentialDelay(1.0, cap=0.5).sample(0.99) == 0.5


# -- partitions --------------------------------------------------------------------------------
def test_partition_cuts_both_directions_from_start_until_it_heals() -> None:
    plan = FaultPlan(partitions=(Partition("a", "b", start=2.0, end=5.0),))
    for t, cut in ((0.0, False), (1.999, False), (2.0, True), (4.999, True), (5.0, False)):
        for sender, receiver in (("a", "b"), ("b", "a")):
            assert plan.fate(sender, receiver, (1,), 0, t).drop is cut, (sender, receiver, t)
            assert plan.partitioned(sender, receiver, t) is cut
    assert plan.fate("a", "c", (1,), 0, 3.0) == Fate(False, (0.0,))


def test_one_way_partition_cuts_only_its_direction() -> None:
    plan = FaultPlan(partitions=(Partition("a", "b", one_way=True),))
    assert plan.fate("a", "b", (1,), 0, 100.0).drop
    assert not plan.fate("b", "a", (1,), 0, 100.0).drop


def test_partition_without_end_never_heals() -> None:
    plan = FaultPlan(partitions=(Partition("a", "b", start=1.0),))
    assert not plan.fate("a", "b", (1,), 0, 0.5).drop
    assert plan.fate("a", "b", (1,), 0, 1e9).drop


def test_partition_groups_expand_to_every_cross_pair() -> None:
    plan = FaultPlan.from_dict({"partitions": [{"groups": [["a", "b"], ["c"], ["d"]], "end": 3.0}]})
    cut = {(s, r) for s in "abcd" for r in "abcd" if s != r and plan.partitioned(s, r, 1.0)}
    assert cut == {(s, r) for s in "abcd" for r in "abcd" if s != r and {s, r} not in ({"a", "b"},)}
    assert not any(plan.partitioned(s, r, 3.0) for s in "abcd" for r in "abcd" if s != r)


# -- per-link overrides ------------------------------------------------------------------------
def test_link_override_applies_to_its_direction_only() -> None:
    seed = 8
    plan = FaultPlan(seed=seed, links={("a", "b"): LinkFaults(loss=0.3)})
    forward = sum(plan.fate("a", "b", (k,), 0, 0.0).drop for k in range(N))
    _within(forward, N, 0.3, seed, "losses a->b")
    assert not any(plan.fate("b", "a", (k,), 0, 0.0).drop for k in range(N))
    assert not plan.is_quiet


def test_link_override_inherits_what_it_does_not_set() -> None:
    plan = FaultPlan(
        seed=1,
        delay=FixedDelay(0.004),
        links={("a", "b"): LinkFaults(delay=FixedDelay(0.001)), ("a", "c"): LinkFaults(loss=0.0)},
    )
    assert plan.fate("a", "b", (1,), 0, 0.0).delays == (0.001,)
    assert plan.fate("a", "c", (1,), 0, 0.0).delays == (0.004,)


def test_both_ways_link_key_in_config_sets_both_directions() -> None:
    plan = FaultPlan.from_dict({"links": {"a<->b": {"loss": 1.0}}})
    assert set(plan.links) == {("a", "b"), ("b", "a")}
    assert plan.fate("b", "a", (1,), 0, 0.0).drop


# -- quiet plans -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("plan", "quiet"),
    [
        (FaultPlan(), True),
        (FaultPlan(seed=5, delay=FixedDelay(0.0), reorder=0.5, reorder_delay=0.0), True),
        (FaultPlan(links={("a", "b"): LinkFaults(loss=0.0)}), True),
        (FaultPlan(loss=0.01), False),
        (FaultPlan(duplicate=0.01), False),
        (FaultPlan(reorder=0.01), False),
        (FaultPlan(delay=UniformDelay(0.0, 0.001)), False),
        (FaultPlan(partitions=(Partition("a", "b", start=5.0, end=6.0),)), False),
        (FaultPlan(links={("a", "b"): LinkFaults(duplicate=0.1)}), False),
        (FaultPlan(loss=0.1, links={("a", "b"): LinkFaults(loss=0.0)}), False),
    ],
)
def test_is_quiet_exactly_when_nothing_can_happen(plan: FaultPlan, quiet: bool) -> None:
    assert plan.is_quiet is quiet
    if quiet:
        assert all(plan.fate("a", "b", (k,), 0, 0.0) == Fate(False, (0.0,)) for k in range(200))


# -- the injector ------------------------------------------------------------------------------
def test_injector_counts_per_receiver_and_balances() -> None:
    seed = 12
    plan = FaultPlan(
        seed=seed,
        loss=0.1,
        duplicate=0.1,
        delay=UniformDelay(0.0, 0.001),
        partitions=(Partition("a", "c", start=10.0),),
    )
    injector = FaultInjector(plan, "a", epoch=1000.0)
    for seq in range(2000):
        for receiver in ("b", "c"):
            fate = injector.decide(receiver, (seq,), 0, 1000.0 + seq / 100)
            assert fate == plan.fate("a", receiver, (seq,), 0, seq / 100), f"seed={seed}"
    stats = injector.stats_dict()
    assert set(stats) == {"b", "c"}
    for receiver, counts in stats.items():
        assert counts["sent"] == 2000
        assert counts["delivered"] == (
            counts["sent"] - counts["dropped"] - counts["partitioned"] + counts["duplicated"]
        ), f"seed={seed} {receiver}: {counts}"
    assert stats["b"]["partitioned"] == 0
    assert stats["c"]["partitioned"] == 1000
    assert injector.totals().sent == 4000
    assert FaultStats(sent=1).as_dict()["sent"] == 1


def test_injector_takes_a_new_plan_live_and_keeps_counting() -> None:
    cut = FaultPlan(partitions=(Partition("a", "b"),))
    injector = FaultInjector(cut, "a", epoch=0.0)
    assert injector.decide("b", (1,), 0, 1.0).drop
    injector.plan = FaultPlan(partitions=(Partition("a", "b", end=2.0),))
    assert not injector.decide("b", (2,), 0, 3.0).drop
    assert injector.stats["b"].as_dict() == {
        "sent": 2,
        "dropped": 0,
        "duplicated": 0,
        "delayed": 0,
        "delivered": 1,
        "partitioned": 1,
        "omitted": 0,
    }


def test_plans_hold_no_state_beyond_their_fields() -> None:
    plan = _noisy(3)
    plan.fate("a", "b", (1,), 0, 0.0)
    FaultInjector(plan, "a", epoch=0.0).decide("b", (1,), 0, 0.0)
    assert set(vars(plan)) == {f.name for f in dataclasses.fields(plan)}


def test_injector_decides_as_the_plan_does() -> None:
    seed = 13
    plan = _noisy(seed)
    injector = FaultInjector(plan, "a", epoch=50.0)
    for key in MIXED_KEYS:
        assert injector.decide("b", key, 2, 53.0) == plan.fate("a", "b", key, 2, 3.0), seed


# -- one partition mechanism: scheduled and live cuts ------------------------------------------
def _cuts(*partitions: Partition, epoch: float = 0.0) -> FaultInjector:
    return FaultInjector(FaultPlan(partitions=partitions), "a", epoch=epoch)


def test_scheduled_partition_cut_until_is_its_end_on_the_epochs_clock() -> None:
    injector = _cuts(Partition("a", "b", start=2.0, end=5.0), epoch=1000.0)
    assert injector.cut_until("b", 1001.0) is None
    assert injector.cut_until("b", 1002.0) == 1005.0
    assert injector.cut_until("b", 1004.5) == 1005.0
    assert injector.cut_until("b", 1005.0) is None
    assert injector.cut_until("c", 1003.0) is None


def test_cut_until_sees_a_one_way_partition_from_both_ends_but_decide_only_its_direction() -> None:
    towards_a = FaultPlan(partitions=(Partition("b", "a", one_way=True, start=1.0, end=4.0),))
    at_a = FaultInjector(towards_a, "a", epoch=0.0)
    at_b = FaultInjector(towards_a, "b", epoch=0.0)
    assert at_a.cut_until("b", 2.0) == at_b.cut_until("a", 2.0) == 4.0
    assert not at_a.decide("b", (1,), 0, 2.0).drop
    assert at_b.decide("a", (1,), 0, 2.0).drop


def test_overlapping_and_touching_cuts_merge_into_one() -> None:
    injector = _cuts(
        Partition("a", "b", start=2.0, end=5.0),
        Partition("b", "a", one_way=True, start=4.0, end=8.0),
        Partition("a", "b", start=8.0, end=10.0),
        Partition("a", "b", start=12.0, end=13.0),
    )
    assert injector.cut_until("b", 3.0) == 10.0
    assert injector.cut_until("b", 9.0) == 10.0
    assert injector.cut_until("b", 11.0) is None
    assert injector.cut_until("b", 12.5) == 13.0


def test_next_change_is_the_next_start_or_end_of_a_cut_with_that_peer() -> None:
    injector = _cuts(
        Partition("a", "b", start=2.0, end=5.0),
        Partition("b", "a", one_way=True, start=4.0),
        Partition("a", "c", start=1.0, end=3.0),
        epoch=100.0,
    )
    assert injector.next_change("b", 100.0) == 102.0
    assert injector.next_change("b", 102.0) == 104.0
    assert injector.next_change("b", 104.0) == 105.0
    assert injector.next_change("b", 105.0) is None, "the last cut never heals"
    assert injector.next_change("c", 103.0) is None
    assert injector.next_change("d", 0.0) is None


def test_live_partition_cuts_both_directions_until_healed() -> None:
    injector = FaultInjector(None, "a", epoch=10.0)
    assert injector.quiet
    assert injector.cut_until("b", 11.0) is None
    injector.partition("b")
    assert not injector.quiet
    assert injector.decide("b", (1,), 0, 11.0).drop
    assert not injector.admits("b", 11.0)
    assert injector.admits("c", 11.0)
    assert not injector.decide("c", (1,), 0, 11.0).drop
    assert injector.cut_until("b", 11.0) == math.inf
    assert injector.next_change("b", 11.0) is None
    injector.heal("b")
    assert injector.quiet
    assert injector.admits("b", 12.0)
    assert injector.decide("b", (2,), 0, 12.0) == Fate(False, (0.0,))
    assert injector.stats["b"] == FaultStats(sent=2, delivered=1, partitioned=1)


def test_timed_live_partition_ends_by_itself_and_is_never_shortened() -> None:
    injector = FaultInjector(None, "a", epoch=1000.0)
    injector.partition("b", until=1005.0)
    injector.partition("b", until=1002.0)
    assert injector.cut_until("b", 1001.0) == 1005.0
    assert injector.next_change("b", 1001.0) == 1005.0
    assert not injector.admits("b", 1004.9)
    assert injector.admits("b", 1005.0)
    assert injector.live_cuts == {}, "a query forgets a cut that is over"
    assert injector.quiet
    injector.partition("b")
    injector.partition("b", until=1100.0)
    assert injector.cut_until("b", 1200.0) == math.inf, "open-ended stays open-ended"


def test_live_and_scheduled_cuts_merge_and_heal_ends_only_the_live_one() -> None:
    injector = _cuts(Partition("a", "b", start=5.0, end=7.0), epoch=0.0)
    injector.partition("b", until=5.0)
    assert injector.cut_until("b", 1.0) == 7.0
    injector.partition("b")
    injector.heal("b")
    assert injector.cut_until("b", 1.0) is None
    assert injector.cut_until("b", 6.0) == 7.0
    assert injector.decide("b", (1,), 0, 6.0).drop, "the plan's partition stays in force"


def test_a_new_plan_replaces_the_schedule_but_keeps_live_cuts() -> None:
    injector = _cuts(Partition("a", "b", start=0.0, end=10.0))
    injector.partition("c")
    injector.plan = FaultPlan(partitions=(Partition("a", "b", start=0.0, end=2.0),))
    assert injector.cut_until("b", 1.0) == 2.0
    assert injector.cut_until("c", 1.0) == math.inf


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda i: i.partition("b c"), "bad peer id"),
        (lambda i: i.partition("b", until=math.nan), "NaN"),
        (lambda i: i.rng("delay", ""), "bad peer id"),
        (lambda i: setattr(i, "plan", {"loss": 0.1}), "needs a FaultPlan"),
    ],
)
def test_injector_misuse_is_a_usage_error(call: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        call(FaultInjector(None, "a", epoch=0.0))


WINDOW = st.tuples(st.integers(0, 30), st.one_of(st.none(), st.integers(1, 10)))


@PROPERTY
@given(
    windows=st.lists(st.tuples(st.booleans(), WINDOW), max_size=5),
    live=st.one_of(st.none(), st.just(math.inf), st.integers(0, 40).map(float)),
)
def test_cut_until_and_next_change_agree_with_a_brute_force_timeline(
    windows: list[tuple[bool, tuple[int, int | None]]], live: float | None
) -> None:
    epoch = 1000.0
    partitions = tuple(
        Partition(
            *(("b", "a") if reverse else ("a", "b")),
            True,
            float(start),
            None if length is None else float(start + length),
        )
        for reverse, (start, length) in windows
    )
    injector = _cuts(*partitions, epoch=epoch)
    if live is not None:
        injector.partition("b", until=epoch + live)

    def cut(t: float) -> bool:
        return (live is not None and t < live) or any(p.active(t) for p in partitions)

    grid = [i / 2 for i in range(0, 100)]
    for t in grid:
        until = injector.cut_until("b", epoch + t)
        context = f"partitions={partitions} live={live} t={t}"
        if not cut(t):
            assert until is None, context
            continue
        assert until is not None, context
        assert all(cut(x) for x in grid if t <= x < until - epoch), context
        assert until == math.inf or not cut(until - epoch), context
        change = injector.next_change("b", epoch + t)
        later = [x for x in grid if x > t and cut(x) != cut(t)]
        if later:
            assert change is not None, context
            assert change - epoch <= later[0], context


# -- seeded generators -------------------------------------------------------------------------
def _draws(injector: FaultInjector, purpose: str, peer: str, n: int = 5) -> list[float]:
    return [injector.rng(purpose, peer).random() for _ in range(n)]


def test_rng_streams_depend_only_on_seed_purpose_node_and_peer() -> None:
    seed = 21
    a = FaultInjector(FaultPlan(seed=seed), "a", epoch=0.0)
    again = FaultInjector(FaultPlan(seed=seed, loss=0.5), "a", epoch=99.0)
    assert _draws(a, "reconnect", "b") == _draws(again, "reconnect", "b"), f"seed={seed}"
    fresh = FaultInjector(FaultPlan(seed=seed), "a", epoch=0.0)
    first = _draws(fresh, "delay", "b", 10)
    assert a.rng("delay", "b") is a.rng("delay", "b"), "one generator per purpose and peer"
    assert first[:5] == _draws(a, "delay", "b")
    assert first[5:] == _draws(a, "delay", "b")
    others = [
        _draws(FaultInjector(FaultPlan(seed=seed + 1), "a", epoch=0.0), "delay", "b"),
        _draws(FaultInjector(FaultPlan(seed=seed), "a", epoch=0.0), "reconnect", "b"),
        _draws(FaultInjector(FaultPlan(seed=seed), "a", epoch=0.0), "delay", "c"),
        _draws(FaultInjector(FaultPlan(seed=seed), "b", epoch=0.0), "delay", "a"),
    ]
    assert all(other != first[:5] for other in others), f"seed={seed}"


def test_rng_follows_the_documented_derivation() -> None:
    seed = 2**64 - 1
    digest = hashlib.blake2b(
        b"".join(len(x).to_bytes(4, "little") + x for x in (b"reconnect", b"a", b"node-2")),
        key=seed.to_bytes(8, "little"),
        person=b"netclock-rng",
        digest_size=32,
    ).digest()
    expected = random.Random(int.from_bytes(digest, "little"))
    injector = FaultInjector(FaultPlan(seed=seed), "a", epoch=0.0)
    assert _draws(injector, "reconnect", "node-2") == [expected.random() for _ in range(5)]


def test_rng_survives_a_new_plan_with_the_same_seed_only() -> None:
    injector = FaultInjector(FaultPlan(seed=4), "a", epoch=0.0)
    generator = injector.rng("reconnect", "b")
    injector.plan = FaultPlan(seed=4, partitions=(Partition("a", "b"),))
    assert injector.rng("reconnect", "b") is generator
    injector.plan = FaultPlan(seed=5)
    assert (
        injector.rng("reconnect", "b").random()
        == _draws(FaultInjector(FaultPlan(seed=5), "a", epoch=0.0), "reconnect", "b", 1)[0]
    )


def test_rng_draws_are_the_same_in_another_process() -> None:
    """A fresh interpreter with a different str-hash seed draws the very same numbers."""
    seed = 77
    program = (
        "import json\n"
        "from netclock import FaultPlan\n"
        "from netclock.faults.injector import FaultInjector\n"
        f"injector = FaultInjector(FaultPlan(seed={seed}), 'node-1', epoch=0.0)\n"
        "print(json.dumps([[injector.rng(p, q).random() for _ in range(5)]\n"
        "    for p in ('reconnect', 'delay') for q in ('node-2', 'é')]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=True,
    )
    injector = FaultInjector(FaultPlan(seed=seed), "node-1", epoch=0.0)
    local = [_draws(injector, p, q) for p in ("reconnect", "delay") for q in ("node-2", "é")]
    assert json.loads(result.stdout) == local, f"seed={seed}"


def test_delay_model_is_the_directions_own() -> None:
    plan = FaultPlan(delay=FixedDelay(0.004), links={("a", "b"): LinkFaults(delay=NoDelay())})
    injector = FaultInjector(plan, "a", epoch=0.0)
    assert injector.delay_model("b") == NoDelay()
    assert injector.delay_model("c") == FixedDelay(0.004)
    assert FaultInjector(None, "a", epoch=0.0).delay_model("b").is_zero


# -- configuration -----------------------------------------------------------------------------
EXAMPLE_TOML = """
[faults]
seed = 7
loss = 0.1
duplicate = 0.05
reorder = 0.1
delay = { kind = "uniform", low = 0.001, high = 0.005 }
partitions = [
  { between = ["a", "b"], one_way = false, start = 2.0, end = 5.0 },
  { groups = [["a", "b"], ["c"]], start = 7.5 },
]
links = { "a->b" = { loss = 0.3 } }
"""


def test_from_dict_reads_a_cluster_file_table() -> None:
    plan = FaultPlan.from_dict(tomllib.loads(EXAMPLE_TOML)["faults"])
    assert plan == FaultPlan(
        seed=7,
        loss=0.1,
        duplicate=0.05,
        reorder=0.1,
        delay=UniformDelay(0.001, 0.005),
        partitions=(
            Partition("a", "b", start=2.0, end=5.0),
            Partition("a", "c", start=7.5),
            Partition("b", "c", start=7.5),
        ),
        links={("a", "b"): LinkFaults(loss=0.3)},
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"los": 0.1}, "faults.los is not a known key; use one of seed, loss,"),
        ({"loss": 1.5}, "faults.loss must be a probability between 0 and 1, not 1.5"),
        ({"duplicate": "x"}, "faults.duplicate must be a probability"),
        ({"reorder": True}, "faults.reorder must be a probability"),
        ({"seed": -1}, "faults.seed must be an integer between 0 and 2**64-1"),
        ({"seed": 1.0}, "faults.seed must be an integer"),
        ({"reorder_delay": -0.1}, "faults.reorder_delay must be a non-negative number"),
        (
            {"delay": {"kind": "gauss"}},
            "faults.delay.kind must be one of none, fixed, uniform, exponential, "
            "synchronous, asynchronous, partial, not 'gauss'",
        ),
        ({"delay": {"kind": "fixed"}}, "faults.delay.seconds is required"),
        ({"delay": {"kind": "fixed", "seconds": 1, "low": 0}}, "faults.delay.low is not a known"),
        ({"delay": {"kind": "uniform", "low": 2, "high": 1}}, "faults.delay.high (1.0) must not"),
        ({"delay": "soon"}, "faults.delay must be a duration"),
        ({"delay": 3}, "faults.delay must be a table"),
        ({"partitions": {"between": ["a", "b"]}}, "faults.partitions must be a list"),
        (
            {"partitions": [{"between": ["a"]}]},
            "faults.partitions[0].between must be a list of two",
        ),
        ({"partitions": [{"between": ["a", "a"]}]}, "faults.partitions[0].between must name two"),
        ({"partitions": [{"between": ["a", "b c"]}]}, "faults.partitions[0].between[1]"),
        ({"partitions": [{"between": ["a", "b"], "end": 0}]}, "faults.partitions[0].end (0.0)"),
        ({"partitions": [{"between": ["a", "b"], "heal": 3}]}, "faults.partitions[0].heal is not"),
        ({"partitions": [{"start": 1.0}]}, "faults.partitions[0] needs exactly one of between"),
        ({"partitions": [{"groups": [["a"]]}]}, "faults.partitions[0].groups must be a list of"),
        (
            {"partitions": [{"groups": [["a", "b"], ["b"]]}]},
            "faults.partitions[0].groups lists node 'b' in more than one group",
        ),
        (
            {"partitions": [{"groups": [["a"], ["b"]], "one_way": True}]},
            "faults.partitions[0].one_way is only allowed with between",
        ),
        ({"links": {"a-b": {"loss": 0.1}}}, "faults.links key 'a-b' must name a direction"),
        ({"links": {"a->b": {"seed": 1}}}, 'faults.links."a->b".seed is not a known key'),
        ({"links": {"a->b": {"loss": 2}}}, 'faults.links."a->b".loss must be a probability'),
        ({"links": {"a->b": {}, "a<->b": {}}}, "faults.links sets a->b more than once"),
        ({"links": [1]}, "faults.links must be a table"),
    ],
)
def test_config_mistakes_raise_config_error_naming_the_key(
    table: Mapping[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        FaultPlan.from_dict(table)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FaultPlan(loss=-0.1), "FaultPlan.loss must be a probability"),
        (lambda: FaultPlan(delay=0.1), "FaultPlan.delay must be a DelayModel"),  # type: ignore[arg-type]
        (lambda: FaultPlan(partitions=(("a", "b"),)), "FaultPlan.partitions must hold Partition"),  # type: ignore[arg-type]
        (lambda: FaultPlan(links={"a->b": LinkFaults()}), "FaultPlan.links keys must be"),  # type: ignore[dict-item]
        (lambda: FaultPlan(links={("a", "b"): {"loss": 1}}), "FaultPlan.links values must be"),  # type: ignore[dict-item]
        (lambda: Partition("a", "a"), "Partition needs two different nodes"),
        (lambda: Partition("a", "b", start=3.0, end=1.0), "Partition.end (1.0) must be after"),
        (lambda: UniformDelay(0.5, 0.1), "UniformDelay.high (0.1) must not be less than low"),
        (lambda: ExponentialDelay(math.inf), "ExponentialDelay.mean must be a non-negative"),
        (lambda: LinkFaults(reorder=3), "LinkFaults.reorder must be a probability"),
    ],
)
def test_constructor_mistakes_raise_config_error_naming_the_field(make: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make()
    assert message in str(caught.value)


def test_fate_for_a_bad_node_id_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        FaultPlan(loss=0.5).fate("a b", "c", (1,), 0, 0.0)


DELAYS = st.one_of(
    st.just(NoDelay()),
    st.floats(0, 10).map(FixedDelay),
    st.tuples(st.floats(0, 1), st.floats(0, 1)).map(lambda lh: UniformDelay(min(lh), max(lh))),
    st.builds(ExponentialDelay, st.floats(0, 1), st.one_of(st.none(), st.floats(0, 5))),
)
PROBABILITIES = st.floats(0, 1)
NODES = st.sampled_from(["a", "b", "c", "node-1"])
PARTITIONS = st.builds(
    lambda a, b, one_way, start, length: Partition(
        a, b + "x", one_way, start, None if length is None else start + length
    ),
    NODES,
    NODES,
    st.booleans(),
    st.floats(0, 100),
    st.one_of(st.none(), st.floats(0.5, 100)),
)
LINK_FAULTS = st.builds(
    LinkFaults,
    st.one_of(st.none(), PROBABILITIES),
    st.one_of(st.none(), PROBABILITIES),
    st.one_of(st.none(), PROBABILITIES),
    st.one_of(st.none(), st.floats(0, 1)),
    st.one_of(st.none(), DELAYS),
)
PLANS = st.builds(
    FaultPlan,
    st.integers(0, 2**64 - 1),
    PROBABILITIES,
    PROBABILITIES,
    PROBABILITIES,
    st.floats(0, 1),
    DELAYS,
    st.lists(PARTITIONS, max_size=3).map(tuple),
    st.dictionaries(st.tuples(NODES, NODES), LINK_FAULTS, max_size=3),
)


@PROPERTY
@given(plan=PLANS)
def test_to_dict_round_trips_through_from_dict_pickle_and_copy(plan: FaultPlan) -> None:
    table = plan.to_dict()
    assert FaultPlan.from_dict(table) == plan
    assert FaultPlan.from_dict(table).to_dict() == table
    assert json.loads(json.dumps(table)) == table
    assert pickle.loads(pickle.dumps(plan)) == plan
    assert copy.deepcopy(plan) == plan
    assert hash(copy.copy(plan)) == hash(plan)


def test_plans_are_frozen_values() -> None:
    links = {("a", "b"): LinkFaults(loss=0.5)}
    plan = FaultPlan(links=links)
    links[("b", "a")] = LinkFaults()
    assert ("b", "a") not in plan.links
    with pytest.raises(AttributeError):
        plan.loss = 0.5  # type: ignore[misc]
    with pytest.raises(TypeError):
        plan.links[("c", "a")] = LinkFaults()  # type: ignore[index]


# -- durations and the command line ------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2ms", 0.002),
        ("1.5s", 1.5),
        ("500us", 0.0005),
        ("0.002", 0.002),
        ("3", 3.0),
        ("1e3ns", 1e-6),
    ],
)
def test_parse_duration_understands_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "model"),
    [
        ("none", NoDelay()),
        ("0", NoDelay()),
        ("2ms", FixedDelay(0.002)),
        ("1ms..5ms", UniformDelay(0.001, 0.005)),
        ("exp:2ms", ExponentialDelay(0.002)),
        ("exp:2ms:50ms", ExponentialDelay(0.002, 0.05)),
    ],
)
def test_parse_delay_understands_the_cli_forms(text: str, model: object) -> None:
    assert parse_delay(text) == model


@pytest.mark.parametrize("text", ["-2ms", "2 weeks", "5ms..1ms", "exp:", "exp:1ms:2ms:3ms", ""])
def test_parse_delay_rejects_nonsense_naming_the_flag(text: str) -> None:
    with pytest.raises(ConfigError, match="--delay"):
        parse_delay(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netclock", exit_on_error=False)
    add_fault_flags(parser)
    return parser


def test_cli_flags_build_a_plan() -> None:
    args = _parser().parse_args(
        [
            "--seed",
            "7",
            "--loss",
            "0.1",
            "--duplicate",
            "0.05",
            "--reorder",
            "0.1",
            "--reorder-delay",
            "3ms",
            "--delay",
            "1ms..5ms",
        ]
    )
    assert plan_from_flags(args) == FaultPlan(
        seed=7,
        loss=0.1,
        duplicate=0.05,
        reorder=0.1,
        reorder_delay=0.003,
        delay=UniformDelay(0.001, 0.005),
    )


def test_cli_flags_override_only_what_they_set() -> None:
    base = FaultPlan.from_dict(tomllib.loads(EXAMPLE_TOML)["faults"])
    assert plan_from_flags(_parser().parse_args([]), base) is base
    plan = plan_from_flags(_parser().parse_args(["--loss", "0.5"]), base)
    assert plan.loss == 0.5
    assert (plan.seed, plan.partitions, plan.links) == (base.seed, base.partitions, base.links)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [(["--loss", "2"], "--loss"), (["--seed", "-3"], "--seed"), (["--delay", "x"], "--delay")],
)
def test_cli_rejects_bad_values_naming_the_flag(argv: list[str], flag: str) -> None:
    with pytest.raises(argparse.ArgumentError) as caught:
        _parser().parse_args(argv)
    assert flag in str(caught.value)
