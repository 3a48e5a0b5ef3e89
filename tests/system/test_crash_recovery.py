"""The logged perfect link across real kill -9 of real processes (LPL1-LPL3, issue 8).

A sender streams numbered messages to a receiver; one of them is killed with SIGKILL at
seeded random moments and restarted on its data directory (same port). The receiver's
program records each consumption in its own append-only file before it asks for the next
message: at the end that file must hold every message exactly once, in order.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("crash_recovery_worker.py")
SEED = int(os.environ.get("NETCLOCK_TEST_SEED", "0")) or random.SystemRandom().randrange(1, 1 << 30)


class _Proc:
    """A worker process and a line reader over its stdout (no sleeps: select with a deadline)."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._buffer = b""

    def line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            assert left > 0, f"seed {SEED}: no line from {self.args[:2]} within {timeout} s"
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    assert self.proc.stderr is not None
                    err = self.proc.stderr.read().decode(errors="replace")
                    raise AssertionError(f"seed {SEED}: {self.args[:2]} ended: {err[-2000:]}")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\n", 1)
        return raw.decode()

    def until(self, prefix: str, timeout: float, at_least: int = 0) -> str:
        """Read lines until one starts with ``prefix`` (and its number reaches ``at_least``)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.line(max(deadline - time.monotonic(), 0.001))
            if text.startswith(prefix) and (not at_least or int(text.split()[1]) >= at_least):
                return text
            if text == "DONE" and at_least:
                return text

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.close()

    def close(self) -> None:
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _free_ports(count: int) -> list[int]:
    import socket

    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _run(
    tmp_path: Path,
    victim: str,
    count: int,
    kills: int,
    link: str = "reliable",
    durability: str = "process",
    pace: float = 0.02,
) -> None:
    rng = random.Random(SEED)
    ports = _free_ports(2)  # bound to 0 and read back; each restart takes its port again
    extra = [str(tmp_path / "certs")] if link == "tls" else []
    if link == "tls":
        from netclock.links.tls.certs import init_cluster

        init_cluster(tmp_path / "certs", ["a", "b"], cluster="lab")
    args = {
        "a": ["send", "a", str(ports[0]), "b", str(ports[1]), str(tmp_path / "a"), str(count)],
        "b": ["receive", "b", str(ports[1]), "a", str(ports[0]), str(tmp_path / "b"), str(count)],
    }
    for who in args:
        args[who] += [str(pace if who == victim else 0.0), durability, link, *extra]
    procs = {who: _Proc(args[who]) for who in ("b", "a")}
    try:
        for p in procs.values():
            p.until("READY", 30)
        watch = "got" if victim == "b" else "sent"
        targets = sorted(rng.sample(range(count // 20, count * 9 // 10), kills))
        done = False
        killed = 0
        for n, target in enumerate(targets):
            reached = procs[victim].until(watch, 60, at_least=target)
            if reached == "DONE":
                done = victim == "b"
                break
            procs[victim].kill()
            procs[victim] = _Proc(args[victim])
            procs[victim].until("READY", 30)
            killed += 1
            print(f"seed {SEED}: kill {n} of {victim} at {reached}")
        if not done:
            procs["b"].until("DONE", 120)
        consumed = [int(x) for x in (tmp_path / "b" / "consumed").read_text().split()]
        assert killed == kills, f"seed {SEED}: the stream ended after {killed} kills"
        twice = len(consumed) - len(set(consumed))
        assert consumed == list(range(count)), (
            f"seed {SEED}: {len(consumed)} consumptions of {count} messages, {twice} twice"
        )
    finally:
        for p in procs.values():
            p.stop()


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("link", "durability"),
    [
        ("reliable", "process"),
        pytest.param("reliable", "machine", marks=pytest.mark.slow),
        pytest.param("tls", "process", marks=pytest.mark.slow),
        pytest.param("tls", "machine", marks=pytest.mark.slow),
    ],
)
@pytest.mark.parametrize("victim", ["b", "a"], ids=["receiver_killed", "sender_killed"])
def test_lpl_every_message_consumed_exactly_once_across_kill_9(
    tmp_path: Path, victim: str, link: str, durability: str
) -> None:
    _run(tmp_path, victim, count=2000, kills=5, link=link, durability=durability)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("link", ["reliable", "tls"])
@pytest.mark.parametrize("victim", ["b", "a"], ids=["receiver_killed", "sender_killed"])
def test_lpl_10000_messages_20_kills(tmp_path: Path, victim: str, link: str) -> None:
    _run(tmp_path, victim, count=10_000, kills=20, link=link)
