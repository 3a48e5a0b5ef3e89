"""The Node's broadcast side, reached as the link reaches it (no socket is opened)."""

from __future__ import annotations

from typing import Any

import pytest

from netclock import BroadcastDelivery, Node, VectorClock
from netclock.broadcast.frame import BMessage, Kind, encode
from netclock.links.base import LinkUser

pytestmark = pytest.mark.timeout(30)


def link_side(node: Node) -> LinkUser:
    user: LinkUser = node.link.user  # type: ignore[attr-defined]
    return user


async def drain(node: Node) -> list[Any]:
    return [await node.receive(0) for _ in range(node.stats()["inbox"])]


def frame(kind: Kind, origin: str, seq: int, clock: VectorClock, payload: Any) -> list[Any]:
    return encode(BMessage(kind, origin, 9, seq, clock, payload))


async def test_a_batch_mixing_frames_and_messages_is_delivered_in_order() -> None:
    node = Node("b", members=("a", "c"))
    origin_clock = VectorClock({"a": 3})
    batch = [
        (1, VectorClock({"a": 2}), "x"),
        (2, origin_clock, frame(Kind.BEST_EFFORT, "a", 1, origin_clock, "all")),
        (3, VectorClock({"a": 4}), "y"),
    ]
    link_side(node).link_deliver_batch("a", 9, batch)
    got = await drain(node)
    assert [m.payload for m in got] == ["x", "all", "y"]
    assert [type(m) for m in got] == [
        type(got[0]),
        BroadcastDelivery,
        type(got[0]),
    ]
    assert got[1].clock == origin_clock
    assert got[1].receive_clock == VectorClock({"a": 3, "b": 2})
    assert (got[1].sender, got[1].incarnation, got[1].seq, got[1].kind) == (
        "a",
        9,
        1,
        "best-effort",
    )


async def test_a_relay_delivers_the_origins_message_with_the_origins_clock_once() -> None:
    node = Node("b", members=("a", "c"))
    origin_clock = VectorClock({"a": 5})
    relay = frame(Kind.RELIABLE, "a", 1, origin_clock, "m")
    link_side(node).link_deliver("c", 4, 1, origin_clock, relay)  # c relays a's broadcast
    link_side(node).link_deliver("a", 9, 1, origin_clock, relay)  # and a's own copy
    (got,) = await drain(node)
    assert (got.sender, got.clock, got.kind) == ("a", origin_clock, "reliable")
    assert node.clock == VectorClock({"a": 5, "b": 1})  # one receive event, not two


async def test_a_frames_claim_of_more_of_the_receiver_is_counted_and_never_merged() -> None:
    node = Node("b", members=("a", "c"))
    lying = VectorClock({"a": 1, "b": 50})
    link_side(node).link_deliver("a", 9, 1, lying, frame(Kind.BEST_EFFORT, "a", 1, lying, "x"))
    (got,) = await drain(node)
    assert got.payload == "x"
    assert node.clock == VectorClock({"a": 1, "b": 1})
    assert (node.stats()["false_claims"], node.dropped) == (1, 0)


async def test_byzantine_broadcast_over_a_link_without_authentication_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = Node("b", link="fairloss", members=("a",))
    clock = VectorClock({"a": 1})
    for seq in (1, 2):
        msg = frame(Kind.BYZANTINE, "a", seq, clock, "x")
        msg[5] = 0  # SEND
        link_side(node).link_deliver("a", 9, seq, clock, msg)
    warnings = [r for r in caplog.records if "does not authenticate" in r.getMessage()]
    assert len(warnings) == 1
    assert "link='tls'" in warnings[0].getMessage()


async def test_a_frame_before_the_node_knows_its_peers_does_not_fix_the_group() -> None:
    node = Node("b", members=("a", "c"))
    clock = VectorClock({"a": 1})
    link_side(node).link_deliver("a", 9, 1, clock, frame(Kind.UNIFORM, "a", 1, clock, "x"))
    for peer in ("a", "c", "d", "e"):
        node.add_peer(peer, ("127.0.0.1", 9))
    core = node._broadcasting().core(Kind.UNIFORM)
    assert (core.n, core.peers) == (5, ("a", "c", "d", "e"))
