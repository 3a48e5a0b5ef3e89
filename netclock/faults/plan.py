"""Seeded, reproducible network faults: loss, duplication, reordering, delay, partitions.

A :class:`FaultPlan` is pure data. :meth:`FaultPlan.fate` decides what happens to one
datagram, and is a pure function of ``(seed, sender, receiver, key, attempt)`` for its random
parts plus the partition schedule at time ``t``: the same seed gives the same fates in any
process, in any order of calls. No asyncio, no sockets, no global random state.

A datagram adapter holds one :class:`FaultInjector` per node, calls
:meth:`FaultInjector.decide` for every datagram it is about to send, and sends one copy per
entry of :attr:`Fate.delays` after that many seconds (``0.0`` means now). When
:attr:`FaultPlan.is_quiet` is true nothing can happen, and the adapter should skip all of it.

How the random parts are drawn (stable, so a peer in another language can reproduce it):
BLAKE2b with a 48-byte digest, keyed with the seed as 8 little-endian bytes, personalised
with ``b"netclock-fi"`` when every key element and the attempt fit a signed 64-bit integer
(then the message is the length-prefixed UTF-8 sender and receiver, followed by the key
elements and the attempt packed as little-endian int64), else with ``b"netclock-fa"`` (then
the same prefix is followed by ``repr((key, attempt))`` in UTF-8). The digest is read as six
little-endian uint64 words ``w0..w5``: the datagram is lost when ``w0 < loss * 2**64``,
duplicated when ``w1 < duplicate * 2**64``; copy ``i`` (0 original, 1 duplicate) is reordered
when ``w[2 + 2i] < reorder * 2**64`` and its delay model sees ``(w[3 + 2i] >> 11) * 2**-53``.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import struct
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from netclock.clock import check_pid
from netclock.errors import ClockError, ConfigError, UsageError

__all__ = [
    "DELAY_KINDS",
    "DelayModel",
    "ExponentialDelay",
    "Fate",
    "FaultInjector",
    "FaultPlan",
    "FaultStats",
    "FixedDelay",
    "LinkFaults",
    "NoDelay",
    "Partition",
    "UniformDelay",
    "add_cli_arguments",
    "from_cli",
    "parse_delay",
    "parse_duration",
]

_MAX_SEED = 2**64 - 1
_TWO64 = float(2**64)
_UNIT = 2.0**-53


# -- validation helpers ------------------------------------------------------------------
def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _probability(value: object, name: str) -> float:
    if not _is_number(value) or not 0.0 <= value <= 1.0:  # type: ignore[operator]
        raise ConfigError(f"{name} must be a probability between 0 and 1, not {_describe(value)}")
    return float(value)  # type: ignore[arg-type]


def _seconds(value: object, name: str) -> float:
    """A non-negative finite number of seconds; a duration string such as "2ms" also works."""
    if isinstance(value, str):
        return parse_duration(value, name)
    if not _is_number(value) or not 0.0 <= value < math.inf:  # type: ignore[operator]
        raise ConfigError(
            f"{name} must be a non-negative number of seconds (or a duration such as '2ms'), "
            f"not {_describe(value)}"
        )
    return float(value)  # type: ignore[arg-type]


def _time_point(value: object, name: str) -> float:
    if not _is_number(value) or not math.isfinite(value):  # type: ignore[arg-type]
        raise ConfigError(
            f"{name} must be a finite number of seconds since the plan's epoch, "
            f"not {_describe(value)}"
        )
    return float(value)  # type: ignore[arg-type]


def _seed(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_SEED:
        raise ConfigError(
            f"{name} must be an integer between 0 and 2**64-1, not {_describe(value)}"
        )
    return value


def _boolean(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, not {_describe(value)}")
    return value


def _node_id(value: object, name: str) -> str:
    try:
        return check_pid(value)
    except ClockError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _table(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a table (mapping), not {_describe(value)}")
    return value


def _check_keys(table: Mapping[str, Any], allowed: Iterable[str], name: str) -> None:
    allowed = tuple(allowed)
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{name}.{key} is not a known key; use one of {', '.join(allowed)}")


# -- durations ---------------------------------------------------------------------------
_DURATION = re.compile(
    r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?\s*(s|ms|us|µs|ns)?\s*"
)
_DIVISORS = {None: 1.0, "s": 1.0, "ms": 1e3, "us": 1e6, "µs": 1e6, "ns": 1e9}


def parse_duration(text: str, name: str = "duration") -> float:
    """Parse ``"2ms"``, ``"1.5s"``, ``"500us"`` or ``"0.002"`` (bare numbers are seconds)."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ConfigError(
            f"{name} must be a duration such as '2ms', '1.5s', '500us' or '0.002', "
            f"not {_describe(text)}"
        )
    number = float(match.group(1) + (f"e{match.group(2)}" if match.group(2) else ""))
    seconds = number / _DIVISORS[match.group(3)]
    if not math.isfinite(seconds):
        raise ConfigError(f"{name} must be a finite duration, not {_describe(text)}")
    return seconds


