"""The plugin's public fixtures as a user's test suite uses them, with real OS processes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from netclock import FaultPlan
from netclock.testing import ClusterRun, TestCA, assert_exactly_once, assert_fifo

pytestmark = [pytest.mark.system, pytest.mark.timeout(90)]

CRASH = Path(__file__).resolve().parents[2] / "demos" / "crash.py"


async def test_three_processes_with_loss_and_a_kill_deliver_exactly_once_among_the_rest(
    netclock_cluster: Callable[..., Awaitable[ClusterRun]],
    netclock_faults: Callable[..., FaultPlan],
) -> None:
    run = await netclock_cluster(
        {
            "name": "three",
            "link": "reliable",
            "give_up_after": 1,
            "program": f"{CRASH}:main",
            "args": {"count": 80, "every": 0.01, "quiet": 3.0},
            "node": ["a", "b", "c"],
        },
        faults=netclock_faults(loss=0.2),
    )
    await run.node("c").kill()
    result = await run.wait()
    assert result.nodes["c"].status == "killed"
    assert result.returned["a"]["b"]["got"] == 80
    assert result.returned["b"]["a"]["got"] == 80
    assert_exactly_once(result)
    assert_fifo(result)
    lost = result.report.pair("a", "b")
    assert lost.sent == 80
    assert lost.delivered == 80
    assert lost.duplicated == 0


async def test_the_same_test_with_a_flaky_link_fails_exactly_once_and_says_where(
    netclock_cluster: Callable[..., Awaitable[ClusterRun]],
    netclock_faults: Callable[..., FaultPlan],
) -> None:
    run = await netclock_cluster(
        {
            "link": "fairloss",
            "program": f"{CRASH}:main",
            "args": {"count": 40, "every": 0.005, "quiet": 0.5},
            "node": ["a", "b"],
        },
        faults=netclock_faults(loss=0.3, duplicate=0.3),
    )
    result = await run.wait()
    with pytest.raises(AssertionError) as failure:
        assert_exactly_once(result)
    message = str(failure.value)
    assert f"run folder {result.run_dir}" in message
    assert f"fault seed {result.seed}" in message
    assert "no_duplication: " in message
    assert "extra deliver" in message
    assert ".events.jsonl:" in message  # the example names the file and line


async def test_a_tls_cluster_with_the_session_ca(
    netclock_cluster: Callable[..., Awaitable[ClusterRun]], netclock_ca: TestCA
) -> None:
    run = await netclock_cluster(
        {
            "program": f"{CRASH}:main",
            "args": {"count": 20, "every": 0.005, "quiet": 3.0},
            "node": ["a", "b"],
        },
        link="tls",
        cert_dir=netclock_ca.issue("a", "b"),
    )
    result = await run.wait()
    assert result.returned["a"]["b"]["got"] == 20
    assert not (result.run_dir / "certs").exists()  # the session CA's, not a fresh one
    report = assert_exactly_once(result)
    assert "authenticity" in report.link_promises["tls"]
