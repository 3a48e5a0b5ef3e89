"""The fault-plan flags of the command line: ``--seed --loss --duplicate --reorder
--reorder-delay --delay``.

Only the argparse wiring lives here; the text of each flag is read by the pure parsers of
:mod:`netclock.faults` (a bad value is one ConfigError sentence naming the flag, which
argparse reports).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

from netclock.errors import ConfigError
from netclock.faults.config import parse_duration, parse_probability, parse_seed
from netclock.faults.delay import parse_delay
from netclock.faults.plan import FaultPlan

__all__ = ["add_fault_flags", "argparse_type", "plan_from_flags"]

_FLAGS: tuple[tuple[str, str, str, Callable[[str, str], Any], str], ...] = (
    (
        "--seed",
        "faults_seed",
        "seed",
        parse_seed,
        "seed of the fault plan (same seed, same faults)",
    ),
    ("--loss", "faults_loss", "loss", parse_probability, "probability that a datagram is lost"),
    (
        "--duplicate",
        "faults_duplicate",
        "duplicate",
        parse_probability,
        "probability that a datagram is sent twice",
    ),
    (
        "--reorder",
        "faults_reorder",
        "reorder",
        parse_probability,
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
        "delay of every copy: 2ms (fixed), 1ms..5ms (uniform), exp:2ms[:CAP] (exponential), "
        "or a timing model: sync:DELTA, async[:SCALE[:SHAPE]], partial:GST:DELTA",
    ),
)
"""Flag, argparse dest, FaultPlan field, parser (text, flag) -> value, help."""


def argparse_type(parse: Callable[[str, str], Any], flag: str) -> Callable[[str], Any]:
    """An argparse ``type`` that reads a flag with ``parse(text, flag)``; its ConfigError
    becomes argparse's usage error naming the flag."""

    def convert(text: str) -> Any:
        try:
            return parse(text, flag)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = flag.lstrip("-")
    return convert


def add_fault_flags(parser: argparse.ArgumentParser) -> None:
    """Add the fault flags to ``parser`` in a "faults" group; read them with
    :func:`plan_from_flags`. Bad values are reported by argparse, naming the flag."""
    group = parser.add_argument_group("faults", "seeded network faults on datagram links")
    for flag, dest, field, parse, text in _FLAGS:
        group.add_argument(
            flag,
            dest=dest,
            type=argparse_type(parse, flag),
            default=None,
            metavar=field.upper(),
            help=text,
        )


def plan_from_flags(args: argparse.Namespace, base: FaultPlan | None = None) -> FaultPlan:
    """The plan the flags of :func:`add_fault_flags` describe, on top of ``base``.

    Flags that were not given keep ``base``'s values (for example a cluster file's
    ``[faults]`` table), or the defaults when there is no base; with no flag given the
    result is ``base`` itself.
    """
    plan = FaultPlan() if base is None else base
    changes = {
        field: getattr(args, dest)
        for _, dest, field, _, _ in _FLAGS
        if getattr(args, dest, None) is not None
    }
    if not changes:
        return plan
    return dataclasses.replace(plan, **changes)
