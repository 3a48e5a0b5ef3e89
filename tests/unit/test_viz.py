"""Specification of the space-time diagram's model and page (netclock.tools.viz).

Runs are simulated in memory with the clock rules of docs/eventlog.md and written as
JSON-lines and GoVector logs; the seed of each simulation is in every assertion message.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.cli.viz import main as cli
from netclock.clock import VectorClock
from netclock.errors import ConfigError
from netclock.observe.shiviz import format_event, merge_logs
from netclock.tools.viz import Model, build_model, longest_chains, render_html

PROPERTY = settings(max_examples=25, deadline=None, print_blob=True)


@dataclass
class SimRun:
    """What a simulation wrote, and the truth to compare the model with."""

    folder: Path
    seed: int
    events: int = 0
    sent: int = 0
    lost_ids: set[str] = field(default_factory=set)
    duplicates: int = 0
    failed_ids: set[str] = field(default_factory=set)
    # (sender, sender's own counter at the send) -> [(receiver, receiver's own counter)]
    pairs: dict[tuple[str, int], list[tuple[str, int]]] = field(default_factory=dict)


def simulate(
    folder: Path,
    *,
    seed: int,
    nodes: tuple[str, ...] = ("a", "b", "c"),
    messages: int = 30,
    lost: int = 2,
    duplicates: int = 1,
    locals_: int = 4,
    failed: int = 0,
    crash: str | None = None,
    fifo: bool = False,
) -> SimRun:
    """A random run: sends, deliveries in random order, some lost, some delivered twice.

    ``failed`` of the lost messages get a ``failed`` event on their sender; ``crash`` ends
    without ``stop``, killed (the fault record says so) after its last event. With ``fifo``
    every message is delivered before the next is sent.
    """
    rng = random.Random(seed)
    run = SimRun(folder, seed)
    clocks = {n: VectorClock() for n in nodes}
    jsonl: dict[str, list[str]] = {n: [] for n in nodes}
    govec: dict[str, list[str]] = {n: [] for n in nodes}
    seqs = dict.fromkeys(nodes, 0)
    t = [1_700_000_000.0]

    def record(node: str, ev: str, logged: str, **fields: Any) -> None:
        t[0] += 0.001
        entry = {"t": t[0], "node": node, "inc": 1, "ev": ev, "clock": clocks[node].to_dict()}
        entry.update(fields)
        jsonl[node].append(json.dumps(entry))
        run.events += 1
        if ev not in ("failed", "drop", "stop"):
            govec[node].append(format_event(node, clocks[node], logged))

    for n in nodes:
        clocks[n] = clocks[n].tick(n)
        record(n, "init", "init", link="fairloss", promises=["no_creation"])
    lost_at = set(rng.sample(range(messages), lost))
    dup_at = set(rng.sample(sorted(set(range(messages)) - lost_at), duplicates))
    in_flight: list[tuple[str, str, list[Any], VectorClock, int]] = []
    locals_left = locals_
    sent = 0

    def deliver(item: tuple[str, str, list[Any], VectorClock, int]) -> None:
        sender, to, msg_id, msg_clock, own = item
        clocks[to] = clocks[to].receive(to, msg_clock)
        key = ":".join(map(str, msg_id))
        record(
            to,
            "deliver",
            f"deliver {key} from {sender}",
            id=msg_id,
            msg_clock=msg_clock.to_dict(),
            **{"from": sender},
        )
        run.pairs.setdefault((sender, own), []).append((to, clocks[to][to]))

    while sent < messages or in_flight or locals_left:
        choice = rng.random()
        if sent < messages and (choice < 0.45 or not in_flight) and not (fifo and in_flight):
            sender = rng.choice(nodes)
            to = rng.choice([n for n in nodes if n != sender])
            seqs[sender] += 1
            msg_id: list[Any] = [sender, 1, seqs[sender]]
            clocks[sender] = clocks[sender].tick(sender)
            key = ":".join(map(str, msg_id))
            record(sender, "send", f"send {key} to {to}", to=to, id=msg_id)
            run.sent += 1
            if sent in lost_at:
                run.lost_ids.add(key)
                if len(run.failed_ids) < failed:
                    run.failed_ids.add(key)
                    record(sender, "failed", "failed", to=to, id=msg_id)
            else:
                copies = 2 if sent in dup_at else 1
                run.duplicates += copies - 1
                for _ in range(copies):
                    in_flight.append((sender, to, msg_id, clocks[sender], clocks[sender][sender]))
            sent += 1
        elif in_flight and choice < 0.9:
            deliver(in_flight.pop(0 if fifo else rng.randrange(len(in_flight))))
        elif locals_left:
            node = rng.choice(nodes)
            clocks[node] = clocks[node].tick(node)
            record(node, "local", f"work {locals_left}", text=f"work {locals_left}")
            locals_left -= 1
    for n in nodes:
        if n != crash:
            record(n, "stop", "stop", clean=True, stats={})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"name": f"sim-{seed}", "nodes": list(nodes)}))
    for n in nodes:
        (folder / f"{n}.events.jsonl").write_text("".join(line + "\n" for line in jsonl[n]))
        (folder / f"{n}.log").write_text("".join(govec[n]))
    if crash is not None:
        kill = {"t": t[0] + 0.001, "at": 1.5, "do": "kill", "node": crash, "by": "action"}
        (folder / "faults.jsonl").write_text(json.dumps(kill) + "\n")
    return run


def _own(model: Model, index: int) -> tuple[str, int]:
    event = model["events"][index]
    return event["process"], event["clock"][event["process"]]


def _assert_forward(model: Model, why: str) -> None:
    events = model["events"]
    for m in model["messages"]:
        for d in m["deliveries"]:
            assert events[d]["rank"] > events[m["send"]]["rank"], why
    last: dict[str, int] = {}
    for e in events:
        assert e["rank"] > last.get(e["process"], -1), why
        last[e["process"]] = e["rank"]


# -- model from the JSON-lines log -------------------------------------------------------------


def test_jsonl_model_counts_processes_events_messages_lost_and_duplicates(tmp_path: Path) -> None:
    run = simulate(tmp_path, seed=7, messages=30, lost=2, duplicates=2)
    model = build_model(tmp_path)
    s, why = model["summary"], f"seed {run.seed}"
    assert [p["id"] for p in model["processes"]] == ["a", "b", "c"], why
    assert s["processes"] == 3, why
    assert s["messages"] == run.sent == 30, why
    assert s["lost"] == 2, why
    assert {m["id"] for m in model["messages"] if m["lost"]} == run.lost_ids, why
    assert s["duplicates"] == run.duplicates == 2, why
    assert s["events"] == run.events, why
    assert s["crashed"] == 0, why
    assert model["title"] == "sim-7", why


def test_jsonl_model_matches_every_delivery_to_its_send_by_id(tmp_path: Path) -> None:
    run = simulate(tmp_path, seed=11, messages=25, lost=1, duplicates=1)
    model = build_model(tmp_path)
    found = {
        _own(model, m["send"]): [_own(model, d) for d in m["deliveries"]]
        for m in model["messages"]
        if m["deliveries"]
    }
    assert found == run.pairs, f"seed {run.seed}"


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), fifo=st.booleans())
def test_ranks_grow_along_every_process_and_every_message(
    tmp_path_factory: pytest.TempPathFactory, seed: int, fifo: bool
) -> None:
    folder = tmp_path_factory.mktemp("run")
    simulate(folder, seed=seed, messages=20, lost=1, duplicates=1, fifo=fifo)
    model = build_model(folder)
    _assert_forward(model, f"seed {seed}")


def test_rank_is_the_longest_causal_chain_so_concurrent_starts_share_row_zero(
    tmp_path: Path,
) -> None:
    simulate(tmp_path, seed=3)
    model = build_model(tmp_path)
    firsts = [next(e for e in model["events"] if e["process"] == p) for p in "abc"]
    assert [e["rank"] for e in firsts] == [0, 0, 0]
    assert model["summary"]["rows"] == max(e["rank"] for e in model["events"]) + 1


def test_lost_message_is_one_sent_but_never_delivered_and_failed_is_marked(
    tmp_path: Path,
) -> None:
    run = simulate(tmp_path, seed=5, messages=12, lost=3, duplicates=0, failed=2)
    model = build_model(tmp_path)
    lost = [m for m in model["messages"] if m["lost"]]
    why = f"seed {run.seed}"
    assert {m["id"] for m in lost} == run.lost_ids, why
    assert {m["id"] for m in model["messages"] if m["failed"]} == run.failed_ids, why
    assert model["summary"]["failed"] == 2, why
    assert model["summary"]["lost"] == 1, f"{why}: handed back is not lost, as the checker says"
    for m in lost:
        assert m["deliveries"] == [], why
        if m["failed"]:
            assert m["failed_event"] is not None, why
            assert model["events"][m["failed_event"]]["kind"] == "failed", why


def test_process_the_fault_record_shows_killed_is_marked_crashed_after_its_last_event(
    tmp_path: Path,
) -> None:
    simulate(tmp_path, seed=9, crash="b")
    model = build_model(tmp_path)
    crashed = {p["id"]: p["crashed"] for p in model["processes"]}
    assert crashed == {"a": False, "b": True, "c": False}
    assert model["summary"]["crashed"] == 1
    (crash,) = model["processes"][1]["crashes"]
    last_b = max(e["index"] for e in model["events"] if e["process"] == "b")
    assert (crash["at"], crash["after"], crash["text"]) == (1.5, last_b, "killed at 1.50 s")
    assert '"crashes":[{"at":1.5' in render_html(model)


def test_without_a_fault_record_a_log_without_stop_is_not_a_crash(tmp_path: Path) -> None:
    simulate(tmp_path, seed=9, crash="b")
    (tmp_path / "faults.jsonl").unlink()
    model = build_model(tmp_path)
    assert [p["crashed"] for p in model["processes"]] == [False, False, False]
    assert model["summary"]["crashed"] == 0


def test_a_restart_marks_the_crash_between_the_two_lives(tmp_path: Path) -> None:
    t0 = 1_700_000_000.0
    lines = [
        {"t": t0 + 1, "node": "a", "inc": 1, "ev": "init", "clock": {"a": 1}, "link": "reliable"},
        {"t": t0 + 2, "node": "a", "inc": 1, "ev": "local", "clock": {"a": 2}, "text": "x"},
        {"t": t0 + 4, "node": "a", "inc": 2, "ev": "init", "clock": {"a": 3}, "link": "reliable"},
    ]
    (tmp_path / "a.events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    record = [
        {"t": t0, "at": 0.0, "do": "start", "node": "a", "pid": 1, "incarnation": 1},
        {"t": t0 + 3, "at": 3.0, "do": "kill", "node": "a", "by": "action"},
        {"t": t0 + 3.5, "at": 3.5, "do": "start", "node": "a", "pid": 2, "restart": True},
    ]
    (tmp_path / "faults.jsonl").write_text("".join(json.dumps(x) + "\n" for x in record))
    (process,) = build_model(tmp_path)["processes"]
    assert process["crashed"] is True
    assert [(c["after"], c["at"]) for c in process["crashes"]] == [(1, 3.0)]
    assert process["restarts"] == [3.5]


def test_an_unreadable_fault_record_is_skipped_and_counted(tmp_path: Path) -> None:
    simulate(tmp_path, seed=9)
    (tmp_path / "faults.jsonl").write_text("garbage\n{}\n")
    model = build_model(tmp_path)
    assert model["summary"]["skipped"] == 1
    assert model["summary"]["crashed"] == 0


def test_restarted_process_lists_its_incarnations_and_odd_values_are_tolerated(
    tmp_path: Path,
) -> None:
    lines = [
        {"t": float("nan"), "node": "a", "inc": 1, "ev": "init", "clock": {"a": 1}},
        {"t": 2.0, "node": "a", "inc": 2, "ev": "init", "clock": {"a": 2}, "promises": "x"},
        {"t": 3.0, "node": "a", "inc": True, "ev": "local", "clock": {"a": 3}, "text": 7},
    ]
    (tmp_path / "a.events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    model = build_model(tmp_path)
    assert model["processes"][0]["incarnations"] == [1, 2]
    assert model["events"][0]["time"] is None
    assert model["events"][2]["inc"] is None
    assert model["events"][2]["text"] == "7"
    assert json.loads(json.dumps(_data_block(render_html(model))))["summary"]["events"] == 3


def test_cut_last_line_of_a_killed_node_is_skipped_and_counted(tmp_path: Path) -> None:
    simulate(tmp_path, seed=2, crash="c")
    with (tmp_path / "c.events.jsonl").open("a") as f:
        f.write('{"t": 1.0, "node": "c", "ev": "loc')
    model = build_model(tmp_path)
    assert model["summary"]["skipped"] == 1
    assert model["processes"][2]["crashed"] is True


def test_delivery_whose_send_is_missing_is_reported_unmatched(tmp_path: Path) -> None:
    line = {
        "t": 1.0,
        "node": "b",
        "inc": 1,
        "ev": "deliver",
        "clock": {"a": 4, "b": 2},
        "from": "a",
        "id": ["a", 1, 9],
        "msg_clock": {"a": 4},
    }
    init = {"t": 0.5, "node": "b", "inc": 1, "ev": "init", "clock": {"b": 1}}
    (tmp_path / "b.events.jsonl").write_text(json.dumps(init) + "\n" + json.dumps(line) + "\n")
    model = build_model(tmp_path)
    assert model["unmatched"] == [1]
    assert model["summary"]["unmatched"] == 1
    assert model["summary"]["messages"] == 0


def test_delivery_logged_before_its_own_send_does_not_hang_and_is_counted(
    tmp_path: Path,
) -> None:
    def ev(node: str, kind: str, clock: dict[str, int], **f: Any) -> str:
        return json.dumps({"t": 0, "node": node, "inc": 1, "ev": kind, "clock": clock, **f})

    # a delivers b's message, and b delivers a's message, each before sending its own.
    a = [
        ev("a", "deliver", {"a": 1, "b": 1}, id=["b", 1, 1], **{"from": "b"}),
        ev("a", "send", {"a": 2, "b": 1}, id=["a", 1, 1], to="b"),
    ]
    b = [
        ev("b", "deliver", {"a": 2, "b": 1}, id=["a", 1, 1], **{"from": "a"}),
        ev("b", "send", {"a": 2, "b": 2}, id=["b", 1, 1], to="a"),
    ]
    (tmp_path / "a.events.jsonl").write_text("\n".join(a) + "\n")
    (tmp_path / "b.events.jsonl").write_text("\n".join(b) + "\n")
    model = build_model(tmp_path)
    assert model["summary"]["inconsistent"] == 1
    assert len(model["events"]) == 4


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_longest_chains_are_the_longest_paths_of_a_consistent_run(
    sizes: list[int], rng: random.Random
) -> None:
    # events numbered lane by lane; messages from any event to a later one of another
    # lane in one global order (so no cycle), found again by a plain recursion
    first = [0]
    for size in sizes:
        first.append(first[-1] + size)
    n = first[-1]
    order = list(range(n))
    rng.shuffle(order)
    for p in range(len(sizes)):  # program order within the global order
        lane = sorted(order[first[p] : first[p + 1]])
        for i, at in zip(range(first[p], first[p + 1]), lane, strict=True):
            order[i] = at
    lane_of = [p for p in range(len(sizes)) for _ in range(sizes[p])]
    edges = [
        (i, j)
        for i in range(n)
        for j in range(n)
        if lane_of[i] != lane_of[j] and order[i] < order[j] and rng.random() < 0.2
    ]
    before: dict[int, list[int]] = {j: [i for i, k in edges if k == j] for j in range(n)}
    for j in range(n):
        if j > first[lane_of[j]]:
            before[j].append(j - 1)
    rank: dict[int, int] = {}
    for j in sorted(range(n), key=order.__getitem__):
        rank[j] = max((rank[i] + 1 for i in before[j]), default=0)
    got, broken = longest_chains(first, [i for i, _ in edges], [j for _, j in edges])
    assert broken == 0
    assert list(got) == [rank[j] for j in range(n)]


# -- model from a GoVector log -------------------------------------------------------------------

GOVECTOR_LOG = """\
(?<host>\\S*) (?<clock>{.*})\\n(?<event>.*)

