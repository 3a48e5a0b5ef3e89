"""Fair-loss, stubborn and perfect links on real UDP sockets, under seeded fault plans."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter

import pytest

from netclock import FaultPlan, Node, VectorClock
from netclock.adversary import SpoofingUdp, spoofing_unavailable
from netclock.wire.envelope import Ack, encode_segment, message_wire

pytestmark = pytest.mark.timeout(30)


async def drain(node: Node, quiet: float = 0.3) -> list:
    """Everything that arrives until nothing has come for ``quiet`` seconds."""
    got = []
    while True:
        try:
            got.append(await node.receive(timeout=quiet))
        except TimeoutError:
            return got


async def fairloss_run(make_nodes, seed: int) -> Counter:
    plan = FaultPlan(seed=seed, loss=0.3, duplicate=0.2)
    a, b = await make_nodes("a", "b", link="fairloss", faults=plan)
    for i in range(300):
        await a.send("b", i)
    return Counter(m.payload for m in await drain(b))


async def test_fairloss_loses_and_duplicates_and_the_seed_fixes_which(make_nodes) -> None:
    seed = 4
    first = await fairloss_run(make_nodes, seed)
    assert 0 < len(first) < 300, f"30% loss should lose some, not all (seed {seed})"
    assert any(n > 1 for n in first.values()), f"20% duplication should duplicate (seed {seed})"
    assert set(first) <= set(range(300)), "FLL3: no creation"


async def test_the_same_seed_gives_the_same_fates_on_real_sockets(make_nodes) -> None:
    seed = 8
    assert await fairloss_run(make_nodes, seed) == await fairloss_run(make_nodes, seed), seed


async def test_sl1_stubborn_delivery_under_50pct_loss(make_nodes) -> None:
    seed = 3
    plan = FaultPlan(seed=seed, loss=0.5)
    a, b = await make_nodes("a", "b", link="stubborn", faults=plan, link_options={"period": 0.02})
    for i in range(20):
        await a.send("b", i)
    seen: Counter = Counter()
    while len(seen) < 20:
        msg = await b.receive(timeout=5)
        seen[msg.payload] += 1
    assert set(seen) == set(range(20)), f"SL2: no creation (seed {seed})"
    more = await b.receive(timeout=5)
    assert more.payload in range(20), "SL1: messages keep being delivered, again and again"


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_pl_exactly_once_in_order_on_real_sockets_under_faults(make_nodes, seed) -> None:
    """PL1-PL3 and FIFO for 2000 messages through a plan that loses, duplicates and reorders.

    At most 17 of these messages fit a 160-byte datagram, so their first transmissions
    alone take more than 200 datagrams: the chance that 25% loss drops none is below
    0.75**200 (1e-25). At loopback's batch size (20-50 datagrams) it was sometimes met.
    """
    plan = FaultPlan(seed=seed, loss=0.25, duplicate=0.2, reorder=0.2)
    small = {"max_datagram": 160}  # many datagrams to lose
    a, b = await make_nodes("a", "b", link="reliable", faults=plan, link_options=small)
    count = 2000

    async def send() -> None:
        for i in range(count):
            await a.send("b", i)

    sender = asyncio.ensure_future(send())
    got = [(await b.receive(timeout=30)).payload for _ in range(count)]
    await sender
    await asyncio.wait_for(a.flush(), 30)
    assert got == list(range(count)), f"PL1-PL3 and FIFO (seed {seed})"
    link = a.stats()["link"]
    fates = link["faults"]["b"]
    assert fates["sent"] >= 200, f"the plan saw many datagrams (seed {seed}): {fates}"
    assert fates["dropped"] > 0, f"the plan dropped data (seed {seed}): {fates}"
    assert fates["delivered"] == fates["sent"] - fates["dropped"] + fates["duplicated"], seed
    assert link["retransmitted"] > 0, f"losses were repaired (seed {seed})"


def _absurd(a: Node, b: Node) -> list[bytes]:
    clock = VectorClock({"a": 2})
    return [
        b"\x98\x01\x02",  # truncated
        encode_segment("a", a.incarnation, "b", 1, Ack(b.incarnation, 10**6, (), 5), []),
        encode_segment("a", a.incarnation, "b", 1, Ack(b.incarnation, 0, ((5, 9),), 2**63), []),
        encode_segment("a", a.incarnation, "b", 1, Ack(123, 7, (), 1), []),
        encode_segment("a", a.incarnation - 1, "b", 10**9, None, []),
        encode_segment("a", a.incarnation, "zed", 1, None, [message_wire(1, clock, "x")]),
    ]


async def test_segments_for_a_peer_from_another_address_are_dropped_and_counted(
    make_nodes,
) -> None:
    """A stale process of an earlier run on another port, or a forger on a port of its
    own: whatever its datagrams say, they do not come from a's address."""
    a, b = await make_nodes("a", "b", link="reliable")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        for datagram in _absurd(a, b):
            raw.sendto(datagram, b.address)
    await a.send("b", "honest")
    msg = await b.receive(timeout=5)
    assert (msg.sender, msg.payload) == ("a", "honest")
    stats = b.stats()["link"]
    assert (stats["bad_datagrams"], stats["misaddressed"], stats["wrong_source"]) == (1, 1, 4)
    assert stats["rejected"] + stats["ignored_acks"] + stats["stale_incarnation"] == 0
    assert b.refused == 6
    with pytest.raises(TimeoutError):
        await b.receive(timeout=0.2)


