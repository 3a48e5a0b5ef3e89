"""The netclock envelope: one versioned msgpack array for every link kind.

Every datagram (UDP) or frame (TLS) is one msgpack array whose first five items are
``[version, kind, sender, incarnation, receiver]``; what follows depends on ``kind``.
The format is specified in ``docs/wire.md``. Decoding is strict and bounded and raises
only :class:`~netclock.errors.WireError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import msgpack

from netclock.clock import (
    MAX_COUNTER,
    VectorClock,
    _new_clock,
    check_clock_entries,
    check_pid,
)
from netclock.errors import ClockError, UsageError, WireError
from netclock.wire.clockdiff import ClockDelta

VERSION = 1

DATA = 1
"""One application message: ``seq, clock, payload`` (fair-loss and stubborn links)."""
SEGMENT = 2
"""Perfect-link segment: ``base, ack, messages`` (several messages and/or an ack)."""
HELLO = 3
"""Connection hello (TLS link): ``peer_incarnation, received, window``."""
HEARTBEAT = 4
"""Liveness beacon for failure detectors: no further fields."""
CHALLENGE = 5
"""Incarnation check (UDP perfect link): ``nonce, reply`` (docs/wire.md)."""

KIND_NAMES = {
    DATA: "data",
    SEGMENT: "segment",
    HELLO: "hello",
    HEARTBEAT: "heartbeat",
    CHALLENGE: "challenge",
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds every decode enforces; anything larger is a :class:`WireError`."""

    max_bytes: int = 65_507
    """Largest datagram or frame accepted (UDP's maximum payload by default)."""
    max_clock_entries: int = 1024
    """Most entries a vector clock may carry."""
    max_messages: int = 4096
    """Most messages one segment may carry."""
    max_sack_ranges: int = 64
    """Most selective-ack ranges one ack may carry."""


DEFAULT_LIMITS = Limits()
DEFAULT_LIMITS_UNBOUNDED = Limits(max_bytes=2**31)


class Data(NamedTuple):
    """A single application message in its own envelope."""

    sender: str
    incarnation: int
    receiver: str
    seq: int
    clock: VectorClock
    payload: Any


class Ack(NamedTuple):
    """What a receiver has of one sender's incarnation.

    ``cumulative`` is the highest sequence number such that it and everything before it
    arrived (0: nothing yet);
    ``sacks`` are inclusive ``(first, last)`` ranges received above it; ``window`` is how
    many messages beyond ``cumulative`` the receiver will accept now. ``refused`` holds
    ``(seq, reason)`` for messages the receiver took in but refused (their clock broke its
    scope): acknowledged, never delivered; the sender reports each as a failure.
    ``byte_window`` is how many bytes of messages beyond ``cumulative`` (as
    ``links.budget.message_bytes`` counts them) the receiver accepts now; -1: not said.
    """

    incarnation: int
    cumulative: int
    sacks: tuple[tuple[int, int], ...]
    window: int
    refused: tuple[tuple[int, str], ...] = ()
    byte_window: int = -1


class Message(NamedTuple):
    """One application message inside a segment."""

    seq: int
    clock: VectorClock
    payload: Any


class Fragment(NamedTuple):
    """The payload of a segment message that is one piece of a larger message.

    ``chunk`` is the next piece of the large message's packed payload and ``remaining``
    how many bytes of it follow this piece (0: the last piece). Only the first piece's
    clock is the message's; see docs/wire.md, "Large messages".
    """

    remaining: int
    chunk: bytes


class Segment(NamedTuple):
    """A perfect-link segment: messages and/or an ack, from one sender to one receiver.

    ``base`` is the sender's lowest sequence number not yet acknowledged or given up:
    the receiver may consider everything below it settled.
    """

    sender: str
    incarnation: int
    receiver: str
    base: int
    ack: Ack | None
    messages: tuple[Message, ...]


class Hello(NamedTuple):
    """First frame on a connection: who I am, what I have received of you, what I accept.

    ``peer_incarnation`` is the incarnation of the receiver that ``received`` refers to
    (0 when nothing was ever received from it). ``window`` is the hello's sender's receive
    window, as in an ack: how many of the receiver's messages beyond ``received`` it accepts
    now (for another incarnation of the receiver, beyond that incarnation's ``base``).
    ``byte_window`` is the same in bytes (as an ack's); -1: not said.
    """

    sender: str
    incarnation: int
    receiver: str
    peer_incarnation: int
    received: int
    window: int
    byte_window: int = -1


