"""The child-process side of ``netclock bench``: one role of one scenario per OS process.

Run as ``netclock bench-worker ROLE --kind KIND [options]`` (see
:mod:`netclock.cli.bench_worker`, which builds the :class:`WorkerOptions` for :func:`run`);
the parent (:mod:`netclock.tools.bench.runner`) drives it with the control protocol of
:mod:`netclock.cluster.control`, one line per step on stdio::

    child  -> @netclock READY {"host": h, "port": p}  bound to port 0, the real port read back
    parent -> {"peer": [host, port]}                  the other process's address
    child  -> @netclock ARMED {}                      the peer is known; a receiver is reading
    parent -> {"cmd": "start"}                        senders, pingers: go
    parent -> {"cmd": "done"}                         one-way receivers: the sender has finished
    child  -> @netclock RESULT {...}                  the figures, then the child exits

A one-way receiver keeps reading until told "done" (its socket open, so the sender's last
acknowledgements still flow and late duplicates are counted), then prints RESULT once every
message arrived or nothing arrived for ``--idle`` seconds. End of input (the parent is gone)
stops any child that waits for a command, and every child ends itself after ``--timeout``
seconds, printing ``@netclock ERROR {...}``. Timestamps are ``time.monotonic()``, which is one clock
for every process on Linux, so the parent may subtract a sender's from a receiver's.

Raw-UDP roles (``--kind udp``) are the baselines of the UDP links: a ``DatagramProtocol``
doing ``transport.sendto`` in a loop, with the same socket buffers and the same pacing (a
yield to the event loop every ``--yield-every`` messages) as the netclock senders, which use
the public ``await node.send`` and count what comes out of ``async for`` (vector clocks always
on, logs off unless ``--govector`` / ``--events``; ``--clock-width`` widens the sender's
clock). Plain-stream roles (``--kind tls-stream``) are the
baselines of the TLS link (``--kind tls``): ``asyncio.start_server`` / ``open_connection``
with the contexts of :mod:`netclock.links.tls.contexts` and the same certificates (``--cert-dir``),
frames of a 4-byte big-endian length and the payload, one ``writer.write`` per message with
a drain and a yield every ``--yield-every`` messages, and a reader that counts whole frames.

Connection set-up (roles ``accept`` and ``dial``, ``--count`` set-ups) repeats this cycle,
one fresh listener and one fresh dialer each time (a new Node pair, or a new server and a
new client connection)::

    both   -> READY, parent -> peer, both -> ARMED, parent -> dialer {"cmd": "start"}
    dialer -> SENT {"start": t0, "connected": t1}  t0 before the first send / connect;
                                                   t1 when open_connection returned
    accept -> GOT {"at": t}                        the first message reached the application
    both close their endpoint and start the next cycle (a new READY)
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from netclock.clock import VectorClock
from netclock.cluster.control import CommandReader, ControlWriter
from netclock.cluster.process import run_async
from netclock.errors import WindowFull
from netclock.faults.plan import FaultPlan
from netclock.node import Node

ROLES = (
    "send", "receive", "echo", "ping", "gone", "stall-send", "stall-receive", "accept", "dial",
    "broadcast", "mem-dead", "mem-victim", "mem-senders", "mem-spoof",
)  # fmt: skip
KINDS = ("udp", "fairloss", "reliable", "sealed", "tls", "tls-stream", "tcp-stream", "quic", "zmq")
STREAMS = ("tls-stream", "tcp-stream")
"""Plain-stream baselines: mutual TLS 1.3, or raw TCP (no TLS) for large messages."""
SOCKET_BUFFER = 4 * 1024 * 1024
"""What netclock's UDP endpoint asks for; the raw baseline asks for the same."""
HEADER = 4
"""Bytes of a plain-stream frame's length prefix (unsigned, big-endian), as the TLS link's."""
READ_SIZE = 256 * 1024
"""Most bytes a plain-stream reader asks for at once."""
LOOPBACK = "127.0.0.1"

Address = tuple[str, int]


