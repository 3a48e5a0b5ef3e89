"""Specification of ``netclock check`` (netclock.tools.check) on synthetic event logs.

Every run here is written by :class:`Sim`, which follows the clock rules of
docs/eventlog.md (init sets the own entry to 1; send, deliver and local tick; deliver
merges the message's clock), so a test breaks exactly the property it names. Its events
are 10 ms apart; :meth:`Sim.fault` writes the run's fault record (``faults.jsonl``) the way
the launcher does, at the current time.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.cli.check import main as cli
from netclock.errors import ConfigError
from netclock.tools.check import (
    Report,
    Run,
    Status,
    check_run,
    format_report,
    load_run,
    promise_sentence,
)

PROMISES = {
    "fairloss": ["no_creation"],
    "stubborn": ["no_creation"],
    "reliable": ["no_creation", "no_duplication", "reliable_delivery"],
    "tls": ["no_creation", "no_duplication", "reliable_delivery", "authenticity"],
}

MsgId = tuple[str, int, int]
T0 = 1_700_000_000.0


class Sim:
    """Writes a run's event logs the way nodes would; tests then break one rule on purpose."""

    def __init__(
        self,
        folder: Path,
        nodes: tuple[str, ...] = ("a", "b"),
        *,
        link: str = "reliable",
        fifo: bool = False,
    ) -> None:
        self.folder = folder
        self.link = link
        self.promises = PROMISES[link] + (["fifo"] if fifo else [])
        self.nodes = nodes
        self.lines: dict[str, list[dict[str, Any]]] = {n: [] for n in nodes}
        self.clocks: dict[str, dict[str, int]] = {}
        self.inc: dict[str, int] = {}
        self.seq: dict[tuple[str, str], int] = {}
        self.sent: dict[tuple[MsgId, str], dict[str, int]] = {}
        self.now = T0
        self.faults: list[dict[str, Any]] = []
        for node in nodes:
            self.init(node)

    def _log(self, node: str, ev: str, **fields: Any) -> None:
        self.now += 0.01
        self.lines[node].append(
            {
                "t": self.now,
                "node": node,
                "inc": self.inc[node],
                "ev": ev,
                "clock": dict(self.clocks[node]),
                **fields,
            }
        )

    def init(self, node: str, inc: int = 1) -> None:
        self.inc[node] = inc
        self.clocks[node] = {node: 1}
        for key in [k for k in self.seq if k[0] == node]:
            del self.seq[key]
        self._log(node, "init", link=self.link, promises=list(self.promises))

    def send(self, sender: str, receiver: str) -> MsgId:
        clock = self.clocks[sender]
        clock[sender] += 1
        seq = self.seq[(sender, receiver)] = self.seq.get((sender, receiver), 0) + 1
        mid = (sender, self.inc[sender], seq)
        self.sent[(mid, receiver)] = dict(clock)
        self._log(sender, "send", to=receiver, id=list(mid))
        return mid

    def deliver(
        self,
        receiver: str,
        mid: MsgId,
        *,
        msg_clock: dict[str, int] | None = None,
        sender: str | None = None,
    ) -> None:
        carried = dict(self.sent[(mid, receiver)]) if msg_clock is None else msg_clock
        clock = self.clocks[receiver]
        for pid, value in carried.items():
            if pid != receiver and value > clock.get(pid, 0):
                clock[pid] = value
        clock[receiver] += 1
        self._log(
            receiver,
            "deliver",
            id=list(mid),
            msg_clock=carried,
            **{"from": mid[0] if sender is None else sender},
        )

    def local(self, node: str) -> None:
        self.clocks[node][node] += 1
        self._log(node, "local", text="work")

    def failed(self, sender: str, mid: MsgId, receiver: str) -> None:
        self._log(sender, "failed", to=receiver, id=list(mid))

    def drop(self, receiver: str, sender: str) -> None:
        self._log(receiver, "drop", reason="clock from the future", **{"from": sender})

    def fault(self, do: str, node: str, **fields: Any) -> None:
        """Record that the launcher did ``do`` to ``node`` now (a ``start`` also opens a life)."""
        self.now += 0.01
        self.faults.append({"t": self.now, "at": self.now - T0, "do": do, "node": node, **fields})

    def kill(self, node: str) -> None:
        self.fault("kill", node, by="action")
        self.fault("exit", node, code=-9, expected=True)

    def restart(self, node: str, inc: int) -> None:
        """Kill ``node`` and start incarnation ``inc`` of it, as ``do = "restart"`` does."""
        self.kill(node)
        self.fault("start", node, pid=2, incarnation=inc, restart=True)
        self.init(node, inc)

    def stop(self, *nodes: str, clean: bool = True) -> None:
        for node in nodes or self.nodes:
            self._log(node, "stop", clean=clean, stats={})

    def write(self, *, run_json: bool = True) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        for node, lines in self.lines.items():
            text = "".join(json.dumps(line) + "\n" for line in lines)
            (self.folder / f"{node}.events.jsonl").write_text(text, encoding="utf-8")
        if run_json:
            info = {"name": "test", "link": self.link, "nodes": list(self.nodes), "seed": 1}
            (self.folder / "run.json").write_text(json.dumps(info), encoding="utf-8")
        if self.faults:
            text = "".join(json.dumps(line) + "\n" for line in self.faults)
            (self.folder / "faults.jsonl").write_text(text, encoding="utf-8")
        return self.folder

    def check(self) -> Report:
        return check_run(load_run(self.write()))


