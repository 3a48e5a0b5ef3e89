"""A closing node renders its text logs from its pending records without holding its event
loop: other nodes and tasks on the loop run on, and the text is complete when close returns
(also when the close is cancelled)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from netclock import Node
from netclock.observe.eventlog import read_events
from netclock.observe.pending import PENDING_SUFFIX, RENDER_BATCH

EVENTS = 3 * RENDER_BATCH
"""Local events the node logs: three batches of rendering."""


async def _busy_node(tmp_path: Path) -> tuple[Node, Path, Path]:
    log = tmp_path / "a.events.jsonl"
    node = await Node("a", event_log=log).start()
    for i in range(EVENTS):
        node.log_local_event(f"step {i}")
    await asyncio.sleep(0)  # the records reach the pending file
    return node, log, log.with_name(log.name + PENDING_SUFFIX)


def _state(log: Path, pending: Path) -> tuple[bool, int]:
    """Is the pending file still there, and how long is the text so far."""
    return pending.exists(), log.stat().st_size if log.exists() else 0


async def _watch(log: Path, pending: Path, seen: list[tuple[bool, int]]) -> None:
    """:func:`_state` at each loop pass."""
    while True:
        await asyncio.sleep(0)
        seen.append(_state(log, pending))


def _locals(log: Path) -> list[str | None]:
    notes: list[str] = []
    texts = [e.text for e in read_events(log, notes) if e.ev == "local"]
    assert notes == []
    return texts


async def test_the_loop_runs_on_while_a_closing_node_renders_its_text(tmp_path: Path) -> None:
    node, log, pending = await _busy_node(tmp_path)
    _, empty = _state(log, pending)
    seen: list[tuple[bool, int]] = []
    watcher = asyncio.ensure_future(_watch(log, pending, seen))
    await node.close()
    watcher.cancel()
    midway = [size for there, size in seen if there and size > empty]
    assert midway, "the loop never ran between the first text and the end of the rendering"
    assert not pending.exists()
    assert _locals(log) == [f"step {i}" for i in range(EVENTS)]


async def test_a_close_cancelled_while_rendering_still_completes_the_text(tmp_path: Path) -> None:
    node, log, pending = await _busy_node(tmp_path)
    _, empty = _state(log, pending)
    closing = asyncio.ensure_future(node.close())
    async with asyncio.timeout(10):  # a close that renders in one go never shows this
        while True:
            await asyncio.sleep(0)
            there, size = _state(log, pending)
            if there and size > empty:
                break  # the rendering has begun
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert not pending.exists()
    assert _locals(log) == [f"step {i}" for i in range(EVENTS)]
