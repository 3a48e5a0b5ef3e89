"""Compressed clocks on the wire: a message's clock as the entries that changed since the
previous message of the same stream (Singhal-Kshemkalyani), sans-IO.

A perfect-link stream (one sender incarnation to one receiver) numbers its messages 1, 2,
3, ...; with the ``diff`` clock encoding the clock of message ``n`` may travel as a
**delta** against the clock of message ``n - 1`` of the same stream (message 0's clock is
the empty clock): a msgpack array ``[id₁, counter₁, id₂, counter₂, ...]`` of the entries
that differ, a counter of 0 meaning "no longer in the clock". A full clock is still a map.
The receiver rebuilds the clock exactly, in sequence order, from the last clock it
rebuilt; when it does not hold message ``n - 1``'s clock it does not guess: it drops the
message unacknowledged and the sender resends it with its full clock (docs/wire.md,
"Compressed clocks").

This module holds the values and the pure rules: what a delta is, how a sender computes
one (:func:`delta_flat`) and how a receiver applies one (:func:`apply_delta`); the
strict decoder of the wire form is :func:`netclock.wire.envelope.decode_delta`. Where each
link uses them is ``links/session.py``'s business.
"""

from __future__ import annotations

from typing import Any

from netclock.clock import VectorClock

CLOCK_ENCODINGS = ("full", "diff")
"""The clock encodings a reliable link may use on the wire."""


class ClockDelta(VectorClock):
    """A clock as it arrived in delta form: not a clock yet.

    ``_entries`` holds the entries the delta sets (all non-zero), ``removed`` the ids it
    takes out. Only :func:`apply_delta` turns it into a clock; a link never delivers one.
    """

    __slots__ = ("removed",)

    removed: tuple[str, ...]


def delta_flat(previous: dict[str, int], current: dict[str, int]) -> list[Any]:
    """The wire form of ``current`` against ``previous``: ``[id, counter, ...]`` for every
    entry that differs, with counter 0 for an id ``current`` no longer has."""
    get = previous.get
    changed = [pid for pid, count in current.items() if get(pid) != count]
    flat: list[Any] = []
    extend = flat.extend
    added = 0
    for pid in changed:
        extend((pid, current[pid]))
        if pid not in previous:
            added += 1
    if len(current) - added < len(previous):  # some entry of previous is gone
        for pid in previous.keys() - current.keys():
            extend((pid, 0))
    return flat


def apply_delta(previous: dict[str, int], delta: ClockDelta) -> dict[str, int]:
    """The entries of the clock ``delta`` stands for, given the previous message's
    (``previous`` is not changed)."""
    entries = previous.copy()
    entries.update(delta._entries)
    if delta.removed:
        for pid in delta.removed:
            entries.pop(pid, None)
    return entries