@dataclass(frozen=True)
class WorkerOptions:
    """What one worker does: its role, the kind of endpoint, and the figures of the run."""

    role: str
    kind: str
    count: int = 10_000
    """Messages one way, timed round trips, or connection set-ups, by role."""
    size: int = 64
    """Payload bytes."""
    warmup: int = 200
    """Untimed round trips first."""
    loss: float = 0.0
    """Seeded loss each way."""
    seed: int = 1
    govector: str | None = None
    """Write a GoVector log to this file."""
    events: str | None = None
    """Write a JSON-lines event log to this file."""
    clock_width: int = 0
    """Start the sender's clock with this many entries (other processes' counters at 1), so
    every message carries a clock that wide (0: just the two processes)."""
    cert_dir: str | None = None
    """The cluster's certificates (kinds tls, tls-stream and sealed)."""
    inbox: int = 1024
    yield_every: int = 64
    idle: float = 0.3
    """Quiet time that ends a lossy stream."""
    duration: float = 3.0
    timeout: float = 60.0
    """The longest this process lives."""
    node: str = "a"
    """This process's node id (role broadcast)."""
    bkind: str = "p2p"
    """Broadcast kind, or p2p for n-1 point-to-point sends (role broadcast)."""
    rounds: int = 200
    """Paced broadcasts after the flood (role broadcast)."""
    data_dir: str | None = None
    """A data directory: the reliable and tls kinds become logged perfect links."""
    durability: str = "process"
    """With ``data_dir``: ``process`` or ``machine``."""
    stall: bool = False
    """Never read the inbox (role mem-victim)."""


def status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (``VmRSS``, ``VmHWM``), or None without one."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_kib() -> int:
    """This process's own peak resident set size so far, in KiB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` of a child also counts its parent's
    resident set at the fork (folded in at exec), which would inflate every figure."""
    peak = status_kib("VmHWM")
    if peak is not None:
        return peak
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss // 1024 if sys.platform == "darwin" else rss


class Control(CommandReader):
    """This worker's end of the control protocol: the parent's commands, and its lines."""

    def __init__(self) -> None:
        super().__init__()
        self.out = ControlWriter.for_stdout()

    def send(self, kind: str, **fields: Any) -> None:
        """One control line to the parent."""
        self.out.send(kind, **fields)

    async def peer(self) -> Address:
        """Wait for the peer's address; raises ``EOFError`` if the parent goes away first."""
        command = await self.get()
        if command is None or "peer" not in command:
            raise EOFError("the parent sent no peer address")
        host, port = command["peer"]
        return (str(host), int(port))

    async def wait_start(self) -> None:
        """Wait for ``start``; raises ``EOFError`` if the parent goes away first."""
        command = await self.get()
        if command is None or command.get("cmd") != "start":
            raise EOFError("the parent did not say start")


def payload_of(size: int, index: int = 0) -> bytes:
    """``size`` bytes whose first eight carry ``index`` (so round trips can be matched)."""
    return index.to_bytes(8, "big").ljust(size, b"\x00") if size >= 8 else bytes(size)


# -- raw UDP baselines ----------------------------------------------------------------------------
class _RawUdp(asyncio.DatagramProtocol):
    """A raw UDP socket that counts (and optionally echoes or matches) what arrives."""

    def __init__(self, count: int = 0, echo: bool = False) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.count = count
        self.echo = echo
        self.received = 0
        self.last = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiter: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received += 1
        if self.received <= self.count or not self.count:
            self.last = time.monotonic()
        if self.echo:
            assert self.transport is not None
            self.transport.sendto(data, addr)
            return
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(data)
        if self.received == self.count and not self.done.done():
            self.done.set_result(None)

    @property
    def address(self) -> Address:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return (host, port)


async def _raw_endpoint(count: int = 0, echo: bool = False) -> _RawUdp:
    loop = asyncio.get_running_loop()
    proto = _RawUdp(count, echo)
    await loop.create_datagram_endpoint(lambda: proto, local_addr=("127.0.0.1", 0))
    return proto


# -- plain mutual-TLS stream baselines -------------------------------------------------------------
def frame_of(payload: bytes) -> bytes:
    """One plain-stream frame: the payload's length (4 bytes, big-endian), then the payload."""
    return len(payload).to_bytes(HEADER, "big") + payload


