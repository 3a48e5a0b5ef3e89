"""Specification of the run report's merged log: called the ShiViz log only when it is one."""

from __future__ import annotations

from pathlib import Path

from netclock.tools.report import MERGED_LOG, merge_run_logs

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
