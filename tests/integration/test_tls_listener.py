"""The TLS listener keeps serving its peers under connection floods, on real sockets.

A slowloris of 300 idle TCP connections cannot lock a reconnecting peer out (the longest
idle connection is evicted for each new one), and a flood of connections that fail their
handshake writes a bounded number of log lines per second, the rest counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from netclock import Node
from netclock.links.tls import certs

pytestmark = pytest.mark.timeout(60)

STEP = 10.0
SLOWLORIS = 300
LINES_PER_SECOND = 20
"""The link's refusal-log budget (netclock.links.tls.link's LogLimiter default)."""


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tls-listener") / "certs"
    certs.init_cluster(directory, ["a", "c"], cluster="lab")
    return directory


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records(capture_logs: Callable[[Records, str], Records]) -> Records:
    return capture_logs(Records(), "netclock.links.tls")


def tls_node(node_id: str, cert_dir: Path) -> Node:
    return Node(node_id, link="tls", cert_dir=cert_dir, close_timeout=2.0)


def link_stats(node: Node) -> dict[str, Any]:
    stats = node.stats()["link"]
    assert isinstance(stats, dict)
    return stats


@contextlib.asynccontextmanager
async def slowloris(port: int, count: int) -> AsyncIterator[list[asyncio.StreamWriter]]:
    """``count`` TCP connections to ``port`` that never send a byte, held open."""
    writers: list[asyncio.StreamWriter] = []
    try:
        for _ in range(count):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writers.append(writer)
        yield writers
    finally:
        for writer in writers:
            writer.close()


async def test_a_peer_reconnecting_during_a_slowloris_is_admitted_within_a_second(
    cert_dir: Path,
) -> None:
    async with tls_node("c", cert_dir) as c:
        async with tls_node("a", cert_dir) as a:
            a.add_peer("c", c.address)
            c.add_peer("a", a.address)
            await a.send("c", "first life")
            assert (await c.receive(STEP)).payload == "first life"
        async with slowloris(c.address[1], SLOWLORIS), tls_node("a", cert_dir) as again:
            again.add_peer("c", c.address)  # the peer restarted, and dials c on its send
            c.add_peer("a", again.address)
            start = time.monotonic()
            await again.send("c", "back")
            got = await c.receive(STEP)
            waited = time.monotonic() - start
            assert (got.sender, got.payload) == ("a", "back")
            assert waited < 1.0, f"admitted {waited:.2f} s after its dial"
            await again.flush()
        stats = link_stats(c)
        assert stats["connections_evicted"] >= SLOWLORIS - 16
        assert stats["unauthenticated"] <= 16


async def test_a_refusal_flood_writes_a_bounded_number_of_lines_per_second(
    cert_dir: Path, records: Records
) -> None:
    async with tls_node("c", cert_dir) as c, tls_node("a", cert_dir) as a:
        a.add_peer("c", c.address)
        c.add_peer("a", a.address)
        port = c.address[1]

        async def junk() -> None:
            with contextlib.suppress(OSError):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(b"GET / HTTP/1.0\r\n\r\n")
                await reader.read()  # until c closes it: the handshake failed
                writer.close()

        started = time.time()
        refused = 0
        while time.time() - started < 2.5:
            await asyncio.gather(*(junk() for _ in range(50)))
            refused += 50
        await a.send("c", "honest")
        assert (await c.receive(STEP)).payload == "honest"
        lines = [r for r in records.records if r.levelno >= logging.INFO]
        per_second = Counter(int(r.created) for r in lines)
        assert max(per_second.values()) <= 2 * LINES_PER_SECOND  # a window may span two
        assert len(lines) <= LINES_PER_SECOND * (int(time.time() - started) + 2)
        stats = link_stats(c)
        turned_away = stats["connections_refused"] + stats["connections_evicted"]
        assert turned_away >= refused * 0.9
        assert len(lines) + stats["log_lines_suppressed"] >= turned_away
        assert any("similar lines suppressed" in r.getMessage() for r in lines)


async def _settled(node: Node, accepted: int) -> dict[str, Any]:
    """The link's stats once ``accepted`` connections were admitted or evicted."""
    while True:
        stats = link_stats(node)
        if stats["unauthenticated"] + stats["connections_evicted"] >= accepted:
            return stats
        await asyncio.sleep(0.01)  # polling a counter, bounded by the test's timeout


async def test_a_host_of_known_peers_holds_a_place_for_each_beside_the_per_source_cap(
    cert_dir: Path,
) -> None:
    """A cluster on one machine connects from one address all at once: with 3 peers known
    at 127.0.0.1 that host may hold 16 + 3 connections in their handshakes before the
    longest idle is evicted."""
    async with tls_node("c", cert_dir) as c:
        for i, peer in enumerate(("a", "p1", "p2")):
            c.add_peer(peer, ("127.0.0.1", 9 + i))  # never dialed: c sends nothing
        async with slowloris(c.address[1], 19):
            stats = await _settled(c, 19)
            assert (stats["unauthenticated"], stats["connections_evicted"]) == (19, 0)
            async with slowloris(c.address[1], 1):
                stats = await _settled(c, 20)
                assert (stats["unauthenticated"], stats["connections_evicted"]) == (19, 1)
