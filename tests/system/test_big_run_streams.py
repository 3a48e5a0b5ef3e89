"""Post-run reading of a 1,000,000-event run folder streams: memory stays flat.

The run folder is written by the real writers without processes
(:func:`netclock.testing.bigrun.write_big_run`); the merge and a full read of every event
log run in a child process whose peak RSS is read back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from netclock.testing.bigrun import write_big_run

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(900)]

EVENTS = 1_000_000
BOUND_MIB = 150
"""Peak RSS allowed to the child (an interpreter with netclock imported is about 35 MiB)."""

CHILD = """
import json, sys
from pathlib import Path
from netclock.observe.eventlog import event_files, iter_events
from netclock.observe.shiviz import merge_logs

run = Path(sys.argv[1])
logs = sorted(p for p in run.glob("*.log") if p.name != "merged.log")
problems = merge_logs(logs, run / "merged.log")
notes = []
counts = {}
for path in event_files(run):
    for event in iter_events(path, notes):
        counts[event.ev] = counts.get(event.ev, 0) + 1
# VmHWM is this process's own peak: ru_maxrss would also count the parent's (pytest's)
# resident set at the fork, which Linux folds into the child's at exec.
status = Path("/proc/self/status").read_text().splitlines()
rss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"problems": problems, "notes": notes, "counts": counts, "rss_kib": rss}))
"""


def test_merge_and_event_reading_of_a_million_events_hold_flat_memory(tmp_path: Path) -> None:
    run = tmp_path / "run"
    written = write_big_run(run, EVENTS, nodes=8)
    assert written >= EVENTS - 16
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(run)],
        check=False,
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    assert got["problems"] == []
    assert got["notes"] == []
    assert got["counts"]["send"] == got["counts"]["deliver"] == (written - 16) // 2
    assert got["rss_kib"] < BOUND_MIB * 1024, f"peak RSS {got['rss_kib'] // 1024} MiB"
    merged = (run / "merged.log").stat().st_size
    assert merged > sum(p.stat().st_size for p in run.glob("n*.log")) * 0.9
