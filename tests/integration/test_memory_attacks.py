"""Byte budgets on real sockets: the memory attacks of issue 15 with honest traffic alongside.

Small budgets (``BUDGET``) and 20 kB payloads so each test is quick; the peak RSS of the
same attacks with the default budgets and 60 kB payloads is what ``netclock bench
--scenario bounded-memory`` reports. Each test asserts what the budget bounds (the bytes
the sessions and the inbox count) and what honest traffic got: exactly once, in order.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from netclock import Node, SendBudgetFull
from netclock.adversary import RawUdp
from netclock.links.budget import payload_bytes
from netclock.links.pump import SessionPump
from netclock.links.tls import certs
from netclock.tools.bench.memory import _Spoofer
from netclock.wire import envelope as wire

pytestmark = pytest.mark.timeout(120)

KIB = 1024
BUDGET = 256 * KIB
PAYLOAD = 20_000
ONE = PAYLOAD + 200
"""A message as the budgets count it, with room to spare: budgets hold one message past."""
WAIT = 30.0


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("budgets") / "certs"
    certs.init_cluster(directory, ["a", "b", "p0", "p1", "p2", "p3"], cluster="lab")
    return directory


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait until ``condition()`` holds, checked every 10 ms (the test's bound: WAIT s): a
    full budget raises no event, the state is read until it is reached."""
    try:
        async with asyncio.timeout(WAIT):
            while not condition():  # noqa: ASYNC110 (a state, not an event)
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not within {WAIT} s: {what}") from None


def link(node: Node) -> SessionPump:
    assert isinstance(node.link, SessionPump)
    return node.link


def dead_address() -> tuple[str, int]:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    address: tuple[str, int] = probe.getsockname()[:2]
    probe.close()
    return address


async def send_all(node: Node, peer: str, count: int, size: int = PAYLOAD) -> None:
    for i in range(count):
        await node.send(peer, i.to_bytes(4, "big") + bytes(size - 4))


def index(payload: bytes) -> int:
    return int.from_bytes(payload[:4], "big")


@pytest.fixture
async def honest() -> AsyncIterator[tuple[Node, Node]]:
    options = {"receive_bytes": BUDGET}
    async with (
        Node("b", close_timeout=1.0, link_options=options) as b,
        Node("h", close_timeout=1.0) as h,
    ):
        h.add_peer("b", b.address)
        b.add_peer("h", h.address)
        yield h, b


async def honest_flow(h: Node, b: Node, count: int = 200) -> None:
    """``h`` sends ``count`` messages; ``b`` delivers each exactly once, in order."""
    sending = asyncio.create_task(send_all(h, "b", count, 100))
    got = [await b.receive(WAIT) for _ in range(count)]
    await sending
    assert [(m.sender, index(m.payload)) for m in got] == [("h", i) for i in range(count)]
    await asyncio.wait_for(h.flush(), WAIT)
    assert h.failures() == []


# -- send side: dead peers ------------------------------------------------------------------------


async def test_dead_peers_hold_at_most_their_budget_and_honest_traffic_flows() -> None:
    options = {"send_bytes": BUDGET, "send_bytes_total": 16 * BUDGET}
    async with Node("a", close_timeout=0.1, link_options=options) as a, Node("b") as b:
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        dead = [f"d{i}" for i in range(10)]
        for peer in dead:
            a.add_peer(peer, dead_address())
        senders = [asyncio.create_task(send_all(a, peer, 10_000)) for peer in dead]
        sessions = link(a).sessions
        await until(lambda: not any(sessions[p].writable() for p in dead), "dead peers full")
        for peer in dead:
            assert BUDGET <= sessions[peer].held_bytes <= BUDGET + ONE
        assert not any(task.done() for task in senders)  # waiting, not failing
        with pytest.raises(SendBudgetFull, match="send_bytes"):
            a.send_nowait("d0", b"x" * PAYLOAD)
        sending = asyncio.create_task(send_all(a, "b", 100))
        got = [await b.receive(WAIT) for _ in range(100)]
        await sending
        assert [index(m.payload) for m in got] == list(range(100))
        pool = link(a)._send_pool
        assert pool.used == sum(s.held_bytes for s in sessions.values())
        assert pool.used <= 11 * (BUDGET + ONE)
        for task in senders:
            task.cancel()


async def test_a_full_process_budget_makes_every_send_wait_until_a_give_up_frees_it() -> None:
    options = {"send_bytes": BUDGET, "send_bytes_total": 2 * BUDGET}
    async with (
        Node("a", close_timeout=0.1, link_options=options, give_up_after=2.0) as a,
        Node("b") as b,
    ):
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        for peer in ("d0", "d1"):
            a.add_peer(peer, dead_address())
        await send_all(a, "d0", 14)  # 280 kB: its own budget and more than half the total
        await send_all(a, "d1", 13)
        assert link(a)._send_pool.full
        with pytest.raises(SendBudgetFull, match="send_bytes_total"):
            a.send_nowait("b", b"x")
        sending = asyncio.create_task(send_all(a, "b", 50))  # waits for the give-up
        got = [await b.receive(WAIT) for _ in range(50)]
        await sending
        assert [index(m.payload) for m in got] == list(range(50))
        failed = {(f.peer, f.id.seq) for f in a.failures()}
        assert {peer for peer, _ in failed} == {"d0", "d1"}
        assert len(failed) == 27  # every message to a dead peer comes back, by id
        await asyncio.wait_for(a.flush(), WAIT)
        assert link(a)._send_pool.used == 0


