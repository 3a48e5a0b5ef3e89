"""The adversary toolkit's pure half: forged envelopes decode as what they claim, lies are
lies, captured frames parse (netclock.adversary.forge, netclock.adversary.capture)."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.adversary import capture
from netclock.adversary.forge import (
    FORGED_INCARNATION,
    Equivocation,
    backwards,
    claims_more_of,
    data_envelope,
    jumped,
    segment_envelope,
    wrong_value,
)
from netclock.clock import VectorClock
from netclock.wire.envelope import Data, Segment, decode


def test_forged_envelopes_decode_as_what_they_claim() -> None:
    data = decode(data_envelope("a", "c", "hi", seq=4, incarnation=9))
    assert isinstance(data, Data)
    assert (data.sender, data.incarnation, data.receiver, data.seq, data.payload) == (
        "a",
        9,
        "c",
        4,
        "hi",
    )
    segment = decode(segment_envelope("a", "c", ["x", "y"], first_seq=3))
    assert isinstance(segment, Segment)
    assert segment.incarnation == FORGED_INCARNATION
    assert segment.base == 3
    assert [(m.seq, m.payload) for m in segment.messages] == [(3, "x"), (4, "y")]


def test_lying_clocks() -> None:
    clock = VectorClock({"m": 5, "c": 2})
    assert claims_more_of(clock, "c", by=3).get("c") == 5
    assert backwards(clock, "m", by=10).get("m") == 1
    assert jumped(clock, "m", by=100).get("m") == 105


@settings(max_examples=50, deadline=None)
@given(
    st.one_of(
        st.integers(),
        st.text(),
        st.binary(),
        st.booleans(),
        st.lists(st.integers()),
        st.dictionaries(st.text(), st.integers()),
        st.none(),
    ),
    st.integers(1, 5),
)
def test_a_wrong_value_is_never_the_right_one(value: object, salt: int) -> None:
    assert wrong_value(value, salt) != value


def test_equivocation_tells_each_untrusted_peer_something_else() -> None:
    e = Equivocation(truthful=["a"])
    answers = {p: e.answer(p, 10) for p in ("a", "b", "c")}
    assert answers["a"] == 10
    assert len({answers["b"], answers["c"], 10}) == 3


def _frame(proto: int, body: bytes) -> bytes:
    ip = bytearray(20)
    ip[0] = 0x45
    ip[2:4] = (20 + len(body)).to_bytes(2, "big")
    ip[9] = proto
    ip[12:16] = socket.inet_aton("127.0.0.1")
    ip[16:20] = socket.inet_aton("127.0.0.2")
    return b"\x00" * 12 + b"\x08\x00" + bytes(ip) + body


def test_parse_frame_reads_udp_and_tcp_and_ignores_the_rest() -> None:
    udp = struct.pack(">HHHH", 1000, 2000, 8 + 5, 0) + b"hello"
    packet = capture.parse_frame(_frame(17, udp))
    assert packet == capture.Packet("udp", ("127.0.0.1", 1000), ("127.0.0.2", 2000), b"hello")
    tcp = struct.pack(">HH", 3000, 4000) + b"\x00" * 8 + bytes([5 << 4]) + b"\x00" * 7 + b"data"
    packet = capture.parse_frame(_frame(6, tcp))
    assert packet is not None
    assert (packet.proto, packet.src[1], packet.dst[1], packet.payload) == (
        "tcp",
        3000,
        4000,
        b"data",
    )
    assert capture.parse_frame(b"short") is None
    assert capture.parse_frame(_frame(1, b"icmp....")) is None


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=120))
def test_parse_frame_never_raises_on_garbage(frame: bytes) -> None:
    capture.parse_frame(frame)


def test_capture_unavailable_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> socket.socket:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(capture.socket, "socket", refuse)
    assert capture.capture_unavailable() == (
        "a loopback capture needs root or CAP_NET_RAW (a raw AF_PACKET socket); run as root"
    )
