"""Reports and progress lines of large clusters: what has nothing to tell is summed up.

Past :data:`~netclock.tools.check.LISTED_NODES` nodes and
:data:`~netclock.tools.check.LISTED_PAIRS` pairs, ``netclock check`` lists only the nodes
and pairs with something to note (``--pairs`` lists every pair); past
:data:`~netclock.cluster.launcher.PROGRESS_NODES` nodes a progress line shows totals.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from netclock.cli.check import main as check_cli
from netclock.cluster.config import load_cluster
from netclock.cluster.launcher import PROGRESS_NODES, Child, Launcher
from netclock.observe.eventlog import Event
from netclock.tools.check import LISTED_PAIRS, PairCounts, check_run, format_report, load_run
from netclock.tools.check_byzantine import refusal_notes
from netclock.tools.synthetic import write_synthetic_run

PAIR_ROW = re.compile(r"^  n\d+ -> n\d+ ", re.MULTILINE)


def test_a_quiet_run_of_twelve_nodes_is_summed_up_in_two_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_synthetic_run(tmp_path, nodes=12, events=3000, link="reliable", loss=0.0, seed=3)
    report = check_run(load_run(tmp_path))
    text = format_report(report)
    assert report.ok, text
    nodes = next(line for line in text.splitlines() if line.startswith("nodes:"))
    assert re.fullmatch(
        r"nodes: 12 \(n0 \.\. n11\): 12 correct with one life each \(\d+-\d+ events\)", nodes
    )
    assert "  132 pairs, each delivered all it sent, nothing else to note" in text
    assert not PAIR_ROW.search(text)
    every = PAIR_ROW.findall(format_report(report, every_pair=True))
    assert len(every) == 132
    assert every[:11] == [f"  n0 -> n{i} " for i in range(1, 12)], "n2 comes before n10"
    assert check_cli([str(tmp_path), "--pairs"]) == 0
    assert len(PAIR_ROW.findall(capsys.readouterr().out)) == 132


def test_a_lossy_run_lists_its_worst_pairs_and_its_crashed_node(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, nodes=12, events=6000, loss=0.05, kills=1, seed=5)
    report = check_run(load_run(tmp_path))
    text = format_report(report)
    noted = [p for p in report.pairs if p.lost or p.duplicated or p.sent != p.delivered]
    assert len(noted) > LISTED_PAIRS  # the case under test: more to note than is listed
    rows = PAIR_ROW.findall(text)
    assert len(rows) == LISTED_PAIRS
    # the worst first: losses no crash explains before those the crash does
    worst = max(noted, key=lambda p: (p.lost - p.lost_crashed + p.duplicated, p.lost_crashed))
    assert f"  {worst.sender} -> {worst.receiver} " in rows
    quiet = len(report.pairs) - len(noted)
    summary = f"  {132 - LISTED_PAIRS} more pairs: "
    assert summary in text
    left = f"{len(noted) - LISTED_PAIRS} with something to note, none more than the last"
    assert left in text
    if quiet:
        assert f"{quiet} delivered all they sent, nothing else to note" in text
    (killed,) = run.killed
    nodes = next(line for line in text.splitlines() if line.startswith("nodes:"))
    assert "11 correct with one life each" in nodes
    assert re.search(rf"{killed} \(inc \d+, \d+ events, crashed\)", nodes), nodes


def test_a_pair_that_breaks_a_promise_comes_first_whatever_crashes_explain(
    tmp_path: Path,
) -> None:
    # A killed node hands back messages on many pairs; one duplicate on the perfect link
    # breaks no_duplication, and its pair must lead the list, not hide in the summary.
    write_synthetic_run(
        tmp_path, nodes=12, events=6000, link="reliable", loss=0.0, duplicates=0.002,
        kills=1, seed=8,
    )  # fmt: skip
    report = check_run(load_run(tmp_path))
    text = format_report(report)
    duplicated = [p for p in report.pairs if p.duplicated]
    assert duplicated, "the case under test: a duplicate"
    assert "no_duplication" in report.violated
    rows = PAIR_ROW.findall(text)
    first = max(duplicated, key=lambda p: p.duplicated)
    assert rows[0] == f"  {first.sender} -> {first.receiver} "
    assert {f"  {p.sender} -> {p.receiver} " for p in duplicated} <= set(rows)


def test_a_small_run_lists_every_node_and_pair(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path, nodes=3, events=300, link="reliable", loss=0.0, seed=1)
    text = format_report(check_run(load_run(tmp_path)))
    assert len(PAIR_ROW.findall(text)) == 6
    assert re.search(r"^nodes: n0 \(inc \d+, \d+ events, correct\), n1 ", text, re.MULTILINE)


@pytest.fixture
def launchers(tmp_path: Path) -> Iterator[Callable[[int], Launcher]]:
    """Launchers of ``n`` nodes that never start, their children's counts made up."""
    made: list[Launcher] = []

    def make(n: int) -> Launcher:
        made.append(_launcher(tmp_path / str(len(made)), n))
        return made[-1]

    yield make
    for launcher in made:
        launcher.record.close()
        launcher.output.close()


