"""A node that sends to one peer until it is killed, for the log-order tests (not a test module).

Prints ``READY <port> <incarnation>``, reads the peer's ``host port`` from stdin, then sends
``--burst`` messages of ``--payload`` bytes to the peer per loop iteration, for ever, with its
GoVector and JSON-lines event logs on. The test kills it with SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from netclock import Node
from netclock.cluster.process import run_async


async def main(args: argparse.Namespace) -> None:
    node = Node(
        "a",
        link=args.link,
        govector_log=f"{args.logs}.log",
        event_log=f"{args.logs}.events.jsonl",
    )
    async with node:
        print(f"READY {node.address[1]} {node.incarnation}", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        host, port = line.split()
        node.add_peer("b", (host, int(port)))
        payload = bytes(args.payload)
        sent = 0
        while True:
            await node.send("b", payload)
            sent += 1
            if sent % args.burst == 0:
                await asyncio.sleep(0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--link", required=True)
    parser.add_argument("--logs", required=True, help="path of the logs, without suffix")
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--payload", type=int, default=8000, help="bytes per message")
    run_async(main(parser.parse_args()))
