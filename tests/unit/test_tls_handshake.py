"""The TLS link's connection-start rules, sans IO: every refusal, the tie-break, the cap.

``docs/tls.md`` sections 3, 5 and 6 in executable form. No sockets and no event loop: time
is a number, a connection is a :class:`Handshake` record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netclock.links.tls.handshake import (
    Admission,
    ConnState,
    Evict,
    Handshake,
    Outcome,
    Refusal,
    Refused,
)
from netclock.wire.envelope import Envelope, Heartbeat, Hello, Segment, encode_hello
from netclock.wire.framing import encode_frames

NOW = 100.0


def admission(me: str = "a", known: set[str] | None = None, **options: Any) -> Admission:
    return Admission(me, {"b", "c"} if known is None else known, **options)


def hello_from(sender: str, to: str = "a", incarnation: int = 7) -> Hello:
    return Hello(sender, incarnation, to, 0, 0, 1024)


def up(adm: Admission, dialed_to: str | None, certified: str, incarnation: int = 7) -> Handshake:
    """A connection taken through TLS and the hello exchange; it must be the first one."""
    hs = adm.start(dialed_to)
    assert adm.open(hs, NOW) is None
    assert adm.handshake_done(hs, certified, NOW) is None
    verdict = adm.hello(hs, hello_from(certified, adm.node_id, incarnation), 0, None)
    assert verdict is Outcome.ATTACH
    return hs


def snapshot(hs: Handshake) -> tuple[ConnState, str | None, int, float | None]:
    """State, peer, peer incarnation and deadline (read afresh after each step)."""
    return (hs.state, hs.peer, hs.peer_incarnation, hs.deadline)


def refusal(result: object) -> Refusal:
    assert isinstance(result, Refused), result
    return result.why


# -- states and deadlines --------------------------------------------------------------------------
def test_a_connection_goes_tls_hello_up_with_a_deadline_for_each_step() -> None:
    adm = admission(handshake_timeout=5.0, hello_timeout=2.0)
    hs = adm.start(None)
    assert snapshot(hs) == (ConnState.TLS, None, 0, None)
    assert adm.open(hs, NOW) is None
    assert snapshot(hs) == (ConnState.TLS, None, 0, NOW + 5.0)
    assert adm.handshake_done(hs, "b", NOW + 1) is None
    assert snapshot(hs) == (ConnState.HELLO, "b", 0, NOW + 1 + 2.0)
    assert adm.hello(hs, hello_from("b", incarnation=9), 0, None) is Outcome.ATTACH
    assert snapshot(hs) == (ConnState.UP, "b", 9, None)
    adm.closed(hs)
    assert snapshot(hs) == (ConnState.CLOSED, "b", 9, None)


def test_handshake_that_overruns_its_deadline_is_refused_not_a_moment_before() -> None:
    adm = admission(handshake_timeout=5.0)
    hs = adm.start(None)
    adm.open(hs, NOW)
    assert adm.overdue(hs, NOW + 4.999) is None, "a timer firing early changes nothing"
    assert hs.deadline == NOW + 5.0
    assert refusal(adm.overdue(hs, NOW + 5.0)) is Refusal.HANDSHAKE_TIMEOUT
    assert hs.deadline is None


def test_peer_that_never_says_hello_is_refused_at_the_hello_deadline() -> None:
    adm = admission(hello_timeout=0.2)
    hs = adm.start(None)
    adm.open(hs, NOW)
    adm.handshake_done(hs, "b", NOW)
    result = adm.overdue(hs, NOW + 0.2)
    assert refusal(result) is Refusal.HELLO_TIMEOUT
    assert isinstance(result, Refused)
    assert result.reason == "no hello within 0.2 s"


def test_a_connection_that_is_up_never_times_out() -> None:
    adm = admission()
    hs = up(adm, None, "b")
    assert adm.overdue(hs, NOW + 1e9) is None


# -- refusals after the TLS handshake --------------------------------------------------------------
def test_dialer_refuses_a_certificate_for_another_node_than_it_dialed() -> None:
    adm = admission()
    hs = adm.start("b")
    adm.open(hs, NOW)
    result = adm.handshake_done(hs, "c", NOW)
    assert refusal(result) is Refusal.NOT_EXPECTED
    assert isinstance(result, Refused)
    assert "'c'" in result.reason
    assert "'b'" in result.reason


def test_certificate_of_an_unknown_node_is_refused() -> None:
    adm = admission()
    hs = adm.start(None)
    adm.open(hs, NOW)
    assert refusal(adm.handshake_done(hs, "mallory", NOW)) is Refusal.UNKNOWN_PEER


def test_partitioned_peer_is_refused_after_its_handshake() -> None:
    adm = admission()
    hs = adm.start(None)
    adm.open(hs, NOW)
    assert refusal(adm.handshake_done(hs, "b", NOW, partitioned=True)) is Refusal.PARTITIONED


# -- refusals of the hello -------------------------------------------------------------------------
def hello_state(adm: Admission, certified: str = "b") -> Handshake:
    hs = adm.start(None)
    adm.open(hs, NOW)
    assert adm.handshake_done(hs, certified, NOW) is None
    return hs


def test_al3_a_valid_certificate_for_b_cannot_speak_as_c() -> None:
    adm = admission()
    hs = hello_state(adm, "b")
    result = adm.hello(hs, hello_from("c"), 0, None)
    assert refusal(result) is Refusal.IMPOSTOR
    assert isinstance(result, Refused)
    assert "'b'" in result.reason
    assert "'c'" in result.reason
    assert hs.state is ConnState.HELLO, "refused, not up"


def test_hello_addressed_to_another_node_is_refused() -> None:
    adm = admission()
    assert refusal(adm.hello(hello_state(adm), hello_from("b", to="c"), 0, None)) is (
        Refusal.NOT_FOR_US
    )


def test_hello_from_a_peer_forgotten_since_its_handshake_is_refused() -> None:
    known = {"b"}
    adm = admission(known=known)
    hs = hello_state(adm)
    known.discard("b")
    assert refusal(adm.hello(hs, hello_from("b"), 0, None)) is Refusal.UNKNOWN_PEER


def test_hello_for_an_older_incarnation_than_one_heard_from_is_refused() -> None:
    adm = admission()
    hs = hello_state(adm)
    assert refusal(adm.hello(hs, hello_from("b", incarnation=6), 7, None)) is (
        Refusal.OLD_INCARNATION
    )
    same = hello_state(adm)
    assert adm.hello(same, hello_from("b", incarnation=7), 7, None) is Outcome.ATTACH


# -- one connection per pair -----------------------------------------------------------------------
def test_simultaneous_dials_the_smaller_ids_dial_wins_at_both_ends() -> None:
    at_a, at_b = admission("a", {"b"}), admission("b", {"a"})
    # a's own dial came up first at a; then b's dial arrives.
    a_dial_at_a = up(at_a, "b", "b")
    b_dial_at_a = hello_state(at_a, "b")
    assert at_a.hello(b_dial_at_a, hello_from("b"), 0, a_dial_at_a) is Outcome.LOSE
    # At b it went the other way round: b's dial came up first, then a's replaces it.
    b_dial_at_b = up(at_b, "a", "a")
    a_dial_at_b = hello_state(at_b, "a")
    assert at_b.hello(a_dial_at_b, hello_from("a", to="b"), 0, b_dial_at_b) is Outcome.REPLACE


def test_simultaneous_dials_the_smaller_ids_dial_wins_whichever_comes_up_first() -> None:
    at_a, at_b = admission("a", {"b"}), admission("b", {"a"})
    b_dial_at_a = up(at_a, None, "b")
    a_dial_at_a = at_a.start("b")
    at_a.open(a_dial_at_a, NOW)
    at_a.handshake_done(a_dial_at_a, "b", NOW)
    assert at_a.hello(a_dial_at_a, hello_from("b"), 0, b_dial_at_a) is Outcome.REPLACE
    a_dial_at_b = up(at_b, None, "a")
    b_dial_at_b = at_b.start("a")
    at_b.open(b_dial_at_b, NOW)
    at_b.handshake_done(b_dial_at_b, "a", NOW)
    assert at_b.hello(b_dial_at_b, hello_from("a", to="b"), 0, a_dial_at_b) is Outcome.LOSE


def test_restarted_peers_new_connection_replaces_its_old_one() -> None:
    adm = admission("a", {"b"})
    old = up(adm, None, "b", incarnation=1)
    new = hello_state(adm, "b")
    assert adm.hello(new, hello_from("b", incarnation=2), 1, old) is Outcome.REPLACE
    assert new.peer_incarnation == 2


def test_newer_dial_by_the_same_node_replaces_the_older() -> None:
    adm = admission("b", {"a"})
    old = up(adm, "a", "a")
    new = adm.start("a")
    adm.open(new, NOW)
    adm.handshake_done(new, "a", NOW)
    assert adm.hello(new, hello_from("a", to="b"), 0, old) is Outcome.REPLACE


# -- the cap on connections without a hello --------------------------------------------------------
def test_over_the_cap_the_longest_idle_handshake_is_evicted_not_the_new_one() -> None:
    adm = admission(max_unauthenticated=2)
    first, second = adm.start(None), adm.start(None)
    assert adm.open(first, NOW, "10.0.0.1") is None
    assert adm.open(second, NOW + 1, "10.0.0.2") is None
    first.active = NOW + 2  # bytes arrived on the first: the second is now the idlest
    third = adm.start(None)
    result = adm.open(third, NOW + 3, "10.0.0.3")
    assert isinstance(result, Evict)
    assert result.victims == (second,)
    assert second.state is ConnState.CLOSED
    assert not second.counted
    assert adm.unauthenticated == 2
    adm.closed(second)  # the adapter's abort ends it later: counted once
    assert adm.unauthenticated == 2


def test_per_source_cap_evicts_from_that_source_only() -> None:
    adm = admission(max_unauthenticated=10, max_unauthenticated_per_source=2)
    other = adm.start(None)
    adm.open(other, NOW - 10, "10.0.0.9")  # the idlest overall, but another source
    mine = [adm.start(None) for _ in range(2)]
    for i, hs in enumerate(mine):
        assert adm.open(hs, NOW + i, "10.0.0.1") is None
    result = adm.open(adm.start(None), NOW + 5, "10.0.0.1")
    assert isinstance(result, Evict)
    assert result.victims == (mine[0],)
    assert other.state is ConnState.TLS
    assert adm.unauthenticated == 3


def test_a_host_of_known_peers_gets_a_place_for_each_beside_the_per_source_cap() -> None:
    """31 peers on one machine connecting at once are not evicted for one another; the 2
    places beyond them are still the per-source cap."""
    adm = admission(max_unauthenticated=64, max_unauthenticated_per_source=2)
    peers = [adm.start(None) for _ in range(33)]
    for i, hs in enumerate(peers):
        assert adm.open(hs, NOW + i, "127.0.0.1", peers_at_source=31) is None
    result = adm.open(adm.start(None), NOW + 40, "127.0.0.1", peers_at_source=31)
    assert isinstance(result, Evict)
    assert result.victims == (peers[0],)
    assert adm.open(adm.start(None), NOW + 41, "10.0.0.1", peers_at_source=0) is None


def test_known_peers_keep_their_places_strangers_are_evicted_for_them() -> None:
    adm = admission(max_unauthenticated=2)
    peer = adm.start(None)
    adm.open(peer, NOW, "h")
    assert adm.handshake_done(peer, "b", NOW) is None  # certified: a known peer, in HELLO
    stranger = adm.start(None)
    adm.open(stranger, NOW + 1, "h")
    result = adm.open(adm.start(None), NOW + 2, "h")
    assert isinstance(result, Evict)
    assert result.victims == (stranger,)
    assert peer.state is ConnState.HELLO


def test_only_when_known_peers_fill_the_cap_is_a_new_connection_refused() -> None:
    adm = admission(max_unauthenticated=2)
    for certified in ("b", "c"):
        hs = adm.start(None)
        adm.open(hs, NOW, "h")
        adm.handshake_done(hs, certified, NOW)
    result = adm.open(adm.start(None), NOW, "h")
    assert refusal(result) is Refusal.OVER_CAP
    assert isinstance(result, Refused)
    assert result.reason == "already 2 connections without a hello, all from known peers"
    assert adm.unauthenticated == 2


def test_a_flood_never_holds_more_places_than_the_caps() -> None:
    adm = admission(max_unauthenticated=64, max_unauthenticated_per_source=16)
    for i in range(1000):
        adm.open(adm.start(None), NOW + i, f"10.0.{i % 7}.1")
    assert adm.unauthenticated == 64
    assert max(adm._per_source.values()) <= 16
    assert len(adm._pending) == 64


def test_our_own_dials_do_not_count_against_the_cap() -> None:
    adm = admission(max_unauthenticated=1)
    assert adm.open(adm.start("b"), NOW) is None
    assert adm.open(adm.start("c"), NOW) is None
    assert adm.unauthenticated == 0
    assert adm.open(adm.start(None), NOW) is None
    assert adm.unauthenticated == 1


@pytest.mark.parametrize("ending", ["hello", "closed", "refused then closed"])
def test_a_place_under_the_cap_is_freed_once_by_a_hello_or_a_close(ending: str) -> None:
    adm = admission(max_unauthenticated=1)
    hs = adm.start(None)
    adm.open(hs, NOW)
    if ending == "hello":
        adm.handshake_done(hs, "b", NOW)
        adm.hello(hs, hello_from("b"), 0, None)
    elif ending == "refused then closed":
        adm.handshake_done(hs, "mallory", NOW)
        assert adm.unauthenticated == 1, "a refused connection counts until it is closed"
    adm.closed(hs)
    adm.closed(hs)
    assert adm.unauthenticated == 0
    assert adm.open(adm.start(None), NOW) is None


# -- frames after the hello ------------------------------------------------------------------------
def test_only_segments_from_the_hellos_sender_and_incarnation_follow_the_hello() -> None:
    adm = admission()
    hs = up(adm, None, "b", incarnation=7)
    assert adm.segment_fault(hs, Segment("b", 7, "a", 1, None, ())) is None
    faults: dict[str, Envelope] = {
        "second hello": hello_from("b"),
        "heartbeat": Heartbeat("b", 7, "a"),
        "other sender": Segment("c", 7, "a", 1, None, ()),
        "other incarnation": Segment("b", 8, "a", 1, None, ()),
        "other receiver": Segment("b", 7, "c", 1, None, ()),
    }
    for name, envelope in faults.items():
        assert adm.segment_fault(hs, envelope) is not None, name


# -- the worked example of docs/tls.md section 9 ---------------------------------------------------
ALICE, BOB = 1_700_000_000_000_000, 1_700_000_000_000_123


def test_the_hellos_of_the_worked_example_match_the_encoder() -> None:
    examples = {
        "alice's first": (
            encode_hello("alice", ALICE, "bob", 0, 0, 1024),
            "00 00 00 1b 98 01 03 a5 61 6c 69 63 65 cf 00 06 0a 24 18 1e 40 00 a3 62 6f 62 00 00"
            " cd 04 00",
        ),
        "bob's on reconnect": (
            encode_hello("bob", BOB, "alice", ALICE, 5, 1024),
            "00 00 00 23 98 01 03 a3 62 6f 62 cf 00 06 0a 24 18 1e 40 7b a5 61 6c 69 63 65 cf 00"
            " 06 0a 24 18 1e 40 00 05 cd 04 00",
        ),
    }
    spec = Path(__file__).parents[2] / "docs" / "tls.md"
    text = " ".join(spec.read_text(encoding="utf-8").split())
    for name, (hello, hex_text) in examples.items():
        assert encode_frames([hello]) == bytes.fromhex(hex_text), name
        assert hex_text in text, f"{name} not in {spec}"
