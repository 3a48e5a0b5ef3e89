"""Specification of the netclock envelope: round trips, limits, strict rejection of bad input.

Hypothesis prints the falsifying example (and a reproduction blob) when a property fails.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import MAX_COUNTER, SHIVIZ_RESERVED_IDS, VectorClock
from netclock.errors import ClockError, UsageError, WireError
from netclock.links.session import PeerSession
from netclock.wire.envelope import (
    CHALLENGE,
    DATA,
    DEFAULT_LIMITS,
    HEARTBEAT,
    HELLO,
    KIND_NAMES,
    SEGMENT,
    VERSION,
    Ack,
    Data,
    Decoder,
    Envelope,
    Heartbeat,
    Hello,
    Limits,
    Message,
    Segment,
    array_header,
    data_prefix,
    decode,
    encode,
    encode_challenge,
    encode_data,
    encode_data_prefixed,
    encode_heartbeat,
    encode_hello,
    encode_segment,
    encode_segment_packed,
    message_wire,
    pack_ack,
    pack_message,
    packed_size,
)

PROPERTY = settings(max_examples=100, deadline=None, print_blob=True)

# -- strategies -----------------------------------------------------------------------------------

IDS = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Z"), blacklist_characters='"\\'
    ),
    min_size=1,
    max_size=12,
).filter(lambda pid: not any(ch.isspace() for ch in pid) and pid not in SHIVIZ_RESERVED_IDS)
UINT64 = st.one_of(st.integers(0, 1000), st.integers(0, MAX_COUNTER), st.just(MAX_COUNTER))
SEQS = st.one_of(st.integers(1, 1000), st.integers(1, MAX_COUNTER))
CLOCKS = st.dictionaries(IDS, UINT64, max_size=6).map(VectorClock)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), MAX_COUNTER),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
)
PAYLOADS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(-5, 5)), inner, max_size=4),
    ),
    max_leaves=16,
)


@st.composite
def acks(draw: st.DrawFn) -> Ack:
    cumulative = draw(st.integers(0, 10**6))
    sacks: list[tuple[int, int]] = []
    previous = cumulative
    for _ in range(draw(st.integers(0, 6))):
        first = previous + 2 + draw(st.integers(0, 50))
        last = first + draw(st.integers(0, 50))
        sacks.append((first, last))
        previous = last
    refused = draw(
        st.lists(st.tuples(st.integers(1, 2**64 - 1), st.text(max_size=200)), max_size=64)
    )
    byte_window = draw(st.one_of(st.just(-1), UINT64))
    return Ack(draw(UINT64), cumulative, tuple(sacks), draw(UINT64), tuple(refused), byte_window)


MESSAGES = st.builds(Message, SEQS, CLOCKS, PAYLOADS)
DATAS = st.builds(Data, IDS, UINT64, IDS, SEQS, CLOCKS, PAYLOADS)
SEGMENTS = st.builds(
    Segment,
    IDS,
    UINT64,
    IDS,
    SEQS,
    st.one_of(st.none(), acks()),
    st.lists(MESSAGES, max_size=20).map(tuple),
)
HELLOS = st.builds(Hello, IDS, UINT64, IDS, UINT64, UINT64, UINT64, st.one_of(st.just(-1), UINT64))
HEARTBEATS = st.builds(Heartbeat, IDS, UINT64, IDS)
ENVELOPES = st.one_of(DATAS, SEGMENTS, HELLOS, HEARTBEATS)


def assert_same_value(got: Any, want: Any, path: str = "payload") -> None:
    """Equal values of the same types all the way down (so 1 != 1.0 != True, bytes != str)."""
    assert type(got) is type(want), f"{path}: {type(got).__name__} != {type(want).__name__}"
    if isinstance(want, list):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same_value(g, w, f"{path}[{i}]")
    elif isinstance(want, dict):
        assert list(got) == list(want), path
        for key in want:
            assert_same_value(got[key], want[key], f"{path}[{key!r}]")
    elif isinstance(want, float) and math.isnan(want):
        assert math.isnan(got), path
    elif isinstance(want, float):
        assert got == want, path
        assert math.copysign(1.0, got) == math.copysign(1.0, want), path
    else:
        assert got == want, path


def raw(*items: Any) -> bytes:
    """Hand-built envelope bytes (no validation)."""
    return msgpack.packb(list(items), use_bin_type=True)  # type: ignore[no-any-return]


HEARTBEAT_ITEMS: list[Any] = [1, 4, "a", 7, "b"]
DATA_ITEMS: list[Any] = [1, 1, "a", 7, "b", 1, {"a": 1}, None]
SEGMENT_ITEMS: list[Any] = [1, 2, "a", 7, "b", 1, [3, 0, [], 8], [[1, {"a": 1}, "x"]]]
HELLO_ITEMS: list[Any] = [1, 3, "a", 7, "b", 0, 0, 1024]
VALID_ITEMS = {"data": DATA_ITEMS, "segment": SEGMENT_ITEMS, "hello": HELLO_ITEMS}


def replaced(items: list[Any], index: int, value: Any) -> bytes:
    copy = list(items)
    copy[index] = value
    return raw(*copy)


def with_ack(ack: Any) -> bytes:
    return replaced(SEGMENT_ITEMS, 6, ack)


# -- round trips ----------------------------------------------------------------------------------


@PROPERTY
@given(ENVELOPES)
def test_every_envelope_kind_round_trips(envelope: Envelope) -> None:
    data = encode(envelope)
    decoded = decode(data)
    assert type(decoded) is type(envelope)
    assert decoded == envelope
    assert encode(decoded) == data


@PROPERTY
@given(DATAS)
def test_data_payload_and_clock_survive_with_their_types(envelope: Data) -> None:
    decoded = decode(encode(envelope))
    assert isinstance(decoded, Data)
    assert_same_value(decoded.payload, envelope.payload)
    assert decoded.clock.to_dict() == envelope.clock.to_dict()


@PROPERTY
@given(SEGMENTS)
def test_packed_segment_equals_the_plain_encoding(segment: Segment) -> None:
    packed = [pack_message(*message) for message in segment.messages]
    data = encode_segment_packed(
        segment.sender, segment.incarnation, segment.receiver, segment.base, segment.ack, packed
    )
    assert data == encode(segment)
    decoded = decode(data)
    assert decoded == segment
    assert isinstance(decoded, Segment)
    for got, want in zip(decoded.messages, segment.messages, strict=True):
        assert_same_value(got.payload, want.payload)


def test_packed_segment_with_ack_and_many_messages_equals_the_plain_encoding() -> None:
    clock = VectorClock({"a": 3, "b": 1})
    ack = Ack(9, 4, ((6, 8), (10, 10)), 32)
    for count in (0, 1, 15, 16, 17, 300):
        messages = tuple(Message(i + 1, clock, b"x" * (i % 7)) for i in range(count))
        segment = Segment("a", 5, "b", 1, ack, messages)
        packed = [pack_message(*m) for m in messages]
        data = encode_segment_packed("a", 5, "b", 1, ack, packed)
        assert data == encode(segment), count
        assert decode(data) == segment, count


def test_each_kind_decodes_to_its_named_tuple() -> None:
    clock = VectorClock({"a": 2})
    assert decode(encode_data("a", 7, "b", 1, clock, b"hi")) == Data("a", 7, "b", 1, clock, b"hi")
    ack = Ack(3, 0, ((2, 2),), 8)
    segment = encode_segment("a", 7, "b", 1, ack, [message_wire(1, clock, "x")])
    assert decode(segment) == Segment("a", 7, "b", 1, ack, (Message(1, clock, "x"),))
    assert decode(encode_segment("a", 7, "b", 4, None, [])) == Segment("a", 7, "b", 4, None, ())
    assert decode(encode_hello("a", 7, "b", 3, 12, 8)) == Hello("a", 7, "b", 3, 12, 8)
    assert decode(encode_heartbeat("a", 7, "b")) == Heartbeat("a", 7, "b")


def test_envelope_is_the_documented_array() -> None:
    clock = VectorClock({"a": 2})
    ack = Ack(3, 1, ((3, 4), (6, 9)), 8)
    assert msgpack.unpackb(encode_data("a", 7, "b", 5, clock, [1])) == [
        VERSION, DATA, "a", 7, "b", 5, {"a": 2}, [1],
    ]  # fmt: skip
    assert msgpack.unpackb(encode_segment("a", 7, "b", 2, ack, [])) == [
        VERSION, SEGMENT, "a", 7, "b", 2, [3, 1, [3, 4, 6, 9], 8], [],
    ]  # fmt: skip
    assert msgpack.unpackb(encode_hello("a", 7, "b", 3, 12, 8)) == [
        VERSION, HELLO, "a", 7, "b", 3, 12, 8,
    ]  # fmt: skip
    assert msgpack.unpackb(encode_heartbeat("a", 7, "b")) == [VERSION, HEARTBEAT, "a", 7, "b"]
    assert pack_ack(ack) == [3, 1, [3, 4, 6, 9], 8]
    assert pack_ack(None) is None
    assert msgpack.unpackb(encode_challenge("a", 7, "b", 2**64 - 1, True)) == [
        VERSION, CHALLENGE, "a", 7, "b", 2**64 - 1, True,
    ]  # fmt: skip
    refusing = ack._replace(refused=((5, "clock names 'z'"),))
    assert pack_ack(refusing) == [3, 1, [3, 4, 6, 9], 8, [5, "clock names 'z'"]]
    assert KIND_NAMES == {
        DATA: "data",
        SEGMENT: "segment",
        HELLO: "hello",
        HEARTBEAT: "heartbeat",
        CHALLENGE: "challenge",
    }


def test_zero_clock_entries_are_not_sent() -> None:
    data = encode_data("a", 1, "b", 1, VectorClock({"a": 0, "b": 2}), None)
    assert msgpack.unpackb(data)[6] == {"b": 2}


def test_decode_accepts_bytes_bytearray_and_memoryview() -> None:
    data = encode_heartbeat("a", 1, "b")
    for view in (data, bytearray(data), memoryview(data)):
        assert decode(view) == Heartbeat("a", 1, "b")


def test_uint64_extremes_survive_in_every_counter_field() -> None:
    top = MAX_COUNTER
    clock = VectorClock({"a": top})
    assert decode(encode_data("a", top, "b", top, clock, top)) == Data(
        "a", top, "b", top, clock, top
    )
    ack = Ack(top, top - 2, ((top, top),), top)
    segment = Segment("a", top, "b", top, ack, (Message(top, clock, None),))
    assert decode(encode(segment)) == segment
    hello = Hello("a", top, "b", top, top, top)
    assert decode(encode_hello(*hello)) == hello


@pytest.mark.parametrize("n", [0, 1, 15, 16, 255, 65535, 65536])
def test_array_header_matches_msgpack(n: int) -> None:
    header = array_header(n)
    assert msgpack.packb([None] * n).startswith(header)
    assert len(header) in (1, 3, 5)


def test_packed_size_is_the_msgpack_length() -> None:
    for obj in ([1, 2], "x" * 40, {"a": b"\x00" * 300}, None):
        assert packed_size(obj) == len(msgpack.packb(obj, use_bin_type=True))


# -- payloads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00\xff\xc1",
        b"x" * 70_000,
        "",
        "héllo ✓ 𝄞",
        "s" * 300,
        [],
        [1, [2, [3, [b"deep"]]]],
        {},
        {"a": {"b": [1, b"x", None]}},
        {1: "int key", -2: "negative key"},
        {b"k": "bytes key"},
        {None: 0, True: 1, 1.5: 2},
        0,
        127,
        128,
        -1,
        -33,
        -(2**63),
        2**63,
        MAX_COUNTER,
        1.5,
        -0.0,
        float("inf"),
        float("-inf"),
        float("nan"),
        None,
        True,
        False,
    ],
    ids=repr,
)
def test_payload_of_every_msgpack_type_survives_both_envelopes(payload: Any) -> None:
    limits = Limits(max_bytes=1 << 20)
    clock = VectorClock({"a": 1})
    data = decode(encode_data("a", 1, "b", 1, clock, payload), limits)
    assert isinstance(data, Data)
    assert_same_value(data.payload, payload)
    segment = decode(
        encode_segment_packed("a", 1, "b", 1, None, [pack_message(1, clock, payload)]), limits
    )
    assert isinstance(segment, Segment)
    assert_same_value(segment.messages[0].payload, payload)


def test_tuples_bytearrays_and_memoryviews_arrive_as_lists_and_bytes() -> None:
    clock = VectorClock()
    payload = [(1, 2), bytearray(b"ab"), memoryview(b"cd")]
    decoded = decode(encode_data("a", 1, "b", 1, clock, payload))
    assert isinstance(decoded, Data)
    assert_same_value(decoded.payload, [[1, 2], b"ab", b"cd"])


def _recursive_list() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


UNSERIALISABLE = [
    pytest.param({1, 2}, id="set"),
    pytest.param(object(), id="object"),
    pytest.param(complex(1, 2), id="complex"),
    pytest.param(2**64, id="int-too-big"),
    pytest.param(-(2**63) - 1, id="int-too-small"),
    pytest.param("\ud800", id="lone-surrogate"),
    pytest.param({frozenset(): 1}, id="frozenset-key"),
    pytest.param(_recursive_list(), id="recursive-list"),
]


@pytest.mark.parametrize("payload", UNSERIALISABLE)
def test_unserialisable_payload_raises_usage_error_and_leaves_the_encoder_usable(
    payload: Any,
) -> None:
    clock = VectorClock({"a": 1})
    good = encode_data("a", 1, "b", 1, clock, "ok")
    with pytest.raises(UsageError, match="cannot be encoded"):
        encode_data("a", 1, "b", 1, clock, payload)
    with pytest.raises(UsageError):
        pack_message(1, clock, payload)
    with pytest.raises(UsageError):
        encode_segment("a", 1, "b", 1, None, [message_wire(1, clock, payload)])
    with pytest.raises(UsageError):
        encode(Data("a", 1, "b", 1, clock, payload))
    with pytest.raises(UsageError):
        packed_size(payload)
    assert encode_data("a", 1, "b", 1, clock, "ok") == good


def _nested(depth: int) -> Any:
    value: Any = None
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({(1, 2): "x"}, id="array-map-key"),
        pytest.param(msgpack.ExtType(5, b"x"), id="ext-type"),
        pytest.param(msgpack.Timestamp(1, 0), id="msgpack-timestamp"),
    ],
)
def test_encode_refuses_payloads_that_decode_would_reject(payload: Any) -> None:
    clock = VectorClock({"a": 1})
    try:
        data = encode_data("a", 1, "b", 1, clock, payload)
    except UsageError:
        return
    decode(data)


def test_every_message_pack_message_accepts_can_be_decoded_in_a_segment() -> None:
    clock = VectorClock({"a": 1})
    try:
        packed = pack_message(1, clock, _nested(1022))
    except UsageError:
        return
    decode(encode_segment_packed("a", 1, "b", 1, None, [packed]))


def test_every_data_payload_the_encoder_accepts_decodes() -> None:
    clock = VectorClock({"a": 1})
    for depth in (100, 500, 1000, 1022, 1023, 1024):
        try:
            data = encode_data("a", 1, "b", 1, clock, _nested(depth))
        except UsageError:
            continue
        decoded = decode(data)
        assert isinstance(decoded, Data), depth


# -- limits ---------------------------------------------------------------------------------------


def test_default_limits() -> None:
    assert (
        Limits(max_bytes=65_507, max_clock_entries=1024, max_messages=4096, max_sack_ranges=64)
        == DEFAULT_LIMITS
    )


def test_max_bytes_is_enforced_before_decoding() -> None:
    data = encode_data("a", 1, "b", 1, VectorClock({"a": 1}), b"x" * 100)
    assert isinstance(decode(data, Limits(max_bytes=len(data))), Data)
    with pytest.raises(WireError, match=f"{len(data)} bytes exceeds the limit of {len(data) - 1}"):
        decode(data, Limits(max_bytes=len(data) - 1))
    with pytest.raises(WireError, match="exceeds the limit"):
        decode(b"\xc0" * (DEFAULT_LIMITS.max_bytes + 1))


@pytest.mark.parametrize("seen", [False, True], ids=["unseen-ids", "seen-ids"])
def test_max_clock_entries_is_enforced_in_data_and_segments(seen: bool) -> None:
    """The limit holds whether the decoder met the clock's ids before (its fast path) or
    not (the checked path)."""
    ids = ("limit-p", "limit-q", "limit-r")
    clock = VectorClock({pid: n for n, pid in enumerate(ids, 1)})
    data = encode_data("a", 1, "b", 1, clock, None)
    segment = encode_segment_packed("a", 1, "b", 1, None, [pack_message(1, clock, None)])
    for envelope in (data, segment):
        strict = Decoder(Limits(max_clock_entries=2))
        if seen:
            strict.decode(encode_data("a", 1, "b", 1, VectorClock({ids[0]: 1, ids[1]: 1}), None))
            strict.decode(encode_data("a", 1, "b", 1, VectorClock({ids[2]: 1}), None))
        with pytest.raises(WireError, match="clock has 3 entries, more than the limit of 2"):
            strict.decode(envelope)
        decoded = Decoder(Limits(max_clock_entries=3)).decode(envelope)
        assert isinstance(decoded, Data | Segment)
        got = decoded.clock if isinstance(decoded, Data) else decoded.messages[0].clock
        assert got == clock


def test_default_clock_limit_admits_1024_entries_and_no_more() -> None:
    big = {f"p{i}": 1 for i in range(1024)}
    decode(encode_data("a", 1, "b", 1, VectorClock(big), None))
    big["extra"] = 1
    with pytest.raises(WireError, match="1025 entries"):
        decode(encode_data("a", 1, "b", 1, VectorClock(big), None))


def test_max_messages_is_enforced() -> None:
    messages = [message_wire(i, VectorClock(), None) for i in range(1, 6)]
    data = encode_segment("a", 1, "b", 1, None, messages)
    segment = decode(data, Limits(max_messages=5))
    assert isinstance(segment, Segment)
    assert len(segment.messages) == 5
    with pytest.raises(WireError, match="message limit"):
        decode(data, Limits(max_messages=4))


def test_max_sack_ranges_is_enforced() -> None:
    sacks = tuple((10 * i + 2, 10 * i + 5) for i in range(64))
    data = encode_segment("a", 1, "b", 1, Ack(1, 0, sacks, 4), [])
    segment = decode(data)
    assert isinstance(segment, Segment)
    assert segment.ack is not None
    assert len(segment.ack.sacks) == 64
    with pytest.raises(WireError, match="range limit"):
        decode(data, Limits(max_sack_ranges=63))
    too_many = tuple((10 * i + 2, 10 * i + 5) for i in range(65))
    with pytest.raises(WireError, match="range limit"):
        decode(encode_segment("a", 1, "b", 1, Ack(1, 0, too_many, 4), []))


@pytest.mark.parametrize("field", ["sender", "receiver"])
def test_ids_are_limited_to_255_characters(field: str) -> None:
    index = 2 if field == "sender" else 4
    decode(replaced(HEARTBEAT_ITEMS, index, "é" * 255))
    with pytest.raises(WireError, match=field):
        decode(replaced(HEARTBEAT_ITEMS, index, "x" * 256))


# -- envelope structure -------------------------------------------------------------------------


@pytest.mark.parametrize("items", [HEARTBEAT_ITEMS, DATA_ITEMS, SEGMENT_ITEMS, HELLO_ITEMS])
def test_hand_built_reference_envelopes_are_valid(items: list[Any]) -> None:
    decode(raw(*items))


@pytest.mark.parametrize("version", [0, 2, 255, -1, True, 1.0, "1", None, [1]])
def test_unknown_version_is_rejected(version: Any) -> None:
    with pytest.raises(WireError, match="unknown envelope version"):
        decode(replaced(DATA_ITEMS, 0, version))


@pytest.mark.parametrize("kind", [0, 5, 99, -1, True, 1.0, "1", None, [1]])
def test_unknown_kind_is_rejected(kind: Any) -> None:
    with pytest.raises(WireError, match="unknown envelope kind"):
        decode(replaced(DATA_ITEMS, 1, kind))


@pytest.mark.parametrize(
    ("kind_items", "count"),
    [
        (DATA_ITEMS, 7),
        (DATA_ITEMS, 9),
        (SEGMENT_ITEMS, 7),
        (SEGMENT_ITEMS, 9),
        (HELLO_ITEMS, 7),
        (HELLO_ITEMS, 10),
        (HEARTBEAT_ITEMS, 6),
    ],
)
def test_wrong_item_count_for_the_kind_is_rejected(kind_items: list[Any], count: int) -> None:
    items = (kind_items + [0] * count)[:count]
    with pytest.raises(WireError, match=f"with {count} items"):
        decode(raw(*items))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        raw(),
        raw(1, 4, "a", 7),
        msgpack.packb({"v": 1}),
        msgpack.packb(1),
        msgpack.packb("envelope"),
        msgpack.packb(None),
        raw(*HEARTBEAT_ITEMS) + b"\xc0",
        raw(*HEARTBEAT_ITEMS)[:-1],
        b"\xc1",
    ],
)
def test_anything_but_one_envelope_array_is_rejected(data: bytes) -> None:
    with pytest.raises(WireError):
        decode(data)


BAD_IDS = [1, "", b"a", None, ["a"], {"a": 1}, True]
BAD_UINTS = [-1, -(2**63), "1", 1.0, 2.0**64, True, None, [1]]


@pytest.mark.parametrize("value", BAD_IDS)
@pytest.mark.parametrize(("field", "index"), [("sender", 2), ("receiver", 4)])
def test_bad_sender_or_receiver_is_rejected(value: Any, field: str, index: int) -> None:
    for items in (HEARTBEAT_ITEMS, DATA_ITEMS, SEGMENT_ITEMS, HELLO_ITEMS):
        with pytest.raises(WireError, match=field):
            decode(replaced(items, index, value))


@pytest.mark.parametrize("value", BAD_UINTS)
@pytest.mark.parametrize(
    ("items", "index", "name"),
    [
        (HEARTBEAT_ITEMS, 3, "incarnation"),
        (DATA_ITEMS, 5, "sequence number"),
        (SEGMENT_ITEMS, 5, "base"),
        (HELLO_ITEMS, 5, "peer incarnation"),
        (HELLO_ITEMS, 6, "resume point"),
        (HELLO_ITEMS, 7, "window"),
    ],
    ids=[
        "incarnation",
        "data-seq",
        "segment-base",
        "hello-peer-incarnation",
        "hello-received",
        "hello-window",
    ],
)
def test_counters_outside_uint64_or_of_wrong_type_are_rejected(
    value: Any, items: list[Any], index: int, name: str
) -> None:
    with pytest.raises(WireError, match=name):
        decode(replaced(items, index, value))


@pytest.mark.parametrize("value", BAD_UINTS)
@pytest.mark.parametrize(
    ("index", "name"), [(0, "ack incarnation"), (1, "cumulative ack"), (3, "window")]
)
def test_bad_ack_counters_are_rejected(value: Any, index: int, name: str) -> None:
    ack: list[Any] = [3, 0, [], 8]
    ack[index] = value
    with pytest.raises(WireError, match=name):
        decode(with_ack(ack))


def test_segment_base_zero_is_rejected() -> None:
    with pytest.raises(WireError, match="base starts at 1"):
        decode(replaced(SEGMENT_ITEMS, 5, 0))


def test_segment_message_seq_zero_is_rejected() -> None:
    with pytest.raises(WireError, match="start at 1"):
        decode(replaced(SEGMENT_ITEMS, 7, [[0, {}, None]]))


def test_data_seq_zero_is_rejected() -> None:
    with pytest.raises(WireError, match="start at 1"):
        decode(replaced(DATA_ITEMS, 5, 0))


@pytest.mark.parametrize("value", ["a b", 'a"', "a\\b", "\t"])
def test_ids_that_cannot_be_process_ids_are_rejected(value: str) -> None:
    with pytest.raises(WireError):
        decode(replaced(HEARTBEAT_ITEMS, 2, value))


@pytest.mark.parametrize(
    "clock",
    [
        [],
        None,
        "a:1",
        [["a", 1]],
        {"a": -1},
        {"a": 1.0},
        {"a": 2.0**64},
        {"a": True},
        {"a": "1"},
        {"a": None},
        {"": 1},
        {"a b": 1},
        {'a"': 1},
        {1: 1},
        {b"a": 1},
        {None: 1},
    ],
    ids=repr,
)
def test_bad_clock_is_rejected_in_data_and_segments(clock: Any) -> None:
    with pytest.raises(WireError, match="clock"):
        decode(replaced(DATA_ITEMS, 6, clock))
    if clock == []:
        return  # in a segment, an empty clock delta: "as the previous message's"
    with pytest.raises(WireError, match="clock"):
        decode(replaced(SEGMENT_ITEMS, 7, [[1, clock, None]]))


@pytest.mark.parametrize(
    ("ack", "match"),
    [
        (1, "ack must be nil or a 4- to 6-item array"),
        ("ack", "ack must be nil or a 4- to 6-item array"),
        ({}, "ack must be nil or a 4- to 6-item array"),
        ([], "ack must be nil or a 4- to 6-item array"),
        ([3, 0, []], "ack must be nil or a 4- to 6-item array"),
        ([3, 0, [], 8, []], "refusals must be a non-empty even-length array"),
        ([3, 0, [], 8, [], 9], "refusals must be a non-empty even-length array"),
        ([3, 0, [], 8, 9, 9], "refusals must be a non-empty"),
        ([3, 0, [], 8, -1], "byte window"),
        ([3, 0, [], 8, [1]], "refusals must be a non-empty even-length array"),
        ([3, 0, [], 8, [0, "x"]], "a refusal is a sequence number"),
        ([3, 0, [], 8, [1, 2]], "a refusal is a sequence number"),
        ([3, 0, [], 8, [1, "x" * 201]], "a refusal is a sequence number"),
        ([3, 0, None, 8], "selective acks"),
        ([3, 0, {}, 8], "selective acks"),
        ([3, 0, [2], 8], "selective acks"),
        ([3, 0, [2, 3, 5], 8], "selective acks"),
        ([3, 0, ["2", 3], 8], "sack start"),
        ([3, 0, [2, -3], 8], "sack end"),
        ([3, 0, [2, 3.0], 8], "sack end"),
    ],
    ids=repr,
)
def test_malformed_ack_is_rejected(ack: Any, match: str) -> None:
    with pytest.raises(WireError, match=match):
        decode(with_ack(ack))


@pytest.mark.parametrize(
    "sacks",
    [
        [3, 4],  # below the cumulative ack (5)
        [5, 7],  # overlaps the cumulative ack
        [6, 7],  # adjacent to the cumulative ack: 6 would have advanced it
        [9, 8],  # first > last
        [8, 9, 9, 12],  # overlapping ranges
        [8, 9, 10, 12],  # adjacent ranges (should have been one)
        [12, 14, 8, 9],  # not ascending
        [8, 9, 8, 9],  # repeated
        [0, 0],
    ],
    ids=repr,
)
def test_sacks_not_ascending_disjoint_and_above_the_cumulative_ack_are_rejected(
    sacks: list[int],
) -> None:
    with pytest.raises(WireError, match="ascending, disjoint and above the ack"):
        decode(with_ack([3, 5, sacks, 8]))


@pytest.mark.parametrize("sacks", [[], [7, 7], [7, 9, 11, 11], [100, 200, 300, MAX_COUNTER]])
def test_well_formed_sacks_are_accepted(sacks: list[int]) -> None:
    segment = decode(with_ack([3, 5, sacks, 8]))
    assert isinstance(segment, Segment)
    assert segment.ack == Ack(3, 5, tuple(zip(sacks[::2], sacks[1::2], strict=True)), 8)


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        (None, "segment messages"),
        ({}, "segment messages"),
        ("m", "segment messages"),
        ([None], "3-item array"),
        ([[1, {}]], "3-item array"),
        ([[1, {}, None, None]], "fragment's chunk"),
        ([[1, {}, b"x", None, None]], "3-item array"),
        ([{"seq": 1}], "3-item array"),
        ([[-1, {}, None]], "sequence number"),
        ([["1", {}, None]], "sequence number"),
        ([[1, {}, None], [2, [1], None]], "clock"),
    ],
    ids=repr,
)
def test_malformed_segment_messages_are_rejected(messages: Any, match: str) -> None:
    with pytest.raises(WireError, match=match):
        decode(replaced(SEGMENT_ITEMS, 7, messages))


# -- strings must be valid UTF-8 -------------------------------------------------------------------

MARK = "QQQ"
BAD_UTF8 = [b"\xff\xfe\xfd", b"\xc0\x80Q", b"\xed\xa0\x80", b"Q\xe2\x82"]  # all three bytes long


def _corrupt(items: list[Any], bad: bytes) -> bytes:
    data = raw(*items)
    assert data.count(b"\xa3" + MARK.encode()) == 1
    return data.replace(b"\xa3" + MARK.encode(), b"\xa3" + bad)


@pytest.mark.parametrize("bad", BAD_UTF8, ids=repr)
@pytest.mark.parametrize(
    "items",
    [
        [1, 4, MARK, 7, "b"],
        [1, 4, "a", 7, MARK],
        [1, 1, "a", 7, "b", 1, {MARK: 1}, None],
        [1, 1, "a", 7, "b", 1, {"a": 1}, MARK],
        [1, 1, "a", 7, "b", 1, {"a": 1}, {MARK: 1}],
        [1, 1, "a", 7, "b", 1, {"a": 1}, [[[MARK]]]],
        [1, 2, "a", 7, "b", 1, None, [[1, {MARK: 2}, None]]],
        [1, 2, "a", 7, "b", 1, None, [[1, {}, MARK]]],
    ],
    ids=["sender", "receiver", "clock-key", "payload", "payload-key", "nested", "seg-clock", "seg"],
)
def test_invalid_utf8_in_any_string_is_rejected(items: list[Any], bad: bytes) -> None:
    decode(raw(*items))
    with pytest.raises(WireError):
        decode(_corrupt(items, bad))


# -- the worked examples of docs/wire.md -----------------------------------------------------------

ALICE, BOB = 1_700_000_000_000_000, 1_700_000_000_000_123
EXAMPLE_CLOCKS = [
    ("ping", VectorClock({"alice": 2, "bob": 1})),
    ("again", VectorClock({"alice": 3, "bob": 1})),
    ("relay", VectorClock({"alice": 4, "carol": 5})),
]
"""docs/wire.md 7.4: alice's first three messages to bob, with compressed clocks."""


