"""Large messages on a reliable link: split into pieces on the way out, joined on the way in.

Sans-IO (no asyncio, no sockets). A message whose packed form does not fit one datagram
travels as consecutive messages of its peer's :class:`~netclock.links.session.PeerSession`,
each a :class:`~netclock.wire.envelope.Fragment` (docs/wire.md, "Large messages"):

* :class:`Outgoing` holds the one large message a peer's stream is sending and hands the
  session its pieces while the session's send window has room, so no more than the
  window is ever unacknowledged; later messages to that peer wait behind it (FIFO).
* :class:`Reassembly` takes the session's in-order deliveries and joins the pieces back
  into ONE :class:`~netclock.wire.envelope.Message`: the first piece's sequence number
  (the message id) and clock, the whole payload. It holds at most one partial message of
  at most ``max_message`` bytes; pieces that break the rules (a continuation without a
  start, a start while one is open, a size above the limit, bytes that are not one msgpack
  value) are counted in :attr:`Reassembly.stats`, logged at debug level and dropped.

Memory: the sender keeps the message it was given plus the session's window of pieces;
the receiver keeps the session's receive window plus one partial message.
"""

from __future__ import annotations

import logging
from typing import Any

from netclock.clock import VectorClock
from netclock.errors import ConfigError, MessageTooLarge, WireError
from netclock.links.session import PeerSession
from netclock.wire import envelope as wire

