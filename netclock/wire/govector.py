"""GoVector's vocabulary and wire format, so Python processes can talk to Go ones.

GoVector (``govec.PrepareSend``) encodes a message as three msgpack values back to
back, with no array around them::

    sender id (str) · payload (as the program encoded it; []byte is bin) · clock (map str -> uint)

Go's encoder writes each counter in the smallest unsigned form (positive fixint, uint8
... uint64); :func:`decode_message` accepts any non-negative integer below 2**64 in any
integer form. The logger that keeps GoVector's clock rules is
:class:`netclock.observe.govector.GoVectorLogger`.
"""

from __future__ import annotations

import logging
from typing import Any

import msgpack

from netclock.clock import VectorClock, check_pid
from netclock.errors import ClockError, UsageError, WireError
from netclock.wire.envelope import DEFAULT_LIMITS, Limits

__all__ = ["decode_message", "encode_message"]

log = logging.getLogger(__name__)


def encode_message(pid: str, payload: Any, clock: VectorClock) -> bytes:
    """GoVector's encoding of one message; raises :class:`UsageError` if ``payload`` cannot be.

    Clock entries are written in sorted order (Go writes them in map order, which is
    random; decoders must not care).
    """
    try:
        check_pid(pid)
        return b"".join(
            msgpack.packb(value, use_bin_type=True) for value in (pid, payload, dict(clock.items()))
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise UsageError(f"cannot encode a GoVector message from {pid!r}: {exc}") from exc


def decode_message(
    data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS
) -> tuple[str, Any, VectorClock]:
    """``(sender, payload, clock)`` from GoVector bytes; raises :class:`WireError` and nothing else.

    The payload comes back as msgpack decoded it (bin is ``bytes``, str is ``str``).
    Every call uses a fresh unpacker, so one bad message cannot poison the next.
    """
    size = len(data)
    if size > limits.max_bytes:
        raise WireError(f"message of {size} bytes exceeds the limit of {limits.max_bytes}")
    unpacker = msgpack.Unpacker(
        raw=False,
        strict_map_key=False,
        use_list=True,
        max_buffer_size=max(size, 1),
        max_str_len=size,
        max_bin_len=size,
        max_array_len=size,
        max_map_len=size,
        max_ext_len=size,
    )
    try:
        unpacker.feed(data)
        pid = unpacker.unpack()
        payload = unpacker.unpack()
        raw_clock = unpacker.unpack()
        end = unpacker.tell()
    except msgpack.OutOfData:
        raise WireError("truncated GoVector message: it needs sender, payload and clock") from None
    except Exception as exc:  # msgpack raises a zoo of types; all mean "not msgpack"
        raise WireError(f"not a GoVector message: {type(exc).__name__}: {exc}") from None
    if end != size:
        raise WireError(f"{size - end} trailing byte(s) after the GoVector message")
    try:
        check_pid(pid)
    except ClockError as exc:
        raise WireError(f"bad sender id: {exc}") from None
    try:
        clock = VectorClock.from_wire(raw_clock, limits.max_clock_entries)
    except ClockError as exc:
        raise WireError(f"bad clock: {exc}") from None
    return pid, payload, clock
