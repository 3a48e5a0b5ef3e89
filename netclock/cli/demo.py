"""``netclock demo [NAME]``: run one of the demo clusters, or list them."""

from __future__ import annotations

import argparse
from pathlib import Path

from netclock.cli.run import add_run_options, run_file
from netclock.errors import NetclockError


def demos_dir() -> Path:
    """Where the demo cluster files live (installed copy first, then the source tree)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_demos", here.parent / "demos"):
        if candidate.is_dir():
            return candidate
    raise NetclockError("the demos folder is missing from this installation")


def demo_summary(cluster_file: Path) -> str:
    """The first sentence of the comment that opens a demo's cluster file ("" if none)."""
    words: list[str] = []
    for line in cluster_file.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        words += line.lstrip("#").split()
    text = " ".join(words)
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``netclock demo``."""
    demo = sub.add_parser("demo", help="run a demo cluster: netclock demo pingpong")
    demo.add_argument("name", nargs="?", help="demo name (omit to list them)")
    add_run_options(demo)
    demo.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """List the demos, or run the one named."""
    folder = demos_dir()
    if args.name is None or args.name == "list":
        paths = sorted(folder.glob("*.toml"))
        width = max((len(p.stem) for p in paths), default=0)
        for path in paths:
            print(f"{path.stem:<{width}}  {demo_summary(path)}".rstrip())
        return 0
    cluster_file = folder / f"{args.name}.toml"
    if not cluster_file.is_file():
        names = ", ".join(sorted(p.stem for p in folder.glob("*.toml")))
        raise NetclockError(f"no demo named {args.name!r}; the demos are {names}")
    return run_file(args, cluster_file)
