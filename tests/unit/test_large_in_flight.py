"""Nothing acknowledged is dropped, for large messages, at the core (sans-IO, injected time).

A receiver whose ``max_message`` is smaller than the sender's refuses the first piece before
its ack (the sender's session reports it as ``Refused`` with the reason); a receiver met as
a new process after acknowledging some pieces makes :class:`LargeInFlight` hand the
message back as cut (a failure with a reason), while one whose pieces were all still
unacknowledged gets it resent whole.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import VectorClock
from netclock.links.base import InputRefused, Refused
from netclock.links.inflight import LargeInFlight, cut_reason
from netclock.links.segments import Reassembly, send_large
from netclock.links.session import PeerSession
from netclock.wire import envelope as wire

OPTIONS = {"send_window": 64, "receive_capacity": 64, "max_datagram": 1400}


def carry(src: PeerSession, dst: PeerSession, now: float) -> int:
    count = 0
    for datagram in src.datagrams_to_send(now):
        segment = wire.decode(datagram)
        assert isinstance(segment, wire.Segment)
        dst.receive_segment(segment, now)
        count += 1
    return count


def test_a_first_piece_above_the_receivers_max_message_is_refused_before_its_ack() -> None:
    a = PeerSession("a", 1, "b", **OPTIONS)
    b = PeerSession("b", 1, "a", max_large=4000, **OPTIONS)
    joined = Reassembly(4000)
    payload = bytes(range(256)) * 40  # 10,240 bytes: pieces, more than b takes
    outgoing = send_large(a, VectorClock({"a": 1}), payload, 0.0, 1 << 20)
    now = 0.0
    delivered: list[wire.Message] = []
    refused: list[Refused] = []
    for _ in range(50):
        outgoing.feed(a, payload, now)
        carry(a, b, now)
        delivered += joined.take(b.peer_incarnation, b.pop_deliveries(100))
        carry(b, a, now)
        refused += [e for e in a.events() if isinstance(e, Refused)]
        if outgoing.done and not a.unacked:
            break
        now += 0.01
    assert delivered == []
    ((seq, _, reason),) = refused[0].messages
    assert seq == outgoing.first_seq
    assert reason == "a message of 10243 bytes is larger than this node's max_message of 4000 bytes"
    assert b.stats["refused"] == 1
    (event,) = b.events()
    assert isinstance(event, InputRefused)
    assert "larger than this node's max_message" in event.reason
    assert joined.stats["large_delivered"] == 0


def test_a_first_piece_within_the_receivers_max_message_is_joined() -> None:
    a = PeerSession("a", 1, "b", **OPTIONS)
    b = PeerSession("b", 1, "a", max_large=20_000, **OPTIONS)
    joined = Reassembly(20_000)
    payload = b"x" * 10_000
    outgoing = send_large(a, VectorClock({"a": 1}), payload, 0.0, 1 << 20)
    delivered: list[wire.Message] = []
    for step in range(50):
        outgoing.feed(a, payload, step * 0.01)
        carry(a, b, step * 0.01)
        delivered += joined.take(b.peer_incarnation, b.pop_deliveries(100))
        carry(b, a, step * 0.01)
    assert [m.payload for m in delivered] == [payload]
    assert a.events() == []


def test_a_restart_after_the_first_piece_was_acked_cuts_the_message() -> None:
    flight = LargeInFlight()
    flight.started(5, "big")
    assert flight.settle(base=9, restart_base=0) == []  # first pieces acked, no restart
    flight.all_sent(5, 20)
    assert flight.settle(base=12, restart_base=9) == [(5, "big")]
    assert not flight


def test_a_restart_before_any_piece_was_acked_resends_it_whole() -> None:
    flight = LargeInFlight()
    flight.started(5, "big", last_seq=20)
    assert flight.settle(base=5, restart_base=5) == []  # base 5: nothing of it acked yet
    assert len(flight) == 1
    assert flight.settle(base=21, restart_base=5) == []  # the new process acked it all
    assert not flight


def test_a_restart_after_the_whole_message_was_acked_cuts_nothing() -> None:
    flight = LargeInFlight()
    flight.started(5, "big", last_seq=20)
    assert flight.settle(base=21, restart_base=21) == []
    assert not flight


def test_a_refused_or_given_up_message_is_forgotten_with_its_payload() -> None:
    flight = LargeInFlight()
    flight.started(5, "big")
    assert flight.take(5) == (True, "big")
    assert flight.take(5) == (False, None)
    assert flight.settle(base=100, restart_base=50) == []


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(1, 50),
    pieces=st.integers(1, 30),
    restart=st.integers(0, 100),
    base=st.integers(1, 120),
)
def test_cut_exactly_when_the_restart_fell_between_the_first_and_last_pieces_ack(
    first: int, pieces: int, restart: int, base: int
) -> None:
    last = first + pieces
    base = max(base, restart)
    flight = LargeInFlight()
    flight.started(first, "m", last_seq=last)
    cut = flight.settle(base=base, restart_base=restart)
    assert (cut == [(first, "m")]) == (first < restart <= last)
    assert bool(flight) == (not cut and base <= last)


def test_the_cut_reason_names_the_peer_and_what_happened() -> None:
    assert cut_reason("b").startswith("b restarted as a new process while this message was")
