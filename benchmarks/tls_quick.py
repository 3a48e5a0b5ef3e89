"""The TLS link beside plain asyncio mutual-TLS streams, two OS processes each, same run.

Run: ``python benchmarks/tls_quick.py [--messages 20000] [--size 100] [--pings 1000]
[--runs 3] [--uvloop]``. Scenarios alternate baseline and netclock ``--runs`` times each:

* one-way messages/s: the sender writes ``--messages`` messages of ``--size`` payload
  bytes as fast as the stream lets it (baseline: one length-prefixed msgpack frame
  ``[seq, payload]`` per ``writer.write`` with ``await writer.drain()``; netclock:
  ``await node.send``), the receiver decodes each one and answers "done" after the last;
  the rate is messages / (answer received - first send) on the sender's clock.
* round-trip p50 in µs: one message out, its echo back, one at a time (after a warm-up).

The ratio is netclock / baseline for throughput and baseline-relative for latency (median
of per-pair ratios); targets: throughput >= 0.8x, p50 round trip <= 1.3x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from typing import Any

import msgpack

from netclock import Node
from netclock.links.tls import certs
from netclock.links.tls.contexts import client_context, server_context

HEADER = 4


def _run(main: Coroutine[Any, Any, None], use_uvloop: bool) -> None:
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if use_uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _stdin_line() -> str:
    return (await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)).strip()


def _frame(obj: Any) -> bytes:
    body = msgpack.packb(obj)
    return len(body).to_bytes(HEADER, "big") + body


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    size = int.from_bytes(await reader.readexactly(HEADER), "big")
    return msgpack.unpackb(await reader.readexactly(size))


# -- children ---------------------------------------------------------------------------------
async def raw_server(args: argparse.Namespace) -> None:
    """Baseline receiver: counts (``--echo``: echoes) frames; says "done" after the last."""
    ctx = server_context(args.certs, "b")
    finished = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if args.echo:
            for _ in range(args.count):
                writer.write(_frame(await _read_frame(reader)))
        else:
            for _ in range(args.count):
                await _read_frame(reader)
            writer.write(_frame("done"))
        await writer.drain()
        finished.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    _say(f"READY {server.sockets[0].getsockname()[1]}")
    await finished.wait()
    server.close()


async def raw_client(args: argparse.Namespace) -> None:
    ctx = client_context(args.certs, "a")
    reader, writer = await asyncio.open_connection("127.0.0.1", args.port, ssl=ctx)
    _say("READY 0")
    await _stdin_line()
    payload = bytes(args.size)
    if args.echo:
        samples = []
        for i in range(args.count):
            start = time.perf_counter()
            writer.write(_frame([i, payload]))
            await _read_frame(reader)
            samples.append(time.perf_counter() - start)
        _say("RESULT " + json.dumps({"p50": statistics.median(samples[args.count // 5 :])}))
    else:
        start = time.perf_counter()
        for i in range(args.count):
            writer.write(_frame([i, payload]))
            await writer.drain()
        await _read_frame(reader)
        _say("RESULT " + json.dumps({"rate": args.count / (time.perf_counter() - start)}))
    writer.close()


async def node_child(args: argparse.Namespace) -> None:
    """A netclock node: ``a`` sends (or pings), ``b`` receives (or echoes)."""
    me, other = ("a", "b") if args.role == "node-a" else ("b", "a")
    async with Node(me, link="tls", cert_dir=args.certs, inbox_size=4096) as node:
        _say(f"READY {node.address[1]}")
        node.add_peer(other, ("127.0.0.1", int(await _stdin_line())))
        _say("PEERED")
        if me == "b":
            for _ in range(args.count):
                msg = await node.receive()
                if args.echo:
                    await node.send("a", msg.payload)
            if not args.echo:
                await node.send("a", "done")
            await node.flush()
            return
        await _stdin_line()
        payload = bytes(args.size)
        if args.echo:
            samples = []
            for i in range(args.count):
                start = time.perf_counter()
                await node.send("b", [i, payload])
                await node.receive()
                samples.append(time.perf_counter() - start)
            _say("RESULT " + json.dumps({"p50": statistics.median(samples[args.count // 5 :])}))
        else:
            start = time.perf_counter()
            for i in range(args.count):
                await node.send("b", [i, payload])
            await node.receive()
            _say("RESULT " + json.dumps({"rate": args.count / (time.perf_counter() - start)}))


# -- parent -----------------------------------------------------------------------------------
class Child:
    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def expect(self, word: str) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith(word):
            self.proc.kill()
            raise SystemExit(f"child said {line!r}, expected {word}")
        return line[len(word) :].strip()

    def tell(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self) -> None:
        self.proc.wait(timeout=60)


def run_pair(kind: str, echo: bool, opts: argparse.Namespace) -> float:
    count = str(opts.pings if echo else opts.messages)
    common = ["--certs", opts.certs, "--count", count, "--size", str(opts.size)]
    common += ["--echo"] if echo else []
    common += ["--uvloop"] if opts.uvloop else []
    if kind == "raw":
        server = Child("--role", "raw-server", *common)
        port = server.expect("READY")
        client = Child("--role", "raw-client", "--port", port, *common)
        client.expect("READY")
        client.tell("go")
        result = json.loads(client.expect("RESULT"))
        client.wait()
        server.wait()
    else:
        b = Child("--role", "node-b", *common)
        b_port = b.expect("READY")
        a = Child("--role", "node-a", *common)
        a_port = a.expect("READY")
        a.tell(b_port)
        b.tell(a_port)
        a.expect("PEERED")
        b.expect("PEERED")
        a.tell("go")
        result = json.loads(a.expect("RESULT"))
        a.wait()
        b.wait()
    return float(result["p50"] if echo else result["rate"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", default="parent")
    parser.add_argument("--certs", default="")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--echo", action="store_true")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--pings", type=int, default=1000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--uvloop", action="store_true", help="run every child under uvloop")
    opts = parser.parse_args()
    roles = {"raw-server": raw_server, "raw-client": raw_client}
    if opts.role in roles:
        _run(roles[opts.role](opts), opts.uvloop)
        return
    if opts.role in ("node-a", "node-b"):
        _run(node_child(opts), opts.uvloop)
        return
    with tempfile.TemporaryDirectory() as tmp:
        opts.certs = os.path.join(tmp, "certs")
        certs.init_cluster(opts.certs, ["a", "b"])
        loop_name = "uvloop" if opts.uvloop else "asyncio"
        print(f"{opts.size}-byte payloads, {loop_name}, {opts.runs} alternating runs each")
        for echo, label, unit in ((False, "one-way", "msg/s"), (True, "round-trip p50", "µs")):
            raw, ours, ratios = [], [], []
            for _ in range(opts.runs):
                r = run_pair("raw", echo, opts)
                n = run_pair("netclock", echo, opts)
                raw.append(r)
                ours.append(n)
                ratios.append(n / r)
            scale = 1e6 if echo else 1.0
            print(
                f"{label:15} plain mTLS streams {statistics.median(raw) * scale:10.0f} {unit}"
                f"   tls link {statistics.median(ours) * scale:10.0f} {unit}"
                f"   ratio {statistics.median(ratios):.2f}x"
            )


if __name__ == "__main__":
    main()
