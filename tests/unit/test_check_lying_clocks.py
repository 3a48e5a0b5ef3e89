"""The checker on a member that lies in its clocks: its own messages with a lying clock,
recorded as lies with their ids, are sent (not created); false claims about a receiver are
reported per node (netclock.tools.check_byzantine)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from netclock.observe.forgeries import ForgeryRecorder
from netclock.tools.check import check_run, load_run

T0 = 1_700_000_000.0
INIT = {"ev": "init", "link": "reliable", "promises": ["no_creation", "no_duplication"]}


def _write(folder: Path, node: str, lines: list[dict[str, Any]]) -> None:
    text = "".join(
        json.dumps({"t": T0 + i, "node": node, "inc": 1, **line}) + "\n"
        for i, line in enumerate(lines)
    )
    (folder / f"{node}.events.jsonl").write_text(text, encoding="utf-8")


def _run(folder: Path) -> Path:
    """m sends c a message stamped ``{m: 1, c: 99}`` without logging a send (its clock is a
    lie); c delivers it, the claim about c not merged."""
    _write(
        folder,
        "c",
        [
            {**INIT, "clock": {"c": 1}},
            {
                "ev": "deliver",
                "clock": {"c": 2, "m": 1},
                "from": "m",
                "id": ["m", 1, 1],
                "msg_clock": {"m": 1, "c": 99},
            },
            {"ev": "stop", "clock": {"c": 2, "m": 1}, "clean": True, "stats": {}},
        ],
    )
    _write(
        folder,
        "m",
        [
            {**INIT, "clock": {"m": 1}},
            {"ev": "stop", "clock": {"m": 1}, "clean": True, "stats": {}},
        ],
    )
    info = {"name": "t", "link": "reliable", "nodes": ["c", "m"], "seed": 1}
    (folder / "run.json").write_text(json.dumps(info), encoding="utf-8")
    return folder


def test_an_unlogged_message_is_created_without_the_liars_record(tmp_path: Path) -> None:
    report = check_run(load_run(_run(tmp_path)))
    assert report.violated == ("no_creation",)


def test_a_lying_clock_recorded_with_its_id_is_sent_not_created(tmp_path: Path) -> None:
    folder = _run(tmp_path)
    recorder = ForgeryRecorder(folder / "m.forged.jsonl", "m")
    recorder.record("lie", "m", "c", ("m", 1, 1), "lying clock")
    recorder.close()
    report = check_run(load_run(folder))
    assert report.ok, report.violated
    assert report.pair("m", "c").delivered == 1
    assert {n.node: n.role for n in report.nodes} == {"c": "", "m": "Byzantine"}
    claims = [n for n in report.notes if "claimed more of c" in n]
    assert claims == [
        "c delivered 1 message(s) whose clock claimed more of c than it had done, "
        "without merging the claim (from m: 1)"
    ]


def test_a_lie_recorded_for_another_receiver_does_not_excuse_the_delivery(tmp_path: Path) -> None:
    folder = _run(tmp_path)
    recorder = ForgeryRecorder(folder / "m.forged.jsonl", "m")
    recorder.record("lie", "m", "a", ("m", 1, 1), "lying clock")
    recorder.close()
    assert check_run(load_run(folder)).violated == ("no_creation",)
