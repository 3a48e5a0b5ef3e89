"""The authenticated perfect link (AL1-AL3) between Nodes over real TLS sockets on 127.0.0.1.

Every attack ends the same way: nothing from the attacker is delivered, the refusal is
logged on ``netclock.links.tls.link``, and honest traffic between ``a`` and ``c`` still flows. The
attacked node is ``c``; ``b`` is a known peer of ``c`` whose certificate the attacker holds.
Synchronisation is on events (a log record, an EOF, a delivery), never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import shutil
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock import FaultPlan, FixedDelay, Node, Partition
from netclock.clock import VectorClock
from netclock.links.tls import certs
from netclock.links.tls.dialer import DIAL_WAIT
from netclock.links.tls.link import TlsLink
from netclock.wire.envelope import Hello, decode, encode_hello, encode_segment_packed, pack_message
from netclock.wire.framing import FrameReader, FrameTooLarge, encode_frames

pytestmark = pytest.mark.timeout(20)

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
STEP = 5.0
"""Longest any single network step may take before the test fails."""
UNUSED = ("127.0.0.1", 9)
"""An address nobody listens on: ``b`` is known to ``c`` but never runs."""


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cluster "lab" with nodes a, b, c; ``bad/<kind>/a.pem`` holds certificates for ``a``
    that must be refused: expired, not yet valid, and from another CA."""
    root = tmp_path_factory.mktemp("tls-link")
    directory = root / "certs"
    certs.init_cluster(directory, ["a", "b", "c"], cluster="lab")
    ca_cert, ca_key = certs.load_ca(directory)
    other_ca, other_key = certs.make_ca("lab", not_before=NOW - DAY, not_after=NOW + 9 * DAY)
    bad = {
        "expired": (ca_cert, ca_key, NOW - 9 * DAY, NOW - DAY),
        "future": (ca_cert, ca_key, NOW + DAY, NOW + 9 * DAY),
        "foreign": (other_ca, other_key, NOW - DAY, NOW + 9 * DAY),
    }
    for kind, (issuer, issuer_key, start, end) in bad.items():
        cert, key = certs.make_node_cert(issuer, issuer_key, "a", not_before=start, not_after=end)
        certs.write_node_files(root / "bad" / kind, "a", cert, key)
    return directory


class LogWatch(logging.Handler):
    """Collects ``netclock.links.tls`` records and lets a test await one containing some text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._changed.set()

    def lines(self, level: int = logging.WARNING) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]

    async def wait_for(self, text: str, level: int = logging.WARNING) -> str:
        async with asyncio.timeout(STEP):
            while True:
                for line in self.lines(level):
                    if text in line:
                        return line
                self._changed.clear()
                await self._changed.wait()


@pytest.fixture
def watch(capture_logs: Callable[[LogWatch, str], LogWatch]) -> LogWatch:
    return capture_logs(LogWatch(), "netclock.links.tls")


def link_of(node: Node) -> TlsLink:
    link = node._link
    assert isinstance(link, TlsLink)
    return link


@contextlib.asynccontextmanager
async def nodes(cert_dir: Path, *ids: str, **options: Any) -> AsyncIterator[list[Node]]:
    """Started tls Nodes that know each other (and ``c`` knows ``b`` at an unused address)."""
    async with contextlib.AsyncExitStack() as stack:
        started = [
            await stack.enter_async_context(
                Node(i, link="tls", cert_dir=cert_dir, close_timeout=2.0, **options)
            )
            for i in ids
        ]
        for node in started:
            for other in started:
                if other is not node:
                    node.add_peer(other.id, other.address)
            if node.id == "c" and "b" not in ids:
                node.add_peer("b", UNUSED)
        yield started


async def exchange(sender: Node, receiver: Node, texts: list[str]) -> None:
    """``sender`` sends ``texts``; ``receiver`` gets exactly them, in order, from ``sender``."""
    for text in texts:
        await sender.send(receiver.id, text)
    got = [await receiver.receive(STEP) for _ in texts]
    assert [(m.sender, m.payload) for m in got] == [(sender.id, t) for t in texts]
    assert receiver.stats()["inbox"] == 0


def client_context(
    cert_dir: Path,
    cert: Path | None,
    *,
    trust: Path | None = None,
    max_version: ssl.TLSVersion | None = None,
) -> ssl.SSLContext:
    """A plain client context: trusts ``trust`` (the cluster CA), presents ``cert`` if given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(trust or cert_dir / "ca.pem")
    if cert is not None:
        ctx.load_cert_chain(cert, cert.with_suffix(".key"))
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


