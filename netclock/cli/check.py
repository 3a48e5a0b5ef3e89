"""``netclock check RUN_FOLDER [--json] [--pairs]``: a run against its links' promises."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from netclock.cli.exits import EXIT_USAGE
from netclock.errors import ConfigError
from netclock.tools.check import LISTED_PAIRS, check_run, format_report, load_run, run_folders


class _UsageProblem(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageProblem(message)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``netclock check``."""
    parser = _Parser(
        prog="netclock check",
        description="Check a run's event logs against the textbook properties of its links.",
    )
    parser.add_argument(
        "run_folder",
        help="a run folder, a folder of runs (one per link compared), or one events file",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--pairs",
        action="store_true",
        help=f"list every pair of nodes (past {LISTED_PAIRS} pairs the report lists only those "
        "with something to note)",
    )
    return parser


def _ascii_only() -> bool:
    """True when standard output cannot print check marks."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "\u2713\u2717".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return True
    return False


def main(argv: Sequence[str]) -> int:
    """``netclock check RUN_FOLDER [--json] [--pairs]``: 0 all promises hold, 1 one is
    violated, 2 usage."""
    try:
        args = build_parser().parse_args(list(argv))
    except _UsageProblem as exc:
        sys.stderr.write(
            f"netclock check: {exc}; usage: netclock check RUN_FOLDER [--json] [--pairs]\n"
        )
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    try:
        runs = run_folders(args.run_folder)
        reports = [(folder, check_run(load_run(folder))) for folder in runs]
    except ConfigError as exc:
        sys.stderr.write(f"netclock check: {exc}\n")
        return EXIT_USAGE
    several = len(reports) > 1
    if args.json:
        value: object = (
            {str(folder): report.as_dict() for folder, report in reports}
            if several
            else reports[0][1].as_dict()
        )
        sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    else:
        for folder, report in reports:
            if several:
                sys.stdout.write(f"=== {folder} ===\n")
            text = format_report(report, ascii_only=_ascii_only(), every_pair=args.pairs)
            sys.stdout.write(text + "\n")
    return 0 if all(report.ok for _, report in reports) else 1
