"""What happens after a run: the merged ShiViz log, the checker's verdict, the viewer."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from netclock.cluster.launcher import RunResult

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


def finish_run_report(result: RunResult, out: TextIO) -> tuple[int, Report]:
    """Write merged.log and viewer.html into the run folder, print the verdict.

    Returns 0 (when every node ended cleanly and every promised property holds) or 1,
    and the checker's report.
    """
    from netclock.observe.shiviz import merge_logs
    from netclock.tools.check import check_run, format_report, load_run
    from netclock.tools.viz import build_model, render_html

    run_dir = result.run_dir
    code = 0
    for node, error in sorted(result.failed.items()):
        out.write(f"node {node} failed: {error} (see {run_dir / (node + '.stderr')})\n")
        code = 1
    logs = sorted(run_dir.glob("*.log"))
    logs = [p for p in logs if p.name != "merged.log"]
    merged = run_dir / "merged.log"
    if logs:
        merge_logs(logs, merged)
    report = check_run(load_run(run_dir))
    out.write(format_report(report) + "\n")
    if not report.ok:
        code = 1
    viewer = run_dir / "viewer.html"
    viewer.write_text(render_html(build_model(run_dir)), encoding="utf-8")
    out.write(f"\nrun folder: {run_dir}\n")
    out.write(f"  ShiViz log:  {merged}\n")
    out.write(f"  viewer:      {viewer}\n")
    return code, report
