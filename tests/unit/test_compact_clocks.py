"""Compact clocks in the event log (format 2): what the recorder writes, the reader rebuilds."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import VectorClock
from netclock.errors import ConfigError
from netclock.observe.compact import FORMAT, FULL_EVERY, ClockChanges, ClockText
from netclock.observe.eventlog import EventRecorder, iter_events, read_events
from netclock.observe.shiviz import parse_log, validate_shiviz

PIDS = ("a", "b", "c", "d", "p00", "p31")
SENDERS = ("b", "c", "d")


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, dict[str, int], str | None, dict[str, int]]]:
    """Events of node ``a``: (kind, clock after it, sender, message clock), clocks growing."""
    clock = {"a": 1}
    sent: dict[str, dict[str, int]] = {s: {s: 0} for s in SENDERS}
    out: list[tuple[str, dict[str, int], str | None, dict[str, int]]] = [
        ("init", dict(clock), None, {})
    ]
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(("send", "deliver", "local", "drop")))
        if kind == "deliver":
            sender = draw(st.sampled_from(SENDERS))
            msg = dict(sent[sender])
            msg[sender] += 1
            for pid in draw(st.lists(st.sampled_from(PIDS), max_size=3)):
                if pid != "a":
                    msg[pid] = msg.get(pid, 0) + draw(st.integers(1, 3))
            sent[sender] = msg
            for pid, value in msg.items():
                clock[pid] = max(clock.get(pid, 0), value)
            clock["a"] += 1
            out.append((kind, dict(clock), sender, dict(msg)))
        elif kind == "drop":
            out.append((kind, dict(clock), draw(st.sampled_from(SENDERS)), {}))
        else:
            clock["a"] += 1
            out.append((kind, dict(clock), None, {}))
    return out


def _record(
    recorder: EventRecorder, history: list[tuple[str, dict[str, int], str | None, dict[str, int]]]
) -> None:
    for seq, (kind, clock, sender, msg) in enumerate(history):
        vc = VectorClock(clock)
        if kind == "init":
            recorder.record("init", vc, "init", link="reliable", promises=[])
        elif kind == "send":
            recorder.record("send", vc, f"send {seq}", to="b", id=["a", 1, seq])
        elif kind == "deliver":
            assert sender is not None
            recorder.record(
                "deliver",
                vc,
                f"deliver {seq}",
                id=[sender, 1, seq],
                msg_clock=msg,
                **{"from": sender},
            )
        elif kind == "drop":
            recorder.record("drop", vc, "drop", reason="late", **{"from": sender})
        else:
            recorder.record("local", vc, "tick", text="tick")


@settings(max_examples=40, deadline=None)
@given(histories())
def test_every_clock_written_compactly_is_read_back_whole(
    tmp_path_factory: pytest.TempPathFactory,
    history: list[tuple[str, dict[str, int], str | None, dict[str, int]]],
) -> None:
    folder = tmp_path_factory.mktemp("compact")
    recorder = EventRecorder(
        "a", 1, govector_log=folder / "a.log", event_log=folder / "a.events.jsonl"
    )
    _record(recorder, history)
    recorder.close()
    events = read_events(folder / "a.events.jsonl", [])
    assert [dict(e.clock) for e in events] == [clock for _, clock, _, _ in history]
    delivered = [msg for kind, _, _, msg in history if kind == "deliver"]
    assert [dict(e.msg_clock or {}) for e in events if e.ev == "deliver"] == delivered
    ticking = [clock for kind, clock, _, _ in history if kind != "drop"]
    assert [dict(e.clock) for e in parse_log(folder / "a.log")] == ticking  # full, for ShiViz


def test_a_line_carries_only_what_changed_and_init_says_the_format(tmp_path: Path) -> None:
    wide = {f"p{i:02d}": 4 for i in range(30)}
    recorder = EventRecorder("a", 1, event_log=tmp_path / "e")
    clock = VectorClock({"a": 1, **wide})
    recorder.record("init", clock, "init", link="reliable", promises=[])
    clock = clock.tick("a")
    recorder.record("send", clock, "send", to="p00", id=["a", 1, 1])
    msg = {"b": 1, **wide}
    clock = clock.merge(VectorClock(msg)).tick("a")
    recorder.record("deliver", clock, "d", id=["b", 1, 1], msg_clock=msg, **{"from": "b"})
    msg = {**msg, "b": 2}
    clock = clock.merge(VectorClock(msg)).tick("a")
    recorder.record(
        "deliver", clock, "d", id=["b", 1, 2], msg_clock=VectorClock(msg), **{"from": "b"}
    )
    recorder.close()
    init, send, first, second = _lines(tmp_path / "e")
    assert init["format"] == FORMAT
    assert len(init["clock"]) == 31
    assert send["dc"] == {"a": 2}
    assert "clock" not in send
    assert (len(first["clock"]), len(first["msg_clock"])) == (32, 31)  # type: ignore[arg-type]
    assert second["dc"] == {"a": 4, "b": 2}
    assert second["dmc"] == {"b": 2}
    assert [e.clock["a"] for e in read_events(tmp_path / "e", [])] == [1, 2, 3, 4]


def test_the_full_clock_comes_back_at_least_every_full_every_lines(tmp_path: Path) -> None:
    recorder = EventRecorder("a", 1, event_log=tmp_path / "e")
    clock = VectorClock({"a": 1, "b": 1})
    recorder.record("init", clock, "init", link="reliable", promises=[])
    for i in range(2 * FULL_EVERY + 5):
        clock = clock.tick("a")
        recorder.record("send", clock, "s", to="b", id=["a", 1, i])
    recorder.close()
    full = [n for n, line in enumerate(_lines(tmp_path / "e")) if "clock" in line]
    assert full[0] == 0
    assert all(b - a <= FULL_EVERY for a, b in itertools.pairwise(full))
    assert len(full) >= 3


def test_a_lost_line_skips_compact_lines_until_a_full_clock_when_lenient(tmp_path: Path) -> None:
    path = tmp_path / "a.events.jsonl"
    head = {"t": 1.0, "node": "a", "inc": 1}
    lines = [
        {**head, "ev": "init", "clock": {"a": 1}, "link": "reliable", "promises": []},
        {**head, "ev": "local", "dc": {"a": 2}, "text": "x"},
        "garbage",
        {**head, "ev": "local", "dc": {"a": 4}, "text": "x"},
        {**head, "ev": "local", "clock": {"a": 5}, "text": "x"},
        {**head, "ev": "local", "dc": {"a": 6}, "text": "x"},
    ]
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    notes: list[str] = []
    assert [e.clock["a"] for e in iter_events(path, notes, strict=False)] == [1, 2, 5, 6]
    assert any("without a full clock" in note for note in notes)
    with pytest.raises(ConfigError, match=":3: not a JSON object"):
        read_events(path, [])


def test_a_delta_without_a_full_clock_or_a_malformed_one_is_refused_naming_the_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "a.events.jsonl"
    head = {"t": 1.0, "node": "a", "inc": 1, "ev": "local", "text": "x"}
    path.write_text(json.dumps({**head, "dc": {"a": 2}}) + "\n")
    with pytest.raises(ConfigError, match=r":1: 'dc' \(a clock delta\) without a full clock"):
        read_events(path, [])
    path.write_text(
        json.dumps({**head, "clock": {"a": 1}})
        + "\n"
        + json.dumps({**head, "dc": {"a": -1}})
        + "\n"
    )
    with pytest.raises(ConfigError, match=r":2: counter for 'a'"):
        read_events(path, [])
    deliver = {
        **head,
        "ev": "deliver",
        "clock": {"a": 1},
        "from": "b",
        "id": ["b", 1, 1],
        "dmc": {"b": 1},
    }
    path.write_text(json.dumps(deliver) + "\n")
    with pytest.raises(ConfigError, match=r"'dmc' \(a message clock delta\) without a full one"):
        read_events(path, [])


def test_changes_and_text_follow_a_clock_and_start_afresh_when_its_ids_change() -> None:
    changes, text = ClockChanges(), ClockText()
    first = {"b": 1, "a": 1}
    assert changes.changes(first) is None
    assert text.render(first, None) == '{"a":1, "b":1}'
    second = {"b": 1, "a": 2}
    assert changes.changes(second) == ["a"]
    assert text.render(second, ["a"]) == str(VectorClock(second))
    third = {"b": 1, "a": 2, "c": 5}
    assert changes.changes(third) is None
    assert text.render(third, None) == '{"a":2, "b":1, "c":5}'
    changes.forget()
    assert changes.changes(third) is None


def test_a_govector_log_of_compact_recording_stays_shiviz_valid(tmp_path: Path) -> None:
    recorder = EventRecorder("a", 1, govector_log=tmp_path / "a.log", event_log=tmp_path / "e")
    clock = VectorClock({"a": 1})
    recorder.record("init", clock, "init", link="reliable", promises=[])
    for i in range(50):
        clock = clock.tick("a")
        recorder.record("send", clock, f"s{i}", to="b", id=["a", 1, i])
        recorder.record("drop", clock, "drop", reason="x", **{"from": "b"})
    recorder.close()
    assert validate_shiviz(parse_log(tmp_path / "a.log")) == []
