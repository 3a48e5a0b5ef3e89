"""Large messages at the core: pieces out of one session, one message out of the other.

In memory with injected time: two :class:`PeerSession` joined by a wire that drops the
datagrams a loss schedule names; the sender feeds pieces with :func:`send_large` /
:meth:`Outgoing.feed`, the receiver joins them with :class:`Reassembly`.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import VectorClock
from netclock.errors import ConfigError, MessageTooLarge, WireError
from netclock.links.segments import (
    CONTINUATION,
    IN_FLIGHT_BYTES,
    Outgoing,
    Reassembly,
    check_max_message,
    piece_budget,
    send_large,
)
from netclock.links.session import PeerSession
from netclock.wire import envelope as wire

PROPERTY = settings(max_examples=25, deadline=None, print_blob=True)
MAX = 1 << 20


FATES = ("deliver", "lose", "duplicate", "late")
"""What the wire does to one datagram: ``late`` holds it until after the next one (reordering)."""


class Wire:
    """Sender a, receiver b; ``fates`` says, datagram by datagram, what happens to each of
    the first ones (a fair-loss wire: after the schedule, everything arrives once)."""

    def __init__(
        self, fates: list[str], *, window: int = 8, max_datagram: int = 1400, largest: int = MAX
    ) -> None:
        options: dict[str, Any] = {
            "send_window": window,
            "receive_capacity": window,
            "max_datagram": max_datagram,
            "rto_min": 0.01,
        }
        self.a = PeerSession("a", 1, "b", **options)
        self.b = PeerSession("b", 1, "a", **options)
        self.fates = fates
        self.late: list[tuple[PeerSession, wire.Segment]] = []
        self.sent = 0
        self.now = 0.0
        self.pending: list[Any] = []
        self.outgoing: Outgoing | None = None
        self.ids: list[int] = []
        self.largest = largest
        self.reassembly = Reassembly(largest)
        self.delivered: list[wire.Message] = []
        self.most_unacked = 0
        self.most_buffered = 0
        self.most_partial = 0

    def _fate(self) -> str:
        self.sent += 1
        return self.fates[self.sent - 1] if self.sent <= len(self.fates) else "deliver"

    def _feed(self) -> None:
        a = self.a
        while True:
            if self.outgoing is not None:
                self.outgoing.feed(a, None, self.now)
                if not self.outgoing.done:
                    return
                self.outgoing = None
            if not self.pending or not a.writable():
                return
            payload = self.pending.pop(0)
            clock = VectorClock({"a": len(self.ids) + 1})
            try:
                self.ids.append(a.send(clock, payload, self.now))
            except MessageTooLarge:
                self.outgoing = send_large(a, clock, payload, self.now, self.largest)
                self.ids.append(self.outgoing.first_seq)

    def _carry(self, src: PeerSession, dst: PeerSession) -> None:
        for datagram in src.datagrams_to_send(self.now):
            fate = self._fate()
            if fate == "lose":
                continue
            segment = wire.decode(datagram)
            assert isinstance(segment, wire.Segment)
            if fate == "late":
                self.late.append((dst, segment))
                continue
            for _ in range(2 if fate == "duplicate" else 1):
                dst.receive_segment(segment, self.now)
            for held, late in self.late:
                held.receive_segment(late, self.now)
            self.late.clear()

    def run(self, payloads: list[Any], max_steps: int = 5_000) -> list[wire.Message]:
        self.pending = list(payloads)
        for _ in range(max_steps):
            self._feed()
            self.most_unacked = max(self.most_unacked, self.a.unacked)
            self._carry(self.a, self.b)
            self.most_buffered = max(self.most_buffered, self.b.buffered)
            while self.b.deliverable:
                batch = self.b.pop_deliveries(4)
                self.delivered += self.reassembly.take(self.b.peer_incarnation, batch)
                self.most_partial = max(self.most_partial, self.reassembly.partial)
            self._carry(self.b, self.a)
            if len(self.delivered) == len(payloads) and not self.a.unacked:
                return self.delivered
            timers = [t for t in (self.a.get_timer(), self.b.get_timer()) if t is not None]
            self.now = max(self.now + 0.001, min(timers, default=self.now + 0.001))
            self.a.handle_timer(self.now)
            self.b.handle_timer(self.now)
        raise AssertionError(f"not all delivered after {max_steps} steps")


ONE_DATAGRAM = PeerSession("a", 1, "b").max_message
"""Above this a message travels in pieces."""
sizes = st.lists(
    st.one_of(st.integers(0, 3000), st.integers(ONE_DATAGRAM - 100, 3 * ONE_DATAGRAM)),
    min_size=1,
    max_size=5,
)


@PROPERTY
@given(sizes=sizes, fates=st.lists(st.sampled_from(FATES), max_size=300))
def test_every_message_arrives_once_whole_and_in_order_under_loss_duplication_reordering(
    sizes: list[int], fates: list[str]
) -> None:
    payloads = [os.urandom(n) for n in sizes]
    net = Wire(fates)
    delivered = net.run(payloads)
    assert [m.payload for m in delivered] == payloads
    assert [m.seq for m in delivered] == net.ids
    assert [m.clock for m in delivered] == [VectorClock({"a": i + 1}) for i in range(len(sizes))]


@PROPERTY
@given(size=st.integers(ONE_DATAGRAM + 1, 300_000), window=st.integers(1, 16))
def test_pieces_in_flight_and_held_stay_within_the_windows(size: int, window: int) -> None:
    net = Wire(["deliver", "deliver", "lose"] * 100, window=window)
    net.run([os.urandom(size)])
    assert net.most_unacked <= window
    assert net.most_buffered <= window
    assert net.most_partial <= size


def test_one_message_is_one_delivery_with_the_first_pieces_seq_and_clock() -> None:
    net = Wire([])
    payload = {"data": os.urandom(100_000), "n": [1, 2, 3]}
    delivered = net.run(["small", payload, "after"])
    assert [m.payload for m in delivered] == ["small", payload, "after"]
    assert [m.seq for m in delivered] == [1, 2, net.ids[2]]
    assert net.ids[2] > 3  # the large message took several sequence numbers
    assert delivered[1].clock == VectorClock({"a": 2})
    assert net.reassembly.stats["large_delivered"] == 1


def test_a_payload_above_max_message_is_refused_naming_the_limit() -> None:
    session = PeerSession("a", 1, "b")
    with pytest.raises(MessageTooLarge, match=f"max_message of {MAX} bytes") as caught:
        send_large(session, VectorClock({"a": 1}), b"x" * MAX, 0.0, MAX)
    assert caught.value.limit == MAX
    assert session.unacked == 0


def test_pieces_need_a_fifo_session() -> None:
    session = PeerSession("a", 1, "b", fifo=False)
    with pytest.raises(MessageTooLarge, match="fifo=True"):
        send_large(session, VectorClock({"a": 1}), b"x" * 100_000, 0.0, MAX)


@pytest.mark.parametrize("value", [0, 1023, 2**31 + 1, 1.5, "16MiB"])
def test_a_nonsense_max_message_is_one_config_error(value: Any) -> None:
    with pytest.raises(ConfigError, match="max_message must be a number of bytes"):
        check_max_message(value)


def piece(seq: int, remaining: int, chunk: bytes, first: bool) -> wire.Message:
    clock = VectorClock({"a": seq}) if first else VectorClock()
    return wire.Message(seq, clock, wire.Fragment(remaining, chunk))


def test_a_continuation_without_its_start_is_counted_and_dropped() -> None:
    joined = Reassembly(MAX)
    assert joined.take(1, [piece(5, 0, b"\x01", first=False)]) == []
    assert joined.stats["pieces_dropped"] == 1


def test_a_whole_message_between_pieces_drops_the_open_one_and_is_delivered() -> None:
    joined = Reassembly(MAX)
    whole = wire.Message(3, VectorClock({"a": 3}), "hi")
    out = joined.take(1, [piece(1, 5, b"\xc4\x05", first=True), whole])
    assert out == [whole]
    assert joined.stats["large_dropped"] == 1
    assert joined.partial == 0


def test_a_declared_size_above_the_limit_is_dropped_before_anything_is_held() -> None:
    joined = Reassembly(1024)
    assert joined.take(1, [piece(1, 10_000, b"\xc5", first=True)]) == []
    assert joined.partial == 0
    assert joined.stats["pieces_dropped"] == 1


def test_pieces_that_are_not_one_msgpack_value_are_dropped() -> None:
    joined = Reassembly(MAX)
    out = joined.take(1, [piece(1, 1, b"\xc1", first=True), piece(2, 0, b"\xc1", first=False)])
    assert out == []
    assert joined.stats["large_dropped"] == 1


def test_a_peer_restart_drops_the_half_joined_message() -> None:
    joined = Reassembly(MAX)
    joined.take(1, [piece(1, 1, b"\xc4", first=True)])
    assert joined.take(2, [piece(1, 0, b"\x00", first=False)]) == []
    assert joined.stats["large_dropped"] == 1


def test_a_lying_remaining_count_is_dropped() -> None:
    joined = Reassembly(MAX)
    out = joined.take(1, [piece(1, 3, b"\xc4\x03", first=True), piece(2, 0, b"\x01", first=False)])
    assert out == []
    assert joined.stats["pieces_dropped"] == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 100), st.binary(min_size=1, max_size=8), st.booleans()),
        max_size=12,
    )
)
def test_garbage_pieces_never_raise_and_never_hold_more_than_the_limit(
    items: list[tuple[int, bytes, bool]],
) -> None:
    joined = Reassembly(64)
    batch = [piece(i + 1, r, c, f) for i, (r, c, f) in enumerate(items)]
    joined.take(1, batch)
    assert joined.partial <= 64


def test_a_fragment_survives_the_wire_and_garbage_fragments_are_wire_errors() -> None:
    packed = wire.pack_fragment(7, VectorClock({"a": 1}), b"abc", 9)
    head = wire.segment_prefix("a", 1, "b")
    segment = wire.decode(wire.encode_segment_prefixed(head, 1, b"\xc0", [packed]))
    assert isinstance(segment, wire.Segment)
    assert segment.messages == (wire.Message(7, VectorClock({"a": 1}), wire.Fragment(9, b"abc")),)
    assert wire.decode(wire.encode(segment)) == segment
    for bad in ([7, {}, "abc", 9], [7, {}, b"", 0], [7, {}, b"a", -1]):
        raw = wire._pack_flat(bad)
        with pytest.raises(WireError):
            wire.decode(wire.encode_segment_prefixed(head, 1, b"\xc0", [raw]))


def test_a_give_up_reports_later_pieces_as_continuations() -> None:
    session = PeerSession("a", 1, "b", give_up_after=1.0, max_datagram=1400)
    outgoing = send_large(session, VectorClock({"a": 1}), b"x" * 5000, 0.0, MAX)
    assert outgoing.done
    session.handle_timer(2.0)
    (event,) = session.events()
    payloads = [p for _, p in event.messages]  # type: ignore[attr-defined]
    assert payloads[0] == b"x" * 5000
    assert set(payloads[1:]) == {CONTINUATION}


def test_a_large_message_keeps_at_most_in_flight_bytes_of_pieces_unacknowledged() -> None:
    net = Wire([], window=4096, max_datagram=16_384, largest=8 * IN_FLIGHT_BYTES)
    net.run([os.urandom(6 * IN_FLIGHT_BYTES)])
    _, piece = piece_budget(net.a, VectorClock({"a": 1}), 16_384)
    assert net.most_unacked * piece <= IN_FLIGHT_BYTES
    assert net.most_unacked >= IN_FLIGHT_BYTES // piece - 1  # and the bound is what limits it


def test_a_piece_cut_as_a_view_is_packed_byte_for_byte_as_the_copied_piece() -> None:
    """Pieces are memoryviews of the message (no copy per piece); on the wire each is the
    same msgpack bin its copy would be, so the receiver sees no difference."""
    data = os.urandom(70_000)
    clock = VectorClock({"a": 3})
    view = memoryview(data)
    for start, end in ((0, 65_000), (65_000, 70_000)):
        assert wire.pack_fragment(7, clock, view[start:end], 70_000 - end) == wire.pack_fragment(
            7, clock, data[start:end], 70_000 - end
        )
