"""Heartbeats are source-filtered: a forger cannot keep a crashed peer "alive".

On real sockets on 127.0.0.1, on every link kind with a detector: ``a`` watches ``b`` and
``c``; ``b`` crash-stops (closes) while a forger on a socket of its own sends ``a`` a
heartbeat claiming to be ``b`` every few milliseconds, as fast as ``b`` used to. ``a`` still
suspects ``b`` (P: within its timeout), counts the forgeries (the detector's ``forged``; on
``sealed`` the link's ``bad_datagrams``: an unsealed datagram is refused before any
heartbeat is read)
and goes on hearing honest ``c``: never suspected, its message delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from netclock import Node
from netclock.detectors.core import DetectorEvent, Suspect
from netclock.detectors.options import DetectorOptions
from netclock.links.tls import certs
from netclock.links.udp import CONTROL_PREFIX

pytestmark = pytest.mark.timeout(60)

FAST = {"period": 0.05, "grace": 0.5}


async def next_of(events: AsyncIterator[DetectorEvent], kind: type, peer: str) -> Any:
    async with asyncio.timeout(20):
        async for ev in events:
            if isinstance(ev, kind) and ev.peer == peer:
                return ev
    raise AssertionError("the detector closed first")


async def forge(target: tuple[str, int], incarnation: int, stop: asyncio.Event) -> int:
    """Send ``target`` a heartbeat "from b" every 10 ms from a socket of our own."""
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.bind(("127.0.0.1", 0))
        raw.setblocking(False)
        while not stop.is_set():
            beat = CONTROL_PREFIX + msgpack.packb(["b", "a", incarnation, sent + 1, time.time()])
            with contextlib.suppress(OSError):
                raw.sendto(beat, target)
                sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.01)  # pacing, not synchronisation
    return sent


@pytest.mark.parametrize("kind", ["fairloss", "reliable", "sealed", "tls"])
async def test_forged_heartbeats_do_not_keep_a_crashed_peer_alive(
    kind: str, tmp_path: Path
) -> None:
    extra: dict[str, Any] = {}
    if kind in ("sealed", "tls"):
        certs.init_cluster(tmp_path, ["a", "b", "c"], cluster="lab")
        extra["cert_dir"] = tmp_path
    detector = DetectorOptions("perfect", **FAST)
    nodes = [Node(n, link=kind, detector=detector, close_timeout=0.5, **extra) for n in "abc"]  # type: ignore[arg-type]
    a, b, c = nodes
    for node in nodes:
        await node.start()
    stop = asyncio.Event()
    try:
        for node in nodes:
            for other in nodes:
                if other is not node:
                    node.add_peer(other.id, other.address)
        events = a.detector_events()
        await b.send("a", "b is here")
        assert (await a.receive(20)).payload == "b is here"
        forger = asyncio.ensure_future(forge(a.address, b.incarnation, stop))
        await b.close()
        await next_of(events, Suspect, "b")
        stop.set()
        forged = await forger
        assert forged > 0
        assert a.suspected == {"b"}, "honest c is never suspected"
        await c.send("a", "c is here")
        assert (await a.receive(20)).payload == "c is here"
        assert a.detector is not None
        link = a.stats()["link"]
        counted = link["bad_datagrams"] if kind == "sealed" else a.detector.stats()["forged"]
        assert counted > 0, f"{forged} forged heartbeats sent, none counted"
        assert a.detector.stats()["heartbeats_received"] > 0
    finally:
        stop.set()
        for node in nodes:
            await node.close()
