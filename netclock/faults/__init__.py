"""Seeded network faults: what may go wrong (the plan) and one node's share of it (the injector).

- :mod:`~netclock.faults.plan`: :class:`FaultPlan`, :class:`LinkFaults`, :class:`Partition`,
  frozen values with their config form.
- :mod:`~netclock.faults.delay`: the delay models and :func:`parse_delay`.
- :mod:`~netclock.faults.timing`: the timing models (:class:`Synchronous`,
  :class:`Asynchronous`, :class:`PartialSynchrony`), delay models with a promised bound.
- :mod:`~netclock.faults.fate`: how the seed decides (:class:`Fate`, seeded generators).
- :mod:`~netclock.faults.injector`: :class:`FaultInjector`, the one fault mechanism every
  link uses (fates, scheduled and live partitions, seeded generators), and its counters.
- :mod:`~netclock.faults.config`: checks of single config values, :func:`parse_duration`.

The same seed gives the same fates and the same random draws in every process.
"""

from netclock.faults.config import parse_duration
from netclock.faults.delay import (
    DELAY_KINDS,
    DelayModel,
    ExponentialDelay,
    FixedDelay,
    NoDelay,
    UniformDelay,
    parse_delay,
)
from netclock.faults.fate import Fate
from netclock.faults.injector import FaultInjector, FaultStats
from netclock.faults.plan import FaultPlan, LinkFaults, Partition
from netclock.faults.timing import Asynchronous, PartialSynchrony, Synchronous

__all__ = [
    "DELAY_KINDS",
    "Asynchronous",
    "DelayModel",
    "ExponentialDelay",
    "Fate",
    "FaultInjector",
    "FaultPlan",
    "FaultStats",
    "FixedDelay",
    "LinkFaults",
    "NoDelay",
    "PartialSynchrony",
    "Partition",
    "Synchronous",
    "UniformDelay",
    "parse_delay",
    "parse_duration",
]
