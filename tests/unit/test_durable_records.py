"""The record format: recovery keeps exactly the complete valid prefix and reports the rest.

Hypothesis prints the falsifying records, cut or flipped bit when a property fails.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.durable.records import (
    HEADER,
    MAGIC,
    MAX_RECORD,
    NOT_A_LOG,
    encode_record,
    encode_records,
    scan,
)

PROPS = settings(max_examples=200, deadline=None, print_blob=True)

payload_lists = st.lists(st.binary(max_size=40), max_size=8)


def _log(payloads: list[bytes]) -> bytes:
    return MAGIC + encode_records(payloads)


def _ends(payloads: list[bytes]) -> list[int]:
    """The offset just after each record."""
    ends, offset = [], len(MAGIC)
    for payload in payloads:
        offset += HEADER.size + len(payload)
        ends.append(offset)
    return ends


@PROPS
@given(payload_lists)
def test_an_intact_log_gives_back_every_record(payloads: list[bytes]) -> None:
    data = _log(payloads)
    found = scan(data)
    assert found.payloads == payloads
    assert found.end == len(data)
    assert found.damage is None


@PROPS
@given(payload_lists, st.data())
def test_a_log_cut_at_any_byte_keeps_the_complete_records_and_reports_the_rest(
    payloads: list[bytes], data: st.DataObject
) -> None:
    whole = _log(payloads)
    cut = data.draw(st.integers(0, len(whole)), label="cut")
    found = scan(whole[:cut])
    complete = [end for end in _ends(payloads) if end <= cut]
    assert found.payloads == payloads[: len(complete)]
    kept = complete[-1] if complete else (len(MAGIC) if cut >= len(MAGIC) else 0)
    assert found.end == kept
    if kept == cut:
        assert found.damage is None
    else:
        assert found.damage is not None
        assert (found.damage.offset, found.damage.dropped) == (kept, cut - kept)
        assert "torn" in found.damage.reason


@PROPS
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=8), st.data())
def test_a_bit_flipped_anywhere_drops_its_record_and_everything_after(
    payloads: list[bytes], data: st.DataObject
) -> None:
    whole = bytearray(_log(payloads))
    at = data.draw(st.integers(0, len(whole) - 1), label="byte")
    whole[at] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    found = scan(bytes(whole))
    before = [end for end in _ends(payloads) if end <= at]
    assert found.payloads == payloads[: len(before)]
    assert found.damage is not None
    if at < len(MAGIC):
        assert (found.end, found.damage.reason) == (0, NOT_A_LOG)
    else:
        assert found.end == (before[-1] if before else len(MAGIC))
    assert found.damage.offset + found.damage.dropped == len(whole)


def test_an_empty_file_is_an_empty_log() -> None:
    assert scan(b"") == ([], 0, None)


def test_a_length_beyond_the_limit_is_corruption_not_a_wait_for_more() -> None:
    bogus = HEADER.pack(MAX_RECORD + 1, 0)
    found = scan(MAGIC + encode_record(b"ok") + bogus)
    assert found.payloads == [b"ok"]
    assert found.damage is not None
    assert "impossible record length" in found.damage.reason


def test_a_record_too_large_to_write_is_refused() -> None:
    with pytest.raises(ValueError, match="at most"):
        encode_record(bytes(MAX_RECORD + 1))
