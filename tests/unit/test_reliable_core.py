"""Specification of the sans-IO perfect-link core, in memory with injected time.

A :class:`Net` joins two sessions with a seeded wire that loses, duplicates, reorders and
delays datagrams; every failure message names the seed that reproduces it.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import VectorClock
from netclock.errors import ConfigError, UsageError, WindowFull
from netclock.links.base import GaveUp, LinkEvent, PeerReachable, PeerUnreachable
from netclock.links.session import PeerSession
from netclock.wire import envelope as wire

PROPERTY = settings(max_examples=40, deadline=None, print_blob=True)

Delivered = tuple[int, int, Any]
"""(sender incarnation, seq, payload) as the application saw it."""


def pair(**options: Any) -> tuple[PeerSession, PeerSession]:
    """Session a->b (incarnation 1) and b->a (incarnation 1) with the same options."""
    return PeerSession("a", 1, "b", **options), PeerSession("b", 1, "a", **options)


def connect(a: PeerSession, b: PeerSession, now: float) -> None:
    """A connection comes up (TLS): each side writes its hello, then reads the other's."""
    hello_a, hello_b = a.hello(), b.hello()
    a.on_reconnect(hello_b, now)
    b.on_reconnect(hello_a, now)


def clock_of(i: int) -> VectorClock:
    return VectorClock({"a": i})


def decode(datagram: bytes) -> wire.Segment:
    segment = wire.decode(datagram)
    assert isinstance(segment, wire.Segment)
    return segment


def seqs_in(datagrams: list[bytes]) -> list[int]:
    return [m.seq for d in datagrams for m in decode(d).messages]


def move(src: PeerSession, dst: PeerSession, now: float) -> list[bytes]:
    """Carry everything ``src`` wants to send now to ``dst``; return the datagrams."""
    datagrams = src.datagrams_to_send(now)
    for datagram in datagrams:
        dst.receive_segment(decode(datagram), now)
    return datagrams


def settle(a: PeerSession, b: PeerSession, now: float, rounds: int = 20) -> None:
    """Exchange datagrams both ways on a perfect wire until both are quiet."""
    for _ in range(rounds):
        if not (move(a, b, now) or move(b, a, now)):
            return
    raise AssertionError("sessions kept talking on a perfect wire")


def drain(session: PeerSession, limit: int = 1 << 30) -> list[Delivered]:
    out: list[Delivered] = []
    while session.deliverable and limit > len(out):
        batch = session.pop_deliveries(limit - len(out))
        out.extend((session.peer_incarnation, m.seq, m.payload) for m in batch)
    return out


class Net:
    """Two sessions joined by a seeded lossy, duplicating, reordering, delaying wire."""

    def __init__(
        self,
        a: PeerSession,
        b: PeerSession,
        *,
        seed: int,
        loss: float = 0.0,
        duplicate: float = 0.0,
        delay: float = 0.001,
        jitter: float = 0.0,
    ) -> None:
        self.sessions = {a.local_id: a, b.local_id: b}
        self.seed = seed
        self.rng = random.Random(seed)
        self.loss = loss
        self.duplicate = duplicate
        self.delay = delay
        self.jitter = jitter
        self.now = 0.0
        self.auto_pop = True
        self.drop: Callable[[str, bytes], bool] | None = None
        self.sent: dict[str, dict[int, Any]] = {a.local_id: {}, b.local_id: {}}
        self.delivered: dict[str, list[Delivered]] = {a.local_id: [], b.local_id: []}
        self.events: dict[str, list[LinkEvent]] = {a.local_id: [], b.local_id: []}
        self.log: list[tuple[float, str, bytes]] = []
        self.max_buffered = 0
        self._heap: list[tuple[float, int, str, bytes]] = []
        self._counter = 0
        self._to_send: dict[str, list[Any]] = {a.local_id: [], b.local_id: []}

    def other(self, name: str) -> str:
        return next(n for n in self.sessions if n != name)

    def queue(self, name: str, payloads: list[Any]) -> None:
        """Have ``name``'s application send these payloads, as fast as the window allows."""
        self._to_send[name].extend(payloads)
        self.feed()

    def feed(self) -> None:
        for name, pending in self._to_send.items():
            session = self.sessions[name]
            while pending and session.writable():
                payload = pending.pop(0)
                seq = session.send(clock_of(len(self.sent[name]) + 1), payload, self.now)
                self.sent[name][seq] = payload
            self.flush(name)

    def flush(self, name: str) -> None:
        session = self.sessions[name]
        for datagram in session.datagrams_to_send(self.now):
            self._transmit(name, datagram)
        self.events[name].extend(session.events())

    def _transmit(self, src: str, datagram: bytes) -> None:
        self.log.append((self.now, src, datagram))
        if self.drop is not None and self.drop(src, datagram):
            return
        if self.rng.random() < self.loss:
            return
        copies = 2 if self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            self._counter += 1
            arrival = self.now + self.delay + self.rng.random() * self.jitter
            heapq.heappush(self._heap, (arrival, self._counter, self.other(src), datagram))

    def pop_app(self, name: str, limit: int = 1 << 30) -> None:
        self.delivered[name].extend(drain(self.sessions[name], limit))
        self.flush(name)

    def step(self) -> bool:
        """Advance to the next arrival or timer and process it; False when nothing is due."""
        timer_name, timer_at = None, None
        for name, session in self.sessions.items():
            deadline = session.get_timer()
            if deadline is not None and (timer_at is None or deadline < timer_at):
                timer_name, timer_at = name, deadline
        arrival = self._heap[0][0] if self._heap else None
        if timer_at is None and arrival is None:
            return False
        if (
            timer_name is not None
            and timer_at is not None
            and (arrival is None or timer_at <= arrival)
        ):
            self.now = max(self.now, timer_at)
            self.sessions[timer_name].handle_timer(self.now)
            self.flush(timer_name)
        else:
            at, _, dst, datagram = heapq.heappop(self._heap)
            self.now = max(self.now, at)
            session = self.sessions[dst]
            session.receive_segment(decode(datagram), self.now)
            self.max_buffered = max(self.max_buffered, session.buffered)
            if self.auto_pop:
                self.pop_app(dst)
            self.flush(dst)
        self.feed()
        return True

    def run(self, until: Callable[[], bool], max_time: float, max_steps: int = 300_000) -> None:
        for _ in range(max_steps):
            if until() or self.now > max_time or not self.step():
                return
        raise AssertionError(f"no quiescence after {max_steps} steps (seed={self.seed})")

    def advance(self, until: float) -> None:
        """Process arrivals and timers until the clock reaches ``until``."""
        self.run(lambda: self.now >= until, max_time=until)

    def nothing_to_send(self) -> bool:
        """Every payload given to :meth:`queue` went into a session."""
        return not any(self._to_send.values())

    def all_delivered(self) -> bool:
        return all(
            len(self.delivered[self.other(n)]) >= len(self.sent[n]) and not self._to_send[n]
            for n in self.sessions
        )