async def attack(port: int, ctx: ssl.SSLContext | None, data: bytes) -> bytes:
    """Connect, send ``data``, read until the server closes; what came back (or b"")."""
    received = b""
    try:
        async with asyncio.timeout(STEP):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
            try:
                writer.write(data)
                while chunk := await reader.read(65536):
                    received += chunk
            finally:
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()
    except (OSError, ssl.SSLError):
        pass
    return received


async def send_and_close(port: int, ctx: ssl.SSLContext, data: bytes) -> None:
    """Connect, send ``data``, close with TLS close_notify; returns once the server closed
    too (so it has read everything), or when the server dropped the connection first."""
    async with asyncio.timeout(STEP):
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        writer.write(data)
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def forged(sender: str, receiver: str, text: str) -> bytes:
    """A hello from ``sender`` and one segment carrying ``text``, framed."""
    hello = encode_hello(sender, 7, receiver, 0, 0, 1024)
    message = pack_message(1, VectorClock({sender: 2}), text)
    segment = encode_segment_packed(sender, 7, receiver, 1, None, [message])
    return encode_frames([hello, segment])


# -- AL1, AL2, FIFO, clocks ------------------------------------------------------------------------
async def test_al1_al2_fifo_messages_carry_the_senders_clock_and_tick_the_receiver(
    cert_dir: Path,
) -> None:
    async with nodes(cert_dir, "a", "b") as (a, b):
        ids = [await a.send("b", {"n": i}) for i in range(50)]
        got = [await b.receive(STEP) for _ in range(50)]
        assert [m.payload for m in got] == [{"n": i} for i in range(50)]
        assert [m.id for m in got] == ids
        assert [m.id.seq for m in got] == list(range(1, 51))
        for i, m in enumerate(got):
            assert m.clock == VectorClock({"a": i + 1})  # no log: the first event is 1
            assert m.receive_clock == VectorClock({"a": i + 1, "b": i + 1})
        await b.send("a", "reply")
        reply = await a.receive(STEP)
        assert reply.clock == VectorClock({"a": 50, "b": 51})
        assert reply.receive_clock == VectorClock({"a": 51, "b": 51})
        await a.flush()
        stats = link_of(a).stats()
        assert stats["connections_made"] == 1
        assert stats["bad_frames"] == 0
        assert stats["retransmitted"] == 0


async def test_al1_slow_reader_gets_every_message_in_order_and_its_inbox_stays_bounded(
    cert_dir: Path,
) -> None:
    """Deliveries stop at the inbox's room and resume when the application reads.

    Both nodes share the inbox size: a sender assumes its own receive window for the peer.
    """
    async with nodes(cert_dir, "a", "b", inbox_size=8) as (a, b):
        for i in range(200):
            await a.send("b", i)
        got = []
        for _ in range(200):
            got.append((await b.receive(STEP)).payload)
            assert b.stats()["inbox"] <= 8
        assert got == list(range(200))
        assert b.dropped == 0
        await a.flush()


