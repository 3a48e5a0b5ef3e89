"""A restart continues a node's logs and clock: restart actions, the clock's start, torn tails."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from netclock.cluster.config import RESTART_AFTER, parse_cluster
from netclock.cluster.process import last_clock
from netclock.errors import ConfigError, UsageError
from netclock.node import Node
from netclock.observe.shiviz import parse_log, validate_shiviz

pytestmark = pytest.mark.timeout(20)

NODES = [{"id": "a", "program": "x.py:m"}, {"id": "b", "program": "x.py:m"}]


def test_a_restart_action_names_one_node_and_waits_after_seconds(tmp_path: Path) -> None:
    actions = [
        {"at": 1, "do": "restart", "node": "b", "after": 0.5},
        {"at": 2, "do": "restart", "node": "a"},
    ]
    cluster = parse_cluster({"node": NODES, "action": actions}, base_dir=tmp_path)
    assert [(a.do, a.nodes, a.after) for a in cluster.actions] == [
        ("restart", ("b",), 0.5),
        ("restart", ("a",), RESTART_AFTER),
    ]


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"at": 1, "do": "kill", "node": "a", "after": 1}, "after is for restart only"),
        ({"at": 1, "do": "restart", "node": "a", "after": -1}, "a number of seconds >= 0"),
        ({"at": 1, "do": "restart", "nodes": ["a", "b"]}, "restart names 1 node(s), not 2"),
        ({"at": 1, "do": "restart", "node": "a", "after": "soon"}, "after must be a number"),
    ],
)
def test_a_bad_restart_action_is_one_sentence(
    tmp_path: Path, action: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cluster({"node": NODES, "action": [action]}, base_dir=tmp_path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


async def _one_life(tmp_path: Path, clock_start: int | None, locals_: int) -> None:
    node = Node(
        "a",
        govector_log=tmp_path / "a.log",
        event_log=tmp_path / "a.events.jsonl",
        clock_start=clock_start,
    )
    async with node:
        for i in range(locals_):
            node.log_local_event(f"step {i}")


def test_a_node_given_clock_start_continues_its_logs_shiviz_valid(tmp_path: Path) -> None:
    asyncio.run(_one_life(tmp_path, None, 3))
    start = last_clock(tmp_path / "a.events.jsonl", tmp_path / "a.log", "a")
    assert start == 4  # init, then three local events
    asyncio.run(_one_life(tmp_path, start + 1, 2))
    events = parse_log(tmp_path / "a.log")
    assert [e.clock["a"] for e in events] == list(range(1, 8))
    assert validate_shiviz(events) == []
    assert last_clock(tmp_path / "a.events.jsonl", tmp_path / "a.log", "a") == 7


def test_without_clock_start_the_govector_log_starts_afresh(tmp_path: Path) -> None:
    asyncio.run(_one_life(tmp_path, None, 3))
    asyncio.run(_one_life(tmp_path, None, 1))
    assert [e.clock["a"] for e in parse_log(tmp_path / "a.log")] == [1, 2]


@pytest.mark.parametrize("bad", [-1, 0])
def test_a_clock_start_below_one_is_a_usage_error(bad: int) -> None:
    with pytest.raises(UsageError, match="clock_start must be an integer of at least 1"):
        Node("a", clock_start=bad)


def test_torn_tails_are_cut_before_a_restart_appends(tmp_path: Path) -> None:
    asyncio.run(_one_life(tmp_path, None, 3))
    events, govector = tmp_path / "a.events.jsonl", tmp_path / "a.log"
    with open(events, "ab") as f:
        f.write(b'{"t": 1.0, "node": "a", "inc": 1, "ev": "loc')  # killed in mid-write
    with open(govector, "ab") as f:
        f.write(b'a {"a":5}\n')  # an event without its text line
    assert last_clock(events, govector, "a") == 4
    assert events.read_bytes().endswith(b"}\n")
    assert [e.clock["a"] for e in parse_log(govector)] == [1, 2, 3, 4]


def test_a_node_without_an_event_log_starts_at_zero(tmp_path: Path) -> None:
    assert last_clock(tmp_path / "none.events.jsonl", tmp_path / "none.log", "a") == 0