def compressed_example() -> PeerSession:
    """alice's session to bob holding the three messages of docs/wire.md 7.4."""
    session = PeerSession("alice", ALICE, "bob", clock_encoding="diff")
    for payload, clock in EXAMPLE_CLOCKS:
        session.send(clock, payload, 0.0)
    return session


DOC_EXAMPLES = {
    "data": (
        encode_data("alice", ALICE, "bob", 1, VectorClock({"alice": 2, "bob": 1}), "ping"),
        "98 01 01 a5 61 6c 69 63 65 cf 00 06 0a 24 18 1e 40 00 a3 62 6f 62 01 82 a5 61 6c 69 63"
        " 65 02 a3 62 6f 62 01 a4 70 69 6e 67",
    ),
    "segment": (
        encode_segment_packed(
            "bob",
            BOB,
            "alice",
            1,
            Ack(ALICE, 1, ((3, 4),), 64),
            [pack_message(1, VectorClock({"alice": 2, "bob": 2}), "pong")],
        ),
        "98 01 02 a3 62 6f 62 cf 00 06 0a 24 18 1e 40 7b a5 61 6c 69 63 65 01 94 cf 00 06 0a 24"
        " 18 1e 40 00 01 92 03 04 40 91 93 01 82 a5 61 6c 69 63 65 02 a3 62 6f 62 02 a4 70 6f 6e"
        " 67",
    ),
    "hello": (
        encode_hello("bob", BOB, "alice", ALICE, 1, 64),
        "98 01 03 a3 62 6f 62 cf 00 06 0a 24 18 1e 40 7b a5 61 6c 69 63 65 cf 00 06 0a 24 18 1e"
        " 40 00 01 40",
    ),
    "heartbeat": (
        encode_heartbeat("bob", BOB, "alice"),
        "95 01 04 a3 62 6f 62 cf 00 06 0a 24 18 1e 40 7b a5 61 6c 69 63 65",
    ),
    "compressed clocks": (
        b"".join(compressed_example().datagrams_to_send(0.0)),
        "98 01 02 a5 61 6c 69 63 65 cf 00 06 0a 24 18 1e 40 00 a3 62 6f 62 01 c0 93 93 01 82 a5"
        " 61 6c 69 63 65 02 a3 62 6f 62 01 a4 70 69 6e 67 93 02 92 a5 61 6c 69 63 65 03 a5 61 67"
        " 61 69 6e 93 03 96 a5 61 6c 69 63 65 04 a5 63 61 72 6f 6c 05 a3 62 6f 62 00 a5 72 65 6c"
        " 61 79",
    ),
    "compressed clock resent whole": (
        compressed_example().packed(2),
        "93 02 82 a5 61 6c 69 63 65 03 a3 62 6f 62 01 a5 61 67 61 69 6e",
    ),
}


