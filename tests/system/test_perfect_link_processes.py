"""PL1-PL3 and FIFO between two real OS processes over real UDP, under seeded faults."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.system, pytest.mark.timeout(60)]

WORKER = str(Path(__file__).with_name("peer_worker.py"))


@contextlib.contextmanager
def pair(
    *options: str, count: int, tmp: Path
) -> Iterator[tuple[subprocess.Popen[str], subprocess.Popen[str]]]:
    """Two workers ``a`` and ``b`` that know each other's real ports."""
    procs = []
    try:
        for me, peer in (("a", "b"), ("b", "a")):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        WORKER,
                        "--id",
                        me,
                        "--peer",
                        peer,
                        "--count",
                        str(count),
                        "--expect",
                        str(count),
                        "--out",
                        str(tmp / f"{me}.json"),
                        *options,
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        ports = []
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("READY "), line
            ports.append(int(line.split()[1]))
        for proc, port in zip(procs, reversed(ports), strict=True):
            assert proc.stdin is not None
            proc.stdin.write(f"127.0.0.1 {port}\n")
            proc.stdin.flush()
        yield procs[0], procs[1]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)


def result(proc: subprocess.Popen[str], tmp: Path, me: str) -> dict:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RESULT"):
            return json.loads((tmp / f"{me}.json").read_text())
    raise AssertionError(f"worker ended without a result (exit {proc.wait()})")


def assert_exactly_once_in_order(got: dict, count: int, seed: int, fifo: bool = True) -> None:
    payloads = [p for _, _, p in got["received"]]
    where = f"(seed {seed}, stats {got['stats']})"
    assert len(payloads) == count, f"PL1: {len(payloads)} of {count} delivered {where}"
    assert len(set(payloads)) == count, f"PL2: duplicates delivered {where}"
    assert set(payloads) == set(range(count)), f"PL3: unknown messages delivered {where}"
    if fifo:
        assert payloads == list(range(count)), f"FIFO broken {where}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12])
def test_pl1_pl2_pl3_fifo_10000_each_way_under_30pct_loss_20pct_duplication(
    seed: int, tmp_path: Path
) -> None:
    count = 10_000
    options = ("--seed", str(seed), "--loss", "0.3", "--duplicate", "0.2", "--reorder", "0.2")
    with pair(*options, count=count, tmp=tmp_path) as (a, b):
        got_a, got_b = result(a, tmp_path, "a"), result(b, tmp_path, "b")
    assert_exactly_once_in_order(got_a, count, seed)
    assert_exactly_once_in_order(got_b, count, seed)
    assert got_a["stats"]["retransmitted"] > 0, "30% loss must have caused retransmissions"


def test_without_fifo_every_message_is_still_delivered_exactly_once(tmp_path: Path) -> None:
    seed, count = 21, 3_000
    options = ("--seed", str(seed), "--loss", "0.2", "--reorder", "0.3", "--no-fifo")
    with pair(*options, count=count, tmp=tmp_path) as (a, b):
        got_a, got_b = result(a, tmp_path, "a"), result(b, tmp_path, "b")
    assert_exactly_once_in_order(got_a, count, seed, fifo=False)
    assert_exactly_once_in_order(got_b, count, seed, fifo=False)


@pytest.mark.slow
def test_a_receiver_stopped_for_two_seconds_loses_nothing(tmp_path: Path) -> None:
    count = 20_000
    with pair("--seed", "5", count=count, tmp=tmp_path) as (a, b):
        os.kill(b.pid, signal.SIGSTOP)
        time.sleep(2.0)  # the fault itself: b is frozen for two seconds
        os.kill(b.pid, signal.SIGCONT)
        got_a, got_b = result(a, tmp_path, "a"), result(b, tmp_path, "b")
    assert_exactly_once_in_order(got_a, count, 5)
    assert_exactly_once_in_order(got_b, count, 5)


@pytest.mark.slow
def test_a_partition_that_heals_drains_its_backlog(tmp_path: Path) -> None:
    count = 5_000
    options = ("--seed", "9", "--partition", "0.0", "1.5")
    started = time.monotonic()
    with pair(*options, count=count, tmp=tmp_path) as (a, b):
        got_a, got_b = result(a, tmp_path, "a"), result(b, tmp_path, "b")
    assert time.monotonic() - started >= 1.0, "the partition should have held traffic back"
    assert_exactly_once_in_order(got_a, count, 9)
    assert_exactly_once_in_order(got_b, count, 9)
