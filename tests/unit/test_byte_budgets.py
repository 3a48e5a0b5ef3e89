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
    with pytest.raises(SendBudgetFull) as raised:
        for _ in range(1000):
            a.send(VectorClock({"a": accepted + 1}), payload, 0.0)
            accepted += 1
            a.datagrams_to_send(0.0)  # into the void
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
    assert a.held_bytes == 0 and pool.used == 0
    assert a.writable()


@pytest.mark.parametrize("name", ["send_bytes", "receive_bytes"])
@pytest.mark.parametrize("value", [0, 1000, -5, 2**41])
def test_a_budget_out_of_range_is_one_config_sentence(name: str, value: int) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be a number of bytes between"):
        PeerSession("a", 1, "b", **{name: value})


def test_payload_bytes_counts_contents_however_nested() -> None:
    assert payload_bytes(b"x" * 1000) >= 1000
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
