"""``netclock new``'s refusals and copies, and ``netclock runs``'s verdict column."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from netclock.cli.new import create_project
from netclock.cli.runs import list_runs, verdict_text
from netclock.errors import ConfigError, NetclockError
from netclock.observe.eventlog import RunInfo, write_run_info


def test_a_project_from_a_demo_copies_its_programs_and_takes_the_new_name(tmp_path: Path) -> None:
    folder = create_project(tmp_path, "mine", "pingpong")
    assert sorted(p.name for p in folder.iterdir()) == ["mine.toml", "pingpong.py"]
    cluster = tomllib.loads((folder / "mine.toml").read_text(encoding="utf-8"))
    assert cluster["name"] == "mine"
    assert "netclock demo pingpong" not in (folder / "mine.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["", "../up", "a/b", "-x", "x" * 65])
def test_a_name_that_is_not_a_plain_folder_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="project name"):
        create_project(tmp_path, name)


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        create_project(tmp_path, "mine")


def test_an_unknown_demo_names_the_demos(tmp_path: Path) -> None:
    with pytest.raises(NetclockError, match=r"the demos are .*pingpong"):
        create_project(tmp_path, "mine", "nope")
    assert not (tmp_path / "mine").exists()


def test_runs_are_listed_oldest_first_with_what_their_verdict_says(tmp_path: Path) -> None:
    verdicts = {
        "b": {"ok": False, "violated": ["fifo"], "failed": ["x"]},
        "a": {"ok": True, "violated": [], "failed": []},
        "c": None,
        "d": {"ok": True, "violated": [], "failed": [], "checked": False},
    }
    for i, (name, verdict) in enumerate(verdicts.items()):
        folder = tmp_path / name
        folder.mkdir()
        write_run_info(folder, RunInfo(name=f"run{name}", link="tls", nodes=("x", "y"), started=i))
        if verdict is not None:
            (folder / "verdict.json").write_text(json.dumps(verdict), encoding="utf-8")
    rows = list_runs(tmp_path)
    assert [row[2] for row in rows] == ["runb", "runa", "runc", "rund"]
    assert rows[0][3:] == ("tls", "2 nodes", "VIOLATED: fifo; failed: x")
    assert rows[1][5] == "OK"
    assert verdict_text(tmp_path / "c").startswith("no verdict")
    assert rows[3][5] == "not checked (the event logs were off)"


def test_runs_lists_hand_edited_run_and_verdict_files_without_a_traceback(tmp_path: Path) -> None:
    edits: dict[str, tuple[float, object]] = {
        "far": (1e308, {"ok": True}),  # beyond the platform's time_t
        "nan": (float("nan"), {"ok": True}),
        "list": (1.0, [1, 2]),
        "null": (2.0, None),
        "text": (3.0, {"violated": "fifo", "failed": 5}),
    }
    for name, (started, verdict) in edits.items():
        folder = tmp_path / name
        folder.mkdir()
        write_run_info(folder, RunInfo(name=name, link="tls", nodes=("x",), started=started))
        (folder / "verdict.json").write_text(json.dumps(verdict), encoding="utf-8")
    rows = {row[2]: row for row in list_runs(tmp_path)}
    assert rows["far"][0] == rows["nan"][0] == "?"
    assert rows["list"][5] == rows["null"][5] == "no verdict (verdict.json is not a JSON object)"
    assert rows["text"][5] == "VIOLATED: fifo; failed: 5"
