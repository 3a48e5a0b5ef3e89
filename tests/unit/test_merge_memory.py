"""merge_logs streams with many hosts: it holds one chunk's lines per host, not that chunk's
decoded clocks (32 hosts kept 67 MB of them alive for a 20,000-event run)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from netclock.observe.shiviz import merge_logs
from netclock.tools.synthetic import write_synthetic_run


@pytest.mark.timeout(120)
def test_many_hosts_merge_in_little_memory(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    write_synthetic_run(folder, nodes=32, events=20_000, govector=True, link="reliable", loss=0)
    logs = sorted(folder.glob("n*.log"))
    assert len(logs) == 32
    tracemalloc.start()
    try:
        problems = merge_logs(logs, folder / "merged.log")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problems == []
    assert peak < 30 * 2**20, f"merge peaked at {peak / 2**20:.0f} MB"