@pytest.mark.parametrize("name", DOC_EXAMPLES)
def test_worked_examples_in_the_spec_match_the_encoder(name: str) -> None:
    encoded, hex_text = DOC_EXAMPLES[name]
    assert encoded == bytes.fromhex(hex_text)
    if encoded[0] != 0x93:  # a whole envelope (not one message of a segment)
        assert encode(decode(encoded)) == encoded
    spec = Path(__file__).parents[2] / "docs" / "wire.md"
    assert hex_text in " ".join(spec.read_text(encoding="utf-8").split()), f"{name} not in {spec}"


def test_the_compressed_clocks_example_rebuilds_to_the_stamped_clocks() -> None:
    """docs/wire.md 7.4, received: bob gets back exactly the three clocks alice stamped."""
    bob = PeerSession("bob", BOB, "alice")
    for datagram in compressed_example().datagrams_to_send(0.0):
        segment = decode(datagram)
        assert isinstance(segment, Segment)
        bob.receive_segment(segment, 0.0)
    assert [(m.payload, m.clock) for m in bob.pop_deliveries(10)] == EXAMPLE_CLOCKS


# -- one decoder per link: no state shared across decoders, no order dependence ------------------

BAD_IDS = ["", "a b", 'q"', "back\\slash", "tab\t", "x" * 256, "\u2028", 1, None, b"a"]
GOOD_IDS = ["a", "b", "node-7", "zo\u00eb", "x" * 255]
ID_POOL = st.sampled_from(BAD_IDS + GOOD_IDS)


