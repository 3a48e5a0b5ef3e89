"""``netclock viz PATH [-o out.html]``: a run as a self-contained HTML space-time diagram.

``netclock viz RUN_A RUN_B [-o out.html]`` shows two runs side by side on one page.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from netclock.cli.exits import EXIT_USAGE
from netclock.cli.words import count
from netclock.errors import NetclockError
from netclock.tools.check import run_folders
from netclock.tools.viz import render_side_by_side, write_run

T = TypeVar("T")


def build_parser() -> argparse.ArgumentParser:
    """The options of ``netclock viz``."""
    parser = argparse.ArgumentParser(
        prog="netclock viz",
        description="Draw a run as a self-contained HTML space-time diagram with charts "
        "over time; given two runs, draw them side by side.",
    )
    parser.add_argument(
        "path",
        nargs="+",
        help="a run folder (*.events.jsonl), a folder of runs, or a GoVector/ShiViz log; "
        "two runs to compare them side by side",
    )
    parser.add_argument(
        "-o",
        "--output",
        help="the HTML file to write (default: viewer.html in the run folder, "
        "or the log's name with .html; two runs: A-vs-B.html beside the first)",
    )
    return parser


def main(argv: Sequence[str]) -> int:
    """``netclock viz PATH [-o out.html]``; returns 0, or 2 after one sentence on stderr."""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if len(args.path) > 2:
        sys.stderr.write(
            f"netclock viz: {len(args.path)} paths given; name one run, or two to compare\n"
        )
        return EXIT_USAGE
    if len(args.path) == 2:
        return _draw_pair([Path(p) for p in args.path], args.output)
    sources = run_folders(args.path[0]) if Path(args.path[0]).is_dir() else [Path(args.path[0])]
    if args.output and len(sources) > 1:
        sys.stderr.write(
            f"netclock viz: {args.path[0]} holds {len(sources)} runs; leave out -o to write "
            "a viewer.html in each, or name one run folder\n"
        )
        return EXIT_USAGE
    for source in sources:
        code = _draw(source, Path(args.output) if args.output else None)
        if code:
            return code
    return 0


def pair_page_name(first: Path, second: Path) -> Path:
    """Where a side-by-side page goes by default: ``A-vs-B.html`` beside run A."""
    return first.resolve().parent / f"{first.resolve().name}-vs-{second.resolve().name}.html"


def side_by_side(run_dir: Path, folders: list[Path]) -> str:
    """Write the side-by-side page of a run that compared two links; the line to print.

    The page is ``A-vs-B.html`` in ``run_dir``; the line names it and the command that
    redraws it. A run that cannot be drawn gives a line that says so (never raises).
    """
    out = pair_page_name(*folders)
    try:
        page, _ = render_side_by_side(folders)
        out.write_text(page, encoding="utf-8")
    except (NetclockError, OSError) as exc:
        return f"side by side: not drawn ({exc})"
    command = " ".join(["netclock viz", *(str(f) for f in folders)])
    return f"side by side: {out} (redraw with `{command}`)"


def _draw_pair(paths: list[Path], output: str | None) -> int:
    """Write the side-by-side page of two runs; 0, or 2 after one sentence on stderr."""
    out = Path(output) if output else pair_page_name(*paths)
    summaries = _render_to(out, lambda: _write_pair(paths, out))
    if summaries is None:
        return EXIT_USAGE
    described = "; ".join(
        f"{p.name}: {count(s['events'], 'event')}, {s['lost']} lost"
        for p, s in zip(paths, summaries, strict=True)
    )
    sys.stdout.write(f"wrote {out}: {described}\n")
    return 0


def _write_pair(paths: list[Path], out: Path) -> list[dict[str, int]]:
    page, summaries = render_side_by_side(paths)
    out.write_text(page, encoding="utf-8")
    return summaries


def _render_to(out: Path, write: Callable[[], T]) -> T | None:
    """Call ``write``, which writes a page to ``out``: what it returns, or None after one
    sentence on stderr (what was wrong with the run, or why ``out`` cannot be written)."""
    try:
        summary = write()
    except NetclockError as exc:
        sys.stderr.write(f"netclock viz: {exc}\n")
        return None
    except OSError as exc:
        sys.stderr.write(f"netclock viz: cannot write {out}: {exc.strerror}\n")
        return None
    return summary


def _draw(source: Path, output: Path | None) -> int:
    """Write one run's viewer page; 0, or 2 after one sentence on stderr."""
    if output is not None:
        out = output
    elif source.is_dir():
        out = source / "viewer.html"
    else:
        out = source.with_suffix(".html")
    s = _render_to(out, lambda: write_run(source, out))
    if s is None:
        return EXIT_USAGE
    sys.stdout.write(
        f"wrote {out}: {count(s['processes'], 'process')}, {count(s['events'], 'event')}, "
        f"{count(s['messages'], 'message')}, {s['lost']} lost\n"
    )
    return 0
