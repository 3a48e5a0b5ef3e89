"""Specification of the checker's broadcast properties on hand-made logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netclock.errors import ConfigError
from netclock.observe.eventlog import Event
from netclock.tools.check import Incarnation, Run, Status, check_run
from netclock.tools.check_broadcast import broadcast_properties, read_byzantine


class Log:
    """Hand-written logs: each node's clock follows the rules, as a Node's would."""

    def __init__(self, *nodes: str) -> None:
        self.events: dict[str, list[Event]] = {n: [] for n in nodes}
        self.clocks: dict[str, dict[str, int]] = {n: {n: 1} for n in nodes}
        self.sent: dict[tuple[str, int], dict[str, int]] = {}
        for n in nodes:
            self._add(n, "init", link="reliable", promises=())

    def _add(self, node: str, ev: str, **fields: Any) -> None:
        where = f"{node}:{len(self.events[node]) + 1}"
        self.events[node].append(Event(where, node, 1, ev, dict(self.clocks[node]), **fields))

    def bcast(self, node: str, seq: int, kind: str) -> None:
        self.clocks[node][node] += 1
        self.sent[(node, seq)] = dict(self.clocks[node])
        self._add(node, "bcast", mid=(node, 1, seq), bkind=kind)

    def deliver(
        self, node: str, origin: str, seq: int, kind: str, digest: str | None = None
    ) -> None:
        clock = self.clocks[node]
        msg_clock = self.sent.get((origin, seq), {origin: 1})
        for pid, value in msg_clock.items():
            if pid != node:
                clock[pid] = max(clock.get(pid, 0), value)
        clock[node] += 1
        self._add(
            node,
            "bdeliver",
            peer=origin,
            mid=(origin, 1, seq),
            msg_clock=msg_clock,
            bkind=kind,
            digest=digest,
        )

    def run(self, folder: Path = Path("/nonexistent")) -> Run:
        for n, events in self.events.items():
            if events[-1].ev != "stop":
                self._add(n, "stop", clean=True)
        nodes = {n: (Incarnation(n, 1, tuple(evs)),) for n, evs in self.events.items()}
        return Run(folder, None, "reliable", None, tuple(nodes), nodes)


def results(run: Run, byzantine: tuple[str, ...] = ()) -> dict[str, Any]:
    return {p.name: p for p in broadcast_properties(run, byzantine)}


def question_and_answer(kind: str, *, answer_first_at_c: bool) -> Log:
    log = Log("a", "b", "c")
    log.bcast("a", 1, kind)
    log.deliver("a", "a", 1, kind)
    log.deliver("b", "a", 1, kind)
    log.bcast("b", 1, kind)  # the answer: b delivered the question first
    log.deliver("b", "b", 1, kind)
    log.deliver("a", "b", 1, kind)
    order = [("b", 1), ("a", 1)] if answer_first_at_c else [("a", 1), ("b", 1)]
    for origin, seq in order:
        log.deliver("c", origin, seq, kind)
    return log


def test_an_answer_delivered_before_its_question_breaks_causal_order() -> None:
    found = results(question_and_answer("causal", answer_first_at_c=True).run())
    assert found["causal/causal_order"].status is Status.VIOLATED
    assert "c:1 delivered b:1:1 before a:1:1" in found["causal/causal_order"].examples[0]
    assert found["causal/fifo"].status is Status.OK
    assert found["causal/agreement"].status is Status.OK


def test_under_best_effort_the_same_order_is_information_only() -> None:
    run = question_and_answer("best-effort", answer_first_at_c=True).run()
    found = results(run)
    assert found["best-effort/causal_order"].status is Status.DOES_NOT_HOLD
    assert not found["best-effort/causal_order"].promised
    assert check_run(run).ok


def test_the_question_first_everywhere_holds() -> None:
    found = results(question_and_answer("causal", answer_first_at_c=False).run())
    assert all(p.status is Status.OK for p in found.values()), found


def test_a_broadcast_one_correct_node_delivered_and_another_missed_breaks_agreement() -> None:
    log = Log("a", "b", "c")
    log.bcast("a", 1, "reliable")
    log.deliver("a", "a", 1, "reliable")
    log.deliver("b", "a", 1, "reliable")
    found = results(log.run())
    assert found["reliable/agreement"].status is Status.VIOLATED
    assert found["reliable/validity"].count == 1
    assert "c never delivered a:1:1" in found["reliable/agreement"].examples[0]


def test_fifo_gap_is_a_violation_of_a_fifo_broadcast() -> None:
    log = Log("a", "b")
    for seq in (1, 2):
        log.bcast("a", seq, "fifo")
        log.deliver("a", "a", seq, "fifo")
    log.deliver("b", "a", 2, "fifo")
    log.deliver("b", "a", 1, "fifo")
    found = results(log.run())
    assert found["fifo/fifo"].status is Status.VIOLATED
    assert found["fifo/fifo"].examples == ("b:1 delivered a:1:2 before a:1:1",)


def test_duplicate_and_created_deliveries() -> None:
    log = Log("a", "b")
    log.bcast("a", 1, "best-effort")
    log.deliver("a", "a", 1, "best-effort")
    log.deliver("b", "a", 1, "best-effort")
    log.deliver("b", "a", 1, "best-effort")
    log.deliver("b", "a", 7, "best-effort")
    found = results(log.run())
    assert found["best-effort/no_duplication"].count == 1
    assert found["best-effort/no_creation"].count == 1


def test_byzantine_consistency_among_correct_nodes_and_the_liar_is_excused() -> None:
    log = Log("z", "b", "c", "d")
    log.deliver("b", "z", 1, "byzantine", digest="aa")
    log.deliver("c", "z", 1, "byzantine", digest="bb")
    log.deliver("d", "z", 1, "byzantine", digest="aa")
    found = results(log.run(), ("z",))
    assert found["byzantine/consistency"].status is Status.VIOLATED
    assert found["byzantine/no_creation"].status is Status.OK  # z lies: it logs nothing
    assert found["byzantine/agreement"].status is Status.OK
    unknown = results(log.run())
    assert unknown["byzantine/no_creation"].count == 3  # nobody said z lies: created
    notes: list[str] = []
    broadcast_properties(log.run(), ("z",), notes)
    assert notes == [
        "z made to lie (byzantine.json): not a correct process for the broadcast properties"
    ]


def test_the_byzantine_record_is_read_from_the_run_folder(tmp_path: Path) -> None:
    assert read_byzantine(tmp_path) == frozenset()
    (tmp_path / "byzantine.json").write_text(json.dumps({"nodes": ["z"]}))
    assert read_byzantine(tmp_path) == {"z"}
    (tmp_path / "byzantine.json").write_text(json.dumps({"nodes": "z"}))
    with pytest.raises(ConfigError, match=r"byzantine\.json must hold"):
        read_byzantine(tmp_path)


def test_a_run_without_broadcasts_has_no_broadcast_properties() -> None:
    assert broadcast_properties(Log("a").run()) == []
