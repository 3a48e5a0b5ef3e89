"""``netclock bench --scenario peers`` and ``--scenario large``: real processes, tiny sizes.

The peers scenario needs the optional ``bench`` extra (aioquic, pyzmq); its test skips
without it, and ``.ci/run`` installs it so it runs there.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

import pytest

from netclock.tools.bench import peers
from netclock.tools.bench.large import SIZES, TARGET_FROM, format_large
from netclock.tools.bench.runner import make_settings

pytestmark = [pytest.mark.system, pytest.mark.timeout(300)]


def run_bench(*options: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "netclock", "bench", "--quick", "--json", *options],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert proc.returncode == 0, f"bench failed ({proc.returncode}): {proc.stderr[-2000:]}"
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


@pytest.mark.slow
@pytest.mark.skipif(
    not peers.extra_installed(),
    reason="the bench extra (aioquic, pyzmq) is not installed: pip install 'netclock[bench]'",
)
def test_peers_puts_both_links_beside_aioquic_and_pyzmq_in_one_run() -> None:
    report = run_bench(
        "--scenario", "peers", "--count", "300", "--round-trips", "30", "--warmup", "3"
    )
    section = report["peers"]
    assert section["status"] == "ok", section["reason"]
    rows = section["rows"]
    assert {(r["metric"], r["link"], r["peer"]) for r in rows} == {
        (metric, link, peer)
        for metric in ("one-way msgs/s", "round-trip p50 µs")
        for link in ("reliable", "tls")
        for peer in ("quic", "zmq")
    }
    for row in rows:
        assert row["netclock"] > 0
        assert row["baseline"] > 0
        assert row["ratios"]
        assert row["ratio"] > 0
        assert row["target_met"] is None  # a --quick run is not judged


async def test_peers_without_the_extra_says_so_in_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(peers, "extra_installed", lambda: False)
    progress = io.StringIO()
    report = await peers.peers_bench(make_settings(quick=True), progress)
    assert report["status"] == "skipped"
    assert "pip install 'netclock[bench]'" in report["reason"]
    assert report["reason"] in progress.getvalue()
    assert peers.format_peers(report, 1)[-1] == f"  skipped: {report['reason']}"


@pytest.mark.slow
def test_large_gives_mb_per_s_beside_raw_tcp_and_mtls_streams() -> None:
    report = run_bench("--scenario", "large")
    section = report["large"]
    assert section["status"] == "ok", section["reason"]
    rows = section["rows"]
    assert [(r["link"], r["size"]) for r in rows] == [
        (link, size) for link in ("reliable", "tls") for size in SIZES
    ]
    for row in rows:
        assert row["netclock_mbps"] > 0
        assert row["baseline_mbps"] > 0
        assert (row["target"] is not None) == (row["size"] >= TARGET_FROM)
    text = "\n".join(format_large(section, 1))
    assert "raw TCP streams" in text
    assert "plain mTLS streams" in text
