"""``add_peer`` for a known peer moves it, with messages in flight, on real sockets.

Node a first knows b at a dead address (a socket that swallows datagrams, or a TCP port
nobody listens on), sends while b cannot get anything, then learns b's real address: the
same process b, now reachable. Every link kind is tried.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netclock import Node
from netclock.links.tls import certs

pytestmark = pytest.mark.timeout(60)

COUNT = 50
STEP = 10.0
"""Longest b may wait for any one message before the test fails."""


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("move") / "certs"
    certs.init_cluster(directory, ["a", "b"], cluster="lab")
    return directory


@pytest.fixture
def dead_address() -> Iterator[tuple[str, int]]:
    """A loopback port that answers nothing: bound (so nobody else takes it), never read,
    never listening (a TCP connect there is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", port))
            yield ("127.0.0.1", port)


def _options(link: str, cert_dir: Path) -> dict[str, Any]:
    return {"cert_dir": cert_dir} if link == "tls" else {}


@pytest.mark.parametrize("link", ["reliable", "tls"])
async def test_pl1_pl2_queued_and_unacked_messages_follow_a_moved_peer_exactly_once_in_order(
    link: str, cert_dir: Path, dead_address: tuple[str, int]
) -> None:
    options = _options(link, cert_dir)
    async with Node("a", link=link, **options) as a, Node("b", link=link, **options) as b:
        b.add_peer("a", a.address)
        a.add_peer("b", dead_address)
        for i in range(COUNT // 2):
            await a.send("b", i)
        await asyncio.sleep(0)  # the first half leaves (to the dead address) ...
        stats = a.stats()
        for i in range(COUNT // 2, COUNT):
            await a.send("b", i)  # ... the second half is still queued when b moves
        a.add_peer("b", b.address)
        assert a.peers == ["b"]
        got = [(await b.receive(timeout=STEP)).payload for _ in range(COUNT)]
        assert got == list(range(COUNT)), f"a's stats before the move: {stats}"
        await asyncio.wait_for(a.flush(), STEP)  # every message acknowledged by b
        with pytest.raises(TimeoutError):
            await b.receive(timeout=0.3)  # and none twice


async def test_sl1_a_stubborn_link_retransmits_to_the_moved_peer(
    cert_dir: Path, dead_address: tuple[str, int]
) -> None:
    async with Node("a", link="stubborn") as a, Node("b", link="stubborn") as b:
        b.add_peer("a", a.address)
        a.add_peer("b", dead_address)
        for i in range(COUNT):
            await a.send("b", i)
        a.add_peer("b", b.address)
        seen: set[int] = set()
        while len(seen) < COUNT:
            seen.add((await b.receive(timeout=STEP)).payload)
        assert seen == set(range(COUNT))


async def test_a_fairloss_link_sends_to_the_moved_peer_from_then_on(
    dead_address: tuple[str, int],
) -> None:
    async with Node("a", link="fairloss") as a, Node("b", link="fairloss") as b:
        b.add_peer("a", a.address)
        a.add_peer("b", dead_address)
        await a.send("b", "lost: sent to the dead address")
        await asyncio.sleep(0)
        a.add_peer("b", b.address)
        await a.send("b", "after the move")
        assert (await b.receive(timeout=STEP)).payload == "after the move"


@pytest.mark.parametrize("link", ["reliable", "stubborn", "fairloss", "tls"])
async def test_adding_a_known_peer_at_its_own_address_changes_nothing(
    link: str, cert_dir: Path
) -> None:
    options = _options(link, cert_dir)
    async with Node("a", link=link, **options) as a, Node("b", link=link, **options) as b:
        b.add_peer("a", a.address)
        a.add_peer("b", b.address)
        await a.send("b", 1)
        a.add_peer("b", b.address)
        await a.send("b", 2)
        assert (await b.receive(timeout=STEP)).payload == 1
        assert (await b.receive(timeout=STEP)).payload == 2


async def test_al1_a_tls_peer_that_moves_is_redialed_at_its_new_address(cert_dir: Path) -> None:
    """b listens on every loopback address; a first reaches it at 127.0.0.1, then learns
    127.0.0.2: the connection a dialed is replaced by one to the new address, and what a
    sent around the move arrives once, in order."""
    async with (
        Node("a", link="tls", cert_dir=cert_dir) as a,
        Node("b", link="tls", cert_dir=cert_dir, address=("0.0.0.0", 0)) as b,
    ):
        port = b.address[1]
        b.add_peer("a", a.address)
        a.add_peer("b", ("127.0.0.1", port))
        await a.send("b", 0)
        assert (await b.receive(timeout=STEP)).payload == 0
        link = a._link  # the connection is link detail; the test names what it checks
        old = link.connection("b")  # type: ignore[attr-defined]
        assert old is not None
        assert old.remote == ("127.0.0.1", port)
        for i in range(1, COUNT):
            await a.send("b", i)
        a.add_peer("b", ("127.0.0.2", port))
        got = [(await b.receive(timeout=STEP)).payload for _ in range(1, COUNT)]
        assert got == list(range(1, COUNT))
        await a.send("b", "after")
        assert (await b.receive(timeout=STEP)).payload == "after"
        new = link.connection("b")  # type: ignore[attr-defined]
        assert new is not None
        assert new.remote == ("127.0.0.2", port)
