"""Specification of the pending records (observe/pending.py): what a running node writes is
what its text logs will say, whoever renders or reads it, also after a kill in mid-write."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import VectorClock
from netclock.observe.eventlog import EventRecorder, event_files, read_events
from netclock.observe.pending import (
    NOTHING_LOGGED,
    _header_of,
    _mark_rendering,
    finish_run,
    pending_for,
)
from netclock.observe.shiviz import parse_log


def _recorder(folder: Path, inc: int = 3, **kwargs: bool) -> EventRecorder:
    return EventRecorder(
        "a",
        inc,
        govector_log=folder / "a.log",
        event_log=folder / "a.events.jsonl",
        **kwargs,
    )


def _a_few_events(recorder: EventRecorder, width: int = 2) -> None:
    """init, two sends, a delivery, a local event, a drop: the hot kinds and others."""
    clock = VectorClock({"a": 1, **{f"p{i}": 1 for i in range(width - 2)}})
    recorder.record("init", clock, "Initialization Complete", link="reliable", promises=[])
    for seq in (1, 2):
        clock = clock.tick("a")
        recorder.record_send(clock, "b", 3, seq, None if seq == 1 else "hello b")
    sent = VectorClock({"b": 4})
    clock = clock.receive("a", sent)
    recorder.record_delivery(clock, "b", 0, 7, sent)
    clock = clock.tick("a")
    recorder.record("local", clock, "thought", text="thought")
    recorder.record("drop", clock, "drop", reason="a clock from the future", **{"from": "b"})


def test_the_text_logs_say_what_the_node_did_in_the_documented_form(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    _a_few_events(recorder)
    recorder.close()
    assert pending_for(tmp_path / "a.log") is None  # rendered and removed at close
    assert (tmp_path / "a.log").read_text() == (
        'a {"a":1}\nInitialization Complete\n'
        'a {"a":2}\nsend a:3:1 to b\n'
        'a {"a":3}\nhello b\n'
        'a {"a":4, "b":4}\ndeliver b:0:7 from b\n'
        'a {"a":5, "b":4}\nthought\n'
    )
    lines = [json.loads(line) for line in (tmp_path / "a.events.jsonl").read_text().splitlines()]
    assert [line["ev"] for line in lines] == ["init", "send", "send", "deliver", "local", "drop"]
    assert lines[1] == {
        "t": lines[1]["t"],
        "node": "a",
        "inc": 3,
        "ev": "send",
        "clock": {"a": 2},
        "to": "b",
        "id": ["a", 3, 1],
    }
    assert lines[3]["msg_clock"] == {"b": 4}
    assert lines[3]["id"] == ["b", 0, 7]
    assert all(type(line["t"]) is float for line in lines)


def test_readers_see_a_running_nodes_events_before_any_text_is_rendered(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    _a_few_events(recorder)  # outside a loop: each record is handed to the OS at once
    assert (tmp_path / "a.events.jsonl").read_text() == ""
    notes: list[str] = []
    running = read_events(tmp_path / "a.events.jsonl", notes)
    govector = parse_log(tmp_path / "a.log")
    recorder.close()
    assert notes == []
    rendered = read_events(tmp_path / "a.events.jsonl", notes)
    assert [e._replace(where="") for e in running] == [e._replace(where="") for e in rendered]
    assert running[1].where.endswith("a.events.jsonl.pending:2")  # a note names the file read
    assert govector == parse_log(tmp_path / "a.log")


def test_a_kill_in_mid_write_loses_only_the_cut_record_and_says_so(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    _a_few_events(recorder)
    pending = pending_for(tmp_path / "a.events.jsonl")
    assert pending is not None
    data = pending.read_bytes()
    pending.write_bytes(data[:-3])  # the last record (the drop) cut, as a kill leaves it
    notes: list[str] = []
    events = read_events(tmp_path / "a.events.jsonl", notes)
    assert [e.ev for e in events] == ["init", "send", "send", "deliver", "local"]
    assert any("unfinished last record" in note for note in notes)
    assert finish_run(tmp_path) == [f"{pending}: skipped an unfinished last record (the node "
                                    "was killed)"]  # fmt: skip
    assert not pending.exists()
    assert [e.ev for e in read_events(tmp_path / "a.events.jsonl", [])] == [e.ev for e in events]


def test_the_next_life_renders_what_a_killed_life_left_before_it_logs(tmp_path: Path) -> None:
    killed = _recorder(tmp_path)
    _a_few_events(killed)  # never closed: the process was killed
    again = _recorder(tmp_path, inc=4, append=True)
    again.record("init", VectorClock({"a": 6, "b": 4}), "Initialization Complete", link="reliable",
                 promises=[])  # fmt: skip
    again.close()
    events = read_events(tmp_path / "a.events.jsonl", [])
    assert [(e.inc, e.ev) for e in events][-2:] == [(3, "drop"), (4, "init")]
    assert [e.clock["a"] for e in parse_log(tmp_path / "a.log")] == [1, 2, 3, 4, 5, 6]


def test_a_pending_file_of_garbage_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "x.events.jsonl.pending").write_bytes(b"\xc1\xc1 not msgpack")
    notes = finish_run(tmp_path)
    assert "not rendered" in notes[-1]
    assert event_files(tmp_path) == [tmp_path / "x.events.jsonl"]


def test_a_pending_file_killed_before_its_header_was_whole_logged_nothing(
    tmp_path: Path,
) -> None:
    # A node killed as it started leaves an empty pending file, or a cut header: the run
    # is read and checked without it (a note says so), and the launcher's end removes it.
    recorder = _recorder(tmp_path)
    _a_few_events(recorder)
    recorder.close()
    for cut in (b"", b"\x96", b"\x96\xb0netclock-pen"):
        pending = tmp_path / "b.events.jsonl.pending"
        pending.write_bytes(cut)
        notes: list[str] = []
        events = [e.ev for f in event_files(tmp_path) for e in read_events(f, notes)]
        assert events == ["init", "send", "send", "deliver", "local", "drop"]
        assert notes == [f"{pending}: {NOTHING_LOGGED}"]
        assert finish_run(tmp_path) == [f"{pending}: {NOTHING_LOGGED}, removed"]
        assert not pending.exists()


def test_garbage_records_after_a_good_header_are_skipped_with_a_note(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    _a_few_events(recorder)
    recorder._pack([9, "no such record"])
    recorder.flush()
    notes: list[str] = []
    events = read_events(tmp_path / "a.events.jsonl", notes)
    assert len(events) == 6
    assert any("is not an event" in note for note in notes)
    recorder.close()


_STEPS = st.lists(
    st.tuples(st.sampled_from(["send", "deliver", "local"]), st.integers(0, 3)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=25, deadline=None)
@given(steps=_STEPS, width=st.sampled_from([2, 6, 32]))
def test_reading_pending_records_equals_reading_their_rendered_text(
    tmp_path_factory: object, steps: list[tuple[str, int]], width: int
) -> None:
    folder = tmp_path_factory.mktemp("run")  # type: ignore[attr-defined]
    recorder = _recorder(folder)
    clock = VectorClock({"a": 1, **{f"p{i}": 1 for i in range(width - 2)}})
    recorder.record("init", clock, "Initialization Complete", link="reliable", promises=[])
    peers = {f"p{i}": VectorClock({f"p{i}": 1}) for i in range(4)}
    for seq, (kind, who) in enumerate(steps):
        if kind == "send":
            clock = clock.tick("a")
            recorder.record_send(clock, f"p{who}", 3, seq, None)
        elif kind == "deliver":
            sent = peers[f"p{who}"] = peers[f"p{who}"].tick(f"p{who}")
            clock = clock.receive("a", sent)
            recorder.record_delivery(clock, f"p{who}", 0, seq, sent)
        else:
            clock = clock.tick("a")
            recorder.record("local", clock, f"step {seq}", text=f"step {seq}")
    before = (read_events(folder / "a.events.jsonl", []), parse_log(folder / "a.log"))
    recorder.close()
    after = (read_events(folder / "a.events.jsonl", []), parse_log(folder / "a.log"))
    assert [e._replace(where="") for e in before[0]] == [e._replace(where="") for e in after[0]]
    assert before[1] == after[1]
    assert after[0][-1].clock == clock.to_dict()
    own = [e.clock["a"] for e in after[1]]
    assert own == list(range(1, len(steps) + 2))  # ShiViz's +1 per event


def test_a_rendering_cut_short_by_a_kill_is_done_again_without_duplicates(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    reference = _recorder(clean)
    _a_few_events(reference)
    reference.close()
    recorder = _recorder(tmp_path)
    _a_few_events(recorder)
    pending = pending_for(tmp_path / "a.log")
    assert pending is not None
    header = _header_of(pending)
    assert header is not None
    _mark_rendering(pending, header, [])  # the rendering began ...
    for name in ("a.log", "a.events.jsonl"):
        with open(tmp_path / name, "a") as text:
            text.write('a {"a":1}\nhalf of what the rendering wrote')  # ... and was killed
    finish_run(tmp_path)
    assert (tmp_path / "a.log").read_text() == (clean / "a.log").read_text()
    ours = [json.loads(x) for x in (tmp_path / "a.events.jsonl").read_text().splitlines()]
    theirs = [json.loads(x) for x in (clean / "a.events.jsonl").read_text().splitlines()]
    assert [{**x, "t": 0} for x in ours] == [{**x, "t": 0} for x in theirs]


def test_what_msgpack_cannot_hold_is_written_as_the_json_writer_would(tmp_path: Path) -> None:
    recorder = _recorder(tmp_path)
    clock = VectorClock({"a": 1})
    recorder.record("init", clock, "Initialization Complete", link="reliable", promises=[])
    clock = clock.tick("a")
    recorder.record_send(clock, "b", 3, 1, "lone \ud800 surrogate")
    clock = clock.tick("a")
    recorder.record("local", clock, "big \udfff", text=2**70)
    recorder.close()
    events = read_events(tmp_path / "a.events.jsonl", [])
    assert [e.ev for e in events] == ["init", "send", "local"]
    assert events[2].text == repr(2**70)
    texts = [e.event for e in parse_log(tmp_path / "a.log")]
    assert texts[1:] == ["lone \\ud800 surrogate", "big \\udfff"]