def check_perfect_link(net: Net, sender: str, *, fifo: bool, context: str) -> None:
    """PL1, PL2, PL3 (and FIFO when asked) for messages from ``sender``."""
    sent = net.sent[sender]
    got = net.delivered[net.other(sender)]
    seqs = [seq for _, seq, _ in got]
    assert len(seqs) == len(set(seqs)), f"PL2 duplicate delivery ({context})"
    for _, seq, payload in got:
        assert sent.get(seq, object()) == payload, f"PL3 message {seq} not sent ({context})"
    missing = sorted(set(sent) - set(seqs))
    assert not missing, f"PL1 messages {missing[:10]} never delivered ({context})"
    if fifo:
        assert seqs == sorted(seqs), f"FIFO order broken ({context})"


# -- the textbook properties under a hostile wire -----------------------------------------------

faults = st.tuples(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.floats(min_value=0.0, max_value=0.35),
    st.floats(min_value=0.0, max_value=0.2),
    st.floats(min_value=0.0, max_value=0.02),
)


def _run_both_ways(seed: int, loss: float, duplicate: float, jitter: float, *, fifo: bool) -> Net:
    a, b = pair(fifo=fifo, send_window=32, receive_capacity=48, max_datagram=600)
    net = Net(a, b, seed=seed, loss=loss, duplicate=duplicate, jitter=jitter)
    net.queue("a", [f"a{i}:" + "x" * (i % 70) for i in range(150)])
    net.queue("b", [f"b{i}:" + "y" * (i % 50) for i in range(120)])
    net.run(net.nothing_to_send, max_time=30.0)
    net.loss = 0.0  # the network stops losing; duplication and reordering go on
    net.run(net.all_delivered, max_time=net.now + 60.0)
    return net


@PROPERTY
@given(faults)
def test_pl1_pl2_pl3_and_fifo_under_seeded_loss_duplication_and_reordering(
    fault: tuple[int, float, float, float],
) -> None:
    seed, loss, duplicate, jitter = fault
    net = _run_both_ways(seed, loss, duplicate, jitter, fifo=True)
    context = f"seed={seed} loss={loss:.2f} dup={duplicate:.2f} jitter={jitter:.3f}"
    check_perfect_link(net, "a", fifo=True, context=context)
    check_perfect_link(net, "b", fifo=True, context=context)
    assert net.max_buffered <= 48, f"receive buffer exceeded capacity ({context})"


@PROPERTY
@given(faults)
def test_without_fifo_each_message_is_delivered_exactly_once(
    fault: tuple[int, float, float, float],
) -> None:
    seed, loss, duplicate, jitter = fault
    net = _run_both_ways(seed, loss, duplicate, jitter, fifo=False)
    context = f"seed={seed} loss={loss:.2f} dup={duplicate:.2f} jitter={jitter:.3f}"
    check_perfect_link(net, "a", fifo=False, context=context)
    check_perfect_link(net, "b", fifo=False, context=context)


def test_pl1_under_heavy_loss_with_a_tiny_window_and_capacity() -> None:
    for seed in range(5):
        a, b = pair(send_window=3, receive_capacity=2, max_datagram=200)
        net = Net(a, b, seed=seed, loss=0.5, duplicate=0.1, jitter=0.01)
        net.queue("a", list(range(60)))
        net.run(net.nothing_to_send, max_time=60.0)
        net.loss = 0.0
        net.run(net.all_delivered, max_time=net.now + 60.0)
        check_perfect_link(net, "a", fifo=True, context=f"seed={seed}")
        assert net.max_buffered <= 2, f"seed={seed}"


def test_without_fifo_a_message_above_a_gap_is_delivered_before_the_gap_fills() -> None:
    a, b = pair(fifo=False, max_datagram=64)
    for i in range(3):
        a.send(clock_of(i + 1), "z" * 70, 0.0)
    datagrams = a.datagrams_to_send(0.0)
    assert seqs_in(datagrams) == [1, 2, 3]
    for datagram in datagrams[1:]:  # seq 1 is lost
        b.receive_segment(decode(datagram), 0.001)
    assert [seq for _, seq, _ in drain(b)] == [2, 3]
    move(b, a, 0.001)
    a.handle_timer(a.get_timer() or 0.0)
    move(a, b, 1.0)
    assert [seq for _, seq, _ in drain(b)] == [1]
    move(a, b, 1.0)
    assert drain(b) == []


def test_fifo_holds_a_message_above_a_gap_until_the_gap_fills() -> None:
    a, b = pair(max_datagram=64)
    for i in range(3):
        a.send(clock_of(i + 1), "z" * 70, 0.0)
    datagrams = a.datagrams_to_send(0.0)
    for datagram in datagrams[1:]:
        b.receive_segment(decode(datagram), 0.001)
    assert drain(b) == []
    assert b.buffered == 2
    b.receive_segment(decode(datagrams[0]), 0.002)
    assert [seq for _, seq, _ in drain(b)] == [1, 2, 3]


def test_delivered_messages_keep_their_clock_and_payload() -> None:
    a, b = pair()
    clock = VectorClock({"a": 3, "c": 9})
    seq = a.send(clock, {"k": [1, b"raw"]}, 0.0)
    move(a, b, 0.0)
    (message,) = b.pop_deliveries(10)
    assert (message.seq, message.clock, message.payload) == (seq, clock, {"k": [1, b"raw"]})
    assert b.stats["delivered"] == 1


# -- sending side: window, encoding errors --------------------------------------------------


def test_send_raises_window_full_when_send_window_messages_are_held() -> None:
    a, b = pair(send_window=4)
    assert [a.send(clock_of(i), i, 0.0) for i in range(1, 5)] == [1, 2, 3, 4]
    assert not a.writable()
    assert a.unacked == 4
    with pytest.raises(WindowFull):
        a.send(clock_of(5), 5, 0.0)
    move(a, b, 0.0)
    assert not a.writable(), "nothing is acknowledged yet"
    b.handle_timer(b.get_timer() or 0.0)
    move(b, a, 0.01)
    assert a.writable()
    assert a.unacked == 0
    assert a.send(clock_of(5), 5, 0.01) == 5


def test_an_unencodable_payload_raises_usage_error_and_holds_nothing() -> None:
    a, _ = pair()
    with pytest.raises(UsageError):
        a.send(clock_of(1), object(), 0.0)
    assert a.unacked == 0
    assert a.send(clock_of(1), "fine", 0.0) == 1


def test_a_payload_too_large_for_any_datagram_raises_usage_error() -> None:
    a, _ = pair()
    with pytest.raises(UsageError):
        a.send(clock_of(1), b"x" * 70_000, 0.0)
    assert a.unacked == 0


