"""Fair-loss link between two Nodes over real UDP sockets on loopback."""

from __future__ import annotations

import asyncio
import socket

import pytest

from netclock import ConfigError, LinkClosed, Node, UsageError, VectorClock
from netclock.wire.envelope import encode_data

pytestmark = pytest.mark.timeout(10)


async def test_course_exchange_gives_govector_clocks(make_nodes) -> None:
    client, server = await make_nodes("client", "server", link="fairloss")
    # No log: no "Initialization Complete" event, so (as GoVector's) the first event is 1.
    await client.send("server", "message @ now")
    assert client.clock == VectorClock({"client": 1})
    msg = await server.receive(timeout=2)
    assert msg.receive_clock == VectorClock({"client": 1, "server": 1})
    server.log_local_event("processing")
    await server.send("client", "reply")
    assert server.clock == VectorClock({"client": 1, "server": 3})
    reply = await client.receive(timeout=2)
    assert reply.receive_clock == VectorClock({"client": 2, "server": 3})
    client.log_local_event("done")
    assert client.clock == VectorClock({"client": 3, "server": 3})


async def test_payload_types_survive_and_bytes_stay_bytes(make_nodes) -> None:
    a, b = await make_nodes("a", "b", link="fairloss")
    payloads = [b"\x00raw", "text", 42, -7, 2**64 - 1, 1.5, None, True, [1, [2, b"x"]], {"k": b"v"}]
    for p in payloads:
        await a.send("b", p)
    got = [(await b.receive(timeout=2)).payload for _ in payloads]
    assert got == payloads
    assert type(got[0]) is bytes


async def test_fll3_no_creation_message_ids_match_sends(make_nodes) -> None:
    a, b = await make_nodes("a", "b", link="fairloss")
    sent = {await a.send("b", i) for i in range(50)}
    delivered = set()
    for _ in range(50):
        delivered.add((await b.receive(timeout=2)).id)
    assert delivered <= sent


async def test_garbage_datagrams_are_counted_and_dropped(make_nodes) -> None:
    a, b = await make_nodes("a", "b", link="fairloss")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        for junk in (b"", b"\xc1", b"\xdd\xff\x00\x00\x00", b"hello", bytes(range(256))):
            raw.sendto(junk, b.address)
        # well-formed but for another node, and from a stranger
        raw.sendto(encode_data("a", 1, "zed", 1, VectorClock({"a": 1}), b""), b.address)
        raw.sendto(encode_data("mallory", 1, "b", 1, VectorClock({"mallory": 1}), b""), b.address)
    await a.send("b", "still works")
    assert (await b.receive(timeout=2)).payload == "still works"
    counters = b.stats()["link"]
    assert counters["bad_datagrams"] == 5
    assert counters["misaddressed"] == 1
    assert counters["unknown_peer"] == 1


async def test_a_claim_from_the_future_about_the_receiver_is_never_merged(make_nodes) -> None:
    a, b = await make_nodes("a", "b", link="fairloss")
    before = b.clock
    a.link.send("b", VectorClock({"a": 5, "b": 1000}), "lie")
    await a.send("b", "honest")
    lie, honest = await b.receive(timeout=2), await b.receive(timeout=2)
    assert (lie.payload, honest.payload) == ("lie", "honest")
    assert lie.receive_clock.get("b") == before.get("b") + 1
    assert honest.receive_clock.get("b") == before.get("b") + 2
    assert (b.dropped, b.stats()["false_claims"]) == (0, 1)


async def test_ipv6_loopback_works() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"IPv6 loopback unavailable: {exc}")
    async with (
        Node("a", link="fairloss", address=("::1", 0)) as a,
        Node("b", link="fairloss", address="[::1]:0") as b,
    ):
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        await a.send("b", "over v6")
        assert (await b.receive(timeout=2)).payload == "over v6"


async def test_unknown_peer_and_unserialisable_payload_are_usage_errors(make_nodes) -> None:
    from netclock import UsageError

    (a,) = await make_nodes("a", link="fairloss")
    with pytest.raises(UsageError, match="unknown peer 'nobody'; node 'a' has no peers yet"):
        await a.send("nobody", 1)
    with pytest.raises(UsageError, match="'a' is this node; a node has no link to itself"):
        await a.send("a", 1)
    a.add_peer("b", ("127.0.0.1", 9))
    with pytest.raises(UsageError, match="unknown peer 'nobody'; known peers: b"):
        await a.send("nobody", 1)
    with pytest.raises(UsageError, match="msgpack"):
        await a.send("b", object())
    assert a.clock == VectorClock()  # not an event


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_a_port_in_use_is_one_sentence_with_the_reason(loop_kind: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]

        async def start() -> None:
            async with Node("a", address=("127.0.0.1", port)):
                pass

        run = asyncio.run if loop_kind == "asyncio" else pytest.importorskip("uvloop").run
        with pytest.raises(ConfigError) as info:
            run(start())
    assert str(info.value) == (
        f"cannot bind UDP 127.0.0.1:{port} for node 'a': Address already in use; "
        "choose another address or port 0"
    )


@pytest.mark.parametrize("kind", ["fairloss", "stubborn", "reliable"])
async def test_every_datagram_link_refuses_an_unknown_peer_and_a_closed_link_alike(
    kind: str,
) -> None:
    node = Node("a", link=kind)
    with pytest.raises(UsageError, match="not started"):
        node.link.send("b", VectorClock({"a": 2}), "early")
    async with node:
        with pytest.raises(UsageError, match="unknown peer 'nobody'"):
            node.link.send("nobody", VectorClock({"a": 2}), "x")
        with pytest.raises(UsageError, match="unknown peer 'nobody'"):
            node.link.writable("nobody")
        with pytest.raises(UsageError, match="unknown peer 'nobody'"):
            node.link.partition("nobody")
        node.add_peer("b", ("127.0.0.1", 9))
    with pytest.raises(LinkClosed):
        node.link.send("b", VectorClock({"a": 2}), "late")


@pytest.mark.parametrize("link", ["fairloss", "stubborn"])
async def test_a_message_that_cannot_fit_one_datagram_is_refused_at_send(make_nodes, link) -> None:
    a, b = await make_nodes("a", "b", link=link)
    before, clock = a.stats()["link"]["sent"], a.clock
    with pytest.raises(UsageError, match="does not fit in one datagram"):
        await a.send("b", b"x" * 70_000)
    assert a.stats()["link"]["sent"] == before, "a refused message is not counted as sent"
    assert a.clock == clock, "a refused send is no event"
    msg_id = await a.send("b", b"x" * 60_000)
    assert msg_id.seq == 1, "the refused message used no sequence number"
    assert (await b.receive(timeout=2)).id == msg_id
