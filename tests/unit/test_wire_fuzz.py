"""Hostile bytes: decode returns a valid envelope or raises WireError, in little memory.

Hypothesis prints the falsifying bytes (and a reproduction blob) when a property fails.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import MAX_COUNTER, VectorClock
from netclock.errors import WireError
from netclock.wire.envelope import (
    Ack,
    Challenge,
    Data,
    Envelope,
    Heartbeat,
    Hello,
    Limits,
    Message,
    Segment,
    decode,
    encode,
    encode_data,
)

FUZZ = settings(max_examples=300, deadline=None, print_blob=True)

PEAK_LIMIT = 1 << 20
"""Most memory (bytes) decoding one hostile input may allocate."""

# -- strategies: valid envelopes, then damaged ones ----------------------------------------------

IDS = st.sampled_from(["a", "b", "node-1", "ñ", "x" * 40])
UINT64 = st.one_of(st.integers(0, 300), st.just(MAX_COUNTER))
CLOCKS = st.dictionaries(IDS, st.integers(0, 2**40), max_size=4).map(VectorClock)
PAYLOADS = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), MAX_COUNTER),
        st.floats(),
        st.text(max_size=8),
        st.binary(max_size=8),
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
ACKS = st.builds(
    Ack,
    UINT64,
    st.just(4),
    st.sampled_from([(), ((6, 6),), ((7, 9), (12, 20))]),
    UINT64,
    st.sampled_from([(), ((3, "clock names 'z'"),), ((1, ""), (2, "ñ" * 200))]),
    st.just(-1) | UINT64,
)
ENVELOPES = st.one_of(
    st.builds(Data, IDS, UINT64, IDS, st.integers(1, 300), CLOCKS, PAYLOADS),
    st.builds(
        Segment,
        IDS,
        UINT64,
        IDS,
        st.integers(1, 300),
        st.none() | ACKS,
        st.lists(st.builds(Message, st.integers(1, 300), CLOCKS, PAYLOADS), max_size=3).map(tuple),
    ),
    st.builds(Hello, IDS, UINT64, IDS, UINT64, UINT64, UINT64, st.one_of(st.just(-1), UINT64)),
    st.builds(Heartbeat, IDS, UINT64, IDS),
    st.builds(Challenge, IDS, UINT64, IDS, UINT64, st.booleans()),
)

# Bytes that mean something to a msgpack parser: headers of every container and ext type.
_MARKER_HEX = (
    "90 9f 80 8f a0 bf c0 c1 c2 c3 c4 c5 c6 c7 c8 c9 ca cb cf d3 d4 d8 d9 da db dc dd de df ff"
)
MSGPACK_MARKERS = st.sampled_from(list(bytes.fromhex(_MARKER_HEX)))


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A valid envelope after 1-4 bit flips, truncations, insertions, deletions or splices."""
    data = bytearray(encode(draw(ENVELOPES)))
    for _ in range(draw(st.integers(1, 4))):
        size = len(data)
        where = draw(st.integers(0, size))
        op = draw(st.sampled_from(["flip", "truncate", "insert", "marker", "delete", "splice"]))
        if op == "flip" and size:
            index = min(where, size - 1)
            data[index] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[where:]
        elif op == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif op == "marker":
            data[where:where] = bytes([draw(MSGPACK_MARKERS)]) + draw(st.binary(max_size=4))
        elif op == "delete":
            del data[where : where + draw(st.integers(1, 8))]
        elif op == "splice":
            other = encode(draw(ENVELOPES))
            data = data[:where] + other[draw(st.integers(0, len(other))) :]
    return bytes(data)


def check_decode(data: bytes) -> Envelope | None:
    """Decode ``data``: a valid envelope (whose re-encoding is stable) or ``None`` on WireError.

    Any other exception propagates and fails the calling test.
    """
    try:
        envelope = decode(data)
    except WireError:
        return None
    assert isinstance(envelope, Data | Segment | Hello | Heartbeat | Challenge), type(envelope)
    again = encode(envelope)
    assert encode(decode(again)) == again, data.hex()
    return envelope


# -- properties ---------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_give_an_envelope_or_wire_error(data: bytes) -> None:
    check_decode(data)


@FUZZ
@given(
    st.sampled_from([b"\x95\x01\x04", b"\x98\x01\x01", b"\x98\x01\x02", b"\x97\x01\x03"]),
    st.binary(max_size=200),
)
def test_random_bytes_after_a_valid_header_give_an_envelope_or_wire_error(
    header: bytes, tail: bytes
) -> None:
    check_decode(header + tail)


@FUZZ
@given(damaged())
def test_damaged_envelopes_give_an_envelope_or_wire_error(data: bytes) -> None:
    check_decode(data)


