"""The perfect-link core against input a stranger or a lying member can send, in memory.

Refusals happen before the ack and reach the sender; acks that could release messages the
peer never had change nothing. Time is injected; every datagram is carried by hand.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import ClockScope, VectorClock
from netclock.links.base import InputRefused, Refused
from netclock.links.session import MAX_PENDING_REFUSALS, PeerSession
from netclock.wire import envelope as wire

PROPERTY = settings(max_examples=30, deadline=None, print_blob=True)
GOOD = VectorClock({"a": 1})
STRANGER = VectorClock({"a": 1, "z": 1})


def sessions(fifo: bool = True, **options: Any) -> tuple[PeerSession, PeerSession]:
    """a -> b, b refusing clocks that name anyone but a and b."""
    a = PeerSession("a", 1, "b", fifo=fifo, **options)
    b = PeerSession("b", 2, "a", fifo=fifo, clock_scope=ClockScope({"a", "b"}), **options)
    return a, b


def carry(datagrams: list[bytes], dst: PeerSession, now: float) -> None:
    for datagram in datagrams:
        segment = wire.decode(datagram)
        assert isinstance(segment, wire.Segment)
        dst.receive_segment(segment, now)


def payloads(session: PeerSession) -> list[Any]:
    out: list[Any] = []
    while session.deliverable:
        out.extend(m.payload for m in session.pop_deliveries(1 << 20))
    return out


@PROPERTY
@given(
    st.lists(st.booleans(), min_size=1, max_size=40),
    st.booleans(),
    st.integers(0, 2**32),
)
def test_every_refused_message_reaches_the_sender_once_and_the_rest_is_delivered_in_order(
    bad: list[bool], fifo: bool, seed: int
) -> None:
    """Messages whose clocks break the scope, in any position, over a wire that reorders
    and loses: each is reported at the receiver once, comes back to the sender once with
    its seq and reason, and every other message is delivered exactly once (in order)."""
    rng = random.Random(seed)
    a, b = sessions(fifo=fifo, max_datagram=200)
    for i, is_bad in enumerate(bad):
        a.send(STRANGER if is_bad else GOOD, i, 0.0)
    now = 0.0
    delivered: list[Any] = []
    for _ in range(400):
        now += 0.06
        a.handle_timer(now)
        b.handle_timer(now)
        out = a.datagrams_to_send(now)
        rng.shuffle(out)
        carry([d for d in out if rng.random() > 0.2], b, now)
        delivered += payloads(b)
        carry([d for d in b.datagrams_to_send(now) if rng.random() > 0.2], a, now)
        if not a.unacked:
            break
    assert a.unacked == 0, f"seed {seed}"
    expected = [i for i, is_bad in enumerate(bad) if not is_bad]
    assert (delivered if fifo else sorted(delivered)) == expected
    refused_at_b = [e for e in b.events() if isinstance(e, InputRefused)]
    told = [m for e in a.events() if isinstance(e, Refused) for m in e.messages]
    bad_seqs = [i + 1 for i, is_bad in enumerate(bad) if is_bad]
    assert len(refused_at_b) == len(bad_seqs)
    assert sorted(seq for seq, _, _ in told) == bad_seqs
    assert all(payload == seq - 1 for seq, payload, _ in told)
    assert all("'z', not a member of the cluster" in reason for _, _, reason in told)
    assert (a.stats["refused_by_peer"], b.stats["refused"]) == (len(bad_seqs), len(bad_seqs))


def test_a_refusal_rides_on_every_ack_until_the_senders_base_passes_it() -> None:
    a, b = sessions()
    a.send(STRANGER, "x", 0.0)
    carry(a.datagrams_to_send(0.0), b, 0.0)
    b.handle_timer(1.0)
    (lost,) = b.datagrams_to_send(1.0)  # this ack is lost
    assert wire.decode(lost).ack.refused == ((1, "clock names 'z', not a member of the cluster"),)  # type: ignore[union-attr]
    a.handle_timer(1.0)  # a resends: b acks again, with the refusal again
    carry(a.datagrams_to_send(1.0), b, 1.0)
    acks = b.datagrams_to_send(1.0)
    assert [wire.decode(d).ack.refused for d in acks] == [wire.decode(lost).ack.refused]  # type: ignore[union-attr]
    carry(acks, a, 1.0)
    assert a.unacked == 0
    a.send(GOOD, "y", 1.0)
    carry(a.datagrams_to_send(1.0), b, 1.0)  # base 2: b forgets the refusal
    b.handle_timer(2.0)
    assert [wire.decode(d).ack.refused for d in b.datagrams_to_send(2.0)] == [()]  # type: ignore[union-attr]
    assert payloads(b) == ["y"]


def test_refusals_beyond_what_one_ack_can_carry_wait_outside_the_window() -> None:
    a, b = sessions()
    for i in range(MAX_PENDING_REFUSALS + 10):
        a.send(STRANGER, i, 0.0)
    carry(a.datagrams_to_send(0.0), b, 0.0)
    assert b.stats["refused"] == MAX_PENDING_REFUSALS
    assert b.stats["beyond_window"] == 10
    carry(b.datagrams_to_send(0.0), a, 0.0)
    assert a.stats["refused_by_peer"] == MAX_PENDING_REFUSALS
    for t in range(1, 20):  # resent, refused, reported: nothing is lost silently
        a.handle_timer(t)
        carry(a.datagrams_to_send(t), b, t)
        carry(b.datagrams_to_send(t), a, t)
    assert (a.unacked, a.stats["refused_by_peer"]) == (0, MAX_PENDING_REFUSALS + 10)
