"""``netclock bench --scenario peers``: netclock beside what a user would pick instead.

Needs the optional ``bench`` extra (``pip install 'netclock[bench]'``: aioquic and pyzmq);
without it the scenario reports one sentence and measures nothing.

The peers, each in two worker processes as netclock's links are (roles ``send`` /
``receive`` for one way, ``ping`` / ``echo`` for round trips, same payloads and counts):

* ``quic``: one aioquic bidirectional stream (QUIC: reliable, encrypted, over UDP), each
  message framed with a 4-byte length as on the TLS link; the server presents node "b"'s
  certificate of the run's cluster (the client does not verify it: the handshake is
  outside what is compared).
* ``zmq``: pyzmq over TCP, PUSH/PULL one way and REQ/REP for round trips, one zmq message
  per message.

Rows: one-way msgs/s and round-trip p50 of the perfect link (``reliable``) and the TLS link,
each beside each peer, ``--runs`` alternating runs of the four kinds; the ratio is the median
of the per-run ratios (msgs/s: netclock / peer, ahead when >= 1; p50: netclock / peer, ahead
when <= 1). Target: ahead of both peers on every row.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ssl
import time
from pathlib import Path
from typing import Any, TextIO

from netclock.tools.bench.runner import (
    BenchError,
    Settings,
    Target,
    Variant,
    _median,
    one_way_run,
    round_trip_run,
)
from netclock.tools.bench.worker import (
    HEADER,
    LOOPBACK,
    Address,
    Control,
    WorkerOptions,
    _armed,
    _counted,
    _end_of_stream,
    complete_frames,
    frame_of,
    payload_of,
    round_trip_figures,
)

PEERS = ("quic", "zmq")
LINKS = ("reliable", "tls")
NAMES = {
    "reliable": "perfect link",
    "tls": "TLS link",
    "quic": "aioquic stream",
    "zmq": "pyzmq",
}
ALPN = "netclock-bench"
MISSING = (
    "the peers scenario needs the optional bench extra (aioquic and pyzmq): "
    "pip install 'netclock[bench]'"
)


def extra_installed() -> bool:
    """True when aioquic and pyzmq can be imported."""
    return all(importlib.util.find_spec(name) is not None for name in ("aioquic", "zmq"))


# -- the runner side ------------------------------------------------------------------------------
async def peers_bench(settings: Settings, progress: TextIO) -> dict[str, Any]:
    """One-way and round-trip rows: each netclock link beside each peer."""
    if not extra_installed():
        print(f"  peers: {MISSING}", file=progress, flush=True)
        return {"status": "skipped", "reason": MISSING, "rows": []}
    kinds = (*LINKS, *PEERS)
    one_way: dict[str, list[float]] = {k: [] for k in kinds}
    p50: dict[str, list[float]] = {k: [] for k in kinds}
    try:
        for index in range(settings.runs):
            for kind in kinds:
                rate = (await one_way_run(settings, Variant(kind)))["rate"]
                latency = (await round_trip_run(settings, Variant(kind)))["p50_us"]
                one_way[kind].append(rate)
                p50[kind].append(latency)
                print(
                    f"  [{index + 1}/{settings.runs}] peers: {NAMES[kind]} {rate:,.0f} msgs/s, "
                    f"round trip p50 {latency:.0f} µs",
                    file=progress,
                    flush=True,
                )
    except BenchError as exc:
        print(f"  peers: FAILED: {exc}", file=progress, flush=True)
        return {"status": "failed", "reason": f"peers: {exc}", "rows": []}
    rows = []
    for metric, figures, target in (
        ("one-way msgs/s", one_way, Target(">=", 1.0)),
        ("round-trip p50 µs", p50, Target("<=", 1.0)),
    ):
        for link in LINKS:
            for peer in PEERS:
                ratios = [n / p for n, p in zip(figures[link], figures[peer], strict=True)]
                ratio = _median(ratios)
                rows.append(
                    {
                        "metric": metric,
                        "link": link,
                        "peer": peer,
                        "netclock": _median(figures[link]),
                        "baseline": _median(figures[peer]),
                        "ratio": ratio,
                        "ratios": ratios,
                        "target": target.as_dict(),
                        "target_met": None if settings.quick else target.met(ratio),
                    }
                )
    return {"status": "ok", "reason": None, "rows": rows, "size": settings.size}


def format_peers(report: dict[str, Any], runs: int) -> list[str]:
    """The rows as text lines for :func:`~netclock.tools.bench.runner.format_table`."""
    lines = ["", f"peers (medians of {runs} alternating run(s); ratio = netclock / peer):"]
    if report["status"] != "ok":
        return [*lines, f"  {report['status']}: {report['reason']}"]
    for row in report["rows"]:
        met = row["target_met"]
        verdict = "not judged (a --quick smoke run)" if met is None else "met" if met else "MISSED"
        lines.append(
            f"  {row['metric']:<18} {NAMES[row['link']]:<12} {row['netclock']:>10,.0f}  "
            f"{NAMES[row['peer']]:<14} {row['baseline']:>10,.0f}  ratio {row['ratio']:.2f}x  "
            f"target {row['target']['text']}: {verdict}"
        )
    return lines


# -- the worker side: aioquic ---------------------------------------------------------------------
def _quic_server_config(args: WorkerOptions) -> Any:
    from aioquic.quic.configuration import QuicConfiguration

    if not args.cert_dir:
        raise ValueError("--kind quic needs --cert-dir")
    config = QuicConfiguration(is_client=False, alpn_protocols=[ALPN])
    folder = Path(args.cert_dir)
    config.load_cert_chain(folder / "b.pem", folder / "b.key")
    return config


def _quic_client_config() -> Any:
    from aioquic.quic.configuration import QuicConfiguration

    return QuicConfiguration(is_client=True, alpn_protocols=[ALPN], verify_mode=ssl.CERT_NONE)


class _Frames:
    """Counts the length-prefixed frames of one peer stream (or, with ``echo``, hands them
    back to be echoed)."""

    def __init__(self, count: int, echo: bool = False) -> None:
        self.count = count
        self.echo = echo
        self.received = 0
        self.last = 0.0
        self.pending = b""
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def feed(self, data: bytes) -> bytes:
        """The bytes of the frames ``data`` completes (to echo), counted unless echoing."""
        data = self.pending + data if self.pending else data
        frames, pos = complete_frames(data)
        self.pending = data[pos:]
        if not frames or self.echo:
            return data[:pos]
        if self.received < self.count:
            self.last = time.monotonic()
        self.received += frames
        if self.received >= self.count and not self.done.done():
            self.done.set_result(None)
        return data[:pos]


async def _quic_serve(args: WorkerOptions, frames: _Frames) -> tuple[Any, Address]:
    from aioquic.asyncio.protocol import QuicConnectionProtocol
    from aioquic.asyncio.server import serve
    from aioquic.quic.events import QuicEvent, StreamDataReceived

    class Server(QuicConnectionProtocol):
        def quic_event_received(self, event: QuicEvent) -> None:
            if isinstance(event, StreamDataReceived):
                whole = frames.feed(event.data)
                if frames.echo and whole:
                    self._quic.send_stream_data(event.stream_id, whole)
                    self.transmit()

    server = await serve(
        LOOPBACK, 0, configuration=_quic_server_config(args), create_protocol=Server
    )
    transport = server._transport
    assert transport is not None
    port = transport.get_extra_info("sockname")[1]
    return server, (LOOPBACK, int(port))


@contextlib.asynccontextmanager
async def _quic_stream(to: Address) -> Any:
    from aioquic.asyncio.client import connect

    async with connect(to[0], to[1], configuration=_quic_client_config()) as client:
        reader, writer = await client.create_stream()
        yield reader, writer


# -- the worker side: pyzmq -----------------------------------------------------------------------
def _zmq_socket(kind: int) -> tuple[Any, Any]:
    """A context and one socket of ``kind`` (made before any clock starts, as a Node is)."""
    import zmq
    import zmq.asyncio

    context = zmq.asyncio.Context()
    sock = context.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    return context, sock


def _zmq_bind(kind: int) -> tuple[Any, Any, Address]:
    """A context and one socket of ``kind`` bound to a free loopback port, and the port."""
    import zmq

    context, sock = _zmq_socket(kind)
    sock.bind(f"tcp://{LOOPBACK}:*")
    endpoint = str(sock.getsockopt_string(zmq.LAST_ENDPOINT))
    return context, sock, (LOOPBACK, int(endpoint.rsplit(":", 1)[1]))


# -- roles ----------------------------------------------------------------------------------------
async def peer_receive(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """Count the messages until the sender is done and all arrived (or it went quiet)."""
    frames = _Frames(args.count)
    if args.kind == "quic":
        server, address = await _quic_serve(args, frames)
        await _armed(control, lambda _a: None, address)
        await _end_of_stream(frames.done, lambda: frames.received, control.get(), args.idle)
        server.close()
        return _counted(frames.received, args.count, frames.last)
    import zmq

    context, sock, address = _zmq_bind(zmq.PULL)
    await _armed(control, lambda _a: None, address)

    async def pull() -> None:
        while True:
            await sock.recv()
            frames.last = time.monotonic()
            frames.received += 1
            if frames.received >= frames.count and not frames.done.done():
                frames.done.set_result(None)

    puller = asyncio.ensure_future(pull())
    try:
        await _end_of_stream(frames.done, lambda: frames.received, control.get(), args.idle)
    finally:
        puller.cancel()
        sock.close()
        context.term()
    return _counted(frames.received, args.count, frames.last)


async def peer_send(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """Send ``--count`` messages as fast as the peer takes them (connecting inside the span)."""
    payload = payload_of(args.size)
    count, every = args.count, args.yield_every
    peer: list[Address] = []
    await _armed(control, peer.append, (LOOPBACK, 0))
    if args.kind == "quic":
        frame = frame_of(payload)
        await control.wait_start()
        first = time.monotonic()
        async with _quic_stream(peer[0]) as (_, writer):
            for i in range(count):
                writer.write(frame)
                if i % every == 0:
                    await _quic_sent(writer)  # aioquic's writer has no drain
            last = time.monotonic()
            await _quic_sent(writer)
        return {"sent": count, "first_send": first, "last_send": last, "flushed": last}
    import zmq

    context, sock = _zmq_socket(zmq.PUSH)
    await control.wait_start()
    first = time.monotonic()
    try:
        sock.connect(f"tcp://{peer[0][0]}:{peer[0][1]}")
        send = sock.send
        for _ in range(count):
            await send(payload)
        last = time.monotonic()
    finally:
        sock.close(linger=5000)
        context.term()
    return {"sent": count, "first_send": first, "last_send": last, "flushed": last}


async def _quic_sent(writer: Any) -> None:
    """Wait until the stream's buffered bytes are on the wire (QUIC flow control allowing)."""
    quic = writer.transport.protocol._quic
    stream_id = writer.get_extra_info("stream_id")
    await asyncio.sleep(0)
    while True:
        stream = quic._streams.get(stream_id)
        if stream is None or stream.sender.buffer_is_empty:
            return
        await asyncio.sleep(0.0005)


