"""The logged perfect link over real UDP on loopback, with restarts on the same data directory.

A crash is simulated in-process: the node's socket, timers and files are dropped as a
dying process drops them (no flush, no last acks); the real kill -9 runs in
tests/system/test_crash_recovery.py.
"""

from __future__ import annotations

import asyncio
import tempfile
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock import Node
from netclock.clock import VectorClock
from netclock.errors import UsageError

pytestmark = pytest.mark.timeout(30)

N = 300


def _crash(node: Node) -> None:
    """Drop ``node`` as kill -9 would: nothing more is sent, written or flushed."""
    link: Any = node.link
    link._closed = True
    link._stop_pump()
    if link._transport is not None:
        link._transport.abort()
    node._state = "closed"
    journal = node._journal
    if journal is not None:  # what was queued but not written dies with the process
        journal.log._queued.clear()
        journal._outs.clear()
        journal.close()
    if node._durable is not None:
        node._durable.close()


async def _take(node: Node, count: int) -> list[Any]:
    return [await node.receive(timeout=10) for _ in range(count)]


@pytest.mark.parametrize("inbox", [1024, 16])
@pytest.mark.parametrize("durability", ["process", "machine"])
async def test_lpl_receiver_restart_consumes_every_message_exactly_once(
    tmp_path: Path, durability: str, inbox: int
) -> None:
    data = tmp_path / "b"
    options: dict[str, Any] = {"data_dir": data, "durability": durability, "inbox_size": inbox}
    async with Node("a") as a:
        b = await Node("b", peers={"a": a.address}, **options).start()
        a.add_peer("b", b.address)
        for i in range(N):
            await a.send("b", i)
        first = await _take(b, 100)  # asking for the 100th consumed the 99 before it
        assert [m.payload for m in first] == list(range(100))
        stream = b.link.incarnation  # type: ignore[attr-defined]
        _crash(b)

        b2 = await Node("b", peers={"a": a.address}, **options).start()
        try:
            assert b2.incarnation > stream
            a.add_peer("b", b2.address)
            rest = await _take(b2, N - 99)
            assert [m.payload for m in rest] == list(range(99, N))  # 99 first: not consumed
            # what b had taken in (its inbox, its session) comes back flagged; the rest is new
            redelivered = [m.redelivered for m in rest]
            assert redelivered == sorted(redelivered, reverse=True)
            assert redelivered[0]
            if inbox == 1024:
                assert all(redelivered)
            assert all(m.incarnation == rest[0].incarnation for m in rest)
            await a.send("b", "new")
            m = await b2.receive(timeout=10)
            assert (m.payload, m.redelivered, m.seq) == ("new", False, N + 1)
            await a.flush()
            assert b2.stats()["inbox"] == 0
        finally:
            await b2.close()


@pytest.mark.parametrize("durability", ["process", "machine"])
async def test_lpl_sender_restart_resends_unacked_messages_with_their_ids(
    tmp_path: Path, durability: str
) -> None:
    data = tmp_path / "a"
    async with Node("b") as b:
        a = await Node("a", peers={"b": b.address}, data_dir=data, durability=durability).start()
        b.add_peer("a", a.address)
        ids = [a.send_nowait("b", i) for i in range(N)]
        got = await _take(b, 50)  # some arrived (and were perhaps acked) before the crash
        _crash(a)  # the rest never left or was never acked

        a2 = await Node("a", peers={"b": b.address}, data_dir=data, durability=durability).start()
        try:
            b.add_peer("a", a2.address)
            got += await _take(b, N - 50)
            assert [m.payload for m in got] == list(range(N))
            assert [m.id for m in got] == ids
            await a2.flush()
            after = await a2.send("b", "after")
            assert after.seq == N + 1  # the stream continues
            assert (await b.receive(timeout=10)).payload == "after"
        finally:
            await a2.close()


async def test_lpl_explicit_consumption_survives_out_of_order_acks(tmp_path: Path) -> None:
    data = tmp_path / "b"
    async with Node("a") as a:
        b = await Node("b", peers={"a": a.address}, data_dir=data, consume="explicit").start()
        a.add_peer("b", b.address)
        for i in range(10):
            await a.send("b", i)
        got = await _take(b, 10)
        await asyncio.wait_for(a.flush(), 5)  # a never sends them again: b2 has them from its log
        for m in got[::2]:  # two consumer tasks would ack like this
            b.ack(m)
        _crash(b)
        b2 = await Node("b", peers={"a": a.address}, data_dir=data, consume="explicit").start()
        try:
            again = await _take(b2, 5)
            assert [m.payload for m in again] == [1, 3, 5, 7, 9]
            assert all(m.redelivered for m in again)
        finally:
            await b2.close()


