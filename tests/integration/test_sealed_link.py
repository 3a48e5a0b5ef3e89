"""The ``sealed`` link (authenticate and filter over UDP) against forgers, on real sockets.

Honest ``a`` sends to ``c``; an attacker sits on the path between them (two relay sockets:
``c`` knows ``a`` by the first, ``a`` knows ``c`` by the second, so each side sees datagrams
from the address it expects) or off the path on a socket of its own. Whatever it does
(forged incarnations, injected segments, replays, bit flips, a member sealing a segment
in another's name), ``c`` delivers ``a``'s messages exactly once, in order, and nothing
else; every refusal is in ``c``'s counters. Synchronisation is on deliveries, never sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest

from netclock import FaultPlan, Node
from netclock.adversary import RawUdp, segment_envelope
from netclock.errors import ConfigError
from netclock.links.seal import Sealer
from netclock.links.seal_keys import PairSecrets
from netclock.links.tls import certs
from netclock.wire.envelope import Ack, encode_segment

pytestmark = pytest.mark.timeout(30)

STEP = 5.0
"""Longest any single network step may take before the test fails."""
SEED = 1515
FORGED_SEGMENT = msgpack.packb([1, 2, "a", 2**64 - 1, "c", 1, None, []])
"""The issue's 19-byte datagram that stopped the plain perfect link (a 'restart' of a)."""


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("sealed") / "certs"
    certs.init_cluster(directory, ["a", "c", "m"], cluster="lab")
    return directory


@contextlib.asynccontextmanager
async def nodes(cert_dir: Path, *names: str) -> AsyncIterator[list[Node]]:
    async with contextlib.AsyncExitStack() as stack:
        started = [
            await stack.enter_async_context(
                Node(n, link="sealed", cert_dir=cert_dir, close_timeout=1.0, inbox_size=4096)
            )
            for n in names
        ]
        yield started


class _Relay(asyncio.DatagramProtocol):
    def __init__(self, forward: Callable[[bytes], None]) -> None:
        self.forward = forward
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.forward(data)


@contextlib.asynccontextmanager
async def on_path(
    a: Node, c: Node, tamper: Callable[[bytes, Callable[[bytes], None]], None]
) -> AsyncIterator[None]:
    """Put a relay between ``a`` and ``c``; ``tamper(datagram, send_to_c)`` sees a -> c."""
    loop = asyncio.get_running_loop()
    to_c: list[asyncio.DatagramTransport] = []
    to_a: list[asyncio.DatagramTransport] = []
    a_address, c_address = a.address, c.address

    def send_to_c(data: bytes) -> None:
        to_c[0].sendto(data, c_address)

    as_a = _Relay(lambda d: to_a[0].sendto(d, a_address))  # c -> "a": forwarded untouched
    as_c = _Relay(lambda d: tamper(d, send_to_c))  # a -> "c": the attacker's hands
    t1, _ = await loop.create_datagram_endpoint(lambda: as_a, local_addr=("127.0.0.1", 0))
    t2, _ = await loop.create_datagram_endpoint(lambda: as_c, local_addr=("127.0.0.1", 0))
    to_c.append(t1)
    to_a.append(t2)
    c.add_peer("a", t1.get_extra_info("sockname")[:2])
    a.add_peer("c", t2.get_extra_info("sockname")[:2])
    try:
        yield
    finally:
        t1.close()
        t2.close()


async def exactly_once_in_order(a: Node, c: Node, count: int, tag: str) -> None:
    texts = [f"{tag} {i}" for i in range(count)]
    for text in texts:
        await a.send("c", text)
    got = [await c.receive(STEP) for _ in texts]
    assert [(d.sender, d.payload) for d in got] == [("a", t) for t in texts]
    await a.flush()
    with pytest.raises(TimeoutError):
        await c.receive(0.2)  # nothing more: no creation, no duplicate


def link_stats(node: Node) -> dict[str, Any]:
    stats = node.stats()["link"]
    assert isinstance(stats, dict)
    return stats


async def test_honest_traffic_is_delivered_exactly_once_in_order(cert_dir: Path) -> None:
    async with nodes(cert_dir, "a", "c") as (a, c):
        a.add_peer("c", c.address)
        c.add_peer("a", a.address)
        await exactly_once_in_order(a, c, 300, "plain")
        await c.send("a", "back")
        assert (await a.receive(STEP)).payload == "back"
        stats = link_stats(c)
        assert stats["kind"] == "sealed"
        assert stats["forged"] == stats["replayed"] == stats["bad_datagrams"] == 0


