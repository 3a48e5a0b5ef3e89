"""The viewer page's compact data (netclock.tools.viz): what the page rebuilds is the model.

:func:`expand` decodes the columnar data as the page's script does; every test compares
it with :func:`build_model`, which reads the same run the long way (a dict per event).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from netclock.cli.viz import main as cli
from netclock.tools.synthetic import write_synthetic_run
from netclock.tools.viz import (
    Model,
    _compact,
    build_model,
    render_html,
    render_run,
    unpacked_changes,
)

CODE_BASE = 65


def expand(data: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(events, messages) as the page's script rebuilds them from ``data``."""
    procs = [p["id"] for p in data["processes"]]
    first, names = data["first"], data["names"]
    sends, acc = [], 0
    for step in data["ms"]:
        acc += step
        sends.append(acc)
    events: list[dict[str, Any]] = []
    untimed = set(data["untimed"])
    incs = dict((i, inc) for i, inc in data["inc"])
    changes = unpacked_changes(data["cv"])
    j = 0
    for p, pid in enumerate(procs):
        rank, us, clock, inc = 0, 0, {}, None
        for i in range(first[p], first[p + 1]):
            rank += data["r"][i]
            time = None
            if data["t"] is not None:
                us += data["t"][i]
                time = None if i in untimed else data["t0"] + us / 1e6
            inc = incs.get(i, inc)
            for _ in range(ord(data["cn"][i]) - CODE_BASE):
                name, step = names[changes[2 * j]], changes[2 * j + 1]
                clock[name] = clock.get(name, 0) + step
                if not clock[name]:
                    del clock[name]
                j += 1
            kind = data["kinds"][ord(data["k"][i]) - CODE_BASE]
            events.append(
                {"process": pid, "kind": kind, "rank": rank, "time": time, "inc": inc,
                 "clock": dict(clock)}
            )  # fmt: skip
    messages = []
    more: dict[int, list[int]] = {}
    for m, d in data["mx"]:
        more.setdefault(m, []).append(d)
    for m, s in enumerate(sends):
        x = data["mid"][m]
        mid = f"{events[s]['process']}:{events[s]['inc']}:{x}" if isinstance(x, int) else x
        deliveries = ([] if data["md"][m] < 0 else [data["md"][m]]) + more.get(m, [])
        to = procs[data["mt"][m]] if data["mt"][m] >= 0 else None
        messages.append({"id": mid, "send": s, "deliveries": deliveries, "to": to})
    for msg in messages:
        s = msg["send"]
        made = [(s, f"send {msg['id']} to {msg['to']}")]
        made += [(d, f"deliver {msg['id']} from {events[s]['process']}") for d in msg["deliveries"]]
        for i, text in made:
            events[i].setdefault("text", data["text"].get(str(i), text))
    for i, event in enumerate(events):
        event.setdefault("text", data["text"].get(str(i)))
    return events, messages


def assert_same(data: dict[str, Any], model: dict[str, Any]) -> None:
    events, messages = expand(data)
    assert len(events) == len(model["events"])
    for got, want in zip(events, model["events"], strict=True):
        for key in ("process", "kind", "rank", "inc", "clock", "text"):
            assert got[key] == want[key], (key, got, want)
        if want["time"] is None:
            assert got["time"] is None
        else:
            assert got["time"] == pytest.approx(want["time"], abs=2e-6)
    drawn = {p["id"] for p in model["processes"]}  # a receiver outside them has no lane
    assert [(m["id"], m["send"], m["deliveries"], m["to"]) for m in messages] == [
        (m["id"], m["send"], m["deliveries"], m["to"] if m["to"] in drawn else None)
        for m in model["messages"]
    ]


def data_block(page: str) -> dict[str, Any]:
    start = page.index('id="netclock-data">') + len('id="netclock-data">')
    return json.loads(page[start : page.index("</script>", start)])  # type: ignore[no-any-return]


def page_data(model: Model) -> dict[str, Any]:
    """The data as the page reads it (through JSON: object keys are strings)."""
    return json.loads(json.dumps(_compact(model)))  # type: ignore[no-any-return]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_page_data_rebuilds_every_event_clock_text_and_message_of_the_model(
    tmp_path: Path, seed: int
) -> None:
    write_synthetic_run(tmp_path, nodes=5, events=3000, loss=0.05, seed=seed)
    model = build_model(tmp_path)
    assert_same(page_data(model), dict(model))


