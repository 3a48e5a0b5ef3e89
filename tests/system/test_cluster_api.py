"""The Python cluster API with real OS processes: handles, results, faults, clean stops."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from netclock import ConfigError, FaultPlan, NetclockError, Node
from netclock.cluster.config import load_cluster
from netclock.testing import start_cluster

pytestmark = [pytest.mark.system, pytest.mark.timeout(90)]

REPO = Path(__file__).resolve().parents[2]
CRASH = f"{REPO / 'demos' / 'crash.py'}:main"


async def adder(node: Node, to: str = "", count: int = 20) -> int:
    """Send 0..count-1 to ``to``; or, without ``to``, return the sum of ``count`` deliveries."""
    if to:
        for i in range(count):
            await node.send(to, i)
        await node.flush()
        return count
    total = 0
    for _ in range(count):
        total += (await node.receive()).payload
    return total


async def idle(node: Node) -> None:
    """Run until the run stops the node."""
    await asyncio.Event().wait()


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def faults_of(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "faults.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


async def test_a_python_description_runs_and_returns_each_programs_value(tmp_path: Path) -> None:
    description = {
        "name": "adders",
        "program": adder,
        "node": [{"id": "a", "args": {"to": "b"}}, "b"],
    }
    async with start_cluster(description, run_dir=tmp_path / "run") as run:
        a = run.node("a")
        assert a.address[0] == "127.0.0.1"
        assert a.address[1] > 0
        assert alive(a.pid)
        result = await run.wait()
    assert result.ok, result.report
    assert result.returned == {"a": 20, "b": sum(range(20))}
    assert result.nodes["b"].status == "done"
    saved = json.loads(result.results_file.read_text(encoding="utf-8"))
    assert saved == {"a": 20, "b": 190}
    assert result.viewer.is_file()
    assert result.merged_log is not None
    assert result.nodes["a"].event_log.is_file()
    assert (result.run_dir / "cluster.toml").is_file()


@pytest.mark.slow
async def test_kill_and_partition_from_python_are_the_checkers_ground_truth(
    tmp_path: Path,
) -> None:
    description = {
        "name": "crashes",
        "give_up_after": 1,
        "program": CRASH,
        "args": {"count": 60, "every": 0.02, "quiet": 3.0},
        "node": ["a", "b", "c"],
    }
    async with start_cluster(
        description, run_dir=tmp_path / "run", faults=FaultPlan(loss=0.1), seed=11
    ) as run:
        c = run.node("c")
        pid = c.pid
        await run.partition("a", "b")
        await run.heal("a", run.node("b"))
        await c.kill()
        assert not alive(pid)
        assert not c.running
        result = await run.wait()
    assert result.seed == 11
    assert result.nodes["c"].status == "killed"
    assert result.nodes["a"].status == "done"
    assert result.report.ok, result.report
    by_api = [(f["do"], f.get("node"), f.get("nodes")) for f in faults_of(result.run_dir)]
    assert ("partition", None, ["a", "b"]) in by_api
    assert ("heal", None, ["a", "b"]) in by_api
    assert ("kill", "c", None) in by_api
    crashed = {n.node for n in result.report.nodes if not n.correct}
    assert crashed == {"c"}
    assert json.loads((result.run_dir / "run.json").read_text())["seed"] == 11


async def test_restart_returns_once_the_new_life_runs(tmp_path: Path) -> None:
    description = {"program": idle, "node": ["a", "b"], "duration": 30}
    async with start_cluster(description, run_dir=tmp_path / "run") as run:
        b = run.node("b")
        first, address = b.pid, b.address
        await b.restart(after=0.1)
        assert b.pid != first
        assert alive(b.pid)
        assert b.address == address
        with pytest.raises(ConfigError, match="two different nodes"):
            await b.partition("b")
        with pytest.raises(ConfigError, match="no node 'z'"):
            await run.partition("a", "z")
        await b.kill()
        with pytest.raises(NetclockError, match=r"b was not restarted \(kill is crash-stop"):
            await b.restart(after=0.1)
        result = await run.stop()
    with pytest.raises(NetclockError, match="the cluster run is over"):
        await b.kill()
    assert result.stop_reason == "interrupted"
    assert result.nodes["b"].restarted
    assert [f["do"] for f in faults_of(result.run_dir) if f.get("node") == "b"][:4] == [
        "start",
        "kill",
        "exit",
        "start",
    ]


async def test_leaving_on_an_error_stops_every_process(tmp_path: Path) -> None:
    pids: list[int] = []

    async def failing_test() -> None:
        async with start_cluster(
            {"program": idle, "node": ["a", "b", "c"]}, run_dir=tmp_path / "run"
        ) as run:
            pids.extend(h.pid for h in run.nodes.values())
            await run.node("a").pause()  # a paused process is stopped too
            raise RuntimeError("the test failed")

    with pytest.raises(RuntimeError, match="the test failed"):
        await failing_test()
    assert len(pids) == 3
    assert [pid for pid in pids if alive(pid)] == []


async def test_a_cancelled_test_stops_every_process(tmp_path: Path) -> None:
    pids: list[int] = []
    running = asyncio.Event()

    async def body() -> None:
        async with start_cluster(
            {"program": idle, "node": ["a", "b"]}, run_dir=tmp_path / "run"
        ) as run:
            pids.extend(h.pid for h in run.nodes.values())
            running.set()
            await run.wait()

    task = asyncio.ensure_future(body())
    await running.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [pid for pid in pids if alive(pid)] == []


async def test_a_node_that_cannot_start_is_one_clear_error(tmp_path: Path) -> None:
    description = {"program": "missing.py:main", "node": ["a"]}
    run = start_cluster(description, run_dir=tmp_path / "run", base_dir=tmp_path)
    with pytest.raises(NetclockError, match=r"missing\.py does not exist"):
        async with run:
            pass


def test_a_used_run_folder_is_refused(tmp_path: Path) -> None:
    used = tmp_path / "run"
    used.mkdir()
    (used / "a.events.jsonl").write_text("")
    with pytest.raises(ConfigError, match="already holds files of another run"):
        start_cluster({"program": idle, "node": ["a"]}, run_dir=used)
    assert os.listdir(used) == ["a.events.jsonl"]


async def test_the_run_folders_cluster_file_is_what_ran(tmp_path: Path) -> None:
    description = {"program": adder, "node": [{"id": "a", "args": {"to": "b"}}, "b"]}
    plan = FaultPlan(seed=3, duplicate=0.5)
    async with start_cluster(
        description, run_dir=tmp_path / "run", faults=plan, seed=21, link="fairloss"
    ) as run:
        assert run.seed == 21
    written = load_cluster(tmp_path / "run" / "cluster.toml")
    assert written.link == "fairloss"
    assert written.faults == FaultPlan(seed=21, duplicate=0.5)


def test_a_bad_description_leaves_no_run_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="link must be one of"):
        start_cluster({"program": idle, "node": ["a"], "link": "pigeon"}, run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


async def test_a_tls_run_gets_its_own_certificates(tmp_path: Path) -> None:
    description = {"program": adder, "node": [{"id": "a", "args": {"to": "b"}}, "b"]}
    async with start_cluster(description, run_dir=tmp_path / "run", link="tls") as run:
        result = await run.wait()
    assert result.returned == {"a": 20, "b": 190}
    assert (tmp_path / "run" / "certs" / "ca.pem").is_file()
    assert result.report.link_promises["tls"]
