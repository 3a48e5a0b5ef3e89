"""Messages larger than a datagram on real sockets: pieces out, one delivery in.

Payloads are seeded bytes of log-uniform sizes (so a run of many messages up to 16 MiB
stays feasible); each delivery is checked whole by its digest, once, in order, with the id
``send`` returned. Every failure message names the seed.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import socket
from pathlib import Path

import pytest
from msgpack import packb

from netclock import FaultPlan, Node
from netclock.errors import MessageTooLarge, UsageError
from netclock.links.tls import certs
from netclock.links.tls.link import TlsLink
from netclock.observe.eventlog import read_events
from netclock.testing.asserts import assert_exactly_once, assert_fifo
from netclock.wire.envelope import encode_segment_prefixed, segment_prefix

pytestmark = pytest.mark.timeout(120)

MIB = 1 << 20


def sizes(seed: int, count: int, largest: int) -> list[int]:
    """``count`` sizes log-uniform between 1 byte and ``largest``, the last one ``largest``."""
    rng = random.Random(seed)
    top = math.log2(largest)
    return [int(2 ** rng.uniform(0, top)) for _ in range(count - 1)] + [largest - 64]


def payload(seed: int, i: int, size: int) -> bytes:
    return random.Random(seed * 1_000_003 + i).randbytes(size)


async def exchange(a: Node, b: Node, seed: int, lengths: list[int]) -> None:
    """Send one payload of each length a -> b; check each arrives once, whole, in order."""
    digests = []
    ids = []
    got: list[tuple[object, int, bytes]] = []

    async def receive() -> None:
        async for msg in b:
            data = msg.payload
            got.append((msg.id, len(data), hashlib.sha256(data).digest()))
            if len(got) == len(lengths):
                return

    task = asyncio.ensure_future(receive())
    for i, size in enumerate(lengths):
        data = payload(seed, i, size)
        digests.append(hashlib.sha256(data).digest())
        ids.append(await a.send("b", data))
    await asyncio.wait_for(task, 100)
    await asyncio.wait_for(a.flush(), 100)  # b's last acks, while b is up (lossy plans drop some)
    assert [g[1] for g in got] == lengths, f"sizes in order (seed {seed})"
    assert [g[2] for g in got] == digests, f"each payload whole (seed {seed})"
    assert [g[0] for g in got] == ids, f"one delivery per send, with its id (seed {seed})"


async def reliable_pair(make_nodes, seed: int, **link_options: object) -> tuple[Node, Node]:
    plan = FaultPlan(seed=seed, loss=0.1, reorder=0.1)
    a, b = await make_nodes("a", "b", link="reliable", faults=plan, link_options=link_options)
    return a, b


async def test_pl1_pl2_fifo_large_messages_under_10pct_loss_and_reordering(make_nodes) -> None:
    seed = 11
    a, b = await reliable_pair(make_nodes, seed)
    await exchange(a, b, seed, sizes(seed, 40, 4 * MIB))
    assert b.stats()["link"]["large_delivered"] >= 1, f"pieces were used (seed {seed})"


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_a_thousand_messages_up_to_16_mib_under_10pct_loss_and_reordering(
    make_nodes,
) -> None:
    seed = 12
    a, b = await reliable_pair(make_nodes, seed)
    await exchange(a, b, seed, sizes(seed, 1000, 16 * MIB))


async def test_large_messages_on_the_tls_link(make_nodes, tmp_path: Path) -> None:
    seed = 13
    certs.init_cluster(tmp_path, ["a", "b"], cluster="lab")
    a, b = await make_nodes("a", "b", link="tls", cert_dir=tmp_path)
    await exchange(a, b, seed, sizes(seed, 30, 16 * MIB))


async def test_a_message_above_max_message_is_one_error_at_send_naming_the_limit(
    make_nodes,
) -> None:
    a, b = await make_nodes("a", "b", link="reliable", link_options={"max_message": 100_000})
    with pytest.raises(MessageTooLarge, match="max_message of 100000 bytes"):
        await a.send("b", b"x" * 100_000)
    await a.send("b", b"y" * 99_000)  # the link is still usable, and the next id is fine
    msg = await b.receive(timeout=10)
    assert msg.payload == b"y" * 99_000


@pytest.mark.parametrize("link", ["fairloss", "stubborn"])
async def test_one_datagram_links_refuse_what_cannot_fit_naming_the_limit(
    make_nodes, link: str
) -> None:
    a, _ = await make_nodes("a", "b", link=link)
    with pytest.raises(MessageTooLarge, match=r"does not fit in one datagram \(at most 65507\)"):
        await a.send("b", b"x" * 70_000)
    assert a.stats()["link"]["sent"] == 0


async def test_the_logged_link_refuses_messages_above_one_datagram(tmp_path: Path) -> None:
    async with (
        Node("a", data_dir=tmp_path / "a") as a,
        Node("b", data_dir=tmp_path / "b") as b,
    ):
        a.add_peer("b", b.address)
        with pytest.raises(UsageError, match="logged perfect link"):
            await a.send("b", b"x" * 100_000)


async def test_a_large_message_is_one_send_and_one_deliver_in_the_event_logs(
    make_nodes, tmp_path: Path
) -> None:
    a, b = await make_nodes("a", "b", link="reliable", log_dir=tmp_path)
    sent = [await a.send("b", data) for data in (b"z" * (3 * MIB), "small", b"y" * MIB)]
    got = [await b.receive(timeout=30) for _ in sent]
    assert [m.id for m in got] == sent
    await a.close()
    await b.close()
    assert_exactly_once(tmp_path)  # the checker takes ids with gaps between them
    assert_fifo(tmp_path)
    notes: list[str] = []
    sends = [e for e in read_events(tmp_path / "a.events.jsonl", notes) if e.ev == "send"]
    delivers = [e for e in read_events(tmp_path / "b.events.jsonl", notes) if e.ev == "deliver"]
    assert len(sends) == 3
    assert len(delivers) == 3


async def test_a_large_message_given_up_is_one_failure_with_its_payload() -> None:
    gone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    gone.bind(("127.0.0.1", 0))  # a peer that never answers: its datagrams are read by no one
    try:
        async with Node("a", give_up_after=0.3) as a:
            a.add_peer("b", gone.getsockname())
            data = b"q" * (5 * MIB)  # more pieces than one window of bytes in flight
            sent = await a.send("b", data)
            small = await a.send("b", "after")  # waits behind the large message, then fails too
            await a.flush()  # returns once everything is acked or given up
            failures = a.failures()
            assert [(f.id, f.payload) for f in failures] == [(sent, data), (small, "after")]
    finally:
        gone.close()


async def test_garbage_pieces_from_the_network_never_reach_the_application(make_nodes) -> None:
    """Forged pieces that continue a's stream (a spoofed sender, which the UDP link cannot
    tell apart) are dropped; b delivers nothing and keeps working."""
    a, b = await make_nodes("a", "b", link="reliable")
    data = payload(14, 0, 3 * MIB)
    sent = await a.send("b", data)
    msg = await b.receive(timeout=30)
    assert (msg.id, msg.payload == data) == (sent, True)
    await a.flush()
    head = segment_prefix("a", a.incarnation, "b")
    after = a.stats()["link"]["sent"] + 1  # the first seq after the large message's pieces
    forged = [
        [after, {}, b"\x01", 0],  # a continuation without its start
        [after + 1, {"a": 1}, b"\xc6\xff\xff\xff\xff", 1 << 40],  # far above max_message
        [after + 2, {"a": 1}, b"\xc1", 0],  # joined bytes that are not msgpack
        [after + 3, {}, "not bin", 0],  # not a piece at all
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        for piece in forged:
            packed = packb(piece, use_bin_type=True)
            raw.sendto(encode_segment_prefixed(head, after, b"\xc0", [packed]), b.address)
    with pytest.raises(TimeoutError):
        await b.receive(timeout=0.5)
    link = b.stats()["link"]
    dropped = link.get("pieces_dropped", 0) + link.get("large_dropped", 0)
    assert dropped in (0, 3), link  # 0: a link that checks the source refused them earlier
    await b.send("a", "still here")
    assert (await a.receive(timeout=10)).payload == "still here"


async def test_a_tls_reset_in_the_middle_of_a_large_message_loses_nothing(
    make_nodes, tmp_path: Path
) -> None:
    certs.init_cluster(tmp_path, ["a", "b"], cluster="lab")
    a, b = await make_nodes("a", "b", link="tls", cert_dir=tmp_path)
    await a.send("b", "hello")
    assert (await b.receive(timeout=10)).payload == "hello"
    link = a._link
    assert isinstance(link, TlsLink)
    data = payload(15, 0, 12 * MIB)
    sent = await a.send("b", data)  # the first 2 MiB of pieces are out
    assert link.reset("b"), "connected when the large message started"
    more = await a.send("b", "after")  # waits until the rest of the pieces are in
    first = await b.receive(timeout=60)
    assert (first.id, first.payload == data) == (sent, True)
    assert (await b.receive(timeout=10)).id == more
    assert link.stats()["connections_reset"] == 1