async def test_al1_peer_that_starts_later_gets_every_message_once(cert_dir: Path) -> None:
    async with nodes(cert_dir, "a") as (a,):
        late = Node("b", link="tls", cert_dir=cert_dir, close_timeout=2.0)
        await late.start()
        address = late.address
        await late.close()
        a.add_peer("b", address)
        for i in range(20):
            a.send_nowait("b", i)
        async with Node("b", link="tls", cert_dir=cert_dir, address=address) as b:
            b.add_peer("a", a.address)
            got = [(await b.receive(STEP)).payload for _ in range(20)]
        assert got == list(range(20))


async def test_restarted_peer_gets_new_messages_only_and_speaks_as_its_new_incarnation(
    cert_dir: Path,
) -> None:
    async with nodes(cert_dir, "a") as (a,):
        old = Node("b", link="tls", cert_dir=cert_dir, close_timeout=2.0)
        await old.start()
        old.add_peer("a", a.address)
        a.add_peer("b", old.address)
        await exchange(a, old, ["first life"])
        address = old.address
        await old.close()
        async with Node("b", link="tls", cert_dir=cert_dir, address=address) as new:
            new.add_peer("a", a.address)
            await exchange(a, new, ["second life"])
            await new.send("a", "hello again")
            msg = await a.receive(STEP)
            assert msg.id == (new.id, new.incarnation, 1)
            assert new.incarnation != old.incarnation


