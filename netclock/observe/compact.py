"""Compact clocks in the event log (format 2): only the entries that changed, written and read.

A node's clock changes in one or two entries per event, so a line need not repeat the other
thirty. The writer keeps, per file, the clock of the previous line and the ``msg_clock`` of
the previous delivery from each sender; a line then carries ``dc`` (the entries of ``clock``
that differ from the previous line's) instead of ``clock``, and a delivery ``dmc`` (the
entries of ``msg_clock`` that differ from the previous delivery's from the same sender)
instead of ``msg_clock``. Whenever the set of process ids differs, and at least every
:data:`FULL_EVERY` lines, the full form is written again, so a reader that lost its place
finds it within that many lines. ``docs/eventlog.md`` ("Compact clocks") is the spec.

Both sides are plain classes without IO: :class:`ClockChanges` (the writer's memory of one
clock), :class:`ClockText` (GoVector's text form of the current clock, re-rendering only the
entries that changed) and :class:`ChainReader` (the reader's per-file state that turns
``dc`` / ``dmc`` back into full clocks, checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import compress
from operator import ne
from typing import Any

from netclock.clock import MAX_COUNTER, check_clock_entries
from netclock.errors import ClockError

__all__ = [
    "FORMAT",
    "FULL_EVERY",
    "ChainReader",
    "ClockChanges",
    "ClockText",
    "Resolved",
    "checked_entries",
]

FORMAT = 2
"""The event-log format whose lines may carry ``dc`` / ``dmc`` (an ``init`` line says
``"format": 2``); format 1 lines (full ``clock`` and ``msg_clock`` only) read the same."""
FULL_EVERY = 1024
"""The writer repeats the full clock at least this often (lines of one file)."""


class ClockChanges:
    """The writer's memory of one clock: which entries changed since the last :meth:`changes`.

    Comparisons run in C over the clock's values in its dict's order; a clock whose process
    ids (or their order) differ from the last one's is reported as ``None``: write it whole.
    """

    __slots__ = ("_keys", "_values")

    def __init__(self) -> None:
        self._keys: list[str] = []
        self._values: list[int] = []

    def changes(self, entries: Mapping[str, int]) -> list[str] | None:
        """The ids whose counters differ from the last call's, or None when the ids differ."""
        keys = list(entries)
        values = list(entries.values())
        if keys == self._keys:
            changed = list(compress(keys, map(ne, values, self._values)))
            self._values = values
            return changed
        self._keys, self._values = keys, values
        return None

    def forget(self) -> None:
        """Make the next :meth:`changes` report the whole clock."""
        self._keys = []


class ClockText:
    """GoVector's text form of a clock (``{"a":1, "b":2}``, ids sorted), kept up to date by
    re-rendering only the entries that changed."""

    __slots__ = ("_parts", "_slot")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._slot: dict[str, int] = {}

    def render(self, entries: Mapping[str, int], changed: list[str] | None) -> str:
        """The text of ``entries``; ``changed`` are the ids that changed since the last call
        (``None``: all of them, or the ids themselves changed)."""
        if changed is None:
            ordered = sorted(entries.items())
            self._parts = [f'"{pid}":{value}' for pid, value in ordered]
            self._slot = {pid: i for i, (pid, _) in enumerate(ordered)}
        else:
            parts, slot = self._parts, self._slot
            for pid in changed:
                parts[slot[pid]] = f'"{pid}":{entries[pid]}'
        return "{" + ", ".join(self._parts) + "}"


def delta_text(entries: Mapping[str, int], changed: list[str]) -> str:
    """The JSON object of the ``changed`` entries of ``entries``."""
    return "{" + ", ".join([f'"{pid}": {entries[pid]}' for pid in changed]) + "}"


def checked_entries(value: Any, known: set[str]) -> dict[str, int]:
    """:func:`~netclock.clock.check_clock_entries` for a reader that meets the same few ids on
    every line: ids in ``known`` passed the rule before, so a map of known ids to positive
    counters is taken as it is; anything else goes through the rule (which raises
    :class:`ClockError` naming the first bad entry), and its ids join ``known``."""
    if type(value) is dict and known.issuperset(value):
        for counter in value.values():  # a loop: a generator costs more than a short map
            if type(counter) is not int or not 0 < counter <= MAX_COUNTER:
                break
        else:
            return value
    checked = check_clock_entries(value)
    known.update(checked)
    return checked


class Resolved(dict[str, int]):
    """A clock the :class:`ChainReader` rebuilt and checked: the event reader takes it as is."""

    __slots__ = ()


class ChainReader:
    """One events file's reading state: the previous line's clock and each sender's last
    ``msg_clock``, to rebuild ``dc`` and ``dmc``.

    :meth:`resolve` replaces them in a decoded line by full clocks (:class:`Resolved`);
    :meth:`lost` is called when a line was skipped, after which a delta cannot be trusted
    until the next full clock. ``known`` holds the process ids that passed the rule before
    (see :func:`checked_entries`): the readers of one run's files may share one set.
    """

    __slots__ = ("_clock", "_known", "_msg")

    def __init__(self, known: set[str] | None = None) -> None:
        self._clock: dict[str, int] | None = None
        self._msg: dict[str, dict[str, int]] = {}
        self._known: set[str] = set() if known is None else known

    def lost(self) -> None:
        """A line was skipped: forget everything."""
        self._clock = None
        self._msg.clear()

    def resolve(self, entry: dict[str, Any]) -> str | None:
        """Rebuild ``entry``'s clocks in place; a sentence saying what is wrong, or None.

        A full ``clock`` (or ``msg_clock``) is checked and remembered; a delta is checked and
        applied to what is remembered. A delta with nothing remembered, or a malformed one,
        is an error (the chain is then lost).
        """
        try:
            if "dc" in entry:
                if self._clock is None:
                    raise ClockError("'dc' (a clock delta) without a full clock before it")
                clock = Resolved(self._clock)
                clock.update(checked_entries(entry.pop("dc"), self._known))
                entry["clock"] = self._clock = clock
            elif "clock" in entry:
                self._clock = entry["clock"] = Resolved(
                    checked_entries(entry["clock"], self._known)
                )
            sender = entry.get("from")
            if "dmc" in entry:
                last = self._msg.get(sender) if type(sender) is str else None
                if last is None:
                    raise ClockError("'dmc' (a message clock delta) without a full one before it")
                msg = Resolved(last)
                msg.update(checked_entries(entry.pop("dmc"), self._known))
                entry["msg_clock"] = self._msg[sender] = msg  # type: ignore[index]
            elif "msg_clock" in entry and type(sender) is str:
                msg = Resolved(checked_entries(entry["msg_clock"], self._known))
                entry["msg_clock"] = self._msg[sender] = msg
        except ClockError as exc:
            self.lost()
            return str(exc)
        return None
