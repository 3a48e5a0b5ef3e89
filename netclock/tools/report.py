"""What happens after a run: the merged ShiViz log, the checker's verdict, the viewer."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
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

    run_dir = result.run_dir
    code = 0
    for node, error in sorted(result.failed.items()):
        out.write(f"node {node} failed: {error} (see {run_dir / (node + '.stderr')})\n")
        code = 1
    files = event_files(run_dir)
    size = _log_bytes(files)
    child = _Child(run_dir, "draw_viewer", draw_viewer) if size > VIEWER_CHILD_BYTES else None
    merger = _Child(run_dir, "merge_run_logs", merge_run_logs) if size > MERGE_CHILD_BYTES else None
    try:
        merged_line = merge_run_logs(run_dir) if merger is None else ""
        checked = bool(files)
        if checked:
            report = check_run(load_run(run_dir))
            out.write(format_report(report) + "\n")
        else:
            report = unchecked_report(run_dir, logs_off=not result.log_events)
            out.write(f"netclock check: {report.name or run_dir}\n{report.notes[0]}\n")
    except BaseException:
        for helper in (child, merger):
            if helper is not None:
                helper.kill()
        raise
    if merger is not None:
        merged_line = merger.line()
    if not report.ok:
        code = 1
    write_verdict(run_dir, report.ok, report.violated, sorted(result.failed), checked=checked)
    viewer_line = draw_viewer(run_dir) if child is None else child.line()
    out.write(f"\nrun folder: {run_dir}\n")
    out.write(merged_line + "\n")
    out.write(viewer_line + "\n")
    return code, report


VIEWER_CHILD_BYTES = 16 * 1024 * 1024
"""Event logs larger than this in all get their viewer drawn by a child process while this
one merges and checks (on two cores the post-run wall time is the longer of the two, not
their sum); smaller runs draw it in-process, cheaper than starting an interpreter."""
MERGE_CHILD_BYTES = 48 * 1024 * 1024
"""Event logs larger than this in all also get their GoVector logs merged by a child process
(about 250,000 events: the merge then costs about 1 s of CPU, a child about 0.2 s to start)."""


def _log_bytes(files: Sequence[Path]) -> int:
    total = 0
    for path in files:
        try:
            total += path.stat().st_size
        except OSError:
            continue
    return total


def draw_viewer(run_dir: Path) -> str:
    """Write ``viewer.html`` into the run folder; the line that presents it."""
    from netclock.tools.viz import write_run

    viewer = run_dir / "viewer.html"
    try:
        write_run(run_dir, viewer)
    except ConfigError:
        return "  viewer:      none (no node wrote an event log or a GoVector log)"
    return f"  viewer:      {viewer}"


_CHILD_CODE = (
    "import sys\n"
    "from pathlib import Path\n"
    "from netclock.tools.check import gc_paused\n"
    "from netclock.tools import report\n"
    "with gc_paused():\n"
    "    print(getattr(report, sys.argv[1])(Path(sys.argv[2])))\n"
)


class _Child:
    """``report.<name>(run_dir)`` (a function returning the line that presents what it wrote)
    in a child interpreter; :meth:`line` waits for that line, and calls ``here`` in this
    process when the child could not (whatever went wrong there)."""

    def __init__(self, run_dir: Path, name: str, here: Callable[[Path], str]) -> None:
        self.run_dir = run_dir
        self.here = here
        self.proc: subprocess.Popen[str] | None
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD_CODE, name, str(run_dir)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                text=True,
            )
        except OSError:
            self.proc = None

    def kill(self) -> None:
        """End the child (this process is giving up on the run's post-processing)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def line(self) -> str:
        if self.proc is not None:
            text, _ = self.proc.communicate()
            lines = text.splitlines()
            if self.proc.returncode == 0 and lines and lines[-1].startswith("  "):
                return lines[-1]
        return self.here(self.run_dir)


NOT_CHECKED = (
    "not checked: no node wrote an event log (log_events = false), so no property of the "
    "link could be checked; turn log_events on to check a run"
)
"""What a run without event logs says instead of a verdict."""
NO_EVENT_LOG = (
    "not checked: no node wrote an event log (the run stopped before its nodes had logged anything)"
)
"""What a run with event logs on says when none was written (stopped while starting)."""


def unchecked_report(run_dir: Path, *, logs_off: bool = True) -> Report:
    """The report of a run that wrote no event log: nothing judged, :data:`NOT_CHECKED`
    noted when the event logs were off, :data:`NO_EVENT_LOG` when they were on."""
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
        notes=(NOT_CHECKED if logs_off else NO_EVENT_LOG,),
        fault_record=(run_dir / FAULT_RECORD).is_file(),
    )
