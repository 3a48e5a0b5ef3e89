"""``netclock bench [options]``: netclock beside raw baselines measured in the same run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from netclock.cli.exits import EXIT_INTERRUPTED, EXIT_USAGE
from netclock.cluster.process import run_async
from netclock.errors import ConfigError
from netclock.tools.bench.runner import (
    SCENARIO_GROUPS,
    Settings,
    format_table,
    make_settings,
    run_bench,
)


def build_parser() -> argparse.ArgumentParser:
    """Options of ``netclock bench``; one left out is left out of the namespace too
    (:func:`~netclock.tools.bench.runner.make_settings` has the defaults)."""
    p = argparse.ArgumentParser(
        prog="netclock bench",
        description="netclock between two OS processes on loopback, beside raw UDP or plain "
        "mutual-TLS streams measured in the same run",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIO_GROUPS, "all"],
        help="what to measure (repeatable; default: one-way, round-trip and tls)",
    )
    p.add_argument("--count", type=int, help="one-way messages per run (default 50000)")
    p.add_argument("--size", type=int, help="payload bytes (default 64)")
    p.add_argument("--runs", type=int, help="runs of each side, alternating (default 5, min 5)")
    p.add_argument("--round-trips", type=int, help="timed round trips per run (default 2000)")
    p.add_argument("--warmup", type=int, help="untimed round trips first (default 200)")
    p.add_argument("--setups", type=int, help="TLS connection set-ups per run (default 50)")
    p.add_argument("--loss", type=float, help="seeded loss each way (default 0.1)")
    p.add_argument("--seed", type=int, help="fault-plan seed (default 1)")
    p.add_argument("--attempts", type=int, help="bounded-memory sends to a gone peer (1000000)")
    p.add_argument("--stall-seconds", type=float, help="bounded-memory stalled sending (3.0)")
    p.add_argument("--timeout", type=float, help="longest one run may take, seconds (default 60)")
    p.add_argument(
        "--scale-link", choices=["reliable", "tls"], help="link of the scale scenario (reliable)"
    )
    p.add_argument("--quick", action="store_true", help="small counts, 1 run each: a smoke run")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def settings_from(args: argparse.Namespace) -> Settings:
    """Validated settings from parsed options; raises :class:`ConfigError` naming the one to fix."""
    options = {name: value for name, value in vars(args).items() if name != "json"}
    return make_settings(**options)


def main(argv: Sequence[str]) -> int:
    """``netclock bench [options]``; returns the exit status."""
    args = build_parser().parse_args(list(argv))
    try:
        settings = settings_from(args)
    except ConfigError as exc:
        print(f"netclock bench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = run_async(run_bench(settings, sys.stderr))
    except KeyboardInterrupt:
        print("netclock bench: interrupted; every child was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
    else:
        print(format_table(report))
    return 0 if report["ok"] else 1
