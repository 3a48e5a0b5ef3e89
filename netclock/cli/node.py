"""``netclock node CLUSTER.toml --id ID``: one node of a cluster, in this process.

``--index N`` names the node by its position in the cluster file instead (0 is the first);
``--index slurm`` takes N from SLURM's task index (``SLURM_PROCID``, else
``SLURM_ARRAY_TASK_ID``). ``--rendezvous DIR`` makes nodes started independently meet in a
shared folder (:mod:`netclock.cluster.rendezvous`) instead of using the file's addresses.

Started by hand (without ``--control``, which the launcher gives) the node says what it
does in sentences and, without ``--run-dir``, writes its logs to a new folder
``runs/NAME-ID-TIME``, naming it on start.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from netclock.cluster import phases
from netclock.cluster.config import Cluster, load_cluster
from netclock.cluster.forkserver import parsed_cluster
from netclock.cluster.launcher import new_run_dir
from netclock.cluster.process import NodeRun, check_fixed_ports, main_node
from netclock.cluster.rendezvous import RENDEZVOUS_TIMEOUT
from netclock.errors import ConfigError
from netclock.links.base import parse_address


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``netclock node``."""
    node = sub.add_parser("node", help="run one node of a cluster file")
    node.add_argument("cluster", help="cluster TOML file")
    who = node.add_mutually_exclusive_group(required=True)
    who.add_argument("--id", help="the id of the node to run, as the cluster file names it")
    who.add_argument(
        "--index",
        help="the node's position in the cluster file (0 first), or 'slurm' for SLURM's task index",
    )
    node.add_argument(
        "--run-dir", help="folder for the node's logs (default: a new runs/NAME-ID-TIME)"
    )
    node.add_argument(
        "--control",
        action="store_true",
        help="speak the control protocol to a launcher on stdio (what `netclock run` uses) "
        "instead of sentences to a person",
    )
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
    node.add_argument(
        "--rendezvous", metavar="DIR", help="learn the peers' addresses in this shared folder"
    )
    node.add_argument(
        "--rendezvous-timeout",
        type=float,
        default=RENDEZVOUS_TIMEOUT,
        help=f"seconds to wait for every node to show up (default {RENDEZVOUS_TIMEOUT:g})",
    )
    node.set_defaults(handler=main)


SLURM_INDEX = ("SLURM_PROCID", "SLURM_ARRAY_TASK_ID")
"""The environment variables SLURM tells a task its index in, the first set one wins."""


def node_by_index(cluster: Cluster, index: str, environ: dict[str, str] | None = None) -> str:
    """The id of the node at ``index`` (a number, or ``slurm``: SLURM's task index)."""
    env = os.environ if environ is None else environ
    text = index
    if index == "slurm":
        found = next((env[name] for name in SLURM_INDEX if env.get(name)), None)
        if found is None:
            raise ConfigError(
                "--index slurm needs SLURM_PROCID or SLURM_ARRAY_TASK_ID; run it as a SLURM "
                "task (srun) or give --index N"
            )
        text = found
    ids = cluster.node_ids
    if not text.isdigit() or int(text) >= len(ids):
        raise ConfigError(
            f"--index {text!r} must be a number from 0 to {len(ids) - 1} (the cluster file has "
            f"{len(ids)} nodes) or 'slurm'"
        )
    return ids[int(text)]


def main(args: argparse.Namespace) -> int:
    """Run the node until its program returns (or, under a launcher, until told to stop)."""
    phases.mark("main")
    overrides = json.loads(args.override) if args.override else None
    cluster = parsed_cluster(args.cluster, args.override) or load_cluster(args.cluster, overrides)
    phases.mark("parsed")
    node_id = args.id if args.id is not None else node_by_index(cluster, args.index)
    address = parse_address(args.address) if args.address else None
    cluster.node(node_id)  # an unknown id is a ConfigError before any folder is made
    if not args.rendezvous_timeout > 0:
        raise ConfigError("--rendezvous-timeout must be a positive number of seconds")
    if not args.control and not args.rendezvous:
        check_fixed_ports(cluster, node_id)
    chosen = not args.run_dir and not args.control and (cluster.log_events or cluster.log_govector)
    if args.restart and not args.run_dir:
        raise ConfigError("--restart needs --run-dir: the run folder of the node's earlier life")
    if args.run_dir:
        run_dir: Path | None = Path(args.run_dir)
    elif chosen:
        run_dir = new_run_dir(f"{cluster.name}-{node_id}")
    else:
        run_dir = None
    return int(
        main_node(
            NodeRun(
                cluster,
                node_id,
                run_dir,
                args.control,
                args.epoch,
                address,
                args.restart,
                Path(args.rendezvous) if args.rendezvous else None,
                args.rendezvous_timeout,
                chosen,
            )
        )
    )