@pytest.mark.parametrize(
    "options",
    [
        {"send_window": 0},
        {"receive_capacity": 0},
        {"max_datagram": 10},
        {"max_datagram": 100_000},
        {"ack_delay": -1.0},
        {"unreachable_after": 0.0},
        {"give_up_after": 0.0},
        {"rto_min": 2.0, "rto_max": 1.0},
    ],
)
def test_nonsense_options_raise_config_error(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        PeerSession("a", 1, "b", **options)


# -- flow control ---------------------------------------------------------------------------


def test_sender_never_sends_beyond_the_advertised_window() -> None:
    a, b = pair(receive_capacity=5)
    for i in range(1, 21):
        a.send(clock_of(i), i, 0.0)
    assert seqs_in(move(a, b, 0.0)) == [1, 2, 3, 4, 5]
    b.handle_timer(b.get_timer() or 0.0)
    move(b, a, 0.003)
    assert a.datagrams_to_send(0.003) == [], "window is zero until the application pops"
    assert len(b.pop_deliveries(2)) == 2
    move(b, a, 0.004)  # the window update
    assert seqs_in(move(a, b, 0.004)) == [6, 7]


def test_zero_window_with_a_lost_window_update_recovers_by_persist_probe() -> None:
    a, b = pair(receive_capacity=4)
    for i in range(1, 11):
        a.send(clock_of(i), i, 0.0)
    move(a, b, 0.0)
    b.handle_timer(b.get_timer() or 0.0)
    move(b, a, 0.003)  # ack: cumulative 4, window 0
    assert a.datagrams_to_send(0.003) == []
    assert len(drain(b)) == 4
    update = b.datagrams_to_send(0.01)
    assert len(update) == 1
    update_ack = decode(update[0]).ack
    assert update_ack is not None
    assert update_ack.window == 4
    # ... and the window update is lost. The persist timer sends a probe anyway.
    now = 0.01
    delivered: list[Delivered] = []
    for _ in range(50):
        if len(delivered) == 6:
            break
        deadline = a.get_timer()
        assert deadline is not None, "a zero window must keep a timer armed"
        now = max(now, deadline)
        a.handle_timer(now)
        settle(a, b, now)
        delivered.extend(drain(b))
        settle(a, b, now)
    assert [seq for _, seq, _ in delivered] == [5, 6, 7, 8, 9, 10]
    assert a.stats["probes"] >= 1
    b.handle_timer(now + 0.01)
    settle(a, b, now + 0.01)
    assert a.unacked == 0


def test_receive_capacity_bounds_buffered_messages_and_the_excess_is_resent() -> None:
    a = PeerSession("a", 1, "b", receive_capacity=64)  # assumes the peer takes 64
    b = PeerSession("b", 1, "a", receive_capacity=8)
    for i in range(1, 21):
        a.send(clock_of(i), i, 0.0)
    move(a, b, 0.0)
    assert b.buffered == 8
    assert b.stats["beyond_window"] == 12
    net = Net(a, b, seed=7)
    net.auto_pop = False
    net.now = 0.001
    net.flush("b")
    delivered: list[Delivered] = []
    for _ in range(200):
        net.step()
        assert b.buffered <= 8
        delivered.extend(drain(b, 3))
        net.flush("b")
        if len(delivered) == 20:
            break
    assert [seq for _, seq, _ in delivered] == list(range(1, 21))


def test_popping_reopens_a_closed_window_with_an_immediate_update() -> None:
    a, b = pair(receive_capacity=2)
    a.send(clock_of(1), 1, 0.0)
    a.send(clock_of(2), 2, 0.0)
    move(a, b, 0.0)
    b.handle_timer(0.5)
    (ack,) = b.datagrams_to_send(0.5)
    assert decode(ack).ack._replace(byte_window=-1) == wire.Ack(1, 2, (), 0)
    assert b.datagrams_to_send(0.5) == []
    b.pop_deliveries(1)
    (update,) = b.datagrams_to_send(0.5)
    assert decode(update).ack._replace(byte_window=-1) == wire.Ack(1, 2, (), 1)


# -- acks, batching and retransmission ------------------------------------------------------


def test_batching_puts_many_small_messages_into_one_datagram() -> None:
    a, _ = pair(max_datagram=1400)
    for i in range(1, 51):
        a.send(clock_of(i), f"m{i}", 0.0)
    datagrams = a.datagrams_to_send(0.0)
    assert len(datagrams) == 1
    assert seqs_in(datagrams) == list(range(1, 51))


def test_batches_respect_max_datagram() -> None:
    a, _ = pair(max_datagram=1400)
    payload = b"p" * 64
    for i in range(1, 501):
        a.send(clock_of(i), payload, 0.0)
    datagrams = a.datagrams_to_send(0.0)
    assert all(len(d) <= 1400 for d in datagrams)
    assert len(datagrams) <= 500 * 80 // 1300 + 1
    assert seqs_in(datagrams) == list(range(1, 501))


def test_a_message_larger_than_max_datagram_goes_alone() -> None:
    a, b = pair(max_datagram=200)
    a.send(clock_of(1), "s", 0.0)
    a.send(clock_of(2), "L" * 1000, 0.0)
    a.send(clock_of(3), "s", 0.0)
    datagrams = a.datagrams_to_send(0.0)
    assert [seqs_in([d]) for d in datagrams] == [[1], [2], [3]]
    for datagram in datagrams:
        b.receive_segment(decode(datagram), 0.0)
    assert [m.seq for m in b.pop_deliveries(10)] == [1, 2, 3]


def test_pure_acks_are_not_one_per_data_segment() -> None:
    a, b = pair(max_datagram=200, send_window=64)
    net = Net(a, b, seed=1, delay=0.0005)
    net.queue("a", [b"d" * 64 for _ in range(1000)])
    net.run(net.all_delivered, max_time=30.0)
    check_perfect_link(net, "a", fifo=True, context="seed=1")
    data_segments = a.stats["segments_sent"]
    assert data_segments >= 500
    assert b.stats["pure_acks"] <= data_segments // 2 + 5, (b.stats, a.stats)


def test_acks_ride_on_data_when_there_is_data() -> None:
    a, b = pair()
    a.send(clock_of(1), "ping", 0.0)
    move(a, b, 0.0)
    b.send(VectorClock({"b": 1}), "pong", 0.0005)
    (datagram,) = b.datagrams_to_send(0.0005)
    segment = decode(datagram)
    assert segment.ack._replace(byte_window=-1) == wire.Ack(1, 1, (), 1023)
    assert [m.payload for m in segment.messages] == ["pong"]
    assert b.stats["pure_acks"] == 0


def test_an_ack_waits_at_most_ack_delay_when_nothing_carries_it() -> None:
    a, b = pair(ack_delay=0.002)
    a.send(clock_of(1), 1, 1.0)
    move(a, b, 1.0)
    assert b.datagrams_to_send(1.0) == []
    assert b.get_timer() == pytest.approx(1.002)
    b.handle_timer(1.002)
    (ack,) = b.datagrams_to_send(1.002)
    assert decode(ack).ack._replace(byte_window=-1) == wire.Ack(1, 1, (), 1023)
    assert decode(ack).messages == ()
    assert b.get_timer() is None


def test_two_unacked_data_segments_trigger_an_immediate_ack() -> None:
    a, b = pair(max_datagram=64)
    a.send(clock_of(1), "z" * 70, 0.0)
    a.send(clock_of(2), "z" * 70, 0.0)
    move(a, b, 0.0)
    assert len(b.datagrams_to_send(0.0)) == 1


def test_a_gap_triggers_an_immediate_ack_with_selective_ranges() -> None:
    a, b = pair(max_datagram=64)
    for i in range(1, 4):
        a.send(clock_of(i), "z" * 70, 0.0)
    datagrams = a.datagrams_to_send(0.0)
    b.receive_segment(decode(datagrams[2]), 0.0)
    (ack,) = b.datagrams_to_send(0.0)
    assert decode(ack).ack._replace(byte_window=-1) == wire.Ack(1, 0, ((3, 3),), 1024)


def test_a_retransmission_resends_the_same_bytes() -> None:
    a, _ = pair()
    clock = VectorClock({"a": 1, "b": 4})
    a.send(clock, {"n": 1}, 0.0)
    (first,) = a.datagrams_to_send(0.0)
    deadline = a.get_timer()
    assert deadline == pytest.approx(0.05)
    a.handle_timer(deadline or 0.0)
    (again,) = a.datagrams_to_send(deadline or 0.0)
    packed = wire.pack_message(1, clock, {"n": 1})
    assert packed in first
    assert packed in again
    assert decode(first).messages == decode(again).messages
    assert a.stats["retransmitted"] == 1
    assert a.stats["sent"] == 1


def test_a_timeout_resends_the_lowest_then_the_rest_once_its_ack_shows_them_lost() -> None:
    a, b = pair(max_datagram=64)
    for i in range(1, 6):
        a.send(clock_of(i), "z" * 70, 0.0)
    a.datagrams_to_send(0.0)  # all five are lost
    a.handle_timer(a.get_timer() or 0.0)
    assert seqs_in(move(a, b, 0.05)) == [1]
    b.handle_timer(b.get_timer() or 0.0)
    move(b, a, 0.06)  # cumulative 1: nothing sent before the timeout arrived
    assert seqs_in(move(a, b, 0.06)) == [2, 3, 4, 5]
    assert [seq for _, seq, _ in drain(b)] == [1, 2, 3, 4, 5]


def test_a_spurious_timeout_costs_one_duplicate() -> None:
    a, b = pair()
    for i in range(1, 6):
        a.send(clock_of(i), i, 0.0)
    move(a, b, 0.0)
    b.handle_timer(b.get_timer() or 0.0)
    late_ack = b.datagrams_to_send(0.002)  # the ack is slow ...
    a.handle_timer(a.get_timer() or 0.0)  # ... so the timer fires
    assert seqs_in(a.datagrams_to_send(0.05)) == [1]
    for datagram in late_ack:
        a.receive_segment(decode(datagram), 0.06)
    assert a.unacked == 0
    assert a.datagrams_to_send(0.06) == []
    assert a.stats["retransmitted"] == 1


def test_an_ack_for_messages_that_waited_behind_a_resend_gives_no_rtt_sample() -> None:
    a, b = pair(max_datagram=64)
    for i in range(1, 4):
        a.send(clock_of(i), "z" * 70, 0.0)
    datagrams = a.datagrams_to_send(0.0)  # 1 is lost; 2 and 3 arrive, their acks are lost
    for datagram in datagrams[1:]:
        b.receive_segment(decode(datagram), 0.001)
    b.datagrams_to_send(0.001)
    a.handle_timer(a.get_timer() or 0.0)
    move(a, b, 0.05)
    move(b, a, 0.051)  # cumulative 3, answering the resend of 1
    assert a.unacked == 0
    assert a.rtt.srtt is None, "2 and 3 were sent once, but their ack waited behind 1"


def test_timeouts_back_off_exponentially_up_to_rto_max() -> None:
    a, _ = pair(rto_initial=0.1, rto_max=1.0, unreachable_after=100.0)
    a.send(clock_of(1), 1, 0.0)
    a.datagrams_to_send(0.0)
    times = []
    now = 0.0
    for _ in range(6):
        now = a.get_timer() or 0.0
        times.append(now)
        a.handle_timer(now)
        assert seqs_in(a.datagrams_to_send(now)) == [1]
    gaps = [round(t2 - t1, 6) for t1, t2 in zip([0.0, *times], times, strict=False)]
    assert gaps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_fast_retransmit_after_three_selective_acks_before_any_timeout() -> None:
    a, b = pair(max_datagram=64)
    for i in range(1, 6):
        a.send(clock_of(i), "z" * 70, 0.0)
    datagrams = a.datagrams_to_send(0.0)
    for datagram in datagrams[1:4]:  # seq 1 lost; 2, 3, 4 arrive
        b.receive_segment(decode(datagram), 0.001)
    move(b, a, 0.002)
    resent = a.datagrams_to_send(0.002)
    assert seqs_in(resent) == [1]
    assert a.stats["fast_retransmits"] == 1
    assert a.stats["timeouts"] == 0
    assert a.datagrams_to_send(0.002) == []
    move(b, a, 0.0025)  # another ack with the same sacks: not again within the RTT
    assert a.datagrams_to_send(0.0025) == []


def test_rtt_samples_come_only_from_messages_sent_once() -> None:
    a, b = pair(rto_initial=0.05)
    a.send(clock_of(1), 1, 0.0)
    a.datagrams_to_send(0.0)  # lost
    a.handle_timer(0.05)
    move(a, b, 0.05)
    move(b, a, 0.3)  # a late ack of a retransmitted message: Karn says no sample
    assert a.rtt.srtt is None
    a.send(clock_of(2), 2, 1.0)
    move(a, b, 1.0)
    b.handle_timer(b.get_timer() or 0.0)
    move(b, a, 1.01)
    assert a.rtt.srtt == pytest.approx(0.01)


def test_a_timer_handled_early_does_nothing() -> None:
    a, _ = pair()
    a.send(clock_of(1), 1, 0.0)
    a.datagrams_to_send(0.0)
    deadline = a.get_timer()
    a.handle_timer(0.01)
    assert a.datagrams_to_send(0.01) == []
    assert a.get_timer() == deadline


# -- restarts ---------------------------------------------------------------------------------


def test_sender_restart_keeps_acked_messages_and_delivers_the_new_incarnation() -> None:
    a1, b = pair()
    for i in range(1, 6):
        a1.send(clock_of(i), f"old{i}", 0.0)
    move(a1, b, 0.0)
    b.handle_timer(0.01)
    move(b, a1, 0.01)
    assert a1.unacked == 0
    for i in range(6, 9):
        a1.send(clock_of(i), f"lost{i}", 0.02)
    stale = a1.datagrams_to_send(0.02)  # a1 dies before these arrive
    b.send(VectorClock({"b": 1}), "to-a", 0.02)
    b.datagrams_to_send(0.02)  # lost with a1
    a2 = PeerSession("a", 2, "b")
    a2.send(clock_of(1), "new1", 1.0)
    a2.send(clock_of(2), "new2", 1.0)
    move(a2, b, 1.0)
    for datagram in stale:  # a1's last datagram arrives late: stale incarnation
        b.receive_segment(decode(datagram), 1.001)
    assert b.stats["stale_incarnation"] == 1
    delivered = drain(b)
    assert delivered == [(1, i, f"old{i}") for i in range(1, 6)] + [(2, 1, "new1"), (2, 2, "new2")]
    settle(a2, b, 1.002)
    assert [m.payload for m in a2.pop_deliveries(10)] == ["to-a"], "b resends to the new a"


def test_receiver_restart_loses_nothing_the_old_receiver_did_not_ack() -> None:
    a, b1 = pair(max_datagram=64)
    for i in range(1, 6):
        a.send(clock_of(i), "z" * 70, 0.0)
    settle(a, b1, 0.0)
    b1.handle_timer(0.01)
    settle(a, b1, 0.01)
    assert a.unacked == 0
    for i in range(6, 11):
        a.send(clock_of(i), "z" * 70, 0.02)
    datagrams = a.datagrams_to_send(0.02)
    for datagram in datagrams[:2] + datagrams[3:4]:  # 6, 7 and 9 arrive; 8 and 10 lost
        b1.receive_segment(decode(datagram), 0.021)
    move(b1, a, 0.022)  # ack: cumulative 7, selective (9, 9)
    assert a.unacked == 3
    old = [seq for _, seq, _ in drain(b1)]
    assert old == list(range(1, 8))
    b2 = PeerSession("b", 2, "a", max_datagram=64)  # b1 crashed; 9 was only in its memory
    net = Net(a, b2, seed=3)
    net.now = 0.03
    net.run(lambda: a.unacked == 0, max_time=10.0)
    new = [seq for _, seq, _ in net.delivered["b"]]
    assert new == [8, 9, 10]


def test_a_segment_from_an_older_incarnation_is_dropped_and_counted() -> None:
    old = PeerSession("a", 1, "b")
    new = PeerSession("a", 2, "b")
    b = PeerSession("b", 1, "a")
    new.send(clock_of(1), "new", 0.0)
    move(new, b, 0.0)
    old.send(clock_of(1), "old", 0.0)
    move(old, b, 0.0)
    assert [(i, p) for i, _, p in drain(b)] == [(2, "new")]
    assert b.stats["stale_incarnation"] == 1


# -- unreachable peers and giving up ----------------------------------------------------------


def test_unreachable_after_silence_then_reachable_when_acks_return() -> None:
    a, b = pair(unreachable_after=3.0, rto_max=1.0)
    net = Net(a, b, seed=5)
    net.drop = lambda src, _: src == "a"
    net.queue("a", ["hello"])
    net.run(lambda: bool(net.events["a"]), max_time=10.0)
    assert net.events["a"] == [PeerUnreachable("b")]
    assert net.now == pytest.approx(3.0, abs=0.01)
    start = len(net.log)
    net.run(lambda: False, max_time=net.now + 5.0)
    probes = [t for t, src, _ in net.log[start:] if src == "a"]
    gaps = [t2 - t1 for t1, t2 in itertools.pairwise(probes)]
    assert len(gaps) >= 3
    assert all(g == pytest.approx(1.0, abs=0.01) for g in gaps), gaps
    assert a.unacked == 1, "messages are kept while the peer is unreachable"
    net.drop = None
    net.run(net.all_delivered, max_time=net.now + 5.0)
    net.run(lambda: len(net.events["a"]) == 2, max_time=net.now + 5.0)
    assert net.events["a"] == [PeerUnreachable("b"), PeerReachable("b")]
    check_perfect_link(net, "a", fifo=True, context="seed=5")


def test_give_up_hands_messages_back_and_the_receiver_skips_them() -> None:
    a, b = pair(give_up_after=1.0, max_datagram=64, unreachable_after=10.0)
    for i in range(1, 5):
        a.send(clock_of(i), f"m{i}".ljust(70), 0.0)
    datagrams = a.datagrams_to_send(0.0)
    b.receive_segment(decode(datagrams[0]), 0.001)  # 1 arrives, 2 and 3 are lost,
    b.receive_segment(decode(datagrams[3]), 0.001)  # 4 arrives out of order
    move(b, a, 0.002)  # ack: cumulative 1, selective (4, 4)
    assert [seq for _, seq, _ in drain(b)] == [1]
    now = 0.002
    events: list[LinkEvent] = []
    while not events:  # the network to b is down from now on
        now = a.get_timer() or 0.0
        a.handle_timer(now)
        a.datagrams_to_send(now)
        events = a.events()
    assert now == pytest.approx(1.0, abs=0.002)
    assert events == [GaveUp("b", 1, ((2, "m2".ljust(70)), (3, "m3".ljust(70))))]
    assert a.unacked == 0
    assert a.stats["gave_up"] == 2
    a.send(clock_of(5), "m5", now)
    move(a, b, now)
    assert [(seq, p.strip()) for _, seq, p in drain(b)] == [(4, "m4"), (5, "m5")]
    assert b.stats["skipped"] == 2
    for datagram in datagrams[1:3]:  # the lost ones turn up after all: too late
        b.receive_segment(decode(datagram), now)
    assert drain(b) == []


def test_give_up_of_unsent_messages_is_announced_to_the_receiver() -> None:
    a, b = pair(give_up_after=1.0, receive_capacity=2, unreachable_after=10.0)
    for i in range(1, 6):
        a.send(clock_of(i), i, 0.0)
    move(a, b, 0.0)  # 1, 2 fill the window; b's application is stuck
    b.handle_timer(0.01)
    move(b, a, 0.01)
    now = 0.01
    while a.unacked:
        now = a.get_timer() or 0.0
        a.handle_timer(now)
        move(a, b, now)
    (event,) = a.events()
    assert isinstance(event, GaveUp)
    assert [seq for seq, _ in event.messages] == [3, 4, 5]
    assert [seq for _, seq, _ in drain(b)] == [1, 2]
    a.send(clock_of(6), 6, now)
    settle(a, b, now)
    assert [seq for _, seq, _ in drain(b)] == [6]


def test_a_closed_window_alone_does_not_make_the_peer_unreachable() -> None:
    for retransmit in (True, False):
        a, b = pair(receive_capacity=2, retransmit=retransmit, unreachable_after=3.0)
        net = Net(a, b, seed=11)
        if not retransmit:
            connect(a, b, 0.0)
        net.auto_pop = False  # b's application is busy for a long while
        net.queue("a", list(range(6)))
        net.advance(10.0)
        assert net.events["a"] == [], f"retransmit={retransmit}"
        assert a.unacked == 4, "two were accepted and acknowledged"
        net.auto_pop = True
        net.pop_app("b")
        net.run(net.all_delivered, max_time=20.0)
        check_perfect_link(net, "a", fifo=True, context=f"retransmit={retransmit}")


# -- reliable transports (TLS): no timers, resend on reconnect --------------------------------


def test_without_retransmit_there_is_no_timer_driven_resend() -> None:
    a, b = pair(retransmit=False, unreachable_after=3.0)
    connect(a, b, 0.0)
    a.send(clock_of(1), 1, 0.0)
    assert len(a.datagrams_to_send(0.0)) == 1
    assert a.get_timer() == pytest.approx(3.0)  # only the unreachable check
    a.handle_timer(3.0)
    assert a.datagrams_to_send(3.0) == []
    assert a.events() == [PeerUnreachable("b")]
    assert a.stats["retransmitted"] == 0


def test_on_reconnect_resends_exactly_the_missing_messages() -> None:
    a, b = pair(retransmit=False, max_datagram=64)
    connect(a, b, 0.0)
    for i in range(1, 11):
        a.send(clock_of(i), "z" * 70, 0.0)
    datagrams = a.datagrams_to_send(0.0)
    for datagram in datagrams[:6]:  # the connection breaks after 6 frames
        b.receive_segment(decode(datagram), 0.001)
    b.datagrams_to_send(0.001)  # the ack is lost with the connection
    assert b.resume_point() == (1, 6)
    a.on_reconnect(b.hello(), 0.5)
    assert a.resume_point() == (0, 0)
    assert seqs_in(move(a, b, 0.5)) == [7, 8, 9, 10]
    assert [seq for _, seq, _ in drain(b)] == list(range(1, 11))
    settle(a, b, 0.6)
    assert a.unacked == 0


def test_on_reconnect_for_another_incarnation_resends_everything_unacked() -> None:
    a, _ = pair(retransmit=False)
    for i in range(1, 4):
        a.send(clock_of(i), i, 0.0)
    a.datagrams_to_send(0.0)
    a.on_reconnect(wire.Hello("b", 1, "a", 7, 3, 1024), 0.5)  # it saw another "a"
    assert seqs_in(a.datagrams_to_send(0.5)) == [1, 2, 3]


def test_on_reconnect_carries_a_window_update_so_a_lost_one_cannot_deadlock() -> None:
    a, b = pair(retransmit=False, receive_capacity=2)
    connect(a, b, 0.0)
    for i in range(1, 5):
        a.send(clock_of(i), i, 0.0)
    settle(a, b, 0.0)
    b.handle_timer(0.01)
    settle(a, b, 0.01)  # a knows: window 0
    drain(b)
    b.datagrams_to_send(0.02)  # the window update is lost with the connection
    connect(a, b, 0.5)
    settle(a, b, 0.5)
    assert [seq for _, seq, _ in drain(b)] == [3, 4]


def test_without_retransmit_nothing_is_sent_before_the_peers_hello() -> None:
    """A reliable transport cannot resend what the peer drops: the window is never guessed."""
    a = PeerSession("a", 1, "b", retransmit=False, receive_capacity=1024)
    for i in range(1, 6):
        a.send(clock_of(i), i, 0.0)
    assert a.datagrams_to_send(0.0) == []
    a.on_reconnect(wire.Hello("b", 9, "a", 0, 0, 2), 0.1)  # b accepts 2
    assert seqs_in(a.datagrams_to_send(0.1)) == [1, 2]


@pytest.mark.parametrize("fifo", [True, False])
@pytest.mark.parametrize("slow_app", [False, True])
@pytest.mark.parametrize(("sender", "receiver"), [(1024, 8), (1024, 1), (64, 8), (8, 64)])
def test_al1_without_retransmit_a_smaller_receive_window_loses_nothing(
    sender: int, receiver: int, slow_app: bool, fifo: bool
) -> None:
    """AL1 when the two ends have different capacities: the hello's window keeps the
    sender within what the receiver accepts, so nothing is dropped (TLS would never
    resend it) and the receiver holds at most its capacity."""
    context = f"sender={sender} receiver={receiver} slow_app={slow_app} fifo={fifo}"
    a = PeerSession("a", 1, "b", retransmit=False, fifo=fifo, receive_capacity=sender)
    b = PeerSession("b", 1, "a", retransmit=False, fifo=fifo, receive_capacity=receiver)
    net = Net(a, b, seed=0)  # in order and lossless, as on one TCP connection
    connect(a, b, 0.0)
    net.auto_pop = not slow_app
    net.queue("a", list(range(200)))
    while not net.all_delivered() and net.now < 30.0:
        step_end = net.now + 0.01
        net.advance(step_end)
        net.now = max(net.now, step_end)  # also when nothing was due: a stall ends the loop
        if slow_app:
            net.pop_app("b", 3)  # the application takes 3 messages every 10 ms
    check_perfect_link(net, "a", fifo=fifo, context=context)
    assert b.stats["beyond_window"] == 0, context
    assert net.max_buffered <= receiver, context
    net.run(lambda: a.unacked == 0, max_time=net.now + 1.0)
    assert a.unacked == 0, context


def test_without_retransmit_a_hello_older_than_an_ack_does_not_widen_the_window() -> None:
    """Two connections race: b writes its hello on the new one before it receives
    anything, then acks on the old one that its inbox is full. The hello reaches a last;
    it must not let a send beyond what b accepts."""
    a = PeerSession("a", 1, "b", retransmit=False, receive_capacity=1024)
    b = PeerSession("b", 1, "a", retransmit=False, receive_capacity=4)
    connect(a, b, 0.0)
    stale = b.hello()  # written on the second connection: nothing received, window 4
    for i in range(1, 11):
        a.send(clock_of(i), i, 0.0)
    b.handle_timer(0.0)
    settle(a, b, 0.0)  # on the first connection: 1-4 arrive, b's application is busy
    assert a.unacked == 10 - 4
    assert b.deliverable == 4
    a.on_reconnect(stale, 0.01)  # the second connection wins
    b.on_reconnect(a.hello(), 0.01)
    settle(a, b, 0.01)
    assert b.stats["beyond_window"] == 0
    delivered = drain(b)
    settle(a, b, 0.02)
    delivered += drain(b)
    settle(a, b, 0.03)
    delivered += drain(b)
    assert [seq for _, seq, _ in delivered] == list(range(1, 11))
    assert b.stats["beyond_window"] == 0


@pytest.mark.parametrize("caught_up", [False, True])
def test_without_retransmit_a_full_receiver_opens_its_window_to_a_new_sender_incarnation(
    caught_up: bool,
) -> None:
    """b's capacity is full of messages of a's previous incarnation when a restarts: the
    hello says window 0; a announces its new incarnation, b answers with its window (also
    when its application has caught up in between), and reopens it as it catches up."""
    a1 = PeerSession("a", 1, "b", retransmit=False, receive_capacity=64)
    b = PeerSession("b", 1, "a", retransmit=False, receive_capacity=4)
    connect(a1, b, 0.0)
    for i in range(1, 5):
        a1.send(clock_of(i), i, 0.0)
    settle(a1, b, 0.0)
    assert b.deliverable == 4
    a2 = PeerSession("a", 2, "b", retransmit=False, receive_capacity=64)
    for i in range(1, 7):
        a2.send(clock_of(i), f"new{i}", 0.1)
    connect(a2, b, 0.1)
    delivered: list[Delivered] = drain(b) if caught_up else []
    move(b, a2, 0.1)  # a window update for the old incarnation: a2 ignores it
    assert seqs_in(move(a2, b, 0.1)) == [], "window 0: only the announcement"
    now = 0.1
    while len(delivered) < 10 and now < 1.0:
        now += 0.01
        delivered += drain(b, 2)
        b.handle_timer(now)
        settle(a2, b, now)
    assert [(inc, seq) for inc, seq, _ in delivered] == [(1, i) for i in range(1, 5)] + [
        (2, i) for i in range(1, 7)
    ]
    assert b.stats["beyond_window"] == 0


@PROPERTY
@given(faults)
def test_give_up_under_loss_delivers_each_message_once_or_hands_it_back(
    fault: tuple[int, float, float, float],
) -> None:
    seed, loss, duplicate, jitter = fault
    context = f"seed={seed} loss={loss:.2f} dup={duplicate:.2f} jitter={jitter:.3f}"
    options: dict[str, Any] = {
        "send_window": 16,
        "receive_capacity": 12,
        "max_datagram": 300,
        "give_up_after": 0.15,
        "rto_max": 0.1,
        "unreachable_after": 0.1,
    }
    a, b = pair(**options)
    net = Net(a, b, seed=seed, loss=min(0.7, 2 * loss), duplicate=duplicate, jitter=jitter)
    net.queue("a", [f"a{i}" for i in range(100)])
    net.run(net.nothing_to_send, max_time=30.0)
    net.loss = 0.0
    net.run(lambda: a.unacked == 0, max_time=net.now + 30.0)
    net.run(lambda: False, max_time=net.now + 0.5)
    given_up = [seq for e in net.events["a"] if isinstance(e, GaveUp) for seq, _ in e.messages]
    got = [seq for _, seq, _ in net.delivered["b"]]
    assert len(got) == len(set(got)), f"PL2 ({context})"
    assert got == sorted(got), f"FIFO ({context})"
    assert len(given_up) == len(set(given_up)), f"handed back twice ({context})"
    assert set(got) | set(given_up) == set(net.sent["a"]), f"dropped silently ({context})"


@PROPERTY
@given(faults)
def test_a_receiver_restart_under_loss_loses_nothing(
    fault: tuple[int, float, float, float],
) -> None:
    seed, loss, duplicate, jitter = fault
    context = f"seed={seed} loss={loss:.2f} dup={duplicate:.2f} jitter={jitter:.3f}"
    options: dict[str, Any] = {"send_window": 16, "receive_capacity": 12, "max_datagram": 300}
    a, b1 = pair(**options)
    net = Net(a, b1, seed=seed, loss=loss, duplicate=duplicate, jitter=jitter)
    net.queue("a", [f"a{i}" for i in range(100)])
    crash_at = random.Random(seed).uniform(0.0, 0.05)
    net.advance(crash_at)
    before = net.delivered["b"]
    net.delivered["b"] = []
    net.sessions["b"] = PeerSession("b", 2, "a", **options)
    net.run(net.nothing_to_send, max_time=net.now + 30.0)
    net.loss = 0.0
    net.run(lambda: a.unacked == 0, max_time=net.now + 60.0)
    for part in (before, net.delivered["b"]):
        seqs = [seq for _, seq, _ in part]
        assert seqs == sorted(set(seqs)), f"PL2/FIFO within an incarnation ({context})"
    seen = {seq for _, seq, _ in before} | {seq for _, seq, _ in net.delivered["b"]}
    assert seen == set(net.sent["a"]), f"lost across the restart ({context})"


@PROPERTY
@given(faults)
def test_a_sender_restart_under_loss_delivers_the_acked_and_all_new_messages(
    fault: tuple[int, float, float, float],
) -> None:
    seed, loss, duplicate, jitter = fault
    context = f"seed={seed} loss={loss:.2f} dup={duplicate:.2f} jitter={jitter:.3f}"
    options: dict[str, Any] = {"send_window": 16, "receive_capacity": 12, "max_datagram": 300}
    a1, b = pair(**options)
    net = Net(a1, b, seed=seed, loss=loss, duplicate=duplicate, jitter=jitter)
    net.queue("a", [f"old{i}" for i in range(100)])
    net.queue("b", [f"b{i}" for i in range(50)])
    crash_at = random.Random(seed).uniform(0.0, 0.05)
    net.advance(crash_at)
    acked = b.resume_point()[1]  # b had everything up to here from a1, in order
    a2 = PeerSession("a", 2, "b", **options)
    net.sessions["a"] = a2
    net.sent["a"] = {}
    net._to_send["a"] = []
    net.queue("a", [f"new{i}" for i in range(50)])
    net.run(net.nothing_to_send, max_time=net.now + 30.0)
    net.loss = 0.0
    net.run(lambda: a2.unacked == 0 and b.unacked == 0, max_time=net.now + 60.0)
    got = net.delivered["b"]
    incarnations = [inc for inc, _, _ in got]
    assert incarnations == sorted(incarnations), f"old incarnation first ({context})"
    old = [seq for inc, seq, _ in got if inc == 1]
    new = [seq for inc, seq, _ in got if inc == 2]
    assert old == sorted(set(old)), f"PL2/FIFO of the old incarnation ({context})"
    assert set(range(1, acked + 1)) <= set(old), f"acked messages lost ({context})"
    assert new == list(range(1, 51)), f"new incarnation ({context})"


@PROPERTY
@given(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.sampled_from([1, 4, 12]),
    st.sampled_from([1, 4, 12]),
    st.booleans(),
)
def test_reliable_transport_with_connection_breaks_delivers_everything_once(
    seed: int, capacity_a: int, capacity_b: int, fifo: bool
) -> None:
    """AL1/AL2 across reconnects, also when the two ends have different capacities."""
    context = f"seed={seed} capacities={capacity_a},{capacity_b} fifo={fifo}"
    options: dict[str, Any] = {
        "retransmit": False,
        "fifo": fifo,
        "send_window": 16,
        "max_datagram": 300,
    }
    net = Net(
        PeerSession("a", 1, "b", receive_capacity=capacity_a, **options),
        PeerSession("b", 1, "a", receive_capacity=capacity_b, **options),
        seed=seed,
    )  # in order, lossless while connected
    connect(net.sessions["a"], net.sessions["b"], 0.0)
    net.queue("a", [f"a{i}" for i in range(100)])
    net.queue("b", [f"b{i}" for i in range(100)])
    rng = random.Random(seed)
    for _ in range(5):
        at = net.now + rng.uniform(0.0, 0.01)
        net.advance(at)
        net._heap.clear()  # the connection breaks: everything in flight is gone
        connect(net.sessions["a"], net.sessions["b"], net.now)
        net.flush("a")
        net.flush("b")
    net.run(net.all_delivered, max_time=net.now + 30.0)
    check_perfect_link(net, "a", fifo=fifo, context=context)
    check_perfect_link(net, "b", fifo=fifo, context=context)
    assert net.sessions["a"].stats["retransmitted"] <= 5 * 16 + 100, context
    for name in ("a", "b"):
        assert net.sessions[name].stats["beyond_window"] == 0, f"{name} dropped ({context})"


# -- hostile input ------------------------------------------------------------------------------


def _forged(ack: wire.Ack | None, base: int = 1, incarnation: int = 1) -> wire.Segment:
    return wire.Segment("b", incarnation, "a", base, ack, ())


def test_absurd_acks_are_counted_and_ignored() -> None:
    a, b = pair()
    for i in range(1, 6):
        a.send(clock_of(i), i, 0.0)
    a.send(clock_of(6), 6, 0.0)
    a.datagrams_to_send(0.0)
    bad = [
        wire.Ack(1, 100, (), 10),  # acknowledges messages never sent
        wire.Ack(1, 2, ((4, 9),), 10),  # selective range beyond what was sent
        wire.Ack(1, 2, (), 2**40),  # absurd window
    ]
    for ack in bad:
        a.receive_segment(_forged(ack), 0.01)
    assert a.stats["rejected"] == 3
    a.receive_segment(_forged(wire.Ack(99, 6, (), 10)), 0.01)  # another incarnation of a
    assert a.stats["ignored_acks"] == 1
    assert a.unacked == 6
    net = Net(a, b, seed=0)
    net.now = 0.02
    net.run(lambda: a.unacked == 0, max_time=5.0)
    assert [seq for _, seq, _ in net.delivered["b"]] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("retransmit", [True, False])
def test_an_ack_reaching_the_first_never_sent_seq_is_absurd(retransmit: bool) -> None:
    """PL3 on the ack path: the peer cannot have received what was never sent. An ack
    whose cumulative point (or last selective seq) is the first seq never transmitted is
    refused like any absurd ack; one seq lower is a genuine ack."""
    a, _ = pair(receive_capacity=2, retransmit=retransmit)  # b's window: 2 messages
    if not retransmit:
        a.on_reconnect(wire.Hello("b", 1, "a", 0, 0, 2), 0.0)  # nothing received, window 2
    for i in range(1, 5):
        a.send(clock_of(i), i, 0.0)
    assert seqs_in(a.datagrams_to_send(0.0)) == [1, 2], "3 and 4 wait for the window"
    absurd = [
        wire.Ack(1, 3, (), 2),  # cumulative = first seq never sent
        wire.Ack(1, 0, ((3, 3),), 2),  # selective range ends on it
        wire.Ack(1, 1, ((3, 4),), 2),
    ]
    for ack in absurd:
        a.receive_segment(_forged(ack), 0.01)
    assert a.stats["rejected"] == 3
    assert a.unacked == 4, "nothing freed: no message was acked"
    a.on_reconnect(wire.Hello("b", 1, "a", 1, 3, 2), 0.01)  # a hello claiming the same
    assert a.stats["rejected"] == 4
    assert a.unacked == 4
    a.receive_segment(_forged(wire.Ack(1, 2, (), 2)), 0.02)  # the highest honest ack
    assert a.stats["rejected"] == 4
    assert a.unacked == 2, "1 and 2 freed, 3 and 4 still held"
    assert seqs_in(a.datagrams_to_send(0.02)) == [3, 4]


def test_a_window_probe_moves_the_first_never_sent_seq_by_exactly_one() -> None:
    """Behind a closed window the persist timer probes the first unsent message: then it
    has been sent (an ack of it is genuine) and the next one has not (an ack of that is
    absurd)."""
    a, _ = pair(receive_capacity=2)
    for i in range(1, 5):
        a.send(clock_of(i), i, 0.0)
    assert seqs_in(a.datagrams_to_send(0.0)) == [1, 2]
    a.receive_segment(_forged(wire.Ack(1, 2, (), 0)), 0.01)  # both arrived; window closed
    assert a.unacked == 2
    deadline = a.get_timer()
    assert deadline is not None
    a.handle_timer(deadline)
    assert seqs_in(a.datagrams_to_send(deadline)) == [3], "the probe"
    a.receive_segment(_forged(wire.Ack(1, 4, (), 0)), deadline + 0.01)
    assert a.stats["rejected"] == 1, "4 was never sent"
    a.receive_segment(_forged(wire.Ack(1, 3, (), 0)), deadline + 0.01)
    assert a.stats["rejected"] == 1
    assert a.unacked == 1


def test_an_ack_before_anything_was_sent_is_absurd() -> None:
    a, _ = pair()
    a.send(clock_of(1), 1, 0.0)  # queued, not yet handed to the wire
    a.receive_segment(_forged(wire.Ack(1, 1, (), 8)), 0.0)
    assert a.stats["rejected"] == 1
    assert a.unacked == 1
    assert seqs_in(a.datagrams_to_send(0.0)) == [1]
    a.receive_segment(_forged(wire.Ack(1, 2, (), 8)), 0.01)  # everything sent: 2 is not
    assert a.stats["rejected"] == 2
    assert a.unacked == 1, "never negative"
    a.receive_segment(_forged(wire.Ack(1, 1, (), 8)), 0.01)
    assert a.unacked == 0


def test_segments_for_someone_else_are_rejected_without_delivery() -> None:
    b = PeerSession("b", 1, "a")
    message = wire.Message(1, clock_of(1), "forged")
    b.receive_segment(wire.Segment("mallory", 1, "b", 1, None, (message,)), 0.0)
    b.receive_segment(wire.Segment("a", 1, "carol", 1, None, (message,)), 0.0)
    assert b.stats["rejected"] == 2
    assert b.deliverable == 0
    assert b.datagrams_to_send(0.0) == []


ack_fields = st.tuples(
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=0, max_value=2**64 - 1) | st.integers(min_value=0, max_value=30),
    st.lists(st.integers(min_value=1, max_value=40), max_size=6),
    st.integers(min_value=0, max_value=2**64 - 1) | st.integers(min_value=0, max_value=40),
)


