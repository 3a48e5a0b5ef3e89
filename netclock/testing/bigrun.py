"""A large run folder written without processes: for tests and benchmarks of post-run processing.

:func:`write_big_run` plays an all-to-all exchange among ``nodes`` nodes in one process, with
the real clock rules (:func:`netclock.clock.receive_all`) and the real writers
(:class:`~netclock.observe.eventlog.EventRecorder`: both logs, as a launcher run writes them),
plus ``run.json`` and a ``faults.jsonl`` in which every node starts and exits normally. The run
is correct by construction: every message is delivered once, in order, so the checker must
say OK. Deterministic: the same arguments give the same files (but for wall times).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from netclock.clock import VectorClock, receive_all
from netclock.observe.eventlog import (
    EVENT_SUFFIX,
    FAULT_RECORD,
    EventRecorder,
    RunInfo,
    write_run_info,
)

__all__ = ["write_big_run"]


def write_big_run(folder: Path, events: int, nodes: int = 8, *, link: str = "reliable") -> int:
    """Write a run folder of about ``events`` events (two per message) among ``nodes`` nodes
    (``n0``, ``n1``, ...); returns the number of events written.

    Messages go round robin: message ``i`` from node ``i % nodes`` to the node ``1 + (i //
    nodes) % (nodes - 1)`` places after it, delivered at once, so every clock soon has every
    node's entry.
    """
    if nodes < 2:
        raise ValueError("a run needs at least two nodes")
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"n{i}" for i in range(nodes)]
    started = time.time()
    write_run_info(folder, RunInfo("bigrun", link, tuple(ids), None, started))
    record = [
        {"t": started, "at": 0.0, "do": "start", "node": node, "pid": 1000 + i, "incarnation": 1}
        for i, node in enumerate(ids)
    ]
    promises = ["no_creation", "no_duplication", "reliable_delivery", "fifo"]
    recorders = [
        EventRecorder(
            node,
            1,
            govector_log=folder / f"{node}.log",
            event_log=folder / f"{node}{EVENT_SUFFIX}",
        )
        for node in ids
    ]
    clocks = [VectorClock({node: 1}) for node in ids]
    seqs = [[0] * nodes for _ in ids]
    written = 0
    for recorder, clock in zip(recorders, clocks, strict=True):
        recorder.record("init", clock, "Initialization Complete", link=link, promises=promises)
        written += 1
    messages = max(0, (events - 2 * nodes) // 2)
    for i in range(messages):
        a = i % nodes
        b = (a + 1 + (i // nodes) % (nodes - 1)) % nodes
        sender, receiver = ids[a], ids[b]
        sent = clocks[a] = clocks[a].tick(sender)
        seq = seqs[a][b] = seqs[a][b] + 1
        recorders[a].record(
            "send", sent, f"send {seq} to {receiver}", to=receiver, id=[sender, 1, seq]
        )
        got, _ = receive_all(receiver, clocks[b], (sent,))
        clocks[b] = got[0]
        recorders[b].record(
            "deliver",
            got[0],
            f"deliver {sender}:1:{seq} from {sender}",
            id=[sender, 1, seq],
            msg_clock=sent,
            **{"from": sender},
        )
        written += 2
        if i % 256 == 0:
            for r in recorders:
                r.flush()
    for recorder, clock in zip(recorders, clocks, strict=True):
        recorder.record("stop", clock, "stop", clean=True, stats={})
        recorder.close()
        written += 1
    ended = time.time()
    record += [
        {"t": ended, "at": ended - started, "do": "exit", "node": node, "code": 0, "expected": True}
        for node in ids
    ]
    record.append({"t": ended, "at": ended - started, "do": "stop", "reason": "done"})
    (folder / FAULT_RECORD).write_text("".join(json.dumps(r) + "\n" for r in record))
    return written