class Heartbeat(NamedTuple):
    """A liveness beacon; carries no clock and is not an event."""

    sender: str
    incarnation: int
    receiver: str


class Challenge(NamedTuple):
    """An incarnation check: with ``reply`` false, "echo ``nonce``, from your address";
    with ``reply`` true, that echo, whose ``incarnation`` is the replier's own."""

    sender: str
    incarnation: int
    receiver: str
    nonce: int
    reply: bool


Envelope = Data | Segment | Hello | Heartbeat | Challenge

_pack_flat: Callable[[Any], bytes] = msgpack.Packer(use_bin_type=True).pack
"""One packer for the whole process, used only on hot paths and only for values this
module assembles from ints, flat payloads (see ``_FLAT_TYPES``), clock entries (an exact
dict of str to int) and lists of those. Packing such a value runs no Python code (no
``items()`` of a dict subclass, no ``__del__``, no signal handler, no thread switch: the GIL
is held throughout), so no call can start while another is half-way through the packer's
buffer. Anything else goes through :func:`_pack`, with a packer of its own: a re-entered
shared packer would silently mix the bytes of both calls."""
_new_packer = partial(msgpack.Packer, use_bin_type=True)
_unpackb = msgpack.unpackb
_new_tuple = tuple.__new__
"""Builds a NamedTuple from a tuple without the Python-level ``__new__`` (hot paths)."""


def _pack(obj: Any) -> bytes:
    """``obj`` in msgpack, by a packer of its own; raises :class:`UsageError` if it cannot be."""
    try:
        return _new_packer().pack(obj)  # type: ignore[no-any-return]
    except (TypeError, ValueError, OverflowError) as exc:
        raise UsageError(f"payload cannot be encoded with msgpack: {exc}") from exc


def _pack_checked(obj: list[Any], payload: Any, nesting: bytes = b"") -> bytes:
    """``obj`` (a list holding ``payload``) packed by :func:`_pack`; unless the payload is
    flat, checked to decode behind ``nesting`` (the array headers around it on the wire), so
    no link ever holds bytes that no receiver could accept."""
    packed = _pack(obj)
    if type(payload) not in _FLAT_TYPES:
        _check_decodable(nesting + packed)
    return packed


def pack_ack(ack: Ack | None) -> list[Any] | None:
    """The wire form of an ack (``None`` stays ``None``)."""
    if ack is None:
        return None
    flat: list[int] = []
    for first, last in ack.sacks:
        flat.append(first)
        flat.append(last)
    out: list[Any] = [ack.incarnation, ack.cumulative, flat, ack.window]
    if ack.refused:
        refused: list[Any] = []
        for seq, reason in ack.refused:
            refused.append(seq)
            refused.append(reason)
        out.append(refused)
    if ack.byte_window >= 0:
        out.append(ack.byte_window)
    return out


def encode_data(
    sender: str, incarnation: int, receiver: str, seq: int, clock: VectorClock, payload: Any
) -> bytes:
    """Encode one application message as a DATA envelope."""
    obj = [VERSION, DATA, sender, incarnation, receiver, seq, clock._entries, payload]
    if type(payload) in _FLAT_TYPES:
        try:
            return _pack_flat(obj)
        except (ValueError, OverflowError):
            pass  # a lone surrogate or an int beyond 64 bits: _pack_checked says so
    return _pack_checked(obj, payload)


def data_prefix(sender: str, incarnation: int, receiver: str) -> bytes:
    """The fixed start of every DATA envelope from ``sender`` to ``receiver``: pack it
    once per peer and pass it to :func:`encode_data_prefixed`."""
    return b"\x98" + _pack([VERSION, DATA, sender, incarnation, receiver])[1:]


def encode_data_prefixed(prefix: bytes, seq: int, clock: VectorClock, payload: Any) -> bytes:
    """The same bytes as :func:`encode_data`, behind a :func:`data_prefix`."""
    # The packed 3-item array's items complete the 8-item array the prefix opened; the
    # payload sits as deep in either, so checking the 3-item array checks the envelope.
    obj = [seq, clock._entries, payload]
    if type(payload) in _FLAT_TYPES:
        try:
            return prefix + _pack_flat(obj)[1:]
        except (ValueError, OverflowError):
            pass
    return prefix + _pack_checked(obj, payload)[1:]