# -- delay models ------------------------------------------------------------------------
DELAY_KINDS = ("none", "fixed", "uniform", "exponential")
"""The ``kind`` values a delay table may name, in the order error messages list them."""


@dataclass(frozen=True)
class DelayModel:
    """How long one copy of a datagram waits before it is sent.

    :meth:`sample` maps a uniform number in [0, 1) to a delay in seconds (never negative);
    the plan supplies that number, so delays are as reproducible as every other fate.
    """

    kind: ClassVar[str] = ""

    def sample(self, u: float) -> float:
        """Return the delay in seconds for the uniform number ``u`` in [0, 1)."""
        raise NotImplementedError

    @property
    def is_zero(self) -> bool:
        """True when every sample is 0 (the model never delays anything)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The config-table form that :meth:`FaultPlan.from_dict` reads back."""
        raise NotImplementedError


@dataclass(frozen=True)
class NoDelay(DelayModel):
    """No delay: every copy is sent at once."""

    kind: ClassVar[str] = "none"

    def sample(self, u: float) -> float:
        return 0.0

    @property
    def is_zero(self) -> bool:
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class FixedDelay(DelayModel):
    """Every copy waits exactly ``seconds``."""

    kind: ClassVar[str] = "fixed"
    seconds: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "seconds", _seconds(self.seconds, "FixedDelay.seconds"))

    def sample(self, u: float) -> float:
        return self.seconds

    @property
    def is_zero(self) -> bool:
        return self.seconds == 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seconds": self.seconds}


@dataclass(frozen=True)
class UniformDelay(DelayModel):
    """Each copy waits a delay drawn uniformly from [``low``, ``high``)."""

    kind: ClassVar[str] = "uniform"
    low: float
    high: float

    def __post_init__(self) -> None:
        low = _seconds(self.low, "UniformDelay.low")
        high = _seconds(self.high, "UniformDelay.high")
        if high < low:
            raise ConfigError(f"UniformDelay.high ({high}) must not be less than low ({low})")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def sample(self, u: float) -> float:
        return self.low + (self.high - self.low) * u

    @property
    def is_zero(self) -> bool:
        return self.high == 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class ExponentialDelay(DelayModel):
    """Each copy waits an exponentially distributed delay with ``mean``, at most ``cap``.

    With ``cap=None`` the delay is still bounded: about 37 times the mean at the most,
    because the uniform number has 53 bits.
    """

    kind: ClassVar[str] = "exponential"
    mean: float
    cap: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", _seconds(self.mean, "ExponentialDelay.mean"))
        if self.cap is not None:
            object.__setattr__(self, "cap", _seconds(self.cap, "ExponentialDelay.cap"))

    def sample(self, u: float) -> float:
        delay = -self.mean * math.log1p(-u)
        cap = self.cap
        return delay if cap is None or delay <= cap else cap

    @property
    def is_zero(self) -> bool:
        return self.mean == 0.0 or self.cap == 0.0

    def to_dict(self) -> dict[str, Any]:
        table: dict[str, Any] = {"kind": self.kind, "mean": self.mean}
        if self.cap is not None:
            table["cap"] = self.cap
        return table


_DELAY_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "none": ((), ()),
    "fixed": (("seconds",), ()),
    "uniform": (("low", "high"), ()),
    "exponential": (("mean",), ("cap",)),
}
"""Required and optional keys of a delay table, by kind."""


def _delay_from_config(value: object, name: str) -> DelayModel:
    if isinstance(value, DelayModel):
        return value
    if isinstance(value, str):
        return parse_delay(value, name)
    table = _table(value, name)
    kind = table.get("kind")
    if kind not in _DELAY_FIELDS:
        raise ConfigError(f"{name}.kind must be one of {', '.join(DELAY_KINDS)}, not {kind!r}")
    required, optional = _DELAY_FIELDS[kind]
    _check_keys(table, ("kind", *required, *optional), name)
    for key in required:
        if key not in table:
            raise ConfigError(f"{name}.{key} is required when {name}.kind is {kind!r}")
    values = {
        key: _seconds(table[key], f"{name}.{key}") for key in (*required, *optional) if key in table
    }
    if kind == "none":
        return NoDelay()
    if kind == "fixed":
        return FixedDelay(values["seconds"])
    if kind == "uniform":
        if values["high"] < values["low"]:
            raise ConfigError(
                f"{name}.high ({values['high']}) must not be less than {name}.low ({values['low']})"
            )
        return UniformDelay(values["low"], values["high"])
    return ExponentialDelay(values["mean"], values.get("cap"))