@FUZZ
@given(ENVELOPES)
def test_every_strict_prefix_of_an_envelope_is_a_wire_error(envelope: Envelope) -> None:
    data = encode(envelope)
    for end in range(len(data)):
        with pytest.raises(WireError):
            decode(data[:end])


# -- specific hostile inputs ----------------------------------------------------------------------

_DATA_PREFIX = encode_data("a", 1, "b", 1, VectorClock({"a": 1}), None)[:-1]
"""A DATA envelope without its payload byte: append a hostile payload to it."""

HOSTILE = {
    "array32-4G": bytes.fromhex("dd ff 00 00 00"),
    "map32-4G": bytes.fromhex("df ff ff ff ff"),
    "str32-4G": bytes.fromhex("db ff ff ff ff"),
    "bin32-4G": bytes.fromhex("c6 ff ff ff ff"),
    "ext32-4G": bytes.fromhex("c9 ff ff ff ff 05"),
    "array16-64K": bytes.fromhex("dc ff ff"),
    "map16-64K": bytes.fromhex("de ff ff"),
    "str8-overrun": bytes.fromhex("d9 ff 61"),
    "nested-arrays-10000": b"\x91" * 10_000 + b"\xc0",
    "nested-maps-10000": b"\x81\xc0" * 10_000 + b"\xc0",
    "nested-arrays-10000-in-payload": _DATA_PREFIX + b"\x91" * 10_000 + b"\xc0",
    "nested-maps-in-clock": _DATA_PREFIX[:-4] + b"\x81\xa1a" * 5_000 + b"\x01\xc0",
    "array32-4G-in-payload": _DATA_PREFIX + bytes.fromhex("dd ff 00 00 00"),
    "map32-4G-in-payload": _DATA_PREFIX + bytes.fromhex("df ff ff ff ff"),
    "str32-4G-in-payload": _DATA_PREFIX + bytes.fromhex("db ff ff ff ff"),
    "bin32-4G-in-payload": _DATA_PREFIX + bytes.fromhex("c6 ff ff ff ff"),
    "map32-4G-as-clock": _DATA_PREFIX[:-4] + bytes.fromhex("df ff ff ff ff") + b"\xc0",
    "fixext1": bytes.fromhex("d4 05 00"),
    "fixext16": bytes.fromhex("d8 05") + bytes(16),
    "ext8": bytes.fromhex("c7 03 05 00 00 00"),
    "timestamp32": bytes.fromhex("d6 ff 00 00 00 00"),
    "fixext1-in-payload": _DATA_PREFIX + bytes.fromhex("d4 05 00"),
    "fixext16-in-payload": _DATA_PREFIX + bytes.fromhex("d8 05") + bytes(16),
    "ext8-in-payload": _DATA_PREFIX + bytes.fromhex("c7 03 05 00 00 00"),
    "ext32-in-payload": _DATA_PREFIX + bytes.fromhex("c9 00 00 00 02 05 00 00"),
    "timestamp-in-payload": _DATA_PREFIX + bytes.fromhex("d6 ff 00 00 00 00"),
    "timestamp96-in-payload": _DATA_PREFIX + bytes.fromhex("c7 0c ff") + bytes(12),
    "never-used-byte-c1": _DATA_PREFIX + b"\xc1",
    "max-size-of-nils": b"\xc0" * 65_507,
    "over-max-size": b"\x90" * 65_508,
}


def decode_measured(data: bytes, limits: Limits | None = None) -> tuple[Any, int]:
    """Decode ``data`` under tracemalloc: (envelope or the WireError, peak bytes)."""
    outcome: Any
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline = tracemalloc.get_traced_memory()[0]
        try:
            outcome = decode(data) if limits is None else decode(data, limits)
        except WireError as exc:
            outcome = exc
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    return outcome, peak


def test_tracemalloc_sees_what_the_decoder_allocates() -> None:
    big = encode_data("a", 1, "b", 1, VectorClock(), b"x" * 300_000)
    outcome, peak = decode_measured(big, Limits(max_bytes=1 << 20))
    assert isinstance(outcome, Data)
    assert peak >= 300_000, f"peak {peak} bytes: tracemalloc did not see the payload"


@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_is_a_wire_error_without_big_allocation(data: bytes) -> None:
    outcome, peak = decode_measured(data)
    assert isinstance(outcome, WireError), f"decoded to {outcome!r:.200}"
    assert peak < PEAK_LIMIT, f"peak allocation {peak} bytes for {len(data)} input bytes"


def test_empty_ext_payload_is_a_wire_error() -> None:
    with pytest.raises(WireError):
        decode(_DATA_PREFIX + bytes.fromhex("c7 00 05"))
