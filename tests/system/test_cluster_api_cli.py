"""``netclock run`` / ``netclock demo`` options that change a run without editing its file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import explain, netclock

pytestmark = [pytest.mark.system, pytest.mark.timeout(90)]

PROGRAMS = """
import asyncio

async def sender(node, count=30):
    for i in range(count):
        await node.send("b", i)
    return count

async def receiver(node, quiet=2.0):
    # what came until quiet seconds passed without a message (fair-loss: no end mark)
    got = []
    while True:
        try:
            got.append((await node.receive(timeout=quiet)).payload)
        except TimeoutError:
            return got

async def forever(node):
    await asyncio.Event().wait()
"""

CLUSTER = """
name = "flags"
link = "fairloss"
duration = 20
[faults]
seed = 1
duplicate = 0.0
[[node]]
id = "a"
program = "flow.py:sender"
[[node]]
id = "b"
program = "flow.py:receiver"
"""


def cluster(tmp_path: Path, body: str = CLUSTER) -> Path:
    (tmp_path / "flow.py").write_text(PROGRAMS)
    path = tmp_path / "c.toml"
    path.write_text(body)
    return path


def received(run_dir: Path) -> list[int]:
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    got: list[int] = results["b"]
    return got


@pytest.mark.slow
def test_fault_flags_reach_every_node_and_the_seed_replays_the_fates(tmp_path: Path) -> None:
    path = cluster(tmp_path)
    runs = []
    for name, seed in (("one", "7"), ("two", "7"), ("other", "8")):
        out = tmp_path / name
        proc = netclock("run", str(path), "--out", str(out), "--seed", seed, "--loss", "0.3")
        assert proc.returncode == 0, explain(proc, seed)
        info = json.loads((out / "run.json").read_text(encoding="utf-8"))
        assert info["seed"] == int(seed)
        runs.append(received(out))
    one, two, other = runs
    assert 0 < len(one) < 30, "a loss of 0.3 of 30 datagrams lost none or all"
    assert one == two, "the same --seed lost other datagrams"
    assert one != other


@pytest.mark.slow
def test_loss_one_from_the_command_line_overrides_the_file(tmp_path: Path) -> None:
    path = cluster(tmp_path)
    out = tmp_path / "run"
    proc = netclock("run", str(path), "--out", str(out), "--loss", "1")
    assert proc.returncode == 0, explain(proc)
    assert received(out) == []
    info = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert info["seed"] == 1  # the file's seed, kept: only --loss was given


def test_a_used_run_folder_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = cluster(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    (out / "a.events.jsonl").write_text("old run\n")
    proc = netclock("run", str(path), "--out", str(out))
    assert proc.returncode == 2, explain(proc)
    assert "already holds files of another run" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.events.jsonl"]


@pytest.mark.slow
def test_duration_from_the_command_line_ends_a_run(tmp_path: Path) -> None:
    body = CLUSTER.replace("flow.py:receiver", "flow.py:forever")
    path = cluster(tmp_path, body)
    proc = netclock("run", str(path), "--out", str(tmp_path / "run"), "--duration", "1s")
    assert proc.returncode == 4, explain(proc)
    assert "duration of 1 s is over" in proc.stdout


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--seed", "-1", "--seed must be an integer"),
        ("--delay", "soon", "--delay"),
        ("--duration", "forever", "--duration must be a duration"),
    ],
)
def test_a_bad_flag_is_one_usage_error_naming_it(
    tmp_path: Path, flag: str, value: str, says: str
) -> None:
    proc = netclock("demo", "pingpong", "--out", str(tmp_path / "run"), flag, value)
    assert proc.returncode == 2, explain(proc)
    assert says in proc.stderr
    assert not (tmp_path / "run").exists()