def _context(args: WorkerOptions, *, server: bool) -> ssl.SSLContext | None:
    """The mutual-TLS 1.3 context the TLS link builds: the server is node "b", the client "a"
    (``None`` for ``--kind tcp-stream``: raw TCP)."""
    from netclock.links.tls.contexts import client_context, server_context

    if args.kind == "tcp-stream":
        return None
    if not args.cert_dir:
        raise ValueError("--kind tls-stream needs --cert-dir")
    return server_context(args.cert_dir, "b") if server else client_context(args.cert_dir, "a")


def _no_delay(writer: asyncio.StreamWriter) -> None:
    """TCP_NODELAY, as the TLS link sets it (asyncio and uvloop usually have already)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _close_stream(writer: asyncio.StreamWriter) -> None:
    """Close with a TLS close_notify; wait a little for the peer's, then let go."""
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 2.0)


def complete_frames(data: bytes) -> tuple[int, int]:
    """How many whole frames ``data`` holds, and where the first incomplete one begins."""
    frames, pos, end = 0, 0, len(data)
    while end - pos >= HEADER:
        following = pos + HEADER + int.from_bytes(data[pos : pos + HEADER], "big")
        if following > end:
            break
        frames += 1
        pos = following
    return frames, pos


class _FrameCounter:
    """A plain-stream server's connection handler that counts (or echoes) whole frames."""

    def __init__(self, count: int = 0, echo: bool = False) -> None:
        self.count = count
        self.echo = echo
        self.received = 0
        self.last = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _no_delay(writer)
        pending = b""
        try:
            while True:
                chunk = await reader.read(READ_SIZE)
                if not chunk:
                    break
                data = pending + chunk if pending else chunk
                frames, pos = complete_frames(data)
                pending = data[pos:]
                if not frames:
                    continue
                if self.echo:
                    writer.write(data[:pos])
                    continue
                if self.received < self.count:
                    self.last = time.monotonic()
                self.received += frames
                if self.received >= self.count and not self.done.done():
                    self.done.set_result(None)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            await _close_stream(writer)


async def _stream_server(args: WorkerOptions, handler: _FrameCounter) -> asyncio.Server:
    server_ctx = _context(args, server=True)
    return await asyncio.start_server(handler, LOOPBACK, 0, ssl=server_ctx)


def _server_address(server: asyncio.Server) -> Address:
    host, port = server.sockets[0].getsockname()[:2]
    return (host, port)