# -- receive side: a stalled consumer -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["reliable", "tls"])
async def test_a_stalled_consumer_makes_its_senders_wait_and_loses_nothing(
    kind: str, cert_dir: Path
) -> None:
    count = 60
    extra = {"cert_dir": cert_dir} if kind == "tls" else {}
    options = {"receive_bytes": BUDGET, "send_bytes": BUDGET}
    async with AsyncExitStack() as stack:
        b = await stack.enter_async_context(
            Node("b", link=kind, inbox_bytes=BUDGET, link_options=options, **extra)
        )
        senders = [
            await stack.enter_async_context(
                Node(f"p{i}", link=kind, link_options=options, close_timeout=1.0, **extra)
            )
            for i in range(4)
        ]
        for p in senders:
            p.add_peer("b", b.address)
            b.add_peer(p.id, p.address)
        tasks = [asyncio.create_task(send_all(p, "b", count)) for p in senders]
        inbound = link(b).sessions
        await until(
            lambda: (
                b.stats()["inbox_bytes"] >= BUDGET
                and all(session.buffered_bytes >= BUDGET for session in inbound.values())
                and all(not link(p).sessions["b"].writable() for p in senders)
            ),
            "the inbox and every session full, every sender waiting",
        )
        assert b.stats()["inbox_bytes"] <= 2 * BUDGET + 2 * ONE  # the budget, and one batch
        for session in inbound.values():
            assert session.buffered_bytes <= BUDGET + ONE
        assert not any(task.done() for task in tasks)
        received: dict[str, list[int]] = {p.id: [] for p in senders}
        for n in range(4 * count):
            message = await b.receive(WAIT)
            received[message.sender].append(index(message.payload))
            if n % 50 == 0:  # what the inbox counts is what it holds
                held = sum(payload_bytes(m.payload) for m in b._inbox)
                assert b.stats()["inbox_bytes"] == held
        await asyncio.gather(*tasks)
        assert received == {p.id: list(range(count)) for p in senders}
        if kind == "tls":  # nothing resends on TLS: a drop would be a loss
            assert b.stats()["link"]["beyond_window"] == 0


async def test_large_messages_pass_through_small_byte_windows() -> None:
    options = {"receive_bytes": 64 * KIB, "send_bytes": 64 * KIB}
    async with (
        Node("a", link_options=options) as a,
        Node("b", link_options=options, inbox_bytes=64 * KIB) as b,
    ):
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        payloads = [bytes([i]) * 300_000 for i in range(3)]

        async def send() -> None:  # the second waits until b took the first: backpressure
            for payload in payloads:
                await a.send("b", payload)

        sending = asyncio.create_task(send())
        got = [await b.receive(WAIT) for _ in payloads]
        await sending
        assert [m.payload for m in got] == payloads


# -- receive side: a spoofer filling the out-of-order buffers -------------------------------------


def flood(spoofer: RawUdp | _Spoofer, peer: str, to: tuple[str, int], rounds: int) -> None:
    """Messages above a gap (never the next in order) from ``peer``'s address."""
    for n in range(rounds):
        seq = 2 + n % 500
        datagram = wire.encode_segment(peer, 1, "b", 1, None, [[seq, {peer: seq}, bytes(PAYLOAD)]])
        if isinstance(spoofer, RawUdp):
            spoofer.send(datagram, to)
        else:
            assert spoofer.transport is not None
            spoofer.transport.sendto(datagram, to)


async def test_a_spoofer_answering_challenges_fills_no_more_than_the_budget(
    honest: tuple[Node, Node],
) -> None:
    h, b = honest
    loop = asyncio.get_running_loop()
    spoofers: list[_Spoofer] = []
    for i in range(3):
        _, protocol = await loop.create_datagram_endpoint(
            lambda i=i: _Spoofer(f"s{i}"), local_addr=("127.0.0.1", 0)
        )
        assert protocol.transport is not None
        b.add_peer(protocol.peer, protocol.transport.get_extra_info("sockname")[:2])
        spoofers.append(protocol)
    try:
        flowing = asyncio.create_task(honest_flow(h, b))
        sessions = link(b).sessions
        for _ in range(20):
            for spoofer in spoofers:
                flood(spoofer, spoofer.peer, b.address, 20)
            await asyncio.sleep(0.01)  # pace the flood: the sockets must not overflow
            for spoofer in spoofers:
                assert sessions[spoofer.peer].buffered_bytes <= BUDGET + ONE
        await flowing
        assert sum(s.answered for s in spoofers) >= 3  # they were believed, then held
        assert b.stats()["link"]["beyond_bytes"] > 0
    finally:
        for spoofer in spoofers:
            assert spoofer.transport is not None
            spoofer.transport.close()


async def test_a_spoofer_that_never_answers_is_held_within_the_budget(
    honest: tuple[Node, Node],
) -> None:
    h, b = honest
    async with RawUdp() as raw:
        b.add_peer("s0", raw.address)
        flowing = asyncio.create_task(honest_flow(h, b))
        for _ in range(20):
            flood(raw, "s0", b.address, 20)
            await asyncio.sleep(0.01)
            assert link(b).sessions["s0"].buffered_bytes <= BUDGET
        await flowing
        assert b.stats()["link"]["unconfirmed"] > 0
