"""Timeouts that account for the process not having run (real UDP sockets).

Two nodes, each on its own event loop (uvloop) in its own thread. Both loops are blocked at
once, as when the OS does not schedule either process: the sender just after a send, the
receiver for a little longer. When the sender runs again its retransmission timer is long
overdue although nothing was lost; the peer simply has not been run yet. The sender first
reads what arrived, then postpones that timeout by the time it was away (once), and the ack
comes in time: no retransmission. A peer that stays silent is still resent to.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from netclock import Node

uvloop = pytest.importorskip("uvloop")

pytestmark = pytest.mark.timeout(60)

AWAY = 0.3
"""Seconds the sender's loop does not run (60 times its retransmission timeout)."""
PEER_AWAY = 0.4
"""Seconds the receiver's loop does not run, from just before the send."""
LATE_WAKE = 0.1
"""Seconds past :data:`PEER_AWAY` the receiver may wake for a round to count: its ack
then still comes before the postponed retransmission (about ``2 * AWAY`` after the send)."""
ROUNDS_TRIED = 12
"""Rounds at most, to get the rounds a test asks for that the machine ran as intended."""


def _receiver(ready: threading.Event, info: dict[str, Any], stop: threading.Event) -> None:
    async def run() -> None:
        async with Node("b", link="reliable") as node:
            info["address"] = node.address
            info["loop"] = asyncio.get_running_loop()
            info["peer"] = info["loop"].create_future()
            ready.set()
            node.add_peer("a", await info["peer"])
            while not stop.is_set():
                try:
                    await node.receive(timeout=0.05)
                except TimeoutError:
                    continue

    uvloop.run(run())


def _block(seconds: float, blocked: threading.Event, away: list[float] | None = None) -> None:
    blocked.set()
    start = time.monotonic()
    time.sleep(seconds)  # this loop does not run: its process is not scheduled
    if away is not None:
        away.append(time.monotonic() - start)


def _run(peer_away: float, rounds: int) -> dict[str, Any]:
    """Warm up, then rounds until ``rounds`` of them ran as intended: block the receiver for
    ``peer_away`` s, send, block the sender for :data:`AWAY` s, wait until acknowledged. The
    sender's stats, with ``rounds``: ``(retransmissions, on time)`` per round.

    A round is on time when the receiver's loop ran again at most :data:`LATE_WAKE` s later
    than asked. On a loaded machine a sleeping thread may wake much later; its ack may then
    come after the postponed deadline, so the round shows nothing and is not counted.
    """
    ready, stop = threading.Event(), threading.Event()
    info: dict[str, Any] = {}
    thread = threading.Thread(target=_receiver, args=(ready, info, stop), daemon=True)
    thread.start()
    assert ready.wait(20)

    async def send() -> dict[str, Any]:
        async with Node("a", link="reliable") as node:
            node.add_peer("b", info["address"])
            info["loop"].call_soon_threadsafe(info["peer"].set_result, node.address)
            for i in range(20):  # RTT samples: the timeout comes down to a few ms
                await node.send("b", i)
                await node.flush()
            before = node.stats()["retransmitted"]
            tried: list[tuple[int, bool]] = []
            while sum(on_time for _, on_time in tried) < rounds and len(tried) < ROUNDS_TRIED:
                blocked, away = threading.Event(), []
                info["loop"].call_soon_threadsafe(_block, peer_away, blocked, away)
                assert blocked.wait(10)
                retransmitted = node.stats()["retransmitted"]
                await node.send("b", f"while away {len(tried)}")
                await asyncio.sleep(0)  # the message leaves at the end of this iteration
                await asyncio.sleep(0)
                _block(AWAY, threading.Event())
                await node.flush()  # the receiver ran before its ack came: away is set
                on_time = away[0] < peer_away + LATE_WAKE
                tried.append((node.stats()["retransmitted"] - retransmitted, on_time))
            return {**node.stats(), "before": before, "rounds": tried}

    try:
        return dict(uvloop.run(send()))
    finally:
        stop.set()
        thread.join(20)


def test_a_timeout_overdue_because_both_processes_were_not_run_is_postponed_once() -> None:
    stats = _run(PEER_AWAY, rounds=3)
    tried = stats["rounds"]
    assert stats["sent"] == 20 + len(tried)
    assert [n for n, on_time in tried if on_time] == [0, 0, 0], (tried, stats["link"])


def test_a_peer_silent_beyond_the_postponement_is_still_resent_to() -> None:
    stats = _run(AWAY + 4 * PEER_AWAY, rounds=1)
    assert stats["sent"] == 21  # silent well past the postponed deadline: on time at once
    assert stats["retransmitted"] > stats["before"], stats["link"]