# -- attacks -----------------------------------------------------------------------------------
ATTACKS = {
    "no_client_certificate": lambda d: client_context(d, None),
    "certificate_from_another_ca": lambda d: client_context(
        d, d.parent / "bad" / "foreign" / "a.pem"
    ),
    "expired_certificate": lambda d: client_context(d, d.parent / "bad" / "expired" / "a.pem"),
    "not_yet_valid_certificate": lambda d: client_context(d, d.parent / "bad" / "future" / "a.pem"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
async def test_al3_refuses_bad_client_certificates(
    cert_dir: Path, watch: LogWatch, name: str
) -> None:
    ctx: Callable[[Path], ssl.SSLContext] = ATTACKS[name]
    async with nodes(cert_dir, "a", "c") as (a, c):
        await exchange(a, c, ["before"])
        answer = await attack(c.address[1], ctx(cert_dir), forged("a", "c", "forged"))
        line = await watch.wait_for("refused a TLS connection")
        assert answer == b"", "c must not say hello to a stranger"
        await exchange(a, c, ["after"])
        assert link_of(c).stats()["connections_refused"] == 1, line


def _try_decode(data: bytes) -> object:
    try:
        return decode(data[4:])
    except Exception:
        return None


async def test_al3_valid_certificate_for_b_cannot_speak_as_a(
    cert_dir: Path, watch: LogWatch
) -> None:
    async with nodes(cert_dir, "a", "c") as (a, c):
        await exchange(a, c, ["before"])
        ctx = client_context(cert_dir, cert_dir / "b.pem")
        await attack(c.address[1], ctx, forged("a", "c", "forged"))
        line = await watch.wait_for("hello claims")
        assert "'b'" in line
        assert "'a'" in line
        assert "PRIVATE" not in line
        await exchange(a, c, ["after"])
        stats = link_of(c).stats()
        assert stats["connections_refused"] == 1
        assert stats["received"] == 2


async def test_al3_plaintext_bytes_on_the_tls_port_are_refused(
    cert_dir: Path, watch: LogWatch
) -> None:
    async with nodes(cert_dir, "a", "c") as (a, c):
        await attack(c.address[1], None, b"GET / HTTP/1.0\r\n\r\n" + forged("a", "c", "forged"))
        await watch.wait_for("refused a TLS connection")
        await exchange(a, c, ["after"])


async def test_al3_tls12_client_is_refused(cert_dir: Path, watch: LogWatch) -> None:
    async with nodes(cert_dir, "a", "c") as (a, c):
        ctx = client_context(cert_dir, cert_dir / "a.pem", max_version=ssl.TLSVersion.TLSv1_2)
        await attack(c.address[1], ctx, forged("a", "c", "forged"))
        line = await watch.wait_for("refused a TLS connection")
        assert "VERSION" in line.upper() or "PROTOCOL" in line.upper(), line
        await exchange(a, c, ["after"])


async def test_frame_announcing_2gib_closes_the_connection_without_allocating(
    cert_dir: Path, watch: LogWatch
) -> None:
    async with nodes(cert_dir, "a", "c") as (a, c):
        await exchange(a, c, ["before"])
        ctx = client_context(cert_dir, cert_dir / "b.pem")
        hello = encode_frames([encode_hello("b", 7, "c", 0, 0, 1024)])
        answer = await attack(c.address[1], ctx, hello + (2**31).to_bytes(4, "big") + b"x" * 64)
        assert type(_try_decode(answer)) is Hello
        line = await watch.wait_for("2147483648 bytes")
        assert "limit of 1048576" in line
        assert link_of(c).stats()["bad_frames"] == 1
        await exchange(a, c, ["after"])


async def test_unknown_envelope_after_the_hello_is_a_bad_frame(
    cert_dir: Path, watch: LogWatch
) -> None:
    async with nodes(cert_dir, "a", "c") as (a, c):
        ctx = client_context(cert_dir, cert_dir / "b.pem")
        data = encode_frames([encode_hello("b", 7, "c", 0, 0, 1024), b"\xc1 not msgpack"])
        await attack(c.address[1], ctx, data)
        await watch.wait_for("bad frame", level=logging.DEBUG)
        assert link_of(c).stats()["bad_frames"] == 1
        await exchange(a, c, ["after"])


async def test_listener_over_its_cap_evicts_the_longest_idle_connection(
    cert_dir: Path, watch: LogWatch
) -> None:
    options = {"max_unauthenticated": 2}
    async with nodes(cert_dir, "a", "c", link_options=options) as (a, c):
        port = c.address[1]
        # a third connection, held open as the first two: it is not waited out (its own
        # handshake would only end at handshake_timeout)
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        await watch.wait_for("the longest idle in its TLS handshake", logging.INFO)
        assert await idle[0][0].read() == b"", "the oldest idle connection was closed"
        assert link_of(c).stats()["connections_evicted"] >= 1
        for _, writer in idle:
            writer.close()
        await exchange(a, c, ["after"])


async def test_peer_that_never_says_hello_is_dropped(cert_dir: Path, watch: LogWatch) -> None:
    async with nodes(cert_dir, "a", "c", link_options={"hello_timeout": 0.2}) as (a, c):
        ctx = client_context(cert_dir, cert_dir / "b.pem")
        answer = await attack(c.address[1], ctx, b"")
        assert type(_try_decode(answer)) is Hello
        await watch.wait_for("no hello within 0.2 s")
        await exchange(a, c, ["after"])


async def test_random_bytes_after_the_hello_never_break_the_node(cert_dir: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    async with nodes(cert_dir, "a", "c") as (a, c):
        ctx = client_context(cert_dir, cert_dir / "b.pem")
        hello = encode_frames([encode_hello("b", 7, "c", 0, 0, 1024)])
        for _ in range(25):
            size = rng.choice((1, 3, 4, 5, 17, 200, 5000))
            junk = rng.randbytes(size)
            if rng.random() < 0.5:
                junk = len(junk).to_bytes(4, "big") + junk
            await send_and_close(c.address[1], ctx, hello + junk)
        await exchange(a, c, ["after"])
        stats = link_of(c).stats()
        assert stats["received"] == 1, f"seed {seed}: {stats}"
        assert c.dropped == 0, f"seed {seed}"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(max_size=300), max_size=8),
    st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=20),
)
def test_frames_come_out_whole_however_the_stream_is_cut(
    bodies: list[bytes], cuts: list[int]
) -> None:
    stream = encode_frames(bodies)
    reader = FrameReader(max_frame=1024)
    out: list[bytes] = []
    pos = 0
    i = 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        out.extend(bytes(f) for f in reader.feed(stream[pos : pos + step]))
        pos += step
        i += 1
    assert out == bodies
    assert reader.buffered == 0


