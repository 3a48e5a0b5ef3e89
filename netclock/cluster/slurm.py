"""A cluster file as one SLURM job: the sbatch script ``netclock slurm`` writes.

The job asks for one task per node (``--ntasks``). ``srun`` starts every task at once; each
runs ``netclock node --index slurm``, which names the node by SLURM's task index
(``SLURM_PROCID``) in the cluster file's order, binds the wildcard address (SLURM chooses
the hosts, so addresses in the file cannot be known in advance) and meets the others in
the run folder's ``rendezvous/`` (:mod:`netclock.cluster.rendezvous`; the run folder must
be on a filesystem every host shares). Faults and the link come from the cluster file, as
in a local run; a fault plan's schedule counts from the job step's start on every host, as
from the launcher's start in a local run. A last step on the batch host merges the logs,
runs the checker and writes the viewer (``netclock slurm CLUSTER --finish RUN``), so the
run folder looks like a local run's. The job exits 0 when every task did and every
promised property holds.

Process faults scheduled by a launcher (``[[action]]``: kill, pause, restart) need the
launcher's signals and are refused here.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netclock.cluster.config import Cluster
from netclock.cluster.rendezvous import RENDEZVOUS_TIMEOUT
from netclock.errors import ConfigError

SCRIPT_NAME = "job.sbatch"
"""The script's name in the run folder."""
RENDEZVOUS_DIR = "rendezvous"
"""The run folder's sub-folder where the nodes meet."""
MARGIN = 60.0
"""Seconds the job's time limit adds to the duration and the rendezvous, for start-up."""


@dataclass(frozen=True)
class SlurmJob:
    """How to run a cluster under SLURM: where, with what, and what to ask the scheduler.

    ``netclock`` is the command that runs netclock on every host (the default is this
    Python, so the run folder and the installation must be on a shared filesystem);
    ``bind`` the address every node binds (the wildcard: all interfaces);
    ``partition``, ``reservation`` and ``account`` pass through to sbatch; ``modules``
    are loaded (``module load``) before anything runs; ``overcommit`` lets tasks share CPUs
    (netclock nodes are mostly idle); ``overrides`` reach every node as the CLI's.
    """

    run_dir: Path
    netclock: str
    bind: str = "0.0.0.0"
    partition: str | None = None
    reservation: str | None = None
    account: str | None = None
    modules: Sequence[str] = ()
    overcommit: bool = False
    rendezvous_timeout: float = RENDEZVOUS_TIMEOUT
    overrides: Mapping[str, Any] = field(default_factory=dict)


def time_limit(cluster: Cluster, job: SlurmJob) -> str:
    """The job's ``--time`` (minutes): the duration, three rendezvous stages and a margin."""
    seconds = cluster.duration + 3 * job.rendezvous_timeout + MARGIN
    return str(math.ceil(seconds / 60))


def check_runnable(cluster: Cluster, cluster_file: Path) -> None:
    """ConfigError when ``cluster`` needs the launcher (it schedules process faults)."""
    if cluster.actions:
        raise ConfigError(
            f"{cluster_file} schedules process faults ([[action]]), which need the launcher's "
            "signals; remove them to run under SLURM, or run the file with `netclock run`"
        )


def sbatch_script(cluster: Cluster, cluster_file: Path, job: SlurmJob) -> str:
    """The sbatch script that runs ``cluster`` (read from ``cluster_file``) as one job."""
    check_runnable(cluster, cluster_file)
    q = shlex.quote
    run = job.run_dir
    n = len(cluster.nodes)
    options = [
        f"--job-name={q('netclock-' + cluster.name)}",
        f"--ntasks={n}",
        "--cpus-per-task=1",
        f"--time={time_limit(cluster, job)}",
        f"--output={q(str(run / 'slurm-%j.out'))}",
    ]
    options += [f"--{k}={q(v)}" for k, v in _passed(job).items()]
    if job.overcommit:
        options.append("--overcommit")
    node_cmd = [
        "node",
        q(str(cluster_file)),
        "--index slurm",
        '--rendezvous "$RUN/' + RENDEZVOUS_DIR + '"',
        '--run-dir "$RUN"',
        '--epoch "$EPOCH"',
        f"--address {q(_bind(job.bind))}",
        f"--rendezvous-timeout {job.rendezvous_timeout:g}",
    ]
    finish_cmd = ["slurm", q(str(cluster_file)), '--finish "$RUN"']
    if job.overrides:
        override = q(json.dumps(dict(job.overrides), sort_keys=True))
        node_cmd.append(f"--override {override}")
        finish_cmd.append(f"--override {override}")
    nodes = ", ".join(f"{i}={node}" for i, node in enumerate(cluster.node_ids))
    lines = [
        "#!/bin/bash",
        f"# {cluster.name}: {n} nodes over {cluster.link}, one SLURM task per node.",
        "# Written by `netclock slurm`; submit it with `sbatch` from any folder.",
        *(f"#SBATCH {o}" for o in options),
        *(f"module load {q(m)}" for m in job.modules),
        "set -u",
        f"RUN={q(str(run))}",
        f"NETCLOCK=({job.netclock})",
        'mkdir -p "$RUN/' + RENDEZVOUS_DIR + '"',
        "# Fault-plan schedules count from here on every host (their clocks kept by NTP).",
        "EPOCH=$(date +%s.%N)",
        f"# Task i runs node i of the cluster file: {nodes}.",
        f'srun --ntasks={n} --kill-on-bad-exit=0 --output="$RUN/task-%t.stdout" '
        f'--error="$RUN/task-%t.stderr" "${{NETCLOCK[@]}}" {" ".join(node_cmd)}',
        "tasks=$?",
        "# Merge the logs, check the run, write the viewer: the folder of a local run.",
        f'"${{NETCLOCK[@]}}" {" ".join(finish_cmd)}',
        "verdict=$?",
        'if [ "$tasks" -ne 0 ]; then exit "$tasks"; fi',
        'exit "$verdict"',
    ]
    return "\n".join(lines) + "\n"


def _passed(job: SlurmJob) -> dict[str, str]:
    """The sbatch options passed through as given (only those set)."""
    given = {"partition": job.partition, "reservation": job.reservation, "account": job.account}
    return {k: v for k, v in given.items() if v}


def _bind(host: str) -> str:
    return f"[{host}]:0" if ":" in host else f"{host}:0"
