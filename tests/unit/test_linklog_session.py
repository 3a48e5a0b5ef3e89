"""The session's side of the logged perfect link, in memory with injected time: what it
reports for logging, and a durable stream restored after a crash."""

from __future__ import annotations

from netclock.clock import VectorClock
from netclock.links.session import PeerSession
from netclock.wire import envelope as wire


def _decode(datagram: bytes) -> wire.Segment:
    segment = wire.decode(datagram)
    assert isinstance(segment, wire.Segment)
    return segment


def _carry(src: PeerSession, dst: PeerSession, now: float, drop: set[int] | None = None) -> None:
    """Move ``src``'s datagrams to ``dst``, leaving out the messages whose seq is in ``drop``."""
    for datagram in src.datagrams_to_send(now):
        segment = _decode(datagram)
        if drop:
            kept = tuple(m for m in segment.messages if m.seq not in drop)
            segment = segment._replace(messages=kept)
        dst.receive_segment(segment, now)


def _settle(a: PeerSession, b: PeerSession, now: float) -> None:
    for _ in range(30):
        before = (a.stats["segments_sent"], b.stats["segments_sent"])
        _carry(a, b, now)
        _carry(b, a, now)
        if (a.stats["segments_sent"], b.stats["segments_sent"]) == before:
            return


def _send(a: PeerSession, count: int, now: float) -> None:
    for i in range(count):
        a.send(VectorClock({"a": i + 1}), i, now)


def test_the_journal_reports_every_accepted_message_and_the_first_receive_point() -> None:
    a, b = PeerSession("a", 7, "b"), PeerSession("b", 1, "a")
    b.start_journal()
    _send(a, 5, 0.0)
    _carry(a, b, 0.0, drop={2})  # 3, 4, 5 arrive above a gap
    mark, messages = b.take_journal()
    assert mark == (7, 0)
    assert [m.seq for m in messages] == [1, 3, 4, 5]
    assert b.take_journal() == (None, [])
    _carry(b, a, 0.0)
    a.handle_timer(10.0)  # the timeout resends 2
    _carry(a, b, 10.0)
    mark, messages = b.take_journal()
    assert (mark, [m.seq for m in messages]) == (None, [2])  # 3-5 were logged already


def test_a_restored_sender_resends_its_held_messages_with_their_seqs_and_continues() -> None:
    a, b = PeerSession("a", 7, "b"), PeerSession("b", 1, "a")
    _send(a, 6, 0.0)
    _carry(a, b, 0.0, drop={5, 6})
    b.handle_timer(0.01)
    _carry(b, a, 0.01)  # b acked 4
    assert a.acked_point == 4
    assert a.packed(5) == wire.pack_message(5, VectorClock({"a": 5}), 4)
    # a crashed and restarted with only its log: acked point 2 (the acked record of 4 was
    # not written yet), held 3..6
    held = [wire.pack_message(s, VectorClock({"a": s}), s - 1) for s in range(3, 7)]
    again = PeerSession("a", 7, "b")
    again.restore(2, held, [], None, [], 1.0)
    assert again.next_seq == 7
    _settle(again, b, 1.0)
    got = [m.seq for m in b.pop_deliveries(100)]
    assert got == [1, 2, 3, 4, 5, 6][: len(got)]
    assert got[-1] == 6
    assert b.stats["duplicates"] >= 2  # 3 and 4 came again and were acked, not delivered
    assert again.send(VectorClock({"a": 7}), "next", 1.0) == 7


def test_a_restored_receiver_treats_everything_logged_as_a_duplicate() -> None:
    a, b = PeerSession("a", 7, "b"), PeerSession("b", 1, "a")
    b.start_journal()
    _send(a, 4, 0.0)
    _carry(a, b, 0.0, drop={3})
    logged = b.take_journal()[1]
    assert [m.seq for m in logged] == [1, 2, 4]
    # b crashed before acking: its log says point 2 of incarnation 7, 4 held above the gap
    again = PeerSession("b", 1, "a")
    again.restore(0, [], [], (7, 2), [m for m in logged if m.seq > 2], 1.0)
    again.start_journal()
    a.handle_timer(5.0)
    _settle(a, again, 5.0)
    a.handle_timer(10.0)
    _settle(a, again, 10.0)
    assert [m.seq for m in again.pop_deliveries(100)] == [3, 4]  # 1, 2 were delivered before
    assert [m.seq for m in again.take_journal()[1]] == [3]
    assert a.unacked == 0
