"""A node killed -9 and started again without its data directory, as OS processes.

Its peer holds clock entries of its first life (a:600 and more) while the new life starts
from a:1: the peer treats it as a new incarnation (confirmed from its address) and the new
life takes the peer's messages at once, never merging the claims about itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import read_until

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(60)]

WORKER = Path(__file__).with_name("restart_worker.py")


def start(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def ready(proc: subprocess.Popen[bytes]) -> int:
    return int(read_until(proc, "READY", 20)[-1].split()[1])


def tell(proc: subprocess.Popen[bytes], port: int) -> None:
    assert proc.stdin is not None
    proc.stdin.write(f"{port}\n".encode())
    proc.stdin.flush()


def done(proc: subprocess.Popen[bytes]) -> dict[str, object]:
    line = read_until(proc, "DONE", 30)[-1]
    result: dict[str, object] = json.loads(line.split(" ", 1)[1])
    return result


def test_a_restart_without_its_data_directory_talks_to_its_peer_at_once() -> None:
    b = start("echo", "--id", "b", "--peer", "a")
    first = start("send", "--id", "a", "--peer", "b", "--count", "300")
    second = None
    try:
        b_port = ready(b)
        a_port = ready(first)
        tell(b, a_port)
        tell(first, b_port)
        life1 = done(first)
        assert life1["echoes"] == list(range(300))
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = start(
            "send", "--id", "a", "--peer", "b", "--port", str(a_port), "--count", "50",
            "--first", "1000",
        )  # fmt: skip
        assert ready(second) == a_port
        tell(second, b_port)
        life2 = done(second)
        assert life2["incarnation"] != life1["incarnation"]
        echoes = life2["echoes"]
        assert isinstance(echoes, list)
        mine = [e for e in echoes if e >= 1000]
        assert mine == list(range(1000, 1050)), "every echo reached the new life, in order"
        assert all(e < 300 for e in echoes[: len(echoes) - 50]), (
            "before them only echoes b owed the first life and resent (never acknowledged)"
        )
        delivered = life2["delivered"]
        assert life2["dropped"] == 0
        claims = life2["false_claims"]
        assert isinstance(claims, int)
        assert isinstance(delivered, int)
        assert 0 < claims <= delivered, "b cited a's first life until this one caught up"
        # no log: the clock starts empty (as GoVector's), so only sends and receives count
        assert life2["own"] == 50 + delivered, "a's own entry counts this life only"
    finally:
        for proc in (first, second, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
