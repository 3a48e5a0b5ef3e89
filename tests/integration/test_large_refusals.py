"""Nothing acknowledged is dropped, for large messages, on real sockets on 127.0.0.1.

A receiver whose ``max_message`` is smaller than the sender's refuses the message before it
acknowledges its first piece: the sender gets it back from ``failures()`` with its id, its
whole payload and the receiver's reason, sends no more of its pieces, and what follows is
delivered. A receiver that restarts as a new process (no data directory) in the middle of
a large message cannot join the rest: the sender hands the message back as a failure with
a reason instead of losing it silently, and the new process gets what comes next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from netclock import Failure, Node
from netclock.links.tls import certs

pytestmark = pytest.mark.timeout(60)

MIB = 1 << 20
STEP = 20.0


async def until(condition: Callable[[], bool], what: str, timeout: float = STEP) -> None:
    """Wait (bounded) for ``condition``, checked once per loop pass."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


def certificates(kind: str, folder: Path) -> dict[str, Path]:
    """The ``cert_dir`` keyword a sealed or tls node of a and b needs (none on reliable)."""
    if kind == "reliable":
        return {}
    certs.init_cluster(folder, ["a", "b"], cluster="lab")
    return {"cert_dir": folder}


@pytest.mark.parametrize("kind", ["reliable", "sealed", "tls"])
async def test_a_message_above_the_receivers_max_message_is_refused_before_its_ack(
    kind: str, tmp_path: Path
) -> None:
    cert = certificates(kind, tmp_path)
    small = {"max_message": 64 * 1024}
    async with (
        Node("a", link=kind, **cert) as a,  # type: ignore[arg-type]
        Node("b", link=kind, link_options=small, **cert) as b,  # type: ignore[arg-type]
    ):
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        data = b"L" * (3 * MIB)
        big = await a.send("b", data)
        after = await a.send("b", "after")
        assert (await b.receive(STEP)).payload == "after"
        await asyncio.wait_for(a.flush(), STEP)
        (failure,) = a.failures()
        assert failure.id == big
        assert failure.payload == data, "the whole payload comes back, not a piece"
        assert "larger than this node's max_message of 65536 bytes" in (failure.reason or "")
        assert b.refused == 1
        assert after.seq > big.seq
        sent = a.stats()["link"]["sent"]
        assert sent < 3 * MIB // 1000, f"{sent} messages sent: the pieces stopped at the refusal"
        await b.send("a", "and back")
        assert (await a.receive(STEP)).payload == "and back"


@pytest.mark.parametrize("kind", ["reliable", "sealed", "tls"])
async def test_a_receiver_restarted_mid_message_hands_it_back_as_a_failure(
    kind: str, tmp_path: Path
) -> None:
    cert = certificates(kind, tmp_path)
    async with Node("a", link=kind, close_timeout=1.0, **cert) as a:  # type: ignore[arg-type]
        b = Node("b", link=kind, close_timeout=0.1, **cert)  # type: ignore[arg-type]
        await b.start()
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        data = b"R" * (12 * MIB)
        big = await a.send("b", data)
        session = a.link.sessions["b"]  # type: ignore[attr-defined]
        first_acked = big.seq + 50
        await until(lambda: session.next_seq - session.unacked > first_acked, "pieces acked")
        await b.close()  # crash-stop with amnesia: no data directory
        async with Node("b", link=kind, peers={"a": a.address}, **cert) as again:  # type: ignore[arg-type]
            assert again.incarnation != b.incarnation
            a.add_peer("b", again.address)
            failures: list[Failure] = []
            await until(lambda: bool(failures.extend(a.failures()) or failures), "the failure")
            (failure,) = failures
            assert failure.id == big
            assert failure.payload == data
            assert "b restarted as a new process" in (failure.reason or "")
            await a.send("b", "after the restart")
            msg = await again.receive(STEP)
            assert msg.payload == "after the restart", "nothing of the cut message is delivered"
            await asyncio.wait_for(a.flush(), STEP)
            assert a.failures() == []


async def test_a_receiver_restarted_before_any_piece_was_acked_gets_the_message_whole() -> None:
    """The restart loses nothing the old process acknowledged: the message is resent whole."""
    gone = Node("b", close_timeout=0.1)
    await gone.start()
    async with Node("a", close_timeout=1.0) as a:
        a.add_peer("b", gone.address)
        await gone.close()  # b is gone before anything reaches it
        data = b"W" * (3 * MIB)
        big = await a.send("b", data)
        async with Node("b", peers={"a": a.address}) as again:
            a.add_peer("b", again.address)
            msg = await again.receive(STEP)
            assert (msg.id, msg.payload == data) == (big, True)
            await asyncio.wait_for(a.flush(), STEP)
            assert a.failures() == []