def encode_segment(
    sender: str,
    incarnation: int,
    receiver: str,
    base: int,
    ack: Ack | None,
    messages: list[list[Any]],
) -> bytes:
    """Encode a segment; ``messages`` are already in wire form (see :func:`message_wire`)."""
    return _pack([VERSION, SEGMENT, sender, incarnation, receiver, base, pack_ack(ack), messages])


def array_header(n: int) -> bytes:
    """The msgpack header of an array of ``n`` items."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def pack_message(seq: int, clock: VectorClock, payload: Any) -> bytes:
    """One segment message packed once, to be reused by every (re)transmission.

    The bytes are checked to decode inside a segment (two array levels deeper), so a
    reliable link never holds a message no receiver could accept and resend it forever.
    """
    return _pack_message([seq, clock._entries, payload], payload)


def _pack_message(obj: list[Any], payload: Any) -> bytes:
    """``[seq, clock, payload]`` packed, checked to decode inside a segment."""
    if type(payload) in _FLAT_TYPES:
        try:
            return _pack_flat(obj)
        except (ValueError, OverflowError):
            pass
    return _pack_checked(obj, payload, b"\x91\x91")


def pack_message_delta(seq: int, flat: list[Any], payload: Any) -> bytes:
    """As :func:`pack_message`, with the clock as a delta (``flat``, from
    :func:`~netclock.wire.clockdiff.delta_flat`) against the stream's previous message."""
    return _pack_message([seq, flat, payload], payload)


def with_full_clock(packed: bytes, clock: VectorClock) -> bytes:
    """A message packed by :func:`pack_message` or :func:`pack_message_delta`, its clock
    (in either form) replaced by ``clock`` as a map: the same message, self-contained."""
    unpacker = msgpack.Unpacker(None, max_buffer_size=len(packed))
    unpacker.feed(packed)
    unpacker.read_array_header()
    unpacker.skip()
    start = unpacker.tell()
    unpacker.skip()
    return packed[:start] + _pack_flat(clock._entries) + packed[unpacker.tell() :]


def pack_fragment(seq: int, clock: VectorClock, chunk: bytes | memoryview, remaining: int) -> bytes:
    """One piece of a large message as a segment message: ``[seq, clock, chunk, remaining]``.

    ``chunk`` may be a memoryview of the message (no copy per piece): msgpack packs it as
    bin through the buffer protocol, running no Python code (safe for :data:`_pack_flat`)."""
    return _pack_flat([seq, clock._entries, chunk, remaining])


def pack_payload(payload: Any) -> bytes:
    """``payload`` alone in msgpack, checked to decode (a large message's bytes)."""
    if type(payload) in _FLAT_TYPES:
        return _pack(payload)
    packed = _pack(payload)
    _check_decodable(packed)
    return packed


def unpack_payload(data: bytes) -> Any:
    """The payload :func:`pack_payload` packed; raises :class:`WireError` on bad bytes."""
    return _unpack(data, DEFAULT_LIMITS_UNBOUNDED)


_FLAT_TYPES = frozenset((bytes, str, int, float, bool, type(None)))
"""Payload types that always decode; anything else is checked once at encode time."""


def _check_decodable(packed: bytes) -> None:
    try:
        _unpack(packed, DEFAULT_LIMITS_UNBOUNDED)
    except WireError as exc:
        raise UsageError(f"payload cannot be carried by netclock: {exc}") from None


def encode_segment_packed(
    sender: str,
    incarnation: int,
    receiver: str,
    base: int,
    ack: Ack | None,
    packed_messages: list[bytes],
) -> bytes:
    """Encode a segment from messages packed by :func:`pack_message` (no re-encoding)."""
    return encode_segment_prefixed(
        segment_prefix(sender, incarnation, receiver), base, pack_ack_bytes(ack), packed_messages
    )


def segment_prefix(sender: str, incarnation: int, receiver: str) -> bytes:
    """The fixed start of every segment from ``sender`` to ``receiver``: pack it once per
    session and pass it to :func:`encode_segment_prefixed`."""
    # A 5-item array; encode_segment_prefixed writes the 8-item array header instead.
    return _pack([VERSION, SEGMENT, sender, incarnation, receiver])[1:]


