"""Specification of the event log's one module: what the recorder writes, the readers read."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from netclock.clock import VectorClock
from netclock.errors import ConfigError, UsageError
from netclock.observe.eventlog import (
    EVENT_KINDS,
    FIELDS,
    GOVECTOR_KINDS,
    EventRecorder,
    RunInfo,
    read_events,
    read_run_info,
    write_run_info,
)
from netclock.observe.shiviz import parse_log

EXAMPLE_FIELDS = {
    "init": {"link": "reliable", "promises": ["no_creation", "fifo"]},
    "send": {"to": "b", "id": ["a", 7, 1]},
    "deliver": {"from": "b", "id": ["b", 9, 1], "msg_clock": {"b": 1}},
    "local": {"text": 'a "quoted"\nline'},
    "failed": {"to": "b", "id": ["a", 7, 1]},
    "drop": {"from": "b", "reason": "a clock from the future"},
    "refused": {"from": "127.0.0.1:9", "reason": "malformed: not a msgpack value"},
    "bcast": {"id": ["a", 7, 1], "bkind": "causal"},
    "bdeliver": {"from": "b", "id": ["b", 9, 1], "msg_clock": {"b": 1}, "bkind": "causal"},
    "stop": {"clean": True, "stats": {"sent": 1, "raw": b"\x01"}},
    "suspect": {"peer": "b", "timeout": 0.2},
    "restore": {"peer": "b", "timeout": 0.4},
    "leader": {"peer": "a"},
    "violation": {"what": "gap", "seen": 3.0, "bound": 0.05, "peer": None},
    "sample": {"inbox": 3, "links": {"b": [10, 2, 0.0012, 0.05]}},
}


def _record_one_of_each(recorder: EventRecorder) -> None:
    clock = VectorClock({"a": 1})
    for ev in EVENT_KINDS:
        if ev in ("deliver", "bdeliver"):
            clock = clock.receive("a", VectorClock({"b": 1}))
        elif ev in ("send", "local", "bcast"):
            clock = clock.tick("a")
        logged = "local\u2028text" if ev == "local" else f"{ev} text"
        recorder.record(ev, clock, logged, **EXAMPLE_FIELDS[ev])


def test_every_kind_has_its_fields_listed() -> None:
    assert set(FIELDS) == set(EVENT_KINDS) == set(EXAMPLE_FIELDS)
    for ev, fields in FIELDS.items():
        assert tuple(EXAMPLE_FIELDS[ev]) == fields


def test_what_the_recorder_writes_the_strict_reader_reads_back(tmp_path: Path) -> None:
    recorder = EventRecorder("a", 7, govector_log=tmp_path / "a.log", event_log=tmp_path / "e")
    _record_one_of_each(recorder)
    recorder.close()
    notes: list[str] = []
    events = read_events(tmp_path / "e", notes)
    assert notes == []
    assert [e.ev for e in events] == list(EVENT_KINDS)
    by_kind = {e.ev: e for e in events}
    assert by_kind["init"].promises == ("no_creation", "fifo")
    assert by_kind["send"].mid == ("a", 7, 1)
    assert by_kind["send"].peer == "b"
    assert by_kind["deliver"].msg_clock == {"b": 1}
    assert by_kind["deliver"].clock == {"a": 3, "b": 1}
    assert by_kind["local"].text == 'a "quoted"\nline'
    assert by_kind["drop"].text == "a clock from the future"
    assert by_kind["stop"].clean is True
    assert (by_kind["suspect"].peer, by_kind["suspect"].value) == ("b", 0.2)
    assert (by_kind["restore"].peer, by_kind["restore"].value) == ("b", 0.4)
    assert by_kind["leader"].peer == "a"
    assert (by_kind["violation"].text, by_kind["violation"].value) == ("gap", 3.0)
    assert by_kind["sample"].sample == {"inbox": 3, "links": {"b": [10, 2, 0.0012, 0.05]}}
    assert all(e.node == "a" and e.inc == 7 and e.t is not None for e in events)
    lines = (tmp_path / "e").read_text().splitlines()
    stop = next(json.loads(line) for line in lines if '"ev": "stop"' in line)
    assert stop["stats"] == {"sent": 1, "raw": "01"}


def test_only_clock_events_reach_the_govector_log_and_shiviz_accepts_it(tmp_path: Path) -> None:
    recorder = EventRecorder("a", 7, govector_log=tmp_path / "a.log")
    _record_one_of_each(recorder)
    recorder.close()
    logged = parse_log(tmp_path / "a.log")
    assert [e.event.split()[0] for e in logged] == [k for k in EVENT_KINDS if k in GOVECTOR_KINDS]
    assert [e.clock["a"] for e in logged] == [1, 2, 3, 4, 5, 6]  # +1 per event, as ShiViz checks
    assert logged[3].event == "local text"  # one line per event text, whatever it holds


def test_outside_an_event_loop_each_event_is_written_at_once(tmp_path: Path) -> None:
    recorder = EventRecorder("a", 1, event_log=tmp_path / "e")
    recorder.record("init", VectorClock({"a": 1}), "init", link="fairloss", promises=[])
    assert len(read_events(tmp_path / "e", [])) == 1
    recorder.close()
    recorder.close()  # idempotent


async def test_an_iterations_events_are_written_together_when_it_ends(tmp_path: Path) -> None:
    recorder = EventRecorder("a", 1, govector_log=tmp_path / "a.log", event_log=tmp_path / "e")
    clock = VectorClock({"a": 1})
    recorder.record("init", clock, "init", link="fairloss", promises=[])
    for _ in range(3):
        clock = clock.tick("a")
        recorder.record("local", clock, "tick", text="tick")
    assert (tmp_path / "e").read_bytes() == b""
    assert (tmp_path / "a.log").read_bytes() == b""
    await asyncio.sleep(0)  # the iteration ends; the next one starts with the write
    assert len(read_events(tmp_path / "e", [])) == 4
    assert len(parse_log(tmp_path / "a.log")) == 4
    recorder.close()


def test_an_unknown_kind_and_an_unwritable_path_are_refused(tmp_path: Path) -> None:
    recorder = EventRecorder("a", 1, event_log=tmp_path / "e")
    with pytest.raises(UsageError, match="event kind 'sent'"):
        recorder.record("sent", VectorClock({"a": 2}), "sent")
    recorder.close()
    with pytest.raises(ConfigError, match="cannot write the event log"):
        EventRecorder("a", 1, event_log=tmp_path / "missing" / "e")


def test_a_line_cut_by_a_kill_is_skipped_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "a.events.jsonl"
    whole = {"t": 1.0, "node": "a", "inc": 1, "ev": "init", "clock": {"a": 1}, "link": "tls"}
    path.write_text(json.dumps(whole) + '\n{"t": 2.0, "node": "a", "ev": "lo')
    notes: list[str] = []
    assert [e.ev for e in read_events(path, notes)] == ["init"]
    assert len(notes) == 1
    assert "unfinished last line" in notes[0]


def test_a_bad_line_is_an_error_when_strict_and_skipped_when_lenient(tmp_path: Path) -> None:
    path = tmp_path / "a.events.jsonl"
    odd = {"t": "soon", "node": "a", "inc": True, "ev": "init", "clock": {"a": 1}}
    path.write_text("not json\n" + json.dumps(odd) + "\n")
    with pytest.raises(ConfigError, match=r"a\.events\.jsonl:1: not a JSON object"):
        read_events(path, [])
    notes: list[str] = []
    events = read_events(path, notes, strict=False)
    assert len(notes) == 1
    assert [(e.ev, e.inc, e.t, e.link) for e in events] == [("init", None, None, None)]


def test_run_info_round_trips_and_a_malformed_one_says_what_to_fix(tmp_path: Path) -> None:
    assert read_run_info(tmp_path) is None
    info = RunInfo("demo", "reliable", ("a", "b"), 42, 1.5)
    write_run_info(tmp_path, info)
    assert read_run_info(tmp_path) == info
    (tmp_path / "run.json").write_text('{"nodes": "a"}')
    with pytest.raises(ConfigError, match="'nodes' must be a list of node ids"):
        read_run_info(tmp_path)


def test_a_kind_that_is_not_a_string_is_refused_when_strict_and_skipped_when_lenient(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.events.jsonl"
    path.write_text(
        json.dumps({"t": 1.0, "node": "a", "inc": 1, "ev": {}, "clock": {"a": 1}}) + "\n"
    )
    with pytest.raises(ConfigError, match=r":1: 'ev' must be one of"):
        read_events(path, [])
    notes: list[str] = []
    assert read_events(path, notes, strict=False) == []
    assert len(notes) == 1
