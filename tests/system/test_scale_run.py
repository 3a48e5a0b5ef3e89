"""64 OS processes on one machine: they start, run all-to-all over the perfect link, and the
run passes the checker, within a bounded time (the figures belong to ``bench --scenario
scale``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import netclock

from netclock.tools.bench.scale import cluster_text

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(300)]

PROCESSES = 64
PER_PEER = 3


def test_64_processes_start_run_all_to_all_and_pass_the_checker(tmp_path: Path) -> None:
    cluster = tmp_path / "scale.toml"
    cluster.write_text(cluster_text(PROCESSES, PER_PEER, "reliable", duration=120.0))
    run = tmp_path / "run"
    done = netclock("run", str(cluster), "--out", str(run), timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "verdict: OK" in done.stdout
    record = [json.loads(x) for x in (run / "faults.jsonl").read_text().splitlines()]
    pids = {r["node"]: r["pid"] for r in record if r["do"] == "start"}
    assert len(pids) == PROCESSES
    assert len(set(pids.values())) == PROCESSES
    results = json.loads((run / "results.json").read_text())
    assert len(results) == PROCESSES
    assert all(r["delivered"] == PER_PEER * (PROCESSES - 1) for r in results.values())
