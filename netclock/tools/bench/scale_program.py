"""The program of ``netclock bench --scenario scale``: every node sends to every other.

Kept apart from the bench so that a node loads only this (and :mod:`netclock` itself).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from netclock import Node


async def all_to_all(
    node: Node, per_peer: int = 100, size: int = 16, burst: int = 0
) -> dict[str, Any]:
    """Send ``per_peer`` messages of ``size`` bytes to each peer, round-robin, while
    receiving ``per_peer`` from each; return once all arrived and all sent were acked.

    With ``burst``, in rounds: ``burst`` messages to each peer in turn, then wait until
    everything of the rounds before the previous one arrived, so that every clock holds
    an entry of every process (``manyproc``); without, as fast as the windows allow (a
    node then sends most before it receives anything: clocks of a few entries).

    The result carries the node's CPU seconds and the first send and last delivery times
    (``time.time()``: one clock for every process on one machine), and the link's counters.
    """
    peers = sorted(node.peers)
    expected = per_peer * len(peers)
    payload = b"x" * size
    cpu = time.process_time()
    first_send = time.time()
    last_delivery = first_send
    got = 0
    arrived = asyncio.Event()

    async def receive() -> None:
        nonlocal last_delivery, got
        for _ in range(expected):
            await node.receive()
            got += 1
            arrived.set()
        last_delivery = time.time()

    receiving = asyncio.ensure_future(receive())
    try:
        if burst:
            for first in range(0, per_peer, burst):
                while got < (first - burst) * len(peers):
                    arrived.clear()
                    await arrived.wait()
                for peer in peers:
                    for _ in range(min(burst, per_peer - first)):
                        await node.send(peer, payload)
        for _ in range(0 if burst else per_peer):
            for peer in peers:
                await node.send(peer, payload)
        await receiving
        await node.flush()
    finally:
        receiving.cancel()
    stats = node.stats()
    link = stats["link"]
    return {
        "delivered": expected,
        "sent": expected,
        "cpu": time.process_time() - cpu,
        "first_send": first_send,
        "last_delivery": last_delivery,
        "retransmitted": stats["retransmitted"],
        "timeouts": link.get("timeouts", 0),
        "fast_retransmits": link.get("fast_retransmits", 0),
        "datagrams_sent": link.get("datagrams_sent", link.get("frames_out", 0)),
        "control_datagrams": link.get("pure_acks", 0)
        + link.get("challenges_sent", 0)
        + link.get("challenges_answered", 0),
        "dials": link.get("dials", 0),
        "connections_made": link.get("connections_made", 0),
        "connections_replaced": link.get("connections_replaced", 0),
    }
