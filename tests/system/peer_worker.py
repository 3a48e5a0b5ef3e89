"""One node in its own OS process for the system tests (not a test module).

Prints ``READY <port>``, reads the peer's ``host port`` from stdin, sends ``--count``
messages to the peer while receiving ``--expect`` from it, then writes what was delivered,
in delivery order, to ``--out`` and prints ``RESULT``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from netclock import FaultPlan, Node
from netclock.cluster.process import run_async
from netclock.faults.plan import Partition


def save(path: str, result: dict[str, object]) -> None:
    """Write the result where the parent will read it."""
    Path(path).write_text(json.dumps(result))


async def main(args: argparse.Namespace) -> None:
    partitions = ()
    if args.partition:
        start, end = args.partition
        partitions = (Partition(args.id, args.peer, start=start, end=end),)
    plan = FaultPlan(
        seed=args.seed,
        loss=args.loss,
        duplicate=args.duplicate,
        reorder=args.reorder,
        partitions=partitions,
    )
    async with Node(args.id, link=args.link, faults=plan, fifo=not args.no_fifo) as node:
        print(f"READY {node.address[1]}", flush=True)
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        host, port = line.split()
        node.add_peer(args.peer, (host, int(port)))
        received: list[list[int]] = []

        async def receive() -> None:
            async for msg in node:
                received.append([msg.id.incarnation, msg.id.seq, msg.payload])
                if len(received) >= args.expect:
                    return

        receiver = asyncio.ensure_future(receive())
        for i in range(args.count):
            await node.send(args.peer, i)
        await receiver
        await node.flush()
        stats = node.stats()["link"]
        # the result is large: a file, so a parent reading the other worker first
        # cannot block this event loop on a full pipe
        save(args.out, {"received": received, "stats": stats})
        print("RESULT", flush=True)
        # stay until the peer has what it needs: the parent closes stdin to end us
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True)
    parser.add_argument("--peer", required=True)
    parser.add_argument("--link", default="reliable")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--expect", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--duplicate", type=float, default=0.0)
    parser.add_argument("--reorder", type=float, default=0.0)
    parser.add_argument("--partition", type=float, nargs=2, metavar=("START", "END"))
    parser.add_argument("--no-fifo", action="store_true")
    parser.add_argument("--out", required=True, help="file for the result (JSON)")
    run_async(main(parser.parse_args()))