async def _stream_connect(
    client_ctx: ssl.SSLContext | None, to: Address
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(to[0], to[1], ssl=client_ctx)
    _no_delay(writer)
    return reader, writer


# -- the roles -------------------------------------------------------------------------------------
def _node(args: WorkerOptions, node_id: str, **options: Any) -> Node:
    faults = FaultPlan(seed=args.seed, loss=args.loss) if args.loss > 0 else None
    extra: dict[str, Any] = {}
    if args.govector:
        extra["govector_log"] = Path(args.govector)
    if args.events:
        extra["event_log"] = Path(args.events)
    if args.clock_width:
        extra["members"] = _wide_ids(args.clock_width)  # in scope, so the receiver merges them
    if args.data_dir:
        extra["data_dir"] = Path(args.data_dir) / node_id
        extra["durability"] = args.durability
    if args.kind in ("tls", "sealed"):
        if not args.cert_dir:
            raise ValueError(f"--kind {args.kind} needs --cert-dir")
        extra["cert_dir"] = args.cert_dir
    return Node(
        node_id,
        link=args.kind,
        address=(LOOPBACK, 0),
        faults=faults,
        inbox_size=args.inbox,
        **extra,
        **options,
    )


def _wide_ids(width: int) -> list[str]:
    """The ``width - 2`` other processes a wide clock names besides the two nodes."""
    return [f"p{i:02d}" for i in range(max(0, width - 2))]


def _widen_clock(node: Node, width: int) -> None:
    """Give ``node``'s clock ``width`` entries in all: as if it had heard from ``width - 2``
    other processes (the receiver's entry comes with its first delivery)."""
    others = dict.fromkeys(_wide_ids(width), 1)
    if others:
        node._clock = node._clock.merge(VectorClock(others))  # a bench-only shortcut


async def _armed(control: Control, add_peer: Callable[[Address], None], address: Address) -> None:
    control.send("READY", host=address[0], port=address[1])
    add_peer(await control.peer())
    control.send("ARMED")


async def role_send(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """Send ``--count`` messages as fast as the link takes them; wait for all acks if reliable."""
    payload = payload_of(args.size)
    count, every = args.count, args.yield_every
    if args.kind == "udp":
        proto = await _raw_endpoint()
        peer: list[Address] = []
        await _armed(control, peer.append, proto.address)
        await control.wait_start()
        assert proto.transport is not None
        sendto, to = proto.transport.sendto, peer[0]
        first = time.monotonic()
        for i in range(count):
            sendto(payload, to)
            if i % every == 0:
                await asyncio.sleep(0)
        last = time.monotonic()
        proto.transport.close()
        return {"sent": count, "first_send": first, "last_send": last, "flushed": last}
    if args.kind in STREAMS:
        return await _stream_send(args, control, payload)
    async with _node(args, "a", close_timeout=args.timeout) as node:
        await _armed(control, lambda a: node.add_peer("b", a), node.address)
        await control.wait_start()
        _widen_clock(node, args.clock_width)
        send = node.send
        first = time.monotonic()
        for i in range(count):
            await send("b", payload)
            if i % every == 0:
                await asyncio.sleep(0)
        last = time.monotonic()
        await node.flush()
        flushed = time.monotonic()
        return {
            "sent": count,
            "first_send": first,
            "last_send": last,
            "flushed": flushed,
            "stats": node.stats(),
        }


async def _stream_send(args: WorkerOptions, control: Control, payload: bytes) -> dict[str, Any]:
    """The plain-stream sender: connect on ``start`` (timed, as the TLS link dials on its
    first send), one ``write`` per frame, drain and yield every ``--yield-every`` frames.

    The context is made before the clock starts, as a Node makes the link's on construction.
    """
    client_ctx = _context(args, server=False)
    peer: list[Address] = []
    await _armed(control, peer.append, (LOOPBACK, 0))
    await control.wait_start()
    frame = frame_of(payload)
    count, every = args.count, args.yield_every
    first = time.monotonic()
    _, writer = await _stream_connect(client_ctx, peer[0])
    write, drain = writer.write, writer.drain
    for i in range(count):
        write(frame)
        if i % every == 0:
            await drain()
            await asyncio.sleep(0)
    last = time.monotonic()
    await drain()
    await _close_stream(writer)
    return {"sent": count, "first_send": first, "last_send": last, "flushed": time.monotonic()}


async def _end_of_stream(
    complete: asyncio.Future[None],
    progress: Callable[[], int],
    done: Awaitable[Any],
    idle: float,
) -> None:
    """Return once the sender is ``done`` and all arrived or nothing did for ``idle`` s."""
    await done
    while not complete.done():
        mark = progress()
        await asyncio.wait({complete}, timeout=idle)
        if progress() == mark:
            return


def _counted(received: int, count: int, last: float) -> dict[str, Any]:
    """A baseline receiver's result: it counts messages but cannot tell duplicates apart."""
    unique = min(received, count)
    return {
        "delivered": received,
        "unique": unique,
        "duplicates": received - unique,
        "last_delivery": last,
    }


async def role_receive(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """Count deliveries until the sender is done and all arrived (or the stream went quiet).

    ``last_delivery`` is the time of the last new message; duplicates that arrive until the
    sender has finished are counted, not timed.
    """
    count = args.count
    if args.kind in STREAMS:
        counter = _FrameCounter(count)
        server = await _stream_server(args, counter)
        await _armed(control, lambda _a: None, _server_address(server))
        await _end_of_stream(counter.done, lambda: counter.received, control.get(), args.idle)
        server.close()
        return _counted(counter.received, count, counter.last)
    if args.kind == "udp":
        proto = await _raw_endpoint(count)
        await _armed(control, lambda _a: None, proto.address)
        await _end_of_stream(proto.done, lambda: proto.received, control.get(), args.idle)
        assert proto.transport is not None
        proto.transport.close()
        return _counted(proto.received, count, proto.last)
    async with _node(args, "b", close_timeout=1.0) as node:
        await _armed(control, lambda a: node.add_peer("a", a), node.address)
        seen: set[int] = set()
        state = {"delivered": 0, "last": 0.0}
        complete: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def consume() -> None:
            delivered = 0
            add = seen.add
            monotonic = time.monotonic
            async for msg in node:
                delivered += 1
                state["delivered"] = delivered
                before = len(seen)
                add(msg.id.seq)
                if len(seen) == before:
                    continue
                state["last"] = monotonic()
                if before + 1 == count:
                    complete.set_result(None)

        consumer = asyncio.ensure_future(consume())
        try:
            await _end_of_stream(
                complete, lambda: int(state["delivered"]), control.get(), args.idle
            )
        finally:
            consumer.cancel()
        delivered = int(state["delivered"])
        return {
            "delivered": delivered,
            "unique": len(seen),
            "duplicates": delivered - len(seen),
            "last_delivery": state["last"],
            "stats": node.stats(),
        }


async def role_echo(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """Answer every message with the same payload until the parent closes our input."""
    if args.kind in STREAMS:
        server = await _stream_server(args, _FrameCounter(echo=True))
        await _armed(control, lambda _a: None, _server_address(server))
        while await control.get() is not None:
            pass
        server.close()
        return {}
    if args.kind == "udp":
        proto = await _raw_endpoint(echo=True)
        await _armed(control, lambda _a: None, proto.address)
        while await control.get() is not None:
            pass
        assert proto.transport is not None
        proto.transport.close()
        return {}
    async with _node(args, "b", close_timeout=1.0) as node:
        await _armed(control, lambda a: node.add_peer("a", a), node.address)

        async def answer() -> None:
            async for msg in node:
                await node.send(msg.sender, msg.payload)

        answering = asyncio.ensure_future(answer())
        while await control.get() is not None:
            pass
        answering.cancel()
    return {}


async def _watchdog(
    progress: Callable[[], int], task: asyncio.Future[Any], patience: float
) -> None:
    """Cancel ``task`` when ``progress()`` has not moved for ``patience`` seconds."""
    mark = -1
    while not task.done():
        now = progress()
        if now == mark:
            task.cancel()
            return
        mark = now
        await asyncio.sleep(patience)


def _percentile(sorted_samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted samples."""
    index = max(0, min(len(sorted_samples) - 1, round(fraction * len(sorted_samples)) - 1))
    return sorted_samples[index]


async def role_ping(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """Sequential round trips: send, await the answer; ``--warmup`` first, then ``--count``."""
    total = args.warmup + args.count
    payloads = [payload_of(args.size, i) for i in range(total)]
    samples: list[float] = []
    clock = time.perf_counter_ns
    progress = [0]

    async def run_raw(proto: _RawUdp, to: Address) -> None:
        assert proto.transport is not None
        sendto = proto.transport.sendto
        loop = asyncio.get_running_loop()
        for i, payload in enumerate(payloads):
            start = clock()
            proto.waiter = loop.create_future()
            sendto(payload, to)
            while await proto.waiter != payload:
                proto.waiter = loop.create_future()
            if i >= args.warmup:
                samples.append((clock() - start) / 1000)
            progress[0] = i + 1

    async def run_stream(client_ctx: ssl.SSLContext | None, to: Address) -> None:
        reader, writer = await _stream_connect(client_ctx, to)
        frames = [frame_of(payload) for payload in payloads]
        write, read = writer.write, reader.readexactly
        try:
            for i, frame in enumerate(frames):
                start = clock()
                write(frame)
                if await read(len(frame)) != frame:
                    raise RuntimeError(f"round trip {i}: the echo is not what was sent")
                if i >= args.warmup:
                    samples.append((clock() - start) / 1000)
                progress[0] = i + 1
        finally:
            await _close_stream(writer)

    async def run_node(node: Node) -> None:
        send = node.send
        inbox = aiter(node)
        for i, payload in enumerate(payloads):
            start = clock()
            await send("b", payload)
            while True:
                msg = await anext(inbox)
                if msg.payload == payload:
                    break
            if i >= args.warmup:
                samples.append((clock() - start) / 1000)
            progress[0] = i + 1

    async def measure(work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        guard = asyncio.ensure_future(_watchdog(lambda: progress[0], task, args.idle))
        try:
            await task
        except asyncio.CancelledError:
            raise RuntimeError(
                f"round trip {progress[0]} got no answer within {args.idle} s"
            ) from None
        finally:
            guard.cancel()

    if args.kind in STREAMS:
        client_ctx = _context(args, server=False)
        to: list[Address] = []
        await _armed(control, to.append, (LOOPBACK, 0))
        await control.wait_start()
        await measure(run_stream(client_ctx, to[0]))
    elif args.kind == "udp":
        proto = await _raw_endpoint()
        peer: list[Address] = []
        await _armed(control, peer.append, proto.address)
        await control.wait_start()
        await measure(run_raw(proto, peer[0]))
        assert proto.transport is not None
        proto.transport.close()
    else:
        async with _node(args, "a", close_timeout=1.0) as node:
            await _armed(control, lambda a: node.add_peer("b", a), node.address)
            await control.wait_start()
            await measure(run_node(node))
    return round_trip_figures(samples)


def round_trip_figures(samples: list[float]) -> dict[str, Any]:
    """A pinger's result from its round-trip times in µs: count, p50, p99, mean."""
    samples.sort()
    return {
        "round_trips": len(samples),
        "p50_us": _percentile(samples, 0.50),
        "p99_us": _percentile(samples, 0.99),
        "mean_us": sum(samples) / len(samples),
    }


async def role_gone(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """``--count`` non-blocking sends on the perfect link to an address nobody listens on."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    nowhere: Address = probe.getsockname()[:2]
    probe.close()
    payload = payload_of(args.size)
    async with _node(args, "a", close_timeout=0.1) as node:
        control.send("READY", host=node.address[0], port=node.address[1])
        node.add_peer("b", nowhere)
        rss_before = peak_rss_kib()
        accepted = refused = 0
        start = time.monotonic()
        for i in range(args.count):
            try:
                node.send_nowait("b", payload)
                accepted += 1
            except WindowFull:
                refused += 1
            if i % 1000 == 0:
                await asyncio.sleep(0)
        elapsed = time.monotonic() - start
        return {
            "attempts": args.count,
            "accepted": accepted,
            "refused_window_full": refused,
            "elapsed_s": elapsed,
            "peak_rss_before_kib": rss_before,
            "peak_rss_after_kib": peak_rss_kib(),
            "stats": node.stats(),
        }


async def role_stall_send(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """``await node.send`` for ``--duration`` s to a receiver that never reads."""
    payload = payload_of(args.size)
    async with _node(args, "a", close_timeout=0.1) as node:
        await _armed(control, lambda a: node.add_peer("b", a), node.address)
        await control.wait_start()
        rss_before = peak_rss_kib()
        start = time.monotonic()
        deadline = start + args.duration
        accepted = 0
        last_accept = start
        longest_wait = 0.0
        blocked_at_end = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            began = time.monotonic()
            try:
                await asyncio.wait_for(node.send("b", payload), remaining)
            except TimeoutError:
                blocked_at_end = True
                longest_wait = max(longest_wait, time.monotonic() - began)
                break
            last_accept = time.monotonic()
            longest_wait = max(longest_wait, last_accept - began)
            accepted += 1
            if accepted % args.yield_every == 0:
                await asyncio.sleep(0)
        return {
            "duration_s": args.duration,
            "accepted": accepted,
            "blocked_at_end": blocked_at_end,
            "blocked_for_s": deadline - last_accept,
            "longest_wait_s": longest_wait,
            "peak_rss_before_kib": rss_before,
            "peak_rss_after_kib": peak_rss_kib(),
            "stats": node.stats(),
        }


async def role_stall_receive(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """A receiver whose application never reads; reports its memory at the next command."""
    async with _node(args, "b", close_timeout=0.1) as node:
        await _armed(control, lambda a: node.add_peer("a", a), node.address)
        rss_before = peak_rss_kib()
        await control.get()
        return {
            "peak_rss_before_kib": rss_before,
            "peak_rss_after_kib": peak_rss_kib(),
            "stats": node.stats(),
        }


async def role_accept(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """``--count`` set-ups, listening side: a fresh listener each time, GOT at the first message.

    ``tls``: a new Node "b" per set-up, the time its ``async for`` yields the first message.
    ``tls-stream``: a new server per set-up, the time its handler has read the first frame.
    """
    for _ in range(args.count):
        if args.kind in STREAMS:
            arrived = await _accept_stream(args, control)
        else:
            async with _node(args, "b", close_timeout=1.0) as node:
                await _armed(control, lambda a: node.add_peer("a", a), node.address)
                await anext(aiter(node))
                arrived = time.monotonic()
        control.send("GOT", at=arrived)
    return {"setups": args.count}


async def _accept_stream(args: WorkerOptions, control: Control) -> float:
    """One plain-stream set-up, listening side: when the first frame was read."""
    loop = asyncio.get_running_loop()
    arrived: asyncio.Future[float] = loop.create_future()

    async def first_frame(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            size = int.from_bytes(await reader.readexactly(HEADER), "big")
            await reader.readexactly(size)
            if not arrived.done():
                arrived.set_result(time.monotonic())
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            if not arrived.done():
                arrived.set_exception(RuntimeError(f"the first frame did not arrive: {exc!r}"))
        finally:
            await _close_stream(writer)

    server_ctx = _context(args, server=True)
    server = await asyncio.start_server(first_frame, LOOPBACK, 0, ssl=server_ctx)
    try:
        await _armed(control, lambda _a: None, _server_address(server))
        return await arrived
    finally:
        server.close()
        await server.wait_closed()


async def role_dial(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """``--count`` set-ups, dialing side: on ``start``, the first message to a fresh listener.

    ``tls``: a new Node "a" per set-up; ``await node.send`` dials (TCP, TLS, hellos) and the
    message flows once the link is up; then ``flush`` (acknowledged) and close.
    ``tls-stream``: ``open_connection`` with TLS, one frame, wait for the server's close.
    """
    payload = payload_of(args.size)
    for _ in range(args.count):
        peer: list[Address] = []
        if args.kind in STREAMS:
            client_ctx = _context(args, server=False)
            await _armed(control, peer.append, (LOOPBACK, 0))
            await control.wait_start()
            start = time.monotonic()
            reader, writer = await asyncio.open_connection(*peer[0], ssl=client_ctx)
            connected = time.monotonic()
            _no_delay(writer)
            writer.write(frame_of(payload))
            await writer.drain()
            await reader.read()
            await _close_stream(writer)
            control.send("SENT", start=start, connected=connected)
            continue
        async with _node(args, "a", close_timeout=1.0) as node:
            await _armed(control, lambda b: node.add_peer("b", b), node.address)
            await control.wait_start()
            start = time.monotonic()
            await node.send("b", payload)
            await node.flush()
        control.send("SENT", start=start)
    return {"setups": args.count}


ROLE_MAIN: dict[str, Callable[[WorkerOptions, Control], Awaitable[dict[str, Any]]]] = {
    "send": role_send,
    "receive": role_receive,
    "echo": role_echo,
    "ping": role_ping,
    "gone": role_gone,
    "stall-send": role_stall_send,
    "stall-receive": role_stall_receive,
    "accept": role_accept,
    "dial": role_dial,
    "broadcast": lambda args, control: _broadcast_role(args, control),  # noqa: PLW0108
}


async def _broadcast_role(args: WorkerOptions, control: Control) -> dict[str, Any]:
    from netclock.tools.bench.broadcast import role_broadcast  # it imports this module

    return await role_broadcast(args, control)


async def _main(args: WorkerOptions) -> int:
    control = Control()
    await control.start()
    try:
        if args.role.startswith("mem-"):
            from netclock.tools.bench.memory import MEMORY_ROLES  # it imports this module

            role = MEMORY_ROLES[args.role]
        else:
            role = ROLE_MAIN[args.role]
        if args.kind in ("quic", "zmq"):
            from netclock.tools.bench.peers import PEER_ROLES  # it imports this module

            role = PEER_ROLES[args.role]
        result = await asyncio.wait_for(role(args, control), args.timeout)
    except TimeoutError:
        control.send("ERROR", error=f"{args.role} ({args.kind}) timed out after {args.timeout} s")
        return 3
    except EOFError as exc:
        control.send("ERROR", error=f"{args.role} ({args.kind}): {exc}")
        return 4
    except Exception as exc:
        control.send("ERROR", error=f"{args.role} ({args.kind}): {type(exc).__name__}: {exc}")
        raise
    finally:
        control.close()
    if result:
        control.send("RESULT", **result, peak_rss_kib=peak_rss_kib())
    return 0


def run(options: WorkerOptions) -> int:
    """Run one worker under uvloop when it is installed; returns the exit code."""
    return int(run_async(_main(options)))
