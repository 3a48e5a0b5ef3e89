"""CPU cost of one-way messages with both nodes in one process (sender and receiver together).

Run: ``python benchmarks/tp.py [reliable|fairloss] [--count 100000] [--runs 5] [--loss 0.1]
[--logs] [--profile]``; ``--logs`` turns both nodes' GoVector and JSON-lines event logs on.
One event loop runs both nodes, so the figure is the whole cost of a message (send, pump,
decode, deliver, ``async for``) without a second core; the minimum over runs is the least
disturbed by other work on a shared machine. A fair-loss receiver drops what its inbox cannot
take, so the fair-loss run ends when nothing arrived for a moment.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import statistics
import tempfile
import time
from pathlib import Path

from netclock import Node
from netclock.cluster.process import run_async
from netclock.faults.plan import FaultPlan


async def one_run(
    link: str, count: int, loss: float = 0.0, logs: Path | None = None
) -> tuple[float, int, int]:
    """Seconds per message, datagrams sent by the sender, messages received.

    With ``logs`` a folder, both nodes write their GoVector and JSON-lines event logs there.
    """
    faults = FaultPlan(seed=1, loss=loss) if loss > 0 else None

    def node(name: str) -> Node:
        if logs is None:
            return Node(name, link=link, faults=faults)
        return Node(
            name,
            link=link,
            faults=faults,
            govector_log=logs / f"{name}.log",
            event_log=logs / f"{name}.events.jsonl",
        )

    async with node("a") as a, node("b") as b:
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        received = 0

        async def receive() -> None:
            nonlocal received
            async for _ in b:
                received += 1
                if received == count:
                    return

        task = asyncio.ensure_future(receive())
        start = time.process_time()
        payload = b"x" * 64
        send = a.send
        for _ in range(count):
            await send("b", payload)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), 0.2 if link == "fairloss" else 30)
        elapsed = time.process_time() - start
        task.cancel()
        return elapsed / count, a.stats()["link"].get("datagrams_sent", 0), received


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("link", nargs="?", default="reliable", choices=("reliable", "fairloss"))
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--loss", type=float, default=0.0, help="seeded loss each way")
    p.add_argument("--logs", action="store_true", help="GoVector and event logs on")
    p.add_argument("--profile", action="store_true")
    args = p.parse_args()
    if args.profile:
        logs = Path(tempfile.mkdtemp(prefix="netclock-tp-")) if args.logs else None
        cProfile.runctx(
            "run_async(one_run(args.link, args.count, args.loss, logs))",
            globals(),
            locals(),
            "/tmp/tp.prof",
        )
        pstats.Stats("/tmp/tp.prof").sort_stats("tottime").print_stats(30)
        return
    costs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="netclock-tp-") as tmp:
            logs = Path(tmp) if args.logs else None
            cost, datagrams, received = run_async(one_run(args.link, args.count, args.loss, logs))
        costs.append(cost)
    name = args.link + (" with logs" if args.logs else "")
    print(
        f"{name}: {min(costs) * 1e6:.2f} us/msg min, {statistics.median(costs) * 1e6:.2f}"
        f" median (both sides, cpu); {datagrams} datagrams, {received} of {args.count} received"
    )


if __name__ == "__main__":
    main()
