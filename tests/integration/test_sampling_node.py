"""A node's periodic samples over real UDP sockets: what the viewer's charts read.

A ``sample`` event (docs/eventlog.md) carries the inbox depth and each peer session's
counters, round-trip estimate and timeout; it never ticks the clock, never reaches the
GoVector log, and the checker judges the run as if it were not there.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from netclock import Node
from netclock.errors import UsageError
from netclock.observe.eventlog import Event, read_events
from netclock.tools.check import check_run, load_run

pytestmark = pytest.mark.timeout(30)


def _node(name: str, folder: Path, link: str = "reliable") -> Node:
    return Node(
        name,
        link=link,
        event_log=folder / f"{name}.events.jsonl",
        govector_log=folder / f"{name}.log",
        sample_period=0.05,
    )


async def _sample_where(path: Path, test: object, within: float = 10.0) -> Event:
    """The first sample in ``path`` that passes ``test``, waiting for it up to ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        for e in read_events(path, [], strict=False):
            if e.ev == "sample" and test(e):  # type: ignore[operator]
                return e
        await asyncio.sleep(0.05)
    raise AssertionError(f"no sample in {path} passed the test within {within} s")


async def test_samples_show_sessions_and_inbox_and_leave_the_clock_alone(tmp_path: Path) -> None:
    a, b = _node("a", tmp_path), _node("b", tmp_path)
    async with a, b:
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        for i in range(20):
            await a.send("b", i)
        got = [await b.receive(timeout=5) for _ in range(15)]
        assert [m.payload for m in got] == list(range(15))
        acked = await _sample_where(
            tmp_path / "a.events.jsonl",
            lambda e: (
                e.sample["links"].get("b", [0])[0] >= 20 and e.sample["links"]["b"][2] is not None
            ),
        )
        _, retransmitted, srtt, rto = acked.sample["links"]["b"]  # type: ignore[index]
        assert retransmitted >= 0
        assert 0 < srtt < 1.0
        assert rto >= srtt
        waiting = await _sample_where(tmp_path / "b.events.jsonl", lambda e: e.sample["inbox"] == 5)
        assert waiting.sample["links"].keys() == {"a"}  # type: ignore[index]
    events = read_events(tmp_path / "a.events.jsonl", [])
    for before, after in itertools.pairwise(events):
        if after.ev == "sample":
            assert after.clock == before.clock, f"{after.where}: a sample ticked the clock"
    assert events[-1].ev == "stop", "no sample after the node stopped"
    assert "sample" not in (tmp_path / "a.log").read_text()
    report = check_run(load_run(tmp_path))
    assert report.ok, report


async def test_a_link_without_sessions_samples_only_the_inbox(tmp_path: Path) -> None:
    a, b = _node("a", tmp_path, "fairloss"), _node("b", tmp_path, "fairloss")
    async with a, b:
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        await a.send("b", "x")
        await b.receive(timeout=5)
        seen = await _sample_where(tmp_path / "a.events.jsonl", lambda e: True)
    assert seen.sample == {"inbox": 0, "links": {}}


@pytest.mark.parametrize("period", [0, -1.0, float("nan"), True])
def test_a_sample_period_that_is_not_positive_is_refused(tmp_path: Path, period: float) -> None:
    with pytest.raises(UsageError, match="sample_period must be a positive number"):
        Node("a", event_log=tmp_path / "a.events.jsonl", sample_period=period)
