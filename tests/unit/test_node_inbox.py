"""The Node's inbox: any number of concurrent consumers, each message to exactly one of them.

Messages enter through the link's side of the Node (the ``LinkUser`` the link was given),
as a link would deliver them; no socket is opened. The schedule test runs on an event loop
whose clock moves only when the schedule says so, so every timeout fires at a chosen step
and a failing schedule replays exactly (hypothesis prints it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock import Node, VectorClock
from netclock.links.base import LinkUser

pytestmark = pytest.mark.timeout(60)


def link_side(node: Node) -> LinkUser:
    """What the node's link calls to deliver (private to the Node)."""
    user: LinkUser = node.link.user  # type: ignore[attr-defined]
    return user


def deliver(node: Node, first: int, count: int) -> None:
    """Messages ``first .. first+count-1`` from ``a`` in one batch, payload = seq."""
    batch = [(seq, VectorClock({"a": seq + 1}), seq) for seq in range(first, first + count)]
    link_side(node).link_deliver_batch("a", 1, batch)


async def settle(rounds: int = 20) -> None:
    """Let every ready task run until all wait again (yields to the loop; no clock time)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


# -- the stranding of issue 18, reproduced --------------------------------------------------------
async def test_a_timed_out_receive_does_not_strand_an_async_for_consumer() -> None:
    node = Node("b")
    got: list[Any] = []

    async def iterate() -> None:
        async for msg in node:
            got.append(msg.payload)
            return

    consumer = asyncio.create_task(iterate())
    await settle()  # the consumer waits on the empty inbox
    with pytest.raises(TimeoutError):
        await node.receive(timeout=0.05)
    deliver(node, 1, 1)
    await asyncio.wait_for(consumer, 2.0)
    assert got == [1]
    await node.close()


async def test_a_cancelled_consumer_does_not_strand_the_others() -> None:
    node = Node("b")
    got: dict[str, list[Any]] = {"first": [], "second": []}

    async def iterate(name: str) -> None:
        async for msg in node:
            got[name].append(msg.payload)

    first = asyncio.create_task(iterate("first"))
    second = asyncio.create_task(iterate("second"))
    await settle()
    deliver(node, 1, 3)  # wakes the first consumer ...
    first.cancel()  # ... which is cancelled before it runs
    await settle()
    assert got == {"first": [], "second": [1, 2, 3]}
    await node.close()
    await asyncio.wait_for(second, 2.0)
    assert first.cancelled()


async def test_a_batch_reaches_every_waiting_consumer() -> None:
    node = Node("b")
    got: list[tuple[int, Any]] = []

    async def take_one(me: int) -> None:
        got.append((me, (await node.receive()).payload))

    consumers = [asyncio.create_task(take_one(i)) for i in range(4)]
    await settle()
    deliver(node, 1, 4)
    await asyncio.wait_for(asyncio.gather(*consumers), 2.0)
    assert sorted(payload for _, payload in got) == [1, 2, 3, 4]
    assert sorted(me for me, _ in got) == [0, 1, 2, 3]
    await node.close()


async def test_close_ends_every_waiting_consumer_after_the_inbox_is_empty() -> None:
    node = Node("b")
    got: list[Any] = []

    async def iterate() -> None:
        async for msg in node:
            got.append(msg.payload)

    async def receive_until_closed() -> None:
        while True:
            try:
                msg = await node.receive()
            except StopAsyncIteration:
                return
            got.append(msg.payload)

    consumers = [asyncio.create_task(iterate()) for _ in range(3)]
    consumers += [asyncio.create_task(receive_until_closed()) for _ in range(2)]
    await settle()
    deliver(node, 1, 2)
    await node.close()
    await asyncio.wait_for(asyncio.gather(*consumers), 2.0)
    assert sorted(got) == [1, 2]


# -- any schedule ---------------------------------------------------------------------------------
class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock stands still until :meth:`advance`: timeouts fire when the
    schedule moves time, never because the machine was slow."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


CONSUMERS = ("iterate", "receive", "timeout")
"""``async for``; ``receive()`` in a loop; ``receive(timeout)`` in a loop until it times out."""

step = st.one_of(
    st.tuples(st.just("start"), st.sampled_from(CONSUMERS), st.sampled_from([0.0, 0.5, 1.5])),
    st.tuples(st.just("deliver"), st.integers(1, 4), st.just(0.0)),
    st.tuples(st.just("cancel"), st.integers(0, 7), st.just(0.0)),
    st.tuples(st.just("advance"), st.just(""), st.sampled_from([0.25, 1.0])),
)


def run_virtual(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        runner.run(asyncio.wait_for(scenario(), None))


@settings(max_examples=300, deadline=None, print_blob=True)
@given(st.lists(step, max_size=25), st.booleans())
def test_every_message_reaches_one_consumer_and_none_is_stranded(
    schedule: list[tuple[str, Any, float]], one_by_one: bool
) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        node = Node("b")
        side = link_side(node)
        taken: list[int] = []
        tasks: list[asyncio.Task[None]] = []
        sent = 0

        async def consume(kind: str, timeout: float) -> None:
            if kind == "iterate":
                async for msg in node:
                    taken.append(msg.payload)
                return
            try:
                while True:
                    msg = await node.receive(timeout if kind == "timeout" else None)
                    taken.append(msg.payload)
            except (TimeoutError, StopAsyncIteration):
                return

        def stranded() -> bool:
            return node.stats()["inbox"] > 0 and any(not t.done() for t in tasks)

        for action, arg, seconds in schedule:
            if action == "start":
                tasks.append(asyncio.create_task(consume(arg, seconds)))
            elif action == "deliver":
                if one_by_one:
                    for seq in range(sent + 1, sent + arg + 1):
                        side.link_deliver("a", 1, seq, VectorClock({"a": seq + 1}), seq)
                else:
                    deliver(node, sent + 1, arg)
                sent += arg
            elif action == "cancel" and tasks:
                tasks[arg % len(tasks)].cancel()
            elif action == "advance":
                loop.advance(seconds)
            await settle()
            assert not stranded(), f"a consumer waits while the inbox holds messages: {taken}"

        waiting_at_close = any(not t.done() for t in tasks)
        await node.close()
        await settle()
        assert all(t.done() for t in tasks), "close() must end every waiting consumer"
        left = node.stats()["inbox"]
        assert sorted(taken) == sorted(set(taken)), f"a message reached two consumers: {taken}"
        assert set(taken) <= set(range(1, sent + 1))
        assert len(taken) + left == sent, "every message is taken once or still in the inbox"
        if waiting_at_close:
            assert left == 0, "consumers alive at close() drain the inbox first"

    run_virtual(scenario)
