"""A class's run: N processes gossiping at a steady pace for a while, through ``netclock run``.

Run: ``python benchmarks/class_run.py [--nodes 32] [--seconds 60] [--every 0.01] [--link
reliable]``. Every node sends a small message to a random peer every ``--every`` seconds
for ``--seconds`` (the pace a teaching exercise or a student's gossip run has, unlike the
scale bench's all-to-all burst that keeps both cores busy), then flushes. The cluster file
is ``nodes = N`` with no ``[[node]]`` table. Reported from the run folder: the events, the
start, the time from the run's stop to the launcher's end (merge, check, viewer) and its
share of the wall time, the peak RSS of the largest process (launcher, nodes, viewer child)
and the run folder's size.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROGRAM = """
import asyncio, random, time

async def main(node, seconds=60.0, every=0.01, seed=1):
    rng = random.Random(seed + sum(node.id.encode()))
    peers = sorted(node.peers)

    async def receive():
        while True:
            await node.receive()

    receiving = asyncio.ensure_future(receive())
    end = time.monotonic() + seconds
    due = time.monotonic()
    sent = 0
    while time.monotonic() < end:
        await node.send(rng.choice(peers), b"gossip")
        sent += 1
        due += every
        await asyncio.sleep(max(0.0, due - time.monotonic()))
    await node.flush()
    await asyncio.sleep(0.5)
    receiving.cancel()
    return {"sent": sent}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=0.01)
    parser.add_argument("--link", default="reliable")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="netclock-class-") as tmp:
        folder = Path(tmp)
        (folder / "paced.py").write_text(PROGRAM, encoding="utf-8")
        cluster = folder / "class.toml"
        cluster.write_text(
            f'name = "class"\nlink = "{args.link}"\nduration = {args.seconds * 3 + 60}\n'
            f'program = "paced.py:main"\nnodes = {args.nodes}\n'
            f"args = {{ seconds = {args.seconds}, every = {args.every} }}\n",
            encoding="utf-8",
        )
        run = folder / "run"
        began = time.time()
        done = subprocess.run(
            [sys.executable, "-m", "netclock", "run", str(cluster), "--out", str(run)],
            capture_output=True,
            text=True,
            check=False,
        )
        ended = time.time()
        if done.returncode != 0:
            tail = done.stdout[-2000:] + done.stderr[-2000:]
            sys.exit(f"the run exited {done.returncode}: {tail}")
        records = [json.loads(x) for x in (run / "faults.jsonl").read_text().splitlines()]
        stop = next(r for r in records if r["do"] == "stop")
        ready = max(r["at"] for r in records if r["do"] == "start")
        events = sum(p.read_bytes().count(b"\n") for p in run.glob("*.events.jsonl"))
        size = sum(p.stat().st_size for p in run.rglob("*") if p.is_file())
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        wall, post = ended - began, ended - stop["t"]
    print(
        f"{args.nodes} processes, {args.link}, one message each {args.every:g} s for "
        f"{args.seconds:g} s: {events} events, ready in {ready:.2f} s, wall {wall:.1f} s, "
        f"after the stop {post:.1f} s ({post / wall:.0%} of the wall time), "
        f"the largest process peaked at {peak:.0f} MB, run folder {size / 1e6:.0f} MB"
    )


if __name__ == "__main__":
    main()
