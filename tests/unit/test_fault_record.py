"""Specification of the fault record reader: who crashed, and when, from ``faults.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netclock.errors import ConfigError
from netclock.observe.eventlog import FAULT_RECORD, read_fault_record

T0 = 1_700_000_000.0


def write(folder: Path, *entries: dict[str, Any], tail: str = "") -> Path:
    """Entries as the launcher appends them (``at`` given; ``t`` is T0 + at)."""
    path = folder / FAULT_RECORD
    lines = [json.dumps({"t": T0 + e["at"], **e}) + "\n" for e in entries]
    path.write_text("".join(lines) + tail, encoding="utf-8")
    return path


def test_a_node_never_killed_is_correct(tmp_path: Path) -> None:
    record = read_fault_record(
        write(
            tmp_path,
            {"at": 0.0, "do": "start", "node": "a", "pid": 10},
            {"at": 1.0, "do": "pause", "node": "a", "by": "action"},
            {"at": 2.0, "do": "resume", "node": "a", "by": "action"},
            {"at": 3.0, "do": "partition", "nodes": ["a", "b"], "by": "action"},
            {"at": 5.0, "do": "exit", "node": "a", "code": 0, "expected": True},
            {"at": 5.1, "do": "stop", "reason": "done"},
        )
    )
    assert record.correct("a")
    assert record.correct("b")
    assert [e.do for e in record.entries][-1] == "stop"
    (life,) = record.lives["a"]
    assert (life.start_at, life.end_at, life.ended_by, life.crashed) == (0.0, 5.0, "exit", False)
    assert record.survives("a", T0 + 4.0)


def test_a_kill_then_restart_gives_two_lives_and_a_crash(tmp_path: Path) -> None:
    record = read_fault_record(
        write(
            tmp_path,
            {"at": 0.0, "do": "start", "node": "b", "pid": 10, "incarnation": 1},
            {"at": 2.0, "do": "kill", "node": "b", "by": "action"},
            {"at": 2.01, "do": "exit", "node": "b", "code": -9, "expected": True},
            {"at": 3.0, "do": "start", "node": "b", "pid": 11, "incarnation": 2, "restart": True},
        )
    )
    first, second = record.lives["b"]
    assert (first.crashed, first.ended_by, first.code, first.end_at) == (True, "kill", -9, 2.0)
    assert (second.restart, second.incarnation, second.end) == (True, 2, None)
    assert not record.correct("b")
    assert not record.survives("b", T0 + 1.0), "it crashed after 1.0"
    assert not record.survives("b", T0 + 2.5), "it was down at 2.5"
    assert record.survives("b", T0 + 3.5), "its second life never crashed"


def test_an_unexpected_exit_is_a_crash_with_its_error(tmp_path: Path) -> None:
    record = read_fault_record(
        write(
            tmp_path,
            {"at": 0.0, "do": "start", "node": "c", "pid": 10},
            {"at": 1.0, "do": "exit", "node": "c", "code": 3, "expected": False, "error": "boom"},
        )
    )
    (life,) = record.crashes("c")
    assert (life.code, life.error, life.end_at) == (3, "boom", 1.0)
    assert not record.survives("c", T0)


def test_a_cut_last_line_is_skipped_with_a_note(tmp_path: Path) -> None:
    notes: list[str] = []
    path = write(tmp_path, {"at": 0.0, "do": "start", "node": "a"}, tail='{"t": 1, "at": 0.')
    record = read_fault_record(path, notes)
    assert len(record.entries) == 1
    assert "unfinished last line" in notes[0]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"t": 1.0, "at": 0.0, "do": "explode", "node": "a"}', "'do' must be one of"),
        ('{"t": 1.0, "at": 0.0, "do": "kill"}', "kill needs 'node'"),
        ('{"t": 1.0, "at": 0.0, "do": "partition", "nodes": ["a"]}', "partition needs 'nodes'"),
        ('{"at": 0.0, "do": "kill", "node": "a"}', "'t' must be"),
        ("not json", "not a JSON object"),
    ],
)
def test_a_malformed_line_names_file_and_line(tmp_path: Path, line: str, says: str) -> None:
    path = tmp_path / FAULT_RECORD
    path.write_text(line + "\n" + '{"t": 1.0, "at": 0.0, "do": "stop"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{FAULT_RECORD}:1: .*{says}"):
        read_fault_record(path)
