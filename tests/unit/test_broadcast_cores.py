"""Specification of the crash-model broadcast cores (sans-IO), over every delivery schedule.

A simulated network of perfect links between cores: hypothesis draws the schedule (which
message in flight arrives next), broadcasts interleaved with it, and crashes (a crashed
process stops, and any of the messages it still had in flight may be lost). After the
schedule everything still in flight arrives; then the textbook properties must hold.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.broadcast import (
    BestEffortCore,
    BMessage,
    CausalCore,
    EagerReliableCore,
    FifoCore,
    Step,
    UniformReliableCore,
)
from netclock.broadcast.frame import BroadcastKey
from netclock.clock import VectorClock

PIDS = ("p0", "p1", "p2", "p3", "p4")


class Net:
    """Cores joined by perfect links; ``now`` advances by one per step."""

    def __init__(self, cls: type[BestEffortCore], n: int) -> None:
        self.pids = PIDS[:n]
        self.cores = {p: cls(p, 1, self.pids) for p in self.pids}
        self.flight: list[tuple[str, str, BMessage]] = []
        self.delivered: dict[str, list[BMessage]] = {p: [] for p in self.pids}
        self.crashed: set[str] = set()
        self.sent: dict[BroadcastKey, BMessage] = {}
        self.happened_before: dict[BroadcastKey, set[BroadcastKey]] = {}
        self.now = 0.0
        self.steps = 0

    def broadcast(self, pid: str, payload: Any) -> None:
        if pid in self.crashed:
            return
        core = self.cores[pid]
        msg = core.new(VectorClock({pid: 1}), payload)
        before: set[BroadcastKey] = set()
        for m in self.delivered[pid]:
            before |= {m.key} | self.happened_before[m.key]
        before |= {k for k in self.sent if k[0] == pid}
        self.happened_before[msg.key] = before
        self.sent[msg.key] = msg
        self._apply(pid, core.broadcast(msg, self.now))

    def _apply(self, pid: str, step: Step) -> None:
        self.flight += [(pid, peer, msg) for peer, msg in step.sends]
        self.delivered[pid] += [msg for msg, _ in step.delivers]
        self.check_buffer(pid)

    def check_buffer(self, pid: str) -> None:
        core = self.cores[pid]
        if isinstance(core, CausalCore):
            assert not any(core.is_deliverable(m) for m in core.buffered())

    def arrive(self, index: int) -> None:
        if not self.flight:
            return
        self.now += 1
        src, dst, msg = self.flight.pop(index % len(self.flight))
        if dst not in self.crashed:
            self._apply(dst, self.cores[dst].receive(src, msg, self.now))

    def crash(self, pid: str, lose: list[bool]) -> None:
        self.crashed.add(pid)
        kept = []
        lost = iter(lose)
        for entry in self.flight:
            if entry[0] == pid and next(lost, False):
                continue
            kept.append(entry)
        self.flight = kept

    def finish(self) -> None:
        while self.flight:
            self.arrive(0)

    @property
    def correct(self) -> list[str]:
        return [p for p in self.pids if p not in self.crashed]


Action = tuple[Any, ...]


def actions(n: int, max_crashes: int) -> st.SearchStrategy[list[Action]]:
    pid = st.sampled_from(PIDS[:n])
    return st.lists(
        st.one_of(
            st.tuples(st.just("bcast"), pid),
            st.tuples(st.just("arrive"), st.integers(0, 50)),
            st.tuples(st.just("arrive"), st.integers(0, 50)),
            st.tuples(st.just("crash"), pid, st.lists(st.booleans(), max_size=20)),
        ),
        max_size=40,
    ).map(lambda acts: _cap_crashes(acts, max_crashes))


def _cap_crashes(acts: list[Action], most: int) -> list[Action]:
    """``acts`` without the crashes of more than ``most`` distinct processes."""
    crashed: set[str] = set()
    out = []
    for act in acts:
        if act[0] == "crash":
            if act[1] not in crashed and len(crashed) >= most:
                continue
            crashed.add(act[1])
        out.append(act)
    return out


def run(cls: type[BestEffortCore], n: int, acts: list[Action]) -> Net:
    net = Net(cls, n)
    count = 0
    for act in acts:
        if act[0] == "bcast":
            count += 1
            net.broadcast(act[1], f"m{count}")
        elif act[0] == "arrive":
            net.arrive(act[1])
        else:
            net.crash(act[1], act[2])
    net.finish()
    return net


def assert_beb(net: Net) -> None:
    """BEB1 validity, BEB2 no duplication, BEB3 no creation."""
    for pid, got in net.delivered.items():
        keys = [m.key for m in got]
        assert len(keys) == len(set(keys)), f"{pid} delivered a broadcast twice"
        for m in got:
            assert net.sent.get(m.key) == m, f"{pid} delivered {m.key}, never broadcast so"
    for key in net.sent:
        if key[0] in net.correct:
            for pid in net.correct:
                assert key in {m.key for m in net.delivered[pid]}, f"{pid} missed {key}"


def delivered_keys(net: Net, pid: str) -> set[BroadcastKey]:
    return {m.key for m in net.delivered[pid]}


def assert_agreement(net: Net, *, uniform: bool) -> None:
    """RB4 agreement (any correct delivers => all correct do); uniform: any process at all."""
    judges = net.pids if uniform else net.correct
    somewhere = set().union(*(delivered_keys(net, p) for p in judges))
    for pid in net.correct:
        assert somewhere <= delivered_keys(net, pid), f"{pid} misses what another delivered"


def assert_fifo(net: Net) -> None:
    for pid, got in net.delivered.items():
        last: dict[str, int] = {}
        for m in got:
            assert m.seq == last.get(m.origin, 0) + 1, f"{pid} delivered {m.key} out of order"
            last[m.origin] = m.seq


def assert_causal(net: Net) -> None:
    for pid, got in net.delivered.items():
        seen: set[BroadcastKey] = set()
        for m in got:
            missing = net.happened_before[m.key] - seen
            assert not missing, f"{pid} delivered {m.key} before {sorted(missing)}"
            seen.add(m.key)


def assert_drained(net: Net) -> None:
    """Memory bounded by what is outstanding: nothing at all once everything is settled."""
    for pid in net.correct:
        assert net.cores[pid].outstanding() == 0, f"{pid} still holds state"


EXAMPLES = settings(max_examples=150, deadline=None)


@EXAMPLES
@given(actions(4, 0))
def test_beb_validity_no_duplication_no_creation(acts: list[Action]) -> None:
    net = run(BestEffortCore, 4, acts)
    assert_beb(net)
    assert_drained(net)


@EXAMPLES
@given(actions(4, 3))
def test_rb_agreement_even_when_the_sender_crashes_midway(acts: list[Action]) -> None:
    net = run(EagerReliableCore, 4, acts)
    assert_beb(net)
    assert_agreement(net, uniform=False)


@EXAMPLES
@given(actions(5, 2))
def test_urb_uniform_agreement_with_a_correct_majority(acts: list[Action]) -> None:
    net = run(UniformReliableCore, 5, acts)
    assert_beb(net)
    assert_agreement(net, uniform=True)


@EXAMPLES
@given(actions(4, 3))
def test_fifo_broadcast_delivers_each_origin_in_order(acts: list[Action]) -> None:
    net = run(FifoCore, 4, acts)
    assert_beb(net)
    assert_agreement(net, uniform=False)
    assert_fifo(net)


@EXAMPLES
@given(actions(4, 3))
def test_crb_causal_order_and_the_buffer_holds_only_blocked_messages(acts: list[Action]) -> None:
    net = run(CausalCore, 4, acts)
    assert_beb(net)
    assert_agreement(net, uniform=False)
    assert_fifo(net)
    assert_causal(net)


@EXAMPLES
@given(
    st.sampled_from([EagerReliableCore, UniformReliableCore, FifoCore, CausalCore]), actions(4, 0)
)
def test_memory_is_empty_once_everything_is_settled(
    cls: type[BestEffortCore], acts: list[Action]
) -> None:
    assert_drained(run(cls, 4, acts))


def test_uniform_delivers_a_crashed_origins_message_that_reached_one_correct_process() -> None:
    """The one copy that survived the origin's crash is relayed to a majority."""
    net = Net(UniformReliableCore, 5)
    net.broadcast("p0", "x")
    net.crash("p0", [True, True, False, True])  # only p3 gets it
    net.arrive(0)
    assert net.delivered["p3"] == []  # p3 and the dead p0: 2 of 5, not a majority
    net.finish()
    assert_agreement(net, uniform=True)
    assert all(net.delivered[p] for p in net.correct)  # p3's relay reached a majority


