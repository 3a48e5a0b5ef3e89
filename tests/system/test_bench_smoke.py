"""``netclock bench --quick``: real OS processes on loopback, every figure beside a baseline.

The quick bench (its default scenarios: one-way, round-trip and tls) runs once per module (a
few seconds) and the tests below read its JSON.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from netclock.cli.bench import build_parser, settings_from
from netclock.errors import ConfigError
from netclock.tools.bench import runner as bench
from netclock.tools.bench.runner import BenchError, Settings, children, format_table
from netclock.tools.bench.worker import complete_frames, frame_of

pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]

TLS_ORDER = ["tls/one-way", "tls/round-trip", "tls/set-up"]
TLS_KEYS = set(TLS_ORDER)


def _run_bench(python: str, *options: str) -> dict[str, Any]:
    proc = subprocess.run(
        [python, "-m", "netclock", "bench", "--quick", "--json", *options],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert proc.returncode == 0, f"bench failed ({proc.returncode}): {proc.stderr[-2000:]}"
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


@pytest.fixture(scope="module")
def quick_report() -> dict[str, Any]:
    return _run_bench(sys.executable)


def _by_key(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {sc["key"]: sc for sc in report["scenarios"]}


@pytest.mark.slow
def test_quick_bench_names_the_machine(quick_report: dict[str, Any]) -> None:
    machine = quick_report["machine"]
    assert machine["cores"] >= 1
    assert machine["cpu"]
    assert machine["python"].startswith(("CPython", "PyPy"))
    assert isinstance(machine["uvloop"], bool)


@pytest.mark.slow
def test_every_available_scenario_reports_a_positive_figure_beside_its_baseline(
    quick_report: dict[str, Any],
) -> None:
    scenarios = _by_key(quick_report)
    assert set(scenarios) == {
        "one-way/fairloss",
        "one-way/fairloss+govector",
        "one-way/reliable",
        "one-way/reliable+govector",
        "one-way/reliable+loss",
        "round-trip/fairloss",
        "round-trip/reliable",
        *TLS_KEYS,
    }
    for key, sc in scenarios.items():
        assert sc["status"] == "ok", f"{key}: {sc['reason']}"
        summary = sc["summary"]
        assert summary["ratio"] > 0, key
        if sc["measure"] == "one-way":
            assert summary["netclock_rate"] > 0, key
            assert summary["baseline_rate"] > 0, key
        elif sc["measure"] == "set-up":
            assert 0 < summary["netclock_p50_ms"] <= summary["netclock_max_ms"], key
            assert 0 < summary["baseline_p50_ms"] <= summary["baseline_max_ms"], key
        else:
            assert 0 < summary["netclock_p50_us"] <= summary["netclock_p99_us"], key
            assert 0 < summary["baseline_p50_us"] <= summary["baseline_p99_us"], key


@pytest.mark.slow
def test_fair_loss_scenarios_always_run(quick_report: dict[str, Any]) -> None:
    scenarios = _by_key(quick_report)
    for key in ("one-way/fairloss", "one-way/fairloss+govector", "round-trip/fairloss"):
        assert scenarios[key]["status"] == "ok", f"{key}: {scenarios[key]['reason']}"


@pytest.mark.slow
def test_pl1_pl2_perfect_link_delivers_every_message_exactly_once_even_under_10pct_loss(
    quick_report: dict[str, Any],
) -> None:
    settings = quick_report["settings"]
    for key in ("one-way/reliable", "one-way/reliable+govector", "one-way/reliable+loss"):
        sc = _by_key(quick_report)[key]
        assert sc["status"] == "ok", f"{key}: {sc['reason']}"
        assert sc["exactly_once"], f"{key} (seed {settings['seed']})"
        for run in sc["netclock"]:
            assert run["unique"] == run["count"] == settings["count"], f"{key}: {run}"
            assert run["duplicates"] == 0, f"{key} (seed {settings['seed']}): {run}"


@pytest.mark.slow
def test_tls_rows_stand_beside_plain_mutual_tls_streams(quick_report: dict[str, Any]) -> None:
    rows = [sc for sc in quick_report["scenarios"] if sc["group"] == "tls"]
    assert {sc["key"] for sc in rows} == TLS_KEYS
    assert {sc["measure"] for sc in rows} == {"one-way", "round-trip", "set-up"}
    for sc in rows:
        assert sc["link"] == "tls", sc["key"]
        assert sc["baseline_name"] == "plain mTLS streams", sc["key"]
        assert sc["status"] == "ok", f"{sc['key']}: {sc['reason']}"


@pytest.mark.slow
def test_al1_al2_tls_link_delivers_every_message_exactly_once(
    quick_report: dict[str, Any],
) -> None:
    count = quick_report["settings"]["count"]
    sc = _by_key(quick_report)["tls/one-way"]
    assert sc["status"] == "ok", sc["reason"]
    assert sc["exactly_once"], sc
    for run in sc["netclock"]:
        assert run["unique"] == run["count"] == count, run
        assert run["delivered"] == count, run
        assert run["duplicates"] == 0, run
        assert run["rate"] > 0, run
    for run in sc["baseline"]:
        assert run["unique"] == run["delivered"] == count, f"a TCP stream lost frames: {run}"


@pytest.mark.slow
def test_tls_round_trips_and_set_ups_are_all_measured(quick_report: dict[str, Any]) -> None:
    chosen = quick_report["settings"]
    scenarios = _by_key(quick_report)
    for run in scenarios["tls/round-trip"]["netclock"] + scenarios["tls/round-trip"]["baseline"]:
        assert run["round_trips"] == chosen["round_trips"], run
        assert 0 < run["p50_us"] <= run["p99_us"], run
    setup = scenarios["tls/set-up"]
    assert "fresh Node pair" in setup["method"]
    for run in setup["netclock"] + setup["baseline"]:
        assert run["setups"] == len(run["samples_ms"]) == chosen["setups"], run
        assert min(run["samples_ms"]) > 0, run


@pytest.mark.slow
def test_tls_set_up_clock_the_first_frame_lands_after_the_connect_returned(
    quick_report: dict[str, Any],
) -> None:
    """Each baseline frame is written after open_connection returned, so (the processes
    sharing one monotonic clock) its arrival is later, set-up by set-up and so in p50."""
    for run in _by_key(quick_report)["tls/set-up"]["baseline"]:
        assert 0 < run["connect_p50_ms"] < run["p50_ms"], run


@pytest.mark.slow
def test_table_shows_each_scenario_with_its_target(quick_report: dict[str, Any]) -> None:
    table = format_table(quick_report)
    assert f"{quick_report['machine']['cores']} cores" in table
    for sc in quick_report["scenarios"]:
        assert sc["title"] in table
    assert ">= 0.6x" in table
    assert "<= 1.5x" in table
    for tls_target in (">= 0.8x", "<= 1.3x", "<= 10 ms"):
        assert tls_target in table
    assert "plain mTLS streams" in table
    assert "raw UDP" in table


@pytest.mark.slow
def test_backpressure_blocks_a_sender_whose_receiver_stopped_reading(python: str) -> None:
    report = _run_bench(python, "--scenario", "bounded-memory")
    memory = report["bounded_memory"]
    assert memory["status"] == "ok", memory["reason"]
    gone = memory["peer_gone"]
    assert gone["accepted"] + gone["refused_window_full"] == gone["attempts"]
    assert gone["refused_window_full"] > 0, gone
    stalled = memory["stalled_sender"]
    assert stalled["blocked_at_end"], stalled
    assert stalled["accepted"] > 0, stalled


async def _talk_to(
    role: str, options: list[str], waits: list[tuple[str, float]], procs: list[Any]
) -> None:
    """Start one worker and wait for each ``(tag, seconds)`` in turn."""
    async with children(Settings(timeout=10.0), (role, options)) as (child,):
        procs.append(child.proc)
        for tag, seconds in waits:
            await child.expect(tag, time.monotonic() + seconds)


async def test_a_child_that_fails_is_reported_and_reaped() -> None:
    procs: list[Any] = []
    with pytest.raises(BenchError, match="exited before READY"):
        await _talk_to("send", ["--kind", "no-such-kind"], [("READY", 10.0)], procs)
    assert procs[0].returncode is not None


async def test_a_child_that_hangs_is_killed_at_the_deadline() -> None:
    procs: list[Any] = []
    with pytest.raises(BenchError, match="did not say RESULT in time"):
        await _talk_to("echo", ["--kind", "udp"], [("READY", 10.0), ("RESULT", 0.2)], procs)
    assert procs[0].returncode is not None


def test_tls_is_a_default_scenario_and_selectable_alone() -> None:
    default = settings_from(build_parser().parse_args([]))
    assert default.groups == ("one-way", "round-trip", "tls")
    alone = settings_from(build_parser().parse_args(["--scenario", "tls", "--quick"]))
    assert alone.groups == ("tls",)
    assert [sc.key for sc in bench.scenarios(alone)] == TLS_ORDER
    assert all(sc.baseline.kind == "tls-stream" for sc in bench.scenarios(alone))


@examples(max_examples=50, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
)
def test_plain_stream_reader_counts_every_frame_however_the_stream_is_cut(
    sizes: list[int], cuts: list[int]
) -> None:
    stream = b"".join(frame_of(bytes([n % 251]) * n) for n in sizes)
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    counted, pending = 0, b""
    for start, end in itertools.pairwise(bounds):
        data = pending + stream[start:end]
        frames, pos = complete_frames(data)
        counted += frames
        pending = data[pos:]
    assert (counted, pending) == (len(sizes), b""), f"sizes {sizes}, cuts {bounds}"


@pytest.mark.parametrize(
    ("options", "fix"),
    [
        (["--runs", "3"], "--runs must be at least 5"),
        (["--size", "0"], "--size must be between"),
        (["--loss", "1.0"], "--loss must be a probability"),
        (["--quick", "--count", "0"], "--count must be at least 1"),
        (["--quick", "--setups", "0"], "--setups must be at least 1"),
    ],
)
def test_bad_options_say_what_to_fix(options: list[str], fix: str) -> None:
    with pytest.raises(ConfigError, match=fix):
        settings_from(build_parser().parse_args(options))


SCRIPTS = sorted((Path(__file__).resolve().parents[2] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_profiling_script_still_imports_and_parses_its_arguments(script: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage" in proc.stdout


@pytest.mark.slow
def test_a_quick_run_judges_no_target(quick_report: dict[str, Any]) -> None:
    targeted = [sc for sc in quick_report["scenarios"] if sc["target"] is not None]
    assert targeted, "the default scenarios set targets"
    assert all(sc["target_met"] is None for sc in targeted)
    table = format_table(quick_report)
    assert "not judged (a --quick smoke run)" in table
    assert "MISSED" not in table
    assert " met" not in table