@st.composite
def envelopes_with_any_ids(draw: st.DrawFn) -> bytes:
    """DATA or SEGMENT bytes whose sender, receiver and clock ids may be bad."""
    sender, receiver = draw(ID_POOL), draw(ID_POOL)
    keys = draw(st.lists(ID_POOL, max_size=4))
    clock = {key: 1 for key in keys if not isinstance(key, bytes | type(None))}
    if draw(st.booleans()):
        return raw(1, DATA, sender, 7, receiver, 1, clock, None)
    return raw(1, SEGMENT, sender, 7, receiver, 1, None, [[1, clock, None]])


def outcome(decode_one: Any, data: bytes) -> Any:
    try:
        return decode_one(data)
    except WireError as exc:
        return f"WireError: {exc}"


@PROPERTY
@given(st.lists(envelopes_with_any_ids(), min_size=1, max_size=12))
def test_a_decoder_decides_each_envelope_as_a_fresh_one_would(datagrams: list[bytes]) -> None:
    """What a decoder has seen never changes what it accepts or the error it gives."""
    seasoned = Decoder()
    for data in datagrams + datagrams[::-1]:
        assert outcome(seasoned.decode, data) == outcome(Decoder().decode, data), data.hex()


@pytest.mark.parametrize("bad", [pid for pid in BAD_IDS if isinstance(pid, str)])
@pytest.mark.parametrize("where", ["sender", "receiver", "clock", "segment clock"])
def test_an_id_refused_once_is_refused_after_good_traffic_too(bad: str, where: str) -> None:
    good = [raw(1, DATA, "a", 7, "b", 1, {pid: 1 for pid in GOOD_IDS}, None)]
    bad_data = {
        "sender": replaced(DATA_ITEMS, 2, bad),
        "receiver": replaced(DATA_ITEMS, 4, bad),
        "clock": replaced(DATA_ITEMS, 6, {"a": 1, bad: 2}),
        "segment clock": replaced(SEGMENT_ITEMS, 7, [[1, {"a": 1}, 0], [2, {bad: 1}, 0]]),
    }[where]
    decoder = Decoder()
    for data in good:
        decoder.decode(data)
    fresh = outcome(Decoder().decode, bad_data)
    assert fresh.startswith("WireError"), fresh
    assert outcome(decoder.decode, bad_data) == fresh
    assert outcome(decoder.decode, bad_data) == fresh


