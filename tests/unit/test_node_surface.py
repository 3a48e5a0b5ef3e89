"""The Node's two sides: what an application calls, and what its link calls (privately).

The link side is reached as the link reaches it (the ``LinkUser`` the link was given); no
socket is opened.
"""

from __future__ import annotations

from typing import Any

import pytest

import netclock
from netclock import (
    Failure,
    LinkClosed,
    MessageId,
    Node,
    UsageError,
    VectorClock,
)
from netclock.links.base import GaveUp, LinkUser, PeerReachable, PeerUnreachable

pytestmark = pytest.mark.timeout(30)


def link_side(node: Node) -> LinkUser:
    user: LinkUser = node.link.user  # type: ignore[attr-defined]
    return user


async def drain(node: Node) -> list[Any]:
    """Everything in the inbox now."""
    return [await node.receive(0) for _ in range(node.stats()["inbox"])]


# -- the public surface ---------------------------------------------------------------------------
APPLICATION_API = {
    "add_peer",
    "ack",
    "address",
    "broadcast",
    "clock",
    "close",
    "data_dir",
    "delivered",
    "dropped",
    "event_log",
    "failures",
    "fifo",
    "flush",
    "heal",
    "id",
    "incarnation",
    "link",
    "link_kind",
    "log_local_event",
    "name_receives",
    "next_seq",
    "partition",
    "peers",
    "receive",
    "refused",
    "remove_peer",
    "send",
    "send_nowait",
    "sent",
    "start",
    "detector",
    "detector_events",
    "leader",
    "suspected",
    "stats",
    "sync",
    "unreachable",
}


def test_the_node_offers_the_application_api_and_nothing_of_the_links() -> None:
    node = Node("b")
    public = {name for name in dir(node) if not name.startswith("_")}
    assert public == APPLICATION_API
    assert link_side(node) is not node


def test_everything_the_package_root_exports_is_something_a_user_meets() -> None:
    never_met = {"LinkBroken", "DeliveryFailed", "SendFailed", "PeerReachable", "PeerUnreachable"}
    assert never_met.isdisjoint(netclock.__all__)
    for name in netclock.__all__:
        assert hasattr(netclock, name), name


# -- GoVector's receive rule on the batch path ----------------------------------------------------
async def test_a_batch_is_one_receive_event_per_message_and_the_clock_is_kept() -> None:
    node = Node("b")
    batch = [(1, VectorClock({"a": 2}), "x"), (2, VectorClock({"a": 3, "c": 7}), "y")]
    link_side(node).link_deliver_batch("a", 5, batch)
    first, second = await drain(node)
    assert first.receive_clock == VectorClock({"a": 2, "b": 1})
    assert second.receive_clock == VectorClock({"a": 3, "b": 2, "c": 7})
    assert node.clock == second.receive_clock
    assert (first.id, second.id) == (MessageId("a", 5, 1), MessageId("a", 5, 2))
    assert node.delivered == 2


async def test_a_clock_claiming_more_of_the_receiver_is_delivered_without_the_claim() -> None:
    node = Node("b")
    batch = [
        (1, VectorClock({"a": 2}), "before"),
        (2, VectorClock({"a": 3, "b": 99}), "forged"),
        (3, VectorClock({"a": 4, "b": 2}), "after"),
    ]
    link_side(node).link_deliver_batch("a", 1, batch)
    got = await drain(node)
    assert [msg.payload for msg in got] == ["before", "forged", "after"]
    assert [msg.receive_clock for msg in got] == [
        VectorClock({"a": 2, "b": 1}),
        VectorClock({"a": 3, "b": 2}),  # b is the one authority on b: 99 is never merged
        VectorClock({"a": 4, "b": 3}),
    ]
    assert (node.stats()["false_claims"], node.dropped) == (1, 0)


async def test_a_single_delivery_follows_the_same_rule() -> None:
    node = Node("b")
    side = link_side(node)
    side.link_deliver("a", 1, 1, VectorClock({"a": 2, "b": 5}), "forged")
    side.link_deliver("a", 1, 2, VectorClock({"a": 3}), "honest")
    forged, honest = await drain(node)
    assert (forged.payload, honest.payload, node.stats()["false_claims"]) == ("forged", "honest", 1)
    assert honest.receive_clock == VectorClock({"a": 3, "b": 2})


# -- one event vocabulary, and the Node's view of it ----------------------------------------------
def test_given_up_messages_come_back_as_failures_with_their_ids() -> None:
    node = Node("a", incarnation=7)
    link_side(node).link_event(GaveUp("b", 7, ((3, "m3"), (4, "m4"))))
    assert node.failures() == [
        Failure("b", MessageId("a", 7, 3), "m3"),
        Failure("b", MessageId("a", 7, 4), "m4"),
    ]
    assert node.failures() == []


def test_unreachable_lists_the_peers_between_unreachable_and_reachable() -> None:
    node = Node("a")
    side = link_side(node)
    side.link_event(PeerUnreachable("b"))
    side.link_event(PeerUnreachable("c"))
    side.link_event(PeerReachable("b"))
    assert node.unreachable == frozenset({"c"})


# -- not started is not closed ---------------------------------------------------------------------
async def test_sending_before_start_is_a_usage_error_that_says_to_start() -> None:
    node = Node("a", peers={"b": "127.0.0.1:9"})
    with pytest.raises(UsageError, match="not started") as info:
        await node.send("b", "early")
    assert not isinstance(info.value, LinkClosed)
    with pytest.raises(UsageError, match="started"):
        _ = node.address


async def test_sending_after_close_raises_link_closed() -> None:
    node = await Node("a", peers={"b": "127.0.0.1:9"}).start()
    await node.close()
    with pytest.raises(LinkClosed, match="closed"):
        node.send_nowait("b", "late")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"members": "abc"}, "members must be a list of node ids, not the str 'abc'"),
        ({"members": ["ok", "not ok"]}, "members: process id 'not ok'"),
        ({"max_clock_entries": 0}, "max_clock_entries must be a positive integer, not 0"),
    ],
)
def test_a_careless_clock_scope_is_one_clear_usage_error(kwargs: Any, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        Node("b", **kwargs)
