"""A synthetic run folder of any size, written by the real writers, no processes.

:func:`write_synthetic_run` writes what a launcher run of ``nodes`` processes sending to
each other would leave: ``run.json``, ``faults.jsonl`` (every start, and the kills it
made) and one ``<node>.events.jsonl`` (and, with ``govector``, GoVector log) per node,
through :class:`~netclock.observe.eventlog.EventRecorder` and the clock rules of
:class:`~netclock.clock.VectorClock`. Messages can be lost, delivered twice and cut off by
a kill; everything derives from ``seed``. The tests, the bench and the viewer's tests use
it to measure and check post-run processing at 1,000 to 1,000,000 events without starting
a cluster.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from dataclasses import dataclass
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

__all__ = ["SyntheticRun", "write_synthetic_run"]

_FLUSH_EVERY = 2000
"""Events recorded between two turns of the event loop (one write per file per turn)."""
_SAMPLE_EVERY = 500
"""Events between two ``sample`` events of every node (they are not counted in ``events``)."""


@dataclass(frozen=True, slots=True)
class SyntheticRun:
    """What a synthetic run holds: ``events`` lines in all (samples aside), ``messages``
    sent, ``lost`` of them never delivered, ``duplicated`` extra deliveries, ``killed``
    nodes."""

    folder: Path
    nodes: tuple[str, ...]
    events: int
    messages: int
    lost: int
    duplicated: int = 0
    killed: tuple[str, ...] = ()


class _Writer:
    """The run being written: one recorder and clock per node, the messages in flight."""

    def __init__(
        self, folder: Path, names: tuple[str, ...], link: str, seed: int, govector: bool
    ) -> None:
        self.rng = random.Random(seed)
        self.names = names
        self.started = time.time()
        self.record: list[dict[str, object]] = [
            {"t": self.started, "at": 0.0, "do": "start", "node": n, "pid": 1000 + i}
            for i, n in enumerate(names)
        ]
        self.recorders = {
            n: EventRecorder(
                n,
                1,
                event_log=folder / f"{n}{EVENT_SUFFIX}",
                govector_log=folder / f"{n}.log" if govector else None,
            )
            for n in names
        }
        self.clocks = {n: VectorClock({n: 1}) for n in names}
        self.seq = {(a, b): 0 for a in names for b in names}
        self.alive = set(names)
        self.in_flight: deque[tuple[str, str, list[object], VectorClock, bool]] = deque()
        """Messages on their way: sender, receiver, id, clock, and whether a copy."""
        self.written = self.sent = self.lost = self.duplicated = 0
        promises = [*PROMISES.get(link, ("no_creation",)), "fifo"]
        for n in names:
            self.recorders[n].record("init", self.clocks[n], "init", link=link, promises=promises)
            self.written += 1

    def deliver(self, duplicates: float) -> None:
        sender, to, msg_id, clock, copy = self.in_flight.popleft()
        if to not in self.alive:
            self.lost += 0 if copy else 1
            return
        self.clocks[to] = self.clocks[to].receive(to, clock)
        self.recorders[to].record(
            "deliver",
            self.clocks[to],
            "deliver",
            id=msg_id,
            msg_clock=clock.to_dict(),
            **{"from": sender},
        )
        self.written += 1
        self.duplicated += 1 if copy else 0
        if not copy and self.rng.random() < duplicates:
            self.in_flight.append((sender, to, msg_id, clock, True))

    def send(self, loss: float) -> None:
        alive = sorted(self.alive)
        n = self.rng.choice(alive)
        to = self.rng.choice([p for p in self.names if p != n]) if len(self.names) > 1 else n
        self.clocks[n] = self.clocks[n].tick(n)
        seq = self.seq[(n, to)] = self.seq[(n, to)] + 1
        self.recorders[n].record("send", self.clocks[n], f"send to {to}", to=to, id=[n, 1, seq])
        self.sent += 1
        self.written += 1
        if self.rng.random() < loss:
            self.lost += 1
        else:
            self.in_flight.append((n, to, [n, 1, seq], self.clocks[n], False))

    def local(self) -> None:
        n = self.rng.choice(sorted(self.alive))
        self.clocks[n] = self.clocks[n].tick(n)
        self.recorders[n].record("local", self.clocks[n], "step", text="step")
        self.written += 1

    def sample(self) -> None:
        for n in sorted(self.alive):
            links = {
                p: [self.seq[(p, n)], self.seq[(p, n)] // 50, 0.002, 0.05]
                for p in self.names
                if p != n
            }
            waiting = sum(1 for m in self.in_flight if m[1] == n)
            self.recorders[n].record("sample", self.clocks[n], "sample", inbox=waiting, links=links)

    def kill(self, node: str) -> None:
        """``kill -9``: the node's log ends here, without ``stop``; the record says so."""
        self.recorders[node].close()
        self.alive.discard(node)
        t = time.time()
        self.record.append(
            {"t": t, "at": t - self.started, "do": "kill", "node": node, "signal": "SIGKILL"}
        )

    def end(self, folder: Path) -> None:
        for n in sorted(self.alive):
            self.recorders[n].record("stop", self.clocks[n], "stop", clean=True, stats={})
            self.recorders[n].close()
            self.written += 1
        self.lost += sum(1 for m in self.in_flight if m[1] in self.alive and not m[4])
        ended = time.time()
        self.record += [
            {
                "t": ended,
                "at": ended - self.started,
                "do": "exit",
                "node": n,
                "code": 0,
                "expected": True,
            }
            for n in sorted(self.alive)
        ]
        self.record.append({"t": ended, "at": ended - self.started, "do": "stop", "reason": "done"})
        text = "".join(json.dumps(r) + "\n" for r in self.record)
        (folder / FAULT_RECORD).write_text(text, encoding="utf-8")


