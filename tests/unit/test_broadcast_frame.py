"""Specification of the broadcast frame: what relays carry, and a strict decoder."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.broadcast.frame import (
    MARK,
    SEND,
    BMessage,
    Kind,
    decode,
    encode,
    flat_deps,
    is_frame,
)
from netclock.clock import VectorClock
from netclock.errors import UsageError, WireError


@pytest.mark.parametrize(
    ("kind", "extra", "wire_extra"),
    [
        (Kind.RELIABLE, None, None),
        (Kind.CAUSAL, (("a", 1, 2), ("b", 3, 1)), ["a", 1, 2, "b", 3, 1]),
        (Kind.BYZANTINE, SEND, SEND),
    ],
)
def test_a_frame_carries_the_origins_id_and_decodes_to_the_same_message(
    kind: Kind, extra: Any, wire_extra: Any
) -> None:
    clock = VectorClock({"a": 4})
    msg = BMessage(kind, "a", 7, 3, clock, {"x": [1, 2]}, extra)
    frame = encode(msg._replace(extra=flat_deps(extra) if kind is Kind.CAUSAL else extra))
    assert frame[:5] == [MARK, list(Kind).index(kind) + 1, "a", 7, 3]
    assert frame[5] == wire_extra
    assert is_frame(frame)
    assert decode(clock, frame) == msg


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(json_like, min_size=0, max_size=8))
def test_garbage_after_the_mark_is_a_wire_error_never_a_crash(rest: list[Any]) -> None:
    try:
        msg = decode(VectorClock({"a": 1}), [MARK, *rest])
    except WireError:
        return
    assert isinstance(msg, BMessage)


def test_an_unknown_kind_name_says_which_kinds_there_are() -> None:
    with pytest.raises(UsageError, match="best-effort, reliable, uniform, fifo, causal"):
        Kind.parse("gossip")
