"""The viewer's broadcast marks: one arrow per receiver, early arrivals ringed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from netclock.tools.viz import _compact, build_model, render_html


def write(folder: Path, node: str, events: list[dict[str, Any]]) -> None:
    lines = [{"t": 1.0 + i, "node": node, "inc": 1, **e} for i, e in enumerate(events)]
    (folder / f"{node}.events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def causal_run(folder: Path) -> None:
    init = {"ev": "init", "link": "reliable", "promises": []}
    write(
        folder,
        "a",
        [
            {**init, "clock": {"a": 1}},
            {"ev": "bcast", "clock": {"a": 2}, "id": ["a", 1, 1], "bkind": "causal"},
            {"ev": "bdeliver", "clock": {"a": 3}, "id": ["a", 1, 1], "bkind": "causal",
             "from": "a", "msg_clock": {"a": 2}},
        ],
    )  # fmt: skip
    write(
        folder,
        "b",
        [
            {**init, "clock": {"b": 1}},
            {"ev": "bdeliver", "clock": {"a": 2, "b": 2}, "id": ["a", 1, 1], "bkind": "causal",
             "from": "a", "msg_clock": {"a": 2}, "waited": 0.0123},
        ],
    )  # fmt: skip


def test_a_broadcast_is_an_arrow_to_each_other_receiver(tmp_path: Path) -> None:
    causal_run(tmp_path)
    model = build_model(tmp_path)
    arrows = [(m["sender"], m["to"], m["id"]) for m in model["messages"]]
    assert arrows == [("a", "b", "a:1:1 (causal)")]
    assert model["unmatched"] == []
    deliver = next(e for e in model["events"] if e["process"] == "b" and e["kind"] == "bdeliver")
    assert deliver["rank"] > next(e["rank"] for e in model["events"] if e["kind"] == "bcast")


def test_an_early_arrival_says_how_long_it_waited_and_is_ringed(tmp_path: Path) -> None:
    causal_run(tmp_path)
    model = build_model(tmp_path)
    waited = [e for e in model["events"] if e["waited"]]
    assert [(e["process"], e["waited"]) for e in waited] == [("b", 0.0123)]
    assert "arrived early, waited 12.3 ms for its causal past" in waited[0]["text"]
    compact = _compact(model)
    assert compact["waited"] == [[e["index"], e["waited"]] for e in waited]
    assert "arrived early, waited" in render_html(model)
