"""Specification of the run report's merged log: called the ShiViz log only when it is one."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from netclock.cluster.launcher import RunResult
from netclock.tools import report
from netclock.tools.report import MERGED_LOG, merge_run_logs
from netclock.tools.synthetic import write_synthetic_run

VALID_A = 'a {"a":1}\ninit\na {"a":2}\nsend to b\n'
VALID_B = 'b {"b":1}\ninit\nb {"a":2, "b":2}\ndeliver from a\n'


def test_a_valid_merge_is_presented_as_the_shiviz_log(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text(VALID_A)
    (tmp_path / "b.log").write_text(VALID_B)
    assert merge_run_logs(tmp_path) == f"  ShiViz log:  {tmp_path / MERGED_LOG}"


def test_an_invalid_merge_says_so_with_its_first_problem(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text(VALID_A)
    (tmp_path / "b.log").write_text('b {"b":1}\ninit\nb {"a":7, "b":2}\ndeliver from a\n')
    line = merge_run_logs(tmp_path)
    assert line.startswith(f"  {MERGED_LOG} is not a valid ShiViz log: 1 problem, first: ")
    assert "knows a:7" in line
    assert "ShiViz log:  " not in line


def test_logs_that_cannot_be_merged_leave_no_merged_log(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text(VALID_A)
    (tmp_path / "copy.log").write_text('a {"a":1}\nsomething else\n')
    (tmp_path / MERGED_LOG).write_text("stale")
    line = merge_run_logs(tmp_path)
    assert line.startswith("  ShiViz log:  none: the logs could not be merged (host 'a'")
    assert not (tmp_path / MERGED_LOG).exists()


def test_a_run_without_govector_logs_has_no_shiviz_log(tmp_path: Path) -> None:
    assert merge_run_logs(tmp_path) == "  ShiViz log:  none (no node wrote a GoVector log)"


def _finished(folder: Path, monkeypatch: pytest.MonkeyPatch, limit: int) -> tuple[str, str]:
    """The post-run text of a synthetic run with the viewer drawn and the logs merged in
    children above ``limit`` bytes of event logs, and the page it wrote."""
    monkeypatch.setattr(report, "VIEWER_CHILD_BYTES", limit)
    monkeypatch.setattr(report, "MERGE_CHILD_BYTES", limit)
    result = RunResult(folder, {}, {}, {})
    out = io.StringIO()
    code, verdict = report.finish_run_report(result, out)
    assert code == 0
    assert verdict.ok
    return out.getvalue(), (folder / "viewer.html").read_text(encoding="utf-8")


def test_a_large_run_gets_the_same_viewer_and_merged_log_from_child_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_synthetic_run(
        tmp_path / "a", nodes=3, events=600, link="reliable", loss=0.0, seed=5, govector=True
    )
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    inline_text, inline_page = _finished(tmp_path / "a", monkeypatch, 1 << 40)
    child_text, child_page = _finished(tmp_path / "b", monkeypatch, 0)
    assert f"  viewer:      {tmp_path / 'b' / 'viewer.html'}" in child_text
    assert child_text.replace(str(tmp_path / "b"), "X") == inline_text.replace(
        str(tmp_path / "a"), "X"
    )
    assert len(child_page) == len(inline_page)
    merged = [(tmp_path / run / "merged.log").read_bytes() for run in "ab"]
    assert merged[0] == merged[1]
    assert f"  ShiViz log:  {tmp_path / 'b' / 'merged.log'}" in child_text


def test_children_that_fail_leave_the_viewer_and_the_merge_to_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_synthetic_run(
        tmp_path, nodes=2, events=200, link="reliable", loss=0.0, seed=6, govector=True
    )
    monkeypatch.setattr(report, "_CHILD_CODE", "raise SystemExit(3)")
    text, page = _finished(tmp_path, monkeypatch, 0)
    assert f"  viewer:      {tmp_path / 'viewer.html'}" in text
    assert f"  ShiViz log:  {tmp_path / 'merged.log'}" in text
    assert "<html" in page.lower()
