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


# -- ack and base sanity ---------------------------------------------------------------------
def _forged(to: PeerSession, base: int, ack: wire.Ack | None, messages: list[Any]) -> wire.Segment:
    """A segment to ``to`` as its peer's current incarnation would send it, with chosen
    fields (the sessions' incarnations: a is 1, b is 2)."""
    incarnation = 2 if to.local_id == "a" else 1
    data = wire.encode_segment(
        to.peer_id, incarnation, to.local_id, base, ack, [wire.message_wire(*m) for m in messages]
    )
    segment = wire.decode(data)
    assert isinstance(segment, wire.Segment)
    return segment


def _sending(count: int) -> tuple[PeerSession, PeerSession]:
    """a has sent ``count`` messages that b has not received (all lost); b has spoken once."""
    a, b = sessions()
    b.send(GOOD, "hi", 0.0)
    carry(b.datagrams_to_send(0.0), a, 0.0)
    for i in range(count):
        a.send(GOOD, i, 0.0)
    a.datagrams_to_send(0.0)  # lost
    return a, b


def test_acks_for_messages_never_sent_or_impossible_windows_change_nothing() -> None:
    a, _ = _sending(5)
    for ack in (
        wire.Ack(1, 6, (), 10),  # cumulative past the last message sent
        wire.Ack(1, 2**63, (), 10),
        wire.Ack(1, 0, ((3, 2**40),), 10),  # selective acks beyond it
        wire.Ack(1, 3, (), 2**40),  # an impossible window
    ):
        a.receive_segment(_forged(a, 2, ack, []), 0.1)
    assert a.stats["rejected"] == 4
    assert (a.unacked, a.acked_point) == (5, 0)
    for t in range(1, 30):  # every message is still resent until b has it
        a.handle_timer(t)
        if a.datagrams_to_send(t):
            break
    else:
        raise AssertionError("a forgot its messages")


def test_a_base_far_ahead_or_above_its_own_messages_skips_nothing() -> None:
    a, b = sessions()
    a.send(GOOD, "first", 0.0)
    carry(a.datagrams_to_send(0.0), b, 0.0)
    assert payloads(b) == ["first"]
    b.receive_segment(_forged(b, 2**63, None, []), 0.1)  # [.., base 2**63, nil, []]
    b.receive_segment(_forged(b, 9, None, [(3, GOOD, "old")]), 0.1)
    assert b.stats["rejected"] == 2
    assert b.stats["skipped"] == 0
    for i in range(3):
        a.send(GOOD, i, 1.0)
    carry(a.datagrams_to_send(1.0), b, 1.0)
    assert payloads(b) == [0, 1, 2]


# -- confirmed incarnations ------------------------------------------------------------------
def _confirming() -> tuple[PeerSession, PeerSession]:
    """a -> b over a lossy transport, b confirming a's incarnations; first contact made."""
    a = PeerSession("a", 1, "b", confirm_incarnations=True)
    b = PeerSession("b", 2, "a", confirm_incarnations=True)
    a.send(GOOD, "first", 0.0)
    deliver(a.datagrams_to_send(0.0), b, 0.0)  # held: b challenges a's address
    deliver(b.datagrams_to_send(0.0), a, 0.0)  # a answers
    deliver(a.datagrams_to_send(0.0), b, 0.0)  # confirmed: the held segment is taken in
    assert payloads(b) == ["first"]
    assert b.stats["confirmed"] == 1
    deliver(b.datagrams_to_send(0.0), a, 0.0)  # a asked back with its answer: b confirmed
    assert a.stats["confirmed"] == 1
    return a, b


def deliver(datagrams: list[bytes], dst: PeerSession, now: float) -> None:
    """Carry segments and challenges alike."""
    for datagram in datagrams:
        envelope = wire.decode(datagram)
        if isinstance(envelope, wire.Challenge):
            dst.receive_challenge(envelope, now)
        else:
            assert isinstance(envelope, wire.Segment)
            dst.receive_segment(envelope, now)