def pack_ack_bytes(ack: Ack | None) -> bytes:
    """An ack (or nil) packed for :func:`encode_segment_prefixed`."""
    return _pack_flat(pack_ack(ack))


def pack_plain_ack(incarnation: int, cumulative: int, window: int, byte_window: int = -1) -> bytes:
    """An ack without selective ranges, packed for :func:`encode_segment_prefixed`."""
    if byte_window < 0:
        return _pack_flat([incarnation, cumulative, [], window])
    return _pack_flat([incarnation, cumulative, [], window, byte_window])


def encode_segment_prefixed(
    prefix: bytes, base: int, packed_ack: bytes, packed_messages: list[bytes]
) -> bytes:
    """A segment from its parts: :func:`segment_prefix`, ``base``, :func:`pack_ack_bytes`
    and messages packed by :func:`pack_message` (nothing is re-encoded)."""
    n = len(packed_messages)
    packed_base = _SMALL_UINTS[base] if type(base) is int and 0 <= base < 128 else _pack_flat(base)
    head = b"\x98" + prefix + packed_base + packed_ack
    if n == 1:
        return head + b"\x91" + packed_messages[0]
    return head + (_ARRAY_HEADERS[n] if n < 16 else array_header(n)) + b"".join(packed_messages)


_SMALL_UINTS = [bytes((i,)) for i in range(128)]
"""msgpack positive fixints."""
_ARRAY_HEADERS = [bytes((0x90 | i,)) for i in range(16)]
"""msgpack fixarray headers."""


def message_wire(seq: int, clock: VectorClock, payload: Any) -> list[Any]:
    """The wire form of one message inside a segment (a :class:`Fragment` as four items,
    a :class:`~netclock.wire.clockdiff.ClockDelta` as its flat array)."""
    if type(payload) is Fragment:
        return [seq, clock._entries, payload.chunk, payload.remaining]
    if type(clock) is ClockDelta:
        flat: list[Any] = []
        for item in clock._entries.items():
            flat.extend(item)
        for pid in clock.removed:
            flat.extend((pid, 0))
        return [seq, flat, payload]
    return [seq, clock._entries, payload]


def packed_size(obj: Any) -> int:
    """How many bytes ``obj`` takes in msgpack (raises :class:`UsageError` if it cannot)."""
    return len(_pack(obj))


def encode_hello(
    sender: str,
    incarnation: int,
    receiver: str,
    peer_incarnation: int,
    received: int,
    window: int,
    byte_window: int = -1,
) -> bytes:
    """Encode a HELLO envelope (9 items with a ``byte_window``, 8 without)."""
    fields = [VERSION, HELLO, sender, incarnation, receiver, peer_incarnation, received, window]
    if byte_window >= 0:
        fields.append(byte_window)
    return _pack(fields)


def encode_heartbeat(sender: str, incarnation: int, receiver: str) -> bytes:
    """Encode a HEARTBEAT envelope."""
    return _pack([VERSION, HEARTBEAT, sender, incarnation, receiver])


def encode_challenge(
    sender: str, incarnation: int, receiver: str, nonce: int, reply: bool
) -> bytes:
    """Encode a CHALLENGE envelope (a challenge, or with ``reply`` its answer)."""
    return _pack([VERSION, CHALLENGE, sender, incarnation, receiver, nonce, reply])


def encode(envelope: Envelope) -> bytes:
    """Encode any decoded envelope back to bytes (the inverse of :func:`decode`)."""
    if isinstance(envelope, Data):
        return encode_data(*envelope)
    if isinstance(envelope, Segment):
        msgs = [message_wire(*m) for m in envelope.messages]
        return encode_segment(
            envelope.sender,
            envelope.incarnation,
            envelope.receiver,
            envelope.base,
            envelope.ack,
            msgs,
        )
    if isinstance(envelope, Hello):
        return encode_hello(*envelope)
    if isinstance(envelope, Challenge):
        return encode_challenge(*envelope)
    return encode_heartbeat(*envelope)


# -- decoding ---------------------------------------------------------------------------------


