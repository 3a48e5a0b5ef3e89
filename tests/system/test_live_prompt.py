"""The launcher's live prompt reads a terminal even when the output is piped (``tee``).

A real ``netclock run`` gets a pseudo-terminal as standard input and a pipe as standard
output; the test types ``help``, a typo, ``pause``/``resume`` and ``stop`` at it.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import read_until

pytestmark = [
    pytest.mark.system,
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform != "linux", reason="the pty test runs on Linux"),
]

FOREVER = """
async def main(node):
    async for msg in node:
        print(f"got {msg.payload!r}")
"""


# The terminal as a shell gives it: the launcher's controlling terminal, its process group
# in the foreground (a new session, then TIOCSCTTY on standard input, then exec netclock).
AS_A_SHELL_DOES = (
    "import fcntl, os, sys, termios; os.setsid(); fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'netclock', *sys.argv[1:]])"
)


@pytest.mark.parametrize("controlling", [True, False], ids=["controlling-tty", "plain-tty"])
def test_the_prompt_reads_a_terminal_while_the_output_goes_down_a_pipe(
    tmp_path: Path, controlling: bool
) -> None:
    (tmp_path / "idle.py").write_text(FOREVER, encoding="utf-8")
    cluster = tmp_path / "idle.toml"
    cluster.write_text(
        'name = "idle"\nduration = 50\nprogram = "idle.py:main"\n'
        '[[node]]\nid = "a"\n[[node]]\nid = "b"\n',
        encoding="utf-8",
    )
    run = tmp_path / "run"
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, *(["-c", AS_A_SHELL_DOES] if controlling else ["-m", "netclock"]),
         "run", str(cluster), "--out", str(run)],
        stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    os.close(terminal)
    try:
        assert not os.isatty(proc.stdout.fileno())  # type: ignore[union-attr]
        lines = read_until(proc, "commands:", 30)
        assert "help" in lines[-1]
        os.write(controller, b"help\n")
        lines = read_until(proc, "nodes: a, b", 10)
        assert any(line.strip().startswith("partition A B") for line in lines), lines
        os.write(controller, b"explode a\n")
        lines = read_until(proc, "? ", 10)
        assert "'explode' is not an action" in lines[-1]
        assert lines[-1].endswith("type help for the commands")
        os.write(controller, b"pause b\n")
        read_until(proc, "* pause b", 10)
        os.write(controller, b"resume b\n")
        read_until(proc, "* resume b", 10)
        os.write(controller, b"stop\n")
        assert proc.wait(timeout=30) == 130
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]
    record = [json.loads(line) for line in (run / "faults.jsonl").read_text().splitlines()]
    by_prompt = [(f["do"], f.get("node")) for f in record if f.get("by") == "prompt"]
    assert by_prompt == [("pause", "b"), ("resume", "b")]


QUICK = """
async def main(node):
    return node.id
"""


def test_every_run_of_a_comparison_gets_the_prompt_and_the_terminal_stays_blocking(
    tmp_path: Path,
) -> None:
    """A cluster file comparing links runs once per link, each with its own prompt on the
    same terminal; afterwards the terminal is left as it was found (blocking reads)."""
    (tmp_path / "quick.py").write_text(QUICK, encoding="utf-8")
    cluster = tmp_path / "quick.toml"
    cluster.write_text(
        'name = "quick"\nprogram = "quick.py:main"\ncompare_links = ["fairloss", "reliable"]\n'
        '[[node]]\nid = "a"\n',
        encoding="utf-8",
    )
    controller, terminal = pty.openpty()
    try:
        assert os.get_blocking(terminal)
        proc = subprocess.run(
            [sys.executable, "-m", "netclock", "run", str(cluster), "--out", str(tmp_path / "r")],
            stdin=terminal, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.count("commands: ") == 2, proc.stdout
        assert os.get_blocking(terminal)  # the same open file the launcher read
    finally:
        os.close(controller)
        os.close(terminal)
