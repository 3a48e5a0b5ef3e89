"""A refusal flood on the UDP links: bounded logs and event logs, honest traffic untouched.

On real sockets on 127.0.0.1: while ``a`` streams 300 messages to ``c``, a forger on a
socket of its own sends ``c`` 10,000 datagrams ``c`` must refuse (envelopes claiming to be
``a``, ``a``'s peer ``m`` and strangers, and junk). ``c`` delivers a's messages exactly once
and in order, counts every refusal, writes at most ``MAX_REFUSED_EVENTS`` of them to its
event log, and logs nothing above debug level for them (the warnings that are rate-limited
belong to the TLS listener: tests/integration/test_tls_listener.py).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netclock import Node
from netclock.adversary import MALFORMED, segment_envelope
from netclock.clock import VectorClock
from netclock.links.tls import certs
from netclock.node import MAX_REFUSED_EVENTS
from netclock.observe.eventlog import read_events

pytestmark = pytest.mark.timeout(90)

FLOOD = 10_000
HONEST = 300
STEP = 30.0
IN_FLIGHT = 100
"""Flood datagrams sent but not yet read by c (its socket buffer holds a few hundred)."""


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.above_debug: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno > logging.DEBUG:
            self.above_debug.append(record.getMessage())


@pytest.fixture
def lines(capture_logs: Callable[[Lines, str], Lines]) -> Lines:
    return capture_logs(Lines(), "netclock")


def flood_datagrams() -> list[bytes]:
    """Envelopes claiming a (c's peer, from another port), m (a peer elsewhere) and a
    stranger, and malformed bytes."""
    clock = VectorClock({"a": 1})
    return [
        segment_envelope("a", "c", ["forged as a"], incarnation=7, clocks=[clock]),
        segment_envelope("m", "c", ["forged as m"], incarnation=7, clocks=[VectorClock({"m": 1})]),
        segment_envelope("mallory", "c", ["a stranger"], incarnation=7),
        *MALFORMED.values(),
    ]


@pytest.mark.parametrize("kind", ["reliable", "sealed"])
async def test_a_refusal_flood_is_counted_not_logged_and_honest_traffic_flows(
    kind: str, tmp_path: Path, lines: Lines
) -> None:
    extra: dict[str, Any] = {}
    if kind == "sealed":
        certs.init_cluster(tmp_path / "certs", ["a", "c", "m"], cluster="lab")
        extra["cert_dir"] = tmp_path / "certs"
    log = tmp_path / "c.events.jsonl"
    async with (
        Node("c", link=kind, event_log=log, close_timeout=1.0, **extra) as c,
        Node("a", link=kind, close_timeout=1.0, **extra) as a,
    ):
        c.add_peer("a", a.address)
        c.add_peer("m", ("127.0.0.1", 9))
        a.add_peer("c", c.address)
        datagrams = flood_datagrams()

        def arrived() -> int:
            return int(c.stats()["link"]["datagrams_received"])

        async def flood() -> int:
            sent = 0
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
                raw.setblocking(False)
                while sent < FLOOD:
                    for data in datagrams:
                        try:
                            raw.sendto(data, c.address)
                            sent += 1
                        except BlockingIOError:
                            break
                    # share the loop with the honest pair, and keep at most IN_FLIGHT in c's
                    # socket buffer: what the kernel drops never reaches c's counters
                    while True:
                        await asyncio.sleep(0)
                        if sent - arrived() <= IN_FLIGHT:
                            break
            return sent

        flooding = asyncio.ensure_future(flood())
        for i in range(HONEST):
            await a.send("c", i)
        got = [await c.receive(STEP) for _ in range(HONEST)]
        sent = await flooding
        assert [(d.sender, d.payload) for d in got] == [("a", i) for i in range(HONEST)]
        await asyncio.wait_for(a.flush(), STEP)
        assert a.failures() == []
        stats = c.stats()
    assert sent >= FLOOD
    refused_events = [e for e in read_events(log, []) if e.ev == "refused"]
    assert stats["refused"] > MAX_REFUSED_EVENTS, "every refusal is counted"
    assert len(refused_events) == MAX_REFUSED_EVENTS, "the event log keeps the first ones"
    assert lines.above_debug == [], lines.above_debug[:5]
