"""A synthetic broadcast run of any size, written by the real writers, no processes.

:func:`write_broadcast_run` writes what a launcher run of ``nodes`` processes
broadcasting to each other would leave (``run.json``, ``faults.jsonl``, one
``<node>.events.jsonl`` per node), through
:class:`~netclock.observe.eventlog.EventRecorder` and the clock rules of
:class:`~netclock.clock.VectorClock`: ``bcast`` at the origin, ``bdeliver`` at every
process it reaches. Every process delivers in one total order of the broadcasts that
respects their causal order, so a run without faults satisfies every property of every
kind. The faults, each drawn from ``seed``, break them on purpose: a share of copies lost,
a share delivered twice, a share delivered ahead of the one before it (a FIFO or causal
violation), ids delivered that nobody broadcast, Bracha deliveries with another value,
and kills (a killed node's log ends without ``stop``, its last broadcast may be cut from
its log, and it may come back as a new incarnation). :class:`SyntheticBroadcastRun`
says what was injected: the tests compare the checker with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from netclock.clock import VectorClock
from netclock.links.base import PROMISES
from netclock.observe.eventlog import (
    EVENT_SUFFIX,
    FAULT_RECORD,
    EventRecorder,
    RunInfo,
    write_run_info,
)

__all__ = ["BroadcastFaults", "SyntheticBroadcastRun", "write_broadcast_run"]

_FLUSH_EVERY = 2000
"""Events recorded between two turns of the event loop (one write per file per turn)."""


@dataclass(frozen=True, slots=True)
class BroadcastFaults:
    """What to break, each a share of its chances (all drawn from the run's seed):
    ``loss`` of the copies to other processes, ``duplicates`` of the deliveries (delivered
    once more, later), ``reorder`` of the deliveries (the next one in line delivered
    first), ``created`` of the deliveries (followed by one of an id never broadcast),
    ``forks`` of the Bracha deliveries away from the origin (another value); ``kills``
    processes killed between a quarter and three quarters of the run, their last broadcast
    cut from the log when ``cut``, and started again as a new incarnation (with empty
    broadcast state) when ``restart``."""

    loss: float = 0.0
    duplicates: float = 0.0
    reorder: float = 0.0
    created: float = 0.0
    forks: float = 0.0
    kills: int = 0
    cut: bool = False
    restart: bool = False


@dataclass(frozen=True, slots=True)
class SyntheticBroadcastRun:
    """What a synthetic broadcast run holds: ``events`` lines in all, ``broadcasts`` made,
    and what was injected (copies ``lost``, ``duplicated`` deliveries, ``reordered``
    deliveries, ``created`` ones, ``forked`` broadcasts, delivered with two values or more,
    ``cut`` broadcasts, the ``killed`` nodes)."""

    folder: Path
    nodes: tuple[str, ...]
    kind: str
    events: int
    broadcasts: int
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    created: int = 0
    forked: int = 0
    cut: int = 0
    killed: tuple[str, ...] = field(default=())


_Copy = tuple[str, int, int, VectorClock, bool]
"""A copy on its way: origin, incarnation, seq, the origin's clock, whether a duplicate."""


class _Writer:
    def __init__(self, folder: Path, names: tuple[str, ...], kind: str, seed: int) -> None:
        self.folder = folder
        self.rng = random.Random(seed)
        self.names = names
        self.kind = kind
        self.started = time.time()
        self.record: list[dict[str, object]] = [
            {"t": self.started, "at": 0.0, "do": "start", "node": n, "pid": 1000 + i}
            for i, n in enumerate(names)
        ]
        self.recorders: dict[str, EventRecorder] = {}
        self.clocks: dict[str, VectorClock] = {}
        self.inc = dict.fromkeys(names, 1)
        self.seq = dict.fromkeys(names, 0)
        self.queues: dict[str, deque[_Copy]] = {n: deque() for n in names}
        self.alive: set[str] = set()
        self.forked: set[tuple[str, int, int]] = set()
        self.logged_own: dict[str, int] = {}  # a killed node's own entry, as its log ends
        self.written = self.broadcasts = 0
        self.counts = dict.fromkeys(
            ("lost", "duplicated", "reordered", "created", "forked", "cut"), 0
        )
        for n in names:
            self.begin(n, VectorClock({n: 1}), append=False)

    def begin(self, node: str, clock: VectorClock, *, append: bool) -> None:
        self.recorders[node] = EventRecorder(
            node, self.inc[node], event_log=self.folder / f"{node}{EVENT_SUFFIX}", append=append
        )
        self.clocks[node] = clock
        self.seq[node] = 0
        self.alive.add(node)
        promises = list(PROMISES.get("reliable", ()))
        self.recorders[node].record("init", clock, "init", link="reliable", promises=promises)
        self.written += 1

    def broadcast(self, faults: BroadcastFaults, origin: str = "", *, logged: bool = True) -> None:
        """A broadcast by ``origin`` (by default a random live process); not in the
        origin's log unless ``logged`` (a kill cut it), its copies sent all the same."""
        rng = self.rng
        origin = origin or rng.choice(sorted(self.alive))
        clock = self.clocks[origin] = self.clocks[origin].tick(origin)
        seq = self.seq[origin] = self.seq[origin] + 1
        inc = self.inc[origin]
        if logged:
            self.recorders[origin].record(
                "bcast", clock, "broadcast", id=[origin, inc, seq], bkind=self.kind
            )
            self.written += 1
            self.broadcasts += 1
        else:
            self.counts["cut"] += 1
        for to in self.names:
            if to not in self.alive:
                continue
            if to != origin and rng.random() < faults.loss:
                self.counts["lost"] += 1
                continue
            self.queues[to].append((origin, inc, seq, clock, False))

    def deliver(self, faults: BroadcastFaults) -> None:
        rng = self.rng
        to = rng.choice([n for n in sorted(self.alive) if self.queues[n]])
        queue = self.queues[to]
        if len(queue) > 1 and rng.random() < faults.reorder:
            queue[0], queue[1] = queue[1], queue[0]
            self.counts["reordered"] += 1
        copy = queue.popleft()
        self.bdeliver(to, copy, faults)
        if not copy[4] and rng.random() < faults.duplicates:
            queue.insert(min(len(queue), rng.randrange(4)), (*copy[:4], True))
            self.counts["duplicated"] += 1
        if rng.random() < faults.created:
            origin = rng.choice(self.names)
            made_up = VectorClock({origin: 1})
            self.bdeliver(to, (origin, self.inc[origin], 10**9 + rng.randrange(10**6),
                               made_up, False), faults)  # fmt: skip
            self.counts["created"] += 1

    def bdeliver(self, to: str, copy: _Copy, faults: BroadcastFaults) -> None:
        origin, inc, seq, msg_clock, _ = copy
        clock = self.clocks[to] = self.clocks[to].receive(to, msg_clock)
        extra: dict[str, object] = {}
        if self.kind == "byzantine":
            value = f"{origin}:{inc}:{seq}"
            if to != origin and self.rng.random() < faults.forks:
                value += f":forked at {to}"
                self.forked.add((origin, inc, seq))
            extra["digest"] = hashlib.blake2b(value.encode(), digest_size=8).hexdigest()
        self.recorders[to].record(
            "bdeliver",
            clock,
            "deliver broadcast",
            id=[origin, inc, seq],
            msg_clock=msg_clock.to_dict(),
            bkind=self.kind,
            **{"from": origin},
            **extra,
        )
        self.written += 1

    def kill(self, node: str, faults: BroadcastFaults) -> None:
        """``kill -9``: the node's log ends here, without ``stop``; the record says so."""
        self.logged_own[node] = self.clocks[node].get(node)
        if faults.cut:
            self.broadcast(faults, node, logged=False)
        self.recorders[node].close()
        self.alive.discard(node)
        self.queues[node].clear()
        t = time.time()
        self.record.append(
            {"t": t, "at": t - self.started, "do": "kill", "node": node, "signal": "SIGKILL"}
        )

    def restart(self, node: str) -> None:
        last = self.logged_own[node]
        self.inc[node] += 1
        self.begin(node, VectorClock({node: last + 1}), append=True)
        t = time.time()
        self.record.append(
            {"t": t, "at": t - self.started, "do": "start", "node": node, "pid": 2000,
             "incarnation": self.inc[node], "restart": True}
        )  # fmt: skip

    def end(self) -> None:
        for n in sorted(self.alive):
            self.recorders[n].record("stop", self.clocks[n], "stop", clean=True, stats={})
            self.recorders[n].close()
            self.written += 1
        ended = time.time()
        self.record += [
            {"t": ended, "at": ended - self.started, "do": "exit", "node": n, "code": 0,
             "expected": True}
            for n in sorted(self.alive)
        ]  # fmt: skip
        self.record.append({"t": ended, "at": ended - self.started, "do": "stop", "reason": "done"})
        text = "".join(json.dumps(r) + "\n" for r in self.record)
        (self.folder / FAULT_RECORD).write_text(text, encoding="utf-8")


async def _write(w: _Writer, events: int, faults: BroadcastFaults) -> tuple[int, tuple[str, ...]]:
    rng, names = w.rng, w.names
    victims = rng.sample(names, min(faults.kills, len(names) - 1)) if faults.kills > 0 else []
    low, high = events // 4, max(events // 4 + 1, events * 3 // 4)
    # when each victim is killed (events written by then), earliest first
    schedule = sorted((rng.randrange(low, high), node) for node in victims)
    last = -1
    while w.written + len(w.alive) < events:
        if schedule and w.written >= schedule[0][0]:
            node = schedule.pop(0)[1]
            w.kill(node, faults)
            if faults.restart:
                w.restart(node)
            continue
        waiting = sum(len(w.queues[n]) for n in w.alive)
        if waiting and (rng.random() < 0.6 or w.written + len(w.alive) + waiting >= events):
            w.deliver(faults)
        else:
            w.broadcast(faults)
        if w.written // _FLUSH_EVERY != last:
            last = w.written // _FLUSH_EVERY
            await asyncio.sleep(0)
    while any(w.queues[n] for n in w.alive):  # every copy on its way arrives before the end
        w.deliver(faults)
    w.end()
    return w.written, tuple(w.logged_own)  # in the order they were killed


def write_broadcast_run(
    folder: Path,
    *,
    nodes: int = 4,
    events: int = 10_000,
    kind: str = "causal",
    faults: BroadcastFaults = BroadcastFaults(),
    seed: int = 1,
) -> SyntheticBroadcastRun:
    """Write a broadcast run of about ``events`` event-log lines across ``nodes`` processes
    (``n0``, ``n1``, ...) to ``folder``, every broadcast of ``kind``, with ``faults``.

    The same arguments write the same events (wall times aside). Must not be called from a
    running event loop.
    """
    if nodes < 2:
        raise ValueError("a broadcast run needs at least two nodes")
    folder.mkdir(parents=True, exist_ok=True)
    names = tuple(f"n{i}" for i in range(nodes))
    write_run_info(
        folder,
        RunInfo(name=f"broadcast-{events}", link="reliable", nodes=names, started=time.time()),
    )
    w = _Writer(folder, names, kind, seed)
    written, killed = asyncio.run(_write(w, events, faults))
    c = w.counts
    c["forked"] = len(w.forked)
    return SyntheticBroadcastRun(
        folder, names, kind, written, w.broadcasts, c["lost"], c["duplicated"],
        c["reordered"], c["created"], c["forked"], c["cut"], killed,
    )  # fmt: skip
