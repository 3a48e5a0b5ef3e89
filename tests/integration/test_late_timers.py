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


def _block(seconds: float, blocked: threading.Event) -> None:
    blocked.set()
    time.sleep(seconds)  # this loop does not run: its process is not scheduled


def _run(peer_away: float, rounds: int) -> dict[str, Any]:
    """Warm up, then ``rounds`` times: block the receiver for ``peer_away`` s, send, block
    the sender for :data:`AWAY` s, wait until acknowledged. The sender's stats."""
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
            for i in range(rounds):
                blocked = threading.Event()
                info["loop"].call_soon_threadsafe(_block, peer_away, blocked)
                assert blocked.wait(10)
                await node.send("b", f"while away {i}")
                await asyncio.sleep(0)  # the message leaves at the end of this iteration
                await asyncio.sleep(0)
                _block(AWAY, threading.Event())
                await node.flush()
            return {**node.stats(), "before": before}

    try:
        return dict(uvloop.run(send()))
    finally:
        stop.set()
        thread.join(20)


def test_a_timeout_overdue_because_both_processes_were_not_run_is_postponed_once() -> None:
    stats = _run(PEER_AWAY, rounds=3)
    assert stats["sent"] == 23
    assert stats["retransmitted"] == stats["before"], stats["link"]


def test_a_peer_silent_beyond_the_postponement_is_still_resent_to() -> None:
    stats = _run(AWAY + 4 * PEER_AWAY, rounds=1)
    assert stats["sent"] == 21
    assert stats["retransmitted"] > stats["before"], stats["link"]