def test_decoders_share_nothing() -> None:
    first, second = Decoder(), Decoder()
    first.remember("a", "b", "c")
    first.decode(raw(1, DATA, "a", 7, "b", 1, {"c": 1}, None))
    assert first._known == {"a", "b", "c"}
    assert second._known == set()


def test_a_decoder_learns_nothing_from_its_input() -> None:
    """What an attacker sends never grows a decoder: only its owner's remember() does."""
    decoder = Decoder()
    decoder.remember("a", "b")
    for i in range(50):
        decoder.decode(raw(1, DATA, "a", 7, "b", 1, {f"p{i}-{j}": 1 for j in range(100)}, None))
    assert decoder._known == {"a", "b"}
    with pytest.raises(WireError, match="white space"):
        decoder.decode(replaced(DATA_ITEMS, 6, {"p0-0": 1, "a b": 1}))
    with pytest.raises(ClockError):
        decoder.remember("a b")


# -- encoding: the shared packer is never re-entered ----------------------------------------------


class ItemsThatSend(dict[str, Any]):
    """A payload whose ``items()`` encodes another message while it is being packed."""

    def __init__(self, **entries: Any) -> None:
        super().__init__(**entries)
        self.inner: list[bytes] = []

    def items(self) -> Any:
        clock = VectorClock({"a": 3})
        self.inner.append(pack_message(9, clock, "inner"))
        self.inner.append(encode_data("a", 1, "b", 9, clock, b"inner"))
        self.inner.append(encode_data_prefixed(data_prefix("a", 1, "b"), 9, clock, 9))
        return super().items()


