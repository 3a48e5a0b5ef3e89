"""CPU cost per message of each side of a one-way stream, two OS processes, beside raw UDP.

Run: ``python benchmarks/sides.py [--kind reliable|logged|fairloss|udp|all] [--count 50000]
[--loss 0.1] [--profile send|receive]``. The sender and the receiver are separate processes
(as in ``netclock bench``); each reports the CPU time (user + system) it spent from the
start signal to its end, divided by the number of messages. On a shared 2-core machine the
wall-clock rate swings widely, but CPU time per message holds: the slower side bounds the
rate ``netclock bench`` measures. ``--profile`` writes a cProfile dump of one side to
``/tmp/sides-<side>.prof`` and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import multiprocessing as mp
import pstats
import resource
import socket
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

from netclock.cluster.process import run_async
from netclock.faults.plan import FaultPlan
from netclock.node import Node

PAYLOAD = b"x" * 64
YIELD_EVERY = 64


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Raw(asyncio.DatagramProtocol):
    def __init__(self, count: int) -> None:
        self.count = count
        self.received = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received += 1
        if self.received == self.count and not self.done.done():
            self.done.set_result(None)


async def _side(role: str, args: argparse.Namespace, pipe: Connection) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    count = args.count
    if args.kind == "udp":
        proto = _Raw(count)
        await loop.create_datagram_endpoint(lambda: proto, local_addr=("127.0.0.1", 0))
        assert proto.transport is not None
        pipe.send(proto.transport.get_extra_info("sockname")[:2])
        peer = pipe.recv()
        pipe.recv()  # start
        cpu, wall = _cpu(), time.perf_counter()
        if role == "send":
            sendto = proto.transport.sendto
            for i in range(count):
                sendto(PAYLOAD, peer)
                if i % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proto.done, args.idle + count / 20_000)
        result = {"cpu": _cpu() - cpu, "wall": time.perf_counter() - wall}
        result["received"] = proto.received
        pipe.send(result)
        await loop.run_in_executor(None, pipe.recv)
        proto.transport.close()
        return result
    faults = FaultPlan(seed=1, loss=args.loss) if args.loss > 0 else None
    me, other = ("a", "b") if role == "send" else ("b", "a")
    link_kind, extra = args.kind, {}
    if args.kind == "logged":  # the logged perfect link, process level, on a fresh directory
        link_kind, extra = "reliable", {"data_dir": Path(tempfile.mkdtemp()) / me}
    async with Node(me, link=link_kind, faults=faults, close_timeout=2.0, **extra) as node:
        pipe.send(node.address)
        node.add_peer(other, pipe.recv())
        pipe.recv()  # start
        cpu, wall = _cpu(), time.perf_counter()
        received = 0
        if role == "send":
            send = node.send
            for i in range(count):
                await send(other, PAYLOAD)
                if i % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            await node.flush()
        else:
            seen: set[int] = set()

            async def consume() -> None:
                nonlocal received
                async for msg in node:
                    received += 1
                    seen.add(msg.id.seq)
                    if len(seen) == count:
                        return

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(consume(), args.idle + count / 20_000)
        result = {"cpu": _cpu() - cpu, "wall": time.perf_counter() - wall}
        result["received"] = received
        link = node.stats()["link"]
        result["datagrams"] = link.get("datagrams_sent")
        result["resent"] = link.get("retransmitted")
        result["timeouts"] = link.get("timeouts")
        pipe.send(result)
        # Stay open (acks still flow) until the parent says the other side is done.
        await loop.run_in_executor(None, pipe.recv)
        return result


def _child(role: str, args: argparse.Namespace, pipe: Connection) -> None:
    if args.no_gc:
        gc.disable()
    profiler = cProfile.Profile() if args.profile == role else None
    if profiler is not None:
        profiler.enable()
    run_async(_side(role, args, pipe))
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"/tmp/sides-{role}.prof")


def run(kind: str, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """One transfer; the sender's and the receiver's results."""
    args.kind = kind
    ctx = mp.get_context("fork")
    pipes = [ctx.Pipe() for _ in range(2)]
    procs = [
        ctx.Process(target=_child, args=(role, args, pipe[1]))
        for role, pipe in zip(("send", "receive"), pipes, strict=True)
    ]
    for proc in procs:
        proc.start()
    tx, rx = pipes[0][0], pipes[1][0]
    tx_addr, rx_addr = tx.recv(), rx.recv()
    tx.send(rx_addr)
    rx.send(tx_addr)
    rx.send("start")
    tx.send("start")
    sent, got = tx.recv(), rx.recv()
    tx.send("done")
    rx.send("done")
    for proc in procs:
        proc.join()
    return sent, got


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument(
        "--kind", default="all", choices=("all", "udp", "fairloss", "reliable", "logged")
    )
    p.add_argument("--count", type=int, default=50_000)
    p.add_argument("--loss", type=float, default=0.0)
    p.add_argument("--idle", type=float, default=1.0)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--profile", choices=("send", "receive"))
    p.add_argument("--no-gc", action="store_true", help="disable the garbage collector")
    args = p.parse_args()
    kinds = ("udp", "fairloss", "reliable") if args.kind == "all" else (args.kind,)
    for _ in range(args.runs):
        for kind in kinds:
            sent, got = run(kind, args)
            n = args.count
            print(
                f"{kind:9s} loss {args.loss:.0%}: sender {sent['cpu'] / n * 1e6:5.2f} us/msg cpu,"
                f" receiver {got['cpu'] / n * 1e6:5.2f} us/msg cpu;"
                f" received {got['received']} of {n};"
                f" wall {n / max(sent['wall'], got['wall']):,.0f} msg/s;"
                f" datagrams {sent.get('datagrams')}/{got.get('datagrams')}"
                + (
                    f"; resent {sent['resent']}, timeouts {sent['timeouts']}"
                    if sent.get("resent")
                    else ""
                )
            )
    if args.profile:
        pstats.Stats(f"/tmp/sides-{args.profile}.prof").sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
