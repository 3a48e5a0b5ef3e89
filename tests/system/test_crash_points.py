"""kill -9 at the logged link's bad moments, at a deterministic point (issue 8, Tests).

The receiver is armed with a test-only crash point (``NETCLOCK_CRASH_AT``,
netclock/durable/crashpoint.py): at the N-th arrival it SIGKILLs itself, a real kill -9 of
a real process. It is then started again on its data directory and logs. Each scenario
asserts the application consumed every message exactly once (its own crash-safe record),
that the restarted life got back exactly what the crash left unconsumed, that the merged
GoVector log passes ShiViz's rules, and that the checker, given the ground truth the test
recorded as the one that armed the kill, judges the run as it happened: b crashed once and
restarted, nothing was lost, nothing duplicated.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from netclock.observe.shiviz import merge_logs
from netclock.tools.check import check_run, load_run

pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]

WORKER = Path(__file__).with_name("crashpoint_worker.py")
COUNT = 200


class _Record:
    """The run's ``faults.jsonl``, written by the test: it armed the kill, so it records it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.epoch = time.time()

    def add(self, do: str, node: str, **fields: Any) -> None:
        now = time.time()
        entry = {"t": now, "at": round(now - self.epoch, 6), "do": do, "node": node, **fields}
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")


def _ports() -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class _Lines:
    """A process's stdout read line by line, keeping what one read brought beyond a line."""

    def __init__(self) -> None:
        self.buffers: dict[int, bytes] = {}

    def until(self, proc: subprocess.Popen[bytes], prefix: str, timeout: float) -> str:
        """The first line from ``proc`` starting with ``prefix`` (AssertionError after
        ``timeout`` s or when the process ends first)."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        buffer = self.buffers.get(proc.pid, b"")
        try:
            while True:
                while b"\n" in buffer:
                    raw, buffer = buffer.split(b"\n", 1)
                    if raw.decode(errors="replace").startswith(prefix):
                        return raw.decode()
                left = deadline - time.monotonic()
                assert left > 0, f"no line starting with {prefix!r} within {timeout} s"
                if select.select([fd], [], [], left)[0]:
                    chunk = os.read(fd, 65536)
                    assert chunk, f"the process ended before a line starting with {prefix!r}"
                    buffer += chunk
        finally:
            self.buffers[proc.pid] = buffer


LINES = _Lines()


def _start(args: list[str], record: _Record, crash: str | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NETCLOCK_CRASH_AT", None)
    if crash is not None:
        env["NETCLOCK_CRASH_AT"] = crash
    with open(Path(args[5]) / f"{args[1]}.stderr", "ab") as stderr:  # shown on a failure
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    ready = LINES.until(proc, "READY", timeout=30)
    restart = args[7] == "1"
    record.add("start", args[1], pid=proc.pid, incarnation=int(ready.split()[1]), restart=restart)
    return proc


def _tell(proc: subprocess.Popen[bytes], line: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()


@pytest.mark.parametrize(
    ("crash", "gate", "skipped"),
    [
        # a segment's in records are written, its ack has not left: the sender resends, the
        # restarted receiver acks it as a duplicate and hands the messages out flagged
        ("in-written:3", "0", 0),
        # every message delivered and acked; the application recorded message 49 and asked
        # for the next: the kill comes before 49's consumed record, so 49 comes back
        # flagged and the application skips it; nothing else does
        ("consumed:50", "1", 1),
    ],
    ids=["between_durable_write_and_ack", "between_ack_and_consumption"],
)
def test_lpl_kill_9_at_a_bad_moment_loses_nothing_and_consumes_nothing_twice(
    tmp_path: Path, crash: str, gate: str, skipped: int
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    record = _Record(run / "faults.jsonl")
    pa, pb = _ports()
    b_args = ["receive", "b", str(pb), "a", str(pa), str(run), str(COUNT), "0", gate]
    a_args = ["send", "a", str(pa), "b", str(pb), str(run), str(COUNT), "0", "0"]
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        procs["b"] = _start(b_args, record, crash=crash)
        procs["a"] = _start(a_args, record)
        if gate == "1":
            LINES.until(procs["a"], "DONE", timeout=60)  # every message acked by b
            _tell(procs["b"], "go")
        assert procs["b"].wait(timeout=60) == -signal.SIGKILL, "the crash point did not fire"
        record.add("kill", "b", by="crashpoint", point=crash)
        procs["b"] = _start([*b_args[:7], "1", "0"], record)
        done = LINES.until(procs["b"], "DONE", timeout=60).split()
        if gate == "0":
            LINES.until(procs["a"], "DONE", timeout=60)
        for who in ("b", "a"):
            _tell(procs[who], "stop")
            assert procs[who].wait(timeout=30) == 0
            record.add("exit", who, code=0, expected=True)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    consumed = [int(x) for x in (run / "consumed").read_text().split()]
    assert consumed == list(range(COUNT)), "lost or consumed twice"
    redelivered, got_skipped = int(done[2]), int(done[4])
    assert got_skipped == skipped
    assert redelivered >= 1  # what the crash left unconsumed came back, flagged

    assert merge_logs([run / "a.log", run / "b.log"], run / "merged.log") == []
    report = check_run(load_run(run))
    assert report.ok, report.violated
    b = next(n for n in report.nodes if n.node == "b")
    assert not b.correct
    assert len(b.crashes) == 1
    assert len(b.incarnations) == 2
    counts = report.pair("a", "b")
    assert (counts.sent, counts.lost, counts.duplicated) == (COUNT, 0, 0)