@pytest.mark.parametrize("encoder", ["pack_message", "encode_data", "encode_data_prefixed"])
def test_an_encoding_started_while_another_packs_leaves_both_intact(encoder: str) -> None:
    payload = ItemsThatSend(k="v")
    clock = VectorClock({"a": 2, "b": 1})
    if encoder == "pack_message":
        outer = decode(
            encode_segment_packed("a", 1, "b", 1, None, [pack_message(5, clock, payload)])
        )
    elif encoder == "encode_data":
        outer = decode(encode_data("a", 1, "b", 5, clock, payload))
    else:
        outer = decode(encode_data_prefixed(data_prefix("a", 1, "b"), 5, clock, payload))
    message = outer.messages[0] if isinstance(outer, Segment) else outer
    assert (message.seq, message.clock, message.payload) == (5, clock, {"k": "v"})
    packed, data, prefixed = payload.inner[-3:]
    inner = decode(encode_segment_packed("a", 1, "b", 1, None, [packed]))
    assert isinstance(inner, Segment)
    assert inner.messages == (Message(9, VectorClock({"a": 3}), "inner"),)
    assert decode(data) == Data("a", 1, "b", 9, VectorClock({"a": 3}), b"inner")
    assert decode(prefixed) == Data("a", 1, "b", 9, VectorClock({"a": 3}), 9)
