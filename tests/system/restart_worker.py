"""One node in its own OS process, for the restart-without-data-directory test (not a test).

``echo``: prints ``READY <port>``, reads the peer's port from stdin, answers every message
with ``["echo", payload]`` until stdin closes, then prints ``STATS <json>``.
``send``: binds ``--port`` (0: any), prints ``READY <port>``, reads the peer's port, sends
``--count`` messages (payloads from ``--first``) and prints ``DONE <json>`` once every
echo of them is back (then waits for
stdin to close, or for a kill -9).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from netclock import Node
from netclock.cluster.process import run_async


async def main(args: argparse.Namespace) -> None:
    async with Node(args.id, address=("127.0.0.1", args.port)) as node:
        print(f"READY {node.address[1]}", flush=True)
        loop = asyncio.get_running_loop()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        node.add_peer(args.peer, ("127.0.0.1", int(line)))
        if args.mode == "echo":
            closed = loop.run_in_executor(None, sys.stdin.read)
            async for msg in node:
                await node.send(msg.sender, ["echo", msg.payload])
                if closed.done():
                    break
            return
        mine = [args.first + i for i in range(args.count)]
        for payload in mine:
            await node.send(args.peer, payload)
        echoes: list[int] = []
        while not set(mine) <= set(echoes):  # an earlier life's echoes may come first
            echoes.append((await node.receive(30)).payload[1])
        await node.flush()
        stats = node.stats()
        done = {
            "echoes": echoes,
            "incarnation": node.incarnation,
            "own": node.clock.get(args.id),
            "peer_knows": max(0, node.clock.get(args.peer)),
            "false_claims": stats["false_claims"],
            "dropped": stats["dropped"],
            "delivered": stats["delivered"],
        }
        print(f"DONE {json.dumps(done)}", flush=True)
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["echo", "send"])
    parser.add_argument("--id", required=True)
    parser.add_argument("--peer", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--first", type=int, default=0, help="the first payload sent")
    run_async(main(parser.parse_args()))
