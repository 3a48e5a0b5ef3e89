"""``netclock bench --scenario scale``: clusters of real OS processes, all-to-all, every
figure read from what the run left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netclock.cluster.config import load_cluster
from netclock.tools.bench.scale import cluster_text, format_scale, per_peer_count, tls_lines

pytestmark = [pytest.mark.system]


def test_cluster_file_of_a_size_names_every_process_once(tmp_path: Path) -> None:
    path = tmp_path / "scale.toml"
    path.write_text(cluster_text(64, per_peer_count(64, 50_000), "reliable", 60.0))
    cluster = load_cluster(path)
    assert len(set(cluster.node_ids)) == 64
    assert cluster.node(cluster.node_ids[0]).args == {"per_peer": 12, "size": 16}


def test_tls_cluster_file_gives_every_pair_the_whole_run_to_connect(tmp_path: Path) -> None:
    path = tmp_path / "scale.toml"
    path.write_text(cluster_text(32, 1, "tls", 45.0, tls_lines(45.0)))
    cluster = load_cluster(path)
    assert cluster.link == "tls"
    assert cluster.give_up_after == 45.0


def test_per_peer_count_keeps_at_least_one_message_a_pair() -> None:
    assert per_peer_count(4, 60_000) == 5_000
    assert per_peer_count(256, 1_000) == 1


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quick_scale_bench_delivers_everything_and_reports_each_figure() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "netclock", "bench", "--scenario", "scale", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)["scale"]
    assert report["status"] == "ok"
    assert [row["processes"] for row in report["rows"]] == [4, 16]
    for row in report["rows"]:
        n = row["processes"]
        assert row["messages"] == n * (n - 1) * per_peer_count(n, 2_000)
        assert 0 < row["startup_s"] < row["wall_s"]
        assert 0 <= row["post_run_share"] < 1
        assert row["launcher_peak_rss_mb"] > 10
        assert row["msgs_per_s"] > 0
        assert row["cpu_us_per_msg"] > 0
        assert row["cpu_ms_per_pair"] > 0
        span = row["messages"] / row["msgs_per_s"]  # span_s is rounded to the millisecond
        assert row["span_s"] == pytest.approx(span, rel=0.01, abs=0.0006)
        assert row["start_cpu_ms"] > 0
        assert row["messages_per_pair"] == per_peer_count(n, 2_000)
        assert 0 < row["carrying_datagrams_per_msg"] <= row["datagrams_per_msg"]
        steps = row["start_phases"]
        assert {"server", "fork", "bound", "ready"} <= set(steps), steps
        assert steps["bound"]["last"] <= steps["ready"]["last"] == row["startup_s"]
    text = "\n".join(format_scale(report))
    assert "spurious %" in text
    assert "CPU ms/pair" in text
    assert "start of 16" in text
