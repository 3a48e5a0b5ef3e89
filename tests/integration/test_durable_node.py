"""A node restarted on its data directory, over real UDP on loopback: its peers' memories of
its previous life do not make it refuse their messages (its clock continues above them)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from netclock import Node

pytestmark = pytest.mark.timeout(20)

SENT = 1500
"""Messages the first life of ``a`` sends: more than one reserved block of its clock."""


async def _first_life(a: Node, b: Node) -> None:
    for i in range(SENT):
        await a.send("b", i)
    for _ in range(SENT):
        await b.receive(timeout=5)
    await a.flush()


@pytest.mark.parametrize("durable", [True, False], ids=["data_dir", "no_data_dir"])
async def test_a_restart_on_its_data_directory_takes_messages_that_cite_its_previous_life(
    tmp_path: Path, durable: bool
) -> None:
    data_dir = tmp_path / "a" if durable else None
    async with Node("b") as b:
        a = await Node("a", peers={"b": b.address}, data_dir=data_dir).start()
        b.add_peer("a", a.address)
        await _first_life(a, b)
        first = a.incarnation
        await a.close()
        assert b.clock["a"] >= SENT
        async with Node("a", peers={"b": b.address}, data_dir=data_dir) as again:
            assert again.incarnation > first
            b.add_peer("a", again.address)  # restarted on a new port
            await b.send("a", "after the restart")
            if durable:
                msg = await again.receive(timeout=5)
                assert msg.payload == "after the restart"
                assert msg.receive_clock["a"] > SENT + 1
                assert again.dropped == 0
            else:  # without durable state b cites a:1501, a is at 0: a alone knows its own
                msg = await again.receive(timeout=5)  # entry, so the claim is never merged
                assert msg.payload == "after the restart"
                assert msg.receive_clock["a"] == 1
                assert (again.dropped, again.stats()["false_claims"]) == (0, 1)


async def test_a_restart_on_a_new_port_ignores_its_old_lifes_messages_and_acks() -> None:
    """The old life is a zombie (paused, partitioned, not yet dead: its socket still sends)
    when the new one starts on another port: b delivers nothing more of the old incarnation
    once it has heard the new one, and the old life's messages are never acknowledged."""
    async with Node("b") as b:
        # "old 2" is never acknowledged (asserted below): its close waits for nothing
        old = await Node("a", peers={"b": b.address}, close_timeout=0.1).start()
        try:
            b.add_peer("a", old.address)
            await old.send("b", "old 1")
            assert (await b.receive(timeout=5)).payload == "old 1"
            await old.flush()
            async with Node("a", peers={"b": b.address}) as new:
                assert new.incarnation > old.incarnation
                assert new.address != old.address
                b.add_peer("a", new.address)  # the restart is known at its new port
                await new.send("b", "new 1")
                got = await b.receive(timeout=5)
                assert (got.payload, got.incarnation) == ("new 1", new.incarnation)
                # the zombie's message leaves first (its pump runs first), from its old port,
                # into the same socket of b: b has handled it once it has "new 2"
                await old.send("b", "old 2")
                await new.send("b", "new 2")
                got = await b.receive(timeout=5)
                assert (got.payload, got.incarnation) == ("new 2", new.incarnation)
                stats = b.link.stats()  # type: ignore[attr-defined]
                assert stats["stale_incarnation"] + stats["wrong_source"] >= 1, stats
                await asyncio.wait_for(new.flush(), 5)  # b's acks reach the new life
                assert b.stats()["inbox"] == 0, "a message of the old incarnation was delivered"
                assert old.link.unacked("b") == 1  # type: ignore[attr-defined]
        finally:
            await old.close()
