"""Compressed clocks (``clock_encoding="diff"``): the receiver rebuilds exactly the clock
the sender stamped, whatever the wire and the processes do.

The sans-IO perfect-link core runs in memory with injected time over a seeded wire that
loses, duplicates, reorders and delays datagrams, while either side may restart (a new
incarnation: the sender starts its stream again, the receiver forgets every clock it
rebuilt) and the sender may give messages up. Every failure names the seed.
"""

from __future__ import annotations

import heapq
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import ClockScope, VectorClock
from netclock.errors import ConfigError, WireError
from netclock.links.base import GaveUp
from netclock.links.session import PeerSession
from netclock.wire import envelope as wire
from netclock.wire.clockdiff import ClockDelta, apply_delta, delta_flat
from netclock.wire.envelope import decode_delta

PROPERTY = settings(max_examples=30, deadline=None, print_blob=True)
PIDS = [f"p{i}" for i in range(8)]


class World:
    """Sessions ``a`` and ``b`` (both sending, diff clocks) over a seeded hostile wire.

    ``sent[(node, incarnation, seq)]`` is the clock the sender stamped; ``rebuilt`` every
    delivery as the receiver saw it; a restart replaces a session by a new incarnation.
    """

    def __init__(self, seed: int, loss: float, duplicate: float, jitter: float, **options: Any):
        self.rng = random.Random(seed)
        self.seed = seed
        self.loss, self.duplicate, self.jitter = loss, duplicate, jitter
        self.options = {"send_window": 16, "receive_capacity": 24, "max_datagram": 400}
        self.options.update(options)
        self.incarnation = {"a": 1, "b": 1}
        self.sessions = {n: self._session(n) for n in ("a", "b")}
        self.clocks: dict[str, dict[str, int]] = {"a": {}, "b": {}}
        self.sent: dict[tuple[str, int, int], dict[str, int]] = {}
        self.settled: set[tuple[str, int, int]] = set()
        self.delivered: set[tuple[str, int, int]] = set()
        self.now = 0.0
        self._heap: list[tuple[float, int, str, int, bytes]] = []
        self._count = 0

    def _session(self, name: str) -> PeerSession:
        other = "b" if name == "a" else "a"
        return PeerSession(
            name, self.incarnation[name], other, clock_encoding="diff", **self.options
        )

    def _next_clock(self, name: str) -> VectorClock:
        """A clock that moves as real ones do (a few entries up), now and then one entry
        gone (a relayed broadcast carries its origin's clock, not ours)."""
        entries = dict(self.clocks[name])
        entries[name] = entries.get(name, 0) + 1
        for pid in self.rng.sample(PIDS, self.rng.randint(0, 3)):
            entries[pid] = entries.get(pid, 0) + self.rng.randint(1, 300)
        if entries and self.rng.random() < 0.1:
            del entries[self.rng.choice(sorted(entries))]
        self.clocks[name] = entries
        return VectorClock(entries)

    def send(self, name: str, payload: str) -> bool:
        session = self.sessions[name]
        if not session.writable():
            return False
        clock = self._next_clock(name)
        seq = session.send(clock, payload, self.now)
        self.sent[(name, self.incarnation[name], seq)] = dict(clock._entries)
        self.flush(name)
        return True

    def restart(self, name: str) -> None:
        self.incarnation[name] += 1
        self.sessions[name] = self._session(name)
        self.clocks[name] = {}

    def flush(self, name: str) -> None:
        session = self.sessions[name]
        for datagram in session.datagrams_to_send(self.now):
            if self.rng.random() < self.loss:
                continue
            for _ in range(2 if self.rng.random() < self.duplicate else 1):
                self._count += 1
                at = self.now + 0.001 + self.rng.random() * self.jitter
                dst = "b" if name == "a" else "a"
                heapq.heappush(self._heap, (at, self._count, dst, self.incarnation[dst], datagram))
        for event in session.events():
            if isinstance(event, GaveUp):
                for seq, _ in event.messages:
                    self.settled.add((name, event.incarnation, seq))

    def pop(self, name: str) -> None:
        session = self.sessions[name]
        sender = "b" if name == "a" else "a"
        while session.deliverable:
            batch = session.pop_deliveries(64)
            inc = session.peer_incarnation
            for seq, clock, _ in batch:
                key = (sender, inc, seq)
                assert type(clock) is VectorClock, f"a delta was delivered (seed={self.seed})"
                assert key in self.sent, f"{key} was never sent (seed={self.seed})"
                assert clock._entries == self.sent[key], (
                    f"{key}: rebuilt {clock._entries} != sent {self.sent[key]} (seed={self.seed})"
                )
                self.delivered.add(key)

    def step(self) -> bool:
        timer = min(
            ((s.get_timer(), n) for n, s in self.sessions.items() if s.get_timer() is not None),
            default=None,
        )
        arrival = self._heap[0][0] if self._heap else None
        if timer is None and arrival is None:
            return False
        if timer is not None and timer[0] is not None and (arrival is None or timer[0] <= arrival):
            self.now = max(self.now, timer[0])
            self.sessions[timer[1]].handle_timer(self.now)
            self.flush(timer[1])
            return True
        at, _, dst, incarnation, datagram = heapq.heappop(self._heap)
        self.now = max(self.now, at)
        if incarnation == self.incarnation[dst]:  # a dead process receives nothing
            segment = wire.decode(datagram)
            assert isinstance(segment, wire.Segment)
            self.sessions[dst].receive_segment(segment, self.now)
            self.pop(dst)
        self.flush(dst)
        return True

    def run_until_quiet(self, limit: float) -> None:
        """The wire stops losing; run until every message of the live incarnations is
        delivered (or given up)."""
        self.loss = 0.0
        for _ in range(200_000):
            if self.now > limit or not self.step():
                break
        for (name, inc, seq), _ in self.sent.items():
            if inc == self.incarnation[name]:
                key = (name, inc, seq)
                assert key in self.delivered or key in self.settled, (
                    f"{key} never delivered (seed={self.seed})"
                )


