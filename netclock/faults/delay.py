"""Delay models: how long each copy of a datagram waits before it is sent.

A model is a frozen value that maps a uniform number in [0, 1) to a delay
(:meth:`DelayModel.sample`); the fault plan draws that number from its seed, so delays
replay like every other fate. Models are read from config tables
(:func:`delay_from_config`) and command-line text (:func:`parse_delay`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from netclock.errors import ConfigError
from netclock.faults import config
from netclock.faults.config import parse_duration

__all__ = [
    "DELAY_KINDS",
    "DelayModel",
    "ExponentialDelay",
    "FixedDelay",
    "NoDelay",
    "UniformDelay",
    "delay_from_config",
    "parse_delay",
]

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
        """The config-table form that :func:`delay_from_config` reads back."""
        raise NotImplementedError

    def bound_at(self, t: float) -> float | None:
        """The delay bound the model promises at ``t`` (seconds since the plan's epoch), or
        None when it promises none (the timing models of :mod:`netclock.faults.timing`)."""
        return None

    @property
    def stable_from(self) -> float:
        """From this time since the epoch on, delays follow :meth:`settled` (never: inf)."""
        return math.inf

    def settled(self) -> DelayModel:
        """The model in force from :attr:`stable_from` on."""
        return self


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
        object.__setattr__(self, "seconds", config.seconds(self.seconds, "FixedDelay.seconds"))

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
        low = config.seconds(self.low, "UniformDelay.low")
        high = config.seconds(self.high, "UniformDelay.high")
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
        object.__setattr__(self, "mean", config.seconds(self.mean, "ExponentialDelay.mean"))
        if self.cap is not None:
            object.__setattr__(self, "cap", config.seconds(self.cap, "ExponentialDelay.cap"))

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


def delay_from_config(value: object, name: str) -> DelayModel:
    """Read a delay from config: a model, a command-line string, or a table with ``kind``.

    A mistake raises one ConfigError naming the key, such as ``faults.delay.seconds is
    required when faults.delay.kind is 'fixed'``.
    """
    if isinstance(value, DelayModel):
        return value
    if isinstance(value, str):
        return parse_delay(value, name)
    table = config.table(value, name)
    kind = table.get("kind")
    from netclock.faults import timing  # the timing models are delay models too

    if kind in timing.TIMING_KINDS:
        return timing.timing_from_config(table, name)
    if kind not in _DELAY_FIELDS:
        raise ConfigError(
            f"{name}.kind must be one of {', '.join((*DELAY_KINDS, *timing.TIMING_KINDS))}, "
            f"not {kind!r}"
        )
    required, optional = _DELAY_FIELDS[kind]
    config.check_keys(table, ("kind", *required, *optional), name)
    for key in required:
        if key not in table:
            raise ConfigError(f"{name}.{key} is required when {name}.kind is {kind!r}")
    values = {
        key: config.seconds(table[key], f"{name}.{key}")
        for key in (*required, *optional)
        if key in table
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
    ``"exp:2ms"`` or ``"exp:2ms:50ms"``: exponential with that mean (and cap); the timing
    models: ``"sync:20ms"``, ``"async:10ms"``, ``"partial:5s:20ms"`` (see
    :func:`~netclock.faults.timing.parse_timing`).
    """
    spec = text.strip()
    if spec == "none":
        return NoDelay()
    if spec.partition(":")[0] in ("sync", "async", "partial"):
        from netclock.faults.timing import parse_timing

        return parse_timing(spec, name)
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
