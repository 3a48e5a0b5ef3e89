"""The two log switches of a cluster file, with real runs: what each run writes and says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import netclock

from netclock.observe.eventlog import read_events
from netclock.observe.shiviz import parse_log, validate_shiviz

pytestmark = [pytest.mark.system, pytest.mark.timeout(90)]

PROGRAMS = """
async def sender(node, count=50):
    for i in range(count):
        await node.send("b", i)
    await node.flush()

async def receiver(node, count=50):
    got = 0
    async for _ in node:
        got += 1
        if got == count:
            break
"""


def _run(tmp_path: Path, events: bool, govector: bool) -> tuple[Path, str, int]:
    (tmp_path / "flow.py").write_text(PROGRAMS)
    (tmp_path / "c.toml").write_text(
        f"""
name = "switches"
link = "reliable"
duration = 30
log_events = {str(events).lower()}
log_govector = {str(govector).lower()}
[[node]]
id = "a"
program = "flow.py:sender"
[[node]]
id = "b"
program = "flow.py:receiver"
"""
    )
    run_dir = tmp_path / "run"
    proc = netclock("run", str(tmp_path / "c.toml"), "--out", str(run_dir), cwd=tmp_path)
    return run_dir, proc.stdout + proc.stderr, proc.returncode


@pytest.mark.parametrize(("events", "govector"), [(True, False), (False, True), (False, False)])
def test_a_run_with_a_log_off_writes_the_other_and_says_what_it_could_not_do(
    tmp_path: Path, events: bool, govector: bool
) -> None:
    run_dir, output, code = _run(tmp_path, events, govector)
    assert code == 0, output
    assert (run_dir / "a.events.jsonl").exists() is events
    assert (run_dir / "a.log").exists() is govector
    verdict = json.loads((run_dir / "verdict.json").read_text())
    if events:
        delivered = [e for e in read_events(run_dir / "b.events.jsonl", []) if e.ev == "deliver"]
        assert len(delivered) == 50
        assert "checked" not in verdict
        assert "ShiViz log:  none (no node wrote a GoVector log" in output
        assert not (run_dir / "merged.log").exists()
    else:
        assert "not checked: no node wrote an event log (log_events = false)" in output, output
        assert verdict["checked"] is False
    if govector:
        merged = parse_log(run_dir / "merged.log")
        assert validate_shiviz(merged) == []
        assert len([e for e in merged if e.host == "b"]) == 51  # init and 50 deliveries
    if events or govector:
        assert (run_dir / "viewer.html").stat().st_size > 0, output
    else:
        assert "viewer:      none (no node wrote an event log or a GoVector log)" in output
        assert not (run_dir / "viewer.html").exists()
