"""``netclock bench --scenario manyproc``: the cost of one message as the cluster grows.

4, 8, 16 and 32 processes on one machine, all sending to all over the perfect link, in
rounds so that every clock holds an entry of every process (the ``scale`` scenario's
program with ``burst``, run by the launcher; the event and GoVector logs off, so the
figure is the link's, the clock's and the logged link's). Each size runs with every clock
whole on the wire and with compressed clocks (``clock_encoding = "diff"``, docs/wire.md),
for each burst of :data:`BURSTS`, alternating, ``runs`` times; medians. The figures come
from what each run leaves behind (:func:`netclock.tools.bench.scale.figures`):

* CPU µs per message: the nodes' CPU seconds over the program (``time.process_time()``),
  summed, over all messages delivered;
* delivered msgs/s: all messages over the span from the first send to the last delivery.

The baseline is the same burst at 4 processes with full clocks, in the same bench run:
the target is CPU per message at 32 processes at most 1.5x that (``ratio``).
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any, TextIO

from netclock.tools.bench.runner import BenchError, Settings
from netclock.tools.bench.scale import one_size

SIZES = (4, 8, 16, 32)
QUICK_SIZES = (4, 8)
ENCODINGS = ("full", "diff")
BURSTS = (1, 8)
"""Messages to one peer in a row. With 1, every entry of a clock changes between two
messages to the same peer (nothing to compress); with 8, seven in eight differ from the
message before only in the sender's own entry."""
TARGET = 1.5
"""CPU per message at the largest size over the smallest with full clocks, at most."""
QUICK_RUNS = 1
RUNS = 3


def cluster_lines(encoding: str) -> list[str]:
    """The cluster-file lines of one encoding (logs off: the link's and clock's cost)."""
    return [f'clock_encoding = "{encoding}"', "log_events = false", "log_govector = false"]


async def manyproc_bench(settings: Settings, progress: TextIO) -> dict[str, Any]:
    """Every size, burst and encoding ``runs`` times, alternating; medians and ratios."""
    sizes = QUICK_SIZES if settings.quick else SIZES
    runs = QUICK_RUNS if settings.quick else RUNS
    cases = [(n, b, e) for n in sizes for b in BURSTS for e in ENCODINGS]
    samples: dict[tuple[int, int, str], list[dict[str, Any]]] = {c: [] for c in cases}
    with tempfile.TemporaryDirectory(prefix="netclock-manyproc-") as tmp:
        for run in range(runs):
            for n, burst, encoding in cases:
                progress.write(
                    f"manyproc: run {run + 1}/{runs}, {n} processes, burst {burst}, {encoding}\n"
                )
                progress.flush()
                folder = Path(tmp) / f"{run}-{n}-{burst}-{encoding}"
                folder.mkdir()
                try:
                    row = await one_size(
                        n, settings, "reliable", folder, cluster_lines(encoding), burst
                    )
                except BenchError as exc:
                    return {"status": "failed", "error": str(exc), "rows": []}
                samples[(n, burst, encoding)].append(row)
    rows = [_median_row(*case, samples[case]) for case in cases]
    return {"status": "ok", "runs": runs, "rows": rows, **_ratios(rows, sizes)}


def _median_row(n: int, burst: int, encoding: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return round(statistics.median(float(r[key] or 0) for r in runs), 3)

    return {
        "processes": n,
        "burst": burst,
        "encoding": encoding,
        "messages": runs[0]["messages"],
        "cpu_us_per_msg": median("cpu_us_per_msg"),
        "msgs_per_s": round(median("msgs_per_s")),
        "datagrams_per_msg": median("datagrams_per_msg"),
        "spurious_retx_pct": median("spurious_retx_pct"),
    }


def _ratios(rows: list[dict[str, Any]], sizes: tuple[int, ...]) -> dict[str, Any]:
    """CPU per message at the largest size over the smallest with full clocks, for each
    burst and encoding: the target's ratio."""
    cost = {(r["processes"], r["burst"], r["encoding"]): r["cpu_us_per_msg"] for r in rows}
    small, large = sizes[0], sizes[-1]
    ratios = [
        {
            "burst": burst,
            "encoding": encoding,
            "ratio": round(cost[(large, burst, encoding)] / cost[(small, burst, "full")], 2),
        }
        for burst in BURSTS
        for encoding in ENCODINGS
        if cost[(small, burst, "full")]
    ]
    for r in ratios:
        r["target_met"] = r["ratio"] <= TARGET
    return {"sizes": [small, large], "ratios": ratios, "target": TARGET}


COLUMNS = (
    ("processes", "n"),
    ("burst", "burst"),
    ("encoding", "clocks"),
    ("cpu_us_per_msg", "CPU µs/msg"),
    ("msgs_per_s", "msgs/s"),
    ("datagrams_per_msg", "dgrams/msg"),
    ("spurious_retx_pct", "spurious %"),
)


def format_manyproc(report: dict[str, Any]) -> list[str]:
    """The manyproc scenario as table lines, with each ratio against its target."""
    lines = ["", "manyproc: all-to-all in rounds over reliable, logs off (medians)"]
    if report["status"] != "ok":
        lines.append(f"  FAILED: {report['error']}")
        return lines
    head = [title for _, title in COLUMNS]
    cells = [[str(row.get(key)) for key, _ in COLUMNS] for row in report["rows"]]
    widths = [max(len(x) for x in column) for column in zip(head, *cells, strict=True)]
    for line in (head, *cells):
        lines.append("  " + "  ".join(x.rjust(w) for x, w in zip(line, widths, strict=True)))
    small, large = report["sizes"]
    for r in report["ratios"]:
        met = "met" if r["target_met"] else "MISSED"
        lines.append(
            f"  burst {r['burst']}, {r['encoding']} clocks: CPU per message at {large} / "
            f"{small} with full clocks = {r['ratio']}x (target <= {report['target']}x: {met})"
        )
    return lines