schedules = st.tuples(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.floats(min_value=0.0, max_value=0.3),
    st.floats(min_value=0.0, max_value=0.2),
    st.floats(min_value=0.0, max_value=0.02),
    st.lists(st.sampled_from(["a", "b", "-"]), min_size=0, max_size=4),
)


@PROPERTY
@given(schedules)
def test_rebuilt_clock_is_the_senders_under_loss_duplication_reordering_and_restarts(
    schedule: tuple[int, float, float, float, list[str]],
) -> None:
    seed, loss, duplicate, jitter, restarts = schedule
    world = World(seed, loss, duplicate, jitter)
    rounds = 6
    for r in range(rounds):
        for i in range(25):
            world.send("a", f"a{r}.{i}")
            if i % 3 == 0:
                world.send("b", f"b{r}.{i}")
            for _ in range(3):
                world.step()
        if r < len(restarts) and restarts[r] != "-":
            world.restart(restarts[r])
    world.run_until_quiet(world.now + 120.0)


@PROPERTY
@given(schedules)
def test_clocks_stay_exact_when_the_sender_gives_messages_up(
    schedule: tuple[int, float, float, float, list[str]],
) -> None:
    seed, loss, duplicate, jitter, restarts = schedule
    world = World(seed, max(loss, 0.2), duplicate, jitter, give_up_after=0.05)
    for r in range(5):
        for i in range(25):
            world.send("a", f"a{r}.{i}")
            for _ in range(4):
                world.step()
        if r < len(restarts) and restarts[r] == "b":
            world.restart("b")
    world.run_until_quiet(world.now + 120.0)


