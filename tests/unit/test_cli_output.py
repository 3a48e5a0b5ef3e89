"""What the command line prints: counted nouns, and one summary for a log ShiViz rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from netclock.cli.main import main
from netclock.cli.words import count


@pytest.mark.parametrize(
    ("n", "noun", "text"),
    [(1, "process", "1 process"), (2, "process", "2 processes"), (0, "event", "0 events")],
)
def test_count_uses_the_plural_unless_there_is_one(n: int, noun: str, text: str) -> None:
    assert count(n, noun) == text


def _bad_log(tmp_path: Path) -> Path:
    log = tmp_path / "a.log"
    log.write_text('a {"a":1}\nsend\na {"a":3}\nx\na {"a":7}\ny\n', encoding="utf-8")
    return log


def test_a_rejected_merge_is_one_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.log"
    assert main(["logs", "merge", str(_bad_log(tmp_path)), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "ShiViz would reject" in err[0]
    assert "2 problems" in err[0]
    assert "-v lists them all" in err[0]
    assert out.is_file()
