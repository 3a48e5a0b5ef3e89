"""``Node.remove_peer`` on every link kind, on real sockets on 127.0.0.1.

Removing ``b`` from ``a`` releases b's state in a's link (session, timer, connection,
retransmissions), makes every later send to b one clear PeerRemoved, wakes a send that was
waiting for b's window with the same error, hands what b never acknowledged back as
failures (with ``give_up_after``), refuses what b still sends, and leaves a's traffic with
``c`` exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from netclock import Node, PeerRemoved, UsageError
from netclock.links.tls import certs

pytestmark = pytest.mark.timeout(30)

STEP = 5.0
KINDS = ("fairloss", "stubborn", "reliable", "sealed", "tls")
RELIABLE = ("reliable", "sealed", "tls")
NOBODY = ("127.0.0.1", 9)
"""An address nobody listens on: a peer there never acknowledges anything."""


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("remove-peer") / "certs"
    certs.init_cluster(directory, ["a", "b", "c"], cluster="lab")
    return directory


@contextlib.asynccontextmanager
async def started(
    kind: str, cert_dir: Path, *ids: str, **options: Any
) -> AsyncIterator[list[Node]]:
    extra: dict[str, Any] = {"cert_dir": cert_dir} if kind in ("sealed", "tls") else {}
    async with contextlib.AsyncExitStack() as stack:
        nodes = [
            await stack.enter_async_context(
                Node(i, link=kind, close_timeout=1.0, **extra, **options)
            )
            for i in ids
        ]
        for node in nodes:
            for other in nodes:
                if other is not node:
                    node.add_peer(other.id, other.address)
        yield nodes


async def exactly_once(sender: Node, receiver: Node, texts: list[str]) -> None:
    for text in texts:
        await sender.send(receiver.id, text)
    got = [await receiver.receive(STEP) for _ in texts]
    assert [(d.sender, d.payload) for d in got] == [(sender.id, t) for t in texts]


@pytest.mark.parametrize("kind", KINDS)
async def test_removed_peer_is_forgotten_and_refused(kind: str, cert_dir: Path) -> None:
    async with started(kind, cert_dir, "a", "b", "c") as (a, b, c):
        await exactly_once(a, b, ["before"])
        await exactly_once(b, a, ["hello a"])
        a.remove_peer("b")
        assert a.peers == ["c"]
        link: Any = a.link
        if kind in RELIABLE:
            assert "b" not in link.sessions
            assert "b" not in link._timers
        if kind == "stubborn":
            assert all(sent[0] != "b" for sent in link._sent)
        if kind == "tls":
            assert link.connection("b") is None
        with pytest.raises(PeerRemoved, match="'b' was removed"):
            await a.send("b", "after")
        with pytest.raises(PeerRemoved):
            a.send_nowait("b", "after")
        await b.send("a", "are you there?")  # refused at a, never delivered
        await exactly_once(a, c, [f"to c {i}" for i in range(20)])
        await exactly_once(c, a, ["from c"])
        later = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):  # stubborn links retransmit forever
                while True:
                    later.append((await a.receive()).payload)
        assert "are you there?" not in later
        if kind != "stubborn":  # stubborn retransmits: earlier messages may come again
            assert later == []
        with pytest.raises(UsageError, match="unknown peer"):
            a.remove_peer("b")
        if kind in RELIABLE:  # "are you there?" (and perhaps "hello a", delivered just before
            # a removed b) is never acknowledged: b would wait out its close_timeout for it
            assert b.link.unacked("a") >= 1  # type: ignore[attr-defined]
            b.remove_peer("a")


@pytest.mark.parametrize("kind", RELIABLE)
async def test_pending_sends_fail_and_unacked_messages_come_back(kind: str, cert_dir: Path) -> None:
    async with started(
        kind, cert_dir, "a", "c", give_up_after=60.0, link_options={"send_window": 2}
    ) as (a, c):
        a.add_peer("b", NOBODY)
        first = await a.send("b", "one")
        second = await a.send("b", "two")
        waiting = asyncio.ensure_future(a.send("b", "three"))  # the window is full: it waits
        await asyncio.sleep(0)
        assert not waiting.done()
        flushing = asyncio.ensure_future(a.flush())
        a.remove_peer("b")
        with pytest.raises(PeerRemoved):
            await asyncio.wait_for(waiting, STEP)
        await asyncio.wait_for(flushing, STEP)  # nothing is owed any more
        assert [(f.peer, f.id, f.payload) for f in a.failures()] == [
            ("b", first, "one"),
            ("b", second, "two"),
        ]
        await exactly_once(a, c, ["still flows"])


@pytest.mark.parametrize("kind", RELIABLE)
async def test_a_removed_peer_comes_back_with_fresh_state_exactly_once(
    kind: str, cert_dir: Path
) -> None:
    """Removed and added again (twice), b gets a fresh session on a's link whose numbering
    continues both ways: ids never repeat, nothing delivered before comes again, and what
    b sent while it was removed arrives once after it is back; traffic with c flows
    throughout."""
    async with started(kind, cert_dir, "a", "b", "c") as (a, b, c):
        link: Any = a.link
        ids = []
        for round_ in range(3):
            texts = [f"a{round_}-{i}" for i in range(20)]
            ids += [await a.send("b", t) for t in texts]
            got = [await b.receive(STEP) for _ in texts]
            assert [d.payload for d in got] == texts
            await exactly_once(b, a, [f"b{round_}-{i}" for i in range(20)])
            await asyncio.wait_for(a.flush(), STEP)
            before = link.sessions["b"]
            a.remove_peer("b")
            await b.send("a", f"while removed {round_}")  # b still knows a: it keeps it
            await exactly_once(a, c, [f"to c {round_}"])
            a.add_peer("b", b.address)
            assert link.sessions["b"] is not before, "fresh state"
            assert (await a.receive(STEP)).payload == f"while removed {round_}"
        assert [i.seq for i in ids] == list(range(1, 61)), "ids continue, never repeat"
        await asyncio.wait_for(a.flush(), STEP)
        await asyncio.wait_for(b.flush(), STEP)
        with contextlib.suppress(TimeoutError):
            extra = await a.receive(0.3)
            raise AssertionError(f"delivered again: {extra.payload!r}")
        with contextlib.suppress(TimeoutError):
            extra = await b.receive(0.3)
            raise AssertionError(f"delivered again: {extra.payload!r}")
        assert a.failures() == []
        assert b.failures() == []


async def test_a_removed_peer_may_come_back_on_the_fair_loss_link(cert_dir: Path) -> None:
    async with started("fairloss", cert_dir, "a", "b") as (a, b):
        first = await a.send("b", "one")
        assert (await b.receive(STEP)).payload == "one"
        a.remove_peer("b")
        a.add_peer("b", b.address)
        again = await a.send("b", "two")
        assert again.seq == first.seq + 1, "message ids never repeat"
        assert (await b.receive(STEP)).payload == "two"
