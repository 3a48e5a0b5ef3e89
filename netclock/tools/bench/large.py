"""``netclock bench --scenario large``: throughput of large messages, in MB/s.

For payloads of 1 KiB, 64 KiB and 1 MiB, the perfect link (``reliable``; above one datagram
its messages travel in pieces, docs/wire.md "Large messages") beside raw TCP streams, and
the TLS link beside plain mutual-TLS 1.3 streams, both baselines framing each payload with
a 4-byte length and writing it once (worker kinds ``tcp-stream`` and ``tls-stream``). Each
run is one sender and one receiver process (:func:`~netclock.tools.bench.runner.one_way_run`);
runs alternate baseline, netclock, ... ``--runs`` times; MB/s = payload bytes delivered /
(receiver's last delivery - sender's first send), 10^6 bytes per MB; the ratio is the median
of the per-pair ratios. Target: >= 0.8x for 64 KiB and up.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TextIO

from netclock.tools.bench.runner import (
    BASELINES,
    BenchError,
    Settings,
    Target,
    Variant,
    _median,
    one_way_run,
)

SIZES = (1024, 64 * 1024, 1024 * 1024)
BYTES_PER_RUN = 64 * 1024 * 1024
"""Payload bytes one run carries (fewer with ``--quick``); at least 200 messages."""
TARGET = Target(">=", 0.8)
TARGET_FROM = 64 * 1024
"""The target applies from this payload size up."""
PAIRS = (("reliable", "tcp-stream"), ("tls", "tls-stream"))
"""Each netclock link and the baseline it is measured beside."""
TITLES = {"reliable": "perfect link", "tls": "TLS link"}


def count_for(settings: Settings, size: int) -> int:
    """Messages per run of ``size``-byte payloads."""
    total = BYTES_PER_RUN // (16 if settings.quick else 1)
    return max(20 if settings.quick else 200, total // size)


async def large_bench(settings: Settings, progress: TextIO) -> dict[str, Any]:
    """Every (link, size) row; a row that fails says why and the others still run."""
    rows: list[dict[str, Any]] = []
    for kind, baseline in PAIRS:
        for size in SIZES:
            rows.append(await _row(settings, kind, baseline, size, progress))
    failed = [row for row in rows if row["status"] != "ok"]
    return {
        "status": "failed" if failed else "ok",
        "reason": "; ".join(row["reason"] for row in failed) or None,
        "rows": rows,
    }


async def _row(
    settings: Settings, kind: str, baseline: str, size: int, progress: TextIO
) -> dict[str, Any]:
    count = count_for(settings, size)
    sized = replace(settings, size=size, count=count)
    title = f"{TITLES[kind]}, {_size(size)} payloads"
    target = TARGET if size >= TARGET_FROM else None
    row: dict[str, Any] = {
        "title": title,
        "link": kind,
        "baseline_name": BASELINES[baseline],
        "size": size,
        "count": count,
        "target": None if target is None else target.as_dict(),
        "status": "ok",
        "reason": None,
    }
    pairs: list[tuple[float, float]] = []
    try:
        for index in range(settings.runs):
            base = await one_way_run(sized, Variant(baseline))
            mine = await one_way_run(sized, Variant(kind))
            pair = (base["rate"] * size / 1e6, mine["rate"] * size / 1e6)
            pairs.append(pair)
            print(
                f"  [{index + 1}/{settings.runs}] {title}: {BASELINES[baseline]} "
                f"{pair[0]:.1f} MB/s, netclock {pair[1]:.1f} MB/s",
                file=progress,
                flush=True,
            )
    except BenchError as exc:
        row.update(status="failed", reason=f"{title}: {exc}")
        print(f"  {title}: FAILED: {exc}", file=progress, flush=True)
        return row
    ratios = [mine / base for base, mine in pairs]
    row.update(
        baseline_mbps=_median([b for b, _ in pairs]),
        netclock_mbps=_median([m for _, m in pairs]),
        ratio=_median(ratios),
        ratios=ratios,
        target_met=None if target is None or settings.quick else target.met(_median(ratios)),
    )
    return row


def _size(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB" if size >= 1024 * 1024 else f"{size // 1024} KiB"


def format_large(report: dict[str, Any], runs: int) -> list[str]:
    """The rows as text lines for :func:`~netclock.tools.bench.runner.format_table`."""
    lines = [
        "",
        f"large messages (one way, MB/s, medians of {runs} alternating run(s), ratio = median "
        "of per-pair ratios):",
    ]
    for row in report["rows"]:
        if row["status"] != "ok":
            lines.append(f"  {row['title']}: FAILED: {row['reason']}")
            continue
        verdict = ""
        if row["target"] is not None:
            met = row["target_met"]
            judged = "met" if met else "MISSED"
            verdict = f"  target {row['target']['text']}: " + (
                "not judged (a --quick smoke run)" if met is None else judged
            )
        lines.append(
            f"  {row['title']:<30} netclock {row['netclock_mbps']:8.1f}  "
            f"{row['baseline_name']} {row['baseline_mbps']:8.1f}  "
            f"ratio {row['ratio']:.2f}x{verdict}"
        )
    return lines
