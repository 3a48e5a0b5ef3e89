"""The sealed link's sans-IO core: seal/open, replay window, restarts, forgeries."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.errors import AuthenticationError
from netclock.links.seal import REPLAY_WINDOW, Sealer, SealRefused, derive_key, overhead

SECRET = bytes(range(32))


def pair(incarnation_a: int = 1, *, salt: bytes | None = None) -> tuple[Sealer, Sealer]:
    a = Sealer("a", incarnation_a, "lab", lambda peer: SECRET, salt=salt)
    b = Sealer("b", 7, "lab", lambda peer: SECRET)
    for sealer, peer in ((a, "b"), (b, "a")):
        sealer.add_peer(peer)
    return a, b


def refused(b: Sealer, data: bytes) -> str:
    with pytest.raises(SealRefused) as info:
        b.open(data)
    return info.value.counter


def test_round_trip_and_overhead() -> None:
    a, b = pair()
    data = a.seal("b", b"hello")
    assert b.open(data) == ("a", b"hello")
    assert len(data) == len(b"hello") + overhead("a")
    assert b"hello" not in data  # sealed is also encrypted


def test_each_direction_and_each_salt_has_its_own_key() -> None:
    keys = {
        derive_key(SECRET, s, "lab", x, y)
        for s in (b"\0" * 16, b"\1" * 16)
        for x, y in (("a", "b"), ("b", "a"))
    }
    assert len(keys) == 4
    assert derive_key(SECRET, b"\0" * 16, "lab", "ab", "c") != derive_key(
        SECRET, b"\0" * 16, "lab", "a", "bc"
    )


def test_replay_is_refused_reordering_is_not() -> None:
    a, b = pair()
    sealed = [a.seal("b", bytes([i])) for i in range(10)]
    for i in (3, 0, 9, 1, 2, 8, 4, 5, 7, 6):
        assert b.open(sealed[i]) == ("a", bytes([i]))
    for data in sealed:
        assert refused(b, data) == "replayed"


def test_counter_older_than_the_window_is_refused() -> None:
    a, b = pair()
    old = a.seal("b", b"old")
    for _ in range(REPLAY_WINDOW):
        b.open(a.seal("b", b"x"))
    assert refused(b, old) == "replayed"


def test_a_restart_gets_a_fresh_key_and_the_old_start_is_replay() -> None:
    a, b = pair(1)
    before = a.seal("b", b"before")
    b.open(before)
    late = a.seal("b", b"late")
    again = Sealer("a", 1, "lab", lambda peer: SECRET)  # same incarnation, no saved state
    again.add_peer("b")
    first = again.seal("b", b"first")
    assert (
        first[-len(b"first") - 16 - 8 - 16 :][:16] != before[-len(b"before") - 16 - 8 - 16 :][:16]
    )
    assert b.open(first) == ("a", b"first")
    assert refused(b, late) == "replayed"
    assert refused(b, before) == "replayed"


def test_an_older_incarnation_is_refused_after_a_newer_one() -> None:
    a, b = pair(5)
    old = a.seal("b", b"old")
    newer = Sealer("a", 6, "lab", lambda peer: SECRET)
    newer.add_peer("b")
    b.open(newer.seal("b", b"new"))
    assert refused(b, old) == "replayed"


def test_strangers_other_keys_and_junk_are_refused() -> None:
    _, b = pair()
    c = Sealer("c", 1, "lab", lambda peer: SECRET)
    c.add_peer("b")
    assert refused(b, c.seal("b", b"x")) == "unknown_peer"
    wrong = Sealer("a", 1, "lab", lambda peer: os.urandom(32))
    wrong.add_peer("b")
    assert refused(b, wrong.seal("b", b"x")) == "forged"
    other_cluster = Sealer("a", 1, "zoo", lambda peer: SECRET)
    other_cluster.add_peer("b")
    assert refused(b, other_cluster.seal("b", b"x")) == "forged"
    for junk in (b"", b"S", b"\x53\x01a", b"\x93\xa1a", b"\x53\x02\xff\xfe" + bytes(60)):
        assert refused(b, junk) == "bad_datagrams"


def test_sealed_for_someone_else_is_refused() -> None:
    a = Sealer("a", 1, "lab", lambda peer: SECRET)
    a.add_peer("c")
    _, b = pair()
    assert refused(b, a.seal("c", b"for c")) == "forged"


def test_a_forged_header_changes_nothing() -> None:
    a, b = pair()
    b.open(a.seal("b", b"1"))
    good = a.seal("b", b"2")
    forged = bytearray(good)
    forged[3:11] = (2**64 - 1).to_bytes(8, "big")  # a huge incarnation
    forged[11:27] = os.urandom(16)  # and a new salt: would be a "restart"
    assert refused(b, bytes(forged)) == "forged"
    assert b.open(good) == ("a", b"2")  # the real start is still the current one


def test_remove_peer_refuses_it() -> None:
    a, b = pair()
    b.remove_peer("a")
    assert refused(b, a.seal("b", b"x")) == "unknown_peer"
    with pytest.raises(KeyError):
        b.seal("a", b"x")


def test_an_id_that_cannot_be_sealed_is_refused() -> None:
    with pytest.raises(AuthenticationError):
        Sealer("x" * 256, 1, "lab", lambda peer: SECRET)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200), st.data())
def test_any_bit_flip_is_refused(payload: bytes, data: st.DataObject) -> None:
    a, b = pair(salt=b"\x11" * 16)
    sealed = bytearray(a.seal("b", payload))
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1))
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(SealRefused):
        b.open(bytes(sealed))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_never_open_and_never_crash(data: bytes) -> None:
    _, b = pair()
    with pytest.raises(SealRefused):
        b.open(data)