def _ack_from(fields: tuple[int, int, list[int], int]) -> wire.Ack:
    incarnation, cumulative, steps, window = fields
    sacks = []
    point = cumulative
    for i in range(0, len(steps) - 1, 2):
        first = point + 1 + steps[i]
        last = first + steps[i + 1]
        if last > 2**64 - 1:
            break
        sacks.append((first, last))
        point = last
    return wire.Ack(incarnation, cumulative, tuple(sacks), window)


@PROPERTY
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3),
            st.integers(min_value=1, max_value=60),
            st.none() | ack_fields,
            st.lists(st.integers(min_value=1, max_value=60), max_size=8),
        ),
        max_size=25,
    )
)
def test_forged_segments_never_crash_and_keep_the_session_consistent(
    forged: list[tuple[int, int, tuple[int, int, list[int], int] | None, list[int]]],
) -> None:
    a = PeerSession("a", 1, "b", send_window=16, receive_capacity=8)
    for i in range(1, 13):
        a.send(clock_of(i), i, 0.0)
    a.datagrams_to_send(0.0)
    now = 0.0
    for incarnation, base, fields, seqs in forged:
        now += 0.01
        ack = None if fields is None else _ack_from(fields)
        messages = tuple(wire.Message(s, clock_of(s), f"f{s}") for s in seqs)
        segment = wire.Segment("b", incarnation, "a", base, ack, messages)
        a.receive_segment(decode(wire.encode(segment)), now)  # exactly what the wire can carry
        assert a.buffered <= 8
        assert 0 <= a.unacked <= 16
        delivered = drain(a, 5)
        assert len({seq for _, seq, _ in delivered}) == len(delivered)
        deadline = a.get_timer()
        if deadline is not None and deadline <= now:
            a.handle_timer(now)
        for datagram in a.datagrams_to_send(now):
            decode(datagram)
        a.events()
    assert a.writable() or a.unacked == 16
