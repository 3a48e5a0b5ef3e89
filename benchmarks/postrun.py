"""Post-run processing per event: merge and check of a generated run, beside raw baselines.

Writes a run with ``tools/synthetic.py`` (loss, duplicates, a kill, GoVector logs on), then
measures the CPU seconds (``time.process_time``, the garbage collector paused as the launcher
pauses it) of ``merge_logs`` over its GoVector logs and of ``check_run(load_run(...))``,
each beside a raw baseline measured in the same run: for the merge, reading every GoVector
log's lines (``readlines``) and writing them out again; for the check, ``json.loads`` of every
event-log line. Medians of ``--runs`` alternating runs, per event (all event-log lines)::

    python benchmarks/postrun.py --events 200000 --nodes 16 --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from netclock.observe.shiviz import merge_logs
from netclock.tools.check import check_run, gc_paused, load_run
from netclock.tools.synthetic import write_synthetic_run


def _cpu(work: Callable[[], object]) -> float:
    with gc_paused():
        start = time.process_time()
        work()
        return time.process_time() - start


def _raw_copy(logs: list[Path], out: Path) -> None:
    with open(out, "w", encoding="utf-8") as sink:
        for path in logs:
            with open(path, encoding="utf-8") as source:
                while lines := source.readlines(1 << 18):
                    sink.write("".join(lines))


def _raw_json(files: list[Path]) -> None:
    decode = json.JSONDecoder().decode
    for path in files:
        with open(path, encoding="utf-8") as source:
            for line in source:
                decode(line)


def measure(folder: Path, runs: int) -> dict[str, float]:
    logs = sorted(p for p in folder.glob("*.log") if p.name != "merged.log")
    files = sorted(folder.glob("*.events.jsonl"))
    events = sum(path.read_bytes().count(b"\n") for path in files)
    rows: dict[str, list[float]] = {"merge": [], "raw copy": [], "check": [], "raw json": []}
    for _ in range(runs):
        rows["raw copy"].append(_cpu(lambda: _raw_copy(logs, folder / "copy.log")))
        rows["merge"].append(_cpu(lambda: merge_logs(logs, folder / "merged.log")))
        rows["raw json"].append(_cpu(lambda: _raw_json(files)))
        rows["check"].append(_cpu(lambda: check_run(load_run(folder))))
    return {name: 1e6 * statistics.median(values) / events for name, values in rows.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="netclock-postrun-") as tmp:
        folder = Path(tmp)
        write_synthetic_run(
            folder,
            nodes=args.nodes,
            events=args.events,
            govector=True,
            loss=0.02,
            duplicates=0.01,
            kills=1,
            seed=3,
        )
        figures = measure(folder, args.runs)
    print(f"{args.events:,} events, {args.nodes} processes; CPU µs/event, median of {args.runs}")
    for name, raw in (("merge", "raw copy"), ("check", "raw json")):
        print(
            f"{name:<6} {figures[name]:6.2f}   {raw} {figures[raw]:5.2f}   "
            f"ratio {figures[name] / figures[raw]:5.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