def test_frame_reader_refuses_an_oversized_header_before_its_body() -> None:
    reader = FrameReader(max_frame=1024)
    with pytest.raises(FrameTooLarge) as info:
        reader.feed(encode_frames([b"ok"]) + (1025).to_bytes(4, "big"))
    assert (info.value.size, info.value.limit) == (1025, 1024)


# -- connection management ------------------------------------------------------------------------
async def test_the_smaller_id_dials_and_the_larger_waits_one_connection_per_pair(
    cert_dir: Path,
) -> None:
    async with nodes(cert_dir, "a", "b") as (a, b):
        for i in range(300):
            b.send_nowait("a", i)
            a.send_nowait("b", i)
        at_b = [await b.receive(STEP) for _ in range(300)]
        at_a = [await a.receive(STEP) for _ in range(300)]
        assert [m.payload for m in at_b] == [m.payload for m in at_a] == list(range(300))
        await a.flush()
        await b.flush()
        la, lb = link_of(a), link_of(b)
        assert (la.stats()["dials"], lb.stats()["dials"]) == (1, 0)
        assert la.stats()["connections_replaced"] == lb.stats()["connections_replaced"] == 0
        assert la.stats()["retransmitted"] == lb.stats()["retransmitted"] == 0
        connection = lb.connection("a")
        assert connection is not None
        assert connection.dialed_by == "a"


async def test_the_larger_id_dials_after_the_wait_when_the_smaller_does_not(
    cert_dir: Path,
) -> None:
    async with nodes(cert_dir, "a", "b") as (a, b):
        started = asyncio.get_running_loop().time()
        b.send_nowait("a", "only b has something to say")
        message = await a.receive(STEP + DIAL_WAIT)
        waited = asyncio.get_running_loop().time() - started
        assert message.payload == "only b has something to say"
        assert waited >= DIAL_WAIT * 0.9
        la, lb = link_of(a), link_of(b)
        assert (la.stats()["dials"], lb.stats()["dials"]) == (0, 1)


async def test_a_node_counts_as_accepting_for_a_dial_wait_after_a_peer_connected(
    cert_dir: Path,
) -> None:
    """While peers are still connecting to it (one came up less than a dial wait ago) the
    larger id of a pair keeps waiting for the smaller one's dial: when a whole cluster
    connects at once, the awaited dial may not have started yet."""
    async with nodes(cert_dir, "a", "c") as (a, c):
        lc = link_of(c)
        lc._dialer.dial_wait = 0.2
        assert not lc.accepting()
        await exchange(a, c, ["a connects to c"])
        assert lc.connection("a") is not None
        assert lc.accepting()  # a's connection is up, no longer in its handshake
        await asyncio.sleep(0.3)  # time passing, not a wait for an event
        assert not lc.accepting()


async def test_when_the_smaller_id_is_down_the_larger_dials_until_it_is_back(
    cert_dir: Path, watch: LogWatch
) -> None:
    async with nodes(cert_dir, "b") as (b,):
        old_a = Node("a", link="tls", cert_dir=cert_dir, close_timeout=2.0)
        await old_a.start()
        address = old_a.address
        await old_a.close()  # the one that should dial is down
        b.add_peer("a", address)
        b.send_nowait("a", "while a was down")
        await watch.wait_for("b: dial to a failed", logging.DEBUG)  # b waited, then dialed
        lb = link_of(b)
        async with Node("a", link="tls", cert_dir=cert_dir, address=address) as a:
            a.add_peer("b", b.address)
            message = await a.receive(STEP + 2 * DIAL_WAIT)
            assert message.payload == "while a was down"
            await b.flush()
            assert lb.stats()["connections_replaced"] == 0


