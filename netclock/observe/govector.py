"""GoVector's logger: its clock rules (prepare-send, unpack-receive, local events) and its log.

The log is GoVector's two-line form (see :mod:`netclock.observe.shiviz`); the bytes a
logger prepares are GoVector's wire format (see :mod:`netclock.wire.govector`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from netclock.clock import VectorClock, check_pid
from netclock.errors import ClockError, ConfigError, ProtocolViolation, UsageError
from netclock.observe.shiviz import ClosedOnExit, EventLogWriter
from netclock.wire.envelope import DEFAULT_LIMITS, Limits
from netclock.wire.govector import decode_message, encode_message

__all__ = ["GoVectorLogger"]

log = logging.getLogger(__name__)


class GoVectorLogger(ClosedOnExit):
    """One process's vector clock and GoVector log, with GoVector's rules and names.

    With a log, construction sets the own entry to 1 and logs "Initialization Complete".
    Every :meth:`prepare_send`, :meth:`unpack_receive` and :meth:`log_local_event` is one
    event: it ticks the own entry and logs one two-line entry. With ``log_path`` None
    nothing is written (GoVector's ``LogToFile = false``) and, as GoVector's, the clock
    starts at 0: there is no initialization event, so the first event is 1.
    ``flush_every`` events reach the file together (1, GoVector's default, writes each at
    once); :meth:`close` writes the rest.
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
        self._clock = VectorClock() if self._writer is None else VectorClock({pid: 1})
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

        Bad bytes raise :class:`WireError`; an own counter that would pass 2**64-1 raises
        :class:`ProtocolViolation`. Either way nothing changes: count the message, log it
        and drop it. A claim of more of this process than it has done is never merged.
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