async def test_a_clean_close_and_restart_redelivers_nothing_consumed(tmp_path: Path) -> None:
    data = tmp_path / "b"
    async with Node("a") as a:
        async with Node("b", peers={"a": a.address}, data_dir=data) as b:
            a.add_peer("b", b.address)
            await a.send("b", "one")
            async for m in b:
                assert m.payload == "one"
                break  # left without asking for more: not consumed
        async with Node("b", peers={"a": a.address}, data_dir=data) as b:
            a.add_peer("b", b.address)
            m = await b.receive(timeout=5)
            assert (m.payload, m.redelivered) == ("one", True)
            await a.send("b", "two")
            m = await b.receive(timeout=5)  # consumes "one"
            assert (m.payload, m.redelivered) == ("two", False)
        async with Node("b", peers={"a": a.address}, data_dir=data) as b:
            m = await b.receive(timeout=5)
            assert (m.payload, m.redelivered) == ("two", True)


async def test_asking_for_more_consumes_what_every_consumer_task_was_handed(
    tmp_path: Path,
) -> None:
    """consume="next" with two consumer tasks: the first to ask again consumes both
    messages handed out (its own and the other task's), and a restart brings back only
    the message handed out after that."""
    data = tmp_path / "b"
    async with Node("a") as a:
        async with Node("b", peers={"a": a.address}, data_dir=data) as b:
            a.add_peer("b", b.address)
            first, second = (asyncio.create_task(b.receive(timeout=10)) for _ in range(2))
            await a.send("b", "one")
            await a.send("b", "two")
            taken = sorted(m.payload for m in await asyncio.gather(first, second))
            assert taken == ["one", "two"]
            third = asyncio.create_task(b.receive(timeout=10))  # consumes "one" and "two"
            await a.send("b", "three")
            assert (await third).payload == "three"
        async with Node("b", peers={"a": a.address}, data_dir=data) as b:
            a.add_peer("b", b.address)
            m = await b.receive(timeout=5)
            assert (m.payload, m.redelivered) == ("three", True)
            with pytest.raises(TimeoutError):
                await b.receive(timeout=0.3)


def test_careless_options_are_one_clear_sentence(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="durability must be"):
        Node("a", data_dir=tmp_path / "a", durability="disk")
    with pytest.raises(UsageError, match="consume must be"):
        Node("a", data_dir=tmp_path / "a", consume="later")
    with pytest.raises(UsageError, match="needs fifo=True"):
        Node("a", data_dir=tmp_path / "a", fifo=False)
    node = Node("a")
    with pytest.raises(UsageError, match="data_dir"):
        node.ack(None)  # type: ignore[arg-type]


async def test_compaction_keeps_the_log_bounded_by_what_is_outstanding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netclock.links import journal

    monkeypatch.setattr(journal, "COMPACT_SLACK", 4096)
    async with Node("a", data_dir=tmp_path / "a") as a:
        b = await Node("b", peers={"a": a.address}, data_dir=tmp_path / "b").start()
        a.add_peer("b", b.address)
        for i in range(3000):
            await a.send("b", i)
            if i % 100 == 99:
                assert [(await b.receive(timeout=10)).payload for _ in range(100)][-1] == i
        await a.flush()
        for node in (a, b):
            stats = node.stats()["journal"]
            assert stats["compactions"] > 0, stats
            assert stats["log_bytes"] < 3 * 4096 + 200 * 60, stats  # not 3,000 records
        _crash(b)
        b2 = await Node("b", peers={"a": a.address}, data_dir=tmp_path / "b").start()
        try:
            a.add_peer("b", b2.address)
            last = await b2.receive(timeout=10)
            assert (last.payload, last.redelivered) == (2999, True)  # handed out, not consumed
            await a.send("b", "more")
            assert (await b2.receive(timeout=10)).seq == 3001
        finally:
            await b2.close()


@pytest.mark.parametrize("damage", ["torn", "bit_flipped"])
def test_a_damaged_last_record_is_dropped_every_complete_one_kept_and_reported(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    from netclock.durable.log import Durability, RecordLog
    from netclock.links.journal import LINK_LOG, LinkJournal

    log = RecordLog.open(tmp_path / LINK_LOG)
    log.append(["stream", 5])
    log.append(["mark", "a", 9, 0])
    log.append(["in", "a", 9, 1, {"a": 1}, "one"])
    log.append(["in", "a", 9, 2, {"a": 2}, "two"])
    log.close()
    path = tmp_path / LINK_LOG
    data = bytearray(path.read_bytes())
    if damage == "torn":
        del data[-3:]  # a machine crash tore the last record
    else:
        data[-2] ^= 0x10  # one bit of the last record's payload flipped on disk
    path.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="netclock.durable.log"):
        journal = LinkJournal.open(tmp_path, 77, Durability.PROCESS)
    try:
        assert journal.stream == 5
        assert [r[5] for r in journal.state.redeliveries()] == ["one"]
        assert journal.state.resume("a") == (9, 1)  # "two" will be resent and delivered
        assert journal.log.damage is not None
        reason = "torn record" if damage == "torn" else "checksum mismatch"
        assert reason in journal.log.damage.reason
        assert any("dropped" in r.getMessage() and reason in r.getMessage() for r in caplog.records)
    finally:
        journal.close()


