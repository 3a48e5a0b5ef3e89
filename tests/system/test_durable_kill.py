"""Durable state across real ``kill -9``: a record log keeps every record written to the OS,
and a node restarted on its data directory takes a new incarnation and a later clock.

Kill moments are seeded; the seed is in every assertion message.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import read_until

from netclock.durable import RecordLog

pytestmark = [pytest.mark.system, pytest.mark.timeout(90)]

SEED = 8
KILLS = 6

APPENDER = """
import random, sys
from netclock.durable import RecordLog
log = RecordLog.open(sys.argv[1])
count = len(log.recovered)
print(f"recovered {count} damage {log.damage}", flush=True)
rng = random.Random(int(sys.argv[2]))
while True:
    batch = rng.randrange(1, 300)
    log.append_many(["r", count + i, "x" * rng.randrange(0, 50)] for i in range(batch))
    count += batch
    print(f"at {count}", flush=True)
"""

NODE = """
import asyncio, sys
from netclock import Node

async def main():
    async with Node("a", data_dir=sys.argv[1]) as node:
        print(f"start {node.incarnation} {node.clock['a']}", flush=True)
        while True:
            for _ in range(100):
                node.log_local_event("tick")
            print(f"clock {node.clock['a']}", flush=True)
            await asyncio.sleep(0)

asyncio.run(main())
"""


def _start(script: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.stdout is not None
    proc.stdout.close()


def _read_past(proc: subprocess.Popen[bytes], prefix: str, target: int) -> int:
    """Read ``prefix N`` lines until N reaches ``target``; returns the last N read."""
    reached = 0
    while reached < target:
        line = read_until(proc, prefix, 20)[-1]
        reached = int(line.split()[1])
    return reached


def test_a_record_log_keeps_every_record_written_before_each_kill_9(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    path = tmp_path / "records.log"
    written = 0
    for kill in range(KILLS):
        proc = _start(APPENDER, str(path), str(rng.randrange(1 << 30)))
        try:
            first = read_until(proc, "recovered", 20)
            recovered = int(first[-1].split()[1])
            assert recovered >= written, f"seed {SEED}, kill {kill}: {first[-1]}, wrote {written}"
            target = recovered + rng.randrange(1, 20_000)
            written = _read_past(proc, "at", target)
        finally:
            _kill(proc)
    log = RecordLog.open(path)
    log.close()
    count = len(log.recovered)
    assert count >= written, f"seed {SEED}: {count} records recovered, {written} written"
    assert [record[1] for record in log.recovered] == list(range(count)), f"seed {SEED}"


def test_a_node_killed_and_restarted_on_its_data_directory_never_reuses_its_identity(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "a"
    incarnations: list[int] = []
    used = 0
    for kill in range(KILLS):
        proc = _start(NODE, str(data_dir))
        try:
            start = read_until(proc, "start", 20)[-1].split()
            incarnation, clock = int(start[1]), int(start[2])
            where = f"seed {SEED}, start {kill}: incarnation {incarnation} clock {clock}"
            assert clock > used, f"{where}: the clock went back to {clock} after {used}"
            assert not incarnations or incarnation > incarnations[-1], f"{where}: {incarnations}"
            incarnations.append(incarnation)
            target = clock + rng.randrange(100, 5000)
            used = _read_past(proc, "clock", target)
        finally:
            _kill(proc)
