"""Naming receive events (GoVector's ``UnpackReceive("Receiving Message", ...)``) and the
clock's start without a log (GoVector's: the first event is 1), on real sockets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netclock import Node
from netclock.errors import UsageError
from netclock.observe.shiviz import merge_logs, parse_log

pytestmark = pytest.mark.timeout(30)

STEP = 10.0


def _logs(tmp_path: Path, node: str) -> dict[str, Any]:
    return {
        "govector_log": tmp_path / f"{node}.log",
        "event_log": tmp_path / f"{node}.events.jsonl",
    }


def _delivers(path: Path) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in events if e["ev"] == "deliver"]


async def test_a_named_receive_event_reads_the_name_in_both_logs(tmp_path: Path) -> None:
    async with Node("a", **_logs(tmp_path, "a")) as a, Node("b", **_logs(tmp_path, "b")) as b:
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        b.name_receives("Receiving Message")
        await a.send("b", "one")
        assert (await b.receive(timeout=STEP)).payload == "one"
        b.name_receives(lambda sender, payload: f"got {payload!r} from {sender}")
        await a.send("b", "two")
        async for delivery in b:
            assert delivery.payload == "two"
            break
        b.name_receives(None)
        await a.send("b", "three")
        assert (await b.receive(timeout=STEP)).payload == "three"
    texts = [e.event for e in parse_log(tmp_path / "b.log")]
    assert texts[1:3] == ["Receiving Message", "got 'two' from a"]
    assert texts[3].startswith("deliver a:")
    delivers = _delivers(tmp_path / "b.events.jsonl")
    assert [d.get("text") for d in delivers] == ["Receiving Message", "got 'two' from a", None]
    problems = merge_logs([tmp_path / "a.log", tmp_path / "b.log"], tmp_path / "merged.log")
    assert problems == []


async def test_a_name_function_that_raises_logs_the_default_and_delivers(tmp_path: Path) -> None:
    def broken(sender: str, payload: Any) -> str:
        raise KeyError(payload)

    async with Node("a") as a, Node("b", **_logs(tmp_path, "b")) as b:
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        b.name_receives(broken)
        await a.send("b", "x")
        assert (await b.receive(timeout=STEP)).payload == "x"
    assert [e.event for e in parse_log(tmp_path / "b.log")][1] == "deliver from a"


def test_a_receive_name_that_is_neither_text_nor_function_is_refused() -> None:
    node = Node("b")
    with pytest.raises(UsageError, match="name_receives takes a string"):
        node.name_receives(42)  # type: ignore[arg-type]


async def test_without_a_log_the_first_send_is_1_as_with_govector() -> None:
    """GoVector ticks to 1 for "Initialization Complete" only when it logs; without a log
    its first send carries {solo: 1}, and so does netclock's."""
    async with Node("solo") as solo, Node("peer") as peer:
        solo.add_peer("peer", peer.address)
        peer.add_peer("solo", solo.address)
        assert solo.clock.to_dict() == {}
        await solo.send("peer", "first")
        delivery = await peer.receive(timeout=STEP)
        assert delivery.clock.to_dict() == {"solo": 1}
        assert delivery.receive_clock.to_dict() == {"solo": 1, "peer": 1}
        assert solo.log_local_event("next").to_dict() == {"solo": 2}


async def test_with_a_log_the_init_event_is_1_and_the_first_send_2(tmp_path: Path) -> None:
    async with Node("solo", **_logs(tmp_path, "solo")) as solo, Node("peer") as peer:
        solo.add_peer("peer", peer.address)
        peer.add_peer("solo", solo.address)
        await solo.send("peer", "first")
        assert (await peer.receive(timeout=STEP)).clock.to_dict() == {"solo": 2}
    events = parse_log(tmp_path / "solo.log")
    assert [(e.event, e.clock.to_dict()) for e in events[:2]] == [
        ("Initialization Complete", {"solo": 1}),
        (events[1].event, {"solo": 2}),
    ]