def parse_delay(text: str, name: str = "--delay") -> DelayModel:
    """Parse a delay written on a command line.

    ``"none"`` or ``"0"``: no delay; ``"2ms"``: fixed; ``"1ms..5ms"``: uniform;
    ``"exp:2ms"`` or ``"exp:2ms:50ms"``: exponential with that mean (and cap).
    """
    spec = text.strip()
    if spec == "none":
        return NoDelay()
    if spec.startswith("exp:"):
        parts = spec[4:].split(":")
        if len(parts) > 2:
            raise ConfigError(f"{name} must look like 'exp:MEAN' or 'exp:MEAN:CAP', not {text!r}")
        mean = parse_duration(parts[0], name)
        cap = parse_duration(parts[1], name) if len(parts) == 2 else None
        return ExponentialDelay(mean, cap)
    if ".." in spec:
        low_text, _, high_text = spec.partition("..")
        low, high = parse_duration(low_text, name), parse_duration(high_text, name)
        if high < low:
            raise ConfigError(f"{name} range {text!r} must not end before it starts")
        return UniformDelay(low, high)
    seconds = parse_duration(spec, name)
    return NoDelay() if seconds == 0.0 else FixedDelay(seconds)


# -- partitions --------------------------------------------------------------------------
@dataclass(frozen=True)
class Partition:
    """Datagrams ``a -> b`` (and ``b -> a`` unless ``one_way``) are dropped while
    ``start <= t < end``, with ``t`` in seconds since the plan's epoch.

    ``end=None`` means the partition never heals. To heal one live, replace the plan with
    one whose partition has an ``end`` (plans are values; see :attr:`FaultInjector.plan`).
    """

    a: str
    b: str
    one_way: bool = False
    start: float = 0.0
    end: float | None = None

    def __post_init__(self) -> None:
        _node_id(self.a, "Partition.a")
        _node_id(self.b, "Partition.b")
        if self.a == self.b:
            raise ConfigError(f"Partition needs two different nodes, not {self.a!r} twice")
        _boolean(self.one_way, "Partition.one_way")
        object.__setattr__(self, "start", _time_point(self.start, "Partition.start"))
        if self.end is not None:
            end = _time_point(self.end, "Partition.end")
            if end <= self.start:
                raise ConfigError(
                    f"Partition.end ({end}) must be after start ({self.start}); "
                    "leave end out for a partition that never heals"
                )
            object.__setattr__(self, "end", end)

    def blocks(self, sender: str, receiver: str) -> bool:
        """True when this partition cuts the direction ``sender -> receiver`` (at some time)."""
        if sender == self.a and receiver == self.b:
            return True
        return not self.one_way and sender == self.b and receiver == self.a

    def active(self, t: float) -> bool:
        """True when the partition is in force at ``t`` seconds since the epoch."""
        return self.start <= t and (self.end is None or t < self.end)

    def to_dict(self) -> dict[str, Any]:
        """The config-table form (``between``); ``end`` is left out when it never heals."""
        table: dict[str, Any] = {
            "between": [self.a, self.b],
            "one_way": self.one_way,
            "start": self.start,
        }
        if self.end is not None:
            table["end"] = self.end
        return table


_PARTITION_KEYS = ("between", "groups", "one_way", "start", "end")


