"""``netclock node`` started by a person: plain sentences, no control lines, logs kept.

Under a launcher (``--control``) the same command speaks the control protocol; the
launcher's own tests (every ``netclock run`` test) keep that side honest.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CLI_TIMEOUT, explain, netclock, read_until

pytestmark = [
    pytest.mark.system,
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform == "win32", reason="netclock runs on POSIX systems"),
]

PROGRAM = """\
async def main(node, answer):
    node.log_local_event("thinking")
    print("the answer is", answer)
    return answer
"""


def _cluster(tmp_path: Path) -> Path:
    (tmp_path / "solo.py").write_text(PROGRAM, encoding="utf-8")
    path = tmp_path / "solo.toml"
    path.write_text(
        'name = "solo"\nprogram = "solo.py:main"\n[[node]]\nid = "a"\nargs = { answer = 42 }\n',
        encoding="utf-8",
    )
    return path


def test_a_node_by_hand_speaks_sentences_and_leaves_logs_in_a_new_run_folder(
    tmp_path: Path,
) -> None:
    proc = netclock("node", str(_cluster(tmp_path)), "--id", "a", cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    assert "@netclock" not in proc.stdout + proc.stderr
    assert proc.stdout == "the answer is 42\n"  # standard output stays the program's
    assert re.search(r"node a listening on udp 127\.0\.0\.1:\d+ \(reliable link", proc.stderr)
    assert "node a: its program returned 42" in proc.stderr
    assert "node a stopped after sending 0 and delivering 0 messages" in proc.stderr
    found = re.search(r"node a writes its logs to (\S+)", proc.stderr)
    assert found, proc.stderr
    run_dir = Path(found.group(1))
    assert run_dir.parent == tmp_path / "runs"
    assert run_dir.name.startswith("solo-a-")
    events = (run_dir / "a.events.jsonl").read_text(encoding="utf-8")
    assert '"thinking"' in events
    assert (run_dir / "a.log").exists()
    check = netclock("check", str(run_dir))
    assert check.returncode == 0, explain(check)


def test_a_node_by_hand_writes_to_the_run_dir_it_is_given(tmp_path: Path) -> None:
    run_dir = tmp_path / "mine"
    proc = netclock("node", str(_cluster(tmp_path)), "--id", "a", "--run-dir", str(run_dir))
    assert proc.returncode == 0, explain(proc)
    assert f"node a writes its logs to {run_dir}\n" in proc.stderr
    assert (run_dir / "a.events.jsonl").exists()


def test_a_node_under_a_launcher_speaks_only_control_lines(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "netclock", "node", str(_cluster(tmp_path)), "--id", "a"]
    command += ["--control", "--run-dir", str(tmp_path / "run")]
    # Its standard input (the launcher's commands) ends at once: it stops before the program.
    proc = subprocess.run(
        command, input="", capture_output=True, text=True, timeout=CLI_TIMEOUT, cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout.startswith("@netclock READY {"), proc.stdout
    assert "listening" not in proc.stdout + proc.stderr
    assert not (tmp_path / "runs").exists()


def test_a_careless_node_command_is_one_sentence_and_makes_no_folder(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    proc = netclock("node", str(cluster), "--id", "zz", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "netclock: the cluster has no node 'zz'; its nodes are a\n"
    proc = netclock("node", str(cluster), "--id", "a", "--restart", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--restart needs --run-dir" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_a_node_by_hand_whose_peers_have_no_fixed_port_stops_before_anything(
    tmp_path: Path,
) -> None:
    cluster = tmp_path / "two.toml"
    (tmp_path / "solo.py").write_text(PROGRAM, encoding="utf-8")
    cluster.write_text(
        'name = "two"\nprogram = "solo.py:main"\nargs = { answer = 1 }\n'
        '[[node]]\nid = "a"\n[[node]]\nid = "b"\n',
        encoding="utf-8",
    )
    proc = netclock("node", str(cluster), "--id", "a", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (
        "netclock: node 'b' has port 0; give every node a fixed port to run nodes by hand, "
        "meet in a shared folder with --rendezvous DIR, or start the cluster with "
        "`netclock run`\n"
    )
    assert not (tmp_path / "runs").exists()


IDLE = """\
async def main(node):
    async for msg in node:
        print(msg.payload)
"""


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_node_by_hand_stops_cleanly_on_ctrl_c_and_sigterm(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    (tmp_path / "idle.py").write_text(IDLE, encoding="utf-8")
    cluster = tmp_path / "idle.toml"
    cluster.write_text('name = "idle"\nprogram = "idle.py:main"\n[[node]]\nid = "a"\n')
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "netclock", "node", str(cluster), "--id", "a",
         "--run-dir", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        read_until(proc, "node a has no peers; its program starts", 30)
        proc.send_signal(sig)
        assert proc.wait(timeout=20) == code
        rest = proc.stdout.read().decode()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
    assert f"node a got {sig.name}: stopping its program" in rest
    assert "node a stopped after sending 0" in rest
    events = (run / "a.events.jsonl").read_text(encoding="utf-8").splitlines()
    assert '"ev": "stop"' in events[-1]


def test_a_node_by_hand_of_a_cluster_without_logs_makes_no_folder(tmp_path: Path) -> None:
    (tmp_path / "solo.py").write_text(PROGRAM, encoding="utf-8")
    cluster = tmp_path / "quiet.toml"
    cluster.write_text(
        'name = "quiet"\nprogram = "solo.py:main"\nlog_events = false\nlog_govector = false\n'
        "args = { answer = 3 }\n"
        '[[node]]\nid = "a"\n',
        encoding="utf-8",
    )
    proc = netclock("node", str(cluster), "--id", "a", cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    assert "node a: its program returned 3" in proc.stderr
    assert "logs" not in proc.stderr
    assert not (tmp_path / "runs").exists()
