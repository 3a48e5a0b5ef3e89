"""``netclock logs merge FILES -o OUT``: per-process GoVector logs as one ShiViz file."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from netclock.cli.words import count
from netclock.observe.shiviz import merge_logs


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``netclock logs``."""
    logs = sub.add_parser("logs", help="GoVector/ShiViz logs")
    logs_sub = logs.add_subparsers(dest="logs_command", metavar="ACTION", required=True)
    merge = logs_sub.add_parser("merge", help="merge per-process logs into one ShiViz file")
    merge.add_argument("files", nargs="+")
    merge.add_argument("-o", "--output", required=True)
    logs.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Merge the logs; 1 when ShiViz would reject the result (the file is written anyway)."""
    problems = merge_logs([Path(f) for f in args.files], Path(args.output))
    if problems:
        every = logging.getLogger().isEnabledFor(logging.DEBUG)
        print(
            f"netclock: ShiViz would reject {args.output}: {count(len(problems), 'problem')}, "
            f"the first: {problems[0]}" + ("" if every else " (-v lists them all)"),
            file=sys.stderr,
        )
        for problem in problems[1:] if every else ():
            print(f"netclock: ShiViz would reject: {problem}", file=sys.stderr)
    print(f"wrote {args.output}")
    return 1 if problems else 0
