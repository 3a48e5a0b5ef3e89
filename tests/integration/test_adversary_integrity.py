"""The attacks of issue 15 on the reliable UDP link, on real sockets, with honest traffic.

Each test sends honest messages from ``a`` to ``c`` while a forger sends the attack's
datagrams, and asserts what the honest traffic got: exactly once, in order, nothing
silently lost, every refusal in the counters. From a port of its own a forger is refused
at the socket (``wrong_source``); spoofing a's address (a raw socket, root) it reaches the
session, whose sanity checks make the datagram change nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgpack
import pytest

from netclock import Node, VectorClock
from netclock.adversary import RawUdp, SpoofingUdp, spoofing_unavailable
from netclock.wire.envelope import Ack, encode_segment, message_wire

pytestmark = pytest.mark.timeout(60)

HONEST = 200
needs_spoofing = pytest.mark.skipif(
    spoofing_unavailable() is not None, reason=spoofing_unavailable() or ""
)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Node, Node]]:
    async with Node("a", close_timeout=1.0) as a, Node("c", close_timeout=1.0) as c:
        a.add_peer("c", c.address)
        c.add_peer("a", a.address)
        yield a, c


async def flows(a: Node, c: Node, count: int = HONEST) -> None:
    """``a`` sends ``count`` messages; ``c`` delivers each exactly once, in order; a's
    flush returns and nothing came back as failed."""
    for i in range(count):
        await a.send("c", i)
    got = [await c.receive(10) for _ in range(count)]
    assert [(m.sender, m.payload) for m in got] == [("a", i) for i in range(count)]
    await asyncio.wait_for(a.flush(), 10)
    assert a.failures() == []


def forged_incarnation() -> bytes:
    """The 19-byte datagram of issue 15: a 'restart' of a with incarnation 2**64-1."""
    data: bytes = msgpack.packb([1, 2, "a", 2**64 - 1, "c", 1, None, []])
    assert len(data) == 19
    return data


def attacks(a: Node, c: Node) -> dict[str, bytes]:
    """The datagrams of issue 15 (item 1), as a forger would send them to c about a."""
    clock = VectorClock({"a": 1})
    return {
        "forged incarnation": forged_incarnation(),
        "injection": encode_segment(
            "a", a.incarnation, "c", 1, None, [message_wire(s, clock, "forged") for s in (1, 2)]
        ),
        "skip ahead": encode_segment("a", a.incarnation, "c", 2**63, None, []),
    }


async def test_forgeries_from_a_port_of_its_own_are_dropped_at_the_socket(
    pair: tuple[Node, Node],
) -> None:
    a, c = pair
    async with RawUdp() as raw:
        for datagram in attacks(a, c).values():
            raw.send(datagram, c.address)
        # and an ack to a, claiming c has a's first 50 messages
        raw.send(
            encode_segment("c", c.incarnation, "a", 1, Ack(a.incarnation, 50, (), 9), []), a.address
        )
        await flows(a, c)
    assert c.stats()["link"]["wrong_source"] == 3
    assert a.stats()["link"]["wrong_source"] == 1
    assert c.stats()["link"]["skipped"] == 0


@needs_spoofing
async def test_a_spoofed_skip_ahead_and_absurd_acks_change_nothing(
    pair: tuple[Node, Node],
) -> None:
    a, c = pair
    await flows(a, c, 10)
    spoofer = SpoofingUdp()
    try:
        spoofer.send(attacks(a, c)["skip ahead"], a.address, c.address)
        for ack in (Ack(a.incarnation, 10**6, (), 9), Ack(a.incarnation, 5, (), 2**40)):
            data = encode_segment("c", c.incarnation, "a", 1, ack, [])
            spoofer.send(data, c.address, a.address)
        await flows(a, c)
    finally:
        spoofer.close()
    assert c.stats()["link"]["rejected"] == 1
    assert c.stats()["link"]["skipped"] == 0
    assert a.stats()["link"]["rejected"] == 2


@needs_spoofing
async def test_the_19_byte_forged_incarnation_spoofed_from_a_changes_nothing(
    pair: tuple[Node, Node],
) -> None:
    """Before: c took it for a restart of a, counted a's real segments as stale and a
    blocked. Now c asks a's address, the real a answers with its own incarnation, and the
    claim is dropped while a's messages keep arriving."""
    a, c = pair
    await flows(a, c, 10)
    spoofer = SpoofingUdp()
    try:
        for _ in range(5):
            spoofer.send(forged_incarnation(), a.address, c.address)
        await flows(a, c)
    finally:
        spoofer.close()
    link = c.stats()["link"]
    assert link["stale_incarnation"] == 0
    assert link["unconfirmed"] >= 5
    assert c.link.sessions["a"].resume_point()[0] == a.incarnation  # type: ignore[attr-defined]


async def test_a_real_restart_is_confirmed_and_talks_at_once(pair: tuple[Node, Node]) -> None:
    """A new incarnation of a (on a new port, which c is told) answers c's challenge from
    its address: believed at once, in both directions."""
    a, c = pair
    await flows(a, c, 10)
    await a.close()
    async with Node("a", peers={"c": c.address}) as again:
        c.add_peer("a", again.address)
        assert again.incarnation != a.incarnation
        await flows(again, c, 50)
        await c.send("a", "welcome back")
        assert (await again.receive(10)).payload == "welcome back"
    assert c.stats()["link"]["confirmed"] >= 2


@needs_spoofing
async def test_a_spoofed_skip_within_max_skip_silently_drops_the_skipped_messages(
    pair: tuple[Node, Node],
) -> None:
    """What the sanity check of ``base`` does not stop (docs/security.md): a spoofer who
    knows a's incarnation moves c's receive point ahead by up to ``MAX_SKIP`` with one
    empty segment. The real messages it skipped are dropped as duplicates and acked, so
    ``a`` takes them for delivered; only the checker (a send never delivered) sees it."""
    a, c = pair
    await flows(a, c, 3)
    spoofer = SpoofingUdp()
    try:
        spoofer.send(encode_segment("a", a.incarnation, "c", 4 + 2, None, []), a.address, c.address)
        for text in ("skipped 4", "skipped 5", "kept"):
            await a.send("c", text)
        got = await c.receive(10)
        assert (got.payload, got.seq) == ("kept", 6)
        await asyncio.wait_for(a.flush(), 10)
    finally:
        spoofer.close()
    assert a.failures() == []
    assert c.stats()["link"]["skipped"] == 2
    assert c.stats()["link"]["rejected"] == 0
