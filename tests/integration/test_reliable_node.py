"""Nodes on the perfect (``reliable``) link over real UDP sockets on loopback: the clock rules.

The perfect link hands the Node whole batches (``link_deliver_batch``), and a lone message
(a round trip's request or answer) through ``link_deliver``; these tests pin GoVector's
receive rule on both paths: exact receive clocks, the Node's clock after a batch, and the
refusal of a clock that claims more of the receiver than it has done.
"""

from __future__ import annotations

import asyncio

import pytest

from netclock import FaultPlan, VectorClock

pytestmark = pytest.mark.timeout(10)


async def test_request_reply_gives_the_govector_receive_clocks(make_nodes) -> None:
    """The course's example without a log (GoVector's LogToFile = false, so no
    initialization event): client {} sends {C:1}; the server's receive is {C:1,S:1}; its
    reply {C:1,S:2}; the client's receive {C:2,S:2}; then again, two ticks further."""
    client, server = await make_nodes("C", "S", link="reliable")
    assert client.clock == VectorClock()
    for i in range(1, 6):
        await client.send("S", f"request {i}")
        sent = VectorClock({"C": 2 * i - 1, "S": 2 * i - 2} if i > 1 else {"C": 1})
        assert client.clock == sent
        request = await server.receive(timeout=2)
        assert request.payload == f"request {i}"
        assert request.clock == sent
        assert request.receive_clock == VectorClock({"C": 2 * i - 1, "S": 2 * i - 1}), f"round {i}"
        assert server.clock == request.receive_clock, f"round {i}: the server kept its receive"
        await server.send("C", f"reply {i}")
        assert server.clock == VectorClock({"C": 2 * i - 1, "S": 2 * i})
        reply = await client.receive(timeout=2)
        assert reply.payload == f"reply {i}"
        assert reply.clock == VectorClock({"C": 2 * i - 1, "S": 2 * i})
        assert reply.receive_clock == VectorClock({"C": 2 * i, "S": 2 * i}), f"round {i}"
        assert client.clock == reply.receive_clock, f"round {i}: the client kept its receive"
    assert server.stats()["dropped"] == client.stats()["dropped"] == 0


async def test_one_batch_gives_each_delivery_its_own_receive_clock(make_nodes) -> None:
    """Messages sent in one loop iteration travel in one datagram and reach the Node as one
    batch; each delivery is its own receive event, and the Node keeps the last one."""
    a, b = await make_nodes("a", "b", link="reliable")
    for i in range(5):
        a.send_nowait("b", i)  # no await in between: one pump, one datagram
    got = [await b.receive(timeout=2) for _ in range(5)]
    assert [m.payload for m in got] == list(range(5))
    assert [m.clock for m in got] == [VectorClock({"a": 1 + i}) for i in range(5)]
    assert [m.receive_clock for m in got] == [
        VectorClock({"a": 1 + i, "b": 1 + i}) for i in range(5)
    ]
    assert b.clock == got[-1].receive_clock


async def test_clock_claiming_more_of_the_receiver_is_delivered_without_the_claim(
    make_nodes,
) -> None:
    """A message whose clock says the receiver has done more than it has (here b:1000) is
    delivered, but b's own entry never jumps: b alone knows its own events. The honest
    messages around it, in the same batch, arrive with exact receive clocks."""
    a, b = await make_nodes("a", "b", link="reliable")
    a.send_nowait("b", "before")  # clock {a:1} (no log: the clock starts empty)
    a.link.send("b", VectorClock({"a": 2, "b": 1000}), "forged")  # straight to the link
    a.send_nowait("b", "after")  # clock {a:2}
    await a.flush()
    got = [await b.receive(timeout=2) for _ in range(3)]
    assert [m.payload for m in got] == ["before", "forged", "after"]
    assert [m.receive_clock for m in got] == [
        VectorClock({"a": 1, "b": 1}),
        VectorClock({"a": 2, "b": 2}),
        VectorClock({"a": 2, "b": 3}),
    ], "b's own entry never jumped"
    assert (b.stats()["false_claims"], b.stats()["dropped"]) == (1, 0)
    assert a.failures() == []


async def test_a_lone_message_claiming_more_of_the_receiver_is_delivered_without_the_claim(
    make_nodes,
) -> None:
    """The same rule when the lie arrives alone (one message in its datagram, the path a
    round trip takes): delivered, its claim counted, b's own entry one more, not 1000."""
    a, b = await make_nodes("a", "b", link="reliable")
    await a.send("b", "honest")
    assert (await b.receive(timeout=2)).receive_clock == VectorClock({"a": 1, "b": 1})
    a.link.send("b", VectorClock({"a": 2, "b": 1000}), "forged")
    forged = await b.receive(timeout=2)
    assert forged.payload == "forged"
    assert forged.receive_clock == VectorClock({"a": 2, "b": 2})
    assert (b.stats()["false_claims"], b.stats()["dropped"]) == (1, 0)


async def test_a_clock_out_of_scope_is_refused_before_its_ack_and_the_sender_is_told(
    make_nodes,
) -> None:
    """A clock naming a stranger, or holding more entries than the receiver allows, is
    refused by b's link before it acknowledges the message: a gets it back as a failure
    with its id and b's reason by the time its flush returns; the honest messages around
    it arrive exactly once, in order."""
    a, b = await make_nodes("a", "b", link="reliable")
    a.send_nowait("b", 1)
    stranger = a.link.send("b", VectorClock({"a": 2, "z": 1}), "stranger")
    a.send_nowait("b", 2)
    bloated = a.link.send("b", VectorClock({f"p{i}": 1 for i in range(300)}), "bloated")
    a.send_nowait("b", 3)
    await a.flush()
    failures = a.failures()
    assert [(f.id.seq, f.payload) for f in failures] == [
        (stranger, "stranger"),
        (bloated, "bloated"),
    ]
    assert "'z', not a member of the cluster" in failures[0].reason
    assert "300 entries, more than the limit of 256" in failures[1].reason
    got = [await b.receive(timeout=2) for _ in range(3)]
    assert [m.payload for m in got] == [1, 2, 3]
    assert set(b.clock) == {"a", "b"}
    assert b.stats()["refused"] == 2
    assert b.stats()["link"]["refused"] == 2
    assert a.stats()["link"]["refused_by_peer"] == 2


async def test_stats_keep_socket_datagrams_and_session_segments_apart(make_nodes) -> None:
    """A duplicating plan puts more datagrams on the socket than the session built segments;
    both counts survive in the link's stats (one used to overwrite the other)."""
    plan = FaultPlan(seed=5, duplicate=0.5)
    small = {"max_datagram": 200}  # a few messages a datagram: many datagrams to duplicate
    a, b = await make_nodes("a", "b", faults=plan, link_options=small)
    for i in range(200):
        await a.send("b", i)
    for _ in range(200):
        await b.receive(timeout=5)
    await a.flush()
    link = a.stats()["link"]
    assert link["segments_sent"] > 0, f"seed {plan.seed}"
    assert link["datagrams_sent"] > link["segments_sent"], f"seed {plan.seed}: {link}"


async def test_a_receiver_that_closes_at_once_leaves_its_sender_acknowledged(make_nodes) -> None:
    """First contact: the receiver delivers and closes at once. Its last ack must be
    believed by the sender, who confirms the receiver's incarnation while it is still up."""
    sender, receiver = await make_nodes("s", "r", link="reliable")
    await sender.send("r", "only")
    assert (await receiver.receive(timeout=5)).payload == "only"
    await receiver.close()
    await asyncio.wait_for(sender.flush(), 5)
    assert sender.stats()["link"]["confirmed"] == 1
