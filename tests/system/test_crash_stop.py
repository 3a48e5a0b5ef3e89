"""Crash-stop that ends: a survivor's reliable link hands back what a dead peer never took."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import explain, netclock

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]

PROGRAMS = """
import asyncio

async def sender(node, to="b", count=400, pace=0.001):
    for i in range(count):
        await node.send(to, i)
        await asyncio.sleep(pace)
    await node.flush()
    print(f"sender done, {len(node.failures())} failures")

async def receiver(node):
    async for _ in node:
        pass
"""

CLUSTER = """
name = "crash-stop"
link = "reliable"
duration = 30
give_up_after = 1
[[node]]
id = "a"
program = "flow.py:sender"
[[node]]
id = "b"
program = "flow.py:receiver"
[[action]]
at = 0.2
do = "kill"
node = "b"
"""


@pytest.mark.slow
def test_survivor_of_a_crash_stop_finishes_and_its_give_ups_are_failed_not_lost(
    tmp_path: Path,
) -> None:
    (tmp_path / "flow.py").write_text(PROGRAMS)
    (tmp_path / "c.toml").write_text(CLUSTER)
    run = tmp_path / "run"
    began = time.monotonic()
    done = netclock("run", str(tmp_path / "c.toml"), "--out", str(run), cwd=tmp_path)
    took = time.monotonic() - began
    assert "* kill b" in done.stdout, explain(done)
    assert took < 20, f"the survivor waited for its dead peer: {took:.1f} s\n{explain(done)}"
    report = json.loads(netclock("check", str(run), "--json", cwd=tmp_path).stdout)
    pair = next(p for p in report["pairs"] if (p["sender"], p["receiver"]) == ("a", "b"))
    assert pair["failed"] > 0, pair
    # a message b delivered whose ack died with b is handed back too: the sender cannot know
    assert pair["lost"] == 0, f"every message was delivered or handed back: {pair}"
    assert pair["sent"] <= pair["delivered"] + pair["failed"], pair
    nodes = {n["node"]: n for n in report["nodes"]}
    assert nodes["a"]["correct"], "the survivor is never reported as crashed"
