"""The ``netclock`` command line: demos, runs, nodes, logs, checks, pictures, certificates."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netclock.errors import NetclockError


def demos_dir() -> Path:
    """Where the demo cluster files live (installed copy first, then the source tree)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_demos", here.parent / "demos"):
        if candidate.is_dir():
            return candidate
    raise NetclockError("the demos folder is missing from this installation")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(args, "link", None):
        out["link"] = args.link
    if getattr(args, "duration", None):
        out["duration"] = args.duration
    return out


def _cmd_run(args: argparse.Namespace, cluster_file: Path) -> int:
    from netclock.cluster.config import load_cluster
    from netclock.cluster.launcher import new_run_dir, run_cluster
    from netclock.cluster.process import run_async
    from netclock.tools.report import compare_table, finish_run_report

    overrides = _overrides(args)
    cluster = load_cluster(cluster_file, overrides)
    run_dir = Path(args.out) if args.out else new_run_dir(cluster.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    links = {cluster.link, *cluster.compare_links} if "link" not in overrides else {cluster.link}
    if "tls" in links and cluster.cert_dir is None:
        overrides["cert_dir"] = str(_run_certificates(run_dir, cluster.node_ids))
        cluster = load_cluster(cluster_file, overrides)
    if not cluster.compare_links or "link" in overrides:
        result = run_async(run_cluster(cluster, run_dir))
        return finish_run_report(result, sys.stdout)[0]
    code, rows = 0, []
    for link in cluster.compare_links:
        print(f"\n=== over {link} ===")
        one = load_cluster(cluster_file, {**overrides, "link": link})
        folder = run_dir / link
        folder.mkdir(parents=True, exist_ok=True)
        link_code, report = finish_run_report(run_async(run_cluster(one, folder)), sys.stdout)
        code = max(code, link_code)
        rows.append((link, report))
    print(f"\n=== the same traffic and fault seed over {len(rows)} links ===")
    print(compare_table(rows))
    return code


def _run_certificates(run_dir: Path, nodes: list[str]) -> Path:
    """A fresh cluster CA and node certificates for one run that names no cert_dir."""
    from netclock.links.tls.certs import init_cluster

    folder = (run_dir / "certs").resolve()
    init_cluster(folder, nodes)
    print(f"created a cluster CA and certificates for {', '.join(nodes)} in {folder}")
    return folder


def _cmd_demo(args: argparse.Namespace) -> int:
    folder = demos_dir()
    if args.name is None or args.name == "list":
        for path in sorted(folder.glob("*.toml")):
            print(path.stem)
        return 0
    cluster_file = folder / f"{args.name}.toml"
    if not cluster_file.is_file():
        names = ", ".join(sorted(p.stem for p in folder.glob("*.toml")))
        raise NetclockError(f"no demo named {args.name!r}; the demos are {names}")
    return _cmd_run(args, cluster_file)


def _cmd_node(args: argparse.Namespace) -> int:
    from netclock.cluster.config import load_cluster
    from netclock.cluster.process import main_node

    overrides = json.loads(args.override) if args.override else None
    cluster = load_cluster(args.cluster, overrides)
    run_dir = Path(args.run_dir) if args.run_dir else None
    return int(main_node(cluster, args.id, run_dir, args.control, args.epoch))


def _cmd_logs(args: argparse.Namespace) -> int:
    from netclock.observe.shiviz import merge_logs

    problems = merge_logs([Path(f) for f in args.files], Path(args.output))
    for problem in problems:
        print(f"netclock: ShiViz would reject: {problem}", file=sys.stderr)
    print(f"wrote {args.output}")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``netclock`` command."""
    parser = argparse.ArgumentParser(
        prog="netclock",
        description="Distributed-systems models on real sockets, a vector clock on every message.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def run_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--link", choices=["fairloss", "stubborn", "reliable", "tls"])
        p.add_argument("--duration", type=float, help="longest the run may take, seconds")
        p.add_argument("--out", help="run folder (default: runs/NAME-TIME)")

    demo = sub.add_parser("demo", help="run a demo cluster: netclock demo pingpong")
    demo.add_argument("name", nargs="?", help="demo name (omit to list them)")
    run_options(demo)

    run = sub.add_parser("run", help="run a cluster file, one OS process per node")
    run.add_argument("cluster", help="cluster TOML file")
    run_options(run)

    node = sub.add_parser("node", help="run one node of a cluster file")
    node.add_argument("cluster")
    node.add_argument("--id", required=True)
    node.add_argument("--run-dir")
    node.add_argument("--control", action="store_true", help="speak to a launcher on stdio")
    node.add_argument("--override", help=argparse.SUPPRESS)
    node.add_argument(
        "--epoch", type=float, help="time (epoch seconds) fault-plan schedules count from"
    )

    logs = sub.add_parser("logs", help="GoVector/ShiViz logs")
    logs_sub = logs.add_subparsers(dest="logs_command", metavar="ACTION", required=True)
    merge = logs_sub.add_parser("merge", help="merge per-process logs into one ShiViz file")
    merge.add_argument("files", nargs="+")
    merge.add_argument("-o", "--output", required=True)

    for name, text in (
        ("check", "check a run folder against the textbook properties"),
        ("viz", "draw a run as a self-contained HTML space-time diagram"),
        ("certs", "create and inspect cluster certificates"),
        ("bench", "benchmarks next to raw baselines measured in the same run"),
    ):
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


_DELEGATED = {
    "check": "netclock.tools.check",
    "viz": "netclock.tools.viz",
    "certs": "netclock.links.tls.certs",
    "bench": "netclock.tools.bench.runner",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    verbose = bool(argv) and argv[0] in ("-v", "--verbose")
    if verbose and len(argv) > 1 and argv[1] in _DELEGATED:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
        argv = argv[1:]
    if argv and argv[0] in _DELEGATED:
        import importlib

        module = importlib.import_module(_DELEGATED[argv[0]])
        return int(module.cli(argv[1:]))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        if args.command == "demo":
            return _cmd_demo(args)
        if args.command == "run":
            return _cmd_run(args, Path(args.cluster))
        if args.command == "node":
            return _cmd_node(args)
        if args.command == "logs":
            return _cmd_logs(args)
        parser.print_help()
        return 2
    except NetclockError as exc:
        print(f"netclock: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("netclock: interrupted; every node was stopped", file=sys.stderr)
        return 130