client {"client":1}
Initialization Complete
server {"server":1}
Initialization Complete
client {"client":2}
sending request to server
server {"client":2, "server":2}
received request
server {"client":2, "server":3}
sending reply to client
client {"client":3}
sending request 2 to server
client {"client":4, "server":3}
received reply
server {"client":2, "server":4}
sending reply 2 to client
"""


def test_govector_receive_is_matched_to_the_send_whose_counter_its_clock_rose_to(
    tmp_path: Path,
) -> None:
    path = tmp_path / "merged.log"
    path.write_text(GOVECTOR_LOG)
    model = build_model(path)
    pairs = {
        _own(model, m["send"]): [_own(model, d) for d in m["deliveries"]] for m in model["messages"]
    }
    assert pairs == {
        ("client", 2): [("server", 2)],
        ("server", 3): [("client", 4)],
        ("client", 3): [],  # its text says "sending" and nobody received it
        ("server", 4): [],
    }
    assert model["summary"]["lost"] == 2
    lost_to = {_own(model, m["send"]): m["to"] for m in model["messages"] if m["lost"]}
    assert lost_to == {("client", 3): "server", ("server", 4): "client"}
    assert model["source"] == "govector"
    assert model["processes"][0]["crashed"] is None
    _assert_forward(model, "fixed log")


def test_govector_receive_picks_the_sender_not_a_process_it_learned_of_transitively(
    tmp_path: Path,
) -> None:
    log = (
        'q {"q":1}\nsend to p\n'
        'p {"p":1, "q":1}\nreceive from q\n'
        'p {"p":2, "q":1}\nsend to h\n'
        'h {"h":1, "p":2, "q":1}\nreceive\n'
    )
    path = tmp_path / "three.log"
    path.write_text(log)
    model = build_model(path)
    pairs = {
        _own(model, m["send"]): [_own(model, d) for d in m["deliveries"]] for m in model["messages"]
    }
    assert pairs == {("q", 1): [("p", 1)], ("p", 2): [("h", 1)]}


@pytest.mark.parametrize("merged", [False, True])
def test_govector_matching_agrees_with_ids_on_a_fifo_run(tmp_path: Path, merged: bool) -> None:
    run = simulate(tmp_path / "run", seed=21, messages=25, lost=2, duplicates=0, fifo=True)
    truth = build_model(run.folder)
    if merged:
        merge_logs(sorted(run.folder.glob("*.log")), tmp_path / "merged.log")
        model = build_model(tmp_path / "merged.log")
    else:
        for path in run.folder.glob("*.events.jsonl"):
            path.unlink()
        model = build_model(run.folder)
    assert model["source"] == "govector"

    def pairs(m: Model) -> dict[tuple[str, int], list[tuple[str, int]]]:
        return {_own(m, x["send"]): [_own(m, d) for d in x["deliveries"]] for x in m["messages"]}

    assert pairs(model) == pairs(truth), f"seed {run.seed}"
    assert model["summary"]["lost"] == 2, f"seed {run.seed}"


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1))
def test_govector_matching_only_pairs_real_sends_and_deliveries(
    tmp_path_factory: pytest.TempPathFactory, seed: int
) -> None:
    folder = tmp_path_factory.mktemp("run")
    run = simulate(folder, seed=seed, messages=20, lost=1, duplicates=1)
    for path in folder.glob("*.events.jsonl"):
        path.unlink()
    model = build_model(folder)
    for m in model["messages"]:
        for d in m["deliveries"]:
            assert _own(model, d) in run.pairs[_own(model, m["send"])], f"seed {seed}"
    _assert_forward(model, f"seed {seed}")


# -- the page -------------------------------------------------------------------------------

HOSTILE = '</script><script>window.pwned=1</script><!-- \u2028 & "quotes" </SCRIPT >'


def _data_block(page: str) -> Any:
    start = page.index('<script type="application/json" id="netclock-data">')
    start = page.index(">", start) + 1
    end = page.index("</script>", start)
    return json.loads(page[start:end])


def test_hostile_event_text_cannot_close_the_script_element(tmp_path: Path) -> None:
    init = {"t": 0, "node": "a", "inc": 1, "ev": "init", "clock": {"a": 1}}
    local = {"t": 1, "node": "a", "inc": 1, "ev": "local", "clock": {"a": 2}, "text": HOSTILE}
    (tmp_path / "a.events.jsonl").write_text(json.dumps(init) + "\n" + json.dumps(local) + "\n")
    (tmp_path / "run.json").write_text(json.dumps({"name": "<b>evil</b>", "nodes": ["a"]}))
    page = render_html(build_model(tmp_path))
    data = _data_block(page)
    assert data["text"]["1"] == HOSTILE
    assert "<script>window.pwned" not in page
    assert len(re.findall(r"(?i)</script", page)) == 2
    assert "<b>evil</b>" not in page
    assert "&lt;b&gt;evil&lt;/b&gt;" in page


def test_page_is_self_contained_no_external_resources(tmp_path: Path) -> None:
    simulate(tmp_path, seed=1)
    page = render_html(build_model(tmp_path))
    assert not re.search(r"""(?i)\b(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page
    assert "__NETCLOCK_" not in page
    assert page.count("<script") == 2


def test_five_thousand_event_model_renders_to_a_page_of_reasonable_size(tmp_path: Path) -> None:
    run = simulate(
        tmp_path,
        seed=4,
        nodes=("a", "b", "c", "d", "e"),
        messages=2400,
        lost=20,
        duplicates=10,
        locals_=220,
    )
    model = build_model(tmp_path)
    assert model["summary"]["events"] >= 5000, f"seed {run.seed}"
    page = render_html(model)
    assert len(page.encode()) < 1_500_000, f"seed {run.seed}: {len(page)} bytes"
    assert _data_block(page)["summary"]["events"] == model["summary"]["events"]


def test_long_event_text_is_cut_in_the_model(tmp_path: Path) -> None:
    local = {"t": 1, "node": "a", "inc": 1, "ev": "local", "clock": {"a": 1}, "text": "x" * 10_000}
    (tmp_path / "a.events.jsonl").write_text(json.dumps(local) + "\n")
    model = build_model(tmp_path)
    assert len(model["events"][0]["text"]) <= 400


# -- the command line ------------------------------------------------------------------------


def test_cli_writes_the_page_and_reports_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    simulate(tmp_path / "run", seed=8, messages=10, lost=1)
    out = tmp_path / "out.html"
    assert cli([str(tmp_path / "run"), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "10 messages, 1 lost" in capsys.readouterr().out


def test_cli_defaults_to_viewer_html_in_the_run_folder(tmp_path: Path) -> None:
    simulate(tmp_path, seed=8, messages=5, lost=0, duplicates=0)
    assert cli([str(tmp_path)]) == 0
    assert (tmp_path / "viewer.html").is_file()


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        ("missing", "does not exist"),
        ("empty_folder", "holds no"),
        ("not_govector", "GoVector"),
    ],
)
def test_cli_error_is_one_sentence_on_stderr_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, needle: str
) -> None:
    target = tmp_path / "x"
    if setup == "empty_folder":
        target.mkdir()
    elif setup == "not_govector":
        target = tmp_path / "notes.log"
        target.write_text("hello world\nthis is not a log\n")
    assert cli([str(target), "-o", str(tmp_path / "o.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("netclock viz: ")
    assert needle in err
    assert err.count("\n") == 1
    assert not (tmp_path / "o.html").exists()


def test_cli_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli([]) == 2
    assert "usage" in capsys.readouterr().err


def test_build_model_raises_config_error_for_a_folder_without_events(tmp_path: Path) -> None:
    (tmp_path / "a.events.jsonl").write_text("")
    with pytest.raises(ConfigError, match="no events"):
        build_model(tmp_path)


def test_each_process_names_the_host_whose_clock_its_wall_times_are(tmp_path: Path) -> None:
    for node, host in (("a", "node-1.cluster"), ("b", None)):
        init = {"t": 1.0, "node": node, "inc": 1, "ev": "init", "clock": {node: 1}, "link": "tls"}
        if host is not None:
            init["host"] = host
        (tmp_path / f"{node}.events.jsonl").write_text(json.dumps(init) + "\n")
    processes = build_model(tmp_path)["processes"]
    assert {p["id"]: p["host"] for p in processes} == {"a": "node-1.cluster", "b": None}
