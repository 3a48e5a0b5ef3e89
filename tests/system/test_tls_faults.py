"""AL1/AL2 and FIFO between two real OS processes over TLS, through real process faults.

The receiver is frozen with SIGSTOP, the sender fills its window (32 MiB, more than the
socket buffers hold), the sender's connection is torn down with a TCP RST while those
messages are unacknowledged, and the receiver is thawed with SIGCONT: every message must
still arrive exactly once, in order, the lost ones resent on the new connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netclock.links.tls import certs

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]

WORKER = str(Path(__file__).with_name("tls_worker.py"))
STEP = 15.0
"""Longest one step may take (process start-up included) before the test fails."""


class Worker:
    """A child process whose stdout lines are read by a thread, each wait bounded."""

    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, WORKER, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put("")

    def expect(self, word: str) -> list[str]:
        """The words after ``word`` on the next line; fails on anything else or a timeout."""
        try:
            line = self.lines.get(timeout=STEP)
        except queue.Empty:
            raise AssertionError(f"no {word} line within {STEP} s") from None
        assert line.startswith(word + " ") or line == word, f"expected {word}, got {line!r}"
        return line.split(" ", 1)[1:]

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()


@contextlib.contextmanager
def workers(*argvs: list[str]) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        for argv in argvs:
            started.append(Worker(*argv))
        yield started
    finally:
        for worker in started:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.proc.pid, signal.SIGCONT)
            worker.proc.kill()
            worker.proc.wait(timeout=10)


def test_al1_al2_fifo_survive_sigstop_and_a_reset_with_messages_in_flight(
    tmp_path: Path,
) -> None:
    total = 10_000
    cert_dir = tmp_path / "certs"
    certs.init_cluster(cert_dir, ["a", "b"])
    common = ["--certs", str(cert_dir)]
    with workers(
        ["--id", "b", "--peer", "a", "--receive", str(total), *common],
        ["--id", "a", "--peer", "b", "--send", str(total), *common],
    ) as (receiver, sender):
        ports = [w.expect("READY")[0] for w in (receiver, sender)]
        receiver.tell(f"127.0.0.1 {ports[1]}")
        sender.tell(f"127.0.0.1 {ports[0]}")
        receiver.expect("PEERED")
        sender.expect("PEERED")

        sender.tell("send 5000")
        assert sender.expect("SENT")[0].split()[0] == "5000"
        sender.tell("flush")
        assert sender.expect("FLUSHED") == ["0"]

        # Frozen receiver, a full send budget of 32 KiB messages (8 MiB, send_bytes): far
        # more than the socket buffers hold, so most of it waits in the sender's process
        # when the RST hits.
        os.kill(receiver.proc.pid, signal.SIGSTOP)
        sender.tell("fill 32768")
        sent, unacked = map(int, sender.expect("FILLED")[0].split())
        assert 250 <= unacked <= 256, "with the receiver frozen, the send budget fills and holds"
        assert 5000 < sent < total

        sender.tell("reset")
        was_connected, in_flight = sender.expect("RESET")[0].split()
        assert was_connected == "True"
        assert int(in_flight) > 0, "the reset must hit unacknowledged messages"
        os.kill(receiver.proc.pid, signal.SIGCONT)

        sender.tell("finish")
        stats = json.loads(sender.expect("DONE")[0])
        result = json.loads(receiver.expect("RESULT")[0])

    assert result["count"] == total
    assert result["distinct"] == total, f"duplicates delivered: {result}"
    assert result["in_order"], f"first out-of-order delivery at {result['first_bad']}"
    assert stats["connections_reset"] == 1
    assert stats["connections_made"] >= 2, "the sender reconnected after the reset"
    assert stats["retransmitted"] > 0, f"what was in flight was resent: {stats} {result}"
    assert stats["bad_frames"] == 0
    assert result["link"]["bad_frames"] == 0
