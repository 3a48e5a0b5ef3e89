"""How a run ends: every node drains while all still answer, then all stop.

The last message of a run is acknowledged late (the receiver's direction is delayed 300 ms,
longer than a retransmission timeout). When the launcher stopped every node at once, the
receiver closed before its acknowledgement left, the sender resent into a closed socket
until ``give_up_after`` and handed a delivered message back as failed. Now the receiver
is still up while the sender drains.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import netclock

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]

PROGRAMS = """
import asyncio


async def send_one(node):
    await node.send("b", "last")


async def take_one(node):
    return (await node.receive(timeout=10)).payload


async def send_until_cut(node):
    n = 0
    while node.link.unacked("b") < 3:  # b no longer answers: the partition is in effect
        n += 1
        await node.send("b", n)
        await asyncio.sleep(0.02)


async def idle(node):
    return None
"""

CLUSTER = """
name = "run-end"
link = "reliable"
duration = 20
give_up_after = 3

[faults]
seed = 1

[faults.links]
"b->a" = { delay = "300ms" }

[[node]]
id = "a"
program = "prog.py:send_one"

[[node]]
id = "b"
program = "prog.py:take_one"
"""


def run_to_end(tmp_path: Path, cluster: str, codes: tuple[int, ...]) -> tuple[Path, dict[str, Any]]:
    """Run ``cluster`` with :data:`PROGRAMS`; the run folder and the fault record's last entry."""
    (tmp_path / "prog.py").write_text(PROGRAMS)
    (tmp_path / "c.toml").write_text(cluster)
    run = tmp_path / "run"
    done = netclock("run", str(tmp_path / "c.toml"), "--out", str(run))
    assert done.returncode in codes, done.stdout + done.stderr
    record = [json.loads(x) for x in (run / "faults.jsonl").read_text().splitlines()]
    assert record[-1]["do"] == "stop"
    return run, record[-1]


def test_the_last_acknowledgement_arrives_before_any_node_stops(tmp_path: Path) -> None:
    run, stop = run_to_end(tmp_path, CLUSTER, (0,))
    events = [json.loads(x) for x in (run / "a.events.jsonl").read_text().splitlines()]
    assert [e["ev"] for e in events if e["ev"] in ("send", "failed")] == ["send"], (
        "the delivered message was handed back as failed"
    )
    assert events[-1]["ev"] == "stop"
    assert events[-1]["clean"] is True
    assert stop["drained"] == {"a": True, "b": True}


CUT = """
name = "run-end-cut"
link = "reliable"
duration = 30

[[node]]
id = "a"
program = "prog.py:send_until_cut"

[[node]]
id = "b"
program = "prog.py:idle"

[[action]]
at = 0.3
do = "partition"
nodes = ["a", "b"]
"""


def test_a_node_cut_off_by_a_partition_action_is_not_waited_for(tmp_path: Path) -> None:
    _, stop = run_to_end(tmp_path, CUT, (0, 1))
    assert stop["drained"] == {"a": True, "b": True}, "a waited for b across the cut"
