"""Round-trip latency with both nodes in one process: p50/p99 of sequential echoes.

Run: ``python benchmarks/rt.py [--links fairloss,reliable] [--count 3000] [--runs 3]
[--breakdown]``. One event loop runs the pinger and the echoer, so a round trip is the whole
CPU path of two messages (send, pump, decode, deliver, ``async for``, the echo) without
a second core. ``--breakdown`` wraps the perfect link's hot functions with timers and prints
microseconds per round trip spent in each (nested figures overlap: ``(total)`` includes the
calls below it).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import time
from collections.abc import Callable
from typing import Any

from netclock import Node
from netclock import node as node_module
from netclock.cluster.process import run_async
from netclock.links import perfect, session, udp
from netclock.wire.envelope import Decoder

WARMUP = 500


def start_echo(node: Node, to: str) -> asyncio.Future[None]:
    """A task that sends every message ``node`` receives back to ``to``."""

    async def echo() -> None:
        async for msg in node:
            await node.send(to, msg.payload)

    return asyncio.ensure_future(echo())


async def one_run(link: str, count: int) -> list[float]:
    """Sorted round-trip times in seconds (after a warm-up)."""
    async with Node("a", link=link) as a, Node("b", link=link) as b:
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)

        task = start_echo(b, "a")
        samples = []
        inbox = aiter(a)
        for i in range(WARMUP + count):
            start = time.perf_counter()
            await a.send("b", i)
            await anext(inbox)
            if i >= WARMUP:
                samples.append(time.perf_counter() - start)
        task.cancel()
    samples.sort()
    return samples


def _wrap(
    owner: Any,
    name: str,
    label: str,
    acc: collections.defaultdict[str, float],
    calls: collections.Counter[str],
) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            acc[label] += time.perf_counter() - start
            calls[label] += 1

    setattr(owner, name, timed)


def breakdown(count: int) -> None:
    """Microseconds per round trip in the perfect link's hot functions."""
    acc: collections.defaultdict[str, float] = collections.defaultdict(float)
    calls: collections.Counter[str] = collections.Counter()
    core = session.PeerSession
    for owner, name, label in (
        (core, "receive_segment", "core.receive_segment"),
        (core, "datagrams_to_send", "core.datagrams_to_send"),
        (core, "pop_deliveries", "core.pop_deliveries"),
        (core, "send", "core.send"),
        (core, "get_timer", "core.get_timer"),
        (perfect.PerfectLink, "_pump", "adapter._pump (total)"),
        (udp.UdpEndpoint, "datagram_received", "udp.datagram_received (total)"),
        (node_module.Node, "_deliver_batch", "node._deliver_batch"),
        (node_module.Node, "send_nowait", "node.send_nowait (total)"),
    ):
        _wrap(owner, name, label, acc, calls)
    _wrap(Decoder, "decode", "wire.decode", acc, calls)
    samples = run_async(one_run("reliable", count))
    total = sum(samples) / len(samples)
    print(f"total per round trip {total * 1e6:.1f} us (timers included)")
    trips = WARMUP + count
    for label, seconds in sorted(acc.items(), key=lambda item: -item[1]):
        per_trip = seconds / trips * 1e6
        print(f"  {label:32s} {per_trip:7.1f} us/RT  calls/RT {calls[label] / trips:.1f}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--links", default="fairloss,reliable")
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--breakdown", action="store_true")
    args = p.parse_args()
    if args.breakdown:
        breakdown(args.count)
        return
    for link in args.links.split(","):
        p50s: list[float] = []
        p99s: list[float] = []
        for _ in range(args.runs):
            samples = run_async(one_run(link, args.count))
            p50s.append(samples[len(samples) // 2] * 1e6)
            p99s.append(samples[int(len(samples) * 0.99)] * 1e6)
        print(
            f"{link:9s} p50 {min(p50s):6.1f} us (min of {args.runs} runs; all "
            f"{', '.join(f'{x:.1f}' for x in p50s)}), p99 {min(p99s):6.1f} us"
        )


if __name__ == "__main__":
    main()
