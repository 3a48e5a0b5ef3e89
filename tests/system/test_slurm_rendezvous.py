"""Nodes started by hand meet through a shared folder, as SLURM's tasks do.

Each test starts ``netclock node --index I --rendezvous DIR`` processes itself (no
launcher, no fixed ports), then judges the run folder with ``netclock check`` and finishes
it with the SLURM job's last step (``netclock slurm CLUSTER --finish RUN``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import assert_checks_ok, assert_run_folder, explain, netclock

pytestmark = [
    pytest.mark.system,
    pytest.mark.timeout(90),
    pytest.mark.skipif(sys.platform == "win32", reason="netclock runs on POSIX systems"),
]

DEMOS = Path(__file__).resolve().parents[2] / "demos"
NODES = ["p1", "p2", "p3"]
WAIT = 60.0


def _cluster(tmp_path: Path, link: str = "reliable") -> Path:
    path = tmp_path / "ring3.toml"
    path.write_text(
        f'name = "ring3"\nlink = "{link}"\nduration = 30\n'
        f'program = "{DEMOS / "ring.py"}:main"\nargs = {{ rounds = 3, timeout = 0.5 }}\n'
        "[faults]\nseed = 5\nloss = 0.1\n" + "".join(f'[[node]]\nid = "{n}"\n' for n in NODES),
        encoding="utf-8",
    )
    return path


def _start(cluster: Path, run: Path, index: int, *more: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "netclock", "node", str(cluster), "--index", str(index),
         "--rendezvous", str(run / "rendezvous"), "--run-dir", str(run), *more],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def _finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    out = []
    for proc in procs:
        try:
            stdout, stderr = proc.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        out.append((proc.returncode, stdout, stderr))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("bind", [None, "0.0.0.0:0"], ids=["file-address", "wildcard"])
def test_three_hand_started_nodes_meet_and_pass_the_checker(
    tmp_path: Path, bind: str | None
) -> None:
    run = tmp_path / "run"
    (run / "rendezvous").mkdir(parents=True)
    # Garbage beside the records must not stop anyone (a node that is not in the cluster).
    (run / "rendezvous" / "p9.address.json").write_bytes(b"\xff\x00garbage")
    cluster = _cluster(tmp_path)
    more = ("--address", bind) if bind else ()
    results = _finish([_start(cluster, run, i, *more) for i in range(len(NODES))])
    for code, stdout, stderr in results:
        assert code == 0, f"exit {code} (fault seed 5)\n{stdout[-2000:]}\n{stderr[-2000:]}"
        assert "its program returned" in stderr
        assert "@netclock" not in stdout
    for node in NODES:
        record = json.loads((run / "rendezvous" / f"{node}.address.json").read_text())
        assert record["host"] not in ("0.0.0.0", "::")
        assert (run / "rendezvous" / f"{node}.done.json").exists()
    assert_checks_ok(run)
    proc = netclock("slurm", str(cluster), "--finish", str(run))
    assert proc.returncode == 0, explain(proc, 5)
    assert_run_folder(run, NODES)
    info = json.loads((run / "run.json").read_text())
    assert info["nodes"] == NODES
    assert info["seed"] == 5


def test_a_node_that_never_shows_up_is_named(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cluster = _cluster(tmp_path)
    results = _finish([_start(cluster, run, i, "--rendezvous-timeout", "1") for i in (0, 1)])
    for code, _, stderr in results:
        assert code != 0
        assert "p3 never reached stage 'address' within 1 s" in stderr, stderr[-2000:]
        assert "Traceback" not in stderr


def test_index_out_of_range_is_one_sentence(tmp_path: Path) -> None:
    proc = netclock("node", str(_cluster(tmp_path)), "--index", "3", "--rendezvous", str(tmp_path))
    assert proc.returncode != 0
    assert "--index '3' must be a number from 0 to 2" in proc.stderr, explain(proc)
    assert "Traceback" not in proc.stderr


def test_the_launcher_runs_nodes_bound_to_the_wildcard(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    text = cluster.read_text(encoding="utf-8").replace(
        "[[node]]\n", '[[node]]\naddress = "0.0.0.0:0"\n'
    )
    cluster.write_text(text, encoding="utf-8")
    run = tmp_path / "run"
    proc = netclock("run", str(cluster), "--out", str(run))
    assert proc.returncode == 0, explain(proc, 5)
    assert_run_folder(run, NODES)
    started = next(line for line in proc.stdout.splitlines() if line.startswith("started "))
    assert "@0.0.0.0:" not in started, started
    assert started.count("@") == len(NODES), started
