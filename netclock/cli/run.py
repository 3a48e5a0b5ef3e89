"""``netclock run CLUSTER.toml``: one OS process per node, then the checker's verdict.

Options change a run without editing its file: ``--link``, ``--duration``, ``--out`` (a new
or empty folder: a run folder is never mixed with another run's files) and the fault
flags of :mod:`netclock.cli.fault_flags` (``--seed``, ``--loss``, ...), which change the
file's ``[faults]`` table field by field.

The exit code says how the run went (the README lists them); when several apply, the
first of this order wins: interrupted (130) or terminated (143), a program failed (3), a
promised property violated (1), the duration expired with programs unfinished (4).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netclock.cli.exits import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROGRAM_FAILED,
    EXIT_TERMINATED,
    EXIT_UNFINISHED,
    EXIT_VIOLATED,
)
from netclock.cli.fault_flags import add_fault_flags, argparse_type, plan_from_flags
from netclock.cli.viz import side_by_side
from netclock.cluster.config import Cluster, load_cluster
from netclock.cluster.launcher import (
    RunResult,
    claim_run_dir,
    new_run_dir,
    run_certificates,
    run_cluster,
)
from netclock.cluster.node_count import node_range
from netclock.cluster.process import run_async
from netclock.faults.config import parse_duration
from netclock.links.base import CERTIFIED_KINDS, LINK_KINDS
from netclock.tools.report import compare_table, finish_run_report

if TYPE_CHECKING:
    from netclock.tools.check import Report


def run_outcome(result: RunResult, verdict_ok: bool) -> tuple[int, str]:
    """The run's exit code and a sentence saying why (empty when all went well)."""
    if result.stop_reason in ("interrupted", "terminated"):
        code = EXIT_INTERRUPTED if result.stop_reason == "interrupted" else EXIT_TERMINATED
        return code, (
            f"run {result.stop_reason}: every node was stopped; the verdict covers the run "
            "up to then"
        )
    if result.failed:
        nodes = ", ".join(sorted(result.failed))
        return EXIT_PROGRAM_FAILED, f"run failed: the program of {nodes} failed (above)"
    if not verdict_ok:
        return EXIT_VIOLATED, ""
    if result.unfinished:
        return EXIT_UNFINISHED, (
            f"run unfinished: the duration expired while the program of "
            f"{', '.join(result.unfinished)} still ran"
        )
    return EXIT_OK, ""


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``demo`` share."""
    p.add_argument("--link", choices=list(LINK_KINDS))
    p.add_argument(
        "--duration",
        type=argparse_type(parse_duration, "--duration"),
        help="longest the run may take: seconds, or 1.5s, 500ms",
    )
    p.add_argument("--out", help="run folder, new or empty (default: runs/NAME-TIME)")
    p.add_argument(
        "--nodes",
        type=int,
        metavar="N",
        help="run N nodes: the file's, numbered on from its last (the key nodes = N)",
    )
    add_fault_flags(p)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``netclock run``."""
    run = sub.add_parser("run", help="run a cluster file, one OS process per node")
    run.add_argument("cluster", help="cluster TOML file")
    add_run_options(run)
    run.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Run the cluster file named on the command line."""
    return run_file(args, Path(args.cluster))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(args, "link", None):
        out["link"] = args.link
    if getattr(args, "duration", None) is not None:
        out["duration"] = args.duration
    if getattr(args, "nodes", None) is not None:
        out["nodes"] = args.nodes
    return out


def run_file(args: argparse.Namespace, cluster_file: Path) -> int:
    """Run ``cluster_file`` (once, or once per link it compares); 0 when every verdict is OK."""
    overrides = _overrides(args)
    cluster = load_cluster(cluster_file, overrides)
    plan = plan_from_flags(args, cluster.faults)
    if plan is not cluster.faults:
        overrides["faults"] = plan.to_dict()
        cluster = load_cluster(cluster_file, overrides)
    run_dir = claim_run_dir(Path(args.out)) if args.out else new_run_dir(cluster.name)
    links = {cluster.link, *cluster.compare_links} if "link" not in overrides else {cluster.link}
    if links & CERTIFIED_KINDS and cluster.cert_dir is None:
        overrides["cert_dir"] = str(_run_certificates(run_dir, cluster.node_ids))
        cluster = load_cluster(cluster_file, overrides)
    if cluster.variants:
        return _run_variants(cluster_file, cluster, overrides, run_dir)
    if not cluster.compare_links or "link" in overrides:
        return _run_once(cluster, run_dir)[0]
    code, rows = 0, []
    for link in cluster.compare_links:
        print(f"\n=== over {link} ===")
        one = load_cluster(cluster_file, {**overrides, "link": link})
        folder = run_dir / link
        folder.mkdir(parents=True, exist_ok=True)
        link_code, report = _run_once(one, folder)
        code = max(code, link_code)
        rows.append((link, report))
        if link_code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
            return link_code
    print(f"\n=== the same traffic and fault seed over {len(rows)} links ===")
    print(compare_table(rows))
    if len(rows) == 2:
        print(side_by_side(run_dir, [run_dir / link for link, _ in rows]))
    return code


def _run_variants(
    cluster_file: Path, cluster: Cluster, overrides: dict[str, Any], run_dir: Path
) -> int:
    """Run the cluster once per ``[[variant]]`` and print the failure detectors' table."""
    from netclock.tools.check import load_run
    from netclock.tools.check_detectors import detector_table, summarize

    code, rows = 0, []
    for name, table in cluster.variants:
        print(f"\n=== variant {name} ===")
        one = load_cluster(cluster_file, {**overrides, **table, "variant": []})
        folder = run_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        one_code, _ = _run_once(one, folder)
        code = max(code, one_code)
        if one_code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
            return one_code
        summary = summarize(load_run(folder))
        if summary is not None:
            rows.append((name, summary))
    if rows:
        print(f"\n=== the same cluster under {len(rows)} timing models and detectors ===")
        print(detector_table(rows))
    return code


def _run_once(cluster: Cluster, run_dir: Path) -> tuple[int, Report]:
    """One run, its report, and its exit code (:func:`run_outcome`)."""
    result = run_async(run_cluster(cluster, run_dir))
    _, report = finish_run_report(result, sys.stdout)
    code, why = run_outcome(result, report.ok)
    if why:
        print(f"netclock: {why}", file=sys.stderr)
    return code, report


def _run_certificates(run_dir: Path, nodes: list[str]) -> Path:
    """A fresh cluster CA and node certificates for one run that names no cert_dir."""
    folder = run_certificates(run_dir, nodes)
    names = ", ".join(nodes) if len(nodes) <= 8 else f"{len(nodes)} nodes ({node_range(nodes)})"
    print(f"created a cluster CA and certificates for {names} in {folder}")
    return folder
