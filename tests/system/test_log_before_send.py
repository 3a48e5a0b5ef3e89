"""A node logs an event before the message that carries its clock leaves (issue 8, part 1).

A sender process streams to a live peer and is killed with SIGKILL at seeded random
moments (after a seeded number of deliveries at the peer). Whatever the peer delivered
from it, the clock the message carried for the sender is one the sender's logs hold: its
event log and its GoVector log both reach at least that own-entry value.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections import Counter
from pathlib import Path

import pytest

from netclock import Node
from netclock.observe.eventlog import read_events
from netclock.observe.shiviz import parse_log

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(120)]

WORKER = Path(__file__).with_name("logorder_worker.py")
KILLS = 10
SEED = 8


async def _start_sender(link: str, logs: Path) -> tuple[asyncio.subprocess.Process, int, int]:
    """The sender process, its port and its incarnation, once it is ready."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        "--link",
        link,
        "--logs",
        str(logs),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert line.startswith(b"READY "), f"the sender said {line!r}"
    _, port, incarnation = line.split()
    return proc, int(port), int(incarnation)


def _own_entries_logged(logs: Path) -> tuple[int, int, int]:
    """The sender's incarnation, and the highest own entry in its event log and GoVector log."""
    notes: list[str] = []
    events = read_events(logs.with_name(logs.name + ".events.jsonl"), notes)
    assert events, f"{logs}: no events ({notes})"
    assert events[0].ev == "init", f"{logs}: no init event first ({notes})"
    inc = events[0].inc
    assert inc is not None
    govector = [e.clock.get("a") for e in parse_log(logs.with_name(logs.name + ".log"))]
    return inc, max(e.clock["a"] for e in events), max(govector)


@pytest.mark.parametrize("link", ["fairloss", "stubborn", "reliable"])
async def test_a_peer_never_receives_a_clock_its_killed_sender_did_not_log(
    tmp_path: Path, link: str
) -> None:
    rng = random.Random(f"{SEED}-{link}")
    received: Counter[int] = Counter()
    """Deliveries at the peer, per sender incarnation."""
    cited: dict[int, int] = {}
    """The highest own entry of the sender's clock the peer received, per incarnation."""
    reached = asyncio.Event()
    target = (0, 0)
    """The incarnation being killed, and how many of its messages the peer waits for."""

    peer = Node("b", link=link, close_timeout=0.5)  # no logs: it keeps up with the sender
    async with peer:

        async def consume() -> None:
            async for msg in peer:
                received[msg.incarnation] += 1
                cited[msg.incarnation] = max(cited.get(msg.incarnation, 0), msg.clock.get("a"))
                if (msg.incarnation, received[msg.incarnation]) == target:
                    reached.set()

        consumer = asyncio.ensure_future(consume())
        try:
            for kill in range(KILLS):
                proc, port, incarnation = await _start_sender(link, tmp_path / f"a-{kill}")
                try:
                    target = (incarnation, rng.randint(100, 5000))
                    reached.clear()
                    peer.add_peer("a", ("127.0.0.1", port))
                    assert proc.stdin is not None
                    proc.stdin.write(f"127.0.0.1 {peer.address[1]}\n".encode())
                    await asyncio.wait_for(reached.wait(), 30)
                finally:
                    proc.kill()
                    await proc.wait()
        finally:
            consumer.cancel()

    late: list[str] = []
    for kill in range(KILLS):
        inc, in_events, in_govector = _own_entries_logged(tmp_path / f"a-{kill}")
        got = cited.get(inc, 0)
        assert got > 0, f"seed {SEED!r}: the peer delivered nothing from kill {kill}"
        if got > min(in_events, in_govector):
            late.append(f"kill {kill}: a:{got} delivered, logs end at {in_events}/{in_govector}")
    assert not late, f"seed {SEED!r}, {link}: a clock left before it was logged: {late}"
