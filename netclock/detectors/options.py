"""The options of a failure detector: which one, how often it beats, how long it waits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netclock.detectors.core import DETECTORS
from netclock.errors import ConfigError
from netclock.faults import config

__all__ = ["DETECTOR_KINDS", "DetectorOptions", "detector_options"]

DETECTOR_KINDS = tuple(DETECTORS)
"""``perfect`` (P), ``eventually_perfect`` (◇P), ``eventual_leader`` (Ω on ◇P)."""

_KEYS = ("kind", "period", "timeout", "grow", "grace", "step_bound")


@dataclass(frozen=True)
class DetectorOptions:
    """A failure detector for a Node; checked at construction (one ConfigError sentence).

    ``period``: seconds between two heartbeats to each peer (so ``1 / period`` datagrams
    per second per peer). ``timeout``: how long a silent peer waits before it is suspected;
    None picks ``period + Δ + step_bound`` under a timing model that promises a bound Δ
    from the start (the synchronous one), else ``2 * period``. ``grow``: ◇P multiplies a
    peer's timeout by it after each false suspicion. ``grace``: extra seconds a peer never
    heard from gets (its process may start later). ``step_bound``: the longest scheduling gap
    the synchronous model allows this process; a longer one is reported as the host breaking
    the model.
    """

    kind: str = "eventually_perfect"
    period: float = 0.1
    timeout: float | None = None
    grow: float = 2.0
    grace: float = 2.0
    step_bound: float = 0.05

    def __post_init__(self) -> None:
        if self.kind not in DETECTORS:
            raise ConfigError(
                f"detector.kind must be one of {', '.join(DETECTOR_KINDS)}, not {self.kind!r}"
            )
        for key in ("period", "step_bound"):
            value = config.seconds(getattr(self, key), f"detector.{key}")
            if value <= 0:
                raise ConfigError(f"detector.{key} must be positive, not {value!r}")
            object.__setattr__(self, key, value)
        if self.timeout is not None:
            timeout = config.seconds(self.timeout, "detector.timeout")
            if timeout <= 0:
                raise ConfigError(f"detector.timeout must be positive, not {timeout!r}")
            object.__setattr__(self, "timeout", timeout)
        object.__setattr__(self, "grace", config.seconds(self.grace, "detector.grace"))
        grow = self.grow
        if not isinstance(grow, int | float) or isinstance(grow, bool) or not 1 < grow <= 100:
            raise ConfigError(f"detector.grow must be a factor above 1 (such as 2), not {grow!r}")
        object.__setattr__(self, "grow", float(grow))

    def timeout_for(self, bound: float | None) -> float:
        """The initial timeout, given the delay bound Δ the timing model promises (or None)."""
        if self.timeout is not None:
            return self.timeout
        if bound is not None:
            return self.period + bound + self.step_bound
        return 2 * self.period

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], *, name: str = "detector") -> DetectorOptions:
        """Read a ``[detector]`` table; a mistake is one ConfigError naming the key."""
        table = config.table(table, name)
        config.check_keys(table, _KEYS, name)
        try:
            return cls(**table)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("detector", name, 1)) from None
        except TypeError as exc:  # pragma: no cover - check_keys lets only known keys through
            raise ConfigError(f"{name}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The table form :meth:`from_dict` reads back (``timeout`` left out when None)."""
        table: dict[str, Any] = {
            "kind": self.kind,
            "period": self.period,
            "grow": self.grow,
            "grace": self.grace,
            "step_bound": self.step_bound,
        }
        if self.timeout is not None:
            table["timeout"] = self.timeout
        return table


def detector_options(
    value: DetectorOptions | str | Mapping[str, Any] | None,
) -> DetectorOptions | None:
    """A Node's ``detector=``: options, a kind name (defaults for the rest), a table, or None."""
    if value is None or isinstance(value, DetectorOptions):
        return value
    if isinstance(value, str):
        return DetectorOptions(kind=value)
    if isinstance(value, Mapping):
        return DetectorOptions.from_dict(value)
    raise ConfigError(
        f"detector must be a kind ({', '.join(DETECTOR_KINDS)}), a table or DetectorOptions, "
        f"not {config.describe(value)}"
    )
