"""A broadcast message on a point-to-point link: the frame and its strict decoder.

A broadcast travels as an ordinary link message (``Link.send(peer, clock, payload)``)
whose ``clock`` is the *origin's* clock when it broadcast (stamped once, carried unchanged
by every relay) and whose ``payload`` is the frame::

    [MARK, kind, origin, incarnation, seq, extra, payload]

``kind`` is a :class:`Kind` code; ``(origin, incarnation, seq)`` names the broadcast (``seq``
counts the origin incarnation's broadcasts of that kind from 1); ``extra`` is what the kind
needs (causal: the dependency vector as a flat ``[origin, incarnation, count, ...]`` list;
Byzantine: the phase, 0 SEND, 1 ECHO, 2 READY; otherwise nil). ``MARK`` reserves the shape:
a point-to-point payload that is a list starting with ``MARK`` is refused by ``Node.send``,
so a receiver can tell the two apart without a new envelope kind (docs/broadcast.md).
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

import msgpack

from netclock.clock import check_pid
from netclock.errors import ClockError, UsageError, WireError

MARK = "\x00netclock-broadcast"
"""The first item of every broadcast frame; reserved in point-to-point payloads."""

SEND, ECHO, READY = 0, 1, 2
"""The phases of a Byzantine reliable broadcast message (Bracha)."""


class Kind(enum.Enum):
    """The broadcast kinds, named as the textbook names them."""

    BEST_EFFORT = "best-effort"
    RELIABLE = "reliable"
    UNIFORM = "uniform"
    FIFO = "fifo"
    CAUSAL = "causal"
    BYZANTINE = "byzantine"

    @classmethod
    def parse(cls, value: Kind | str) -> Kind:
        """``value`` as a kind; raises :class:`~netclock.errors.UsageError` naming the choices."""
        if isinstance(value, Kind):
            return value
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(k.value for k in cls)
            raise UsageError(f"broadcast kind {value!r} is not one of {choices}") from None


CODES = {kind: code for code, kind in enumerate(Kind, start=1)}
"""Each kind's code on the wire."""
KINDS = {code: kind for kind, code in CODES.items()}

BroadcastKey = tuple[str, int, int]
"""A broadcast's id within its kind: ``(origin, incarnation, seq)``."""


class BMessage(NamedTuple):
    """One broadcast as the cores see it; ``clock`` is the origin's (opaque to the cores but
    Bracha, which agrees on ``(clock, payload)``)."""

    kind: Kind
    origin: str
    incarnation: int
    seq: int
    clock: Any
    payload: Any
    extra: Any = None

    @property
    def key(self) -> BroadcastKey:
        """``(origin, incarnation, seq)``."""
        return (self.origin, self.incarnation, self.seq)


def is_frame(payload: Any) -> bool:
    """True when ``payload`` has the reserved shape of a broadcast frame."""
    return type(payload) is list and len(payload) > 0 and payload[0] == MARK


def check_payload(payload: Any) -> None:
    """Raise :class:`~netclock.errors.UsageError` unless ``payload`` encodes with msgpack."""
    try:
        msgpack.packb(payload, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise UsageError(f"payload cannot be encoded with msgpack: {exc}") from exc


def encode(msg: BMessage) -> list[Any]:
    """The frame of ``msg`` (the link message's payload; its clock goes beside it)."""
    return [MARK, CODES[msg.kind], msg.origin, msg.incarnation, msg.seq, msg.extra, msg.payload]


def _uint(value: Any, what: str, low: int = 0) -> int:
    if type(value) is not int or not low <= value < 2**64:
        raise WireError(f"broadcast frame: {what} must be an integer of at least {low}")
    return value


def decode(clock: Any, frame: Any, max_entries: int = 1024) -> BMessage:
    """The broadcast in ``frame`` (a payload :func:`is_frame` accepted) with the link
    message's ``clock``; raises :class:`~netclock.errors.WireError` on anything malformed."""
    if type(frame) is not list or len(frame) != 7 or frame[0] != MARK:
        raise WireError("broadcast frame: not a 7-item frame")
    _, code, origin, incarnation, seq, extra, payload = frame
    kind = KINDS.get(code) if type(code) is int else None
    if kind is None:
        raise WireError(f"broadcast frame: unknown kind {code!r}")
    try:
        check_pid(origin)
    except ClockError as exc:
        raise WireError(f"broadcast frame: origin: {exc}") from None
    _uint(incarnation, "incarnation")
    _uint(seq, "seq", 1)
    if kind is Kind.CAUSAL:
        extra = _deps(extra, max_entries)
    elif kind is Kind.BYZANTINE:
        if extra not in (SEND, ECHO, READY) or type(extra) is not int:
            raise WireError("broadcast frame: Byzantine phase must be 0, 1 or 2")
    elif extra is not None:
        raise WireError(f"broadcast frame: {kind.value} carries nothing extra")
    return BMessage(kind, origin, incarnation, seq, clock, payload, extra)


Deps = tuple[tuple[str, int, int], ...]
"""A causal dependency vector: ``(origin, incarnation, count)`` entries, counts above 0."""


def flat_deps(deps: Deps) -> list[Any]:
    """``deps`` in its wire form, a flat list."""
    return [item for entry in deps for item in entry]


def _deps(value: Any, max_entries: int) -> Deps:
    if type(value) is not list or len(value) % 3 or len(value) > 3 * max_entries:
        raise WireError("broadcast frame: causal dependencies must be a flat list of triples")
    out = []
    for i in range(0, len(value), 3):
        origin, incarnation, count = value[i : i + 3]
        try:
            check_pid(origin)
        except ClockError as exc:
            raise WireError(f"broadcast frame: dependency: {exc}") from None
        out.append((origin, _uint(incarnation, "incarnation"), _uint(count, "count", 1)))
    return tuple(out)
