"""Instructions per round trip (callgrind): a latency figure a busy machine cannot move.

Run: ``python benchmarks/rt_instructions.py [--links udp,fairloss,reliable,tls]
[--counts 300,1300]``. Needs ``valgrind``. Each link runs under callgrind twice, both nodes in
one process (as ``benchmarks/rt.py``), with ``--counts`` sequential echoes after a warm-up;
the difference of the two instruction totals divided by the difference of the counts is the
user-space instructions one round trip costs (``node.send`` to ``async for`` and back), start
up and warm-up cancelled out. ``udp`` is the raw baseline of ``netclock bench``: a datagram
echoed inside ``datagram_received``, the pinger woken by a future. Kernel time (the system
calls) is not counted: on an idle machine it is most of raw UDP's round trip.

Under callgrind a round trip takes milliseconds, so the links' timers are stretched
(``ack_delay`` 1 s, retransmission timeout 2 s): the figure is the steady state without a
delayed ack or a timer firing between two round trips, as on a real machine.
On a 2-core machine shared with other work, wall-clock round trips swing by 2-3x; this
count moves by less than 0.5% between runs, so it tells whether a change to the hot path
helped.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rt import start_echo

from netclock import Node
from netclock.cluster.process import run_async
from netclock.links.tls.certs import init_cluster

WARMUP = 300
LINKS = ("udp", "fairloss", "reliable", "tls")
STRETCHED = {"ack_delay": 1.0, "unreachable_after": 60.0}
"""Timers far beyond a round trip under callgrind (see the module docstring)."""


class _Echo(asyncio.DatagramProtocol):
    """Raw UDP: echoes inside ``datagram_received`` or wakes the pinger's future."""

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.transport: asyncio.DatagramTransport | None = None
        self.waiter: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.echo:
            assert self.transport is not None
            self.transport.sendto(data, addr)
        elif self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(data)


async def raw_round_trips(count: int) -> None:
    loop = asyncio.get_running_loop()
    echo = _Echo(True)
    ping = _Echo(False)
    await loop.create_datagram_endpoint(lambda: echo, local_addr=("127.0.0.1", 0))
    await loop.create_datagram_endpoint(lambda: ping, local_addr=("127.0.0.1", 0))
    assert echo.transport is not None
    assert ping.transport is not None
    to = echo.transport.get_extra_info("sockname")
    payload = b"x" * 64
    for _ in range(WARMUP + count):
        ping.waiter = loop.create_future()
        ping.transport.sendto(payload, to)
        await ping.waiter
    echo.transport.close()
    ping.transport.close()


async def node_round_trips(link: str, count: int, cert_dir: str | None) -> None:
    options: dict[str, Any] = dict(STRETCHED)
    extra: dict[str, Any] = {}
    if link == "reliable":
        options.update(rto_initial=2.0, rto_min=2.0, rto_max=5.0)
    if link == "tls":
        extra["cert_dir"] = cert_dir
    if link == "fairloss":
        options = {}
    a = Node("a", link=link, link_options=options, **extra)
    b = Node("b", link=link, link_options=options, **extra)
    async with a, b:
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)

        task = start_echo(b, "a")
        inbox = aiter(a)
        payload = b"x" * 64
        for _ in range(WARMUP + count):
            await a.send("b", payload)
            await anext(inbox)
        task.cancel()


def instructions(link: str, count: int, cert_dir: str) -> int:
    """Instructions callgrind counts for one run of ``count`` round trips on ``link``."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--one",
        link,
        "--count",
        str(count),
        "--cert-dir",
        cert_dir,
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        raise SystemExit(f"{link}: callgrind failed:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--links", default=",".join(LINKS))
    p.add_argument("--counts", default="300,1300", help="two round-trip counts, low,high")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--cert-dir", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        if args.one == "udp":
            run_async(raw_round_trips(args.count))
        else:
            run_async(node_round_trips(args.one, args.count, args.cert_dir))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    try:
        low, high = (int(x) for x in args.counts.split(","))
    except ValueError:
        low = high = -1
    if not 0 <= low < high:
        raise SystemExit("--counts must be two round-trip counts, the lower first: 300,1300")
    links = args.links.split(",")
    unknown = sorted(set(links) - set(LINKS))
    if unknown:
        raise SystemExit(f"--links: unknown {', '.join(unknown)}; choose from {','.join(LINKS)}")
    with tempfile.TemporaryDirectory() as tmp:
        init_cluster(Path(tmp), ["a", "b"])
        for link in links:
            per_trip = (instructions(link, high, tmp) - instructions(link, low, tmp)) / (high - low)
            print(f"{link:9s} {per_trip:10,.0f} instructions per round trip", flush=True)


if __name__ == "__main__":
    main()
