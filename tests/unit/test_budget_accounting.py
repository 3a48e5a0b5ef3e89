"""Byte budgets at the core: what sessions hold, counted in bytes (links/budget.py).

In memory with injected time: two :class:`PeerSession` joined by a wire the test drives
by hand (datagrams delivered, dropped or forged as each test says).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import VectorClock
from netclock.errors import ConfigError, SendBudgetFull, WindowFull
from netclock.links.budget import MIN_BUDGET, SendPool, message_bytes, payload_bytes
from netclock.links.session import PeerSession
from netclock.wire import envelope as wire

PROPERTY = settings(max_examples=30, deadline=None, print_blob=True)
KIB = 1024


def _pair(**options: Any) -> tuple[PeerSession, PeerSession]:
    a = PeerSession("a", 1, "b", max_datagram=60_000, **options)
    b = PeerSession("b", 1, "a", max_datagram=60_000, **options)
    return a, b


def _carry(src: PeerSession, dst: PeerSession, now: float, *, drop: bool = False) -> int:
    """Move every datagram ``src`` has to send now to ``dst``; returns how many."""
    out = src.datagrams_to_send(now)
    if not drop:
        for datagram in out:
            envelope = wire.decode(datagram)
            assert isinstance(envelope, wire.Segment)
            dst.receive_segment(envelope, now)
    return len(out)


def test_send_bytes_bounds_what_a_dead_peer_holds() -> None:
    a = PeerSession("a", 1, "b", max_datagram=60_000, send_bytes=MIN_BUDGET)
    payload = b"x" * 10_000
    accepted = 0
    while a.writable():
        a.send(VectorClock({"a": accepted + 1}), payload, 0.0)
        accepted += 1
        a.datagrams_to_send(0.0)  # into the void
    with pytest.raises(SendBudgetFull) as raised:
        a.send(VectorClock({"a": accepted + 1}), payload, 0.0)
    assert accepted == 7  # 6 x ~10 kB are below 64 KiB, the 7th crosses it
    assert MIN_BUDGET <= a.held_bytes < MIN_BUDGET + 10_100
    assert not a.writable()
    assert "send_bytes" in str(raised.value)
    assert isinstance(raised.value, WindowFull)  # Node.send waits on it like a full window


def test_an_ack_releases_the_bytes_and_the_sender_may_send_again() -> None:
    a, b = _pair(send_bytes=MIN_BUDGET)
    payload = b"y" * 20_000
    sent = 0
    while a.writable():
        sent += 1
        a.send(VectorClock({"a": sent}), payload, 0.0)
    assert not a.writable()
    _carry(a, b, 0.0)
    assert [m.seq for m in b.pop_deliveries(100)] == list(range(1, sent + 1))
    b.handle_timer(1.0)
    _carry(b, a, 1.0)
    assert a.held_bytes == 0
    assert a.writable()


def test_a_shared_pool_bounds_all_peers_together() -> None:
    pool = SendPool(MIN_BUDGET)
    sessions = [
        PeerSession("a", 1, peer, max_datagram=60_000, send_pool=pool) for peer in "bcdefgh"
    ]
    payload = b"z" * 9_000
    accepted = 0
    for session in sessions:
        while session.writable():
            session.send(VectorClock({"a": accepted + 1}), payload, 0.0)
            accepted += 1
    assert pool.full
    assert MIN_BUDGET <= pool.used < MIN_BUDGET + 9_100
    with pytest.raises(SendBudgetFull, match="send_bytes_total"):
        sessions[-1].send(VectorClock({"a": 99}), payload, 0.0)
    sessions[0].release_pool()  # the peer was removed: its bytes go back to the pool
    assert not pool.full
    assert sessions[1].writable()


def test_a_give_up_releases_the_bytes() -> None:
    pool = SendPool(MIN_BUDGET)
    a = PeerSession("a", 1, "b", max_datagram=60_000, send_pool=pool, give_up_after=1.0)
    while a.writable():
        a.send(VectorClock({"a": a.next_seq}), b"w" * 8_000, 0.0)
        a.datagrams_to_send(0.0)
    a.handle_timer(2.0)
    assert a.held_bytes == 0
    assert pool.used == 0
    assert a.writable()


@pytest.mark.parametrize("name", ["send_bytes", "receive_bytes"])
@pytest.mark.parametrize("value", [0, 1000, -5, 2**41])
def test_a_budget_out_of_range_is_one_config_sentence(name: str, value: int) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be a number of bytes between"):
        PeerSession("a", 1, "b", **{name: value})


def test_payload_bytes_counts_contents_however_nested() -> None:
    assert payload_bytes(b"x" * 1000) == 1000 + 16  # the Node's inbox counts bytes inline so
    assert payload_bytes("é" * 100) >= 100
    assert payload_bytes([b"x" * 500, {"k": b"y" * 500}]) >= 1000
    deep: Any = b"leaf"
    for _ in range(100_000):  # no recursion: a nested payload cannot crash the counter
        deep = [deep]
    assert payload_bytes(deep) >= 100_000
    message = wire.Message(1, VectorClock({"a": 1, "b": 2}), b"q" * 100)
    assert message_bytes(message) > 100


@PROPERTY
@given(sizes=st.lists(st.integers(1, 30_000), min_size=1, max_size=40), acks=st.data())
def test_held_bytes_is_the_sum_of_what_is_held(sizes: list[int], acks: st.DataObject) -> None:
    """Whatever is sent and acknowledged, in any order, the session's count and the pool's
    are the packed bytes of the messages held, and a send is refused only at the budget."""
    pool = SendPool(MIN_BUDGET * 4)
    a, b = _pair(send_bytes=MIN_BUDGET * 2, send_pool=pool)
    now = 0.0
    for size in sizes:
        now += 0.01
        if a.writable():
            a.send(VectorClock({"a": a.next_seq}), b"s" * size, now)
        else:
            assert a.held_bytes >= a.send_bytes or pool.full
        expected = sum(len(a.packed(seq)) for seq in range(a.acked_point + 1, a.next_seq))
        assert a.held_bytes == expected == pool.used
        if acks.draw(st.booleans()):
            _carry(a, b, now, drop=acks.draw(st.booleans()))
            b.pop_deliveries(1000)
            b.handle_timer(now + 0.01)
            _carry(b, a, now + 0.01)
            a.handle_timer(now + 0.01)
    expected = sum(len(a.packed(seq)) for seq in range(a.acked_point + 1, a.next_seq))
    assert a.held_bytes == expected == pool.used


# -- the receive side ------------------------------------------------------------------------------


def _forged_segment(seqs: list[int], size: int, incarnation: int = 1) -> wire.Segment:
    """A segment from a to b holding messages ``seqs`` of ``size`` bytes each (a spoofer's,
    or a peer's that ignores the window)."""
    messages = tuple(wire.Message(seq, VectorClock({"a": seq}), b"f" * size) for seq in seqs)
    return wire.Segment("a", incarnation, "b", 1, None, messages)


def test_a_spoofer_filling_the_gap_buffer_is_dropped_beyond_the_budget() -> None:
    b = PeerSession("b", 1, "a", receive_bytes=MIN_BUDGET)
    for first in range(2, 1000, 4):  # above a gap at 1, never in order
        b.receive_segment(_forged_segment([first, first + 1, first + 2], 10_000), 0.0)
        assert b.buffered_bytes <= MIN_BUDGET
    assert b.stats["beyond_bytes"] > 600
    # The message that fills the gap is still taken: held messages never block it.
    b.receive_segment(_forged_segment([1], 10_000), 0.0)
    assert b.pop_deliveries(100)[0].seq == 1


def test_the_ack_advertises_the_bytes_left_and_the_sender_keeps_within_them() -> None:
    a, b = _pair(receive_bytes=MIN_BUDGET)
    for i in range(1, 41):
        a.send(VectorClock({"a": i}), b"p" * 5_000, 0.0)
    now = 0.0
    for _ in range(20):  # b never reads: a stops at b's byte window, and only probes it
        now += 0.05
        _carry(a, b, now)
        b.handle_timer(now)
        _carry(b, a, now)
        a.handle_timer(now)
    probes = a.stats["probes"] + a.stats["retransmitted"]
    assert 0 < b.stats["beyond_bytes"] <= probes  # a zero window is probed, with backoff
    assert b.buffered_bytes <= MIN_BUDGET + 5_100  # the budget, and one message
    held = b.deliverable
    assert 8 <= held < 40
    delivered = [m.seq for m in b.pop_deliveries(100)]
    for _ in range(40):  # reading again: the rest comes, once, in order
        now += 0.05
        b.handle_timer(now)
        _carry(b, a, now)
        a.handle_timer(now)
        _carry(a, b, now)
        delivered += [m.seq for m in b.pop_deliveries(100)]
    assert delivered == list(range(1, 41))


@PROPERTY
@given(
    sizes=st.lists(st.integers(1, 40_000), min_size=1, max_size=60),
    reads=st.lists(st.integers(0, 5), min_size=1, max_size=60),
    budget=st.sampled_from([MIN_BUDGET, 3 * MIN_BUDGET]),
)
def test_over_a_reliable_transport_the_byte_window_never_drops(
    sizes: list[int], reads: list[int], budget: int
) -> None:
    """Without retransmissions (TLS) a message beyond the receiver's window would be lost:
    the sender keeps within the byte window of the hello and the acks, so none is, and the
    receiver holds at most its budget plus one message."""
    a = PeerSession("a", 1, "b", retransmit=False, max_datagram=60_000, receive_bytes=budget)
    b = PeerSession("b", 1, "a", retransmit=False, max_datagram=60_000, receive_bytes=budget)
    a.on_reconnect(b.hello(), 0.0)
    b.on_reconnect(a.hello(), 0.0)
    delivered: list[int] = []
    now = 0.0
    for i, size in enumerate(sizes):
        now += 0.01
        a.send(VectorClock({"a": i + 1}), [b"v" * size, list(range(size % 50))], now)
        for step in range(4):
            _carry(a, b, now)
            delivered += [m.seq for m in b.pop_deliveries(reads[(i + step) % len(reads)])]
            assert b.buffered_bytes <= budget + 2 * max(sizes) + 1000
            b.handle_timer(now + 0.01)
            _carry(b, a, now + 0.01)
    for _ in range(4 * len(sizes)):
        now += 0.01
        _carry(a, b, now)
        delivered += [m.seq for m in b.pop_deliveries(1000)]
        b.handle_timer(now)
        _carry(b, a, now)
    assert b.stats["beyond_window"] == 0
    assert delivered == list(range(1, len(sizes) + 1))


@PROPERTY
@given(
    payload=st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**64 - 1)
        | st.binary(max_size=50)
        | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_the_sender_counts_a_message_as_the_receiver_will(payload: Any) -> None:
    """The byte window is the receiver's count: the sender's must be the same number."""
    a = PeerSession("a", 1, "b")
    clock = VectorClock({"a": 3, "b": 1})
    a.send(clock, payload, 0.0)
    (datagram,) = a.datagrams_to_send(0.0)
    envelope = wire.decode(datagram)
    assert isinstance(envelope, wire.Segment)
    (message,) = envelope.messages
    assert a._sizes == [message_bytes(message)]
    from netclock.links.budget import packed_message_size

    assert packed_message_size(a.packed(1)) == message_bytes(message)


def test_segments_of_an_unconfirmed_incarnation_are_held_within_the_budget() -> None:
    b = PeerSession("b", 1, "a", receive_bytes=MIN_BUDGET, confirm_incarnations=True)
    for first in range(1, 400, 2):  # a spoofer claiming a new incarnation, never answering
        b.receive_segment(_forged_segment([first, first + 1], 20_000, incarnation=7), 0.0)
        assert b.buffered_bytes <= MIN_BUDGET
    assert b.stats["unconfirmed"] == 200
    assert b.buffered_bytes > MIN_BUDGET // 2  # the newest are kept for a confirmation


def test_after_the_peer_restarts_a_reliable_transport_resends_within_its_byte_window() -> None:
    """Over TLS a restarted receiver gets everything unacknowledged again; the resends keep
    within its byte window too, or the ones dropped would never come back."""
    options: dict[str, Any] = {"retransmit": False, "max_datagram": 60_000}
    a = PeerSession("a", 1, "b", send_bytes=8 * MIN_BUDGET, **options)
    b = PeerSession("b", 1, "a", receive_bytes=4 * MIN_BUDGET, **options)
    a.on_reconnect(b.hello(), 0.0)
    b.on_reconnect(a.hello(), 0.0)
    for i in range(1, 21):
        a.send(VectorClock({"a": i}), b"r" * 20_000, 0.0)
    _carry(a, b, 0.0)  # b takes them in, then dies before acking any
    assert b.deliverable > 3
    fresh = PeerSession("b", 2, "a", receive_bytes=MIN_BUDGET, **options)
    a.on_reconnect(fresh.hello(), 1.0)
    fresh.on_reconnect(a.hello(), 1.0)
    delivered: list[int] = []
    for step in range(60):
        now = 1.0 + step * 0.01
        _carry(a, fresh, now)
        assert fresh.stats["beyond_window"] == 0
        delivered += [m.seq for m in fresh.pop_deliveries(1)]
        fresh.handle_timer(now)
        _carry(fresh, a, now)
    assert delivered == list(range(1, 21))


def test_subclasses_count_as_what_msgpack_makes_of_them() -> None:
    from collections import OrderedDict

    class Text(str):
        pass

    sent = OrderedDict(k=[Text("t" * 500), (b"b" * 500,)])
    assert payload_bytes(sent) == payload_bytes({"k": ["t" * 500, [b"b" * 500]]})
