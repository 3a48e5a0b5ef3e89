"""The manyproc bench's arithmetic: each ratio is against 4 processes with full clocks."""

from __future__ import annotations

from netclock.tools.bench.manyproc import BURSTS, ENCODINGS, _ratios, format_manyproc


def rows(cost: dict[tuple[int, str], float]) -> list[dict[str, object]]:
    return [
        {
            "processes": n,
            "burst": burst,
            "encoding": encoding,
            "messages": 1000,
            "cpu_us_per_msg": cost[(n, encoding)],
            "msgs_per_s": 5000,
            "datagrams_per_msg": 0.1,
            "spurious_retx_pct": 0.0,
        }
        for n in (4, 32)
        for burst in BURSTS
        for encoding in ENCODINGS
    ]


def test_each_ratio_divides_by_the_smallest_size_with_full_clocks() -> None:
    table = rows({(4, "full"): 10.0, (4, "diff"): 20.0, (32, "full"): 14.0, (32, "diff"): 16.0})
    report = {"status": "ok", "rows": table, **_ratios(table, (4, 32))}
    by = {(r["burst"], r["encoding"]): (r["ratio"], r["target_met"]) for r in report["ratios"]}
    assert by[(BURSTS[0], "full")] == (1.4, True)
    assert by[(BURSTS[0], "diff")] == (1.6, False), "not flattered by a costlier 4-process row"
    text = "\n".join(format_manyproc(report))
    assert "= 1.6x (target <= 1.5x: MISSED)" in text
    assert "= 1.4x (target <= 1.5x: met)" in text


def test_a_failed_run_says_so() -> None:
    lines = format_manyproc({"status": "failed", "error": "the run of 32 processes exited 1"})
    assert lines[-1] == "  FAILED: the run of 32 processes exited 1"