async def peer_echo(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """Answer every message with the same bytes until the parent closes our input."""
    if args.kind == "quic":
        frames = _Frames(0, echo=True)
        server, address = await _quic_serve(args, frames)
        await _armed(control, lambda _a: None, address)
        while await control.get() is not None:
            pass
        server.close()
        return {}
    import zmq

    context, sock, address = _zmq_bind(zmq.REP)
    await _armed(control, lambda _a: None, address)

    async def answer() -> None:
        while True:
            await sock.send(await sock.recv())

    answering = asyncio.ensure_future(answer())
    try:
        while await control.get() is not None:
            pass
    finally:
        answering.cancel()
        sock.close()
        context.term()
    return {}


async def peer_ping(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """Sequential round trips: send, await the answer; ``--warmup`` first, then ``--count``."""
    total = args.warmup + args.count
    payloads = [payload_of(args.size, i) for i in range(total)]
    samples: list[float] = []
    clock = time.perf_counter_ns
    to: list[Address] = []
    await _armed(control, to.append, (LOOPBACK, 0))
    await control.wait_start()
    if args.kind == "quic":
        async with _quic_stream(to[0]) as (reader, writer):
            for i, payload in enumerate(payloads):
                frame = frame_of(payload)
                start = clock()
                writer.write(frame)
                echoed = await reader.readexactly(len(frame))
                if echoed[HEADER:] != payload:
                    raise RuntimeError(f"round trip {i}: the echo is not what was sent")
                if i >= args.warmup:
                    samples.append((clock() - start) / 1000)
    else:
        import zmq

        context, sock = _zmq_socket(zmq.REQ)
        try:
            sock.connect(f"tcp://{to[0][0]}:{to[0][1]}")
            for i, payload in enumerate(payloads):
                start = clock()
                await sock.send(payload)
                if await sock.recv() != payload:
                    raise RuntimeError(f"round trip {i}: the echo is not what was sent")
                if i >= args.warmup:
                    samples.append((clock() - start) / 1000)
        finally:
            sock.close()
            context.term()
    return round_trip_figures(samples)


PEER_ROLES = {
    "send": peer_send,
    "receive": peer_receive,
    "echo": peer_echo,
    "ping": peer_ping,
}
"""The roles a peer kind plays (``netclock bench-worker ROLE --kind quic|zmq``)."""
