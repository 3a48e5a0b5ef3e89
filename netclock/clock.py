"""Vector clocks: an immutable value, the happened-before relation, GoVector's text form."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any, cast

from netclock.errors import ClockError

MAX_COUNTER = 2**64 - 1
"""Largest counter a clock may hold (GoVector counters are uint64)."""
MAX_PID_LENGTH = 255
"""Longest process id, in characters."""


_BAD_PID_CHAR = re.compile(
    r'[\s\x00-\x1f\x7f-\x9f"\\\ud800-\udfff\u200b-\u200f\u2060-\u2064\ufeff]'
)
SHIVIZ_RESERVED_IDS = frozenset(
    {
        "__proto__",
        "__defineGetter__",
        "__defineSetter__",
        "__lookupGetter__",
        "__lookupSetter__",
        "constructor",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "toString",
        "valueOf",
    }
)
"""Names of JavaScript's ``Object.prototype`` members: ShiViz keeps hosts in plain objects,
so a host with one of these names is refused or breaks its drawing."""


_new_clock = object.__new__
"""Allocates a clock without running ``__init__`` (for entries already checked)."""


class Ordering(enum.Enum):
    """How two vector clocks relate in the happened-before partial order."""

    BEFORE = "before"
    AFTER = "after"
    EQUAL = "equal"
    CONCURRENT = "concurrent"


def check_pid(pid: object) -> str:
    """Return ``pid`` if it can name a process, else raise :class:`ClockError`.

    The one rule for node ids, wherever they appear (a Node, a clock entry, an envelope, a
    log line, a cluster file): a str of 1 to 255 characters with no white space, control
    character, quote, backslash, lone surrogate or invisible format character (U+FEFF,
    zero-width ones), so it prints unquoted in GoVector's text form and ShiViz's host field,
    and not the name of a JavaScript object member (``__proto__``, ``constructor``, ...),
    which ShiViz cannot show. TLS clusters accept a documented subset (see
    :func:`netclock.links.tls.certs.check_node_id`).
    """
    if not isinstance(pid, str):
        raise ClockError(f"process id must be a str, not {type(pid).__name__}")
    if not pid or len(pid) > MAX_PID_LENGTH or _BAD_PID_CHAR.search(pid):
        raise ClockError(
            f"process id {pid!r:.80} must be 1 to {MAX_PID_LENGTH} characters, with no white "
            "space, control character, quote, backslash or invisible character"
        )
    if pid in SHIVIZ_RESERVED_IDS:
        raise ClockError(
            f"process id {pid!r} is the name of a JavaScript object member, which ShiViz "
            "cannot show as a host; choose another name"
        )
    return pid


def _check_counter(pid: str, value: object) -> int:
    if type(value) is not int:
        raise ClockError(f"counter for {pid!r:.80} must be an int, not {type(value).__name__}")
    if not 0 <= value <= MAX_COUNTER:
        raise ClockError(f"counter for {pid!r:.80} is {value}, outside 0..2**64-1")
    return value


def check_clock_entries(value: object, max_entries: int | None = None) -> dict[str, int]:
    """The non-zero entries of a clock in map form, checked: the one rule for every clock
    that comes from outside (a user's mapping, the wire, a GoVector message, a log line).

    ``value`` must be a mapping of process id (as :func:`check_pid` requires) to counter (an
    int in 0..2**64-1), with at most ``max_entries`` entries when that is given. Returns
    ``value`` itself when it is a dict without zero counters (no copy: the caller decides
    whether to share it), else a fresh dict without them. Raises :class:`ClockError` that
    names the first bad entry.
    """
    if not isinstance(value, Mapping):
        raise ClockError(
            f"a clock is a mapping of process id to counter, not {type(value).__name__}"
        )
    if max_entries is not None and len(value) > max_entries:
        raise ClockError(f"clock has {len(value)} entries, more than the limit of {max_entries}")
    zero = type(value) is not dict
    for pid, counter in value.items():
        check_pid(pid)
        if type(counter) is not int or not 0 < counter <= MAX_COUNTER:
            _check_counter(pid, counter)
            zero = True
    if zero:
        return {pid: counter for pid, counter in value.items() if counter}
    return cast("dict[str, int]", value)


class VectorClock:
    """An immutable vector clock keyed by process id; missing entries count as 0.

    A read-only mapping (registered as a :class:`~collections.abc.Mapping`): ``dict(clock)``,
    ``clock["a"]``, ``"a" in clock``, ``len``, iteration, ``keys()`` and ``values()`` (views,
    as a dict's), ``items()`` (a list sorted by process id, GoVector's order); a missing id
    reads as 0 rather than raising ``KeyError``.

    Operations return new clocks. ``tick`` and ``merge`` follow GoVector: a send or local
    event ticks the own entry; a receive ticks and then takes the entry-wise maximum.
    Comparison operators are the partial order: ``a < b`` means ``a`` happened before ``b``.
    """

    __slots__ = ("_entries",)

    _entries: dict[str, int]

    def __init__(self, entries: Mapping[str, int] | None = None) -> None:
        if entries is None:
            self._entries = {}
            return
        checked = check_clock_entries(entries)
        self._entries = dict(checked) if checked is entries else checked

    @classmethod
    def _trusted(cls, entries: dict[str, int]) -> VectorClock:
        """A clock that uses ``entries`` as its storage, unchecked (the caller vouches)."""
        clock = _new_clock(cls)
        clock._entries = entries
        return clock

    # -- access -------------------------------------------------------------------------
    def __getitem__(self, pid: str) -> int:
        return self._entries.get(pid, 0)

    def get(self, pid: str) -> int:
        """The counter of ``pid`` (0 when absent)."""
        return self._entries.get(pid, 0)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, pid: object) -> bool:
        return pid in self._entries

    def keys(self) -> KeysView[str]:
        """The process ids with a non-zero entry (a read-only, set-like view)."""
        return self._entries.keys()

    def values(self) -> ValuesView[int]:
        """The non-zero counters (a read-only view, in the order of :meth:`keys`)."""
        return self._entries.values()

    def items(self) -> list[tuple[str, int]]:
        """The non-zero entries, sorted by process id."""
        return sorted(self._entries.items())

    def to_dict(self) -> dict[str, int]:
        """A fresh dict of the non-zero entries (also the wire form)."""
        return dict(self._entries)

    # -- events ---------------------------------------------------------------------------
    def tick(self, pid: str) -> VectorClock:
        """A copy with ``pid``'s entry one higher (a local or send event of ``pid``)."""
        entries = self._entries.copy()
        value = entries.get(pid, 0)
        if not 0 < value < MAX_COUNTER:
            if value:
                raise ClockError(f"counter for {pid!r} would pass 2**64-1")
            check_pid(pid)
        entries[pid] = value + 1
        clock = _new_clock(VectorClock)
        clock._entries = entries
        return clock

    def merge(self, other: VectorClock) -> VectorClock:
        """The entry-wise maximum of both clocks (commutative, associative, idempotent)."""
        entries = dict(self._entries)
        for pid, value in other._entries.items():
            if value > entries.get(pid, 0):
                entries[pid] = value
        return VectorClock._trusted(entries)

    def receive(self, pid: str, message_clock: VectorClock) -> VectorClock:
        """GoVector's receive rule for ``pid``: own entry + 1, entry-wise max for the others.

        A claim of more for ``pid`` than this clock holds is not merged (``pid`` alone
        knows its own events); raises :class:`ClockError` only when the own counter would
        pass 2**64-1.
        """
        clocks, refusal = receive_all(pid, self, (message_clock,))
        if refusal is not None:
            raise refusal
        return clocks[0]

    # -- order ------------------------------------------------------------------------------
    def compare(self, other: VectorClock) -> Ordering:
        """Where this clock stands relative to ``other``."""
        mine, theirs = self._entries, other._entries
        less = greater = False
        for pid in mine.keys() | theirs.keys():
            a, b = mine.get(pid, 0), theirs.get(pid, 0)
            if a < b:
                less = True
            elif a > b:
                greater = True
            if less and greater:
                return Ordering.CONCURRENT
        if less:
            return Ordering.BEFORE
        if greater:
            return Ordering.AFTER
        return Ordering.EQUAL

    def happens_before(self, other: VectorClock) -> bool:
        """True when this clock's event happened before ``other``'s."""
        return self.compare(other) is Ordering.BEFORE

    def concurrent_with(self, other: VectorClock) -> bool:
        """True when neither event happened before the other (and they differ)."""
        return self.compare(other) is Ordering.CONCURRENT

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VectorClock):
            return NotImplemented
        return self._entries == other._entries

    def __hash__(self) -> int:
        return hash(frozenset(self._entries.items()))

    def _ordering(self, other: object) -> Ordering | None:
        return self.compare(other) if isinstance(other, VectorClock) else None

    def __lt__(self, other: object) -> bool:
        order = self._ordering(other)
        return NotImplemented if order is None else order is Ordering.BEFORE

    def __le__(self, other: object) -> bool:
        order = self._ordering(other)
        return NotImplemented if order is None else order in (Ordering.BEFORE, Ordering.EQUAL)

    def __gt__(self, other: object) -> bool:
        order = self._ordering(other)
        return NotImplemented if order is None else order is Ordering.AFTER

    def __ge__(self, other: object) -> bool:
        order = self._ordering(other)
        return NotImplemented if order is None else order in (Ordering.AFTER, Ordering.EQUAL)

    # -- text and wire -------------------------------------------------------------------------
    def __str__(self) -> str:
        """GoVector's text form: ``{"a":1, "b":2}``, keys sorted."""
        return "{" + ", ".join(f'"{pid}":{value}' for pid, value in self.items()) + "}"

    def __repr__(self) -> str:
        return f"VectorClock({dict(self.items())!r})"

    @classmethod
    def from_wire(cls, value: Any, max_entries: int | None = None) -> VectorClock:
        """A clock from its wire or JSON form (a map of str to uint, zeros allowed), with at
        most ``max_entries`` entries when that is given; raises ``ClockError`` naming the
        first bad entry (see :func:`check_clock_entries`). The map is copied."""
        checked = check_clock_entries(value, max_entries)
        return cls._trusted(dict(checked) if checked is value else checked)

    def to_wire(self) -> dict[str, int]:
        """The wire form: a fresh map of process id to counter."""
        return dict(self._entries)

    @classmethod
    def parse(cls, text: str) -> VectorClock:
        """Read GoVector's text form back (``{"a":1, "b":2}``)."""
        import json

        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ClockError(f"not a clock: {text!r:.80}") from exc
        return cls.from_wire(value)