def exchange(sim: Sim, sender: str, receiver: str, count: int = 1) -> list[MsgId]:
    """``count`` messages sent and delivered in order."""
    out = []
    for _ in range(count):
        mid = sim.send(sender, receiver)
        sim.deliver(receiver, mid)
        out.append(mid)
    return out


# -- clean runs --------------------------------------------------------------------------------
def test_clean_reliable_run_keeps_every_promise(tmp_path: Path) -> None:
    sim = Sim(tmp_path, ("a", "b", "c"))
    exchange(sim, "a", "b", 5)
    exchange(sim, "b", "c", 3)
    sim.local("c")
    exchange(sim, "c", "a", 2)
    sim.stop()
    report = sim.check()
    assert report.ok, format_report(report)
    for name in ("no_creation", "no_duplication", "reliable_delivery", "clock_sanity"):
        assert report.result(name).status is Status.OK, name
    assert report.result("fifo").status is Status.HOLDS
    assert report.result("causal_order").status is Status.HOLDS
    assert report.result("causal_order").promised is False
    ab = report.pair("a", "b")
    assert (ab.sent, ab.delivered, ab.lost, ab.duplicated) == (5, 5, 0, 0)
    assert report.links["reliable"].sent == 10
    text = format_report(report)
    assert re.search(r"^\u2713 +no_creation", text, re.MULTILINE)
    assert "a -> b" in text
    assert "verdict: OK" in text
    assert "reliable promises no creation, no duplication and reliable delivery only" in text


def test_run_without_run_json_and_single_events_file_both_load(tmp_path: Path) -> None:
    sim = Sim(tmp_path, ("a", "b"))
    exchange(sim, "a", "b", 2)
    sim.stop()
    folder = sim.write(run_json=False)
    assert check_run(load_run(folder)).ok
    single = load_run(folder / "b.events.jsonl")
    assert list(single.nodes) == ["b"]
    counts = check_run(single).pair("a", "b")
    assert (counts.delivered, counts.unlogged, counts.created) == (2, 2, 0)


# -- duplication -------------------------------------------------------------------------------
def test_pl2_duplicate_delivery_violates_reliable(tmp_path: Path) -> None:
    sim = Sim(tmp_path, link="reliable")
    (mid,) = exchange(sim, "a", "b")
    sim.deliver("b", mid)
    sim.stop()
    report = sim.check()
    assert not report.ok
    assert report.violated == ("no_duplication",)
    assert report.pair("a", "b").duplicated == 1
    assert report.pair("a", "b").delivered == 1
    assert re.search(r"^\u2717 +no_duplication", format_report(report), re.MULTILINE)
    assert "verdict: VIOLATED: no_duplication" in format_report(report)


def test_fll2_duplicate_delivery_is_expected_on_fairloss(tmp_path: Path) -> None:
    sim = Sim(tmp_path, link="fairloss")
    (mid,) = exchange(sim, "a", "b")
    sim.deliver("b", mid)
    sim.stop()
    report = sim.check()
    assert report.ok, format_report(report)
    assert report.result("no_duplication").status is Status.DOES_NOT_HOLD
    text = format_report(report)
    assert "fairloss promises no creation only: losses, duplicates" in text
    assert "(info) no_duplication" in text