def _partitions_from_config(value: object, name: str) -> tuple[Partition, ...]:
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{name} must be a list of tables, not {_describe(value)}")
    result: list[Partition] = []
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if isinstance(item, Partition):
            result.append(item)
            continue
        table = _table(item, where)
        _check_keys(table, _PARTITION_KEYS, where)
        start = _time_point(table.get("start", 0.0), f"{where}.start")
        end = None if "end" not in table else _time_point(table["end"], f"{where}.end")
        if end is not None and end <= start:
            raise ConfigError(
                f"{where}.end ({end}) must be after {where}.start ({start}); "
                "leave end out for a partition that never heals"
            )
        one_way = _boolean(table.get("one_way", False), f"{where}.one_way")
        if ("between" in table) == ("groups" in table):
            raise ConfigError(
                f"{where} needs exactly one of between = [a, b] or groups = [[...], ...]"
            )
        if "between" in table:
            pair = table["between"]
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ConfigError(
                    f"{where}.between must be a list of two node ids, not {_describe(pair)}"
                )
            a = _node_id(pair[0], f"{where}.between[0]")
            b = _node_id(pair[1], f"{where}.between[1]")
            if a == b:
                raise ConfigError(f"{where}.between must name two different nodes, not {a!r} twice")
            result.append(Partition(a, b, one_way, start, end))
            continue
        if one_way:
            raise ConfigError(f"{where}.one_way is only allowed with between, not with groups")
        groups = _groups_from_config(table["groups"], f"{where}.groups")
        for i, group in enumerate(groups):
            for other in groups[i + 1 :]:
                result.extend(Partition(a, b, False, start, end) for a in group for b in other)
    return tuple(result)


def _groups_from_config(value: object, name: str) -> list[list[str]]:
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise ConfigError(
            f"{name} must be a list of at least two lists of node ids, not {_describe(value)}"
        )
    seen: set[str] = set()
    groups: list[list[str]] = []
    for i, group in enumerate(value):
        if not isinstance(group, list | tuple) or not group:
            raise ConfigError(
                f"{name}[{i}] must be a non-empty list of node ids, not {_describe(group)}"
            )
        members = [_node_id(member, f"{name}[{i}][{j}]") for j, member in enumerate(group)]
        for member in members:
            if member in seen:
                raise ConfigError(f"{name} lists node {member!r} in more than one group")
            seen.add(member)
        groups.append(members)
    return groups


