"""``netclock runs [FOLDER]``: past runs with their time, cluster, link and verdict."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from netclock.cli.words import count
from netclock.errors import ConfigError
from netclock.observe.eventlog import RUN_INFO, read_run_info
from netclock.tools.report import VERDICT


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``netclock runs``."""
    runs = sub.add_parser("runs", help="list past runs with their verdicts")
    runs.add_argument("folder", nargs="?", default="runs", help="where runs are (default: runs)")
    runs.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Print one line per run folder under ``args.folder``, oldest first."""
    root = Path(args.folder)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder of runs; netclock run writes them to ./runs")
    rows = list_runs(root)
    if not rows:
        print(f"no runs in {root}")
        return 0
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]))
    return 0


def list_runs(root: Path) -> list[tuple[str, ...]]:
    """(started, folder, cluster, link, nodes, verdict) for every run folder below ``root``
    (a run that compares links holds one per link), oldest first."""
    found: list[tuple[float, tuple[str, ...]]] = []
    for info_file in sorted(root.glob(f"*/{RUN_INFO}")) + sorted(root.glob(f"*/*/{RUN_INFO}")):
        folder = info_file.parent
        try:
            info = read_run_info(folder)
        except ConfigError:
            info = None
        if info is None:
            continue
        started = info.started if info.started is not None else folder.stat().st_mtime
        try:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        except (OverflowError, OSError, ValueError):  # a run.json edited by hand
            started, when = 0.0, "?"
        row = (
            when,
            str(folder),
            info.name or "?",
            info.link or "?",
            count(len(info.nodes), "node"),
            verdict_text(folder),
        )
        found.append((started, row))
    return [row for _, row in sorted(found)]


def verdict_text(folder: Path) -> str:
    """What ``verdict.json`` says, in a few words; a run without one did not finish."""
    try:
        record = json.loads((folder / VERDICT).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return "no verdict (interrupted, still running or from an older netclock)"
    if type(record) is not dict:
        return "no verdict (verdict.json is not a JSON object)"
    parts = []
    for key, say in (("violated", "VIOLATED: "), ("failed", "failed: ")):
        names = record.get(key)
        if names:
            parts.append(say + (", ".join(map(str, names)) if type(names) is list else str(names)))
    if record.get("checked") is False:
        parts.append("not checked (the event logs were off)")
    return "; ".join(parts) if parts else "OK"
