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
one (:func:`delta_flat`) and how a receiver applies one (:func:`apply_delta`). Where each
link uses them is ``links/session.py``'s business.
"""

from __future__ import annotations

from typing import Any

from netclock.clock import MAX_COUNTER, VectorClock, _new_clock, check_pid
from netclock.errors import ClockError, WireError

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


def decode_delta(flat: list[Any], max_entries: int, known: set[str]) -> ClockDelta:
    """A delta from its wire form, checked (ids, counters 0..2**64-1, no id twice, at most
    ``max_entries`` entries); raises :class:`WireError`."""
    n = len(flat)
    if n & 1 or n > 2 * max_entries:
        raise WireError(f"a clock delta is an even-length array of at most {max_entries} entries")
    entries: dict[str, int] = {}
    removed: list[str] = []
    for i in range(0, n, 2):
        pid, count = flat[i], flat[i + 1]
        if type(pid) is not str or pid not in known:
            if type(pid) is not str:
                raise WireError(f"a clock delta's ids must be str, not {type(pid).__name__}")
            try:
                check_pid(pid)
            except ClockError as exc:
                raise WireError(f"bad clock delta: {exc}") from None
        if type(count) is not int or not 0 <= count <= MAX_COUNTER:
            raise WireError(f"bad clock delta: counter of {pid!r} is {count!r:.40}")
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