# -- creation ----------------------------------------------------------------------------------
def test_pl3_delivery_of_a_never_sent_id_is_creation(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    exchange(sim, "a", "b")
    sim.deliver("b", ("a", 1, 99), msg_clock={"a": 1})
    sim.stop()
    report = sim.check()
    assert report.violated == ("no_creation",)
    assert report.pair("a", "b").created == 1
    assert "a:1:99 was never sent" in report.result("no_creation").examples[0]


def test_pl3_delivery_with_another_clock_than_the_send_is_creation(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    mid = sim.send("a", "b")
    sim.deliver("b", mid, msg_clock={"a": 7})
    sim.stop()
    report = sim.check()
    assert report.violated == ("no_creation",)
    counts = report.pair("a", "b")
    assert (counts.created, counts.delivered, counts.lost) == (1, 1, 0)


def test_al3_delivery_claiming_the_wrong_sender_breaks_authenticity(tmp_path: Path) -> None:
    sim = Sim(tmp_path, ("a", "b", "c"), link="tls")
    exchange(sim, "a", "c")
    to_c = sim.send("a", "c")
    sim.deliver("b", to_c, msg_clock=sim.sent[(to_c, "c")])  # a's message to c turns up at b
    sim.deliver("c", to_c)
    to_b = sim.send("a", "b")
    sim.deliver("b", to_b, sender="c")  # claims to come from c
    sim.stop()
    report = sim.check()
    assert set(report.violated) == {"no_creation", "authenticity", "reliable_delivery"}
    assert report.result("authenticity").count == 2
    assert "a:1:1 claims to come from c to b" in report.result("authenticity").examples[1]
    assert report.pair("a", "b").lost == 1


# -- order ---------------------------------------------------------------------------------------
def test_fifo_violation_fails_a_link_that_promises_fifo(tmp_path: Path) -> None:
    sim = Sim(tmp_path, link="reliable", fifo=True)
    first, second = sim.send("a", "b"), sim.send("a", "b")
    sim.deliver("b", second)
    sim.deliver("b", first)
    sim.stop()
    report = sim.check()
    assert "fifo" in report.violated
    assert report.pair("a", "b").out_of_order == 1
    assert "a:1:1 delivered after seq 2" in report.result("fifo").examples[0]


def test_fifo_violation_is_information_without_the_promise(tmp_path: Path) -> None:
    sim = Sim(tmp_path, link="reliable")
    first, second = sim.send("a", "b"), sim.send("a", "b")
    sim.deliver("b", second)
    sim.deliver("b", first)
    sim.stop()
    report = sim.check()
    assert report.ok, format_report(report)
    assert report.result("fifo").status is Status.DOES_NOT_HOLD
    assert "out-of-order deliveries are expected" in format_report(report)


@pytest.mark.parametrize("crash", [False, True])
def test_fifo_is_per_sender_incarnation_so_a_restart_starts_a_new_order(
    tmp_path: Path, crash: bool
) -> None:
    """A restarted sender numbers its messages from 1 again: a:2:1 after a:1:3 is in order,
    and so is the old incarnation's last message arriving after the new one's."""
    sim = Sim(tmp_path, link="reliable", fifo=True)
    exchange(sim, "a", "b", 3)
    in_flight = sim.send("a", "b")  # a:1:4, delivered only after the restart
    if not crash:
        sim.stop("a")
    sim.init("a", inc=2)
    first, second = exchange(sim, "a", "b", 2)
    sim.deliver("b", in_flight)
    sim.stop()
    report = sim.check()
    assert (first, second) == (("a", 2, 1), ("a", 2, 2))
    assert report.ok, format_report(report)
    assert report.result("fifo").status is Status.OK
    assert report.pair("a", "b").out_of_order == 0
    assert report.pair("a", "b").delivered == 6


def test_fifo_violation_within_a_restarted_incarnation_is_still_found(tmp_path: Path) -> None:
    sim = Sim(tmp_path, link="reliable", fifo=True)
    exchange(sim, "a", "b", 2)
    sim.stop("a")
    sim.init("a", inc=2)
    first, second = sim.send("a", "b"), sim.send("a", "b")
    sim.deliver("b", second)
    sim.deliver("b", first)
    sim.stop()
    report = sim.check()
    assert report.violated == ("fifo",)
    assert report.pair("a", "b").out_of_order == 1
    assert "a:2:1 delivered after seq 2" in report.result("fifo").examples[0]


def test_causal_violation_is_reported_as_information_only(tmp_path: Path) -> None:
    sim = Sim(tmp_path, ("a", "b", "c"), link="reliable", fifo=True)
    m1 = sim.send("a", "c")
    m2 = sim.send("a", "b")
    sim.deliver("b", m2)
    m3 = sim.send("b", "c")  # send(m1) -> send(m3) through b
    sim.deliver("c", m3)
    sim.deliver("c", m1)
    sim.stop()
    report = sim.check()
    assert report.ok, format_report(report)
    causal = report.result("causal_order")
    assert (causal.status, causal.count, causal.promised) == (Status.DOES_NOT_HOLD, 1, False)
    assert "c delivered b:1:1 before a:1:1" in causal.examples[0]
    assert report.result("fifo").status is Status.OK
    assert "(info) causal_order" in format_report(report)


def test_concurrent_messages_in_any_order_are_causally_fine(tmp_path: Path) -> None:
    sim = Sim(tmp_path, ("a", "b", "c"))
    m1, m2 = sim.send("a", "c"), sim.send("b", "c")
    sim.deliver("c", m2)
    sim.deliver("c", m1)
    sim.stop()
    assert sim.check().result("causal_order").status is Status.HOLDS


# -- losses ------------------------------------------------------------------------------------
def test_pl1_lost_message_between_correct_processes_is_a_violation(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    exchange(sim, "a", "b", 2)
    sim.send("a", "b")
    sim.stop()
    report = sim.check()
    assert report.violated == ("reliable_delivery",)
    counts = report.pair("a", "b")
    assert (counts.sent, counts.delivered, counts.lost, counts.lost_crashed) == (3, 2, 1, 0)


def test_pl1_lost_message_to_a_crashed_node_is_not_a_violation(tmp_path: Path) -> None:
    sim = Sim(tmp_path, ("a", "b", "c"))
    exchange(sim, "a", "b")
    sim.send("a", "b")
    sim.send("c", "a")  # c is killed right after: its message is lost with it
    sim.kill("b")
    sim.kill("c")
    sim.stop("a")
    report = sim.check()
    assert report.ok, format_report(report)
    assert report.pair("a", "b").lost_crashed == 1
    assert report.pair("c", "a").lost_crashed == 1
    assert "2 lost to a crash" in report.result("reliable_delivery").summary
    assert [n.correct for n in report.nodes] == [True, False, False]


def test_pl1_forged_datagram_loss_between_processes_never_killed_is_a_violation(
    tmp_path: Path,
) -> None:
    """The issue's forged datagram: nobody was killed, yet messages went unacknowledged."""
    sim = Sim(tmp_path)
    sim.fault("start", "a", pid=1)
    sim.fault("start", "b", pid=2)
    exchange(sim, "a", "b", 2)
    for _ in range(3):
        sim.send("a", "b")  # the link broke: never delivered, never acknowledged
    sim.stop("a", clean=False)
    sim.stop("b")
    report = sim.check()
    assert report.violated == ("reliable_delivery",), format_report(report)
    assert (report.pair("a", "b").lost, report.pair("a", "b").lost_crashed) == (3, 0)
    assert [n.correct for n in report.nodes] == [True, True]
    assert report.fault_record
    assert "crashed:" not in format_report(report)


def test_pl1_unclean_stop_excuses_nothing(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    sim.send("a", "b")
    sim.stop("a", clean=False)
    sim.stop("b")
    report = sim.check()
    assert report.violated == ("reliable_delivery",)
    assert report.pair("a", "b").lost_crashed == 0


def test_no_fault_record_judges_every_node_correct_even_with_a_cut_log(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    sim.send("a", "b")
    sim.stop("a")  # b's log has no stop, but nothing says b was killed
    report = sim.check()
    assert report.violated == ("reliable_delivery",)
    assert all(n.correct for n in report.nodes)
    assert "no fault record: every node judged correct" in report.notes
    assert not report.as_dict()["fault_record"]


def test_a_fault_record_cut_short_or_ended_by_the_duration_is_noted(tmp_path: Path) -> None:
    """A launcher killed mid-run leaves no stop; a duration stop cuts messages off: either
    way a violation of reliable delivery then needs that context."""
    sim = Sim(tmp_path)
    sim.fault("start", "a", pid=1)
    sim.fault("start", "b", pid=2)
    sim.send("a", "b")
    sim.stop("a")
    report = sim.check()
    assert report.violated == ("reliable_delivery",)
    assert any(n.startswith("the fault record has no stop: the launcher") for n in report.notes)
    sim.faults.append({"t": sim.now, "at": sim.now - T0, "do": "stop", "reason": "duration"})
    notes = sim.check().notes
    assert any(n.startswith("the run was stopped by its duration") for n in notes), notes
    sim.faults[-1]["reason"] = "done"
    assert not any("stop" in n or "duration" in n for n in sim.check().notes)


def test_pl1_killed_receiver_excuses_what_it_was_sent_and_its_senders_stay_correct(
    tmp_path: Path,
) -> None:
    sim = Sim(tmp_path, ("a", "b", "c"))
    exchange(sim, "a", "b")
    sim.send("c", "b")  # in flight when b is killed
    sim.kill("b")
    after = [sim.send("a", "b"), sim.send("c", "b")]  # sent to a dead node
    sim.failed("a", after[0], "b")  # a's give-up hands its message back
    exchange(sim, "a", "c")
    sim.stop("a", "c", clean=False)
    report = sim.check()
    assert report.ok, format_report(report)
    assert [n.correct for n in report.nodes] == [True, False, True]
    assert (report.pair("c", "b").lost, report.pair("c", "b").lost_crashed) == (2, 2)
    assert (report.pair("a", "b").failed, report.pair("a", "b").lost) == (1, 0)
    text = format_report(report)
    assert re.search(r"crashed: b killed at \d+\.\d\d s", text), text
    assert report.as_dict()["nodes"][1]["crashed_at"] == [pytest.approx(0.07, abs=0.005)]


def test_pl1_restarted_receiver_owes_what_was_sent_after_its_restart(tmp_path: Path) -> None:
    """Two lives of b: delivered to the first or the second is delivered; sent while b was
    down is lost to the crash; sent to the second life and never delivered is a violation."""
    sim = Sim(tmp_path)
    exchange(sim, "a", "b")
    in_flight = sim.send("a", "b")
    sim.restart("b", inc=2)
    sim.deliver("b", in_flight)  # the second life delivers a message sent to the first
    exchange(sim, "a", "b", 2)
    owed = sim.send("a", "b")
    sim.stop()
    report = sim.check()
    assert report.violated == ("reliable_delivery",), format_report(report)
    counts = report.pair("a", "b")
    assert (counts.sent, counts.delivered, counts.lost, counts.lost_crashed) == (5, 4, 1, 0)
    assert f"{owed[0]}:{owed[1]}:{owed[2]}" in report.result("reliable_delivery").examples[0]
    assert report.nodes[1].incarnations == (1, 2)
    assert re.search(
        r"crashed: b killed at \S+ s, restarted at \S+ s \(inc 2\)", format_report(report)
    )


def test_message_delivered_again_to_a_later_life_of_its_receiver_is_not_a_duplicate(
    tmp_path: Path,
) -> None:
    """b's first life delivered it and died before acking; the link resent it to b's second
    life, which knows nothing of the first: a note, not a PL2 violation. Twice in one life is."""
    sim = Sim(tmp_path)
    exchange(sim, "a", "b")
    unacked = sim.send("a", "b")
    sim.deliver("b", unacked)
    sim.restart("b", inc=2)
    sim.deliver("b", unacked)
    exchange(sim, "a", "b")
    sim.stop()
    report = sim.check()
    assert report.ok, format_report(report)
    assert report.pair("a", "b").duplicated == 0
    assert any("delivered again to a later life" in note for note in report.notes), report.notes

    twice = Sim(tmp_path / "twice")
    exchange(twice, "a", "b")
    twice.restart("b", inc=2)
    again = twice.send("a", "b")
    twice.deliver("b", again)
    twice.deliver("b", again)
    twice.stop()
    assert twice.check().violated == ("no_duplication",)


def test_pl1_message_sent_while_the_receiver_was_down_is_lost_to_the_crash(
    tmp_path: Path,
) -> None:
    sim = Sim(tmp_path)
    sim.kill("b")
    sim.send("a", "b")  # b is down: not owed, even though b comes back
    sim.fault("start", "b", pid=3, incarnation=2, restart=True)
    sim.init("b", inc=2)
    exchange(sim, "a", "b")
    sim.stop()
    report = sim.check()
    assert report.ok, format_report(report)
    assert report.pair("a", "b").lost_crashed == 1


def test_pl1_unexpected_exit_is_a_crash_named_with_its_error(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    sim.send("b", "a")
    sim.fault("exit", "b", code=3, expected=False, error="ValueError: boom")
    sim.stop("a")
    report = sim.check()
    assert report.ok, format_report(report)
    assert "b exited unexpectedly at" in format_report(report)
    assert "(code 3: ValueError: boom)" in format_report(report)


def test_pl1_message_handed_back_as_failed_is_not_a_violation(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    mid = sim.send("a", "b")
    sim.failed("a", mid, "b")
    sim.stop()
    report = sim.check()
    assert report.ok, format_report(report)
    counts = report.pair("a", "b")
    assert (counts.failed, counts.lost) == (1, 0)


def test_drops_are_counted_per_pair(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    sim.drop("b", "a")
    sim.stop()
    report = sim.check()
    assert report.ok
    assert report.pair("a", "b").dropped == 1
    assert "dropped" in format_report(report)


def test_send_cut_off_a_killed_senders_log_is_unlogged_not_created(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    exchange(sim, "a", "b")
    mid = sim.send("a", "b")
    sim.lines["a"].pop()  # kill -9 before the buffered send reached the file
    sim.deliver("b", mid)
    sim.stop("b")
    report = sim.check()
    assert report.ok, format_report(report)
    counts = report.pair("a", "b")
    assert (counts.unlogged, counts.created, counts.delivered) == (1, 0, 2)


def test_restart_counts_incarnations_and_leaves_causal_unchecked(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    exchange(sim, "a", "b")
    sim.send("a", "b")  # in flight when a crashes
    sim.restart("a", inc=2)
    (mid,) = exchange(sim, "a", "b")
    sim.stop()
    report = sim.check()
    assert report.ok, format_report(report)
    assert mid == ("a", 2, 1)
    assert report.pair("a", "b").lost_crashed == 1
    assert report.nodes[0].incarnations == (1, 2)
    assert report.result("causal_order").status is Status.NOT_CHECKED
    assert report.result("clock_sanity").status is Status.OK


# -- clock sanity ------------------------------------------------------------------------------
def test_clock_that_skips_a_tick_breaks_clock_sanity(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    exchange(sim, "a", "b")
    sim.local("a")
    sim.lines["a"][-1]["clock"]["a"] += 1
    sim.stop()
    report = sim.check()
    assert report.violated == ("clock_sanity",)
    assert (
        "a.events.jsonl:3: local should give {a:3} (local ticks), the log has {a:4}"
        in report.result("clock_sanity").examples[0]
    )


def test_delivery_that_does_not_merge_the_message_clock_breaks_clock_sanity(
    tmp_path: Path,
) -> None:
    sim = Sim(tmp_path)
    exchange(sim, "a", "b")
    sim.lines["b"][-1]["clock"] = {"b": 2}
    sim.stop()
    assert sim.check().violated == ("clock_sanity",)


def test_a_clock_sanity_example_of_a_huge_clock_shows_only_where_it_differs(
    tmp_path: Path,
) -> None:
    sim = Sim(tmp_path)
    exchange(sim, "a", "b")
    sim.lines["b"][-1]["clock"] = {
        **sim.lines["b"][-1]["clock"],
        **{f"p{i}": 7 for i in range(5000)},
    }
    sim.stop()
    example = sim.check().result("clock_sanity").examples[0]
    assert len(example) < 1000, "one sentence, not two 5,000-entry clocks"
    assert "p0:0, " in example
    assert "p0:7, " in example
    assert "...}" in example


# -- malformed input ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "not a JSON object"),  # deeper than Python's stack
        ("[1, 2]", "must be a JSON object"),
        ('{"node": "a", "inc": 1, "ev": "jump", "clock": {}}', "'ev' must be one of"),
        ('{"node": "a", "inc": 1, "ev": "send", "clock": {"a": 2}, "to": "b"}', "'id'"),
        ('{"node": "a", "inc": 1, "ev": "local", "clock": {"a": -1}}', "'a' is -1, outside"),
        ('{"node": "a", "inc": "1", "ev": "local", "clock": {"a": 2}}', "'inc'"),
        ('{"node": "%s", "inc": 1, "ev": "local", "clock": {"a": 2}}' % ("n" * 10**6), "'node'"),
        ('{"node": "a", "inc": 1, "ev": "%s", "clock": {"a": 2}}' % ("e" * 10**6), "'ev'"),
        (
            '{"node": "a", "inc": 1, "ev": "deliver", "clock": {"a": 2}, "msg_clock": {"b": 1}, '
            '"from": "%s", "id": ["b", 1, 1]}' % ("f" * 10**6),
            "'from'",
        ),
    ],
)
def test_malformed_line_raises_config_error_naming_file_and_line(
    tmp_path: Path, line: str, problem: str
) -> None:
    good = json.dumps(
        {"node": "a", "inc": 1, "ev": "init", "clock": {"a": 1}, "link": "reliable", "promises": []}
    )
    (tmp_path / "a.events.jsonl").write_text(f"{good}\n{line}\n{good}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=problem) as info:
        load_run(tmp_path)
    assert f"{tmp_path / 'a.events.jsonl'}:2:" in str(info.value)
    assert len(str(info.value)) < 500, "one sentence, not the line quoted whole"


def test_unfinished_last_line_of_a_killed_node_is_skipped_with_a_note(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    exchange(sim, "a", "b")
    sim.stop("a")
    folder = sim.write()
    with (folder / "b.events.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"node": "b", "inc": 1, "ev": "lo')
    report = check_run(load_run(folder))
    assert report.ok
    assert any("unfinished last line" in note for note in report.notes)


def test_folder_without_event_logs_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no \*\.events\.jsonl"):
        load_run(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_run(tmp_path / "nope")


def test_malformed_run_json_is_a_config_error(tmp_path: Path) -> None:
    Sim(tmp_path).write()
    (tmp_path / "run.json").write_text('{"nodes": "a"}', encoding="utf-8")
    with pytest.raises(ConfigError, match="'nodes' must be a list"):
        load_run(tmp_path)
    (tmp_path / "run.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"run\.json is not valid JSON"):
        load_run(tmp_path)


# -- the command line ----------------------------------------------------------------------------
def test_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = Sim(tmp_path / "good")
    exchange(good, "a", "b")
    good.stop()
    good.write()
    bad = Sim(tmp_path / "bad")
    bad.send("a", "b")
    bad.stop()
    bad.write()

    assert cli([str(tmp_path / "good")]) == 0
    assert "verdict: OK" in capsys.readouterr().out
    assert cli([str(tmp_path / "bad"), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert data["violated"] == ["reliable_delivery"]
    assert data["properties"]["reliable_delivery"]["status"] == "VIOLATED"
    assert data["links"]["reliable"]["promises"] == PROMISES["reliable"]

    assert cli([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "does not exist" in err
    assert cli([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_promise_sentence_names_what_is_expected() -> None:
    assert promise_sentence("fairloss", ["no_creation"]) == (
        "fairloss promises no creation only: losses, duplicates and out-of-order deliveries "
        "are expected"
    )
    assert promise_sentence("tls", [*PROMISES["tls"], "fifo"]) == (
        "tls promises no creation, no duplication, reliable delivery, FIFO order and authenticity"
    )


def test_ascii_report_has_no_check_marks(tmp_path: Path) -> None:
    sim = Sim(tmp_path)
    exchange(sim, "a", "b")
    sim.stop()
    text = format_report(sim.check(), ascii_only=True)
    assert text.isascii()
    assert "ok     no_creation" in text


# -- properties against brute force ------------------------------------------------------------
def brute_force_causal(run: Run) -> int:
    """Quadratic reference: first deliveries m2 before m1 at one node with send(m1) -> send(m2)."""
    count = 0
    for incs in run.nodes.values():
        seen: set[tuple[str, int, int]] = set()
        firsts = []
        for inc in incs:
            for e in inc.events:
                if e.ev == "deliver" and e.mid not in seen:
                    assert e.mid is not None
                    assert e.msg_clock is not None
                    seen.add(e.mid)
                    firsts.append((e.mid, e.msg_clock))
        for i, (_, c2) in enumerate(firsts):
            if any(c1[m1[0]] <= c2.get(m1[0], 0) for m1, c1 in firsts[i + 1 :]):
                count += 1
    return count


def random_run(folder: Path, seed: int, messages: int, link: str = "fairloss") -> Sim:
    """Random sends and deliveries in random order, with some losses and duplicates."""
    rng = random.Random(seed)
    sim = Sim(folder, ("a", "b", "c"), link=link)
    pending: list[MsgId] = []
    receivers: dict[MsgId, str] = {}
    for _ in range(messages):
        if pending and rng.random() < 0.5:
            mid = pending.pop(rng.randrange(len(pending)))
            roll = rng.random()
            if roll < 0.1:
                continue  # lost
            sim.deliver(receivers[mid], mid)
            if roll > 0.9:
                pending.append(mid)  # delivered again later
        else:
            sender, receiver = rng.sample(sim.nodes, 2)
            mid = sim.send(sender, receiver)
            receivers[mid] = receiver
            pending.append(mid)
    sim.stop()
    return sim


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), messages=st.integers(1, 60))
def test_causal_rule_agrees_with_brute_force(
    tmp_path_factory: Any, seed: int, messages: int
) -> None:
    folder = tmp_path_factory.mktemp("causal")
    run = load_run(random_run(folder, seed, messages).write())
    report = check_run(run)
    assert report.result("causal_order").count == brute_force_causal(run), f"seed={seed}"
    assert report.result("clock_sanity").status is Status.OK, f"seed={seed}"


def write_big_run(folder: Path, seed: int, messages: int) -> None:
    """A clean reliable run of ``messages`` sends and deliveries (some reordered), written lean.

    The same clock rules as :class:`Sim`, with the JSON lines built by hand so that writing
    200,000 events takes a fraction of the time checking them does.
    """
    rng = random.Random(seed)
    nodes = ("a", "b", "c", "d")
    clocks = {n: {n: 1} for n in nodes}
    dumps = json.dumps
    out: dict[str, list[str]] = {
        n: [
            f'{{"t":0,"node":"{n}","inc":1,"ev":"init","clock":{{"{n}":1}},'
            f'"link":"reliable","promises":["no_creation","no_duplication","reliable_delivery"]}}'
        ]
        for n in nodes
    }
    seqs = dict.fromkeys(((s, r) for s in nodes for r in nodes), 0)
    pending: dict[str, list[tuple[str, int, dict[str, int], str]]] = {n: [] for n in nodes}

    def deliver(receiver: str, item: tuple[str, int, dict[str, int], str]) -> None:
        sender, seq, carried, text = item
        clock = clocks[receiver]
        for pid, value in carried.items():
            if pid != receiver and value > clock.get(pid, 0):
                clock[pid] = value
        clock[receiver] += 1
        out[receiver].append(
            f'{{"t":0,"node":"{receiver}","inc":1,"ev":"deliver","clock":{dumps(clock)},'
            f'"from":"{sender}","id":["{sender}",1,{seq}],"msg_clock":{text}}}'
        )

    for _ in range(messages):
        sender, receiver = rng.sample(nodes, 2)
        clock = clocks[sender]
        clock[sender] += 1
        seq = seqs[(sender, receiver)] = seqs[(sender, receiver)] + 1
        text = dumps(clock)
        out[sender].append(
            f'{{"t":0,"node":"{sender}","inc":1,"ev":"send","clock":{text},'
            f'"to":"{receiver}","id":["{sender}",1,{seq}]}}'
        )
        pending[receiver].append((sender, seq, dict(clock), text))
        target = rng.choice(nodes)
        queue = pending[target]
        if queue:
            deliver(target, queue.pop(rng.randrange(len(queue)) if rng.random() < 0.3 else 0))
    for receiver, queue in pending.items():
        for item in queue:
            deliver(receiver, item)
    for node, lines in out.items():
        lines.append(
            f'{{"t":0,"node":"{node}","inc":1,"ev":"stop","clock":{dumps(clocks[node])},'
            f'"clean":true,"stats":{{}}}}'
        )
        (folder / f"{node}.events.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.slow
def test_200k_event_run_is_checked(tmp_path: Path) -> None:
    seed = 20240601
    write_big_run(tmp_path, seed, 100_000)
    run = load_run(tmp_path)
    report = check_run(run)
    assert run.event_count == 200_008, f"seed={seed}"
    total = report.links["reliable"]
    assert (total.sent, total.delivered, total.lost, total.duplicated) == (
        100_000,
        100_000,
        0,
        0,
    ), f"seed={seed}"
    assert report.ok, f"seed={seed}\n{format_report(report)}"
    assert report.result("causal_order").status is Status.DOES_NOT_HOLD, f"seed={seed}"
