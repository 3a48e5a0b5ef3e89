"""``netclock node CLUSTER.toml --id ID``: one node of a cluster, in this process."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from netclock.cluster.config import load_cluster
from netclock.cluster.process import NodeRun, main_node
from netclock.links.base import parse_address


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``netclock node``."""
    node = sub.add_parser("node", help="run one node of a cluster file")
    node.add_argument("cluster")
    node.add_argument("--id", required=True)
    node.add_argument("--run-dir")
    node.add_argument("--control", action="store_true", help="speak to a launcher on stdio")
    node.add_argument("--override", help=argparse.SUPPRESS)
    node.add_argument(
        "--epoch", type=float, help="time (epoch seconds) fault-plan schedules count from"
    )
    node.add_argument("--address", help="host:port to bind instead of the cluster file's")
    node.add_argument(
        "--restart",
        action="store_true",
        help="continue this node's earlier life in --run-dir: append to its logs, go on "
        "with its clock",
    )
    node.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Run the node until its program returns (or, under a launcher, until told to stop)."""
    overrides = json.loads(args.override) if args.override else None
    cluster = load_cluster(args.cluster, overrides)
    run_dir = Path(args.run_dir) if args.run_dir else None
    address = parse_address(args.address) if args.address else None
    return int(
        main_node(
            NodeRun(cluster, args.id, run_dir, args.control, args.epoch, address, args.restart)
        )
    )
