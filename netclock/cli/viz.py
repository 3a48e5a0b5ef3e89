"""``netclock viz PATH [-o out.html]``: a run as a self-contained HTML space-time diagram."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from netclock.cli.exits import EXIT_USAGE
from netclock.cli.words import count
from netclock.errors import NetclockError
from netclock.tools.check import run_folders
from netclock.tools.viz import render_run


def build_parser() -> argparse.ArgumentParser:
    """The options of ``netclock viz``."""
    parser = argparse.ArgumentParser(
        prog="netclock viz",
        description="Draw a run as a self-contained HTML space-time diagram.",
    )
    parser.add_argument(
        "path", help="a run folder (*.events.jsonl), a folder of runs, or a GoVector/ShiViz log"
    )
    parser.add_argument(
        "-o",
        "--output",
        help="the HTML file to write (default: viewer.html in the run folder, "
        "or the log's name with .html)",
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """``netclock viz PATH [-o out.html]``; returns 0, or 2 after one sentence on stderr."""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    sources = run_folders(args.path) if Path(args.path).is_dir() else [Path(args.path)]
    if args.output and len(sources) > 1:
        sys.stderr.write(
            f"netclock viz: {args.path} holds {len(sources)} runs; leave out -o to write "
            "a viewer.html in each, or name one run folder\n"
        )
        return EXIT_USAGE
    for source in sources:
        code = _draw(source, Path(args.output) if args.output else None)
        if code:
            return code
    return 0


def _draw(source: Path, output: Path | None) -> int:
    """Write one run's viewer page; 0, or 2 after one sentence on stderr."""
    if output is not None:
        out = output
    elif source.is_dir():
        out = source / "viewer.html"
    else:
        out = source.with_suffix(".html")
    try:
        page, s = render_run(source)
    except NetclockError as exc:
        sys.stderr.write(f"netclock viz: {exc}\n")
        return EXIT_USAGE
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        sys.stderr.write(f"netclock viz: cannot write {out}: {exc.strerror}\n")
        return EXIT_USAGE
    sys.stdout.write(
        f"wrote {out}: {count(s['processes'], 'process')}, {count(s['events'], 'event')}, "
        f"{count(s['messages'], 'message')}, {s['lost']} lost\n"
    )
    return 0
