"""Specification of Byzantine reliable broadcast (Bracha), sans-IO, with a Byzantine process.

Four processes (n = 4 > 3f, f = 1) on authenticated perfect links; hypothesis draws the
schedule and everything the Byzantine process sends: SEND, ECHO and READY messages with
either of two values, to anyone, in any order, for its own broadcast (equivocation) and for
a correct origin's. After the schedule everything in flight arrives.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.broadcast import BMessage, BrachaCore, Kind
from netclock.broadcast.frame import ECHO, READY, SEND, BroadcastKey
from netclock.clock import VectorClock

PIDS = ("p0", "p1", "p2", "p3")


class ByzNet:
    def __init__(self, byzantine: str) -> None:
        self.byz = byzantine
        self.cores = {p: BrachaCore(p, 1, PIDS) for p in PIDS if p != byzantine}
        self.flight: list[tuple[str, str, BMessage]] = []
        self.delivered: dict[str, list[BMessage]] = {p: [] for p in self.cores}

    def broadcast(self, pid: str, payload: Any) -> BMessage:
        core = self.cores[pid]
        msg = core.new(VectorClock({pid: 1}), payload)
        self._apply(pid, core.broadcast(msg, 0.0))
        return msg

    def _apply(self, pid: str, step: Any) -> None:
        self.flight += [(pid, peer, m) for peer, m in step.sends if peer != self.byz]
        self.delivered[pid] += [m for m, _ in step.delivers]

    def inject(self, origin: str, seq: int, phase: int, value: str, dst: str) -> None:
        msg = BMessage(Kind.BYZANTINE, origin, 1, seq, VectorClock({origin: 1}), value, phase)
        if dst != self.byz:
            self.flight.append((self.byz, dst, msg))

    def arrive(self, index: int) -> None:
        if self.flight:
            src, dst, msg = self.flight.pop(index % len(self.flight))
            self._apply(dst, self.cores[dst].receive(src, msg, 1.0))

    def finish(self) -> None:
        while self.flight:
            self.arrive(0)


def byz_actions() -> st.SearchStrategy[list[tuple[Any, ...]]]:
    return st.lists(
        st.one_of(
            st.tuples(
                st.just("byz"),
                st.sampled_from([1, 2]),
                st.sampled_from([SEND, ECHO, READY]),
                st.sampled_from(["A", "B"]),
                st.sampled_from(PIDS),
            ),
            st.tuples(st.just("arrive"), st.integers(0, 60)),
            st.tuples(st.just("arrive"), st.integers(0, 60)),
        ),
        max_size=60,
    )


def play(net: ByzNet, origin: str, acts: list[tuple[Any, ...]]) -> None:
    for act in acts:
        if act[0] == "byz":
            net.inject(origin, *act[1:])
        else:
            net.arrive(act[1])
    net.finish()


def assert_consistent_and_total(net: ByzNet) -> None:
    values: dict[BroadcastKey, set[Any]] = {}
    for pid, got in net.delivered.items():
        keys = [m.key for m in got]
        assert len(keys) == len(set(keys)), f"{pid} delivered a broadcast twice"
        for m in got:
            values.setdefault(m.key, set()).add(m.payload)
    for key, vals in values.items():
        assert len(vals) == 1, f"correct processes delivered different values for {key}: {vals}"
        for pid, got in net.delivered.items():
            assert key in {m.key for m in got}, f"{pid} did not deliver {key} (totality)"


@settings(max_examples=200, deadline=None)
@given(byz_actions())
def test_equivocating_origin_correct_processes_deliver_the_same_value_or_none(
    acts: list[tuple[Any, ...]],
) -> None:
    net = ByzNet("p0")
    play(net, "p0", acts)
    assert_consistent_and_total(net)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["p1", "p2", "p3"]), byz_actions())
def test_a_correct_origins_value_is_delivered_by_all_whatever_the_liar_sends(
    liar: str, acts: list[tuple[Any, ...]]
) -> None:
    net = ByzNet(liar)
    sent = net.broadcast("p0", "A")
    play(net, "p0", acts)
    assert_consistent_and_total(net)
    for pid, got in net.delivered.items():
        assert [(m.key, m.payload) for m in got if m.key == sent.key] == [(sent.key, "A")], pid
        # only the liar's made-up seq 2, never broadcast, may stay open
        assert net.cores[pid].outstanding() <= 1


def test_an_origin_that_sends_two_values_to_halves_gets_nothing_delivered() -> None:
    net = ByzNet("p0")
    net.inject("p0", 1, SEND, "A", "p1")
    net.inject("p0", 1, SEND, "B", "p2")
    net.inject("p0", 1, SEND, "B", "p3")
    net.finish()
    # p2, p3 echo B: 2 echoes (+ none from p0) is not > (4+1)/2: nobody is ready
    assert net.delivered == {"p1": [], "p2": [], "p3": []}
    net.inject("p0", 1, ECHO, "B", "p1")
    net.inject("p0", 1, ECHO, "B", "p2")
    net.inject("p0", 1, ECHO, "B", "p3")
    net.finish()
    assert {p: [m.payload for m in got] for p, got in net.delivered.items()} == {
        "p1": ["B"],
        "p2": ["B"],
        "p3": ["B"],
    }


def test_a_send_claimed_by_someone_else_is_refused() -> None:
    core = BrachaCore("p1", 1, PIDS)
    forged = BMessage(Kind.BYZANTINE, "p0", 1, 1, VectorClock({"p0": 1}), "A", SEND)
    assert core.receive("p2", forged, 0.0).sends == []
    assert core.refused == 1


def test_a_byzantine_origin_cannot_make_a_process_hold_more_than_max_open() -> None:
    core = BrachaCore("p1", 1, PIDS, max_open=10)
    for seq in range(1, 100):
        msg = BMessage(Kind.BYZANTINE, "p0", 1, seq, VectorClock({"p0": 1}), "A", READY)
        core.receive("p0", msg, 0.0)
    assert core.outstanding() == 10
    assert core.refused == 89