async def _write(
    folder: Path,
    names: tuple[str, ...],
    events: int,
    link: str,
    faults: tuple[float, float, int],
    seed: int,
    govector: bool,
) -> SyntheticRun:
    """The run's events: ``faults`` is (loss, duplicates, kills)."""
    loss, duplicates, kills = faults
    w = _Writer(folder, names, link, seed, govector)
    rng = w.rng
    victims = rng.sample(names, min(kills, len(names) - 1)) if kills > 0 else []
    kill_at = sorted(
        rng.randrange(events // 4, max(events // 4 + 1, events * 3 // 4)) for _ in victims
    )
    killed: list[str] = []
    last = -1
    while w.written + len(w.alive) < events:
        if kill_at and w.written >= kill_at[0]:
            kill_at.pop(0)
            node = victims[len(killed)]
            killed.append(node)
            w.kill(node)
            continue
        if w.in_flight and (
            rng.random() < 0.5 or w.written + len(w.alive) + len(w.in_flight) >= events
        ):
            w.deliver(duplicates)
        elif rng.random() < 0.05:
            w.local()
        else:
            w.send(loss)
        if w.written == last:
            continue
        last = w.written
        if last % _SAMPLE_EVERY == 0:
            w.sample()
        if last % _FLUSH_EVERY == 0:
            await asyncio.sleep(0)
    w.end(folder)
    return SyntheticRun(folder, names, w.written, w.sent, w.lost, w.duplicated, tuple(killed))


def write_synthetic_run(
    folder: Path,
    *,
    nodes: int = 8,
    events: int = 10_000,
    link: str = "fairloss",
    loss: float = 0.02,
    duplicates: float = 0.0,
    kills: int = 0,
    seed: int = 1,
    govector: bool = False,
) -> SyntheticRun:
    """Write a run of about ``events`` event-log lines across ``nodes`` processes
    (``n0``, ``n1``, ...) to ``folder``.

    Each process inits (promising what ``link`` promises, and FIFO order), sends to random
    peers, delivers what reached it (in send order across the whole run, so each link is
    FIFO), logs a few local events and stops cleanly. A ``loss`` share of messages is never
    delivered and a ``duplicates`` share is delivered twice; ``kills`` nodes are killed
    between a quarter and three quarters of the run (their logs end without ``stop``, what
    was in flight to them is lost, ``faults.jsonl`` records the kill). Every node also
    writes a ``sample`` line every 500 events (made-up session figures, the real number of
    messages in flight to it). The same arguments write the same events (wall times
    aside). Must not be called from a running event loop.
    """
    if nodes < 1:
        raise ValueError("a run needs at least one node")
    folder.mkdir(parents=True, exist_ok=True)
    names = tuple(f"n{i}" for i in range(nodes))
    write_run_info(
        folder, RunInfo(name=f"synthetic-{events}", link=link, nodes=names, started=time.time())
    )
    faults = (loss, duplicates, kills)
    return asyncio.run(_write(folder, names, events, link, faults, seed, govector))
