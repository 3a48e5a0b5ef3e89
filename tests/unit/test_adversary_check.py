"""The checker against the adversaries' own records: forged deliveries, Byzantine and
omission nodes (netclock.tools.check_byzantine, netclock.observe.forgeries)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.observe.forgeries import ForgeryRecorder, read_forgeries
from netclock.tools.check import check_run, format_report, load_run
from netclock.tools.check_byzantine import _stop_lines

FORGED_INC = 2**62
T0 = 1_700_000_000.0


def _write(folder: Path, node: str, lines: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(
        json.dumps({"t": T0 + i, "node": node, **line}) + "\n" for i, line in enumerate(lines)
    )
    (folder / f"{node}.events.jsonl").write_text(text, encoding="utf-8")


def _run(folder: Path, *, stats_m: dict[str, Any] | None = None) -> Path:
    """a sends one message to c; c also delivers a message "from a" that m forged (its
    incarnation is one a never had: the logs alone cannot tell it from a cut-off tail)."""
    init = {"ev": "init", "link": "fairloss", "promises": ["no_creation"]}
    _write(
        folder,
        "a",
        [
            {**init, "inc": 1, "clock": {"a": 1}},
            {"inc": 1, "ev": "send", "clock": {"a": 2}, "to": "c", "id": ["a", 1, 1]},
            {"inc": 1, "ev": "stop", "clock": {"a": 2}, "clean": True, "stats": {}},
        ],
    )
    _write(
        folder,
        "c",
        [
            {**init, "inc": 1, "clock": {"c": 1}},
            {
                "inc": 1,
                "ev": "deliver",
                "clock": {"a": 2, "c": 2},
                "from": "a",
                "id": ["a", 1, 1],
                "msg_clock": {"a": 2},
            },
            {
                "inc": 1,
                "ev": "deliver",
                "clock": {"a": 2, "c": 3},
                "from": "a",
                "id": ["a", FORGED_INC, 1],
                "msg_clock": {"a": 1},
            },
            {"inc": 1, "ev": "stop", "clock": {"a": 2, "c": 3}, "clean": True, "stats": {}},
        ],
    )
    _write(
        folder,
        "m",
        [
            {**init, "inc": 1, "clock": {"m": 1}},
            {"inc": 1, "ev": "stop", "clock": {"m": 1}, "clean": True, "stats": stats_m or {}},
        ],
    )
    info = {"name": "t", "link": "fairloss", "nodes": ["a", "c", "m"], "seed": 1}
    (folder / "run.json").write_text(json.dumps(info), encoding="utf-8")
    return folder


def test_without_the_forgers_record_the_logs_alone_excuse_the_forgery(tmp_path: Path) -> None:
    report = check_run(load_run(_run(tmp_path)))
    assert report.ok
    assert report.result("authenticity").count == 0
    assert report.pair("a", "c").unlogged == 1


def test_the_forgers_record_makes_it_a_creation_and_names_the_forger(tmp_path: Path) -> None:
    folder = _run(tmp_path)
    recorder = ForgeryRecorder(folder / "m.forged.jsonl", "m")
    recorder.record("impersonation", "a", "c", ("a", FORGED_INC, 1))
    recorder.record("lie", "m", "c", None, "wrong value")
    recorder.close()
    report = check_run(load_run(folder))
    assert not report.ok
    assert report.violated == ("no_creation",)
    authenticity = report.result("authenticity")
    assert authenticity.count == 1
    assert "claims a but was forged by m (impersonation)" in authenticity.examples[0]
    roles = {n.node: n.role for n in report.nodes}
    assert roles == {"a": "", "c": "", "m": "Byzantine"}
    text = format_report(report)
    assert "m (inc 1, 2 events, correct, Byzantine)" in text
    assert (
        "m is Byzantine (its own record): 1 forged envelope(s) (impersonation); lied: wrong value"
        in text
    )


def test_omission_counts_come_from_the_faulty_nodes_own_statistics(tmp_path: Path) -> None:
    stats = {"link": {"receive_omitted": 3, "faults": {"c": {"omitted": 5}, "a": {"omitted": 0}}}}
    report = check_run(load_run(_run(tmp_path, stats_m=stats)))
    roles = {n.node: n.role for n in report.nodes}
    assert roles["m"] == "omission"
    assert any(
        "m has omission faults (its own, not the network's): 5 datagram(s) omitted on send "
        "(to c: 5), 3 on receipt" in note
        for note in report.notes
    ), report.notes


def test_a_cut_or_garbled_forgery_record_line_is_skipped(tmp_path: Path) -> None:
    recorder = ForgeryRecorder(tmp_path / "m.forged.jsonl", "m")
    recorder.record("replay", "a", "c", ("a", 1, 1))
    recorder.close()
    with open(tmp_path / "m.forged.jsonl", "a", encoding="utf-8") as f:
        f.write('{"t": 1, "by": "m", "attack": "repl')
    (tmp_path / "x.forged.jsonl").write_text("[1, 2]\nnot json\n", encoding="utf-8")
    (found,) = read_forgeries(tmp_path)
    assert (found.by, found.attack, found.claimed, found.id) == ("m", "replay", "a", ("a", 1, 1))


def test_the_viewer_marks_byzantine_and_omission_processes_and_counts_refusals(
    tmp_path: Path,
) -> None:
    from netclock.tools.viz import build_model

    stats = {"link": {"receive_omitted": 1, "faults": {}}}
    folder = _run(tmp_path, stats_m=stats)
    with open(folder / "c.events.jsonl", "a", encoding="utf-8") as f:
        line = {"t": T0 + 9, "node": "c", "inc": 1, "ev": "refused", "clock": {"a": 2, "c": 3}}
        f.write(json.dumps({**line, "from": "127.0.0.1:9", "reason": "malformed: x"}) + "\n")
    model = build_model(folder)
    assert {p["id"]: p["role"] for p in model["processes"]} == {"a": "", "c": "", "m": "omission"}
    assert model["summary"]["refused"] == 1
    recorder = ForgeryRecorder(folder / "m.forged.jsonl", "m")
    recorder.record("lie", "m", "c", None, "wrong value")
    recorder.close()
    model = build_model(folder)
    assert {p["id"]: p["role"] for p in model["processes"]}["m"] == "Byzantine"


_PIECES = [
    b'"ev": "stop"',
    b'{"ev": "stop", "stats": {}}',
    b"\n",
    b"\r",
    b"\r\n",
    "\u2028".encode(),
    b"\x85",
    b"\xe2\x80",
    b"\xff",
    b"x",
    "é".encode(),
    b'"ev": "send"',
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30))
def test_stop_lines_are_the_lines_splitlines_would_give(pieces: list[bytes]) -> None:
    # The omission counters read only the lines around each stop event's kind: the same
    # lines, in the same order, as splitting the whole decoded text.
    data = b"".join(pieces)
    text = data.decode("utf-8", errors="replace")
    expected = [line for line in text.splitlines() if '"ev": "stop"' in line]
    assert list(_stop_lines(data)) == expected
