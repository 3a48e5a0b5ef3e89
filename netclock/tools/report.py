"""What happens after a run: the merged ShiViz log, the checker's verdict, the viewer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from netclock.cluster.launcher import RunResult
from netclock.errors import ConfigError
from netclock.observe.eventlog import FAULT_RECORD, event_files, read_run_info

if TYPE_CHECKING:
    from netclock.tools.check import Report


def compare_table(rows: list[tuple[str, Report]]) -> str:
    """The same run over several links, side by side: what each delivered and lost."""
    lines = [
        f"{'link':<10} {'sent':>7} {'delivered':>10} {'lost':>6} {'duplicated':>11} "
        f"{'out of order':>13}  verdict"
    ]
    for link, report in rows:
        totals = report.links.get(link)
        if totals is None:
            continue
        verdict = "OK" if report.ok else "VIOLATED: " + ", ".join(report.violated)
        lines.append(
            f"{link:<10} {totals.sent:>7} {totals.delivered:>10} {totals.lost:>6} "
            f"{totals.duplicated:>11} {totals.out_of_order:>13}  {verdict}"
        )
    return "\n".join(lines)


MERGED_LOG = "merged.log"
"""The run folder's ShiViz log, all nodes' GoVector logs in one."""


def merge_run_logs(run_dir: Path) -> str:
    """Merge the run's GoVector logs into ``merged.log``; the line that presents it.

    The line calls the file the ShiViz log only when :func:`validate_shiviz` finds nothing
    wrong; otherwise it says plainly that it is not one, how many problems there are and
    the first (or why no merged log could be written).
    """
    from netclock.observe.shiviz import merge_logs

    merged = run_dir / MERGED_LOG
    logs = [p for p in sorted(run_dir.glob("*.log")) if p.name != MERGED_LOG]
    if not logs:
        return "  ShiViz log:  none (no node wrote a GoVector log)"
    try:
        problems = merge_logs(logs, merged)
    except ConfigError as exc:
        merged.unlink(missing_ok=True)
        return f"  ShiViz log:  none: the logs could not be merged ({exc})"
    if problems:
        many = "problem" if len(problems) == 1 else "problems"
        return (
            f"  {MERGED_LOG} is not a valid ShiViz log: {len(problems)} {many}, "
            f"first: {problems[0]}"
        )
    return f"  ShiViz log:  {merged}"


VERDICT = "verdict.json"
"""The run folder's verdict: ``{"ok": bool, "violated": [...], "failed": [...]}``."""


def write_verdict(
    run_dir: Path, ok: bool, violated: Sequence[str], failed: Sequence[str], *, checked: bool = True
) -> None:
    """Keep the checker's verdict in the run folder (``netclock runs`` lists it); ``checked``
    is False when there was nothing to check (the event logs were off)."""
    record: dict[str, object] = {"ok": ok, "violated": list(violated), "failed": list(failed)}
    if not checked:
        record["checked"] = False
    (run_dir / VERDICT).write_text(json.dumps(record) + "\n", encoding="utf-8")


def finish_run_report(result: RunResult, out: TextIO) -> tuple[int, Report]:
    """Write merged.log and viewer.html into the run folder, print the verdict.

    Returns 0 (when every node ended cleanly and every promised property holds) or 1,
    and the checker's report.
    """
    from netclock.tools.check import gc_paused

    with gc_paused():
        return _finish(result, out)


def _finish(result: RunResult, out: TextIO) -> tuple[int, Report]:
    from netclock.tools.check import check_run, format_report, load_run
    from netclock.tools.viz import render_run

    run_dir = result.run_dir
    code = 0
    for node, error in sorted(result.failed.items()):
        out.write(f"node {node} failed: {error} (see {run_dir / (node + '.stderr')})\n")
        code = 1
    merged_line = merge_run_logs(run_dir)
    checked = bool(event_files(run_dir))
    if checked:
        report = check_run(load_run(run_dir))
        out.write(format_report(report) + "\n")
    else:
        report = unchecked_report(run_dir)
        out.write(f"netclock check: {report.name or run_dir}\n{report.notes[0]}\n")
    if not report.ok:
        code = 1
    write_verdict(run_dir, report.ok, report.violated, sorted(result.failed), checked=checked)
    viewer = run_dir / "viewer.html"
    try:
        viewer.write_text(render_run(run_dir)[0], encoding="utf-8")
        viewer_line = f"  viewer:      {viewer}"
    except ConfigError:
        viewer_line = "  viewer:      none (no node wrote a log: both logs were off)"
    out.write(f"\nrun folder: {run_dir}\n")
    out.write(merged_line + "\n")
    out.write(viewer_line + "\n")
    return code, report


NOT_CHECKED = (
    "not checked: no node wrote an event log (log_events = false), so no property of the "
    "link could be checked; turn log_events on to check a run"
)
"""What a run without event logs says instead of a verdict."""


def unchecked_report(run_dir: Path) -> Report:
    """The report of a run that wrote no event log: nothing judged, :data:`NOT_CHECKED` noted."""
    from netclock.tools.check import Report

    info = read_run_info(run_dir)
    return Report(
        name=None if info is None else info.name,
        source=str(run_dir),
        seed=None if info is None else info.seed,
        links={},
        link_promises={},
        pairs=(),
        nodes=(),
        properties=(),
        notes=(NOT_CHECKED,),
        fault_record=(run_dir / FAULT_RECORD).is_file(),
    )
