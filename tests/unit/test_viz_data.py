"""The one-pass page data (netclock.tools.viz_data) against the object path (viz._load).

Two independent builders read the same run: every event, clock, text, message, process,
summary and chart sample the page rebuilds from the one-pass data must be the model's.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from netclock.tools.synthetic import write_synthetic_run
from netclock.tools.viz import (
    CLOCK_MARK,
    SAMPLE_SLOTS,
    _load,
    _page,
    _page_data,
    build_model,
    kept_rows,
    render_run,
)
from netclock.tools.viz_data import page_data
from tests.unit.test_broadcast_viz import causal_run
from tests.unit.test_viz_compact import assert_same, data_block, redelivery_run


def assert_agree(folder: Path) -> dict[str, Any]:
    """The one-pass data rebuilds what the model holds; returns it (through JSON)."""
    model = build_model(folder)
    new = data_block(render_run(folder)[0])
    old = json.loads(json.dumps(_page_data(_load(folder))))
    assert_same(new, dict(model))
    for key in ("processes", "summary", "unmatched", "waited", "redelivered", "mf", "first"):
        assert new[key] == old[key], key
    assert sorted(new["mx"]) == sorted(old["mx"])
    assert new["text"] == old["text"]
    for cols in (new, old):
        cols["samples"]["p"] = [cols["names"][x] for x in cols["samples"]["p"]]
        for row in cols["samples"]["links"]:
            row[1] = cols["names"][row[1]]
    assert new["samples"] == old["samples"]
    for cols in (new, old):
        cols["ck"] = [[{cols["names"][m[k]]: m[k + 1] for k in range(0, len(m), 2)} for m in lane]
                      for lane in cols["ck"]]  # fmt: skip
    assert new["ck"] == old["ck"]
    assert new["names"][: len(new["processes"])] == [p["id"] for p in new["processes"]]
    return new


@pytest.mark.parametrize(
    ("seed", "fields"),
    [
        (1, {"loss": 0.05}),
        (2, {"duplicates": 0.05, "loss": 0.1}),
        (3, {"kills": 2, "loss": 0.02}),
        (4, {"nodes": 11, "duplicates": 0.02}),
    ],
)
def test_one_pass_data_draws_what_the_model_draws(
    tmp_path: Path, seed: int, fields: dict[str, Any]
) -> None:
    write_synthetic_run(tmp_path, **{"nodes": 5, "events": 3000, **fields}, seed=seed)
    assert_agree(tmp_path)


def test_broadcasts_redeliveries_and_odd_lines_agree(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    causal_run(tmp_path / "b")
    assert_agree(tmp_path / "b")
    redelivery_run(tmp_path)
    assert_agree(tmp_path)


def write_lines(path: Path, lines: list[Any]) -> None:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))


def test_hostile_and_odd_lines_agree_and_never_crash(tmp_path: Path) -> None:
    rng = random.Random(11)
    a = [
        {"t": 5.0, "node": "a", "inc": 1, "ev": "init", "clock": {"a": 1}, "link": "x",
         "promises": []},
        {"t": 5.5, "node": "a", "inc": 1, "ev": "send", "clock": {"a": 2, "b": 3}, "to": "b",
         "id": ["a", 1, 1]},
        {"t": 5.6, "node": "a", "inc": 1, "ev": "send", "clock": {"a": 3, "b": 3}, "to": "b",
         "id": ["a", 1, 1]},
        {"t": 5.7, "node": "a", "inc": 1, "ev": "send", "clock": {"a": 4}, "to": "zz",
         "id": ["a", 1, 2]},
        {"t": 5.8, "node": "a", "inc": 1, "ev": "send", "clock": {"a": 5}, "id": ["a", 1, 3]},
        {"t": 5.9, "node": "a", "inc": 1, "ev": "failed", "clock": {"a": 6}, "to": "b",
         "id": ["a", 1, 1]},
        {"node": "a", "inc": 2, "ev": "init", "clock": {"a": 1}, "link": "x", "promises": []},
        {"t": 4.0, "node": "a", "inc": 2, "ev": "send", "clock": {"a": 2}, "to": "b",
         "id": ["q", 9, 3]},
        {"t": 6.0, "node": "a", "ev": "local", "clock": {"a": 3, "c": 2**64 - 1}, "text": "<x>"},
        {"t": 6.1, "node": "a", "ev": "send", "clock": {"a": 4}, "to": "b", "id": ["a", 2, 10**9]},
        "not json",
        {"t": 6.2, "node": "a", "inc": 2, "ev": "local", "clock": {"a": 5}, "text": "y" * 900},
    ]  # fmt: skip
    b = [
        {"t": 5.0, "node": "b", "inc": 1, "ev": "init", "clock": {"b": 1}, "link": "x",
         "promises": []},
        {"t": 5.6, "node": "b", "inc": 1, "ev": "deliver", "clock": {"a": 2, "b": 3},
         "from": "a", "id": ["a", 1, 1], "msg_clock": {"a": 2}},
        {"t": 5.7, "node": "b", "inc": 1, "ev": "deliver", "clock": {"a": 2, "b": 4},
         "from": "a", "id": ["a", 1, 1], "msg_clock": {"a": 2}},
        {"t": 5.8, "node": "b", "inc": 1, "ev": "deliver", "clock": {"a": 2, "b": 5},
         "from": "m", "id": ["a", 1, 7], "msg_clock": {"a": 2}},
        {"t": 5.9, "node": "b", "inc": 1, "ev": "deliver", "clock": {"a": 2, "b": 6},
         "id": ["q", 9, 3], "msg_clock": {"a": 2}},
        {"t": 6.0, "node": "b", "inc": 1, "ev": "deliver",
         "clock": {"b": 7, "d": rng.randint(1, 9)},
         "from": "a", "id": ["a", 2, 10**9], "msg_clock": {"a": 2}},
        {"t": 6.1, "node": "b", "inc": 1, "ev": "suspect", "clock": {"b": 8}, "peer": "a",
         "timeout": 0.5},
        {"t": 6.2, "node": "b", "inc": 1, "ev": "restore", "clock": {"b": 9}, "peer": "a",
         "timeout": 0.6},
        {"t": 6.3, "node": "b", "inc": 1, "ev": "deliver", "clock": {"b": 10}, "from": "a",
         "id": ["a", 1, 2**63]},
        {"t": 6.4, "node": "b", "inc": 1, "ev": "local", "clock": {"b": 11, "e": 2**40},
         "text": "past 32 bits"},
    ]  # fmt: skip
    write_lines(tmp_path / "a.events.jsonl", a)
    write_lines(tmp_path / "b.events.jsonl", b)
    data = assert_agree(tmp_path)
    assert data["summary"]["duplicates"] == 1
    assert data["summary"]["failed"] == 1
    assert data["summary"]["skipped"] >= 1


def test_clock_checkpoints_hold_the_whole_clock_before_every_mark(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path, nodes=3, events=3 * CLOCK_MARK + 500, seed=9)
    data, _ = page_data(tmp_path)
    events = build_model(tmp_path)["events"]
    names = data["names"]
    for p, marks in enumerate(data["ck"]):
        assert len(marks) == 1 + (data["first"][p + 1] - data["first"][p] - 1) // CLOCK_MARK
        for n, mark in enumerate(marks):
            i = data["first"][p] + n * CLOCK_MARK
            want = events[i - 1]["clock"] if n else {}
            assert {names[mark[k]]: mark[k + 1] for k in range(0, len(mark), 2)} == want


def test_random_bytes_and_broken_clock_chains_are_skipped_as_the_event_reader_skips_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "x.events.jsonl").write_bytes(random.Random(3).randbytes(3000))
    lines = [
        {"node": "a", "ev": "send", "dc": {"a": 1}, "to": "b", "id": ["a", 1, 1]},
        {"node": "a", "ev": "init", "clock": {"a": 1}},
        {"node": "a", "ev": "send", "dc": {"a": "x"}, "to": "b", "id": ["a", 1, 1]},
        {"node": "a", "ev": "send", "dc": {"a": 2}, "to": "b", "id": ["a", 1, 2]},
        {"node": "a", "ev": "send", "clock": {"a": 3}, "to": "b", "id": ["a", 1, 3]},
        {"node": "a", "ev": "sample", "clock": {"a": 3, "c": 4}, "links": {}},
        {"node": "a", "ev": "send", "dc": {"a": 4}, "to": "b", "id": ["a", 1, 4], "t": 1e400},
        [1, 2],
        {"node": "a", "ev": "send", "clock": {"a": 5}, "to": "b", "id": ["a", 1, 5], "t": "x"},
        {"node": "a", "ev": "send", "dc": {"a": 6}, "to": "b", "id": ["a", 1, 6], "inc": True},
        {"node": "b", "ev": "deliver", "clock": {"a": 6, "b": 1}, "from": "a", "id": ["a", 1, 6]},
        {"node": "b", "ev": "deliver", "dc": {"b": 2}, "from": "a", "id": ["a", 1, 6],
         "redelivered": True, "host": 7},
    ]  # fmt: skip
    write_lines(tmp_path / "y.events.jsonl", lines)
    data = assert_agree(tmp_path)
    assert data["summary"]["events"] == 7
    assert data["summary"]["redelivered"] == 1


def test_sample_values_come_back_as_written_and_far_times_never_crash(tmp_path: Path) -> None:
    """Samples kept as columns give the page the object path gives, byte for byte (2.0 stays
    2.0, -0.0 and 1e308 stay, an int past 2**53 stays exact); a forged time far out is drawn
    without a time instead of crashing."""
    lines = [
        {"t": 5.0, "node": "a", "inc": 1, "ev": "init", "clock": {"a": 1}, "link": "x",
         "promises": []},
        {"t": 6.0, "node": "a", "inc": 1, "ev": "sample", "clock": {"a": 1}, "inbox": 3,
         "links": {"b": [1, 0, 2.0, 200.0], "c": [1e308, -0.0, 1e20, 0.5],
                   "d": [2**53 + 1, 0, None, 10**40], "e": [True, 0, 1, 2]}},
    ]  # fmt: skip
    write_lines(tmp_path / "a.events.jsonl", lines)
    assert render_run(tmp_path)[0] == _page(_page_data(_load(tmp_path)))
    far = tmp_path / "far"
    far.mkdir()
    write_lines(far / "a.events.jsonl", [*lines, {**lines[1], "t": 1e300}])
    write_lines(far / "b.events.jsonl", [{**lines[0], "node": "b", "t": 1e300}])
    data = data_block(render_run(far)[0])
    assert data["summary"]["events"] == 2


def test_kept_sample_rows_give_every_chart_bucket_the_same_retransmissions() -> None:
    """A page keeps each session's first sample row and its last in each of SAMPLE_SLOTS
    parts of the span: the per-bucket sums of a counter's increases (what the chart of
    retransmissions draws, BUCKETS = SAMPLE_SLOTS / 2) are those of every row."""
    rng = random.Random(5)
    span = 60_000_000
    keys, times, counters = [], [], []
    totals: dict[int, int] = {}
    for t in sorted(rng.randrange(span + 1) for _ in range(20_000)):
        key = rng.randrange(7)
        totals[key] = totals.get(key, 0) + rng.randrange(3)
        keys.append(key)
        times.append(t)
        counters.append(totals[key])

    def buckets(rows: list[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        last: dict[int, int] = {}
        for r in rows:
            if keys[r] in last:
                b = min(SAMPLE_SLOTS // 2 - 1, times[r] * (SAMPLE_SLOTS // 2) // span)
                out[b] = out.get(b, 0) + counters[r] - last[keys[r]]
            last[keys[r]] = counters[r]
        return out

    kept = kept_rows(keys, times, span)
    assert kept == sorted(kept)
    assert buckets(kept) == buckets(list(range(len(keys))))
    for key in range(7):
        assert sum(1 for r in kept if keys[r] == key) <= SAMPLE_SLOTS + 1
    assert kept_rows([1, 1, 2], [0, 0, 0], 0) == [0, 1, 2]


@pytest.mark.slow
def test_both_paths_keep_the_same_sample_rows_of_a_long_run(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path, nodes=2, events=125_000, seed=9)
    data = assert_agree(tmp_path)
    per_session: dict[tuple[int, int], int] = {}
    for row in data["samples"]["links"]:
        key = (data["samples"]["p"][row[0]], row[1])
        per_session[key] = per_session.get(key, 0) + 1
    assert per_session
    assert max(per_session.values()) <= SAMPLE_SLOTS + 1
    samples = data["samples"]["p"]
    assert min(samples.count(p) for p in set(samples)) > SAMPLE_SLOTS + 1  # rows were thinned
