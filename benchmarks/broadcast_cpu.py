"""CPU per broadcast with four nodes in one process (every side), beside n-1 sends.

Run: ``python benchmarks/broadcast_cpu.py [--count 2000] [--runs 3]``. Each node broadcasts
``--count`` messages at once with the others over the perfect link on loopback and takes
everything it is owed; the figure is the process's CPU time over all broadcasts, the
minimum of ``--runs`` (the least disturbed on a shared machine). The baseline, measured in
the same invocation and alternating with the kinds, sends each message to the n-1 peers
with ``node.send``; the ratio is kind / baseline (above 1: costlier).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from netclock import Node

KINDS = ("p2p", "best-effort", "reliable", "uniform", "fifo", "causal")


async def one_run(kind: str, count: int) -> float:
    """CPU seconds for ``count`` broadcasts from each of four nodes, all delivered."""
    nodes = [Node(n) for n in "abcd"]
    for node in nodes:
        await node.start()
    for node in nodes:
        for other in nodes:
            if other is not node:
                node.add_peer(other.id, other.address)
    p2p = kind == "p2p"
    owed = count * 3 + (0 if p2p else count)

    async def take(node: Node) -> None:
        for _ in range(owed):
            await node.receive()

    async def send(node: Node) -> None:
        for i in range(count):
            payload = [node.id, i]
            if p2p:
                for peer in node.peers:
                    await node.send(peer, payload)
            else:
                await node.broadcast(payload, kind=kind)
            if i % 64 == 0:
                await asyncio.sleep(0)

    takers = [asyncio.ensure_future(take(n)) for n in nodes]
    began = time.process_time()
    await asyncio.gather(*(send(n) for n in nodes))
    await asyncio.gather(*takers)
    cpu = time.process_time() - began
    for node in nodes:
        await node.close()
    return cpu


async def main(count: int, runs: int) -> None:
    best = {kind: float("inf") for kind in KINDS}
    for _ in range(runs):
        for kind in KINDS:
            best[kind] = min(best[kind], await one_run(kind, count))
    per = {kind: cpu / (4 * count) * 1e6 for kind, cpu in best.items()}
    for kind in KINDS:
        ratio = "baseline" if kind == "p2p" else f"{per[kind] / per['p2p']:.2f}x"
        name = "n-1 sends" if kind == "p2p" else kind
        print(f"{name:<12} {per[kind]:7.1f} µs CPU per broadcast  {ratio}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.count, options.runs))
