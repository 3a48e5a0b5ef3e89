"""A TLS run under a fault plan replays from its seed: the same delays, cuts and jitter draws.

Two real TLS nodes on 127.0.0.1 run the same scenario under the same plan (a seed, a
per-write delay model, a scheduled partition) while ``a`` also dials a peer that never
answers, so its reconnect backoff draws jitter. What the seed and the plan decide is
recorded and compared: the delay of every write in each direction, the cuts and heals
(as times since the fault epoch) and the backoff factors, attempt by attempt. How many
writes and dial attempts a run makes is up to the OS, so streams are compared on their
common prefix; every stream is also the one a fresh :class:`FaultInjector` built from the
plan alone hands out, which is what "replayable in any process" means.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from netclock import FaultPlan, Node, Partition, UniformDelay
from netclock.faults.injector import FaultInjector
from netclock.links.tls import certs
from netclock.links.tls.faults import FaultChange
from netclock.links.tls.link import TlsLink

pytestmark = pytest.mark.timeout(30)

STEP = 5.0
"""Longest any single network step may take before the test fails."""
UNUSED = ("127.0.0.1", 9)
"""Nobody listens here: ``a``'s dials to ``c`` fail, each followed by a jittered backoff."""
CUT = (0.8, 1.1)
"""The planned partition between ``a`` and ``b``, in seconds since the fault epoch."""
DELAY = UniformDelay(0.0005, 0.003)


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls-replay") / "certs"
    certs.init_cluster(directory, ["a", "b", "c"], cluster="lab")
    return directory


def plan_of(seed: int) -> FaultPlan:
    return FaultPlan(
        seed=seed, delay=DELAY, partitions=(Partition("a", "b", start=CUT[0], end=CUT[1]),)
    )


@dataclass
class Record:
    """What one run's fault decisions were (the ``a -> b`` direction is ``"a>b"``)."""

    delays: dict[str, list[float]] = field(default_factory=lambda: {"a>b": [], "b>a": []})
    jitter: dict[str, list[float]] = field(default_factory=lambda: {"a>c": [], "a>b": []})
    changes: dict[str, list[FaultChange]] = field(default_factory=dict)
    connections_lost: dict[str, int] = field(default_factory=dict)


def tls_link(node: Node) -> TlsLink:
    link = node._link
    assert isinstance(link, TlsLink)
    return link


def record_draws(rng: random.Random, into: list[float]) -> None:
    """Append every number ``rng.random()`` hands out to ``into``."""
    draw = rng.random

    def recorded() -> float:
        value = draw()
        into.append(value)
        return value

    rng.random = recorded  # type: ignore[method-assign]


def record_delays(link: TlsLink, into: list[float]) -> None:
    """Append the delay the link's faults give each write to ``into``."""
    faults = link._faults
    delay: Callable[[str], float | None] = faults.delay

    def recorded(peer: str) -> float | None:
        seconds = delay(peer)
        if seconds is not None:
            into.append(seconds)
        return seconds

    faults.delay = recorded  # type: ignore[method-assign]


