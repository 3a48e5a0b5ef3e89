"""Ctrl-C and a dying launcher leave no node process behind.

``netclock run`` is started in its own session on a cluster whose programs never end.
Once it has printed ``started`` (all nodes READY and given the peer table) the test
takes the launcher's children from /proc and a pidfd for each, signals the launcher,
waits for it to exit, and then waits, with a deadline, for the pidfds: a node still
running after that is an orphan. Linux only (pidfds, /proc).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import children_of, read_events, read_until, session_members, wait_exited

pytestmark = [
    pytest.mark.system,
    pytest.mark.timeout(40),
    pytest.mark.skipif(
        not hasattr(os, "pidfd_open") or not Path("/proc/self/stat").exists(),
        reason="needs Linux pidfds and /proc",
    ),
]

NODES = ["a", "b", "c"]
STARTED_WITHIN = 20.0
EXIT_WITHIN = 15.0

FOREVER = '''
async def main(node):
    """Wait for messages until the launcher stops the node."""
    print("listening")
    async for msg in node:
        print(f"got {msg.payload!r}")
'''


# A shell's background job (``pytest ... &``) or ``nohup`` starts with SIGINT ignored, an
# ignored signal stays ignored across exec, and Python then installs no KeyboardInterrupt
# handler: the launcher would rightly ignore the test's Ctrl-C. So the launcher is started
# through this one-liner, which makes SIGINT's action the default again and execs netclock
# in the same process (same pid, same session).
WITH_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, '-m', 'netclock', *sys.argv[1:]])"
)


class Launched:
    """A running ``netclock run`` and the node processes it started."""

    def __init__(self, proc: subprocess.Popen[bytes], run_dir: Path) -> None:
        self.proc = proc
        self.run_dir = run_dir
        self.nodes: list[int] = []
        self.pidfds: dict[int, int] = {}

    def output(self) -> tuple[int, str]:
        """Wait (bounded) for the launcher to exit; its exit code and standard error."""
        _, err = self.proc.communicate(timeout=EXIT_WITHIN)
        return self.proc.returncode, err.decode("utf-8", "replace")


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[[], Launched]]:
    """Start ``netclock run`` on a never-ending cluster; cleans up whatever is left."""
    (tmp_path / "forever.py").write_text(FOREVER, encoding="utf-8")
    (tmp_path / "forever.toml").write_text(
        'name = "forever"\nlink = "reliable"\nduration = 120\nprogram = "forever.py:main"\n'
        + "".join(f'[[node]]\nid = "{n}"\n' for n in NODES),
        encoding="utf-8",
    )
    started: list[Launched] = []

    def start() -> Launched:
        run_dir = tmp_path / "run"
        command = [sys.executable, "-c", WITH_DEFAULT_SIGINT, "run", str(tmp_path / "forever.toml")]
        proc = subprocess.Popen(
            [*command, "--out", str(run_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        launched = Launched(proc, run_dir)
        started.append(launched)
        lines = read_until(proc, "started ", STARTED_WITHIN)
        launched.nodes = children_of(proc.pid)
        launched.pidfds = {pid: os.pidfd_open(pid) for pid in launched.nodes}
        assert len(launched.nodes) == len(NODES), f"children {launched.nodes}; output {lines}"
        return launched

    yield start

    for launched in started:
        if launched.proc.poll() is None:
            launched.proc.kill()
        for fd in launched.pidfds.values():
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(fd, signal.SIGKILL)
        launched.proc.wait(timeout=EXIT_WITHIN)
        if launched.proc.stdout is not None:
            launched.proc.stdout.close()
        for fd in launched.pidfds.values():
            os.close(fd)


def assert_no_node_left(launched: Launched, how: str) -> None:
    """Every node exits within EXIT_WITHIN seconds and nothing else is left in the session."""
    orphans = wait_exited(launched.pidfds, EXIT_WITHIN)
    left = session_members(launched.proc.pid)
    assert not orphans, f"after {how}, node processes still run: {left or orphans}"
    assert not left, f"after {how}, processes of the run's session still run: {left}"


def assert_nodes_stopped_cleanly(launched: Launched) -> None:
    """Each node closed itself (its event log ends with a clean stop): it was not killed."""
    for node in NODES:
        events = read_events(launched.run_dir / f"{node}.events.jsonl")
        assert events[-1]["ev"] == "stop", f"{node} was killed: its log ends with {events[-1]}"
        assert events[-1]["clean"] is True, events[-1]


def assert_run_folder_complete(launched: Launched, reason: str) -> None:
    """The merged log and the viewer are there, and the fault record ends with the stop."""
    for name in ("merged.log", "viewer.html"):
        assert (launched.run_dir / name).is_file(), f"{name} missing after the {reason} run"
    lines = (launched.run_dir / "faults.jsonl").read_text(encoding="utf-8").splitlines()
    record = [json.loads(line) for line in lines]
    assert record[-1]["do"] == "stop", record
    assert record[-1]["reason"] == reason, record
    exits = [r for r in record if r["do"] == "exit"]
    assert sorted(str(r["node"]) for r in exits) == NODES, record
    assert all(r["expected"] for r in exits), record


@pytest.mark.parametrize(
    ("sig", "whole_group", "exit_code", "reason"),
    [
        (signal.SIGINT, False, 130, "interrupted"),
        (signal.SIGTERM, False, 143, "terminated"),
        (signal.SIGTERM, True, 143, "terminated"),
    ],
    ids=["sigint", "sigterm", "sigterm-to-the-group"],
)
def test_a_signal_to_the_launcher_stops_every_node_and_finishes_the_run(
    launch: Callable[[], Launched],
    sig: signal.Signals,
    whole_group: bool,
    exit_code: int,
    reason: str,
) -> None:
    """Ctrl-C, a cancelled CI job or `timeout`: every node stopped, the run folder whole.

    Sent to the whole group, each node stops itself on SIGTERM as on the launcher's stop.
    """
    launched = launch()
    (os.killpg if whole_group else os.kill)(launched.proc.pid, sig)
    code, err = launched.output()
    assert code == exit_code, f"exit code {code}; stderr {err}"
    assert reason in err, err
    assert_no_node_left(launched, f"{sig.name} to the launcher")
    assert_nodes_stopped_cleanly(launched)
    assert_run_folder_complete(launched, reason)


def test_ctrl_c_to_the_whole_process_group_stops_every_node(
    launch: Callable[[], Launched],
) -> None:
    """A terminal's Ctrl-C signals the launcher and its nodes; nodes leave it to the launcher."""
    launched = launch()
    os.killpg(launched.proc.pid, signal.SIGINT)
    code, err = launched.output()
    assert code == 130, f"exit code {code}; stderr {err}"
    assert_no_node_left(launched, "SIGINT to the process group")
    assert_nodes_stopped_cleanly(launched)


def test_two_quick_sigints_still_stop_every_node(launch: Callable[[], Launched]) -> None:
    launched = launch()
    os.kill(launched.proc.pid, signal.SIGINT)
    os.kill(launched.proc.pid, signal.SIGINT)
    code, err = launched.output()
    assert code in (130, -signal.SIGINT), f"exit code {code}; stderr {err}"
    assert_no_node_left(launched, "two SIGINTs to the launcher")


def test_nodes_stop_themselves_when_the_launcher_is_killed(
    launch: Callable[[], Launched],
) -> None:
    """kill -9 of the launcher closes the nodes' standard input: each one stops on its own."""
    launched = launch()
    os.kill(launched.proc.pid, signal.SIGKILL)
    code, _ = launched.output()
    assert code == -signal.SIGKILL
    assert_no_node_left(launched, "kill -9 of the launcher")
    assert_nodes_stopped_cleanly(launched)
