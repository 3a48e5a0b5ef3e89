"""The shared pump's one translation from session events to the events a link's owner sees."""

from __future__ import annotations

from netclock.links.base import PeerReachable, PeerUnreachable, SendFailed
from netclock.links.pump import link_event
from netclock.links.session import GaveUp, Reachable, Unreachable


def test_unreachable_and_reachable_keep_the_peer() -> None:
    assert link_event(Unreachable("b"), 5) == PeerUnreachable("b")
    assert link_event(Reachable("b"), 5) == PeerReachable("b")


def test_gave_up_messages_come_back_with_our_incarnation_in_sequence_order() -> None:
    event = link_event(GaveUp("b", [(3, "x"), (4, b"y")]), 5)
    assert event == SendFailed("b", 5, ((3, "x"), (4, b"y")))
