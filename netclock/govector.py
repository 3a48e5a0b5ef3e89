"""GoVector's vocabulary and wire format, so Python processes can talk to Go ones.

GoVector (``govec.PrepareSend``) encodes a message as three msgpack values back to
back, with no array around them::

    sender id (str) · payload (as the program encoded it; []byte is bin) · clock (map str -> uint)

Go's encoder writes each counter in the smallest unsigned form (positive fixint, uint8
... uint64); :func:`decode_message` accepts any non-negative integer below 2**64 in any
integer form. :class:`GoVectorLogger` keeps GoVector's clock rules and writes its
two-line log (see :mod:`netclock.shiviz`).
"""

from __future__ import annotations

import logging
import os
from types import TracebackType
from typing import Any

import msgpack

from netclock.clock import MAX_COUNTER, VectorClock, check_pid
from netclock.errors import ClockError, ConfigError, ProtocolViolation, UsageError, WireError
from netclock.shiviz import EventLogWriter
from netclock.wire import DEFAULT_LIMITS, Limits

__all__ = ["GoVectorLogger", "decode_message", "encode_message"]

log = logging.getLogger("netclock.govector")


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


def _decode_clock(value: Any, limits: Limits) -> VectorClock:
    if type(value) is not dict:
        raise WireError(f"the clock must be a map, not {type(value).__name__}")
    if len(value) > limits.max_clock_entries:
        raise WireError(
            f"clock has {len(value)} entries, more than the limit of {limits.max_clock_entries}"
        )
    for pid, counter in value.items():
        if type(pid) is not str:
            raise WireError(f"clock keys must be str, not {type(pid).__name__}")
        if type(counter) is not int or not 0 <= counter <= MAX_COUNTER:
            raise WireError(f"counter for {pid!r:.40} must be a uint64, got {counter!r:.40}")
    try:
        return VectorClock(value)
    except ClockError as exc:
        raise WireError(f"bad clock: {exc}") from None


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
    return pid, payload, _decode_clock(raw_clock, limits)


class GoVectorLogger:
    """One process's vector clock and GoVector log, with GoVector's rules and names.

    Construction sets the own entry to 1 and logs "Initialization Complete". Every
    :meth:`prepare_send`, :meth:`unpack_receive` and :meth:`log_local_event` is one
    event: it ticks the own entry and logs one two-line entry. With ``log_path`` None
    nothing is written (GoVector's ``LogToFile = false``). ``flush_every`` events reach
    the file together (1, GoVector's default, writes each at once); :meth:`close` writes
    the rest.
    """

    def __init__(
        self,
        pid: str,
        log_path: str | os.PathLike[str] | None = None,
        *,
        flush_every: int = 1,
    ) -> None:
        try:
            self.pid = check_pid(pid)
        except ClockError as exc:
            raise ConfigError(f"GoVectorLogger needs a valid process id: {exc}") from exc
        if type(flush_every) is not int or flush_every < 1:
            raise ConfigError(f"flush_every must be a positive int, not {flush_every!r}")
        self._flush_every = flush_every
        self._unflushed = 0
        self._writer = EventLogWriter(log_path) if log_path is not None else None
        self._closed = False
        self._clock = VectorClock({pid: 1})
        self._log("Initialization Complete")

    @property
    def clock(self) -> VectorClock:
        """The current clock (the clock of the latest event)."""
        return self._clock

    def _log(self, event: str) -> None:
        if self._writer is None:
            return
        self._writer.write(self.pid, self._clock, event)
        self._unflushed += 1
        if self._unflushed >= self._flush_every:
            self.flush()

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError(f"the GoVectorLogger of {self.pid!r} is closed")

    def prepare_send(self, event: str, payload: Any) -> bytes:
        """Tick, log ``event`` and return the bytes to send (see :func:`encode_message`).

        An unencodable payload raises :class:`UsageError` and is not an event.
        """
        self._check_open()
        clock = self._clock.tick(self.pid)
        data = encode_message(self.pid, payload, clock)
        self._clock = clock
        self._log(event)
        return data

    def unpack_receive(
        self, event: str, data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS
    ) -> Any:
        """Decode ``data``, tick, merge the sender's clock, log ``event``; returns the payload.

        Bad bytes raise :class:`WireError`; a clock claiming more of this process than it
        has done raises :class:`ProtocolViolation`. Either way nothing changes: count the
        message, log it and drop it.
        """
        self._check_open()
        sender, payload, message_clock = decode_message(data, limits)
        try:
            clock = self._clock.receive(self.pid, message_clock)
        except ClockError as exc:
            log.debug("%s: refused a message from %s: %s", self.pid, sender, exc)
            raise ProtocolViolation(f"message from {sender!r} refused: {exc}") from None
        self._clock = clock
        self._log(event)
        return payload

    def log_local_event(self, event: str) -> VectorClock:
        """Tick and log ``event``; returns the new clock."""
        self._check_open()
        self._clock = self._clock.tick(self.pid)
        self._log(event)
        return self._clock

    def flush(self) -> None:
        """Write the logged events to the file."""
        self._unflushed = 0
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the log; calling it again does nothing."""
        self._closed = True
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> GoVectorLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
