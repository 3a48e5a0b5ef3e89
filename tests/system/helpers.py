"""Helpers for the system tests of the demos, the checker and Ctrl-C.

Every helper runs the real command line (``python -m netclock ...``) as an OS process,
bounded by a timeout, and reads what it left in a run folder. Nothing here sleeps: a
wait is a blocking read or a ``select`` with a deadline.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import weakref
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from netclock import SHIVIZ_REGEX, parse_log, validate_shiviz
from netclock.observe.compact import ChainReader

CLI_TIMEOUT = 40.0
"""The longest one CLI call may take (each test's own pytest timeout is a bit longer)."""

PROMISED_ON_RELIABLE = ["no_creation", "no_duplication", "reliable_delivery", "fifo"]


def netclock(
    *args: str, cwd: Path | None = None, timeout: float = CLI_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m netclock ARGS`` to completion; raises if it outlives ``timeout``."""
    return subprocess.run(
        [sys.executable, "-m", "netclock", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def explain(proc: subprocess.CompletedProcess[str], seed: Any = None) -> str:
    """An assertion message: exit code, fault seed, and the tails of stdout and stderr."""
    head = f"exit code {proc.returncode}" + ("" if seed is None else f", fault seed {seed}")
    return f"{head}\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"


def run_seed(run_dir: Path) -> Any:
    """The fault seed ``run.json`` records for a run (None without faults)."""
    try:
        return json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("seed")
    except (OSError, ValueError):
        return None


def assert_run_folder(run_dir: Path, nodes: Iterable[str]) -> None:
    """The folder holds each node's logs, a ShiViz-ready merged.log and viewer.html."""
    for node in nodes:
        for suffix in (".log", ".events.jsonl"):
            path = run_dir / f"{node}{suffix}"
            assert path.is_file(), f"{path} is missing"
            assert path.stat().st_size > 0, f"{path} is empty"
    merged = (run_dir / "merged.log").read_text(encoding="utf-8").split("\n")
    assert merged[0] == SHIVIZ_REGEX, f"merged.log starts with {merged[0]!r}, not ShiViz's regex"
    assert merged[1] == "", "merged.log must have a blank line after the regex"
    assert len(merged) > 3, "merged.log holds no events"
    problems = validate_shiviz(parse_log(run_dir / "merged.log"))
    assert not problems, f"ShiViz would reject merged.log: {problems[:5]}"
    for node in nodes:
        own = validate_shiviz(parse_log(run_dir / f"{node}.log"))
        assert not [p for p in own if "never logged" not in p and "knows" not in p], own[:5]
    viewer = run_dir / "viewer.html"
    assert viewer.is_file(), f"{viewer} is missing"
    assert viewer.stat().st_size > 0, f"{viewer} is empty"


def check_json(run_dir: Path) -> tuple[int, dict[str, Any]]:
    """``netclock check RUN --json``: its exit code and the parsed report."""
    proc = netclock("check", str(run_dir), "--json")
    assert proc.returncode in (0, 1), explain(proc)
    report: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, report


def assert_checks_ok(run_dir: Path) -> dict[str, Any]:
    """``netclock check`` exits 0 and says ok; returns the report."""
    code, report = check_json(run_dir)
    seed = run_seed(run_dir)
    assert code == 0, f"check failed (seed {seed}): {report['violated']}"
    assert report["ok"] is True, f"seed {seed}: {report['violated']}"
    return report


def govector_events(path: Path) -> list[tuple[str, dict[str, int], str]]:
    """A GoVector log as ``(host, clock, event text)`` triples, in file order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    events = []
    for header, text in zip(lines[0::2], lines[1::2], strict=False):
        host, _, clock = header.partition(" ")
        events.append((host, json.loads(clock), text))
    return events


# -- event logs by hand ---------------------------------------------------------------------------
def read_events(path: Path) -> list[dict[str, Any]]:
    """A ``*.events.jsonl`` file as a list of dicts, compact clocks (format 2) made whole."""
    chain = ChainReader()
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line:
            entry = json.loads(line)
            assert chain.resolve(entry) is None, f"{path}: {line}"
            out.append(entry)
    return out


def write_events(path: Path, events: Iterable[Mapping[str, Any]]) -> None:
    """Write ``events`` as a ``*.events.jsonl`` file."""
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")


def restamp(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One node's events with their clocks recomputed by the rules the checker verifies.

    ``init`` sets the own entry to 1; send, deliver and local tick it; a deliver also
    takes the maximum with its ``msg_clock`` for the other entries; the rest leave the
    clock alone. Used after inserting or moving events, so that only the corruption
    under test shows, not a broken clock.
    """
    out: list[dict[str, Any]] = []
    clock: dict[str, int] = {}
    for event in events:
        node = event["node"]
        kind = event["ev"]
        if kind == "init":
            clock = {node: 1}
        elif kind in ("send", "local", "deliver"):
            clock = {**clock, node: clock.get(node, 0) + 1}
            if kind == "deliver":
                for pid, value in event["msg_clock"].items():
                    if pid != node:
                        clock[pid] = max(clock.get(pid, 0), value)
        out.append({**event, "clock": dict(clock)})
    return out


# -- processes --------------------------------------------------------------------------------
_UNREAD: weakref.WeakKeyDictionary[subprocess.Popen[bytes], bytes] = weakref.WeakKeyDictionary()
"""Bytes a process printed after the line ``read_until`` returned at: the next call reads
them first, so lines that arrive in the same read as the wanted one are not lost."""


def read_until(proc: subprocess.Popen[bytes], prefix: str, timeout: float) -> list[str]:
    """Read ``proc``'s stdout line by line until one starts with ``prefix``.

    Returns the lines read; raises AssertionError if the process ends or ``timeout``
    passes first. ``proc`` must have been started with ``stdout=PIPE`` in binary mode,
    and its stdout read only through this function.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    buffer = _UNREAD.pop(proc, b"")
    lines: list[str] = []
    while True:
        while b"\n" in buffer:
            raw, buffer = buffer.split(b"\n", 1)
            line = raw.decode("utf-8", "replace")
            lines.append(line)
            if line.startswith(prefix):
                _UNREAD[proc] = buffer
                return lines
        left = deadline - time.monotonic()
        assert left > 0, f"no line starting with {prefix!r} within {timeout} s: {lines}"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        assert chunk, f"the process ended before printing {prefix!r}: {lines}"
        buffer += chunk


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """``(state, parent pid, session id)`` of a live process from /proc, None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[3])


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def children_of(pid: int) -> list[int]:
    """The pids of ``pid``'s live children."""
    found = []
    for candidate in _all_pids():
        stat = proc_stat(candidate)
        if stat is not None and stat[1] == pid and stat[0] != "Z":
            found.append(candidate)
    return sorted(found)


def session_members(sid: int) -> dict[int, str]:
    """Every live (not zombie) process of session ``sid``, with its command line."""
    found: dict[int, str] = {}
    for candidate in _all_pids():
        stat = proc_stat(candidate)
        if stat is None or stat[2] != sid or stat[0] == "Z":
            continue
        try:
            cmdline = Path(f"/proc/{candidate}/cmdline").read_bytes()
        except OSError:
            continue
        found[candidate] = cmdline.replace(b"\0", b" ").decode("utf-8", "replace").strip()
    return found


def wait_exited(pidfds: Mapping[int, int], timeout: float) -> list[int]:
    """Wait until every process behind ``pidfds`` (pid -> pidfd) has exited.

    Returns the pids still running after ``timeout`` seconds (an empty list when all
    exited). A pidfd becomes readable when its process terminates.
    """
    deadline = time.monotonic() + timeout
    pending = dict(pidfds)
    while pending:
        left = max(deadline - time.monotonic(), 0.0)
        ready, _, _ = select.select(list(pending.values()), [], [], left)
        for fd in ready:
            for pid, pfd in list(pending.items()):
                if pfd == fd:
                    del pending[pid]
        if not ready and left == 0.0:
            break
    return sorted(pending)
