"""How a seed decides: the fate of each datagram, and seeded random generators.

Everything here is a pure function of the seed and of names and numbers the caller gives;
no global random state, no ``hash()``, so every process computes the same decisions.

Fates. :class:`DirectionFates` holds the resolved parameters of one direction ``sender ->
receiver`` and decides each datagram with BLAKE2b (48-byte digest) keyed with the seed as
8 little-endian bytes, personalised with ``b"netclock-fi"`` when every key element and the
attempt fit a signed 64-bit integer (then the message is the length-prefixed UTF-8 sender
and receiver, followed by the key elements and the attempt packed as little-endian int64),
else with ``b"netclock-fa"`` (then the same prefix is followed by ``repr((key, attempt))``
in UTF-8). The digest is read as six little-endian uint64 words ``w0..w5``: the datagram is
lost when ``w0 < loss * 2**64``, duplicated when ``w1 < duplicate * 2**64``; copy ``i``
(0 original, 1 duplicate) is reordered when ``w[2 + 2i] < reorder * 2**64`` and its delay
model sees ``(w[3 + 2i] >> 11) * 2**-53``.

Generators. :func:`seeded_random` gives a :class:`random.Random` seeded with the 32-byte
BLAKE2b digest (keyed with the seed as above, personalised with ``b"netclock-rng"``) of the
length-prefixed UTF-8 purpose, sender and receiver, read as a little-endian integer.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
from collections.abc import Callable
from typing import NamedTuple

from netclock.faults.delay import DelayModel

__all__ = ["LOST", "PARTITIONED", "SEND_NOW", "DirectionFates", "Fate", "seeded_random"]


class Fate(NamedTuple):
    """What happens to one datagram: ``drop``, or one send per entry of ``delays`` (seconds).

    ``delays`` is empty when dropped and has two entries when the datagram is duplicated.
    """

    drop: bool
    delays: tuple[float, ...]


SEND_NOW = Fate(False, (0.0,))
"""One copy, sent at once."""
_SEND_TWICE_NOW = Fate(False, (0.0, 0.0))
LOST = Fate(True, ())
"""Dropped at random."""
PARTITIONED = Fate(True, ())
"""Dropped by a partition: equal to :data:`LOST` but a distinct object, so a counter can
tell the causes apart by identity (``fate is PARTITIONED``)."""

_TWO64 = float(2**64)
_UNIT = 2.0**-53
_UNPACK_WORDS = struct.Struct("<6Q").unpack
_PACKERS = tuple(struct.Struct(f"<{n}q").pack for n in range(1, 10))
"""Packers for key plus attempt, by key length 0..8; longer keys take the repr path."""
_PERSON_INT = b"netclock-fi"
_PERSON_ANY = b"netclock-fa"
_PERSON_RNG = b"netclock-rng"
_DIGEST_SIZE = 48


def _prefix(*parts: str) -> bytes:
    return b"".join(len(raw).to_bytes(4, "little") + raw for raw in (p.encode() for p in parts))


def _threshold(probability: float) -> int:
    """The uint64 bound below which an event of this probability happens (2**64 for 1.0)."""
    return math.ceil(probability * _TWO64)


def seeded_random(seed: int, purpose: str, sender: str, receiver: str) -> random.Random:
    """A generator whose stream depends only on ``(seed, purpose, sender, receiver)``."""
    digest = hashlib.blake2b(
        _prefix(purpose, sender, receiver),
        key=seed.to_bytes(8, "little"),
        person=_PERSON_RNG,
        digest_size=32,
    ).digest()
    return random.Random(int.from_bytes(digest, "little"))


class DirectionFates:
    """The fates of the datagrams ``sender -> receiver``: parameters resolved once.

    ``windows`` are the partition windows ``(start, end)`` cutting this direction, in
    seconds since the plan's epoch (``end`` is ``math.inf`` for a partition that never
    heals); ``delay`` is the delay model of this direction. Build one per direction and keep
    it: building hashes the names.
    """

    __slots__ = (
        "_any",
        "_int",
        "delay",
        "delay_zero",
        "dup_t",
        "gst",
        "loss_t",
        "quiet",
        "reorder_delay",
        "reorder_t",
        "sample",
        "sample_settled",
        "windows",
    )

    def __init__(
        self,
        seed: int,
        sender: str,
        receiver: str,
        *,
        loss: float,
        duplicate: float,
        reorder: float,
        reorder_delay: float,
        delay: DelayModel,
        windows: tuple[tuple[float, float], ...],
    ) -> None:
        if reorder_delay == 0.0:
            reorder = 0.0
        self.windows = windows
        self.loss_t = _threshold(loss)
        self.dup_t = _threshold(duplicate)
        self.reorder_t = _threshold(reorder)
        self.reorder_delay = reorder_delay
        self.delay = delay
        self.sample: Callable[[float], float] = delay.sample
        self.gst = delay.stable_from
        self.sample_settled: Callable[[float], float] = delay.settled().sample
        self.delay_zero = delay.is_zero
        self.quiet = loss == 0.0 and duplicate == 0.0 and reorder == 0.0 and delay.is_zero
        prefix = _prefix(sender, receiver)
        key = seed.to_bytes(8, "little")
        self._int = hashlib.blake2b(prefix, key=key, person=_PERSON_INT, digest_size=_DIGEST_SIZE)
        self._any = hashlib.blake2b(prefix, key=key, person=_PERSON_ANY, digest_size=_DIGEST_SIZE)

    def fate(self, key: tuple[int | str, ...], attempt: int, t: float) -> Fate:
        """The fate of datagram ``key`` (transmission ``attempt``) at ``t`` since the epoch."""
        for start, end in self.windows:
            if start <= t < end:
                return PARTITIONED
        if self.quiet:
            return SEND_NOW
        try:
            data = _PACKERS[len(key)](*key, attempt)
            digest = self._int.copy()
        except (IndexError, struct.error):
            data = repr((key, attempt)).encode()
            digest = self._any.copy()
        digest.update(data)
        w0, w1, w2, w3, w4, w5 = _UNPACK_WORDS(digest.digest())
        if w0 < self.loss_t:
            return LOST
        twice = w1 < self.dup_t
        if self.delay_zero and not self.reorder_t:
            return _SEND_TWICE_NOW if twice else SEND_NOW
        sample = self.sample if t < self.gst else self.sample_settled
        first = sample((w3 >> 11) * _UNIT)
        if w2 < self.reorder_t:
            first += self.reorder_delay
        if not twice:
            return Fate(False, (first,))
        second = sample((w5 >> 11) * _UNIT)
        if w4 < self.reorder_t:
            second += self.reorder_delay
        return Fate(False, (first, second))
