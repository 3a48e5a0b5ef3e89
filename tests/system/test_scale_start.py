"""Start-up of many nodes: forked from one fork server, each its own OS process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import netclock

from netclock.cluster.forkserver import MAX_PACKET
from netclock.cluster.launcher import READY_TIMEOUT, ready_timeout

pytestmark = [pytest.mark.system, pytest.mark.timeout(90)]

PROGRAM = """
import asyncio, os

async def main(node, seconds=1.5):
    await asyncio.sleep(seconds)
    return os.getpid()
"""


def _cluster(tmp_path: Path) -> Path:
    (tmp_path / "p.py").write_text(PROGRAM)
    path = tmp_path / "c.toml"
    path.write_text(
        'name = "forks"\nlink = "reliable"\nduration = 20\nprogram = "p.py:main"\n'
        + "".join(f'[[node]]\nid = "{n}"\n' for n in "abcd")
        + '[[action]]\nat = 0.3\ndo = "kill"\nnode = "c"\n'
    )
    return path


@pytest.mark.parametrize("fork_server", ["1", pytest.param("0", marks=pytest.mark.slow)])
def test_each_node_is_its_own_process_and_kill_9_ends_it_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork_server: str
) -> None:
    monkeypatch.setenv("NETCLOCK_FORK_SERVER", fork_server)
    run = tmp_path / "run"
    done = netclock("run", str(_cluster(tmp_path)), "--out", str(run))
    assert done.returncode == 0, done.stdout + done.stderr
    record = [json.loads(x) for x in (run / "faults.jsonl").read_text().splitlines()]
    pids = {r["node"]: r["pid"] for r in record if r["do"] == "start"}
    assert sorted(pids) == ["a", "b", "c", "d"]
    assert len(set(pids.values())) == 4
    exits = {r["node"]: r for r in record if r["do"] == "exit"}
    assert exits["c"]["code"] == -9, exits
    assert all(exits[n]["code"] == 0 and exits[n]["expected"] for n in "abd"), exits
    results = json.loads((run / "results.json").read_text())
    assert {n: results[n] for n in "abd"} == {n: pids[n] for n in "abd"}
    steps = ["fork", "main", "parsed", "node", "bound"] if fork_server == "1" else ["main"]
    for start in (r for r in record if r["do"] == "start"):
        phases = start["phases"]
        times = [phases[step] for step in steps if step in phases]
        assert len(times) == len(steps), phases
        assert times == sorted(times), phases
        assert times[0] > 0, phases
        assert times[-1] <= start["at"], (phases, start["at"])


def _fork_server() -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """A fork server process and the launcher's end of its socket."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server = subprocess.Popen(
        [sys.executable, "-m", "netclock.cli.forkserver", str(theirs.fileno())],
        pass_fds=(theirs.fileno(),),
        stdin=subprocess.DEVNULL,
    )
    theirs.close()
    mine.settimeout(30)
    return mine, server


def test_the_fork_server_answers_bad_requests_with_an_error_and_serves_on(
    tmp_path: Path,
) -> None:
    mine, server = _fork_server()
    try:
        assert "ready" in json.loads(mine.recv(MAX_PACKET))
        for garbage in (b"\xff not json", b'{"argv": "x"}', json.dumps({"argv": ["--version"]})):
            mine.send(garbage if isinstance(garbage, bytes) else garbage.encode())
            assert "error" in json.loads(mine.recv(MAX_PACKET)), garbage
        out_r, out_w = os.pipe()
        null = os.open(os.devnull, os.O_RDWR)
        packet = json.dumps({"argv": ["--version"]}).encode()
        socket.send_fds(mine, [packet], [null, out_w, null])
        os.close(out_w)
        os.close(null)
        answer = json.loads(mine.recv(MAX_PACKET))
        assert answer["pid"] > 0
        with os.fdopen(out_r, "rb") as output:
            assert output.read().startswith(b"netclock ")
    finally:
        mine.close()
        server.wait(timeout=30)
    assert server.returncode == 0


def test_requests_sent_at_once_are_forked_as_one_batch_and_answered_in_order() -> None:
    mine, server = _fork_server()
    outputs = []
    try:
        assert "ready" in json.loads(mine.recv(MAX_PACKET))
        null = os.open(os.devnull, os.O_RDWR)
        packet = json.dumps({"argv": ["--version"]}).encode()
        for i in range(5):
            if i == 2:
                mine.send(b"not json")
                continue
            out_r, out_w = os.pipe()
            socket.send_fds(mine, [packet], [null, out_w, null])
            os.close(out_w)
            outputs.append(out_r)
        os.close(null)
        answers = [json.loads(mine.recv(MAX_PACKET)) for _ in range(5)]
        assert ["pid" in a for a in answers] == [True, True, False, True, True], answers
        assert len({a["pid"] for a in answers if "pid" in a}) == 4
        for out_r in outputs:
            with os.fdopen(out_r, "rb") as output:
                assert output.read().startswith(b"netclock ")
    finally:
        mine.close()
        server.wait(timeout=30)
    assert server.returncode == 0


def test_the_ready_timeout_grows_with_the_cluster() -> None:
    assert ready_timeout(1) > READY_TIMEOUT
    assert ready_timeout(256) >= READY_TIMEOUT + 60
