"""Failure detectors between real OS processes: kill -9, SIGSTOP/SIGCONT, a killed leader.

Each test runs ``netclock run`` on a cluster file with a ``[detector]`` table and reads the
run folder: the nodes' event logs (their suspect/restore/leader events) against
``faults.jsonl``, the launcher's ground truth of when it killed or paused whom.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import explain, netclock

from netclock.observe.eventlog import Event, read_events, read_fault_record

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.timeout(90)]

PROGRAM = """
import asyncio
from netclock.errors import WindowFull

async def main(node, run_for=5.0, send_to="", every=0.05):
    async def drain():
        async for _ in node:
            pass
    reader = asyncio.ensure_future(drain())
    loop = asyncio.get_running_loop()
    end = loop.time() + run_for
    i = 0
    while loop.time() < end:
        if send_to:
            i += 1
            try:
                node.send_nowait(send_to, i)
            except WindowFull:
                pass
        await asyncio.sleep(every)
    reader.cancel()
    return {"suspected": sorted(node.suspected), "leader": node.leader,
            "failures": len(node.failures())}
"""


def run(tmp_path: Path, cluster: str) -> tuple[Path, dict[str, list[Event]], dict[str, float]]:
    """Run the cluster; each node's events and the ground-truth time of each fault."""
    (tmp_path / "fd.py").write_text(PROGRAM)
    (tmp_path / "c.toml").write_text(cluster)
    out = tmp_path / "run"
    done = netclock("run", str(tmp_path / "c.toml"), "--out", str(out), cwd=tmp_path, timeout=80)
    assert out.is_dir(), explain(done)
    events = {path.name.split(".")[0]: read_events(path, []) for path in out.glob("*.events.jsonl")}
    record = read_fault_record(out / "faults.jsonl")
    faults = {f"{f.do} {f.node}": f.t for f in record.entries if f.node is not None}
    return out, events, faults


def of(events: list[Event], ev: str, peer: str | None = None) -> list[Event]:
    return [e for e in events if e.ev == ev and (peer is None or e.peer == peer)]


def test_kill_9_is_detected_within_the_bound_under_synchronous_and_fails_messages(
    tmp_path: Path,
) -> None:
    out, events, faults = run(
        tmp_path,
        """
name = "p-sync"
link = "reliable"
duration = 40
program = "fd.py:main"
args = { run_for = 4.0 }
[faults]
seed = 11
delay = { kind = "synchronous", delta = "20ms" }
[detector]
kind = "perfect"
period = 0.1
[[node]]
id = "a"
args = { run_for = 4.0, send_to = "c" }
[[node]]
id = "b"
[[node]]
id = "c"
[[action]]
at = 1.5
do = "kill"
node = "c"
""",
    )
    killed = faults["kill c"]
    bound = 0.1 + 0.02 + 0.05  # period + Δ + step bound: the timeout P is given
    slack = 0.3  # the host's scheduling of the detecting process, on a shared machine
    for node in ("a", "b"):
        suspects = of(events[node], "suspect")
        assert [e.peer for e in suspects] == ["c"], f"{node}: {suspects}"
        assert suspects[0].value == pytest.approx(bound)
        detection = suspects[0].t - killed  # type: ignore[operator]
        violated = of(events[node], "violation")
        assert 0 <= detection <= bound + slack or violated, f"{node} took {detection:.3f} s"
        assert not of(events[node], "restore"), "P never restores"
    failed = of(events["a"], "failed", "c")
    assert failed, f"a's messages to c never came back as failures ({out})"
    suspected_at = of(events["a"], "suspect", "c")[0].t
    assert all(e.t >= suspected_at for e in failed)  # type: ignore[operator]


def test_a_three_second_sigstop_is_suspected_then_restored_with_a_larger_timeout(
    tmp_path: Path,
) -> None:
    _, events, faults = run(
        tmp_path,
        """
name = "ep-pause"
link = "reliable"
duration = 40
program = "fd.py:main"
args = { run_for = 6.0 }
[detector]
kind = "eventually_perfect"
period = 0.1
[[node]]
id = "a"
[[node]]
id = "b"
[[action]]
at = 1.0
do = "pause"
node = "b"
[[action]]
at = 4.0
do = "resume"
node = "b"
""",
    )
    paused, resumed = faults["pause b"], faults["resume b"]
    suspect = of(events["a"], "suspect", "b")
    restore = of(events["a"], "restore", "b")
    assert suspect, events["a"]
    assert restore, events["a"]
    assert paused <= suspect[0].t <= resumed  # type: ignore[operator]
    assert restore[0].t >= resumed - 0.05  # type: ignore[operator]
    assert restore[0].value > suspect[0].value  # type: ignore[operator]
    assert [e.ev for e in events["a"] if e.ev in ("suspect", "restore")][-1] == "restore"


def test_after_the_leader_is_killed_every_live_node_settles_on_the_same_live_leader(
    tmp_path: Path,
) -> None:
    _, events, faults = run(
        tmp_path,
        """
name = "omega"
link = "fairloss"
duration = 40
program = "fd.py:main"
args = { run_for = 4.0 }
[detector]
kind = "eventual_leader"
period = 0.1
[[node]]
id = "a"
[[node]]
id = "b"
[[node]]
id = "c"
[[node]]
id = "d"
[[action]]
at = 1.5
do = "kill"
node = "a"
""",
    )
    killed = faults["kill a"]
    last = {node: of(events[node], "leader")[-1].peer for node in ("b", "c", "d")}
    assert set(last.values()) == {"b"}, last
    for node in ("b", "c", "d"):
        led = [e for e in of(events[node], "leader", "a") if e.t is not None and e.t < killed]
        assert led, f"{node}: a led while it lived"


@pytest.mark.timeout(200)
def test_demo_detectors_prints_one_row_per_model_and_detector(tmp_path: Path) -> None:
    done = netclock("demo", "detectors", "--out", str(tmp_path / "run"), cwd=tmp_path, timeout=180)
    assert done.returncode == 0, explain(done)
    assert done.stdout.count("ShiViz log:  ") == 6, "detector events keep every ShiViz log valid"
    table = done.stdout.split("timing models and detectors ===")[-1].strip().splitlines()
    rows = [line.split() for line in table[1:]]
    assert [(r[0], r[1]) for r in rows] == [
        (model, det) for model in ("synchronous", "asynchronous", "partial") for det in ("P", "Ω")
    ], done.stdout[-2000:]
    for row in rows:
        assert "never" not in row, f"the crash of a went undetected: {row}"
    omega = [line for line in table[1:] if line.split()[1] == "Ω"]
    assert all(" b from " in line for line in omega), "Ω settles on b once a is killed"