DEFAULT_MAX_CLOCK_ENTRIES = 256
"""Most entries a clock arriving at a node may hold, unless the node is told otherwise."""


class ClockScope:
    """Which processes a clock arriving at a node may name, and how many entries it may hold.

    ``members`` is a live set (the node adds its peers as it learns them); a clock naming
    anyone else, or holding more than ``max_entries`` entries, is refused before the link
    acknowledges the message (docs/byzantine.md), so no stranger's entry and no bloat ever
    enters a clock. ``members=None`` scopes nothing (any id), only the size.
    """

    __slots__ = ("max_entries", "members")

    def __init__(self, members: set[str] | None, max_entries: int = DEFAULT_MAX_CLOCK_ENTRIES):
        if type(max_entries) is not int or max_entries < 1:
            raise ClockError(f"max_clock_entries must be a positive integer, not {max_entries!r}")
        self.members = members
        self.max_entries = max_entries

    def admits(self, clock: VectorClock) -> bool:
        """True when ``clock`` keeps to the scope (the fast check, one per message)."""
        entries = clock._entries
        members = self.members
        return len(entries) <= self.max_entries and (members is None or entries.keys() <= members)

    def admits_all(self, clocks: Iterable[VectorClock]) -> bool:
        """True when every one of ``clocks`` keeps to the scope (one check per batch: the
        ids they name together, when the members alone keep a clock within the size)."""
        members = self.members
        if members is None or len(members) > self.max_entries:
            return all(map(self.admits, clocks))
        named: set[str] = set()
        update = named.update
        for clock in clocks:
            update(clock._entries)
        return named <= members

    def violation(self, clock: VectorClock) -> str | None:
        """Why ``clock`` breaks the scope, in words (``None`` when it does not)."""
        entries = clock._entries
        if len(entries) > self.max_entries:
            return f"clock has {len(entries)} entries, more than the limit of {self.max_entries}"
        if self.members is not None:
            strangers = sorted(entries.keys() - self.members)
            if strangers:
                more = f" and {len(strangers) - 1} more" if len(strangers) > 1 else ""
                return f"clock names {strangers[0]!r:.80}{more}, not a member of the cluster"
        return None


