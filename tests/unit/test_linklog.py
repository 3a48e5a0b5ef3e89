"""The logged perfect link's record core: what a crash at any point recovers to."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.durable.linklog import (
    ACKED,
    CONSUMED,
    IN,
    INR,
    INS,
    MARK,
    OUT,
    STREAM,
    LinkLogError,
    LinkLogState,
    consumed_runs,
    recover,
)

PEERS = ("p", "q")


def _observe(state: LinkLogState) -> dict[str, Any]:
    """Everything recovery hands back to the link and the node."""
    return {
        "stream": state.stream,
        "redeliver": [tuple(rec[1:4]) for rec in state.redeliveries()],
        "held_back": {s: [tuple(r[1:4]) for r in state.held_back(s)] for s in PEERS},
        "resume": {s: state.resume(s) for s in PEERS},
        "out": {
            peer: (out.acked, out.next_seq, dict(out.held))
            for peer, out in state.outbound.items()
            if out.held or out.acked
        },
    }


class _Run:
    """A link (two peers each way) writing a valid record stream; compactions replace
    the file the way RecordLog.compact does. ``snapshots`` holds (file, history length)
    after every record: each is a point where kill -9 may strike."""

    def __init__(self) -> None:
        self.history: list[Any] = [[STREAM, 7]]
        self.file: list[Any] = [[STREAM, 7]]
        self.snapshots: list[tuple[list[Any], int]] = []
        self.next_out = dict.fromkeys(PEERS, 1)
        self.acked = dict.fromkeys(PEERS, 0)
        self.inc = dict.fromkeys(PEERS, 1)
        self.received: dict[tuple[str, int], set[int]] = {}
        self.point = dict.fromkeys(PEERS, 0)
        self.delivered: list[tuple[str, int, int]] = []
        for s in PEERS:
            self.write([MARK, s, 1, 0])

    def write(self, record: Any) -> None:
        self.history.append(record)
        self.file.append(record)
        self.snapshots.append((list(self.file), len(self.history)))

    def step(self, data: st.DataObject) -> None:
        op = data.draw(
            st.sampled_from(
                [
                    "send",
                    "send_run",
                    "ack",
                    "recv",
                    "recv_segment",
                    "consume",
                    "consume_run",
                    "restart",
                    "skip",
                    "compact",
                ]
            )
        )
        peer = data.draw(st.sampled_from(PEERS))
        if op == "send":
            seq = self.next_out[peer]
            self.next_out[peer] += 1
            self.write([OUT, peer, seq, b"m%d" % seq])
        elif op == "send_run":  # one flush's messages to a peer: one record
            seq = self.next_out[peer]
            count = data.draw(st.integers(1, 3))
            self.next_out[peer] += count
            self.write([OUT, peer, seq, [b"m%d" % n for n in range(seq, seq + count)]])
        elif op == "ack" and self.next_out[peer] - 1 > self.acked[peer]:
            self.acked[peer] = data.draw(st.integers(self.acked[peer] + 1, self.next_out[peer] - 1))
            self.write([ACKED, peer, self.acked[peer]])
        elif op == "recv":
            inc = self.inc[peer]
            seq = self.point[peer] + 1 + data.draw(st.integers(0, 2))
            got = self.received.setdefault((peer, inc), set())
            if seq in got:
                return
            got.add(seq)
            self.write([IN, peer, inc, seq, {peer: seq}, seq])
            while self.point[peer] + 1 in got:
                self.point[peer] += 1
                self.delivered.append((peer, inc, self.point[peer]))
        elif op == "recv_segment":  # one segment's messages, some above a gap: one record
            inc = self.inc[peer]
            got = self.received.setdefault((peer, inc), set())
            first = self.point[peer] + 1 + data.draw(st.integers(0, 2))
            seqs = [s for s in range(first, first + data.draw(st.integers(1, 4))) if s not in got]
            if not seqs:
                return
            got.update(seqs)
            if seqs == list(range(seqs[0], seqs[0] + len(seqs))) and data.draw(st.booleans()):
                clocks = [{peer: seq} for seq in seqs]
                self.write([INR, peer, inc, seqs[0], clocks, list(seqs)])  # as two columns
            else:
                self.write([INS, [[IN, peer, inc, seq, {peer: seq}, seq] for seq in seqs]])
            while self.point[peer] + 1 in got:
                self.point[peer] += 1
                self.delivered.append((peer, inc, self.point[peer]))
        elif op == "consume" and self.delivered:
            key = self.delivered.pop(data.draw(st.integers(0, len(self.delivered) - 1)))
            self.write([CONSUMED, *key])
        elif op == "consume_run" and self.delivered:  # a flush's consumptions, coalesced
            at = data.draw(st.integers(0, len(self.delivered) - 1))
            keys = [
                self.delivered.pop(at)
                for _ in range(data.draw(st.integers(1, 4)))
                if at < len(self.delivered)
            ]
            for record in consumed_runs(keys):
                self.write(record)
        elif op == "restart":  # the peer came back as a new incarnation (no data dir)
            self.inc[peer] += 1
            base = data.draw(st.integers(1, 5))
            self.point[peer] = base - 1
            self.write([MARK, peer, self.inc[peer], base - 1])
        elif op == "skip":  # the peer gave messages up: its base moved past them
            inc = self.inc[peer]
            got = self.received.setdefault((peer, inc), set())
            point = self.point[peer] + data.draw(st.integers(1, 3))
            self.write([MARK, peer, inc, point])
            for seq in range(self.point[peer] + 1, point + 1):
                if seq in got:
                    self.delivered.append((peer, inc, seq))
            self.point[peer] = point
            while self.point[peer] + 1 in got:
                self.point[peer] += 1
                self.delivered.append((peer, inc, self.point[peer]))
        elif op == "compact":
            self.file = recover(self.file).live_records()


def _in_records(record: Any) -> list[Any]:
    """What an ``ins`` or ``inr`` record stands for; any other record itself."""
    if record[0] == INS:
        return list(record[1])
    if record[0] == INR:
        _, peer, inc, first, clocks, payloads = record
        return [
            [IN, peer, inc, first + i, clock, payload]
            for i, (clock, payload) in enumerate(zip(clocks, payloads, strict=True))
        ]
    return [record]


def _check_promises(history: list[Any], state: LinkLogState) -> None:
    """The LPL promises, judged from the uncompacted history (an independent reading)."""
    history = [one for r in history for one in _in_records(r)]
    consumed = {
        (r[1], r[2], seq) for r in history if r[0] == CONSUMED for seq in range(r[3], r[-1] + 1)
    }
    latest: dict[str, int] = {}
    for r in history:
        if r[0] in (IN, MARK):
            latest[r[1]] = max(latest.get(r[1], 0), r[2])
    back = {tuple(r[1:4]) for r in state.redeliveries()}
    for s in PEERS:
        back |= {tuple(r[1:4]) for r in state.held_back(s)}
    for r in history:
        if r[0] != IN:
            continue
        key = tuple(r[1:4])
        if key in consumed:
            # LPL2 across a crash: never delivered again, and a resend is a duplicate
            assert key not in back, f"consumed {key} came back"
            if latest[key[0]] == key[1]:
                resume = state.resume(key[0])
                assert resume is not None
                assert key[2] <= resume[1]
        elif latest[key[0]] == key[1] or state.deliverable(key):  # type: ignore[arg-type]
            # LPL1: received (so perhaps acked) and not consumed: it comes back
            assert key in back, f"unconsumed {key} lost"
    acked: dict[str, int] = {}
    for r in history:
        if r[0] == ACKED:
            acked[r[1]] = max(acked.get(r[1], 0), r[2])
    for r in history:
        if r[0] == OUT:
            out = state.outbound[r[1]]
            runs = r[3] if isinstance(r[3], list) else [r[3]]
            for seq, packed in enumerate(runs, r[2]):
                assert out.next_seq > seq
                if seq > acked.get(r[1], 0):
                    assert out.held[seq] == packed, f"unacked out {r[1]}:{seq} lost"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_lpl_a_crash_at_any_record_keeps_every_promise(data: st.DataObject) -> None:
    run = _Run()
    for _ in range(data.draw(st.integers(0, 40))):
        run.step(data)
    for file, upto in run.snapshots:
        history = run.history[:upto]
        state = recover(file)
        assert _observe(state) == _observe(recover(history)), "compaction changed the meaning"
        _check_promises(history, state)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_compaction_is_bounded_by_what_is_outstanding(data: st.DataObject) -> None:
    run = _Run()
    for _ in range(data.draw(st.integers(0, 60))):
        run.step(data)
    state = recover(run.file)
    live = state.live_records()
    outstanding = sum(len(o.held) for o in state.outbound.values()) + state.pending_count
    streams = len({(r[1], r[2]) for r in live if r[0] == IN})
    assert len(live) <= outstanding + 1 + 2 * len(PEERS) + streams
    assert _observe(recover(live)) == _observe(state)


def test_everything_consumed_and_acked_compacts_to_marks() -> None:
    records = [[STREAM, 3], [MARK, "p", 5, 0]]
    for seq in range(1, 1001):
        records += [[IN, "p", 5, seq, {"p": seq}, b"x"], [CONSUMED, "p", 5, seq]]
        records += [[OUT, "p", seq, b"y"], [ACKED, "p", seq]]
    live = recover(records).live_records()
    assert live == [[STREAM, 3], [ACKED, "p", 1000], [MARK, "p", 5, 1000]]
    state = recover(live)
    assert state.outbound["p"].next_seq == 1001
    assert state.resume("p") == (5, 1000)


def test_redeliveries_keep_each_senders_order_and_earlier_incarnations_first() -> None:
    state = recover(
        [
            [MARK, "p", 2, 0],
            [IN, "p", 2, 2, {}, "b"],  # above a gap, then the gap fills
            [IN, "p", 2, 1, {}, "a"],
            [MARK, "p", 3, 0],
            [IN, "p", 3, 1, {}, "c"],
            [IN, "p", 3, 3, {}, "e"],  # above a gap of the latest incarnation: held back
        ]
    )
    assert [r[5] for r in state.redeliveries()] == ["a", "b", "c"]
    assert [r[5] for r in state.held_back("p")] == ["e"]
    assert state.resume("p") == (3, 1)


def test_an_earlier_incarnation_above_its_gap_is_discarded() -> None:
    state = recover([[MARK, "p", 2, 0], [IN, "p", 2, 2, {}, "b"], [MARK, "p", 3, 0]])
    assert state.redeliveries() == []
    assert state.held_back("p") == []
    assert [r for r in state.live_records() if r[0] == IN] == []


def test_an_ins_record_means_its_in_records_applied_in_order() -> None:
    ins = [[IN, "p", 2, n, {"p": n}, n] for n in (3, 1, 2, 5)]
    batched = recover([[MARK, "p", 2, 0], [INS, ins]])
    single = recover([[MARK, "p", 2, 0], *ins])
    assert _observe(batched) == _observe(single)
    assert [r[3] for r in batched.redeliveries()] == [1, 2, 3]
    assert [r[3] for r in batched.held_back("p")] == [5]


def test_an_inr_record_means_its_in_records_applied_in_order() -> None:
    clocks, payloads = [{"p": n} for n in (4, 5, 6)], ["d", "e", "f"]
    columns = recover(
        [[MARK, "p", 2, 0], [IN, "p", 2, 1, {"p": 1}, "a"], [INR, "p", 2, 4, clocks, payloads]]
    )
    single = recover(
        [[MARK, "p", 2, 0], [IN, "p", 2, 1, {"p": 1}, "a"]]
        + [[IN, "p", 2, 4 + i, clocks[i], payloads[i]] for i in range(3)]
    )
    assert _observe(columns) == _observe(single)
    assert [r[5] for r in columns.redeliveries()] == ["a"]
    assert [r[5] for r in columns.held_back("p")] == ["d", "e", "f"]
    assert recover(columns.live_records()).held_back("p") == columns.held_back("p")


@pytest.mark.parametrize(
    "record",
    [
        ["nope"],
        [IN, "p"],
        5,
        [OUT, "p", 1],
        [INS, [[OUT, "p", 1, b""]]],
        [INS, 3],
        [INR, "p", 1, 1, [{"p": 1}], ["a", "b"]],  # two payloads, one clock
        [INR, "p", 1, "one", [{"p": 1}], ["a"]],
        [INR, "p", 1, 1, 5, ["a"]],
        [INR, "p", 1, 1, [{"p": 1}]],
    ],
)
def test_a_record_of_unknown_shape_is_refused(record: Any) -> None:
    with pytest.raises(LinkLogError):
        recover([record])


def test_consumed_runs_coalesce_consecutive_seqs_of_one_stream_only() -> None:
    keys = [("p", 1, 3), ("p", 1, 4), ("p", 1, 5), ("q", 1, 6), ("p", 1, 6), ("p", 2, 7)]
    assert consumed_runs(keys) == [
        [CONSUMED, "p", 1, 3, 5],
        [CONSUMED, "q", 1, 6],
        [CONSUMED, "p", 1, 6],
        [CONSUMED, "p", 2, 7],
    ]
    state = recover([[STREAM, 1], *([IN, "p", 1, n, {"p": n}, n] for n in (1, 2, 3))])
    state.apply([CONSUMED, "p", 1, 1, 2])
    assert [rec[3] for rec in state.redeliveries()] == [3]


def test_a_consumed_up_to_mark_consumes_its_stream_up_to_it_only() -> None:
    records = [[STREAM, 1], [MARK, "p", 1, 0], [MARK, "p", 2, 0], [MARK, "q", 1, 0]]
    records += [
        [IN, s, inc, n, {s: n}, n] for s, inc in (("p", 1), ("p", 2), ("q", 1)) for n in (1, 2, 3)
    ]
    state = recover(records)
    state.consumed_through("p", 1, 2)
    assert [tuple(r[1:4]) for r in state.redeliveries()] == [
        ("p", 1, 3),
        ("p", 2, 1),
        ("p", 2, 2),
        ("p", 2, 3),
        ("q", 1, 1),
        ("q", 1, 2),
        ("q", 1, 3),
    ]
    assert recover(state.live_records()).redeliveries() == state.redeliveries()