def test_render_run_draws_what_render_html_of_the_model_draws(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path, nodes=3, events=800, seed=4)
    page, summary = render_run(tmp_path)
    model = build_model(tmp_path)
    assert_same(data_block(page), dict(model))
    assert_same(data_block(render_html(model)), dict(model))
    assert summary == model["summary"]


def test_restart_lost_entries_odd_ids_and_missing_times_survive_the_encoding(
    tmp_path: Path,
) -> None:
    rng = random.Random(7)
    lines = [
        {"t": 5.0, "node": "a", "inc": 1, "ev": "init", "clock": {"a": 1}, "link": "x",
         "promises": []},
        {"t": 5.5, "node": "a", "inc": 1, "ev": "send", "clock": {"a": 2, "b": 3}, "to": "b",
         "id": ["a", 1, 1]},
        {"node": "a", "inc": 2, "ev": "init", "clock": {"a": 1}, "link": "x", "promises": []},
        {"t": 4.0, "node": "a", "inc": 2, "ev": "send", "clock": {"a": 2}, "to": "zz",
         "id": ["q", 9, 3]},
        {"t": 6.0, "node": "a", "ev": "local", "clock": {"a": 3, "c": rng.randint(1, 99)},
         "text": "hi"},
    ]  # fmt: skip
    (tmp_path / "a.events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    model = build_model(tmp_path)
    data = page_data(model)
    assert_same(data, dict(model))
    assert data["mid"] == [1, "q:9:3"]
    assert data["untimed"] == [2]


def test_page_is_several_times_smaller_than_the_events_it_draws(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path, nodes=8, events=20_000, seed=5)
    logs = sum(f.stat().st_size for f in tmp_path.glob("*.events.jsonl"))
    page, _ = render_run(tmp_path)
    assert len(page.encode()) * 5 < logs, (len(page), logs)
    assert len(page.encode()) < 40 * 20_000


def test_samples_go_to_the_charts_not_the_diagram_and_survive_the_encoding(
    tmp_path: Path,
) -> None:
    write_synthetic_run(tmp_path, nodes=3, events=2000, seed=6)
    model = build_model(tmp_path)
    assert model["samples"], "the synthetic run writes samples"
    assert all(e["kind"] != "sample" for e in model["events"])
    assert model["summary"]["events"] == 2000
    data = page_data(model)
    cols, names = data["samples"], data["names"]
    assert len(cols["t"]) == len(model["samples"])
    rows = iter(cols["links"])
    for n, sample in enumerate(model["samples"]):
        assert names[cols["p"][n]] == sample["process"]
        assert data["t0"] + cols["t"][n] / 1e6 == pytest.approx(sample["time"], abs=2e-6)
        assert cols["inbox"][n] == sample["inbox"]
        for peer, figures in sample["links"].items():
            assert next(rows) == [n, names.index(peer), *figures]


def test_a_sample_with_odd_fields_is_charted_as_far_as_it_can_be(tmp_path: Path) -> None:
    lines = [
        {"t": 1.0, "node": "a", "inc": 1, "ev": "init", "clock": {"a": 1}, "link": "x",
         "promises": []},
        {"t": 1.5, "node": "a", "inc": 1, "ev": "sample", "clock": {"a": 1}, "inbox": "many",
         "links": {"b": [1, 2, "x", 4], "c": [1, 0, None, 0.05], "d": 7}},
        {"t": 2.0, "node": "a", "inc": 1, "ev": "sample", "clock": {"a": 1}, "links": []},
    ]  # fmt: skip
    (tmp_path / "a.events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    data = json.loads(render_run(tmp_path)[0].split('id="netclock-data">')[1].split("</script>")[0])
    assert data["samples"]["inbox"] == [-1, -1]
    assert data["samples"]["links"] == [[0, data["names"].index("c"), 1, 0, None, 0.05]]


def test_cli_draws_two_runs_side_by_side_beside_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_synthetic_run(tmp_path / "x", nodes=2, events=300, seed=1)
    write_synthetic_run(tmp_path / "y", nodes=2, events=400, seed=2)
    assert cli([str(tmp_path / "x"), str(tmp_path / "y")]) == 0
    out = tmp_path / "x-vs-y.html"
    assert f"wrote {out}: x: 300 events" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    pages = json.loads(page.split('id="netclock-pages">')[1].split("</script>")[0])
    assert [data_block(p)["summary"]["events"] for p in pages] == [300, 400]
    assert data_block(pages[0])["span"] == data_block(pages[1])["span"]
    assert len(re.findall(r"(?i)</script", page)) == 3, "inner pages stay inert text"


@pytest.mark.parametrize(
    ("paths", "says"),
    [
        (["a", "b", "c"], "3 paths given; name one run, or two to compare"),
        (["missing", "missing2"], "missing does not exist; give a run folder or a log file"),
    ],
)
def test_cli_refuses_three_runs_or_a_missing_one_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], paths: list[str], says: str
) -> None:
    assert cli([str(tmp_path / p) for p in paths]) == 2
    err = capsys.readouterr().err
    assert says in err
    assert err.count("\n") == 1