def _launcher(tmp_path: Path, n: int) -> Launcher:
    lines = ['name = "big"', 'link = "reliable"', 'program = "demos/pingpong.py:main"']
    for i in range(n):
        lines += ["[[node]]", f'id = "p{i:02d}"']
    (tmp_path / "run").mkdir(parents=True)
    path = tmp_path / "big.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    launcher = Launcher(load_cluster(path), tmp_path / "run", prompt=False)
    for i in range(n):
        child = Child(f"p{i:02d}", cast(Any, None))
        child.stats = {"sent": 10 + i, "delivered": 20 - i, "retransmitted": 1}
        launcher.children[child.id] = child
    return launcher


def test_progress_of_many_nodes_is_their_totals(launchers: Callable[[int], Launcher]) -> None:
    launcher = launchers(12)
    launcher.children["p03"].done = True
    launcher.children["p05"].killed = True
    line = launcher.progress_line()
    sent, delivered = sum(10 + i for i in range(12)), sum(20 - i for i in range(12))
    assert line == (
        f"12 nodes: sent {sent} deliv {delivered} retx 12 | fewest delivered: p11 (9)"
        " | 10 running, 1 done, 1 killed"
    )
    launcher.children["p11"].killed = True  # the fewest among the running, not the killed
    assert " | fewest delivered: p10 (10) | 9 running, 1 done, 2 killed" in launcher.progress_line()


def test_progress_of_a_few_nodes_names_each(launchers: Callable[[int], Launcher]) -> None:
    launcher = launchers(PROGRESS_NODES)
    launcher.children["p01"].paused = True
    parts = launcher.progress_line().split(" | ")
    assert parts[0] == "p00: sent 10 deliv 20 retx 1"
    assert parts[1] == "p01: sent 11 deliv 19 retx 1 paused"
    assert len(parts) == PROGRESS_NODES


@pytest.fixture(autouse=True)
def _loop() -> Any:
    """A Child makes asyncio events; give them a loop of their own."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def test_the_started_line_of_many_nodes_on_one_host_names_the_host_once(
    launchers: Callable[[int], Launcher],
) -> None:
    many, few = launchers(12), launchers(2)
    for launcher in (many, few):
        for i, child in enumerate(launcher.children.values()):
            child.address = ("127.0.0.1", 40000 + i)
    assert many._started_line() == "started 12 nodes over reliable on 127.0.0.1: " + " ".join(
        f"p{i:02d}:{40000 + i}" for i in range(12)
    )
    assert few._started_line() == "started p00@127.0.0.1:40000, p01@127.0.0.1:40001 over reliable"


def test_hand_backs_a_crash_explains_come_after_what_breaks_a_promise(tmp_path: Path) -> None:
    run = write_synthetic_run(
        tmp_path, nodes=12, events=3000, link="reliable", loss=0.0, kills=1, seed=4
    )
    (killed,) = run.killed
    report = check_run(load_run(tmp_path))
    others = [n.node for n in report.nodes if n.node != killed]
    handed_back = [
        PairCounts(sender, killed, sent=10, delivered=6, failed=4) for sender in others
    ] + [PairCounts(killed, receiver, sent=5, delivered=1, failed=4) for receiver in others]
    dup = PairCounts(others[3], others[4], sent=9, delivered=10, duplicated=1)
    lost = PairCounts(others[5], others[6], sent=9, delivered=6, lost=3)
    quiet = [PairCounts(others[0], others[i], sent=7, delivered=7) for i in range(1, 3)]
    text = format_report(replace(report, pairs=(*handed_back, dup, lost, *quiet)))
    rows = PAIR_ROW.findall(text)
    assert rows[:2] == [
        f"  {lost.sender} -> {lost.receiver} ",
        f"  {dup.sender} -> {dup.receiver} ",
    ]
    assert len(rows) == LISTED_PAIRS
    assert f"  {len(handed_back) + 4 - LISTED_PAIRS} more pairs: 2 delivered all they sent" in text


def test_refusals_of_many_nodes_are_one_note_naming_the_most_refusing() -> None:
    def refused(node: str, count: int) -> list[Event]:
        text = "sealed: counter accepted before"
        return [Event(f"{node}.events.jsonl:{i}", node, 1, "refused", {node: 1}, "x", text=text)
                for i in range(count)]  # fmt: skip

    few = [e for i in range(1, 4) for e in refused(f"n{i}", i)]
    assert refusal_notes(few, 8) == [
        f"n{i} refused {i} input(s) at its link (e.g. from x: sealed: counter accepted before)"
        for i in range(1, 4)
    ]
    many = [e for i in range(1, 13) for e in refused(f"n{i}", 1 + i % 3)]
    assert refusal_notes(many, 8) == [
        "12 nodes refused 24 input(s) at their links (most: n2 3, n5 3, n8 3; e.g. from x: "
        "sealed: counter accepted before)"
    ]
