"""``netclock viz PATH [-o out.html]``: a run as a self-contained HTML space-time diagram."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from netclock.cli.exits import EXIT_USAGE
from netclock.cli.words import count
from netclock.errors import NetclockError
from netclock.tools.viz import build_model, render_html


def build_parser() -> argparse.ArgumentParser:
    """The options of ``netclock viz``."""
    parser = argparse.ArgumentParser(
        prog="netclock viz",
        description="Draw a run as a self-contained HTML space-time diagram.",
    )
    parser.add_argument("path", help="a run folder (*.events.jsonl) or a GoVector/ShiViz log")
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
    source = Path(args.path)
    if args.output:
        out = Path(args.output)
    elif source.is_dir():
        out = source / "viewer.html"
    else:
        out = source.with_suffix(".html")
    try:
        model = build_model(source)
        page = render_html(model)
    except NetclockError as exc:
        sys.stderr.write(f"netclock viz: {exc}\n")
        return EXIT_USAGE
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        sys.stderr.write(f"netclock viz: cannot write {out}: {exc.strerror}\n")
        return EXIT_USAGE
    s = model["summary"]
    sys.stdout.write(
        f"wrote {out}: {count(s['processes'], 'process')}, {count(s['events'], 'event')}, "
        f"{count(s['messages'], 'message')}, {s['lost']} lost\n"
    )
    return 0