# -- per-link overrides ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkFaults:
    """Overrides of a plan's parameters for one direction of one link; ``None`` inherits."""

    loss: float | None = None
    duplicate: float | None = None
    reorder: float | None = None
    reorder_delay: float | None = None
    delay: DelayModel | None = None

    def __post_init__(self) -> None:
        for key in ("loss", "duplicate", "reorder"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, _probability(value, f"LinkFaults.{key}"))
        if self.reorder_delay is not None:
            object.__setattr__(
                self, "reorder_delay", _seconds(self.reorder_delay, "LinkFaults.reorder_delay")
            )
        if self.delay is not None and not isinstance(self.delay, DelayModel):
            raise ConfigError(f"LinkFaults.delay must be a DelayModel, not {_describe(self.delay)}")

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], *, name: str = "link") -> LinkFaults:
        """Read an override table such as ``{loss = 0.3}``; raises ConfigError naming the key."""
        table = _table(table, name)
        _check_keys(table, _LINK_KEYS, name)
        return cls(
            loss=_probability(table["loss"], f"{name}.loss") if "loss" in table else None,
            duplicate=(
                _probability(table["duplicate"], f"{name}.duplicate")
                if "duplicate" in table
                else None
            ),
            reorder=_probability(table["reorder"], f"{name}.reorder")
            if "reorder" in table
            else None,
            reorder_delay=(
                _seconds(table["reorder_delay"], f"{name}.reorder_delay")
                if "reorder_delay" in table
                else None
            ),
            delay=_delay_from_config(table["delay"], f"{name}.delay") if "delay" in table else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Only the overridden keys, in config form."""
        table: dict[str, Any] = {}
        for key in ("loss", "duplicate", "reorder", "reorder_delay"):
            value = getattr(self, key)
            if value is not None:
                table[key] = value
        if self.delay is not None:
            table["delay"] = self.delay.to_dict()
        return table


_LINK_KEYS = ("loss", "duplicate", "reorder", "reorder_delay", "delay")
_PLAN_KEYS = (
    "seed",
    "loss",
    "duplicate",
    "reorder",
    "reorder_delay",
    "delay",
    "partitions",
    "links",
)


def _link_name(key: object, name: str) -> list[tuple[str, str]]:
    """``"a->b"`` is one direction, ``"a<->b"`` both."""
    if isinstance(key, str):
        for arrow, both in (("<->", True), ("->", False)):
            if key.count(arrow) == 1 and (both or "<->" not in key):
                left, _, right = key.partition(arrow)
                a = _node_id(left.strip(), f"{name} key {key!r}")
                b = _node_id(right.strip(), f"{name} key {key!r}")
                return [(a, b), (b, a)] if both else [(a, b)]
    raise ConfigError(
        f"{name} key {_describe(key)} must name a direction as 'sender->receiver' "
        "(or 'a<->b' for both directions)"
    )


def _links_from_config(value: object, name: str) -> dict[tuple[str, str], LinkFaults]:
    table = _table(value, name)
    links: dict[tuple[str, str], LinkFaults] = {}
    for key, overrides in table.items():
        where = f'{name}."{key}"'
        parsed = LinkFaults.from_dict(_table(overrides, where), name=where)
        for direction in _link_name(key, name):
            if direction in links:
                raise ConfigError(f"{name} sets {direction[0]}->{direction[1]} more than once")
            links[direction] = parsed
    return links


# -- fates -------------------------------------------------------------------------------
class Fate(NamedTuple):
    """What happens to one datagram: ``drop``, or one send per entry of ``delays`` (seconds).

    ``delays`` is empty when dropped and has two entries when the datagram is duplicated.
    """

    drop: bool
    delays: tuple[float, ...]


_SEND_NOW = Fate(False, (0.0,))
_SEND_TWICE_NOW = Fate(False, (0.0, 0.0))
_LOST = Fate(True, ())
_PARTITIONED = Fate(True, ())
"""Distinct objects from ``_LOST`` so the injector can tell the causes apart by identity."""

_UNPACK_WORDS = struct.Struct("<6Q").unpack
_PACKERS = tuple(struct.Struct(f"<{n}q").pack for n in range(1, 10))
"""Packers for key plus attempt, by key length 0..8; longer keys take the repr path."""
_PERSON_INT = b"netclock-fi"
_PERSON_ANY = b"netclock-fa"
_DIGEST_SIZE = 48


class _Link:
    """The resolved parameters of one direction ``sender -> receiver``, ready for fates."""

    __slots__ = (
        "_any",
        "_int",
        "delay_zero",
        "dup_t",
        "loss_t",
        "quiet",
        "reorder_delay",
        "reorder_t",
        "sample",
        "windows",
    )

    def __init__(
        self,
        seed: int,
        sender: str,
        receiver: str,
        params: tuple[float, float, float, float, DelayModel],
        windows: tuple[tuple[float, float], ...],
    ) -> None:
        loss, duplicate, reorder, reorder_delay, delay = params
        if reorder_delay == 0.0:
            reorder = 0.0
        self.windows = windows
        self.loss_t = _threshold(loss)
        self.dup_t = _threshold(duplicate)
        self.reorder_t = _threshold(reorder)
        self.reorder_delay = reorder_delay
        self.sample: Callable[[float], float] = delay.sample
        self.delay_zero = delay.is_zero
        self.quiet = loss == 0.0 and duplicate == 0.0 and reorder == 0.0 and delay.is_zero
        prefix = b"".join(
            len(part).to_bytes(4, "little") + part for part in (sender.encode(), receiver.encode())
        )
        key = seed.to_bytes(8, "little")
        self._int = hashlib.blake2b(prefix, key=key, person=_PERSON_INT, digest_size=_DIGEST_SIZE)
        self._any = hashlib.blake2b(prefix, key=key, person=_PERSON_ANY, digest_size=_DIGEST_SIZE)

    def fate(self, key: tuple[int | str, ...], attempt: int, t: float) -> Fate:
        for start, end in self.windows:
            if start <= t < end:
                return _PARTITIONED
        if self.quiet:
            return _SEND_NOW
        try:
            data = _PACKERS[len(key)](*key, attempt)
            digest = self._int.copy()
        except (IndexError, struct.error):
            data = repr((key, attempt)).encode()
            digest = self._any.copy()
        digest.update(data)
        w0, w1, w2, w3, w4, w5 = _UNPACK_WORDS(digest.digest())
        if w0 < self.loss_t:
            return _LOST
        twice = w1 < self.dup_t
        if self.delay_zero and not self.reorder_t:
            return _SEND_TWICE_NOW if twice else _SEND_NOW
        first = self.sample((w3 >> 11) * _UNIT)
        if w2 < self.reorder_t:
            first += self.reorder_delay
        if not twice:
            return Fate(False, (first,))
        second = self.sample((w5 >> 11) * _UNIT)
        if w4 < self.reorder_t:
            second += self.reorder_delay
        return Fate(False, (first, second))


def _threshold(probability: float) -> int:
    """The uint64 bound below which an event of this probability happens (2**64 for 1.0)."""
    return math.ceil(probability * _TWO64)


# -- the plan ----------------------------------------------------------------------------
@dataclass(frozen=True)
class FaultPlan:
    """Seeded network faults for every link of a cluster; a frozen value.

    Probabilities apply per datagram and independently: ``loss`` drops it, ``duplicate``
    sends it twice, ``reorder`` adds ``reorder_delay`` to a copy so later datagrams pass it,
    and ``delay`` delays each copy. A lost datagram is never duplicated. ``partitions`` cut
    directions for a time window; ``links`` overrides parameters per direction, keyed by
    ``(sender, receiver)``.
    """

    seed: int = 0
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.002
    delay: DelayModel = field(default_factory=NoDelay)
    partitions: tuple[Partition, ...] = ()
    links: Mapping[tuple[str, str], LinkFaults] = field(
        default_factory=lambda: types.MappingProxyType({}), hash=False
    )
    _cache: dict[tuple[str, str], _Link] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        _seed(self.seed, "FaultPlan.seed")
        for key in ("loss", "duplicate", "reorder"):
            object.__setattr__(self, key, _probability(getattr(self, key), f"FaultPlan.{key}"))
        object.__setattr__(
            self, "reorder_delay", _seconds(self.reorder_delay, "FaultPlan.reorder_delay")
        )
        if not isinstance(self.delay, DelayModel):
            raise ConfigError(
                f"FaultPlan.delay must be a DelayModel such as UniformDelay(0.001, 0.005), "
                f"not {_describe(self.delay)}"
            )
        partitions = tuple(self.partitions)
        for partition in partitions:
            if not isinstance(partition, Partition):
                raise ConfigError(
                    f"FaultPlan.partitions must hold Partition values, not {_describe(partition)}"
                )
        object.__setattr__(self, "partitions", partitions)
        if not isinstance(self.links, Mapping):
            raise ConfigError(f"FaultPlan.links must be a mapping, not {_describe(self.links)}")
        links: dict[tuple[str, str], LinkFaults] = {}
        for direction, overrides in self.links.items():
            if not isinstance(direction, tuple) or len(direction) != 2:
                raise ConfigError(
                    "FaultPlan.links keys must be (sender, receiver) pairs, "
                    f"not {_describe(direction)}"
                )
            for node in direction:
                if "->" in _node_id(node, "FaultPlan.links key"):
                    raise ConfigError(f"FaultPlan.links node id {node!r} must not contain '->'")
            if not isinstance(overrides, LinkFaults):
                raise ConfigError(
                    f"FaultPlan.links values must be LinkFaults, not {_describe(overrides)}"
                )
            links[direction] = overrides
        object.__setattr__(self, "links", types.MappingProxyType(links))

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            FaultPlan,
            (
                self.seed,
                self.loss,
                self.duplicate,
                self.reorder,
                self.reorder_delay,
                self.delay,
                self.partitions,
                dict(self.links),
            ),
        )

    # -- deciding -------------------------------------------------------------------------
    @property
    def is_quiet(self) -> bool:
        """True when no datagram on any link can be lost, duplicated, delayed or cut off."""
        if self.partitions:
            return False
        params = [self._params(None), *(self._params(o) for o in self.links.values())]
        return all(
            loss == 0.0
            and duplicate == 0.0
            and (reorder == 0.0 or reorder_delay == 0.0)
            and delay.is_zero
            for loss, duplicate, reorder, reorder_delay, delay in params
        )

    def fate(
        self, sender: str, receiver: str, key: tuple[int | str, ...], attempt: int, t: float
    ) -> Fate:
        """Decide what happens to the datagram ``key`` (transmission ``attempt``) at ``t``.

        The random parts depend only on ``(seed, sender, receiver, key, attempt)``; ``t``
        (seconds since the plan's epoch) only selects the partitions in force. Key elements
        must be ints or strs. The caller chooses the key: a fair-loss datagram uses its
        sequence number; a batch of several messages should use something that identifies
        the batch, such as ``(first_seq, transmission_count)``, so that every retransmission
        gets a fresh, independent fate and the same run replays identically.
        """
        link = self._cache.get((sender, receiver))
        if link is None:
            link = self._link(sender, receiver)
        return link.fate(key, attempt, t)

    def partitioned(self, sender: str, receiver: str, t: float) -> bool:
        """True when a partition cuts ``sender -> receiver`` at ``t``."""
        return any(p.blocks(sender, receiver) and p.active(t) for p in self.partitions)

    def _params(
        self, overrides: LinkFaults | None
    ) -> tuple[float, float, float, float, DelayModel]:
        if overrides is None:
            return self.loss, self.duplicate, self.reorder, self.reorder_delay, self.delay
        o = overrides
        return (
            self.loss if o.loss is None else o.loss,
            self.duplicate if o.duplicate is None else o.duplicate,
            self.reorder if o.reorder is None else o.reorder,
            self.reorder_delay if o.reorder_delay is None else o.reorder_delay,
            self.delay if o.delay is None else o.delay,
        )

    def _link(self, sender: str, receiver: str) -> _Link:
        """Resolve (once per direction) the parameters and partition windows of a link."""
        for node in (sender, receiver):
            try:
                check_pid(node)
            except ClockError as exc:
                raise UsageError(f"fault plan asked about a bad node id: {exc}") from None
        windows = tuple(
            (p.start, math.inf if p.end is None else p.end)
            for p in self.partitions
            if p.blocks(sender, receiver)
        )
        params = self._params(self.links.get((sender, receiver)))
        link = _Link(self.seed, sender, receiver, params, windows)
        self._cache[(sender, receiver)] = link
        return link

    # -- configuration --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, table: Mapping[str, Any], *, name: str = "faults") -> FaultPlan:
        """Read a plan from a config table (for example the ``[faults]`` table of a cluster file).

        ``name`` prefixes every error message, so a mistake reads like
        ``faults.delay.kind must be one of none, fixed, uniform, exponential, not 'gauss'``.
        A partition is ``{between = ["a", "b"], one_way = false, start = 2.0, end = 5.0}`` or
        ``{groups = [["a", "b"], ["c"]]}`` (every pair across groups, both ways); ``links``
        maps ``"a->b"`` (one direction) or ``"a<->b"`` (both) to override tables.
        """
        table = _table(table, name)
        _check_keys(table, _PLAN_KEYS, name)
        return cls(
            seed=_seed(table.get("seed", 0), f"{name}.seed"),
            loss=_probability(table.get("loss", 0.0), f"{name}.loss"),
            duplicate=_probability(table.get("duplicate", 0.0), f"{name}.duplicate"),
            reorder=_probability(table.get("reorder", 0.0), f"{name}.reorder"),
            reorder_delay=_seconds(table.get("reorder_delay", 0.002), f"{name}.reorder_delay"),
            delay=(
                _delay_from_config(table["delay"], f"{name}.delay")
                if "delay" in table
                else NoDelay()
            ),
            partitions=_partitions_from_config(table.get("partitions", []), f"{name}.partitions"),
            links=_links_from_config(table.get("links", {}), f"{name}.links"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The config-table form: ``FaultPlan.from_dict(plan.to_dict()) == plan``.

        Group partitions come back as their ``between`` pairs, and each direction of a
        ``"a<->b"`` link as its own ``"a->b"`` entry.
        """
        return {
            "seed": self.seed,
            "loss": self.loss,
            "duplicate": self.duplicate,
            "reorder": self.reorder,
            "reorder_delay": self.reorder_delay,
            "delay": self.delay.to_dict(),
            "partitions": [p.to_dict() for p in self.partitions],
            "links": {f"{s}->{r}": o.to_dict() for (s, r), o in self.links.items()},
        }


# -- applying a plan ---------------------------------------------------------------------
@dataclass
class FaultStats:
    """What a fault plan did to the datagrams of one direction.

    ``sent`` counts datagrams offered to the plan; ``dropped`` those lost at random;
    ``partitioned`` those cut by a partition; ``duplicated`` those sent twice; ``delayed``
    copies given a positive delay; ``delivered`` copies handed to the socket (or scheduled
    for it). Always ``delivered == sent - dropped - partitioned + duplicated``.
    """

    sent: int = 0
    dropped: int = 0
    duplicated: int = 0
    delayed: int = 0
    delivered: int = 0
    partitioned: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict (for stats reports and JSON)."""
        return {
            "sent": self.sent,
            "dropped": self.dropped,
            "duplicated": self.duplicated,
            "delayed": self.delayed,
            "delivered": self.delivered,
            "partitioned": self.partitioned,
        }


class FaultInjector:
    """Applies a :class:`FaultPlan` to the datagrams one node sends, counting per receiver.

    ``epoch`` is the wall-clock time (same clock as the ``now`` given to :meth:`decide`) that
    partition times count from; give every node of a cluster the same epoch so their
    partitions start and heal together. Assign :attr:`plan` to change faults live (for
    example to add or heal a partition); the counters carry on.
    """

    def __init__(self, plan: FaultPlan, local_id: str, epoch: float) -> None:
        self.local_id = _node_id(local_id, "FaultInjector local_id")
        self.epoch = float(epoch)
        self.stats: dict[str, FaultStats] = {}
        self._links: dict[str, _Link] = {}
        self._plan = plan

    @property
    def plan(self) -> FaultPlan:
        """The plan in force."""
        return self._plan

    @plan.setter
    def plan(self, plan: FaultPlan) -> None:
        if not isinstance(plan, FaultPlan):
            raise UsageError(f"a FaultInjector needs a FaultPlan, not {_describe(plan)}")
        self._plan = plan
        self._links = {}

    def decide(self, receiver: str, key: tuple[int | str, ...], attempt: int, now: float) -> Fate:
        """The fate of the datagram ``key`` (transmission ``attempt``) to ``receiver``.

        ``now`` is the current time on the epoch's clock. The caller must then send one copy
        per entry of ``fate.delays``, after that many seconds, and nothing when ``fate.drop``.
        """
        link = self._links.get(receiver)
        if link is None:
            link = self._links[receiver] = self._plan._link(self.local_id, receiver)
        stats = self.stats.get(receiver)
        if stats is None:
            stats = self.stats[receiver] = FaultStats()
        fate = link.fate(key, attempt, now - self.epoch)
        stats.sent += 1
        delays = fate.delays
        if not delays:
            if fate is _PARTITIONED:
                stats.partitioned += 1
            else:
                stats.dropped += 1
            return fate
        stats.delivered += len(delays)
        if len(delays) > 1:
            stats.duplicated += 1
        for delay in delays:
            if delay > 0.0:
                stats.delayed += 1
        return fate

    def stats_dict(self) -> dict[str, dict[str, int]]:
        """Counters per receiver, as plain dicts."""
        return {receiver: stats.as_dict() for receiver, stats in self.stats.items()}

    def totals(self) -> FaultStats:
        """Counters summed over every receiver."""
        total = FaultStats()
        for stats in self.stats.values():
            for key, value in stats.as_dict().items():
                setattr(total, key, getattr(total, key) + value)
        return total


# -- command line ------------------------------------------------------------------------
def _cli_type(check: Callable[[str, str], Any], flag: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return check(text, flag)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = flag.lstrip("-")
    return convert


def _cli_probability(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{flag} must be a probability between 0 and 1, not {text!r}")
    return value


def _cli_seed(text: str, flag: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if not 0 <= value <= _MAX_SEED:
        raise ConfigError(f"{flag} must be an integer between 0 and 2**64-1, not {text!r}")
    return value


_CLI_FIELDS = (
    ("--seed", "faults_seed", "seed", _cli_seed, "seed of the fault plan (same seed, same faults)"),
    ("--loss", "faults_loss", "loss", _cli_probability, "probability that a datagram is lost"),
    (
        "--duplicate",
        "faults_duplicate",
        "duplicate",
        _cli_probability,
        "probability that a datagram is sent twice",
    ),
    (
        "--reorder",
        "faults_reorder",
        "reorder",
        _cli_probability,
        "probability that a copy is held back by --reorder-delay so later datagrams pass it",
    ),
    (
        "--reorder-delay",
        "faults_reorder_delay",
        "reorder_delay",
        parse_duration,
        "how long a reordered copy is held back (default 2ms)",
    ),
    (
        "--delay",
        "faults_delay",
        "delay",
        parse_delay,
        "delay of every copy: 2ms (fixed), 1ms..5ms (uniform), exp:2ms[:CAP] (exponential)",
    ),
)


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--seed --loss --duplicate --reorder --reorder-delay --delay`` in a "faults" group.

    Read them back with :func:`from_cli`. Bad values are reported by argparse, naming the flag.
    """
    group = parser.add_argument_group("faults", "seeded network faults on datagram links")
    for flag, dest, _, check, text in _CLI_FIELDS:
        group.add_argument(flag, dest=dest, type=_cli_type(check, flag), default=None, help=text)


def from_cli(args: argparse.Namespace, base: FaultPlan | None = None) -> FaultPlan:
    """The plan the flags of :func:`add_cli_arguments` describe, on top of ``base``.

    Flags that were not given keep ``base``'s values (for example a cluster file's
    ``[faults]`` table), or the defaults when there is no base.
    """
    plan = FaultPlan() if base is None else base
    changes = {
        attribute: getattr(args, dest)
        for _, dest, attribute, _, _ in _CLI_FIELDS
        if getattr(args, dest, None) is not None
    }
    if not changes:
        return plan
    values = {
        "seed": plan.seed,
        "loss": plan.loss,
        "duplicate": plan.duplicate,
        "reorder": plan.reorder,
        "reorder_delay": plan.reorder_delay,
        "delay": plan.delay,
        "partitions": plan.partitions,
        "links": dict(plan.links),
        **changes,
    }
    return FaultPlan(**values)
