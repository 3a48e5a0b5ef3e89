"""Post-run processing of a 1,000,000-event run folder streams: memory stays flat.

The run folder is written by the real writers without processes
(:func:`netclock.tools.synthetic.write_synthetic_run`); the merge, a full read of every
event log and the checker each run in a child process whose peak RSS is read back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from netclock.tools.synthetic import SyntheticRun, write_synthetic_run

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(900)]

EVENTS = 1_000_000
BOUND_MIB = 150
"""Peak RSS allowed to the merging and reading child (an interpreter with netclock
imported is about 35 MiB)."""
CHECK_BOUND_MIB = 300
"""Peak RSS allowed to the checking child (it keeps about 100 bytes per message; the
checker that held every event peaked at 1.2 GB on this run)."""

CHILD = """
import json, sys
from pathlib import Path
from typing import Any
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


CHECK_CHILD = """
import json, sys
from pathlib import Path
from typing import Any
from netclock.tools.check import check_run, load_run

report = check_run(load_run(Path(sys.argv[1])))
status = Path("/proc/self/status").read_text().splitlines()
rss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
total = report.links["reliable"]
print(json.dumps({"ok": report.ok, "sent": total.sent, "delivered": total.delivered,
                  "events": sum(n.events for n in report.nodes), "rss_kib": rss}))
"""


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> SyntheticRun:
    """A clean run of a million events over the perfect link, both logs written."""
    folder = tmp_path_factory.mktemp("big") / "run"
    return write_synthetic_run(
        folder, nodes=8, events=EVENTS, link="reliable", loss=0.0, seed=17, govector=True
    )


def _child(code: str, run: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", code, str(run)],
        check=False,
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got: dict[str, Any] = json.loads(proc.stdout)
    return got


def test_merge_and_event_reading_of_a_million_events_hold_flat_memory(
    big_run: SyntheticRun,
) -> None:
    run = big_run.folder
    assert big_run.events >= EVENTS - 16
    got = _child(CHILD, run)
    assert got["problems"] == []
    assert got["notes"] == []
    assert got["counts"]["send"] == got["counts"]["deliver"] == big_run.messages
    assert got["rss_kib"] < BOUND_MIB * 1024, f"peak RSS {got['rss_kib'] // 1024} MiB"
    merged = (run / "merged.log").stat().st_size
    assert merged > sum(p.stat().st_size for p in run.glob("n*.log")) * 0.9


def test_checker_of_a_million_events_keeps_numbers_not_events(big_run: SyntheticRun) -> None:
    got = _child(CHECK_CHILD, big_run.folder)
    assert got["ok"] is True
    assert got["sent"] == got["delivered"] == big_run.messages
    assert got["events"] >= big_run.events
    assert got["rss_kib"] < CHECK_BOUND_MIB * 1024, f"peak RSS {got['rss_kib'] // 1024} MiB"