def test_a_forged_new_incarnation_is_challenged_and_the_real_answer_keeps_the_old() -> None:
    a, b = _confirming()
    forged = wire.decode(wire.encode_segment("a", 2**64 - 1, "b", 1, None, []))
    assert isinstance(forged, wire.Segment)
    for _ in range(10):
        b.receive_segment(forged, 0.01)
    out = b.datagrams_to_send(0.01)
    challenges = [d for d in out if isinstance(wire.decode(d), wire.Challenge)]
    assert len(challenges) == 1, "one challenge per RTO, however many claims"
    deliver(out, a, 0.01)
    deliver(a.datagrams_to_send(0.01), b, 0.01)  # the real a: still incarnation 1
    assert b.resume_point() == (1, 1)
    a.send(GOOD, "second", 0.02)
    deliver(a.datagrams_to_send(0.02), b, 0.02)
    assert payloads(b) == ["second"]
    assert (b.stats["unconfirmed"], b.stats["confirmed"]) == (11, 1)


def test_an_answer_to_a_nonce_never_asked_is_rejected() -> None:
    _, b = _confirming()
    b.receive_challenge(wire.Challenge("a", 9, "b", 12345, True), 0.1)
    assert b.stats["rejected"] == 1
    assert b.resume_point() == (1, 1)


def test_segments_that_arrive_before_the_confirmation_are_taken_in_without_a_resend() -> None:
    a = PeerSession("a", 1, "b", confirm_incarnations=True, max_datagram=100)
    b = PeerSession("b", 2, "a", confirm_incarnations=True)
    for i in range(30):
        a.send(GOOD, i, 0.0)
    first = a.datagrams_to_send(0.0)
    assert len(first) > 3
    deliver(first, b, 0.0)  # all held, one challenge
    deliver(b.datagrams_to_send(0.0), a, 0.0)
    deliver(a.datagrams_to_send(0.0), b, 0.0)  # the answer: every held segment taken in
    assert payloads(b) == list(range(30))
    assert (a.stats["retransmitted"], b.stats["challenges_sent"]) == (0, 1)


def test_the_challenged_side_asks_back_so_an_ack_sent_as_the_peer_closes_is_believed() -> None:
    a = PeerSession("a", 1, "b", confirm_incarnations=True)
    b = PeerSession("b", 2, "a", confirm_incarnations=True)
    a.send(GOOD, "only", 0.0)
    deliver(a.datagrams_to_send(0.0), b, 0.0)  # held: b challenges a
    deliver(b.datagrams_to_send(0.0), a, 0.0)  # a answers and asks b back at once
    deliver(a.datagrams_to_send(0.0), b, 0.0)  # b confirms a, answers a's question
    assert payloads(b) == ["only"]
    b.handle_timer(1.0)  # b's delayed ack; after it b sends nothing more (it closes)
    deliver(b.datagrams_to_send(1.0), a, 1.0)
    assert a.unacked == 0
    assert a.stats["confirmed"] == 1


def test_a_lost_challenge_is_asked_again_after_the_estimated_rto_not_the_backed_off_one() -> None:
    """First contact under loss: b's data to a goes unacknowledged while a holds it
    unconfirmed, so b's timer backs off; that is no loss of b's challenge, which is asked
    again after about one estimated RTO (the demo `lossy` over reliable waited seconds)."""
    a = PeerSession("a", 1, "b", confirm_incarnations=True)
    b = PeerSession("b", 2, "a", confirm_incarnations=True)
    b.send(VectorClock({"b": 1}), "from b", 0.0)
    b.datagrams_to_send(0.0)  # held by a: no ack comes back
    now = 0.0
    while b.rtt.rto < 0.8:
        now += 0.01
        b.handle_timer(now)
        b.datagrams_to_send(now)
    a.send(GOOD, "from a", now)
    deliver(a.datagrams_to_send(now), b, now)  # held: b challenges a
    lost = [d for d in b.datagrams_to_send(now) if isinstance(wire.decode(d), wire.Challenge)]
    assert len(lost) == 1
    later = now + 0.1
    b.handle_timer(later)
    again = [d for d in b.datagrams_to_send(later) if isinstance(wire.decode(d), wire.Challenge)]
    assert len(again) == 1, f"no challenge {later - now:.2f} s later (rto {b.rtt.rto:.2f} s)"
    deliver(again, a, later)
    deliver(a.datagrams_to_send(later), b, later)
    assert payloads(b) == ["from a"]
