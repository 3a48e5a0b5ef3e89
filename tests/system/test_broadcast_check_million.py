"""The broadcast checker reads a 1,000,000-event broadcast run once and keeps numbers.

The run folder is written by the real writers without processes
(:func:`netclock.tools.synthetic_broadcast.write_broadcast_run`: causal broadcast among 8
processes, one killed with its last broadcast cut from its log, a few duplicates and
deliveries ahead of their turn). A child process reads every event log once, feeds each
event to :class:`~netclock.tools.check_broadcast.BroadcastEvents` as the checker's reader
does, judges the properties and reports its peak RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from netclock.tools.synthetic_broadcast import (
    BroadcastFaults,
    SyntheticBroadcastRun,
    write_broadcast_run,
)

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(900)]

EVENTS = 1_000_000
BOUND_MIB = 200
"""Peak RSS allowed to the checking child (an interpreter with netclock imported is about
35 MiB; the checker that held every broadcast event peaked at 1.2 GB on such a run)."""

CHILD = """
import json, sys
from pathlib import Path
from netclock.observe.eventlog import event_files, iter_events, read_fault_record
from netclock.tools.check import gc_paused
from netclock.tools.check_broadcast import BroadcastEvents

run = Path(sys.argv[1])
notes = []
events = BroadcastEvents()
nodes = []
with gc_paused():
    for path in event_files(run):
        life, last = None, None
        for e in iter_events(path, notes):
            if (e.node, e.inc) != life:
                if life is not None:
                    events.end_incarnation(life[0], life[1], last)
                life = (e.node, e.inc)
                events.start_incarnation(e.node, e.inc)
                if e.node not in nodes:
                    nodes.append(e.node)
            events.feed(e)
            last = e
        if life is not None:
            events.end_incarnation(life[0], life[1], last)
    faults = read_fault_record(run / "faults.jsonl", notes)
    found = events.properties(sorted(nodes), faults.correct, frozenset())
status = Path("/proc/self/status").read_text().splitlines()
rss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"found": {p.name: [p.status.value, p.count] for p in found},
                  "notes": notes, "rss_kib": rss}))
"""


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> SyntheticBroadcastRun:
    folder = tmp_path_factory.mktemp("bcast") / "run"
    faults = BroadcastFaults(duplicates=0.0002, reorder=0.0002, kills=1, cut=True)
    return write_broadcast_run(
        folder, nodes=8, events=EVENTS, kind="causal", faults=faults, seed=17
    )


def test_broadcast_checker_of_a_million_events_keeps_numbers_not_events(
    big_run: SyntheticBroadcastRun,
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(big_run.folder)],
        check=False,
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got: dict[str, Any] = json.loads(proc.stdout)
    found = got["found"]
    assert big_run.events >= EVENTS
    assert found["causal/no_duplication"] == ["VIOLATED", big_run.duplicated]
    for name in ("validity", "no_creation", "agreement"):
        assert found[f"causal/{name}"] == ["ok", 0], name
    assert big_run.reordered > 0
    assert found["causal/fifo"][1] > 0
    assert got["rss_kib"] < BOUND_MIB * 1024, f"peak RSS {got['rss_kib'] // 1024} MiB"
