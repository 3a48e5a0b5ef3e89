"""A node killed with SIGKILL keeps its logs: everything up to its last loop iteration.

The logs are written once per event-loop iteration (netclock.observe.eventlog), so a
``kill -9`` can lose at most the events of the iteration it interrupts, and can cut at
most the last line, which the readers skip.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import read_until

from netclock.observe.eventlog import read_events
from netclock.observe.shiviz import parse_log, validate_shiviz

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]

REPORTED = 2000
"""The sender's report the test waits for before it kills the sender."""

PROGRAMS = """
import asyncio

async def sender(node, to="b", every=500):
    sent = 0
    while True:
        await node.send(to, sent)
        sent += 1
        if sent % every == 0:
            await asyncio.sleep(0)  # this loop iteration ends: its events are written
            print(f"sent {sent}", flush=True)

async def receiver(node):
    async for _ in node:
        pass
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _node(tmp_path: Path, node_id: str, run_dir: Path) -> subprocess.Popen[bytes]:
    command = ["node", "--id", node_id, "--run-dir", str(run_dir), str(tmp_path / "c.toml")]
    return subprocess.Popen(
        [sys.executable, "-m", "netclock", *command],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.parametrize("link", ["reliable", "fairloss"])
def test_a_sigkilled_node_has_every_event_up_to_its_last_loop_iteration_on_disk(
    tmp_path: Path, link: str
) -> None:
    (tmp_path / "flow.py").write_text(PROGRAMS)
    (tmp_path / "c.toml").write_text(
        f"""
link = "{link}"
[[node]]
id = "a"
address = "127.0.0.1:{_free_port()}"
program = "flow.py:sender"
[[node]]
id = "b"
address = "127.0.0.1:{_free_port()}"
program = "flow.py:receiver"
"""
    )
    run_dir = tmp_path / "run"
    receiver = _node(tmp_path, "b", run_dir)
    sender = _node(tmp_path, "a", run_dir)
    try:
        read_until(sender, f"sent {REPORTED}", timeout=40)
        sender.send_signal(signal.SIGKILL)  # while it is sending
        assert sender.wait(timeout=10) == -signal.SIGKILL
    finally:
        for proc in (sender, receiver):
            proc.kill()
            proc.wait(timeout=10)

    notes: list[str] = []
    logged = read_events(run_dir / "a.events.jsonl", notes)
    events = [e for e in logged if e.ev != "sample"]  # the charts' samples, not events
    assert [e.ev for e in events[:2]] == ["init", "send"], notes
    assert all(e.ev == "send" for e in events[1:]), "a killed node logs no stop"
    sends = len(events) - 1
    assert sends >= REPORTED, f"{sends} sends on disk, {REPORTED} reported before the kill"
    assert [e.clock["a"] for e in events] == list(range(1, len(events) + 1))
    assert len(notes) <= 1, notes  # at most the last line, cut by the kill

    logged = parse_log(run_dir / "a.log")
    assert validate_shiviz(logged) == []
    assert len(logged) >= REPORTED + 1  # "Initialization Complete", then the sends
