"""Specification of GoVector compatibility: the wire codec and GoVector's logging rules.

The hand-built messages below are written byte by byte from the msgpack spec, in the
shape GoVector's ``VClockPayload.EncodeMsgpack`` gives them: str pid, the payload
(``[]byte`` is bin), then a map of str to the smallest unsigned integer form.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import MAX_COUNTER, SHIVIZ_RESERVED_IDS, VectorClock
from netclock.errors import ConfigError, UsageError, WireError
from netclock.observe.govector import GoVectorLogger
from netclock.observe.shiviz import SHIVIZ_REGEX, merge_logs, parse_log, validate_shiviz
from netclock.wire.envelope import Limits
from netclock.wire.govector import decode_message, encode_message

PROPERTY = settings(max_examples=200, deadline=None, print_blob=True)


def fixstr(text: str) -> bytes:
    raw = text.encode()
    assert len(raw) < 32
    return bytes([0xA0 | len(raw)]) + raw


def str8(text: str) -> bytes:
    raw = text.encode()
    return b"\xd9" + bytes([len(raw)]) + raw


def bin8(data: bytes) -> bytes:
    return b"\xc4" + bytes([len(data)]) + data


def course_run(client: GoVectorLogger, server: GoVectorLogger) -> list[VectorClock]:
    """The course's ping-pong; returns the clocks after each step."""
    seen = [client.clock, server.clock]
    ping = client.prepare_send("Sending message to server", b"ping")
    seen.append(client.clock)
    assert server.unpack_receive("Received message from client", ping) == b"ping"
    seen.append(server.clock)
    server.log_local_event("Processing the request")
    seen.append(server.clock)
    pong = server.prepare_send("Replying to client", b"pong")
    seen.append(server.clock)
    assert client.unpack_receive("Received reply from server", pong) == b"pong"
    seen.append(client.clock)
    client.log_local_event("Done")
    seen.append(client.clock)
    return seen


# -- GoVector's rules ----------------------------------------------------------------------------


def test_course_example_clocks_exactly_without_a_log_as_govector_without_one() -> None:
    """GoVector ticks to 1 for "Initialization Complete" only when it logs: without a log
    the first event is 1."""
    clocks = course_run(GoVectorLogger("client"), GoVectorLogger("server"))
    assert [c.to_dict() for c in clocks] == [
        {},
        {},
        {"client": 1},
        {"client": 1, "server": 1},
        {"client": 1, "server": 2},
        {"client": 1, "server": 3},
        {"client": 2, "server": 3},
        {"client": 3, "server": 3},
    ]


def test_course_example_clocks_exactly_with_a_log(tmp_path: Path) -> None:
    clocks = course_run(
        GoVectorLogger("client", tmp_path / "client.log"),
        GoVectorLogger("server", tmp_path / "server.log"),
    )
    assert [c.to_dict() for c in clocks] == [
        {"client": 1},
        {"server": 1},
        {"client": 2},
        {"client": 2, "server": 2},
        {"client": 2, "server": 3},
        {"client": 2, "server": 4},
        {"client": 3, "server": 4},
        {"client": 4, "server": 4},
    ]


def test_course_example_logs_are_govector_format_and_valid_for_shiviz(tmp_path: Path) -> None:
    with (
        GoVectorLogger("client", tmp_path / "client.log") as client,
        GoVectorLogger("server", tmp_path / "server.log") as server,
    ):
        course_run(client, server)
    assert (tmp_path / "client.log").read_text() == (
        'client {"client":1}\nInitialization Complete\n'
        'client {"client":2}\nSending message to server\n'
        'client {"client":3, "server":4}\nReceived reply from server\n'
        'client {"client":4, "server":4}\nDone\n'
    )
    assert (tmp_path / "server.log").read_text() == (
        'server {"server":1}\nInitialization Complete\n'
        'server {"client":2, "server":2}\nReceived message from client\n'
        'server {"client":2, "server":3}\nProcessing the request\n'
        'server {"client":2, "server":4}\nReplying to client\n'
    )
    both = parse_log(tmp_path / "client.log") + parse_log(tmp_path / "server.log")
    assert validate_shiviz(both) == []

    merged = tmp_path / "merged.log"
    assert merge_logs([tmp_path / "client.log", tmp_path / "server.log"], merged) == []
    assert merged.read_text().startswith(SHIVIZ_REGEX + "\n\n")
    assert validate_shiviz(parse_log(merged)) == []
    assert len(parse_log(merged)) == 8