@pytest.mark.parametrize("content", [b"not a log at all", b"netclog1" + b"\x00\x00\x00\x05junk"])
def test_a_link_log_that_is_not_one_is_one_clear_sentence(tmp_path: Path, content: bytes) -> None:
    from netclock.errors import ConfigError

    data = tmp_path / "b"
    data.mkdir(mode=0o700)
    (data / "link.log").write_bytes(content)
    if content.startswith(b"netclog1"):  # a torn record: dropped, the node starts
        Node("b", data_dir=data)
        return
    with pytest.raises(ConfigError, match=r"move .* aside"):
        Node("b", data_dir=data)


def test_a_record_of_another_shape_is_one_clear_sentence(tmp_path: Path) -> None:
    from netclock.durable.log import RecordLog
    from netclock.errors import ConfigError

    data = tmp_path / "b"
    data.mkdir(mode=0o700)
    log = RecordLog.open(data / "link.log")
    log.append(["stream", 5])
    log.append(["in", "a"])  # a checksummed record this version cannot read
    log.close()
    with pytest.raises(ConfigError, match="malformed link-log record"):
        Node("b", data_dir=data)


async def test_machine_level_a_consumption_is_on_disk_before_anything_leaves_after_it(
    tmp_path: Path,
) -> None:
    from netclock.durable.linklog import CONSUMED, IN, MARK
    from netclock.durable.log import Durability, RecordLog
    from netclock.links.journal import LINK_LOG, LinkJournal

    journal = LinkJournal.open(tmp_path, 7, Durability.MACHINE)
    woken: list[str] = []
    journal.attach(woken.append)
    try:
        for record in ([MARK, "a", 3, 0], *([IN, "a", 3, n, {"a": n}, n] for n in range(1, 201))):
            journal.state.apply(record)
        fsyncs = journal.log.syncs
        for n in range(1, 201):
            journal.consumed("a", 3, n)  # each written before the next message is handed out
        # no datagram to any peer (one it never heard from too) before they are on disk
        assert not journal.ready("a")
        assert not journal.ready("c")
        await journal.durable()
        assert journal.log.synced == journal.log.position
        assert journal.commit is not None
        assert journal.log.syncs - fsyncs <= 2, "one fsync per consumption"
        assert sorted(woken) == ["a", "c"]
        assert journal.ready("a")
        assert journal.ready("c")
    finally:
        await journal.aclose()
    records = RecordLog.open(tmp_path / LINK_LOG).recovered
    consumed = {n for r in records if r[0] == CONSUMED for n in range(r[3], r[-1] + 1)}
    assert consumed == set(range(1, 201))


async def test_broadcasts_never_come_back_as_plain_messages_nor_consume_one(
    tmp_path: Path,
) -> None:
    """A broadcast frame rides the logged link but belongs to the broadcast layer: it is
    consumed when the link hands it over, and consuming the broadcast's delivery (whose
    seq counts broadcasts, not link messages) consumes no point-to-point message."""
    data = tmp_path / "b"
    async with Node("a") as a:
        b = await Node("b", peers={"a": a.address}, data_dir=data).start()
        a.add_peer("b", b.address)
        for i in range(1, 4):
            await a.send("b", f"plain {i}")  # link seqs 1-3
        await a.broadcast("to all")  # link seq 4, broadcast seq 1
        await a.send("b", "plain 5")
        got = [await b.receive(timeout=10) for _ in range(5)]
        assert [m.payload for m in got] == ["plain 1", "plain 2", "plain 3", "to all", "plain 5"]
        await a.flush()
        _crash(b)  # "plain 5" was handed, not consumed
        b2 = await Node("b", peers={"a": a.address}, data_dir=data).start()
        try:
            again = await b2.receive(timeout=10)
            assert (again.payload, again.seq, again.redelivered) == ("plain 5", 5, True)
            assert b2.stats()["inbox"] == 0, "a broadcast frame came back as a message"
        finally:
            await b2.close()


@pytest.mark.parametrize("durability", ["process", "machine"])
async def test_sync_returns_once_everything_logged_is_durable(
    tmp_path: Path, durability: str
) -> None:
    async with Node("a") as a:
        b = Node("b", peers={"a": a.address}, data_dir=tmp_path / "b", durability=durability)
        async with b:
            a.add_peer("b", b.address)
            for i in range(3):
                await a.send("b", i)
            await b.receive(timeout=10)
            await b.receive(timeout=10)  # consumes the first
            await b.sync()
            journal: Any = b._journal
            assert journal.log.queued == 0
            if durability == "machine":
                assert journal.log.synced == journal.log.position
    with pytest.raises(UsageError, match=r"sync\(\) needs a logged perfect link"):
        async with Node("c") as c:
            await c.sync()