__all__ = [
    "CONTINUATION",
    "DEFAULT_MAX_MESSAGE",
    "Outgoing",
    "Reassembly",
    "check_max_message",
    "pack_payload",
    "piece_budget",
    "send_large",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024
"""Largest message a reliable link carries by default (its packed payload, in bytes)."""
MIN_MAX_MESSAGE = 1024
MAX_MAX_MESSAGE = 1 << 31
_PIECE_OVERHEAD = 32
"""Bytes a piece's array, sequence number, bin header and ``remaining`` take at most."""

IN_FLIGHT_BYTES = 1 << 21
"""Most bytes of pieces one large message keeps unacknowledged (below a socket buffer: a
window of 1024 messages of 16 KiB would overflow the receiver's 4 MiB and be lost)."""

CONTINUATION = "<piece of a large message>"
"""What a give-up reports as the payload of a piece after the first (never a message)."""

STAT_KEYS = ("large_sent", "large_delivered", "pieces_dropped", "large_dropped")


def check_max_message(value: int) -> int:
    """``value`` if it can be a ``max_message`` option, else one ConfigError sentence."""
    if type(value) is not int or not MIN_MAX_MESSAGE <= value <= MAX_MAX_MESSAGE:
        raise ConfigError(
            f"max_message must be a number of bytes between {MIN_MAX_MESSAGE} and "
            f"{MAX_MAX_MESSAGE}, not {value!r}"
        )
    return value


def pack_payload(payload: Any, max_message: int) -> bytes:
    """``payload`` packed as a large message carries it; MessageTooLarge above the limit."""
    packed = wire.pack_payload(payload)
    if len(packed) > max_message:
        raise MessageTooLarge(
            f"a payload of {len(packed)} bytes (packed) is larger than this link's "
            f"max_message of {max_message} bytes; send less, or raise the link option "
            "max_message",
            len(packed),
            max_message,
        )
    return packed


def piece_budget(session: PeerSession, clock: VectorClock, datagram: int) -> tuple[int, int]:
    """Bytes of payload the first piece (with ``clock``) and each later piece carry, each
    piece in a datagram of at most ``datagram`` bytes (and never above one message)."""
    headers = 64 + len(session.local_id) + len(session.peer_id)
    room = min(session.max_message, datagram - headers) - _PIECE_OVERHEAD
    first = room - wire.packed_size(clock._entries)
    return max(first, 256), max(room, 256)


def send_large(
    session: PeerSession,
    clock: VectorClock,
    payload: Any,
    now: float,
    max_message: int,
    datagram: int | None = None,
) -> Outgoing:
    """Start sending ``payload`` (too large for one datagram) in pieces on ``session``,
    each in a datagram of at most ``datagram`` bytes (default: the session's
    ``max_datagram``; a path without fragmentation, such as loopback, may take more).

    The first pieces go into the session now; call :meth:`Outgoing.feed` whenever the
    session's window may have opened until :attr:`Outgoing.done`, and send nothing else
    on the session meanwhile. Raises MessageTooLarge above ``max_message`` bytes and on a
    session without FIFO order (pieces are joined in sequence).
    """
    data = pack_payload(payload, max_message)
    if not session.fifo:
        raise MessageTooLarge(
            f"a message of {len(data)} bytes needs pieces, and pieces need a FIFO link "
            "(fifo=True); send less than one datagram or make the link FIFO",
            len(data),
            session.max_message,
        )
    outgoing = Outgoing(session, clock, data, datagram or session.max_datagram)
    outgoing.feed(session, payload, now)
    return outgoing


class Outgoing:
    """The large message one peer's stream is sending, handed to the session piece by piece."""

    __slots__ = (
        "_clock",
        "_data",
        "_empty",
        "_first",
        "_most",
        "_offset",
        "_piece",
        "first_seq",
    )

    def __init__(
        self, session: PeerSession, clock: VectorClock, data: bytes, datagram: int
    ) -> None:
        self.first_seq = session.next_seq
        """The id of the message: the sequence number of its first piece."""
        self._clock = clock
        self._data: bytes | memoryview = memoryview(data)  # pieces are views, not copies
        self._offset = 0
        self._first, self._piece = piece_budget(session, clock, datagram)
        self._most = max(4, IN_FLIGHT_BYTES // self._piece)
        self._empty = VectorClock()

    @property
    def done(self) -> bool:
        """True once every piece is in the session."""
        return self._offset >= len(self._data)

    def feed(self, session: PeerSession, payload: Any, now: float) -> None:
        """Hand ``session`` the next pieces while its send window has room, keeping at most
        :data:`IN_FLIGHT_BYTES` of them unacknowledged."""
        data = self._data
        total = len(data)
        most = self._most
        while self._offset < total and session.writable() and session.unacked < most:
            start = self._offset
            if start == 0:
                end = min(total, self._first)
                session.send_fragment(self._clock, data[:end], total - end, payload, now)
            else:
                end = min(total, start + self._piece)
                session.send_fragment(self._empty, data[start:end], total - end, CONTINUATION, now)
            self._offset = end
        if self._offset >= total:
            self._data = b""


class Reassembly:
    """Joins one peer's pieces back into whole messages (see the module docstring)."""

    __slots__ = ("_incarnation", "_parts", "_start", "_want", "max_message", "stats")

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self._start: wire.Message | None = None
        self._parts: list[bytes] = []
        self._want = 0
        self._incarnation = -1

    @property
    def partial(self) -> int:
        """Bytes held of the message being joined (0 when none is open)."""
        return sum(map(len, self._parts))

    def take(self, incarnation: int, batch: list[wire.Message]) -> list[wire.Message]:
        """The messages ``batch`` completes, in order: whole ones as they are, pieces joined."""
        if incarnation != self._incarnation:
            if self._start is not None:
                self._drop("the peer restarted", len(self._parts))
            self._incarnation = incarnation
        out: list[wire.Message] = []
        for message in batch:
            piece = message.payload
            if type(piece) is not wire.Fragment:
                if self._start is not None:
                    self._drop("a whole message came between its pieces", len(self._parts))
                out.append(message)
                continue
            whole = self._join(message, piece)
            if whole is not None:
                out.append(whole)
        return out

    def _join(self, message: wire.Message, piece: wire.Fragment) -> wire.Message | None:
        remaining, chunk = piece
        if message.clock:  # a first piece
            if self._start is not None:
                self._drop("a new message started before the last ended", len(self._parts))
            total = remaining + len(chunk)
            if total > self.max_message:
                self.stats["pieces_dropped"] += 1
                log.debug("a large message of %d bytes exceeds max_message; dropped", total)
                return None
            self._start = message
            self._parts = [chunk]
            self._want = remaining
        elif self._start is None or remaining + len(chunk) != self._want:
            self.stats["pieces_dropped"] += 1
            log.debug("a piece of a large message without its start; dropped")
            return None
        else:
            self._parts.append(chunk)
            self._want = remaining
        if remaining:
            return None
        start = self._start
        data = b"".join(self._parts)
        self._start = None
        self._parts = []
        try:
            payload = wire.unpack_payload(data)
        except WireError as exc:
            self.stats["large_dropped"] += 1
            log.debug("a large message is not one msgpack value (%s); dropped", exc)
            return None
        self.stats["large_delivered"] += 1
        return wire.Message(start.seq, start.clock, payload)

    def _drop(self, why: str, pieces: int) -> None:
        self.stats["large_dropped"] += 1
        self.stats["pieces_dropped"] += pieces
        log.debug("a large message cut short (%s); dropped", why)
        self._start = None
        self._parts = []
