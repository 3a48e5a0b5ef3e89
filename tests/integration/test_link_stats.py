"""A reliable link's counters are its peer sessions' counters summed, key by key."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

from netclock import Node
from netclock.links.session import STAT_KEYS


async def test_the_link_counters_are_the_sum_of_its_sessions_counters() -> None:
    async with AsyncExitStack() as stack:
        a, *others = [await stack.enter_async_context(Node(i)) for i in "abcd"]
        assert {k: v for k, v in a.link.stats().items() if k in STAT_KEYS} == {}
        for node in others:
            a.add_peer(node.id, node.address)
            node.add_peer("a", a.address)
        for count, node in enumerate(others, 1):  # a different count per peer
            for i in range(count * 5):
                await a.send(node.id, i)
            await node.send("a", "back")
        for count, node in enumerate(others, 1):
            assert [(await node.receive(5)).payload for _ in range(count * 5)] == list(
                range(count * 5)
            )
            assert (await a.receive(5)).payload == "back"
        await asyncio.wait_for(asyncio.gather(*(n.flush() for n in (a, *others))), 10)
        link: Any = a.link
        sessions = list(link.sessions.values())
        assert len(sessions) == 3
        stats = link.stats()
        for key in STAT_KEYS:
            assert stats[key] == sum(s.stats[key] for s in sessions), key
        assert (stats["delivered"], stats["received"]) == (3, 3)
        assert stats["sent"] >= 3