def test_causal_buffer_holds_a_reply_until_its_question_arrives_and_reports_its_peak() -> None:
    net = Net(CausalCore, 3)
    net.broadcast("p0", "question")
    # p1 gets the question, replies; p2 gets the reply first
    q_to_p1 = next(i for i, f in enumerate(net.flight) if f[1] == "p1")
    net.arrive(q_to_p1)
    net.broadcast("p1", "reply")
    reply_to_p2 = next(
        i for i, f in enumerate(net.flight) if f[1] == "p2" and f[2].payload == "reply"
    )
    net.arrive(reply_to_p2)
    core = net.cores["p2"]
    assert isinstance(core, CausalCore)
    assert [m.payload for m in core.buffered()] == ["reply"]
    assert net.delivered["p2"] == []
    net.finish()
    assert [m.payload for m in net.delivered["p2"]] == ["question", "reply"]
    assert core.peak == 1
    assert core.waiting == 0


@pytest.mark.parametrize("cls", [BestEffortCore, EagerReliableCore, FifoCore, CausalCore])
def test_duplicates_from_the_link_are_delivered_once(cls: type[BestEffortCore]) -> None:
    a, b = cls("a", 1, ["a", "b"]), cls("b", 1, ["a", "b"])
    msg = a.new(VectorClock({"a": 1}), "x")
    step = a.broadcast(msg, 0.0)
    ((peer, sent),) = step.sends
    assert peer == "b"
    assert len(b.receive("a", sent, 1.0).delivers) == 1
    assert b.receive("a", sent, 2.0).delivers == []


def test_best_effort_refuses_a_relay_it_never_asked_for() -> None:
    core = BestEffortCore("c", 1, ["a", "b", "c"])
    forged = BMessage(core.kind, "a", 1, 1, VectorClock({"a": 1}), "x")
    assert core.receive("b", forged, 0.0).delivers == []
    assert core.refused == 1