async def run(cert_dir: Path, seed: int) -> Record:
    """``a`` sends to ``b`` one message at a time across the planned partition."""
    plan, epoch, record = plan_of(seed), time.time(), Record()
    async with contextlib.AsyncExitStack() as stack:
        a, b = [
            await stack.enter_async_context(
                Node(
                    i,
                    link="tls",
                    cert_dir=cert_dir,
                    faults=plan,
                    fault_epoch=epoch,
                    close_timeout=0.1,
                )
            )
            for i in ("a", "b")
        ]
        la, lb = tls_link(a), tls_link(b)
        record_delays(la, record.delays["a>b"])
        record_delays(lb, record.delays["b>a"])
        for peer in ("c", "b"):
            record_draws(la._faults.jitter(peer), record.jitter[f"a>{peer}"])
        a.add_peer("b", b.address)
        a.add_peer("c", UNUSED)
        b.add_peer("a", a.address)
        await a.send("c", "never delivered")
        sent = 0
        while sent < 20 or len(la._faults.changes) < 2 or len(lb._faults.changes) < 2:
            await a.send("b", sent)
            msg = await b.receive(STEP)
            assert (msg.sender, msg.payload) == ("a", sent), f"seed={seed}"
            if sent == 0:
                assert la.connection("b") is not None
                assert time.time() - epoch < CUT[0] - 0.1, (
                    f"seed={seed}: start-up took too long to be up before the planned cut"
                )
            sent += 1
        record.changes = {"a": list(la._faults.changes), "b": list(lb._faults.changes)}
        record.connections_lost = {
            "a": la.stats()["connections_lost"],
            "b": lb.stats()["connections_lost"],
        }
    return record


def common_prefix(first: list[float], second: list[float]) -> tuple[list[float], list[float]]:
    n = min(len(first), len(second))
    return first[:n], second[:n]


def schedule(changes: list[FaultChange]) -> list[tuple[float, str, bool]]:
    """The changes with their times rounded off the epoch's float noise (1 ms grain)."""
    return [(round(c.at, 3), c.peer, c.cut) for c in changes]


async def test_a_tls_run_under_a_fault_plan_replays_from_its_seed(cert_dir: Path) -> None:
    seed = random.randrange(2**32)
    first = await run(cert_dir, seed)
    second = await run(cert_dir, seed)
    context = f"seed={seed}"

    for direction in ("a>b", "b>a"):
        assert len(first.delays[direction]) >= 10, context
        one, two = common_prefix(first.delays[direction], second.delays[direction])
        assert one == two, f"{context}: the delays {direction} differ between runs"
        assert all(DELAY.low <= d < DELAY.high for d in one), context
    for direction in ("a>c", "a>b"):
        one, two = common_prefix(first.jitter[direction], second.jitter[direction])
        assert one == two, f"{context}: the reconnect jitter {direction} differs between runs"
    assert len(first.jitter["a>c"]) >= 3, f"{context}: {first.jitter}"

    planned = [(CUT[0], "b", True), (CUT[1], "b", False)]
    for rec in (first, second):
        assert schedule(rec.changes["a"]) == planned, context
        assert schedule(rec.changes["b"]) == [(t, "a", cut) for t, _, cut in planned], context
        assert rec.connections_lost["a"] >= 1, f"{context}: the cut must drop the connection"
        assert rec.connections_lost["b"] >= 1, f"{context}: the cut must drop the connection"

    # What the runs drew is what the plan alone gives, in any process.
    fresh = FaultInjector(plan_of(seed), "a", epoch=0.0)
    for peer in ("b", "c"):
        rng = fresh.rng("reconnect", peer)
        drawn = first.jitter[f"a>{peer}"]
        assert drawn == [rng.random() for _ in drawn], context
    for sender, receiver in (("a", "b"), ("b", "a")):
        injector = FaultInjector(plan_of(seed), sender, epoch=0.0)
        model, rng = injector.delay_model(receiver), injector.rng("delay", receiver)
        drawn = first.delays[f"{sender}>{receiver}"]
        assert drawn == [model.sample(rng.random()) for _ in drawn], context


async def test_another_seed_gives_other_delays_and_jitter(cert_dir: Path) -> None:
    seed = random.randrange(2**32)
    one, other = await asyncio.gather(run(cert_dir, seed), run(cert_dir, seed + 1))
    context = f"seeds {seed} and {seed + 1}"
    assert one.delays["a>b"][:5] != other.delays["a>b"][:5], context
    assert one.jitter["a>c"][:3] != other.jitter["a>c"][:3], context
    assert schedule(one.changes["a"]) == schedule(other.changes["a"]), (
        f"{context}: the schedule is the plan's, whatever the seed"
    )