async def test_forged_and_absurd_segments_are_counted_never_delivered(make_nodes) -> None:
    """Garbage cannot hurt the link, even from the peer's own address (spoofed): absurd
    acks and stale incarnations are counted protocol errors that change nothing."""
    if spoofing_unavailable() is not None:
        pytest.skip(spoofing_unavailable() or "")
    a, b = await make_nodes("a", "b", link="reliable")
    await a.send("b", "first")  # b has confirmed a's incarnation: the forgeries reach it
    assert (await b.receive(timeout=5)).payload == "first"
    spoofer = SpoofingUdp()
    try:
        for datagram in _absurd(a, b):
            spoofer.send(datagram, a.address, b.address)
    finally:
        spoofer.close()
    await a.send("b", "honest")
    msg = await b.receive(timeout=5)
    assert msg.payload == "honest"
    assert msg.sender == "a"
    stats = b.stats()["link"]
    assert stats["bad_datagrams"] == 1
    assert stats["misaddressed"] == 1
    assert stats["wrong_source"] == 0
    assert stats["rejected"] + stats["ignored_acks"] + stats["stale_incarnation"] >= 1
    with pytest.raises(TimeoutError):
        await b.receive(timeout=0.2)


async def test_a_gone_peer_gets_its_messages_handed_back_with_ids() -> None:
    async with Node("a", link="reliable", give_up_after=0.3) as a:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
            hole.bind(("127.0.0.1", 0))  # a port where nobody answers
            a.add_peer("b", hole.getsockname())
            sent = [await a.send("b", i) for i in range(5)]
            await asyncio.wait_for(a.flush(), 5)
    failed = a.failures()
    assert [f.id for f in failed] == sent
    assert [f.payload for f in failed] == list(range(5))


@pytest.mark.slow
async def test_two_flushes_at_once_both_return_and_close_releases_waiters(make_nodes) -> None:
    plan = FaultPlan(seed=5, loss=0.3)
    a, _ = await make_nodes("a", "b", link="reliable", faults=plan)
    for i in range(50):
        await a.send("b", i)
    first, second = asyncio.ensure_future(a.flush()), asyncio.ensure_future(a.flush())
    await asyncio.wait_for(asyncio.gather(first, second), 10)
    a.add_peer("gone", ("127.0.0.1", 9))
    await a.send("gone", "never acknowledged")
    stuck = asyncio.ensure_future(a.flush())
    await a.close()
    await asyncio.wait_for(stuck, 10)


@pytest.mark.parametrize("cut_at", ["sender", "receiver"])
async def test_live_partition_holds_reliable_messages_until_healed(make_nodes, cut_at) -> None:
    """A live partition at either end cuts both directions; after heal nothing is lost."""
    a, b = await make_nodes("a", "b", link="reliable")
    await a.send("b", "before")
    assert (await b.receive(timeout=5)).payload == "before"
    cut, peer = (a, "b") if cut_at == "sender" else (b, "a")
    cut.partition(peer)
    for i in range(5):
        await a.send("b", i)
    with pytest.raises(TimeoutError):
        await b.receive(timeout=0.3)
    cut.heal(peer)
    assert [(await b.receive(timeout=10)).payload for _ in range(5)] == list(range(5))
    link = cut.stats()["link"]
    if cut is a:
        assert link["faults"]["b"]["partitioned"] > 0, "the injector counted the cut sends"
    else:
        assert link["partitioned"] > 0, "the receiver counted the datagrams it refused"