async def test_simultaneous_dial_ends_with_one_connection_and_every_message_once(
    cert_dir: Path,
) -> None:
    """When both do dial (the larger id's wait ran out as the smaller dialed), the smaller
    id's connection is kept."""
    async with nodes(cert_dir, "a", "b") as (a, b):
        link_of(b)._dialer.dial_wait = 0.0  # the wait is over at once: both dial
        for i in range(300):
            a.send_nowait("b", i)
            b.send_nowait("a", i)
        at_b = [await b.receive(STEP) for _ in range(300)]
        at_a = [await a.receive(STEP) for _ in range(300)]
        assert [m.payload for m in at_b] == list(range(300))
        assert [m.payload for m in at_a] == list(range(300))
        assert len({m.id for m in at_a}) == len({m.id for m in at_b}) == 300
        await a.flush()
        await b.flush()
        la, lb = link_of(a), link_of(b)
        assert la.stats()["dials"] >= 1, "both sides dialed"
        assert lb.stats()["dials"] >= 1, "both sides dialed"
        ca, cb = la.connection("b"), lb.connection("a")
        assert ca is not None
        assert cb is not None
        assert (ca.local, ca.remote) == (cb.remote, cb.local), "both keep the same connection"
        assert ca.dialed_by == cb.dialed_by == "a", "the smaller id's dial is kept"
        assert la.stats()["connected"] == lb.stats()["connected"] == 1
        assert a.stats()["inbox"] == b.stats()["inbox"] == 0


async def test_reset_in_the_middle_of_traffic_loses_and_duplicates_nothing(
    cert_dir: Path,
) -> None:
    total = 3000
    async with nodes(cert_dir, "a", "b") as (a, b):
        la = link_of(a)
        in_flight = 0

        async def produce() -> None:
            for i in range(total):
                await a.send("b", i)

        producer = asyncio.create_task(produce())
        got = []
        for _ in range(total):
            msg = await b.receive(STEP)
            got.append(msg)
            if not in_flight and len(got) >= 1000 and la.unacked("b"):
                in_flight = la.unacked("b")
                assert la.reset("b")
        await producer
        await a.flush()
        assert in_flight > 0, "the reset must hit unacknowledged messages"
        assert [m.payload for m in got] == list(range(total))
        assert len({m.id for m in got}) == total
        stats = la.stats()
        assert stats["connections_reset"] == 1
        assert stats["connections_made"] >= 2
        assert link_of(b).stats()["duplicates"] >= 0
        assert b.stats()["inbox"] == 0


async def test_partition_refuses_the_peer_then_heals_without_loss(cert_dir: Path) -> None:
    async with nodes(cert_dir, "a", "b") as (a, b):
        await exchange(a, b, ["before"])
        loop = asyncio.get_running_loop()
        link_of(a).partition("b", 0.3)
        start = loop.time()
        for i in range(10):
            await a.send("b", i)
        got = [(await b.receive(STEP)).payload for _ in range(10)]
        assert got == list(range(10))
        assert loop.time() - start >= 0.25, "nothing may cross before the partition heals"


async def test_partition_until_heal_holds_messages_until_healed(cert_dir: Path) -> None:
    async with nodes(cert_dir, "a", "b") as (a, b):
        await exchange(a, b, ["before"])
        link_of(b).partition("a")
        link_of(b).partition("a", 0.01)  # a timed partition does not shorten an open-ended one
        for i in range(5):
            await a.send("b", i)
        with pytest.raises(TimeoutError):
            await b.receive(0.2)
        assert link_of(b).connection("a") is None
        link_of(b).heal("a")
        assert [(await b.receive(STEP)).payload for _ in range(5)] == list(range(5))
        changes = link_of(b)._faults.changes
        assert [(c.peer, c.cut) for c in changes] == [("a", True), ("a", False)]
        link_of(b).heal("stranger")  # healing an unknown peer does nothing
        await exchange(a, b, ["after"])


