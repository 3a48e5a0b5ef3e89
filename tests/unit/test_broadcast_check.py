"""Specification of the checker's broadcast properties on hand-made logs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from netclock.errors import ConfigError
from netclock.observe.eventlog import Event
from netclock.tools.check import Incarnation, Run, Status, check_run, format_report, load_run
from netclock.tools.check_broadcast import (
    PROMISES,
    BroadcastEvents,
    broadcast_properties,
    read_byzantine,
)
from netclock.tools.synthetic_broadcast import BroadcastFaults, write_broadcast_run


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


# -- runs written by the synthetic broadcast writer, checked against what it injected ---------
def check_folder(folder: Path) -> dict[str, Any]:
    return {p.name: p for p in check_run(load_run(folder)).properties if "/" in p.name}


@pytest.mark.parametrize("kind", sorted(PROMISES))
def test_a_run_without_faults_keeps_every_property_of_its_kind(tmp_path: Path, kind: str) -> None:
    run = write_broadcast_run(tmp_path, nodes=4, events=1500, kind=kind, seed=1)
    found = check_folder(tmp_path)
    assert run.broadcasts > 100
    assert {p.status for p in found.values()} <= {Status.OK, Status.HOLDS}, found
    assert len(found) == len(PROMISES[kind]) + len(
        [n for n in ("agreement", "fifo", "causal_order") if n not in PROMISES[kind]]
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_counts_match_what_the_writer_injected(tmp_path: Path, seed: int) -> None:
    faults = BroadcastFaults(loss=0.03, duplicates=0.03, created=0.01)
    run = write_broadcast_run(tmp_path, nodes=5, events=3000, kind="reliable", faults=faults,
                              seed=seed)  # fmt: skip
    found = check_folder(tmp_path)
    assert min(run.lost, run.duplicated, run.created) > 0, f"seed={seed}"
    assert found["reliable/validity"].count == run.lost, f"seed={seed}"
    assert found["reliable/no_duplication"].count == run.duplicated, f"seed={seed}"
    assert found["reliable/no_creation"].count == run.created, f"seed={seed}"
    assert "never broadcast" in found["reliable/no_creation"].examples[0]
    assert found["reliable/no_duplication"].examples[0].endswith(" again")


def test_bracha_values_forked_away_from_the_origin_break_consistency(tmp_path: Path) -> None:
    faults = BroadcastFaults(forks=0.05)
    run = write_broadcast_run(tmp_path, nodes=4, events=2000, kind="byzantine", faults=faults)
    found = check_folder(tmp_path)
    assert run.forked > 0
    assert found["byzantine/consistency"].count == run.forked
    assert "different values" in found["byzantine/consistency"].examples[0]
    assert found["byzantine/validity"].status is Status.OK


def test_a_killed_origins_last_broadcast_cut_from_its_log_is_not_a_creation(
    tmp_path: Path,
) -> None:
    faults = BroadcastFaults(kills=1, cut=True)
    run = write_broadcast_run(tmp_path, nodes=4, events=2000, kind="causal", faults=faults)
    report = check_run(load_run(tmp_path))
    assert run.killed
    assert run.cut == 1
    assert report.ok, format_report(report)


def test_deliveries_ahead_of_their_turn_break_fifo_and_causal_order(tmp_path: Path) -> None:
    faults = BroadcastFaults(reorder=0.05, kills=1, restart=True)
    run = write_broadcast_run(tmp_path, nodes=4, events=2000, kind="causal", faults=faults)
    found = check_folder(tmp_path)
    assert run.reordered > 0
    assert found["causal/fifo"].status is Status.VIOLATED
    assert found["causal/causal_order"].count >= found["causal/fifo"].count
    assert re.fullmatch(
        r"n\d:\d delivered n\d:\d:\d+ before n\d:\d:\d+", found["causal/fifo"].examples[0]
    )


def test_events_fed_in_one_pass_and_events_held_give_the_same_results(tmp_path: Path) -> None:
    faults = BroadcastFaults(loss=0.02, duplicates=0.02, reorder=0.02, kills=1, cut=True)
    write_broadcast_run(tmp_path, nodes=4, events=2500, kind="uniform", faults=faults, seed=4)
    from_files = load_run(tmp_path)
    held = {
        node: tuple(Incarnation(node, inc.inc, inc.events) for inc in incs)
        for node, incs in from_files.nodes.items()
    }
    in_memory = Run(tmp_path, None, "reliable", None, tuple(held), held, faults=from_files.faults)
    assert broadcast_properties(from_files) == broadcast_properties(in_memory)


# -- logs only a forger writes ---------------------------------------------------------------
def test_two_logs_that_each_deliver_the_others_broadcast_first_are_judged_not_hung() -> None:
    log = Log("a", "b")
    log.deliver("a", "b", 1, "causal")  # b has not broadcast it yet
    log.bcast("a", 1, "causal")
    log.deliver("b", "a", 1, "causal")
    log.bcast("b", 1, "causal")
    found = results(log.run())
    assert found["causal/causal_order"].examples == (
        "a:1 delivered b:1:1 before a:1:1, which happened before it",
    )
    assert found["causal/validity"].count == 2  # neither delivered its own broadcast


def test_far_off_and_zero_sequence_numbers_are_kept_without_arrays_that_large() -> None:
    log = Log("a", "b")
    for seq in (0, 2**62, 2**62, 2**70):
        log.deliver("b", "a", seq, "fifo")
    found = results(log.run())
    assert found["fifo/no_duplication"].count == 1
    assert found["fifo/no_creation"].count == 4 - 1
    assert found["fifo/agreement"].count == 3  # a delivered none of them
    assert found["fifo/fifo"].count == 3  # all but seq 0 are ahead of seq 1


def test_a_broadcast_id_logged_twice_is_judged_by_its_last_clock() -> None:
    log = Log("a", "b")
    log.bcast("a", 1, "best-effort")
    log.deliver("a", "a", 1, "best-effort")
    log.bcast("a", 1, "best-effort")  # a forged log: the same id again, another clock
    log.deliver("b", "a", 1, "best-effort")
    found = results(log.run())
    assert found["best-effort/no_creation"].examples == (
        "a delivered a:1:1 with a clock its broadcast did not have",
    )


def test_scattered_sequence_numbers_do_not_grow_the_flags_to_the_largest() -> None:
    """A forged log of ids 65,536 apart: each is kept, none makes a flag per number below it."""
    log = Log("a", "b")
    seqs = [1 + 65_536 * i for i in range(300)]
    for seq in seqs:
        log.bcast("a", seq, "fifo")
        log.deliver("a", "a", seq, "fifo")
        log.deliver("b", "a", seq, "fifo")
    log.deliver("b", "a", seqs[-1], "fifo")
    events = BroadcastEvents()
    for node, incs in log.run().nodes.items():
        for inc in incs:
            events.start_incarnation(node, inc.inc)
            for e in inc.held:
                events.feed(e)
            events.end_incarnation(node, inc.inc, inc.held[-1])
    sets = [s for per in events.delivered.values() for s in per.values()]
    assert all(len(s.flags) < 4096 for s in sets)
    assert all(len(n.numbers) < 4096 for n in events.numbers.values())
    found = {p.name: p for p in events.properties(("a", "b"), lambda n: True, frozenset())}
    assert found["fifo/no_duplication"].count == 1
    assert found["fifo/no_creation"].count == 0
    assert found["fifo/validity"].count == 0
    assert found["fifo/fifo"].count == 2 * 299 + 1  # each after the first is ahead of seq 2
