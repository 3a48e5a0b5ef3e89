"""``netclock bench --scenario broadcast``: broadcast among four OS processes.

Four worker processes (role ``broadcast``) on the perfect link, every one broadcasting at
once. Each run has two phases in the same processes: *flood*, ``--count`` broadcasts each as
fast as the send windows take them (broadcasts/s = all broadcasts / from the first one
started to the last delivery anywhere), then *paced*, a broadcast every 5 ms each (delivery
latency p50/p99: delivery time at each other process minus the broadcast's time, one
``time.monotonic()`` for all processes on Linux); causal broadcast runs twice, over the
perfect link with FIFO order and without it (``fifo=False``, with ``--loss``). The baseline,
measured in the same run and alternating with the kinds, is what a broadcast replaces: n-1
plain perfect-link sends per message (``node.send`` to each peer). The causal buffer's peak
is the most messages any one process held waiting for their causal past during the flood.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any, TextIO

from netclock.node import Node
from netclock.tools.bench.runner import BenchError, Settings, children
from netclock.tools.bench.worker import LOOPBACK, Control, WorkerOptions, _node

GROUP = ("a", "b", "c", "d")
VARIANTS = ("p2p", "best-effort", "reliable", "causal", "causal/unordered")
"""The baseline (n-1 point-to-point sends) first, then the broadcast kinds measured;
``causal/unordered`` is causal broadcast over a perfect link without FIFO order and with
the seeded loss of ``--loss`` (whose retransmissions reorder), to fill the causal buffer."""
PACE = 0.005
"""Seconds between two broadcasts of one process in the paced phase."""


# -- the worker side ------------------------------------------------------------------------------
async def role_broadcast(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """One of the four processes: READY, the group's addresses, ARMED, then per phase a
    ``start`` and a PHASE line once it delivered everything of everyone."""
    fifo = not args.bkind.endswith("/unordered")
    # peers close at the same time, so the last acks may never come: do not wait long for them
    async with _node(args, args.node, close_timeout=2.0, fifo=fifo) as node:
        control.send("READY", host=LOOPBACK, port=node.address[1])
        command = await control.get()
        if command is None or "peers" not in command:
            raise EOFError("the parent sent no peers")
        for pid, host, port in command["peers"]:
            if pid != node.id:
                node.add_peer(pid, (host, port))
        control.send("ARMED")
        result: dict[str, Any] = {}
        for phase, count, pace in (("flood", args.count, 0.0), ("paced", args.rounds, PACE)):
            await control.wait_start()
            result[phase] = await _phase(node, args, count, pace)
            control.send("PHASE", name=phase)
        return result


async def _phase(node: Node, args: WorkerOptions, count: int, pace: float) -> dict[str, Any]:
    others = node.peers
    p2p = args.bkind == "p2p"
    kind = args.bkind.partition("/")[0]
    expected = count * len(others) + (0 if p2p else count)
    latencies: list[float] = []
    last = 0.0

    async def take() -> None:
        nonlocal last
        for _ in range(expected):
            msg = await node.receive()
            now = time.monotonic()
            if msg.sender != node.id:
                latencies.append(now - msg.payload[2])
                last = now

    taking = asyncio.ensure_future(take())
    first = time.monotonic()
    for i in range(count):
        payload = [node.id, i, time.monotonic()]
        if p2p:
            for peer in others:
                await node.send(peer, payload)
        else:
            await node.broadcast(payload, kind=kind)
        if pace:
            await asyncio.sleep(pace)
        elif i % args.yield_every == 0:
            await asyncio.sleep(0)
    await taking
    causal = node.stats().get("broadcast", {}).get("causal", {})
    return {
        "first": first,
        "last": last,
        "latencies_ms": [round(x * 1000, 3) for x in latencies],
        "causal_peak": causal.get("peak", 0),
    }


# -- the runner side ------------------------------------------------------------------------------
async def one_run(settings: Settings, bkind: str) -> dict[str, Any]:
    """One run of ``bkind`` (or the p2p baseline) among four fresh processes."""
    rounds = 50 if settings.quick else 200
    specs = [
        (
            "broadcast",
            [
                *("--kind", "reliable", "--node", pid, "--bkind", bkind),
                *("--count", str(settings.broadcasts), "--rounds", str(rounds)),
                *(("--loss", str(settings.loss)) if bkind.endswith("/unordered") else ()),
            ],
        )
        for pid in GROUP
    ]
    deadline = time.monotonic() + settings.timeout
    async with children(settings, *specs) as procs:
        ready = await asyncio.gather(*(p.expect("READY", deadline) for p in procs))
        peers = [[pid, r["host"], r["port"]] for pid, r in zip(GROUP, ready, strict=True)]
        for p in procs:
            p.tell({"peers": peers})
        await asyncio.gather(*(p.expect("ARMED", deadline) for p in procs))
        for _phase_name in ("flood", "paced"):
            for p in procs:
                p.tell({"cmd": "start"})
            await asyncio.gather(*(p.expect("PHASE", deadline) for p in procs))
        results = await asyncio.gather(*(p.expect("RESULT", deadline) for p in procs))
    flood = [r["flood"] for r in results]
    span = max(f["last"] for f in flood) - min(f["first"] for f in flood)
    paced = sorted(x for r in results for x in r["paced"]["latencies_ms"])
    return {
        "rate": settings.broadcasts * len(GROUP) / span,
        "p50_ms": _rank(paced, 0.50),
        "p99_ms": _rank(paced, 0.99),
        "causal_peak": max(f["causal_peak"] for f in flood),
    }


def _rank(samples: Sequence[float], fraction: float) -> float:
    return samples[min(len(samples) - 1, max(0, round(fraction * len(samples)) - 1))]


async def broadcast_bench(settings: Settings, progress: TextIO) -> dict[str, Any]:
    """Alternating runs of the baseline and each kind; medians and per-run-pair ratios."""
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    try:
        for index in range(settings.runs):
            for variant in VARIANTS:
                result = await one_run(settings, variant)
                runs[variant].append(result)
                print(
                    f"  [{index + 1}/{settings.runs}] broadcast {variant}: "
                    f"{result['rate']:,.0f} broadcasts/s, paced p50 {result['p50_ms']:.2f} ms "
                    f"p99 {result['p99_ms']:.2f} ms",
                    file=progress,
                    flush=True,
                )
    except BenchError as exc:
        return {"status": "failed", "reason": str(exc)}
    summary = {}
    for variant, got in runs.items():
        ratios = [r["rate"] / b["rate"] for r, b in zip(got, runs["p2p"], strict=True)]
        summary[variant] = {
            "rate": statistics.median(r["rate"] for r in got),
            "p50_ms": statistics.median(r["p50_ms"] for r in got),
            "p99_ms": statistics.median(r["p99_ms"] for r in got),
            "ratio": statistics.median(ratios),
            "causal_peak": max(r["causal_peak"] for r in got),
        }
    return {
        "status": "ok",
        "processes": len(GROUP),
        "broadcasts": settings.broadcasts,
        "summary": summary,
    }


def format_broadcast(report: dict[str, Any], runs: int) -> list[str]:
    """The broadcast section of ``netclock bench``'s table."""
    lines = ["", f"broadcast among {report.get('processes', len(GROUP))} processes (perfect link):"]
    if report["status"] != "ok":
        return [*lines, f"  {report['status']}: {report['reason']}"]
    lines.append(
        f"  {report['broadcasts']:,} broadcasts from each, all at once; latency from a paced "
        f"phase (one every {PACE * 1000:.0f} ms each); {runs} alternating run(s); medians"
    )
    for variant, s in report["summary"].items():
        name = "n-1 perfect-link sends" if variant == "p2p" else f"{variant} broadcast"
        name = name.replace("/unordered broadcast", " broadcast, no FIFO link, loss")
        peak = f"  causal buffer peak {s['causal_peak']}" if "causal" in variant else ""
        ratio = "  (baseline)" if variant == "p2p" else f"  {s['ratio']:.2f}x"
        lines.append(
            f"  {name:<38} {s['rate']:>9,.0f} broadcasts/s{ratio:<12} latency p50 "
            f"{s['p50_ms']:6.2f} ms p99 {s['p99_ms']:6.2f} ms{peak}"
        )
    return lines
