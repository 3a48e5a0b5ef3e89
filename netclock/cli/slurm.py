"""``netclock slurm CLUSTER.toml``: the cluster as one SLURM job (:mod:`netclock.cluster.slurm`).

Writes ``RUN/job.sbatch`` and prints its path; ``--submit`` hands it to ``sbatch`` as well
(``--wait`` waits for the job to end and exits with its code). ``--finish RUN`` is the
job's last step: it merges the logs, checks the run and writes the viewer.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from netclock.cli.run import _run_certificates
from netclock.cluster.config import Cluster, load_cluster
from netclock.cluster.launcher import RunResult, new_run_dir
from netclock.cluster.rendezvous import RENDEZVOUS_TIMEOUT, read_stage
from netclock.cluster.slurm import (
    RENDEZVOUS_DIR,
    SCRIPT_NAME,
    SlurmJob,
    check_runnable,
    sbatch_script,
)
from netclock.errors import ConfigError
from netclock.links.base import CERTIFIED_KINDS, LINK_KINDS
from netclock.observe.eventlog import EVENT_SUFFIX, RunInfo, write_run_info
from netclock.tools.report import finish_run_report


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``netclock slurm``."""
    p = sub.add_parser("slurm", help="write (and submit) an sbatch script running a cluster file")
    p.add_argument("cluster", help="cluster TOML file")
    p.add_argument(
        "--out", help="run folder, on a filesystem every host shares (default: runs/NAME-TIME)"
    )
    p.add_argument("--link", choices=list(LINK_KINDS))
    p.add_argument("--partition", help="sbatch --partition")
    p.add_argument("--reservation", help="sbatch --reservation")
    p.add_argument("--account", help="sbatch --account")
    p.add_argument(
        "--module", action="append", default=[], help="module to load first (repeatable)"
    )
    p.add_argument(
        "--overcommit", action="store_true", help="let tasks share CPUs (sbatch --overcommit)"
    )
    p.add_argument(
        "--netclock",
        default=f"{shlex.quote(sys.executable)} -m netclock",
        help="command that runs netclock on the compute hosts (default: this Python)",
    )
    p.add_argument("--bind", default="0.0.0.0", help="address every node binds (default: all)")
    p.add_argument("--rendezvous-timeout", type=float, default=RENDEZVOUS_TIMEOUT)
    p.add_argument("--submit", action="store_true", help="submit the script with sbatch")
    p.add_argument("--wait", action="store_true", help="with --submit: wait for the job's end")
    p.add_argument("--finish", metavar="RUN", help=argparse.SUPPRESS)
    p.add_argument("--override", help=argparse.SUPPRESS)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Write the script (and submit it), or finish a run folder the job wrote."""
    overrides: dict[str, Any] = json.loads(args.override) if args.override else {}
    if args.link:
        overrides["link"] = args.link
    cluster_file = Path(args.cluster).resolve()
    cluster = load_cluster(cluster_file, overrides)
    if args.finish:
        return finish(cluster, Path(args.finish))
    if not args.rendezvous_timeout > 0:
        raise ConfigError("--rendezvous-timeout must be a positive number of seconds")
    if args.wait and not args.submit:
        raise ConfigError("--wait waits for a submitted job; add --submit")
    check_runnable(cluster, cluster_file)
    run_dir = (Path(args.out) if args.out else new_run_dir(cluster.name)).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if cluster.link in CERTIFIED_KINDS and cluster.cert_dir is None:
        overrides["cert_dir"] = str(_run_certificates(run_dir, cluster.node_ids))
    job = SlurmJob(
        run_dir=run_dir,
        netclock=args.netclock,
        bind=args.bind,
        partition=args.partition,
        reservation=args.reservation,
        account=args.account,
        modules=tuple(args.module),
        overcommit=args.overcommit,
        rendezvous_timeout=args.rendezvous_timeout,
        overrides=overrides,
    )
    script = run_dir / SCRIPT_NAME
    script.write_text(sbatch_script(cluster, cluster_file, job), encoding="utf-8")
    print(f"wrote {script}")
    if not args.submit:
        print(f"submit it with: sbatch {shlex.quote(str(script))}")
        return 0
    return submit(script, args.wait)


def submit(script: Path, wait: bool) -> int:
    """``sbatch`` the script; with ``wait``, return the job's exit code."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise ConfigError("sbatch is not on PATH; load SLURM's module or submit the script by hand")
    command = [sbatch, "--parsable", *(["--wait"] if wait else []), str(script)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    job_id = proc.stdout.strip().split(";")[0]
    if job_id:
        print(f"submitted job {job_id}; its output goes to {script.parent}/slurm-{job_id}.out")
    if proc.returncode != 0:
        print(f"netclock: sbatch: {proc.stderr.strip() or 'exit ' + str(proc.returncode)}")
    return proc.returncode


def finish(cluster: Cluster, run_dir: Path) -> int:
    """Merge the logs, check the run, write the viewer; 0 when the verdict is OK.

    A node that left no event log is reported failed (its task's stderr says why).
    """
    ids = cluster.node_ids
    met = read_stage(run_dir / RENDEZVOUS_DIR, "address", ids)
    started = min((float(r["t"]) for r in met.values() if _is_time(r.get("t"))), default=None)
    seed = None if cluster.faults is None else cluster.faults.seed
    write_run_info(run_dir, RunInfo(cluster.name, cluster.link, tuple(ids), seed, started))
    failed = {
        node: f"it left no event log; see {run_dir}/task-{i}.stderr"
        for i, node in enumerate(ids)
        if not (run_dir / f"{node}{EVENT_SUFFIX}").exists()
    }
    result = RunResult(run_dir, failed, {}, {}, stop_reason="done")
    code, _ = finish_run_report(result, sys.stdout)
    if met:
        hosts = sorted({str(r.get("hostname")) for r in met.values()})
        print(f"  hosts:       {', '.join(hosts)}")
    return code


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
