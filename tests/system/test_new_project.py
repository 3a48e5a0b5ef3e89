"""``netclock new`` makes a project that runs as created, and ``netclock runs`` lists it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import netclock

pytestmark = pytest.mark.timeout(90)


@pytest.mark.slow
@pytest.mark.parametrize("demo", [None, "ring"])
def test_a_new_project_runs_as_created_and_is_listed_with_its_verdict(
    tmp_path: Path, demo: str | None
) -> None:
    made = netclock("new", "mine", *(["--from", demo] if demo else []), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "netclock run mine/mine.toml" in made.stdout
    run = netclock("run", "mine/mine.toml", "--out", "runs/first", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "verdict: OK" in run.stdout
    listed = netclock("runs", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.splitlines()
    assert "runs/first" in line
    assert "mine" in line
    assert line.endswith("OK")
