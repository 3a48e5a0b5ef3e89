"""Compressed clocks in launcher runs: real OS processes, seeded faults, a kill -9 and a
restart. The checker's no-creation judgement compares every delivery's clock with the
clock its sender logged, so a clock rebuilt wrong anywhere fails the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import assert_checks_ok, assert_run_folder, explain, netclock

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(90)]

PROGRAMS = """
import asyncio

async def stream(node, count=150, pace=0.004):
    for i in range(count):
        for peer in sorted(node.peers):
            await node.send(peer, i)
        await asyncio.sleep(pace)
    print("stream done")
"""

CLUSTER = """
name = "diff-clocks"
link = "reliable"
duration = 60
clock_encoding = "diff"
{body}
[faults]
seed = {seed}
loss = 0.1
duplicate = 0.05
reorder = 0.1
[[node]]
id = "a"
[[node]]
id = "b"
[[node]]
id = "c"
[[node]]
id = "d"
"""


def run(tmp_path: Path, body: str, seed: int) -> Path:
    (tmp_path / "p.py").write_text(PROGRAMS)
    cluster = tmp_path / "c.toml"
    cluster.write_text(CLUSTER.format(body=body, seed=seed))
    run_dir = tmp_path / "run"
    proc = netclock("run", str(cluster), "--out", str(run_dir), timeout=80)
    assert proc.returncode == 0, explain(proc, seed)
    return run_dir


def test_all_to_all_in_rounds_with_diff_clocks_under_loss_passes_the_checker(
    tmp_path: Path,
) -> None:
    body = (
        'program = "netclock.tools.bench.scale_program:all_to_all"\n'
        "args = { per_peer = 40, size = 16, burst = 4 }"
    )
    run_dir = run(tmp_path, body, seed=5)
    assert_run_folder(run_dir, "abcd")
    assert_checks_ok(run_dir)


def test_diff_clocks_across_a_kill_and_restart_pass_the_checker(tmp_path: Path) -> None:
    body = 'program = "p.py:stream"\n[[action]]\nat = 0.6\ndo = "restart"\nnode = "b"\nafter = 0.3'
    run_dir = run(tmp_path, body, seed=9)
    assert_run_folder(run_dir, "abcd")
    assert_checks_ok(run_dir)


def test_quick_manyproc_bench_measures_both_encodings() -> None:
    proc = netclock("bench", "--scenario", "manyproc", "--quick", "--json", timeout=80)
    assert proc.returncode in (0, 1), explain(proc)
    report = json.loads(proc.stdout)["manyproc"]
    assert report["status"] == "ok", report
    assert {(r["encoding"], r["processes"]) for r in report["rows"]} == {
        (e, n) for e in ("full", "diff") for n in (4, 8)
    }
    assert all(r["cpu_us_per_msg"] > 0 and r["msgs_per_s"] > 0 for r in report["rows"])
