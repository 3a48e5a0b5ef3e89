"""CPU cost of logging one event: while the node runs (a binary record) and after (the text).

Run: ``python benchmarks/logcost.py [--width 2] [--count 20000] [--runs 5] [--profile]``.
One :class:`~netclock.observe.eventlog.EventRecorder` with both logs records ``count`` sends
and ``count`` deliveries (as a Node does, clocks of ``width`` entries), handing the records
to the OS every 64 events as a loop iteration would; then its ``close`` renders the text
logs. Process CPU time, the minimum over runs (the least disturbed on a shared machine).
For the whole message with logs on and off, see ``benchmarks/tp.py --logs`` and ``netclock
bench --scenario logging``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from netclock.clock import VectorClock
from netclock.observe.eventlog import EventRecorder

BATCH = 64
"""Events per write, as in one loop iteration of a busy node."""


def clocks(width: int, count: int) -> tuple[list[VectorClock], list[VectorClock]]:
    """A sender's clocks for ``count`` sends, and a receiver's after delivering each."""
    others = {f"p{i:02d}": 1 for i in range(max(0, width - 2))}
    clock = VectorClock({"a": 1, "b": 1, **others})
    sent = []
    for _ in range(count):
        clock = clock.tick("a")
        sent.append(clock)
    received = VectorClock({"b": 1, **others})
    after = []
    for message in sent:
        received = received.receive("b", message)
        after.append(received)
    return sent, after


def one_run(width: int, count: int, profile: cProfile.Profile | None) -> tuple[float, float, float]:
    """µs per send record, per delivery record, and per event rendered at close."""
    sent, after = clocks(width, count)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recorder = EventRecorder(
            "b", 1, govector_log=folder / "b.log", event_log=folder / "b.events.jsonl"
        )
        recorder._scheduled = True  # no loop here: write every BATCH events, as iterations do
        if profile is not None:
            profile.enable()
        t0 = time.process_time()
        for i, clock in enumerate(sent):
            recorder.record_send(clock, "a", 1, i, None)
            if i % BATCH == 0:
                recorder.flush()
        t1 = time.process_time()
        for i, (clock, message) in enumerate(zip(after, sent, strict=True)):
            recorder.record_delivery(clock, "a", 1, i, message)
            if i % BATCH == 0:
                recorder.flush()
        t2 = time.process_time()
        recorder.close()
        t3 = time.process_time()
        if profile is not None:
            profile.disable()
    return (t1 - t0) / count * 1e6, (t2 - t1) / count * 1e6, (t3 - t2) / (2 * count) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=2, help="clock entries (default 2)")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a per-function profile")
    args = parser.parse_args()
    profile = cProfile.Profile() if args.profile else None
    runs = [one_run(args.width, args.count, profile) for _ in range(args.runs)]
    send, deliver, render = (min(r[i] for r in runs) for i in range(3))
    print(
        f"{args.width}-entry clocks, both logs: send {send:.2f} µs, delivery {deliver:.2f} µs "
        f"while running; rendering the text after: {render:.2f} µs an event"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
