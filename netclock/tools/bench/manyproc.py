"""``netclock bench --scenario manyproc``: the cost of one message as the cluster grows.

4, 8, 16 and 32 processes on one machine, all sending to all over the perfect link
(the ``scale`` scenario's program and launcher run, the event and GoVector logs off so the
figure is the link's and the clock's), once with every clock whole on the wire and once
with compressed clocks (``clock_encoding = "diff"``, docs/wire.md), alternating, ``runs``
times each; medians. The figures come from what each run leaves behind
(:func:`netclock.tools.bench.scale.figures`):

* CPU µs per message: the nodes' CPU seconds over the program (``time.process_time()``),
  summed, over all messages delivered;
* delivered msgs/s: all messages over the span from the first send to the last delivery.

The baseline of each figure is the same cluster at 4 processes in the same bench run: the
target is CPU per message at 32 processes at most 1.5x that at 4 (``ratio_32_4``).
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
TARGET = 1.5
"""CPU per message at the largest size over the smallest, at most."""
QUICK_RUNS = 1
RUNS = 3


def cluster_lines(encoding: str) -> list[str]:
    """The cluster-file lines of one encoding (logs off: the link's and clock's cost)."""
    return [f'clock_encoding = "{encoding}"', "log_events = false", "log_govector = false"]


async def manyproc_bench(settings: Settings, progress: TextIO) -> dict[str, Any]:
    """Every size and encoding ``runs`` times, alternating; medians and the ratios."""
    sizes = QUICK_SIZES if settings.quick else SIZES
    runs = QUICK_RUNS if settings.quick else RUNS
    samples: dict[tuple[int, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="netclock-manyproc-") as tmp:
        for run in range(runs):
            for n in sizes:
                for encoding in ENCODINGS:
                    progress.write(f"manyproc: run {run + 1}/{runs}, {n} processes, {encoding}\n")
                    progress.flush()
                    folder = Path(tmp) / f"{run}-{n}-{encoding}"
                    folder.mkdir()
                    try:
                        row = await one_size(
                            n, settings, "reliable", folder, cluster_lines(encoding)
                        )
                    except BenchError as exc:
                        return {"status": "failed", "error": str(exc), "rows": []}
                    samples.setdefault((n, encoding), []).append(row)
    rows = [_median_row(n, enc, samples[(n, enc)]) for n in sizes for enc in ENCODINGS]
    return {"status": "ok", "runs": runs, "rows": rows, **_ratios(rows, sizes)}


def _median_row(n: int, encoding: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return round(statistics.median(float(r[key] or 0) for r in runs), 3)

    return {
        "processes": n,
        "encoding": encoding,
        "messages": runs[0]["messages"],
        "cpu_us_per_msg": median("cpu_us_per_msg"),
        "msgs_per_s": round(median("msgs_per_s")),
        "datagrams_per_msg": median("datagrams_per_msg"),
        "spurious_retx_pct": median("spurious_retx_pct"),
    }


def _ratios(rows: list[dict[str, Any]], sizes: tuple[int, ...]) -> dict[str, Any]:
    """Per encoding: CPU per message at the largest size over the smallest (the target)."""
    cost = {(r["processes"], r["encoding"]): r["cpu_us_per_msg"] for r in rows}
    small, large = sizes[0], sizes[-1]
    ratios = {
        encoding: round(cost[(large, encoding)] / cost[(small, encoding)], 2)
        for encoding in ENCODINGS
        if cost[(small, encoding)]
    }
    return {
        "sizes": [small, large],
        "ratio": ratios,
        "target": TARGET,
        "target_met": {encoding: ratio <= TARGET for encoding, ratio in ratios.items()},
    }


COLUMNS = (
    ("processes", "n"),
    ("encoding", "clocks"),
    ("cpu_us_per_msg", "CPU µs/msg"),
    ("msgs_per_s", "msgs/s"),
    ("datagrams_per_msg", "dgrams/msg"),
    ("spurious_retx_pct", "spurious %"),
)


def format_manyproc(report: dict[str, Any]) -> list[str]:
    """The manyproc scenario as table lines, with the ratio against its target."""
    lines = ["", "manyproc: all-to-all over reliable, logs off, per-message cost (medians)"]
    if report["status"] != "ok":
        lines.append(f"  FAILED: {report['error']}")
        return lines
    head = [title for _, title in COLUMNS]
    cells = [[str(row.get(key)) for key, _ in COLUMNS] for row in report["rows"]]
    widths = [max(len(x) for x in column) for column in zip(head, *cells, strict=True)]
    for line in (head, *cells):
        lines.append("  " + "  ".join(x.rjust(w) for x, w in zip(line, widths, strict=True)))
    small, large = report["sizes"]
    for encoding, ratio in report["ratio"].items():
        met = "met" if report["target_met"][encoding] else "MISSED"
        lines.append(
            f"  {encoding} clocks: CPU per message at {large} / at {small} = {ratio}x "
            f"(target <= {report['target']}x: {met})"
        )
    return lines
