"""Envelopes and lies, built by hand: the pure half of the adversary toolkit (no IO).

Everything here returns bytes or values; :mod:`netclock.adversary.raw` puts the bytes on a
socket. A forged envelope says whatever its maker wants: any sender, incarnation, sequence
number and clock. Which of them a receiver accepts depends on its link (docs/byzantine.md):
a UDP link believes the sender field, a TLS link checks it against the certificate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgpack

from netclock.clock import VectorClock
from netclock.wire.envelope import (
    DATA,
    SEGMENT,
    VERSION,
    encode_data,
    encode_hello,
    encode_segment,
    message_wire,
)
from netclock.wire.framing import encode_frames

__all__ = [
    "MALFORMED",
    "Equivocation",
    "backwards",
    "claims_more_of",
    "data_envelope",
    "frames",
    "hello_envelope",
    "jumped",
    "segment_envelope",
    "wrong_value",
]

FORGED_INCARNATION = 2**62
"""The incarnation a forged reliable-link segment uses by default: above any real one, so a
UDP receiver takes it for the claimed sender's newest restart."""


def data_envelope(
    sender: str,
    receiver: str,
    payload: Any,
    *,
    seq: int = 1,
    incarnation: int = 1,
    clock: VectorClock | None = None,
) -> bytes:
    """A DATA envelope (the fair-loss and stubborn links' message) claiming to be from
    ``sender``. The clock defaults to ``{sender: seq}``."""
    return encode_data(
        sender, incarnation, receiver, seq, clock or VectorClock({sender: seq}), payload
    )


def segment_envelope(
    sender: str,
    receiver: str,
    payloads: Sequence[Any],
    *,
    first_seq: int = 1,
    incarnation: int = FORGED_INCARNATION,
    clocks: Sequence[VectorClock] | None = None,
) -> bytes:
    """A perfect-link SEGMENT claiming to be from ``sender``, carrying ``payloads`` as
    messages ``first_seq, first_seq + 1, ...`` (clocks default to ``{sender: seq}``).

    Its ``base`` is ``first_seq``: a receiver meeting this incarnation for the first time
    starts receiving there.
    """
    messages = [
        message_wire(
            first_seq + i,
            clocks[i] if clocks is not None else VectorClock({sender: first_seq + i}),
            payload,
        )
        for i, payload in enumerate(payloads)
    ]
    return encode_segment(sender, incarnation, receiver, first_seq, None, messages)


def hello_envelope(sender: str, receiver: str, *, incarnation: int = 1) -> bytes:
    """A TLS link's HELLO claiming to be from ``sender`` (nothing received, a full window)."""
    return encode_hello(sender, incarnation, receiver, 0, 0, 1024)


def frames(envelopes: Iterable[bytes]) -> bytes:
    """Envelopes framed for a TLS (or any stream) connection, ready to write."""
    return encode_frames(envelopes)


# -- lying clocks --------------------------------------------------------------------------------
def claims_more_of(clock: VectorClock, victim: str, by: int = 1) -> VectorClock:
    """``clock`` claiming ``by`` more events of ``victim`` than it knows of: sent to
    ``victim``, it claims the receiver did things it never did (its receive rule refuses it)."""
    return clock.merge(VectorClock({victim: clock.get(victim) + by}))


def backwards(clock: VectorClock, owner: str, by: int = 1) -> VectorClock:
    """``clock`` with ``owner``'s own entry ``by`` lower (at least 1): a clock that went back."""
    entries = clock.to_dict()
    entries[owner] = max(1, entries.get(owner, 1) - by)
    return VectorClock(entries)


def jumped(clock: VectorClock, owner: str, by: int = 1_000_000) -> VectorClock:
    """``clock`` with ``owner``'s own entry ``by`` higher: events that never happened."""
    return clock.merge(VectorClock({owner: clock.get(owner) + by}))


# -- wrong values ---------------------------------------------------------------------------------
def wrong_value(value: Any, salt: int = 1) -> Any:
    """A value of the same shape as ``value`` that is not equal to it (``salt`` picks which
    wrong value: two liars with different salts disagree, with the same salt they collude)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + salt
    if isinstance(value, str):
        return f"{value}{'!' * salt}"
    if isinstance(value, bytes):
        return value + b"\x00" * salt
    if isinstance(value, list):
        return [*value, salt]
    if isinstance(value, dict):
        return {**value, "__lie__": salt}
    return salt


class Equivocation:
    """Different answers to different peers for the same request: ``answer(peer, honest)``
    is the honest value for the peers in ``truthful`` and a wrong one (a different one per
    peer) for every other."""

    def __init__(self, truthful: Iterable[str] = ()) -> None:
        self.truthful = frozenset(truthful)
        self._salts: dict[str, int] = {}

    def answer(self, peer: str, honest: Any) -> Any:
        if peer in self.truthful:
            return honest
        salt = self._salts.setdefault(peer, len(self._salts) + 1)
        return wrong_value(honest, salt)


# -- malformed envelopes ----------------------------------------------------------------------
def _raw(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


MALFORMED: Mapping[str, bytes] = {
    "empty": b"",
    "not msgpack": b"\xc1\xc1\xc1 garbage",
    "truncated": data_envelope("x", "y", "hello")[:-3],
    "not an array": _raw({"v": VERSION}),
    "too short": _raw([VERSION, DATA, "x"]),
    "unknown version": _raw([99, DATA, "x", 1, "y", 1, {"x": 1}, "p"]),
    "unknown kind": _raw([VERSION, 77, "x", 1, "y", 1, {"x": 1}, "p"]),
    "sender not a str": _raw([VERSION, DATA, 5, 1, "y", 1, {"x": 1}, "p"]),
    "negative seq": _raw([VERSION, DATA, "x", 1, "y", -1, {"x": 1}, "p"]),
    "zero seq": _raw([VERSION, DATA, "x", 1, "y", 0, {"x": 1}, "p"]),
    "clock not a map": _raw([VERSION, DATA, "x", 1, "y", 1, [1, 2], "p"]),
    "negative counter": _raw([VERSION, DATA, "x", 1, "y", 1, {"x": -4}, "p"]),
    "bad process id": _raw([VERSION, DATA, "x", 1, "y", 1, {"a b\n": 1}, "p"]),
    "extension type": b"\x98\x01\x01\xa1x\x01\xa1y\x01\x81\xa1x\x01\xd4\x05\x00",
    "segment with bad ack": _raw([VERSION, SEGMENT, "x", 1, "y", 1, [1, 2], []]),
    "huge array header": b"\xdd\xff\xff\xff\xff",
}
"""Envelopes no decoder may accept, by what is wrong with them. Each must be counted and
dropped by every link, never raise out of the event loop. The ids ``x`` and ``y`` are
placeholders (an envelope that decoded would still be for another node)."""