@pytest.mark.parametrize("refuse", [False, True], ids=["honest", "one_refused"])
async def test_a_message_refused_before_its_ack_leaves_no_gap_in_the_log(
    tmp_path: Path, refuse: bool
) -> None:
    """A message whose clock b's link refuses has no ``in`` record; the receive point must
    still pass it in the log, so that after a restart b gives back what it had not consumed
    (marked as a redelivery), at once, and takes new messages after it."""
    data = tmp_path / "b"
    async with Node("a") as a:
        b = await Node("b", peers={"a": a.address}, data_dir=data).start()
        a.add_peer("b", b.address)
        await a.send("b", 1)
        if refuse:
            a.link.send("b", VectorClock({"a": 5, "zed": 1}), "stranger")  # type: ignore[attr-defined]
        await a.send("b", 2)
        await a.flush()
        assert [(await b.receive(timeout=5)).payload for _ in range(2)] == [1, 2]
        assert len(a.failures()) == int(refuse)
        await b.close()  # 2 was delivered, not consumed (nothing asked for the next one)
        async with Node("b", peers={"a": a.address}, data_dir=data) as again:
            again_first = await again.receive(timeout=5)
            assert (again_first.payload, again_first.redelivered) == (2, True)
            a.add_peer("b", again.address)
            await a.send("b", 3)
            later = await again.receive(timeout=5)
            assert (later.payload, later.redelivered) == (3, False)


class _Segments:
    """What the journal reads from a session after a segment: the accepted messages."""

    def __init__(self, inc: int) -> None:
        self.inc = inc
        self.messages: list[Any] = []
        self.mark: tuple[int, int] | None = (inc, 0)  # first contact with the incarnation

    def take_journal(self) -> tuple[tuple[int, int] | None, list[Any]]:
        messages, self.messages = self.messages, []
        mark, self.mark = self.mark, None
        return mark, messages

    def take_refusal_mark(self) -> None:
        return None

    def resume_point(self) -> tuple[int, int]:
        return self.inc, 0


@st.composite
def _segments(draw: st.DrawFn) -> list[list[int]]:
    """Distinct seqs 1..9 (some missing) in any order, cut into segments."""
    seqs = draw(st.permutations(range(1, 10)))[: draw(st.integers(1, 9))]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(seqs) - 1)), max_size=3)))
    bounds = [0, *cuts, len(seqs)]
    return [list(seqs[a:b]) for a, b in pairwise(bounds) if a < b]


@settings(max_examples=30, deadline=None)
@given(
    st.one_of(
        st.just([[1, 2, 3, 4]]),  # in order: the fast path
        st.just([[1, 4, 3]]),  # first and last look in order, the middle is above a gap
        st.just([[2, 5, 4], [1]]),  # above a gap, then the gap fills
        _segments(),
    )
)
def test_a_segments_messages_recover_to_what_they_were(segments: list[list[int]]) -> None:
    from netclock.durable.log import Durability
    from netclock.links.journal import LinkJournal
    from netclock.wire.envelope import Message

    with tempfile.TemporaryDirectory() as folder:
        _journal_round_trip(Path(folder), segments, LinkJournal, Durability, Message)


def _journal_round_trip(
    tmp_path: Path, segments: list[list[int]], LinkJournal: Any, Durability: Any, Message: Any
) -> None:
    journal = LinkJournal.open(tmp_path, 7, Durability.PROCESS)
    session = _Segments(9)
    for seqs in segments:
        session.messages = [Message(s, VectorClock({"a": s}), f"m{s}") for s in seqs]
        journal.received("a", session)  # type: ignore[arg-type]
    live = (journal.state.point.get(("a", 9), 0), journal.state.ahead.get(("a", 9)))
    live_back = [(r[3], r[5]) for r in journal.pending_records().redeliveries()]
    journal.close()
    again = LinkJournal.open(tmp_path, 8, Durability.PROCESS)
    try:
        received = sorted({s for seqs in segments for s in seqs})
        point = 0
        while point + 1 in received:
            point += 1
        assert (again.state.point.get(("a", 9), 0), again.state.ahead.get(("a", 9))) == live
        assert live[0] == point
        back = [(r[3], r[5]) for r in again.state.redeliveries()]
        assert back == live_back == [(s, f"m{s}") for s in received if s <= point]
        assert [r[3] for r in again.state.held_back("a")] == [s for s in received if s > point]
    finally:
        again.close()