async def test_off_path_forgeries_change_nothing(cert_dir: Path) -> None:
    """The forged-incarnation datagram, injected segments and a member sealing a segment in
    another's name, from sockets of their own, before and during honest traffic."""
    async with nodes(cert_dir, "a", "c") as (a, c):
        a.add_peer("c", c.address)
        c.add_peer("a", a.address)
        await exactly_once_in_order(a, c, 5, "before")
        m = Sealer("m", 1, "lab", PairSecrets(cert_dir, "m").secret_for)
        m.add_peer("c")
        async with RawUdp() as forger:
            forger.send(FORGED_SEGMENT, c.address)
            for seq in (1, 6, 7, 2**63):
                forger.send(segment_envelope("a", "c", ["injected"], first_seq=seq), c.address)
            forger.send(m.seal("c", segment_envelope("a", "c", ["as a"], first_seq=6)), c.address)
            forger.send(m.seal("c", segment_envelope("m", "c", ["as m"])), c.address)
            await exactly_once_in_order(a, c, 50, "after")
        stats = link_stats(c)
        assert stats["bad_datagrams"] == 5  # plain envelopes do not even parse as sealed
        assert stats["unknown_peer"] == 2  # m is a member, but not c's peer
        assert stats["impersonated"] == 0
        assert c.refused >= 6


async def test_forged_acks_under_loss_release_nothing_unreceived(cert_dir: Path) -> None:
    """The issue's forged cumulative acks: with 10 % loss each way (seed printed on failure),
    a forger acks "from c" everything a sent so far; a releases nothing c did not get,
    and its flush returns only once c has every message."""
    plan = FaultPlan(seed=SEED, loss=0.1)
    async with contextlib.AsyncExitStack() as stack:
        a, c = [
            await stack.enter_async_context(
                Node(n, link="sealed", cert_dir=cert_dir, faults=plan, close_timeout=1.0)
            )
            for n in ("a", "c")
        ]
        a.add_peer("c", c.address)
        c.add_peer("a", a.address)
        async with RawUdp() as forger:
            texts = [f"seed {SEED}: {i}" for i in range(300)]
            for i, text in enumerate(texts):
                sent = await a.send("c", text)
                if i % 10 == 0:  # what a sent a moment ago, acked in c's name (ids are clear)
                    ack = Ack(a.incarnation, max(sent.seq - 5, 1), (), 1024)
                    forger.send(encode_segment("c", c.incarnation, "a", 1, ack, []), a.address)
            await asyncio.wait_for(a.flush(), STEP * 4)
            got = [await c.receive(STEP) for _ in texts]
        assert [d.payload for d in got] == texts, f"seed {SEED}"
        assert link_stats(a)["bad_datagrams"] == 30


async def test_a_member_sealing_in_another_members_name_is_refused(cert_dir: Path) -> None:
    async with nodes(cert_dir, "a", "c") as (a, c):
        a.add_peer("c", c.address)
        c.add_peer("a", a.address)
        c.add_peer("m", ("127.0.0.1", 9))  # a known member, never running
        m = Sealer("m", 1, "lab", PairSecrets(cert_dir, "m").secret_for)
        m.add_peer("c")
        async with RawUdp() as forger:
            forger.send(m.seal("c", segment_envelope("a", "c", ["as a"], first_seq=1)), c.address)
            forger.send(m.seal("c", b"\xc1" + msgpack.packb(["a", "c", 1, 1, 0.0])), c.address)
            await exactly_once_in_order(a, c, 20, "honest")
        assert link_stats(c)["impersonated"] == 2


