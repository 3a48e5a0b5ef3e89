"""A Node's application surface end to end, on real sockets on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netclock import Node, PerfectLinkOptions, StubbornOptions, TlsOptions, VectorClock
from netclock.links.tls import certs

pytestmark = pytest.mark.timeout(30)

STEP = 5.0
"""Longest any single network step may take before the test fails."""


@pytest.fixture
def hole() -> Iterator[tuple[str, int]]:
    """A bound UDP port where nobody answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()


async def test_request_and_reply_over_reliable_carry_both_receive_clocks(make_nodes) -> None:
    a, b = await make_nodes("a", "b", link="reliable")
    await a.send("b", "request")
    request = await b.receive(STEP)
    assert request.clock == VectorClock({"a": 1})  # no log: the first event is 1
    assert request.receive_clock == VectorClock({"a": 1, "b": 1})
    assert b.clock == request.receive_clock
    await b.send("a", "reply")
    reply = await a.receive(STEP)
    assert reply.clock == VectorClock({"a": 1, "b": 2})
    assert reply.receive_clock == VectorClock({"a": 2, "b": 2})
    assert a.clock == reply.receive_clock


async def test_several_consumers_share_a_reliable_inbox_and_a_timeout_strands_none(
    make_nodes,
) -> None:
    a, b = await make_nodes("a", "b", link="reliable")
    taken: list[list[Any]] = [[], [], []]
    count = 300

    async def consume(mine: list[Any]) -> None:
        async for msg in b:
            mine.append(msg.payload)
            if sum(map(len, taken)) == count:
                await b.close()  # ends the other consumers

    consumers = [asyncio.create_task(consume(mine)) for mine in taken]
    with pytest.raises(TimeoutError, match=r"received nothing within 0\.05 s"):
        await b.receive(timeout=0.05)  # meanwhile the three consumers wait
    for i in range(count):
        await a.send("b", i)
    await asyncio.wait_for(asyncio.gather(*consumers), STEP)
    everything = [payload for mine in taken for payload in mine]
    assert sorted(everything) == list(range(count)), "each message to exactly one consumer"


async def test_an_unanswering_peer_is_listed_and_its_messages_come_back(hole) -> None:
    options = PerfectLinkOptions(unreachable_after=0.05, rto_max=0.05)
    async with Node("a", link="reliable", give_up_after=0.5, link_options=options) as a:
        a.add_peer("b", hole)
        sent = [await a.send("b", i) for i in range(3)]
        await asyncio.wait_for(a.flush(), STEP)  # returns once the link gave up
        assert a.unreachable == frozenset({"b"})
        assert [(f.peer, f.id, f.payload) for f in a.failures()] == [
            ("b", msg_id, i) for i, msg_id in enumerate(sent)
        ]


async def test_the_tls_link_hands_back_given_up_messages_the_same_way(tmp_path: Path, hole) -> None:
    certs.init_cluster(tmp_path, ["a", "b"], cluster="lab")
    options = TlsOptions(connect_timeout=0.2, backoff=(0.01, 0.05))
    async with Node(
        "a", link="tls", cert_dir=tmp_path, give_up_after=0.5, link_options=options
    ) as a:
        a.add_peer("b", hole)  # nobody accepts TCP there
        sent = await a.send("b", "lost")
        await asyncio.wait_for(a.flush(), STEP)
        assert [(f.peer, f.id, f.payload) for f in a.failures()] == [("b", sent, "lost")]


async def test_stubborn_options_as_an_object_drive_the_retransmissions(make_nodes) -> None:
    a, b = await make_nodes("a", "b", link="stubborn", link_options=StubbornOptions(period=0.01))
    await a.send("b", "again")
    first = await b.receive(STEP)
    second = await b.receive(STEP)
    assert first.id == second.id, "SL1: the same message, delivered again"
