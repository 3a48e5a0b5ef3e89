"""A synthetic run folder of any size, written by the real event-log writer, no processes.

:func:`write_synthetic_run` writes what a run of ``nodes`` processes sending to each other
over a lossy link would leave: ``run.json`` and one ``<node>.events.jsonl`` (and GoVector
log) per node, through :class:`~netclock.observe.eventlog.EventRecorder` and the clock
rules of :class:`~netclock.clock.VectorClock`. Everything derives from ``seed``. Tests and
the bench use it to measure the viewer and the checker at 10,000 to 1,000,000 events
without starting a cluster.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from netclock.clock import VectorClock
from netclock.observe.eventlog import EVENT_SUFFIX, EventRecorder, RunInfo, write_run_info

__all__ = ["SyntheticRun", "write_synthetic_run"]

_FLUSH_EVERY = 2000
"""Events recorded between two turns of the event loop (one write per file per turn)."""
_SAMPLE_EVERY = 500
"""Events between two ``sample`` events of every node (they are not counted in ``events``)."""


@dataclass(frozen=True, slots=True)
class SyntheticRun:
    """What a synthetic run holds: ``events`` lines in all, ``messages`` sent, ``lost`` of them."""

    folder: Path
    nodes: tuple[str, ...]
    events: int
    messages: int
    lost: int


async def _write(
    folder: Path, names: tuple[str, ...], events: int, loss: float, seed: int, govector: bool
) -> SyntheticRun:
    rng = random.Random(seed)
    recorders = {
        n: EventRecorder(
            n,
            0,
            event_log=folder / f"{n}{EVENT_SUFFIX}",
            govector_log=folder / f"{n}.log" if govector else None,
        )
        for n in names
    }
    clocks = {n: VectorClock().tick(n) for n in names}
    seq = dict.fromkeys(names, 0)
    written = sent = lost = 0
    for n in names:
        recorders[n].record("init", clocks[n], "init", link="fairloss", promises=["no_creation"])
        written += 1
    in_flight: deque[tuple[str, str, list[object], VectorClock]] = deque()
    stops = len(names)
    while written + stops < events:
        if in_flight and (rng.random() < 0.5 or written + stops + len(in_flight) >= events):
            sender, to, msg_id, clock = in_flight.popleft()
            clocks[to] = clocks[to].receive(to, clock)
            recorders[to].record(
                "deliver",
                clocks[to],
                "deliver",
                id=msg_id,
                msg_clock=clock.to_dict(),
                **{"from": sender},
            )
        elif rng.random() < 0.05:
            n = rng.choice(names)
            clocks[n] = clocks[n].tick(n)
            recorders[n].record("local", clocks[n], "step", text="step")
        else:
            n = rng.choice(names)
            to = rng.choice([p for p in names if p != n]) if len(names) > 1 else n
            clocks[n] = clocks[n].tick(n)
            seq[n] += 1
            recorders[n].record("send", clocks[n], f"send to {to}", to=to, id=[n, 0, seq[n]])
            sent += 1
            if rng.random() < loss:
                lost += 1
            else:
                in_flight.append((n, to, [n, 0, seq[n]], clocks[n]))
        written += 1
        if written % _SAMPLE_EVERY == 0:
            for n in names:
                links = {p: [seq[p], seq[p] // 50, 0.002, 0.05] for p in names if p != n}
                waiting = sum(1 for m in in_flight if m[1] == n)
                recorders[n].record("sample", clocks[n], "sample", inbox=waiting, links=links)
        if written % _FLUSH_EVERY == 0:
            await asyncio.sleep(0)
    for n in names:
        recorders[n].record("stop", clocks[n], "stop", clean=True, stats={})
        recorders[n].close()
    lost += len(in_flight)
    return SyntheticRun(folder, names, written + stops, sent, lost)


def write_synthetic_run(
    folder: Path,
    *,
    nodes: int = 8,
    events: int = 10_000,
    loss: float = 0.02,
    seed: int = 1,
    govector: bool = False,
) -> SyntheticRun:
    """Write a run of about ``events`` event-log lines across ``nodes`` processes to ``folder``.

    Each process inits, sends to random peers (a ``loss`` share of messages is never
    delivered), delivers what reached it in order, logs a few local events, and stops
    cleanly; every node also writes a ``sample`` line every 500 events (made-up session
    figures, the real inbox of messages in flight to it). The same arguments write the
    same events (wall times aside). Must not be called from a running event loop.
    """
    folder.mkdir(parents=True, exist_ok=True)
    names = tuple(f"n{i}" for i in range(nodes))
    write_run_info(folder, RunInfo(name=f"synthetic-{events}", link="fairloss", nodes=names))
    return asyncio.run(_write(folder, names, events, loss, seed, govector))
