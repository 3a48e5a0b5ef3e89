"""A 4-node cluster run through ``netclock slurm --submit`` on a real single-machine SLURM.

The module's set-up starts Debian's slurm-wlm as a course cluster would run it, on this
machine only: munged with a fresh key, slurmctld and slurmd with a generated slurm.conf
(no cgroups, state under a temporary folder, free ports), and waits until ``sinfo`` says
the node is idle. The test then submits the job, waits for it and checks what it left:
every node ran as a task of that job, the checker passes, the merged log passes ShiViz's
rules. Teardown stops the daemons. Without root, the packages or a daemon that starts,
the test skips with one sentence saying which.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assert_checks_ok, assert_run_folder, explain, netclock

pytestmark = [
    pytest.mark.system,
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(sys.platform != "linux", reason="the SLURM test runs on Linux"),
]

DEMOS = Path(__file__).resolve().parents[2] / "demos"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo")
START_TIMEOUT = 60.0
NODES = ["p1", "p2", "p3", "p4"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _tail(path: Path) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-3:])
    except OSError:
        return "(no log)"


def _slurm_conf(root: Path, host: str) -> str:
    settings = {
        "ClusterName": "netclocktest",
        "SlurmctldHost": host,
        "SlurmctldPort": _free_port(),
        "SlurmdPort": _free_port(),
        "AuthType": "auth/munge",
        "AuthInfo": f"socket={root / 'munge.socket'}",
        "CredType": "cred/munge",
        "SlurmUser": "root",
        "SlurmdUser": "root",
        "StateSaveLocation": root / "state",
        "SlurmdSpoolDir": root / "spool",
        "SlurmctldPidFile": root / "slurmctld.pid",
        "SlurmdPidFile": root / "slurmd.pid",
        "SlurmctldLogFile": root / "slurmctld.log",
        "SlurmdLogFile": root / "slurmd.log",
        "ProctrackType": "proctrack/linuxproc",
        "TaskPlugin": "task/none",
        "JobAcctGatherType": "jobacct_gather/none",
        "AccountingStorageType": "accounting_storage/none",
        "JobCompType": "jobcomp/none",
        "SwitchType": "switch/none",
        "MpiDefault": "none",
        "SchedulerType": "sched/builtin",
        "SelectType": "select/cons_tres",
        "SelectTypeParameters": "CR_CPU",
        "ReturnToService": 2,
    }
    lines = [f"{k}={v}" for k, v in settings.items()]
    lines += [
        f"NodeName={host} CPUs=2 State=UNKNOWN",
        f"PartitionName=netclock Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    ]
    return "\n".join(lines) + "\n"


def _wait_until(what: str, ready: object, logs: list[Path]) -> None:
    """Poll ``ready()`` until true; skip (SLURM could not start) after START_TIMEOUT."""
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            tails = "; ".join(f"{p.name}: {_tail(p)}" for p in logs)
            pytest.skip(f"SLURM could not be started here ({what} never happened: {tails})")
        time.sleep(0.1)  # polling a daemon's state: there is no event to wait on


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A running single-machine SLURM; yields the environment its commands need."""
    if os.geteuid() != 0:
        pytest.skip("the SLURM test starts munged, slurmctld and slurmd, which needs root")
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if missing:
        pytest.skip(
            f"SLURM is not installed ({', '.join(missing)} missing): "
            "apt-get install slurm-wlm munge"
        )
    root = tmp_path_factory.mktemp("slurm")
    for folder in ("state", "spool"):
        (root / folder).mkdir()
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, host), encoding="utf-8")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    commands = {
        "munged": [
            "munged", "-F", "-f", f"--key-file={key}", f"--socket={root / 'munge.socket'}",
            f"--log-file={root / 'munged.log'}", f"--pid-file={root / 'munged.pid'}",
            f"--seed-file={root / 'munged.seed'}",
        ],
        "slurmctld": ["slurmctld", "-D", "-i", "-f", str(conf)],
        "slurmd": ["slurmd", "-D", "-f", str(conf)],
    }  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    logs = [root / f"{name}.out" for name in commands]
    try:
        for name, argv in commands.items():
            with open(root / f"{name}.out", "wb") as out:
                procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env))
            if name == "munged":
                _wait_until("munged's socket", (root / "munge.socket").exists, logs)

        def idle() -> bool:
            proc = subprocess.run(
                ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env,
                timeout=10, check=False,
            )  # fmt: skip
            return proc.stdout.strip() == "idle"

        _wait_until("the node becoming idle in sinfo", idle, [*logs, root / "slurmd.log"])
        yield env
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def _cluster(tmp_path: Path) -> Path:
    path = tmp_path / "ring4.toml"
    path.write_text(
        'name = "ring4"\nlink = "reliable"\nduration = 30\n'
        f'program = "{DEMOS / "ring.py"}:main"\nargs = {{ rounds = 3, timeout = 0.5 }}\n'
        "[faults]\nseed = 13\nloss = 0.1\n" + "".join(f'[[node]]\nid = "{n}"\n' for n in NODES),
        encoding="utf-8",
    )
    return path


def test_a_4_node_ring_runs_as_one_slurm_job(slurm: dict[str, str], tmp_path: Path) -> None:
    run = tmp_path / "run"
    started = time.monotonic()
    env_before = dict(os.environ)
    os.environ["SLURM_CONF"] = slurm["SLURM_CONF"]
    try:
        proc = netclock(
            "slurm", str(_cluster(tmp_path)), "--out", str(run), "--overcommit",
            "--submit", "--wait", timeout=200,
        )  # fmt: skip
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    wall = time.monotonic() - started
    job_out = "".join(p.read_text(errors="replace") for p in run.glob("slurm-*.out"))
    assert proc.returncode == 0, explain(proc, 13) + f"\n--- job output ---\n{job_out[-3000:]}"
    job_id = proc.stdout.split("submitted job ")[1].split(";")[0].split()[0]
    for node in NODES:
        record = json.loads((run / "rendezvous" / f"{node}.address.json").read_text())
        assert record["slurm_job"] == job_id, f"{node} did not run as a task of job {job_id}"
    for task in range(len(NODES)):
        assert "its program returned" in (run / f"task-{task}.stderr").read_text()
    assert "verdict: OK" in job_out
    assert_run_folder(run, NODES)
    assert_checks_ok(run)
    print(f"SLURM job {job_id}: submit to verdict in {wall:.1f} s")
