"""The ``netclock`` command: one module of :mod:`netclock.cli` per sub-command.

``demo``, ``run``, ``node`` and ``logs`` register their options in the one parser built
here; ``check``, ``viz``, ``certs`` and ``bench`` parse their own arguments (their help
and usage errors are their own), as does the hidden ``bench-worker`` that ``netclock
bench`` starts. Logging is set up here and nowhere else.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from netclock import __version__
from netclock.cli import demo, logs, new, node, run, runs, slurm
from netclock.cli.exits import EXIT_INTERRUPTED, EXIT_USAGE
from netclock.errors import NetclockError

_VERBOSE = frozenset({"-v", "--verbose"})
_QUIET = frozenset({"-q", "--quiet"})

_DELEGATED = {
    "check": ("netclock.cli.check", "check a run folder against the textbook properties"),
    "viz": ("netclock.cli.viz", "draw a run as a self-contained HTML space-time diagram"),
    "certs": ("netclock.cli.certs", "create and inspect cluster certificates"),
    "bench": ("netclock.cli.bench", "benchmarks next to raw baselines measured in the same run"),
}
_HIDDEN = {"bench-worker": "netclock.cli.bench_worker"}
"""Sub-commands for netclock's own child processes, not listed in the help."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``netclock`` command."""
    parser = argparse.ArgumentParser(
        prog="netclock",
        description="Distributed-systems models on real sockets, a vector clock on every message.",
    )
    parser.add_argument("--version", action="version", version=f"netclock {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging to stderr (anywhere)"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="errors only, no warnings (anywhere)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (demo, run, node, logs, new, runs, slurm):
        module.add_parser(sub)
    for name, (_, text) in _DELEGATED.items():
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _log_level(argv: list[str]) -> tuple[list[str], int]:
    """Take ``-v``/``-q`` out of ``argv`` wherever they stand (before a ``--``), and the
    logging level they ask for: the last one given wins."""
    level = logging.WARNING
    rest: list[str] = []
    for i, word in enumerate(argv):
        if word == "--":
            rest.extend(argv[i:])
            break
        if word in _VERBOSE:
            level = logging.DEBUG
        elif word in _QUIET:
            level = logging.ERROR
        else:
            rest.append(word)
    return rest, level


def main(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run the command line; returns the exit code. ``parser`` is :func:`build_parser`'s,
    if one was built already (the fork server builds it once for every node)."""
    argv, level = _log_level(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    delegated = {**{name: module for name, (module, _) in _DELEGATED.items()}, **_HIDDEN}
    if argv and argv[0] in delegated:
        return int(importlib.import_module(delegated[argv[0]]).main(argv[1:]))
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except NetclockError as exc:
        print(f"netclock: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("netclock: interrupted; every node was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
