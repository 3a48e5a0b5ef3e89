"""The timing models: synchronous, asynchronous and partially synchronous delays, seeded.

Each model is a :class:`~netclock.faults.delay.DelayModel`, so a plan selects it where it
selects any delay (``[faults] delay = {kind = "partial", gst = 5, delta = "20ms"}``, the
``--delay`` flag, or ``FaultPlan(delay=PartialSynchrony(...))``) and it applies to every
datagram of every datagram link, heartbeats included, decided by the plan's seed:

- :class:`Synchronous`: every delay is below the known bound ``delta`` (uniform in
  [0, ``delta``)).
- :class:`Asynchronous`: heavy-tailed (Lomax, a Pareto shifted to start at 0): finite but
  unbounded, with median ``scale * (2 ** (1 / shape) - 1)``; no promise at all.
- :class:`PartialSynchrony`: :class:`Asynchronous` until ``gst`` seconds after the plan's
  epoch, then :class:`Synchronous`; the nodes are not told ``gst``.

:meth:`~netclock.faults.delay.DelayModel.bound_at` says what a model promises at a time, so
the runtime can watch whether the host kept it (a shared machine cannot promise Δ).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from netclock.errors import ConfigError
from netclock.faults import config
from netclock.faults.config import parse_duration
from netclock.faults.delay import DelayModel

__all__ = [
    "TIMING_KINDS",
    "Asynchronous",
    "PartialSynchrony",
    "Synchronous",
    "parse_timing",
    "timing_from_config",
]

TIMING_KINDS = ("synchronous", "asynchronous", "partial")
"""The delay kinds that are timing models."""


def _delta(value: object, name: str) -> float:
    delta = config.seconds(value, name)
    if delta <= 0.0:
        raise ConfigError(f"{name} must be a positive bound on the delay, not {value!r}")
    return delta


def _shape(value: object, name: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.1 <= value <= 100:
        raise ConfigError(f"{name} must be a tail shape between 0.1 and 100, not {value!r}")
    return float(value)


@dataclass(frozen=True)
class Synchronous(DelayModel):
    """Every copy waits less than ``delta``: the known bound of the synchronous model."""

    kind: ClassVar[str] = "synchronous"
    delta: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "delta", _delta(self.delta, "Synchronous.delta"))

    def sample(self, u: float) -> float:
        return u * self.delta

    @property
    def is_zero(self) -> bool:
        return False

    def bound_at(self, t: float) -> float | None:
        return self.delta

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "delta": self.delta}


@dataclass(frozen=True)
class Asynchronous(DelayModel):
    """Heavy-tailed delays with no bound: Lomax(``shape``) scaled by ``scale`` seconds.

    A smaller ``shape`` is a heavier tail (below 1 the mean is infinite).
    """

    kind: ClassVar[str] = "asynchronous"
    scale: float = 0.01
    shape: float = 1.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _delta(self.scale, "Asynchronous.scale"))
        object.__setattr__(self, "shape", _shape(self.shape, "Asynchronous.shape"))

    def sample(self, u: float) -> float:
        return self.scale * (math.pow(1.0 - u, -1.0 / self.shape) - 1.0)

    @property
    def is_zero(self) -> bool:
        return False

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "scale": self.scale, "shape": self.shape}


@dataclass(frozen=True)
class PartialSynchrony(DelayModel):
    """:class:`Asynchronous` (``scale``, ``shape``) before ``gst`` (seconds since the plan's
    epoch), :class:`Synchronous` (``delta``) from then on."""

    kind: ClassVar[str] = "partial"
    gst: float
    delta: float
    scale: float = 0.01
    shape: float = 1.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "gst", config.seconds(self.gst, "PartialSynchrony.gst"))
        object.__setattr__(self, "delta", _delta(self.delta, "PartialSynchrony.delta"))
        object.__setattr__(self, "scale", _delta(self.scale, "PartialSynchrony.scale"))
        object.__setattr__(self, "shape", _shape(self.shape, "PartialSynchrony.shape"))

    def sample(self, u: float) -> float:
        return Asynchronous(self.scale, self.shape).sample(u)

    @property
    def is_zero(self) -> bool:
        return False

    @property
    def stable_from(self) -> float:
        return self.gst

    def settled(self) -> DelayModel:
        return Synchronous(self.delta)

    def bound_at(self, t: float) -> float | None:
        return self.delta if t >= self.gst else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "gst": self.gst,
            "delta": self.delta,
            "scale": self.scale,
            "shape": self.shape,
        }


_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "synchronous": (("delta",), ()),
    "asynchronous": ((), ("scale", "shape")),
    "partial": (("gst", "delta"), ("scale", "shape")),
}


def timing_from_config(table: Mapping[str, Any], name: str) -> DelayModel:
    """Read a timing model from a delay table whose ``kind`` is one of :data:`TIMING_KINDS`."""
    kind = table["kind"]
    required, optional = _FIELDS[kind]
    config.check_keys(table, ("kind", *required, *optional), name)
    for key in required:
        if key not in table:
            raise ConfigError(f"{name}.{key} is required when {name}.kind is {kind!r}")
    values: dict[str, float] = {}
    for key in (*required, *optional):
        if key in table:
            read = _shape if key == "shape" else config.seconds
            values[key] = read(table[key], f"{name}.{key}")
    try:
        if kind == "synchronous":
            return Synchronous(**values)
        if kind == "asynchronous":
            return Asynchronous(**values)
        return PartialSynchrony(**values)
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def parse_timing(text: str, name: str = "--delay") -> DelayModel:
    """Parse ``sync:DELTA``, ``async[:SCALE[:SHAPE]]`` or ``partial:GST:DELTA[:SCALE[:SHAPE]]``.

    Durations read like ``20ms``; GST is seconds after the run starts, such as ``5s``.
    """
    head, _, rest = text.strip().partition(":")
    parts = [p for p in rest.split(":")] if rest else []
    usage = {
        "sync": "sync:DELTA (such as sync:20ms)",
        "async": "async[:SCALE[:SHAPE]] (such as async:10ms:1.5)",
        "partial": "partial:GST:DELTA[:SCALE[:SHAPE]] (such as partial:5s:20ms)",
    }
    counts = {"sync": (1, 1), "async": (0, 2), "partial": (2, 4)}
    low, high = counts[head]
    if not low <= len(parts) <= high:
        raise ConfigError(f"{name} must look like {usage[head]}, not {text!r}")
    try:
        if head == "sync":
            return Synchronous(parse_duration(parts[0], name))
        if head == "async":
            values = [parse_duration(parts[0], name)] if parts else []
            if len(parts) == 2:
                values.append(_shape(_number(parts[1], name), name))
            return Asynchronous(*values)
        gst, delta = parse_duration(parts[0], name), parse_duration(parts[1], name)
        extra = [parse_duration(parts[2], name)] if len(parts) > 2 else []
        if len(parts) == 4:
            extra.append(_shape(_number(parts[3], name), name))
        return PartialSynchrony(gst, delta, *extra)
    except ConfigError as exc:
        raise ConfigError(f"{name} {text!r}: {exc}") from None


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name}: {text!r} is not a number") from None