def test_log_reaches_file_after_each_event_by_default(tmp_path: Path) -> None:
    logger = GoVectorLogger("a", tmp_path / "a.log")
    assert (tmp_path / "a.log").read_text() == 'a {"a":1}\nInitialization Complete\n'
    logger.log_local_event("x")
    assert len(parse_log(tmp_path / "a.log")) == 2
    logger.close()


def test_flush_every_batches_file_writes_and_close_writes_the_rest(tmp_path: Path) -> None:
    logger = GoVectorLogger("a", tmp_path / "a.log", flush_every=3)
    logger.log_local_event("x")
    assert (tmp_path / "a.log").read_text() == ""
    logger.log_local_event("y")
    assert len(parse_log(tmp_path / "a.log")) == 3
    logger.log_local_event("z")
    logger.close()
    logger.close()
    assert [e.event for e in parse_log(tmp_path / "a.log")][-1] == "z"


def test_unwritable_log_path_is_config_error_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write"):
        GoVectorLogger("a", tmp_path / "missing" / "a.log")


@pytest.mark.parametrize("pid", ["", "a b", 'a"b'])
def test_bad_pid_is_config_error(pid: str) -> None:
    with pytest.raises(ConfigError, match="process id"):
        GoVectorLogger(pid)


def test_a_claim_from_the_future_about_the_receiver_is_never_merged(tmp_path: Path) -> None:
    logger = GoVectorLogger("a", tmp_path / "a.log")
    data = encode_message("b", b"x", VectorClock({"a": 2**64 - 1, "b": 1}))
    assert logger.unpack_receive("rx", data) == b"x"
    assert logger.clock == VectorClock({"a": 2, "b": 1})
    logger.close()
    assert len(parse_log(tmp_path / "a.log")) == 2


def test_bad_bytes_raise_wire_error_and_change_nothing() -> None:
    logger = GoVectorLogger("a")
    with pytest.raises(WireError):
        logger.unpack_receive("rx", b"\xc1")
    assert logger.clock == VectorClock()


def test_unencodable_payload_is_usage_error_and_not_an_event() -> None:
    logger = GoVectorLogger("a")
    with pytest.raises(UsageError, match="cannot encode"):
        logger.prepare_send("tx", object())
    assert logger.clock == VectorClock()


def test_payload_comes_back_as_the_sender_encoded_it() -> None:
    payload: Any = {"op": "put", "key": b"\x00\xff", "values": [1, -2, 3.5, None, True, "é"]}
    sender, receiver = GoVectorLogger("s"), GoVectorLogger("r")
    assert receiver.unpack_receive("rx", sender.prepare_send("tx", payload)) == payload


def test_closed_logger_refuses_events() -> None:
    logger = GoVectorLogger("a")
    logger.close()
    with pytest.raises(UsageError, match="closed"):
        logger.log_local_event("x")


# -- the wire, as Go writes it --------------------------------------------------------------------


def test_decodes_go_bytes_with_fixstr_bin8_fixmap_and_mixed_uint_widths() -> None:
    data = (
        fixstr("client")
        + bin8(b"ping")
        + b"\x83"
        + fixstr("client")
        + b"\x07"  # positive fixint
        + fixstr("server")
        + b"\xcd\x01\x00"  # uint16 256
        + fixstr("z")
        + b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff"  # uint64 max
    )
    assert decode_message(data) == (
        "client",
        b"ping",
        VectorClock({"client": 7, "server": 256, "z": MAX_COUNTER}),
    )


def test_decodes_go_bytes_with_str8_pid_map16_and_uint8_uint32_and_signed_ints() -> None:
    pid = "node-with-a-rather-long-name-0123456789"
    data = (
        str8(pid)
        + bin8(b"")
        + b"\xde\x00\x05"  # map16 of 5 entries
        + str8(pid)
        + b"\xcc\xc8"  # uint8 200
        + fixstr("b")
        + b"\xce\x00\x01\x00\x00"  # uint32 65536
        + fixstr("c")
        + b"\xd0\x05"  # int8 5
        + fixstr("d")
        + b"\xd3\x00\x00\x00\x00\x00\x00\x00\x09"  # int64 9
        + fixstr("e")
        + b"\xcf\x00\x00\x00\x00\x00\x00\x00\x03"  # uint64 3, not the shortest form
    )
    sender, payload, clock = decode_message(data)
    assert (sender, payload) == (pid, b"")
    assert clock.to_dict() == {pid: 200, "b": 65536, "c": 5, "d": 9, "e": 3}