async def test_an_on_path_attacker_replaying_flipping_and_injecting_changes_nothing(
    cert_dir: Path,
) -> None:
    """Every datagram from a to c is forwarded, replayed twice, and followed by a copy with
    one random bit flipped and a forged segment; a's messages arrive exactly once, in order."""
    rng = random.Random(SEED)
    seen: list[bytes] = []

    def tamper(data: bytes, send: Callable[[bytes], None]) -> None:
        send(data)
        send(data)
        if seen:
            send(rng.choice(seen))  # an older one, out of order
        flipped = bytearray(data)
        bit = rng.randrange(len(flipped) * 8)
        flipped[bit // 8] ^= 1 << (bit % 8)
        send(bytes(flipped))
        send(FORGED_SEGMENT)
        seen.append(data)

    async with nodes(cert_dir, "a", "c") as (a, c):
        async with on_path(a, c, tamper):
            await exactly_once_in_order(a, c, 200, f"seed {SEED}:")
            await c.send("a", "reply")
            assert (await a.receive(STEP)).payload == "reply"
            await asyncio.wait_for(c.flush(), STEP)  # a's ack comes through the path too

        def refused() -> int:
            stats = link_stats(c)
            return min(
                stats["replayed"], stats["forged"] + stats["bad_datagrams"] + stats["unknown_peer"]
            )

        deadline = asyncio.get_running_loop().time() + STEP
        while refused() < len(seen):  # the copies that followed a's last datagram
            now = asyncio.get_running_loop().time()
            assert now < deadline, f"seed {SEED}: {len(seen)} tampered, {link_stats(c)}"
            await asyncio.sleep(0.01)


async def test_replays_from_an_earlier_start_of_the_sender_are_refused(cert_dir: Path) -> None:
    """a's datagrams captured on the path are replayed after a restarts (same id, new
    process): none is accepted, the new a's messages are delivered exactly once."""
    captured: list[bytes] = []

    def keep(data: bytes, send: Callable[[bytes], None]) -> None:
        captured.append(data)
        send(data)

    async with nodes(cert_dir, "c") as (c,):
        async with nodes(cert_dir, "a") as (a,), on_path(a, c, keep):
            await exactly_once_in_order(a, c, 10, "first life")
        async with nodes(cert_dir, "a") as (a2,):
            a2.add_peer("c", c.address)
            c.add_peer("a", a2.address)
            await exactly_once_in_order(a2, c, 3, "second life")
            async with RawUdp() as forger:
                for data in captured:
                    forger.send(data, c.address)
                await exactly_once_in_order(a2, c, 3, "still")
        assert link_stats(c)["replayed"] >= len(captured)


async def test_certificate_problems_are_one_config_error(cert_dir: Path, tmp_path: Path) -> None:
    certs.init_cluster(tmp_path / "ed", ["a", "c"], key_type="ed25519")
    with pytest.raises(ConfigError, match="needs EC certificate keys"):
        Node("a", link="sealed", cert_dir=tmp_path / "ed")
    other = tmp_path / "other"
    certs.init_cluster(other, ["a", "c"], cluster="lab")
    (other / "c.pem").write_bytes((cert_dir / "c.pem").read_bytes())
    async with nodes(other, "a") as (a,):
        with pytest.raises(ConfigError, match="not issued by the cluster CA"):
            a.add_peer("c", ("127.0.0.1", 9))
        with pytest.raises(ConfigError, match="missing"):
            a.add_peer("zed", ("127.0.0.1", 9))
        assert "c" not in a.peers


async def test_a_logged_sender_restarts_under_the_same_incarnation_with_a_new_key(
    cert_dir: Path, tmp_path: Path
) -> None:
    """A logged link keeps its stream's incarnation across a crash; the restarted process
    seals under a fresh salt, so c takes it as the sender's new start (nonces never repeat)
    and gets every message exactly once, in order, with its id."""
    data = tmp_path / "a"
    sealed: dict[str, Any] = {"link": "sealed", "cert_dir": cert_dir, "close_timeout": 1.0}
    async with Node("c", **sealed) as c:
        a = await Node("a", peers={"c": c.address}, data_dir=data, **sealed).start()
        c.add_peer("a", a.address)
        ids = [a.send_nowait("c", i) for i in range(300)]
        got = [await c.receive(STEP) for _ in range(50)]
        link: Any = a.link  # a crash: nothing more is sent, written or flushed
        link._closed = True
        link._stop_pump()
        link._transport.abort()
        a._state = "closed"
        assert a._journal is not None
        assert a._durable is not None
        a._journal.close()
        a._durable.close()
        again = await Node("a", peers={"c": c.address}, data_dir=data, **sealed).start()
        try:
            c.add_peer("a", again.address)
            got += [await c.receive(STEP) for _ in range(250)]
            assert [m.payload for m in got] == list(range(300))
            assert [m.id for m in got] == ids
            await again.flush()
            assert link_stats(c)["forged"] == 0
        finally:
            await again.close()
