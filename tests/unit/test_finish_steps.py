"""Rendering a pending file step by step (observe/pending.py finish_steps): stopped after any
step, the file stays and the next finish_pending completes the text, without duplicates."""

from __future__ import annotations

import json
from pathlib import Path

from netclock.clock import VectorClock
from netclock.observe.eventlog import EventRecorder, iter_events
from netclock.observe.pending import RENDER_BATCH, finish_pending, finish_steps
from netclock.observe.shiviz import iter_log

EVENTS = 2 * RENDER_BATCH + 5
"""Three steps of rendering."""


def _life(folder: Path, inc: int, count: int, prefix: str) -> Path:
    """A pending file of life ``inc`` holding ``count`` local events (``prefix`` + number)."""
    recorder = EventRecorder(
        "a", inc, govector_log=folder / "a.log", event_log=folder / "a.ev", append=inc > 1
    )
    clock = VectorClock({"a": 1})
    for i in range(count):
        clock = clock.tick("a")
        recorder.record("local", clock, f"{prefix}{i}", text=f"{prefix}{i}")
    writer = recorder._writer
    assert writer is not None
    writer.close()
    return writer.path


def _pending(folder: Path) -> Path:
    folder.mkdir()
    return _life(folder, 1, EVENTS, "step ")


def _texts(folder: Path) -> tuple[str, list[dict[str, object]]]:
    """Both logs' text, the event log's without its wall times (two runs differ in them)."""
    events = [json.loads(line) for line in (folder / "a.ev").read_text().splitlines()]
    return (folder / "a.log").read_text(), [{**e, "t": 0} for e in events]


def test_steps_stopped_early_leave_the_file_and_finish_pending_completes_it(
    tmp_path: Path,
) -> None:
    finish_pending(_pending(tmp_path / "whole"))
    for taken in range(3):
        folder = tmp_path / f"stopped{taken}"
        path = _pending(folder)
        steps = finish_steps(path)
        for _ in range(taken + 1):
            next(steps)
        steps.close()  # the loop that drove it went away (a kill does less still)
        assert path.exists(), taken
        finish_pending(path)
        assert not path.exists()
        assert _texts(folder) == _texts(tmp_path / "whole"), taken


def test_the_steps_are_one_per_batch_and_the_file_goes_after_the_last(tmp_path: Path) -> None:
    path = _pending(tmp_path / "a")
    seen = []
    for _ in finish_steps(path):
        seen.append(path.exists())
    assert seen == [True, True, True]
    assert not path.exists()


def test_a_rendering_cut_short_is_read_once(tmp_path: Path) -> None:
    """Readers take the text only up to the sizes in the rendering mark: what a rendering
    cut short appended is read again from the records, not twice."""
    folder = tmp_path / "cut"
    path = _pending(folder)
    steps = finish_steps(path)
    next(steps)
    steps.close()
    assert (folder / "a.ev").stat().st_size > 0  # one batch was appended, then it stopped
    events = list(iter_events(folder / "a.ev", []))
    assert [e.text for e in events] == [f"step {i}" for i in range(EVENTS)]
    assert len(list(iter_log(folder / "a.log"))) == EVENTS
    finish_pending(path)
    assert len(list(iter_events(folder / "a.ev", []))) == EVENTS
    assert len(list(iter_log(folder / "a.log"))) == EVENTS


def test_a_reader_in_the_text_while_the_node_renders_and_restarts_reads_each_event_once(
    tmp_path: Path,
) -> None:
    """The reader opens the records before it sizes the text: a rendering that begins, ends
    and removes them, and a next life's new pending file, change nothing it reads."""
    for marked in (False, True):
        folder = tmp_path / f"marked{marked}"
        folder.mkdir()
        finish_pending(_life(folder, 1, 3000, "1."))  # an earlier life, in the text
        steps = finish_steps(_life(folder, 2, EVENTS, "2."))
        if marked:
            next(steps)  # a rendering began before the reader opened the logs
        events, lines = iter_events(folder / "a.ev", []), iter(iter_log(folder / "a.log"))
        first = [next(events).text, next(lines).event]  # both readers are in the text
        for _ in steps:  # the node renders the rest and removes its pending file
            pass
        _life(folder, 3, 5, "3.")  # and its next life starts a new one
        texts = first[:1] + [e.text for e in events]
        recorded = [f"1.{i}" for i in range(3000)] + [f"2.{i}" for i in range(EVENTS)]
        assert texts == recorded, marked
        assert 1 + sum(1 for _ in lines) == len(recorded), marked