def test_encoding_is_byte_for_byte_what_go_writes() -> None:
    data = encode_message("C", b"hi", VectorClock({"C": 2}))
    assert data == fixstr("C") + bin8(b"hi") + b"\x81" + fixstr("C") + b"\x02"


def test_encoding_reads_back_with_a_plain_msgpack_unpacker_as_three_values() -> None:
    clock = VectorClock({"client": 2, "server": 300, "x": 2**40})
    unpacker = msgpack.Unpacker(io.BytesIO(encode_message("client", b"\x00ping", clock)))
    assert list(unpacker) == [
        "client",
        b"\x00ping",
        {"client": 2, "server": 300, "x": 2**40},
    ]


@PROPERTY
@given(
    pid=st.text(
        st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='"\\'), min_size=1
    ).filter(lambda pid: pid not in SHIVIZ_RESERVED_IDS),
    payload=st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.binary() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=10,
    ),
    entries=st.dictionaries(st.sampled_from("abcdef"), st.integers(1, MAX_COUNTER), max_size=6),
)
def test_encode_then_decode_is_identity(pid: str, payload: Any, entries: dict[str, int]) -> None:
    clock = VectorClock(entries)
    assert decode_message(encode_message(pid, payload, clock)) == (pid, payload, clock)


# -- strict and bounded decoding ----------------------------------------------------------------

VALID = encode_message("client", b"ping", VectorClock({"client": 2, "server": 4}))


@pytest.mark.parametrize("cut", range(len(VALID)))
def test_every_truncation_is_wire_error(cut: int) -> None:
    with pytest.raises(WireError):
        decode_message(VALID[:cut])


@PROPERTY
@given(data=st.binary(max_size=64))
def test_random_bytes_give_only_wire_error(data: bytes) -> None:
    with contextlib.suppress(WireError):
        decode_message(data)


@PROPERTY
@given(position=st.integers(0, len(VALID) - 1), value=st.integers(0, 255))
def test_corrupted_bytes_give_only_wire_error(position: int, value: int) -> None:
    data = bytearray(VALID)
    data[position] = value
    with contextlib.suppress(WireError):
        decode_message(bytes(data))


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (VALID + b"\x00", "trailing"),
        (fixstr("a") + b"\xc0" + b"\x81" + fixstr("a") + b"\xff", "'a' is -1, outside"),
        (fixstr("a") + b"\xc0" + b"\x81" + fixstr("a") + b"\xc3", "'a' must be an int, not bool"),
        (fixstr("a") + b"\xc0" + b"\x81" + fixstr("a") + b"\xcb" + bytes(8), "not float"),
        (fixstr("a") + b"\xc0" + b"\x81\x01\x01", "bad clock: process id must be a str"),
        (fixstr("a") + b"\xc0" + b"\x91\x01", "clock is a mapping .* not list"),
        (b"\x01" + b"\xc0" + b"\x80", "process id must be a str"),
        (fixstr("a b") + b"\xc0" + b"\x80", "white space"),
        (bin8(b"a") + b"\xc0" + b"\x80", "process id must be a str"),
    ],
)
def test_malformed_messages_are_wire_errors_that_say_why(data: bytes, what: str) -> None:
    with pytest.raises(WireError, match=what):
        decode_message(data)


def test_limits_bound_size_and_clock_entries() -> None:
    clock = VectorClock({f"p{i}": 1 for i in range(10)})
    data = encode_message("p0", b"x" * 100, clock)
    with pytest.raises(WireError, match="exceeds the limit"):
        decode_message(data, Limits(max_bytes=len(data) - 1))
    with pytest.raises(WireError, match="more than the limit of 9"):
        decode_message(data, Limits(max_clock_entries=9))
    assert decode_message(data, Limits(max_bytes=len(data), max_clock_entries=10))[2] == clock


def test_huge_declared_lengths_are_refused_without_allocating() -> None:
    data = fixstr("a") + b"\xc6\xff\xff\xff\xff" + b"x"  # bin32 of 4 GiB
    with pytest.raises(WireError):
        decode_message(data)
