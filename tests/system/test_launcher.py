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


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_killed_node_ends_the_run_and_is_reported_as_crashed(tmp_path: Path) -> None:
    path = cluster(
        tmp_path,
        """
name = "kill"
link = "reliable"
duration = 20
give_up_after = 1  # a's messages to the killed b fail after 1 s, not the default 5
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
    assert (run / "faults.jsonl").is_file(), "the launcher records what it did"
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


@pytest.mark.slow
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


FAILING = """
import asyncio, os

async def listen(node):
    async for _ in node:
        pass

async def raises(node):
    await asyncio.sleep(0.1)
    raise RuntimeError("the answer is wrong\\nsecond line")

async def exits(node):
    await asyncio.sleep(0.1)
    os._exit(3)

async def aborts(node):
    await asyncio.sleep(0.1)
    os.abort()

async def forever(node):
    await asyncio.sleep(1000)

async def takes_rounds(node, rounds):
    pass
"""


def failing_cluster(tmp_path: Path, program: str, duration: float = 20) -> Path:
    (tmp_path / "f.py").write_text(FAILING)
    path = tmp_path / "f.toml"
    path.write_text(
        f'name = "f"\nduration = {duration}\n'
        '[[node]]\nid = "a"\nprogram = "f.py:listen"\n'
        f'[[node]]\nid = "b"\nprogram = "f.py:{program}"\n'
    )
    return path


def fault_record(run: Path) -> list[dict[str, object]]:
    lines = (run / "faults.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize(
    ("program", "says"),
    [
        ("raises", "node b failed: RuntimeError: the answer is wrong"),
        ("exits", "node b failed: exited with code 3"),
        ("aborts", "node b failed: killed by SIGABRT, which the run did not send"),
    ],
)
@pytest.mark.slow
def test_a_failing_program_is_named_with_its_error_and_the_run_exits_3(
    tmp_path: Path, program: str, says: str
) -> None:
    """The failure ends nothing else: a listens until the short duration is over."""
    run = tmp_path / "run"
    done = netclock("run", str(failing_cluster(tmp_path, program, 3)), "--out", str(run))
    assert done.returncode == 3, done.stdout + done.stderr
    assert says in done.stdout, done.stdout
    assert "second line" not in done.stdout
    assert "the program of b failed" in done.stderr, done.stderr
    assert (run / "merged.log").exists()
    assert (run / "viewer.html").exists()
    exits = [r for r in fault_record(run) if r["do"] == "exit" and r["node"] == "b"]
    assert len(exits) == 1, exits
    assert exits[0]["expected"] is False, exits
    assert says.split(": ", 1)[1] in str(exits[0]["error"]), exits


@pytest.mark.parametrize(
    ("program", "says"),
    [
        ("takes_rounds", "program f.py:takes_rounds of node 'b' cannot take args {}"),
        ("missing", "f.py has no function 'missing' (it has aborts, exits, forever, listen,"),
    ],
)
def test_a_program_that_cannot_start_is_one_sentence_and_exit_2(
    tmp_path: Path, program: str, says: str
) -> None:
    done = netclock("run", str(failing_cluster(tmp_path, program)), "--out", str(tmp_path / "r"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"netclock: node b could not start: {says}" in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_a_duration_that_expires_with_programs_unfinished_exits_4(tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = netclock("run", str(failing_cluster(tmp_path, "forever", 1.5)), "--out", str(run))
    assert done.returncode == 4, done.stdout + done.stderr
    assert "duration of 1.5 s is over; stopping (unfinished: a, b)" in done.stdout
    assert "while the program of a, b still ran" in done.stderr
    record = fault_record(run)
    assert record[-1]["do"] == "stop"
    assert record[-1]["reason"] == "duration"
    assert all(r["expected"] for r in record if r["do"] == "exit"), record


def test_control_lines_written_around_the_control_writer_change_nothing(tmp_path: Path) -> None:
    """A subprocess or ``os.write`` of the program writes to file descriptor 1, the control
    channel itself: a line there that only looks like a READY (a second one, or one without
    an address) is kept as output. Before: the malformed one stopped the launcher reading
    the node (no exit recorded, the run ran to its duration) and the second one recorded
    a start the node never made."""
    (tmp_path / "f.py").write_text(
        "import os\n"
        "async def echo(node):\n"
        "    os.write(1, b'@netclock READY {}\\n')\n"
        '    os.write(1, b\'@netclock READY {"host": "127.0.0.1", "port": 9}\\n\')\n'
        "    os.write(1, b'@netclock NOSUCH {}\\n')\n"
    )
    path = tmp_path / "c.toml"
    path.write_text('name = "echo"\nduration = 20\n[[node]]\nid = "a"\nprogram = "f.py:echo"\n')
    run = tmp_path / "run"
    done = netclock("run", str(path), "--out", str(run))
    assert done.returncode == 0, done.stdout + done.stderr
    record = fault_record(run)
    assert [r["do"] for r in record] == ["start", "exit", "stop"], record
    assert record[-1]["reason"] == "done", record
    out = (run / "a.out").read_text()
    assert out.count("@netclock ") == 3, out