def receive_all(
    pid: str,
    clock: VectorClock,
    message_clocks: Iterable[VectorClock],
    false_claims: list[tuple[int, int]] | None = None,
) -> tuple[list[VectorClock], ClockError | None]:
    """GoVector's receive rule, applied by ``pid`` to messages in order, starting at ``clock``.

    Each message is a receive event: the entry-wise max with the message's clock for every
    other entry, then ``pid``'s own entry + 1. Returns the clock after each message, in
    order, and ``None``; or, at the first message the rule refuses (an own counter that
    would pass 2**64-1), the clocks before it and the refusal (a :class:`ClockError`).
    Nothing after a refusal is applied.

    A process is the one authority on its own entry: a message whose clock claims more for
    ``pid`` than ``clock`` holds (a lie, or what a peer remembers of an earlier life of
    ``pid`` that started again from 1) is delivered, but the claim is never merged, so one
    process's lie about ``pid`` never cuts anyone off from ``pid`` (docs/byzantine.md).
    Each such claim is appended to ``false_claims`` (when given) as ``(index of the
    message, claimed value)``.

    This is the one place the rule is written (:meth:`VectorClock.receive` and the Node's
    deliveries call it); it runs once per delivered message, so it is kept tight.
    """
    entries = clock._entries
    own = entries.get(pid, 0)
    out: list[VectorClock] = []
    append = out.append
    for message_clock in message_clocks:
        new = entries.copy()
        get = entries.get
        for other, value in message_clock._entries.items():
            if value > get(other, 0):
                if other == pid:
                    if false_claims is not None:
                        false_claims.append((len(out), value))
                    continue
                new[other] = value
        if own >= MAX_COUNTER:
            return out, ClockError(f"counter for {pid!r} would pass 2**64-1")
        own += 1
        new[pid] = own
        clock = _new_clock(VectorClock)
        clock._entries = entries = new
        append(clock)
    return out, None


Mapping.register(VectorClock)