async def test_fault_plan_partition_holds_messages_until_it_ends(cert_dir: Path) -> None:
    plan = FaultPlan(partitions=(Partition("a", "b", one_way=True, start=0.0, end=0.3),))
    epoch = time.time()
    async with nodes(cert_dir, "a", "b", faults=plan, fault_epoch=epoch) as (a, b):
        await a.send("b", "held")
        assert (await b.receive(STEP)).payload == "held"
        # Judged against the plan's end, not the send: starting the nodes may take a while.
        assert time.time() >= epoch + 0.3, "the partition cuts both directions of the TCP link"


async def test_plan_delay_slows_frames_but_keeps_order(cert_dir: Path) -> None:
    loop = asyncio.get_running_loop()
    async with nodes(cert_dir, "a", "b", faults=FaultPlan(delay=FixedDelay(0.05))) as (a, b):
        await exchange(a, b, ["warm-up"])
        start = loop.time()
        await exchange(a, b, [str(i) for i in range(20)])
        assert loop.time() - start >= 0.05
        faults = a.stats()["link"]["faults"]["b"]
        assert faults["delayed"] == faults["sent"] == faults["delivered"] >= 2


# -- an independent client ----------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_openssl_s_client_with_bs_certificate_is_a_peer_of_c(cert_dir: Path) -> None:
    async with nodes(cert_dir, "c") as (c,):
        proc = await asyncio.create_subprocess_exec(
            "openssl",
            "s_client",
            "-connect",
            f"127.0.0.1:{c.address[1]}",
            "-tls1_3",
            "-quiet",
            "-cert",
            str(cert_dir / "b.pem"),
            "-key",
            str(cert_dir / "b.key"),
            "-CAfile",
            str(cert_dir / "ca.pem"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            proc.stdin.write(forged("b", "c", "from openssl"))
            await proc.stdin.drain()
            msg = await c.receive(STEP)
            assert (msg.sender, msg.payload, msg.id.seq) == ("b", "from openssl", 1)
            async with asyncio.timeout(STEP):
                size = int.from_bytes(await proc.stdout.readexactly(4), "big")
                hello = decode(await proc.stdout.readexactly(size))
            assert type(hello) is Hello
            assert (hello.sender, hello.receiver, hello.incarnation) == ("c", "b", c.incarnation)
        finally:
            proc.kill()
            await proc.wait()


class _CountingTransport:
    """A connection's transport that records the size of each write it passes on."""

    def __init__(self, inner: asyncio.Transport, writes: list[int]) -> None:
        self._inner = inner
        self._writes = writes

    def write(self, data: bytes) -> None:
        self._writes.append(len(data))
        self._inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_first_contact_takes_two_writes_a_side_before_the_first_message(
    cert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dialer's last handshake flight leaves with its hello, and the listener's hello
    with its first segment: each side writes twice before the listener's message is out
    (ClientHello, flight + hello; server flight, hello + segment), not three times."""
    from netclock.links.tls.transport import TlsConnection

    writes: dict[str, list[int]] = {"dialed": [], "accepted": []}
    made = TlsConnection.connection_made

    def counting(self: TlsConnection, transport: asyncio.BaseTransport) -> None:
        side = writes["dialed" if self.hs.dialed_to is not None else "accepted"]
        made(self, _CountingTransport(transport, side))  # type: ignore[arg-type]

    monkeypatch.setattr(TlsConnection, "connection_made", counting)
    async with nodes(cert_dir, "a", "c") as (a, c):
        await c.send("a", "from c")  # the larger id waits for a's dial
        await a.send("c", "from a")  # a dials
        got = await a.receive(STEP)
        assert (got.sender, got.payload) == ("c", "from c")
        assert len(writes["accepted"]) == 2, writes
        assert len(writes["dialed"]) in (2, 3), writes  # its segment may be out already
        got = await c.receive(STEP)
        assert (got.sender, got.payload) == ("a", "from a")