def test_a_tls_style_session_rebuilds_clocks_across_a_receiver_restart() -> None:
    """No retransmission timer: the reconnect's hello makes the first resent message whole."""
    a = PeerSession("a", 1, "b", retransmit=False, clock_encoding="diff")
    b1 = PeerSession("b", 1, "a", retransmit=False, clock_encoding="diff")
    a.on_reconnect(b1.hello(), 0.0)
    b1.on_reconnect(a.hello(), 0.0)
    clocks = [VectorClock({"a": i, "c": 5 + i // 2}) for i in range(1, 9)]
    for clock in clocks[:4]:
        a.send(clock, "x", 0.0)
    for datagram in a.datagrams_to_send(0.0):
        b1.receive_segment(_segment(datagram), 0.0)
    assert [m.clock for m in b1.pop_deliveries(10)] == clocks[:4]
    for clock in clocks[4:]:  # b1 dies before it acknowledges anything
        a.send(clock, "y", 0.01)
    a.datagrams_to_send(0.01)
    b2 = PeerSession("b", 2, "a", retransmit=False, clock_encoding="diff")
    a.on_reconnect(b2.hello(), 0.02)
    b2.on_reconnect(a.hello(), 0.02)
    for datagram in a.datagrams_to_send(0.02):
        b2.receive_segment(_segment(datagram), 0.02)
    assert [m.clock for m in b2.pop_deliveries(10)] == clocks
    assert b2.stats["clock_base_missing"] == 0


def test_a_delta_without_its_base_is_dropped_unacknowledged_then_resent_whole() -> None:
    """A logged receiver restarted at its receive point (b2) has lost the clock of that
    message: it drops the next delta unacknowledged, and the timeout resends it whole."""
    a = PeerSession("a", 1, "b", clock_encoding="diff")
    b1 = PeerSession("b", 1, "a", clock_encoding="diff")
    a.send(VectorClock({"a": 1}), "one", 0.0)
    for datagram in a.datagrams_to_send(0.0):
        b1.receive_segment(_segment(datagram), 0.0)
    assert [m.payload for m in b1.pop_deliveries(10)] == ["one"]
    b2 = PeerSession("b", 1, "a", clock_encoding="diff")
    b2.restore(0, [], [], (1, 1), [], 0.001)
    a.send(VectorClock({"a": 2, "c": 3}), "two", 0.002)
    (datagram,) = a.datagrams_to_send(0.002)
    assert type(_segment(datagram).messages[-1].clock) is ClockDelta
    b2.receive_segment(_segment(datagram), 0.003)
    assert b2.deliverable == 0
    assert b2.stats["clock_base_missing"] == 1
    for reply in b2.datagrams_to_send(0.003):
        a.receive_segment(_segment(reply), 0.004)
    assert a.unacked == 1  # message 1 acked, 2 not
    a.handle_timer(a.get_timer() or 1.0)  # the timeout resends the lowest, whole
    for datagram in a.datagrams_to_send(1.0):
        resent = _segment(datagram).messages
        assert [type(m.clock) for m in resent] == [VectorClock]
        b2.receive_segment(_segment(datagram), 1.0)
    assert [m.clock for m in b2.pop_deliveries(10)] == [VectorClock({"a": 2, "c": 3})]


def test_a_durable_log_gets_every_message_with_its_whole_clock() -> None:
    a = PeerSession("a", 1, "b", clock_encoding="diff")
    a.send(VectorClock({"a": 1, "b": 4}), "one", 0.0)
    a.send(VectorClock({"a": 2, "b": 4}), "two", 0.0)
    logged = wire.payload_of(a.packed(2)), msgpack_clock(a.packed(2))
    assert logged == ("two", {"a": 2, "b": 4})


def msgpack_clock(packed: bytes) -> Any:
    import msgpack

    return msgpack.unpackb(packed)[1]


def _segment(datagram: bytes) -> wire.Segment:
    segment = wire.decode(datagram)
    assert isinstance(segment, wire.Segment)
    return segment


def test_diff_clocks_need_a_fifo_link() -> None:
    with pytest.raises(ConfigError, match="FIFO"):
        PeerSession("a", 1, "b", clock_encoding="diff", fifo=False)
    with pytest.raises(ConfigError, match="full, diff"):
        PeerSession("a", 1, "b", clock_encoding="deltas")


# -- the delta codec ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(st.sampled_from(PIDS), st.integers(1, 2**64 - 1)),
    st.dictionaries(st.sampled_from(PIDS), st.integers(1, 2**64 - 1)),
)
def test_a_delta_applied_to_its_base_gives_the_clock_back(
    previous: dict[str, int], current: dict[str, int]
) -> None:
    flat = delta_flat(previous, current)
    assert len(flat) <= 2 * len(previous.keys() | current.keys())
    delta = decode_delta(flat, 1024, set(PIDS))
    assert apply_delta(previous, delta) == current


@pytest.mark.parametrize(
    ("flat", "reason"),
    [
        (["a"], "even-length"),
        (["a", 1, "a", 2], "twice"),
        (["a", 0, "a", 0], "twice"),
        ([1, 1], "str"),
        (["a b", 1], "clock delta id"),
        (["a", -1], "counter"),
        (["a", True], "counter"),
        (["a", 1.0], "counter"),
        (["a", 2**64], "counter"),
    ],
)
def test_a_bad_delta_is_a_wire_error(flat: list[Any], reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        decode_delta(flat, 1024, set())


def test_a_delta_with_more_entries_than_the_limit_is_refused() -> None:
    with pytest.raises(WireError, match="at most 2 entries"):
        decode_delta(["a", 1, "b", 1, "c", 1], 2, set())


def test_a_delta_that_grows_a_clock_past_the_scope_is_refused_once_resent_whole() -> None:
    """Each delta is small; the clock it builds is not: it is not taken, and whole it is
    refused like any clock out of scope (the sender hears it), never delivered."""
    a = PeerSession("a", 1, "b", clock_encoding="diff")
    b = PeerSession("b", 1, "a", clock_scope=ClockScope(None, max_entries=3))
    a.send(VectorClock({"a": 1, "b": 1}), "fits", 0.0)
    a.send(VectorClock({"a": 2, "b": 1, "c": 1, "d": 1}), "too wide", 0.0)
    now = 0.0
    delivered: list[Any] = []
    for _ in range(20):
        for datagram in a.datagrams_to_send(now):
            b.receive_segment(_segment(datagram), now)
        delivered += [m.payload for m in b.pop_deliveries(10)]
        for datagram in b.datagrams_to_send(now):
            a.receive_segment(_segment(datagram), now)
        now += 0.2
        a.handle_timer(now)
        b.handle_timer(now)
    assert delivered == ["fits"]
    assert b.stats["clock_base_missing"] >= 1
    assert b.stats["refused"] == 1
    assert a.unacked == 0, "refused, so acknowledged: the sender reports it as a failure"
