"""Reading configuration values: each check returns the value or raises one ConfigError.

Every message is one sentence that names the key (``name``) and says what is allowed, so
a mistake in a cluster file reads like ``faults.loss must be a probability between 0 and
1, not 1.5``. The table readers of the plan's parts (:meth:`FaultPlan.from_dict
<netclock.faults.plan.FaultPlan.from_dict>`, :func:`~netclock.faults.delay.delay_from_config`)
are built from these checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from netclock.clock import check_pid
from netclock.errors import ClockError, ConfigError

__all__ = [
    "MAX_SEED",
    "boolean",
    "check_keys",
    "describe",
    "node_id",
    "parse_duration",
    "parse_probability",
    "parse_seed",
    "probability",
    "seconds",
    "seed",
    "table",
    "time_point",
]

MAX_SEED = 2**64 - 1
"""The largest seed a plan takes (seeds are unsigned 64-bit integers)."""


def describe(value: object) -> str:
    """``repr(value)``, cut to 40 characters for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def probability(value: object, name: str) -> float:
    """A number from 0 to 1 inclusive, as a float."""
    if not _is_number(value) or not 0.0 <= value <= 1.0:  # type: ignore[operator]
        raise ConfigError(f"{name} must be a probability between 0 and 1, not {describe(value)}")
    return float(value)  # type: ignore[arg-type]


def seconds(value: object, name: str) -> float:
    """A non-negative finite number of seconds; a duration string such as "2ms" also works."""
    if isinstance(value, str):
        return parse_duration(value, name)
    if not _is_number(value) or not 0.0 <= value < math.inf:  # type: ignore[operator]
        raise ConfigError(
            f"{name} must be a non-negative number of seconds (or a duration such as '2ms'), "
            f"not {describe(value)}"
        )
    return float(value)  # type: ignore[arg-type]


def time_point(value: object, name: str) -> float:
    """A finite number of seconds since the plan's epoch (negative is allowed)."""
    if not _is_number(value) or not math.isfinite(value):  # type: ignore[arg-type]
        raise ConfigError(
            f"{name} must be a finite number of seconds since the plan's epoch, "
            f"not {describe(value)}"
        )
    return float(value)  # type: ignore[arg-type]


def seed(value: object, name: str) -> int:
    """An integer from 0 to 2**64-1."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{name} must be an integer between 0 and 2**64-1, not {describe(value)}")
    return value


def boolean(value: object, name: str) -> bool:
    """``True`` or ``False`` (not 0 or 1)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, not {describe(value)}")
    return value


def node_id(value: object, name: str) -> str:
    """A node id as the clock accepts it."""
    try:
        return check_pid(value)
    except ClockError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def table(value: object, name: str) -> Mapping[str, Any]:
    """A mapping (a TOML table)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a table (mapping), not {describe(value)}")
    return value


def check_keys(given: Mapping[str, Any], allowed: Iterable[str], name: str) -> None:
    """Refuse the first key of ``given`` that is not ``allowed``, listing what is."""
    allowed = tuple(allowed)
    for key in given:
        if key not in allowed:
            raise ConfigError(f"{name}.{key} is not a known key; use one of {', '.join(allowed)}")


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
            f"not {describe(text)}"
        )
    number = float(match.group(1) + (f"e{match.group(2)}" if match.group(2) else ""))
    value = number / _DIVISORS[match.group(3)]
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite duration, not {describe(text)}")
    return value


def parse_probability(text: str, name: str) -> float:
    """Parse a probability written as text, such as ``"0.1"``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be a probability between 0 and 1, not {text!r}")
    return value


def parse_seed(text: str, name: str) -> int:
    """Parse a seed written as text: decimal, or with a ``0x``/``0o``/``0b`` prefix."""
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{name} must be an integer between 0 and 2**64-1, not {text!r}")
    return value