def _uint(value: Any, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_COUNTER:
        raise WireError(f"{what} must be an unsigned 64-bit int, got {value!r:.40}")
    return value


def _text(value: Any, what: str, known: set[str]) -> str:
    if type(value) is not str:
        raise WireError(f"{what} must be a process id (a str), not {type(value).__name__}")
    try:
        check_pid(value)
    except ClockError as exc:
        raise WireError(f"{what}: {exc}") from None
    return value


def _clock(value: Any, limits: Limits, known: set[str]) -> VectorClock:
    if type(value) is dict and len(value) <= limits.max_clock_entries:
        # The common case: ids this decoder has checked and positive counters (msgpack
        # never decodes an integer above 2**64-1), adopted as they are.
        for pid, count in value.items():
            if pid not in known or type(count) is not int or count <= 0:
                break
        else:
            clock = _new_clock(VectorClock)
            clock._entries = value
            return clock
    try:
        entries = check_clock_entries(value, limits.max_clock_entries)
    except ClockError as exc:
        raise WireError(f"bad clock: {exc}") from None
    return VectorClock._trusted(entries)


def _ack(value: Any, limits: Limits) -> Ack | None:
    if value is None:
        return None
    if type(value) is not list or len(value) != 4:
        if type(value) is list and 5 <= len(value) <= 6:
            return _longer_ack(value, limits)
        raise WireError("ack must be nil or a 4- to 6-item array")
    incarnation, cumulative, flat, window = value
    if (
        type(incarnation) is not int
        or type(cumulative) is not int
        or type(window) is not int
        or incarnation < 0
        or cumulative < 0
        or window < 0
    ):
        _uint(incarnation, "ack incarnation")
        _uint(cumulative, "cumulative ack")
        _uint(window, "window")
    if type(flat) is not list or len(flat) % 2 or len(flat) > 2 * limits.max_sack_ranges:
        raise WireError("selective acks must be an even-length array within the range limit")
    if not flat:
        return _new_tuple(Ack, (incarnation, cumulative, (), window, (), -1))
    sacks = []
    previous = cumulative
    for i in range(0, len(flat), 2):
        first = _uint(flat[i], "sack start")
        last = _uint(flat[i + 1], "sack end")
        if not previous + 1 < first <= last:
            raise WireError("selective-ack ranges must be ascending, disjoint and above the ack")
        sacks.append((first, last))
        previous = last
    return Ack(incarnation, cumulative, tuple(sacks), window)


MAX_REASON = 200
"""Longest refusal reason an ack may carry, in characters."""


def _longer_ack(value: list[Any], limits: Limits) -> Ack:
    """An ack with refusals (a list), a byte window (an int), or both in that order."""
    ack = _ack(value[:4], limits)
    assert ack is not None
    rest = value[4:]
    if type(rest[-1]) is int:
        ack = ack._replace(byte_window=_uint(rest.pop(), "byte window"))
    if not rest:
        return ack
    if len(rest) != 1:
        raise WireError("an ack's fifth item must be its refusals when it has six")
    return _refusing_ack(ack, rest[0], limits)


def _refusing_ack(ack: Ack, flat: Any, limits: Limits) -> Ack:
    """``ack`` with the refusals ``[seq, reason, ...]`` of the messages it refuses."""
    if (
        type(flat) is not list
        or not flat
        or len(flat) % 2
        or len(flat) > 2 * limits.max_sack_ranges
    ):
        raise WireError("refusals must be a non-empty even-length array within the range limit")
    refused = []
    for i in range(0, len(flat), 2):
        seq, reason = _uint(flat[i], "refused seq"), flat[i + 1]
        if seq < 1 or type(reason) is not str or len(reason) > MAX_REASON:
            raise WireError(f"a refusal is a sequence number and a reason of {MAX_REASON} chars")
        refused.append((seq, reason))
    return ack._replace(refused=tuple(refused))


def _bad_seq(value: Any) -> None:
    _uint(value, "sequence number")
    raise WireError("sequence numbers start at 1")


def _messages(value: Any, limits: Limits, known: set[str]) -> tuple[Message, ...]:
    """Check the messages of a segment. The common case (known ids, positive counters)
    runs in one tight loop; anything else goes through :func:`_checked_messages`."""
    if type(value) is not list or len(value) > limits.max_messages:
        raise WireError("segment messages must be an array within the message limit")
    max_entries = limits.max_clock_entries
    new_clock = _new_clock
    clock_class = VectorClock
    for item in value:
        try:
            seq, entries, _payload = item
        except (TypeError, ValueError):
            return _checked_messages(value, limits, known)
        # A str, bin or map item of three unpacks too, but never to an int and a map.
        if type(seq) is not int or seq <= 0 or type(entries) is not dict:
            if type(seq) is int and seq > 0 and type(entries) is list:
                item[1] = _delta(entries, max_entries, known)
                continue
            return _checked_messages(value, limits, known)
        if len(entries) > max_entries:
            return _checked_messages(value, limits, known)
        # msgpack never decodes an integer above 2**64-1: only the low end is checked.
        for pid, count in entries.items():
            if pid not in known or type(count) is not int or count <= 0:
                return _checked_messages(value, limits, known)
        clock = new_clock(clock_class)
        clock._entries = entries
        item[1] = clock
    return tuple(map(_as_message, value))


def _delta(flat: list[Any], max_entries: int, known: set[str]) -> ClockDelta:
    """A clock delta (docs/wire.md); the common case (known ids, each once, positive
    counters) without a loop over ids, the rest by :func:`decode_delta`."""
    n = len(flat)
    if not n & 1 and n <= 2 * max_entries:
        entries = dict(zip(flat[::2], flat[1::2], strict=True))
        if len(entries) * 2 == n and entries.keys() <= known:
            for count in entries.values():
                if type(count) is not int or count <= 0:
                    break
            else:
                delta = _new_clock(ClockDelta)
                delta._entries = entries
                delta.removed = ()
                return delta
    return decode_delta(flat, max_entries, known)


def decode_delta(flat: list[Any], max_entries: int, known: set[str]) -> ClockDelta:
    """A clock delta from its wire form (docs/wire.md, "Compressed clocks"), checked entry
    by entry (ids, counters 0..2**64-1, no id twice, at most ``max_entries`` entries);
    raises :class:`WireError` naming the first bad entry."""
    n = len(flat)
    if n & 1 or n > 2 * max_entries:
        raise WireError(f"a clock delta is an even-length array of at most {max_entries} entries")
    entries: dict[str, int] = {}
    removed: list[str] = []
    for i in range(0, n, 2):
        pid = flat[i]
        if type(pid) is not str or pid not in known:
            pid = _text(pid, "clock delta id", known)
        count = _uint(flat[i + 1], f"clock delta counter of {pid!r}")
        if pid in entries or pid in removed:
            raise WireError(f"bad clock delta: {pid!r} appears twice")
        if count:
            entries[pid] = count
        else:
            removed.append(pid)
    delta = _new_clock(ClockDelta)
    delta._entries = entries
    delta.removed = tuple(removed)
    return delta


def _checked_messages(value: list[Any], limits: Limits, known: set[str]) -> tuple[Message, ...]:
    """Message by message, with the precise error for the first bad one (and zero
    counters dropped from clocks)."""
    out: list[Message] = []
    for item in value:
        if type(item) is list and len(item) == 4:
            seq, entries, chunk, remaining = item
            if type(chunk) is not bytes or not chunk:
                raise WireError("a fragment's chunk must be non-empty bin")
            payload: Any = Fragment(_uint(remaining, "fragment remaining"), chunk)
        elif type(item) is not list or len(item) != 3:
            raise WireError(
                "a segment message must be a 3-item array [seq, clock, payload] "
                "or a 4-item fragment [seq, clock, chunk, remaining]"
            )
        else:
            seq, entries, payload = item
        if type(seq) is not int or not 0 < seq <= MAX_COUNTER:
            _bad_seq(seq)
        if type(entries) is VectorClock or type(entries) is ClockDelta:
            clock = entries
        elif type(entries) is list and type(payload) is not Fragment:
            clock = decode_delta(entries, limits.max_clock_entries, known)
        else:
            clock = _clock(entries, limits, known)
        out.append(Message(seq, clock, payload))
    return tuple(out)


_as_message = partial(_new_tuple, Message)
"""``[seq, clock, payload]`` as a :class:`Message`, in C."""


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not allowed")


def _unpack(data: bytes | bytearray | memoryview, limits: Limits) -> Any:
    """The one msgpack value in ``data``: no extension types, at most ``limits.max_bytes``."""
    if len(data) > limits.max_bytes:
        raise WireError(f"envelope of {len(data)} bytes exceeds the limit of {limits.max_bytes}")
    try:
        # unpackb bounds every length by len(data) already: no header can make it
        # allocate more than the datagram could hold.
        return _unpackb(data, strict_map_key=False, max_ext_len=0, ext_hook=_no_ext)
    except Exception as exc:  # msgpack raises a zoo of types; all mean "not msgpack"
        raise WireError(f"not a msgpack value: {type(exc).__name__}: {exc}") from None


def payload_of(packed: bytes) -> Any:
    """The payload of a message packed by :func:`pack_message` (a sender's own bytes)."""
    return _unpack(packed, DEFAULT_LIMITS_UNBOUNDED)[2]


class Decoder:
    """Decodes envelopes under one :class:`Limits`; a link (or connection) holds one.

    Decoding is strict: every process id in an envelope (sender, receiver, each clock
    entry) is checked by :func:`~netclock.clock.check_pid`, except the ids its owner told
    it with :meth:`remember` (the node and its peers), so the common case costs one set
    lookup per id. A decoder learns nothing from its input: what an attacker sends never
    grows it nor changes what it accepts or how fast. Two decoders share nothing.
    """

    __slots__ = ("_known", "limits")

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._known: set[str] = set()

    def remember(self, *ids: str) -> None:
        """Check ``ids`` once (ClockError if one is not a process id) and skip them after."""
        for pid in ids:
            check_pid(pid)
        self._known.update(ids)

    def decode(self, data: bytes | bytearray | memoryview) -> Envelope:
        """One envelope; raises :class:`WireError` (and nothing else) on bad input."""
        limits = self.limits
        obj = _unpack(data, limits)
        if type(obj) is not list:
            raise WireError("envelope must be an array of at least 5 items")
        n = len(obj)
        if n == 8:
            version, kind, sender, incarnation, receiver, field5, field6, field7 = obj
        elif n >= 5:
            version, kind, sender, incarnation, receiver = obj[:5]
        else:
            raise WireError("envelope must be an array of at least 5 items")
        if version != VERSION or type(version) is not int:
            raise WireError(f"unknown envelope version {version!r:.20}")
        known = self._known
        if type(sender) is not str or sender not in known:
            sender = _text(sender, "sender", known)
        if type(receiver) is not str or receiver not in known:
            receiver = _text(receiver, "receiver", known)
        if type(incarnation) is not int or incarnation < 0:
            _uint(incarnation, "incarnation")
        if type(kind) is not int:
            raise WireError(f"unknown envelope kind {kind!r:.20}")
        if n == 8:
            if kind == SEGMENT:
                if (type(field5) is not int or field5 <= 0) and _uint(field5, "base") == 0:
                    raise WireError("segment base starts at 1")
                return _new_tuple(
                    Segment,
                    (
                        sender,
                        incarnation,
                        receiver,
                        field5,
                        None if field6 is None else _ack(field6, limits),
                        _messages(field7, limits, known),
                    ),
                )
            if kind == DATA:
                if type(field5) is not int or field5 <= 0:
                    _bad_seq(field5)
                return _new_tuple(
                    Data,
                    (sender, incarnation, receiver, field5, _clock(field6, limits, known), field7),
                )
            if kind == HELLO:
                return Hello(
                    sender,
                    incarnation,
                    receiver,
                    _uint(field5, "peer incarnation"),
                    _uint(field6, "resume point"),
                    _uint(field7, "window"),
                )
        elif kind == HELLO and n == 9:
            return Hello(
                sender,
                incarnation,
                receiver,
                _uint(obj[5], "peer incarnation"),
                _uint(obj[6], "resume point"),
                _uint(obj[7], "window"),
                _uint(obj[8], "byte window"),
            )
        elif kind == HEARTBEAT and n == 5:
            return Heartbeat(sender, incarnation, receiver)
        elif kind == CHALLENGE and n == 7:
            if type(obj[6]) is not bool:
                raise WireError("a challenge's reply flag must be a bool")
            return Challenge(sender, incarnation, receiver, _uint(obj[5], "nonce"), obj[6])
        raise WireError(f"unknown envelope kind {kind!r:.20} with {n} items")


def decode(data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Decode one envelope with a fresh :class:`Decoder` (every id checked); raises
    :class:`WireError` (and nothing else) on bad input. A link decodes with a
    :class:`Decoder` of its own instead, which checks each id once."""
    return Decoder(limits).decode(data)