def redelivery_run(folder: Path) -> None:
    """a sends b one message; b delivers it, is killed, restarts and delivers it again."""
    a = [
        {
            "t": 1.0,
            "node": "a",
            "inc": 1,
            "ev": "init",
            "clock": {"a": 1},
            "link": "reliable",
            "promises": [],
        },
        {
            "t": 1.1,
            "node": "a",
            "inc": 1,
            "ev": "send",
            "clock": {"a": 2},
            "to": "b",
            "id": ["a", 1, 1],
        },
    ]
    b = [
        {"t": 1.0, "node": "b", "inc": 1, "ev": "init", "clock": {"b": 1}, "link": "reliable",
         "promises": []},
        {"t": 1.2, "node": "b", "inc": 1, "ev": "deliver", "clock": {"a": 2, "b": 2},
         "from": "a", "id": ["a", 1, 1], "msg_clock": {"a": 2}},
        {"t": 2.0, "node": "b", "inc": 2, "ev": "init", "clock": {"a": 2, "b": 3},
         "link": "reliable", "promises": []},
        {"t": 2.1, "node": "b", "inc": 2, "ev": "deliver", "clock": {"a": 2, "b": 4},
         "from": "a", "id": ["a", 1, 1], "msg_clock": {"a": 2}, "redelivered": True},
    ]  # fmt: skip
    for name, lines in (("a", a), ("b", b)):
        body = "".join(json.dumps(x) + "\n" for x in lines)
        (folder / f"{name}.events.jsonl").write_text(body)


def test_a_redelivery_after_a_restart_is_marked_and_not_counted_a_duplicate(
    tmp_path: Path,
) -> None:
    redelivery_run(tmp_path)
    model = build_model(tmp_path)
    again = [e["index"] for e in model["events"] if e["redelivered"]]
    assert [model["events"][i]["inc"] for i in again] == [2]
    assert model["summary"]["redelivered"] == 1
    assert model["summary"]["duplicates"] == 0
    assert model["messages"][0]["deliveries"][1] == again[0]
    data = page_data(model)
    assert data["redelivered"] == again
    assert data_block(render_run(tmp_path)[0])["redelivered"] == again


@pytest.mark.parametrize(("before", "zero"), [(0.5, "start"), (1000.0, "first event")])
def test_chart_time_counts_from_the_run_start_unless_it_is_implausibly_early(
    tmp_path: Path, before: float, zero: str
) -> None:
    write_synthetic_run(tmp_path, nodes=2, events=200, seed=8)
    first = min(
        json.loads(f.read_text().splitlines()[0])["t"] for f in tmp_path.glob("*.events.jsonl")
    )
    info = json.loads((tmp_path / "run.json").read_text())
    (tmp_path / "run.json").write_text(json.dumps({**info, "started": first - before}))
    data = data_block(render_run(tmp_path)[0])
    assert data["t0"] == pytest.approx(first - before if zero == "start" else first)
    assert_same(data, dict(build_model(tmp_path)))
