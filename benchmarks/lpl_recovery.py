"""Recovery time of the logged perfect link after kill -9 with many outstanding messages.

Run: ``python benchmarks/lpl_recovery.py [--messages 100000] [--runs 3] [--dir PATH]``.

Two cases, each in real processes killed with SIGKILL:

- **sender**: node ``a`` queues ``--messages`` messages to a peer that never answers (a
  bound UDP socket nobody reads), with a send window that holds them all; it is killed, and a
  new process opens the same data directory: recovery is ``Node(...)`` plus ``start()``
  (read and check ``link.log``, restore the session with every message to resend);
- **receiver**: node ``b`` takes ``--messages`` messages into an inbox large enough to hold
  them and consumes none; it is killed; recovery also puts them all back in the inbox as
  redeliveries.

Beside each: the same ``Node(...)`` plus ``start()`` on an empty data directory, in the same
run (the fixed cost of a start). Medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import asyncio, sys, time
from netclock import Node

async def main():
    role, data, count, peer_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    big = {"send_window": count + 16}
    if role == "fill-sender":
        async with Node("a", data_dir=data, peers={"b": ("127.0.0.1", peer_port)},
                        link_options=big) as a:
            for i in range(count):
                a.send_nowait("b", i)
            await asyncio.sleep(0)
            print("FILLED", flush=True)
            await asyncio.Event().wait()
    if role == "fill-receiver":
        async with Node("b", data_dir=data, inbox_size=count + 16) as b:
            async with Node("a", peers={"b": b.address}, link_options=big) as a:
                b.add_peer("a", a.address)
                for i in range(count):
                    a.send_nowait("b", i)
                while b.stats()["inbox"] < count:
                    await asyncio.sleep(0.05)
                print("FILLED", flush=True)
                await asyncio.Event().wait()
    # recover: time the constructor and start on the data directory
    me = "a" if role == "recover-sender" else "b"
    began = time.perf_counter()
    node = Node(me, data_dir=data, peers={"a" if me == "b" else "b": ("127.0.0.1", peer_port)},
                inbox_size=count + 16, link_options=big)
    await node.start()
    took = time.perf_counter() - began
    held = node.stats()["inbox"] if me == "b" else node.link.unacked("b")
    print(f"RECOVERED {took:.6f} {held}", flush=True)
    await node.close()

asyncio.run(main())
"""


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.PIPE, text=True)


def _recover(role: str, data: Path, count: int, port: int) -> tuple[float, int]:
    proc = _child(f"recover-{role}", str(data), str(count), str(port))
    out, _ = proc.communicate(timeout=300)
    line = [x for x in out.splitlines() if x.startswith("RECOVERED")][-1]
    _, took, held = line.split()
    return float(took), int(held)


def one_run(role: str, root: Path, count: int, port: int) -> tuple[float, float, int]:
    data = Path(tempfile.mkdtemp(dir=root))
    proc = _child(f"fill-{role}", str(data / "node"), str(count), str(port))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("FILLED"), line
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    took, held = _recover(role, data / "node", count, port)
    empty, _ = _recover(role, data / "empty", count, port)
    return took, empty, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    args = parser.parse_args()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="lpl-recovery-") as tmp:
        for role in ("sender", "receiver"):
            runs = [one_run(role, Path(tmp), args.messages, port) for _ in range(args.runs)]
            took = statistics.median(r[0] for r in runs)
            empty = statistics.median(r[1] for r in runs)
            held = runs[-1][2]
            size = "unacked" if role == "sender" else "redelivered into the inbox"
            print(
                f"{role} killed with {args.messages:,} outstanding: recovery {took:.3f} s "
                f"({held:,} {size}); empty data directory {empty:.3f} s; medians of {args.runs}"
            )
    silent.close()


if __name__ == "__main__":
    main()
