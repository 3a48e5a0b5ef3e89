"""The sbatch script ``netclock slurm`` writes, for the pingpong and ring demos."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
from pathlib import Path

import pytest

from netclock.cli.main import build_parser
from netclock.cluster.config import load_cluster
from netclock.cluster.slurm import SlurmJob, sbatch_script, time_limit
from netclock.errors import ConfigError

pytestmark = pytest.mark.timeout(30)

DEMOS = Path(__file__).resolve().parents[2] / "demos"
PY = "/opt/py/bin/python -m netclock"


def _script(name: str, run: Path, **job: object) -> str:
    path = DEMOS / f"{name}.toml"
    return sbatch_script(load_cluster(path), path, SlurmJob(run_dir=run, netclock=PY, **job))  # type: ignore[arg-type]


def _directives(script: str) -> list[str]:
    return [
        line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH")
    ]


def _srun(script: str) -> list[str]:
    (line,) = [line for line in script.splitlines() if line.startswith("srun ")]
    return shlex.split(line)


def test_pingpong_asks_for_one_task_per_node(tmp_path: Path) -> None:
    script = _script("pingpong", tmp_path)
    assert script.startswith("#!/bin/bash\n")
    assert "--ntasks=2" in _directives(script)
    assert "--job-name=netclock-pingpong" in _directives(script)
    assert f"--output={tmp_path}/slurm-%j.out" in _directives(script)
    assert "--ntasks=2" in _srun(script)


def test_ring_tasks_run_the_node_of_their_index_meeting_in_the_run_folder(tmp_path: Path) -> None:
    script = _script("ring", tmp_path)
    assert "--ntasks=5" in _directives(script)
    words = _srun(script)
    node = words[words.index("node") :]
    assert node[1] == str(DEMOS / "ring.toml")
    assert node[node.index("--index") + 1] == "slurm"
    assert node[node.index("--rendezvous") + 1] == "$RUN/rendezvous"
    assert node[node.index("--run-dir") + 1] == "$RUN"
    assert node[node.index("--address") + 1] == "0.0.0.0:0"
    assert node[node.index("--epoch") + 1] == "$EPOCH"
    lines = script.splitlines()
    assert lines.index("EPOCH=$(date +%s.%N)") < next(
        i for i, x in enumerate(lines) if x.startswith("srun")
    )
    assert f"RUN={tmp_path}" in script.splitlines()
    assert "0=p1, 1=p2, 2=p3, 3=p4, 4=p5" in script


def test_the_last_step_finishes_the_run_folder_and_sets_the_exit_code(tmp_path: Path) -> None:
    lines = _script("ring", tmp_path).splitlines()
    finish = [line for line in lines if "--finish" in line]
    assert finish == [f'"${{NETCLOCK[@]}}" slurm {DEMOS / "ring.toml"} --finish "$RUN"']
    assert lines.index(finish[0]) > lines.index(next(x for x in lines if x.startswith("srun")))
    assert lines[-2:] == ['if [ "$tasks" -ne 0 ]; then exit "$tasks"; fi', 'exit "$verdict"']


def test_course_options_pass_through(tmp_path: Path) -> None:
    script = _script(
        "ring",
        tmp_path,
        partition="teach",
        reservation="lab 3",
        account="ds2026",
        modules=("python/3.11", "openssl"),
        overcommit=True,
    )
    directives = _directives(script)
    assert "--partition=teach" in directives
    assert "--reservation='lab 3'" in directives
    assert "--account=ds2026" in directives
    assert "--overcommit" in directives
    lines = script.splitlines()
    assert lines.index("module load python/3.11") < lines.index("module load openssl")
    assert lines.index("module load openssl") < next(
        i for i, x in enumerate(lines) if x.startswith("srun")
    )


def test_no_options_no_directives(tmp_path: Path) -> None:
    directives = _directives(_script("pingpong", tmp_path))
    assert not [d for d in directives if d.split("=")[0] in ("--partition", "--reservation")]
    assert "--overcommit" not in directives
    assert "module load" not in _script("pingpong", tmp_path)


def test_the_time_limit_covers_the_duration_and_the_rendezvous(tmp_path: Path) -> None:
    cluster = load_cluster(DEMOS / "ring.toml")
    job = SlurmJob(run_dir=tmp_path, netclock=PY, rendezvous_timeout=60)
    minutes = int(time_limit(cluster, job))
    assert minutes * 60 >= cluster.duration + 3 * 60
    assert f"--time={minutes}" in _directives(_script("ring", tmp_path))


def test_overrides_reach_every_node_and_the_last_step(tmp_path: Path) -> None:
    script = _script("pingpong", tmp_path, overrides={"link": "tls", "cert_dir": "/c d"})
    words = _srun(script)
    assert json.loads(words[words.index("--override") + 1]) == {"cert_dir": "/c d", "link": "tls"}
    (finish,) = [line for line in script.splitlines() if "--finish" in line]
    finish_words = shlex.split(finish)
    assert json.loads(finish_words[finish_words.index("--override") + 1])["link"] == "tls"


def test_an_ipv6_bind_is_bracketed(tmp_path: Path) -> None:
    words = _srun(_script("pingpong", tmp_path, bind="::"))
    assert words[words.index("--address") + 1] == "[::]:0"


def test_the_script_is_valid_bash(tmp_path: Path) -> None:
    path = tmp_path / "job.sbatch"
    path.write_text(_script("ring", tmp_path, modules=("x",), partition="p"), encoding="utf-8")
    proc = subprocess.run(
        ["bash", "-n", str(path)], capture_output=True, text=True, timeout=10, check=False
    )
    assert proc.returncode == 0, proc.stderr


def test_process_faults_need_the_launcher(tmp_path: Path) -> None:
    path = DEMOS / "crash.toml"
    cluster = load_cluster(path)
    assert cluster.actions, "crash.toml is expected to schedule process faults"
    with pytest.raises(ConfigError, match=r"\[\[action\]\].*netclock run"):
        sbatch_script(cluster, path, SlurmJob(run_dir=tmp_path, netclock=PY))


def _cli(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["slurm", *argv])


def test_cli_writes_the_script_into_the_run_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _cli(str(DEMOS / "ring.toml"), "--out", str(tmp_path / "run"), "--module", "m1")
    assert args.handler(args) == 0
    script = (tmp_path / "run" / "job.sbatch").read_text(encoding="utf-8")
    assert "module load m1" in script
    assert "sbatch" in capsys.readouterr().out


def test_cli_tls_gets_certificates_in_the_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = _cli(str(DEMOS / "pingpong.toml"), "--out", str(run), "--link", "tls")
    assert args.handler(args) == 0
    assert (run / "certs").is_dir()
    words = _srun((run / "job.sbatch").read_text(encoding="utf-8"))
    override = json.loads(words[words.index("--override") + 1])
    assert override == {"link": "tls", "cert_dir": str((run / "certs").resolve())}


def test_cli_wait_without_submit_is_one_clear_sentence(tmp_path: Path) -> None:
    args = _cli(str(DEMOS / "ring.toml"), "--out", str(tmp_path), "--wait")
    with pytest.raises(ConfigError, match="add --submit"):
        args.handler(args)


def test_cli_refuses_process_faults_before_making_a_run_folder(tmp_path: Path) -> None:
    args = _cli(str(DEMOS / "crash.toml"), "--out", str(tmp_path / "run"))
    with pytest.raises(ConfigError, match=r"\[\[action\]\]"):
        args.handler(args)
    assert not (tmp_path / "run").exists()
