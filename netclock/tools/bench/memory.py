"""``netclock bench --scenario bounded-memory``: peak memory under the three memory attacks.

Each scenario runs real OS processes on loopback with 60 kB payloads (``PAYLOAD``) and
the default byte budgets (links/budget.py), and reports the victim's peak resident set
(``VmHWM`` of its own process), its resident set sampled every ``SAMPLE_PERIOD`` seconds,
and the budget it is held to:

* **dead peers** (role ``mem-dead``): one node, ``DEAD_PEERS`` peers at ports nobody
  listens on, one task per peer doing ``await node.send`` for the whole run. Budget: what
  the link may hold for sending (``send_bytes_total``, or ``send_bytes`` per peer if less).
* **stalled consumer** (``mem-victim --stall`` and ``mem-senders``): a node that never
  reads while ``STALL_PEERS`` peers in another process send to it with ``await
  node.send``. Budget: ``inbox_bytes`` plus ``receive_bytes`` per peer.
* **spoofer** (``mem-victim`` reading and ``mem-spoof``): ``SPOOFED_PEERS`` peers whose
  addresses a spoofer owns; it floods 60 kB messages above a gap (never the next one in
  order), answers every incarnation challenge, while an honest peer ``h`` in the same
  process sends ``--rounds`` messages the victim must get exactly once, in order. Budget:
  ``receive_bytes`` per spoofed peer.

"Flat" compares the largest sample of the run's second half with the first half's: a
buffer that grew without bound would keep growing.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from netclock.errors import WireError
from netclock.links.budget import (
    DEFAULT_INBOX_BYTES,
    DEFAULT_RECEIVE_BYTES,
    DEFAULT_SEND_BYTES,
    DEFAULT_SEND_BYTES_TOTAL,
)
from netclock.node import Node
from netclock.tools.bench.worker import (
    LOOPBACK,
    Address,
    Control,
    WorkerOptions,
    _node,
    payload_of,
    status_kib,
)
from netclock.wire import envelope as wire

PAYLOAD = 60_000
"""Bytes of every payload (the issue's 60 kB)."""
DEAD_PEERS = 10
STALL_PEERS = 8
SPOOFED_PEERS = 5
HONEST = 200
"""Messages the honest peer sends beside the spoofer."""
SAMPLE_PERIOD = 0.1
"""Seconds between two samples of the resident set."""
MIB = 1 << 20


def rss_kib() -> int:
    """This process's resident set now, in KiB (``VmRSS``; 0 where there is no /proc)."""
    return status_kib("VmRSS") or 0


class RssSampler:
    """Samples :func:`rss_kib` every :data:`SAMPLE_PERIOD` seconds until stopped."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.samples: list[tuple[float, int]] = [(0.0, rss_kib())]
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_PERIOD)
            self.samples.append((round(time.monotonic() - self.start, 3), rss_kib()))

    async def stop(self) -> dict[str, Any]:
        """The figures: samples, and the largest of each half of the run (the worker adds the
        process's peak, ``peak_rss_kib``)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.samples.append((round(time.monotonic() - self.start, 3), rss_kib()))
        half = len(self.samples) // 2
        first = max(kib for _, kib in self.samples[: half or 1])
        second = max(kib for _, kib in self.samples[half:])
        step = max(1, len(self.samples) // 40)
        return {
            "rss_start_kib": self.samples[0][1],
            "rss_first_half_max_kib": first,
            "rss_second_half_max_kib": second,
            "samples": self.samples[::step],
        }


def _dead_address() -> Address:
    """A loopback port nobody listens on (bound, read back, closed)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind((LOOPBACK, 0))
    address: Address = probe.getsockname()[:2]
    probe.close()
    return address


async def _send_for(
    node: Node, peers: list[str], payload: Any, duration: float
) -> tuple[dict[str, int], float]:
    """``await node.send`` to each peer in a loop of its own for ``duration`` seconds; the
    messages each accepted, and the seconds since the last accepted one at the end."""
    accepted = dict.fromkeys(peers, 0)
    last = [time.monotonic()]

    async def one(peer: str) -> None:
        while True:
            await node.send(peer, payload)
            accepted[peer] += 1
            last[0] = time.monotonic()

    tasks = [asyncio.create_task(one(peer)) for peer in peers]
    await asyncio.sleep(duration)  # the length of the run, not a synchronisation
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return accepted, time.monotonic() - last[0]


def _held(node: Node) -> dict[str, int]:
    """Bytes the node's sessions hold, each way, and its inbox (a reliable link)."""
    sessions = getattr(node.link, "sessions", {})
    return {
        "send_held_bytes": sum(getattr(s, "held_bytes", 0) for s in sessions.values()),
        "receive_held_bytes": sum(getattr(s, "buffered_bytes", 0) for s in sessions.values()),
        "inbox": node.stats()["inbox"],
        "inbox_bytes": node.stats().get("inbox_bytes", 0),
    }


# -- the roles ------------------------------------------------------------------------------------
async def role_mem_dead(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """``--count`` dead peers, ``await node.send`` to each for ``--duration`` seconds."""
    payload = payload_of(args.size)
    async with _node(args, "a", close_timeout=0.1) as node:
        peers = [f"d{i}" for i in range(args.count)]
        for peer in peers:
            node.add_peer(peer, _dead_address())
        control.send("READY", host=node.address[0], port=node.address[1])
        await control.wait_start()
        sampler = RssSampler()
        accepted, blocked_for = await _send_for(node, peers, payload, args.duration)
        figures = await sampler.stop()
        return {
            **figures,
            **_held(node),
            "accepted": sum(accepted.values()),
            "blocked_for_s": blocked_for,
            "link": node.stats()["link"],
        }


async def role_mem_victim(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """Node "b": told its peers, it never reads (``--stall``) or reads everything, counting
    what the honest peer "h" sent; reports when told to stop."""
    async with _node(args, "b", close_timeout=0.1) as node:
        control.send("READY", host=node.address[0], port=node.address[1])
        command = await control.get()
        if command is None or "peers" not in command:
            raise EOFError("the parent sent no peers")
        for peer, (host, port) in command["peers"].items():
            node.add_peer(peer, (str(host), int(port)))
        honest: list[int] = []
        reader = None
        if not args.stall:

            async def read() -> None:
                async for delivery in node:
                    if delivery.sender == "h":
                        honest.append(int(delivery.payload))

            reader = asyncio.create_task(read())
        control.send("ARMED")
        sampler = RssSampler()
        await control.get()  # stop
        figures = await sampler.stop()
        held = _held(node)
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        return {
            **figures,
            **held,
            "honest_received": len(honest),
            "honest_in_order_once": honest == list(range(len(honest))),
            "link": node.stats()["link"],
        }


async def role_mem_senders(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """``--count`` nodes p0.. in this process, each ``await node.send`` to "b" for
    ``--duration`` seconds."""
    payload = payload_of(args.size)
    async with contextlib.AsyncExitStack() as stack:
        nodes = [
            await stack.enter_async_context(_node(args, f"p{i}", close_timeout=0.1))
            for i in range(args.count)
        ]
        control.send("READY", nodes={n.id: list(n.address) for n in nodes})
        victim = await control.peer()
        for node in nodes:
            node.add_peer("b", victim)
        control.send("ARMED")
        await control.wait_start()
        results = await asyncio.gather(
            *(_send_for(node, ["b"], payload, args.duration) for node in nodes)
        )
        return {
            "accepted": sum(sum(accepted.values()) for accepted, _ in results),
            "blocked_for_s": min(blocked for _, blocked in results),
        }


class _Spoofer(asyncio.DatagramProtocol):
    """One socket at a spoofed peer's address: sends what it is told, answers challenges."""

    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.transport: asyncio.DatagramTransport | None = None
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            envelope = wire.decode(data)
        except WireError:
            return
        if type(envelope) is wire.Challenge and not envelope.reply:
            assert self.transport is not None
            answer = wire.encode_challenge(self.peer, 1, envelope.sender, envelope.nonce, True)
            self.transport.sendto(answer, addr)
            self.answered += 1


async def role_mem_spoof(args: WorkerOptions, control: Control) -> dict[str, Any]:
    """``--count`` spoofed peers s0.. flooding "b" above a gap, and honest "h" sending
    ``--rounds`` messages, for ``--duration`` seconds."""
    loop = asyncio.get_running_loop()
    spoofers: list[tuple[asyncio.DatagramTransport, _Spoofer]] = []
    for i in range(args.count):
        transport, protocol = await loop.create_datagram_endpoint(
            lambda i=i: _Spoofer(f"s{i}"),  # type: ignore[misc]
            local_addr=(LOOPBACK, 0),
        )
        spoofers.append((transport, protocol))
    try:
        async with _node(args, "h", close_timeout=0.1) as honest:
            nodes = {p.peer: list(t.get_extra_info("sockname")[:2]) for t, p in spoofers}
            nodes["h"] = list(honest.address)
            control.send("READY", nodes=nodes)
            victim = await control.peer()
            honest.add_peer("b", victim)
            control.send("ARMED")
            await control.wait_start()
            sent = 0
            chunk = payload_of(args.size)
            deadline = time.monotonic() + args.duration

            async def honest_sends() -> None:
                for i in range(args.rounds):
                    await honest.send("b", i)
                await honest.flush()

            honest_task = asyncio.create_task(honest_sends())
            while time.monotonic() < deadline:
                for transport, protocol in spoofers:
                    seq = 2 + sent % 1000  # above the gap at 1, within the message window
                    message = [seq, {protocol.peer: seq}, chunk]
                    transport.sendto(
                        wire.encode_segment(protocol.peer, 1, "b", 1, None, [message]),
                        victim,
                    )
                    sent += 1
                await asyncio.sleep(0.0005)  # a flood, paced so the honest peer runs too
            await asyncio.wait_for(honest_task, args.timeout / 2)
            return {
                "forged": sent,
                "challenges_answered": sum(p.answered for _, p in spoofers),
                "honest_sent": args.rounds,
            }
    finally:
        for transport, _ in spoofers:
            transport.close()


MEMORY_ROLES: dict[str, Callable[[WorkerOptions, Control], Awaitable[dict[str, Any]]]] = {
    "mem-dead": role_mem_dead,
    "mem-victim": role_mem_victim,
    "mem-senders": role_mem_senders,
    "mem-spoof": role_mem_spoof,
}


# -- the runner side ------------------------------------------------------------------------------
def budgets() -> dict[str, int]:
    """The bound each scenario is held to, in bytes (the defaults)."""
    return {
        "dead_peers": min(DEFAULT_SEND_BYTES_TOTAL, DEAD_PEERS * DEFAULT_SEND_BYTES),
        "stalled_consumer": DEFAULT_INBOX_BYTES + STALL_PEERS * DEFAULT_RECEIVE_BYTES,
        "spoofer": SPOOFED_PEERS * DEFAULT_RECEIVE_BYTES,
    }


async def memory_budgets(duration: float, timeout: float, progress: TextIO) -> dict[str, Any]:
    """The three scenarios in turn (their children from :func:`runner.children`)."""
    from netclock.tools.bench.runner import BenchError, Settings, children

    settings = Settings(timeout=timeout)
    base = ["--kind", "reliable", "--size", str(PAYLOAD), "--duration", str(duration)]
    report: dict[str, Any] = {"status": "ok", "reason": None, "budgets": budgets()}
    try:
        deadline = time.monotonic() + timeout
        dead = [*base, "--count", str(DEAD_PEERS)]
        async with children(settings, ("mem-dead", dead)) as (child,):
            await child.expect("READY", deadline)
            child.tell({"cmd": "start"})
            report["dead_peers"] = await child.expect("RESULT", deadline)
        print("  bounded memory: dead peers measured", file=progress, flush=True)
        for name, attacker, count, stall in (
            ("stalled_consumer", "mem-senders", STALL_PEERS, True),
            ("spoofer", "mem-spoof", SPOOFED_PEERS, False),
        ):
            deadline = time.monotonic() + timeout
            victim_options = [*base, *(["--stall"] if stall else [])]
            attack = [*base, "--count", str(count), "--rounds", str(HONEST)]
            async with children(
                settings, ("mem-victim", victim_options), (attacker, attack)
            ) as pair:
                victim, other = pair
                address = await victim.expect("READY", deadline)
                nodes = (await other.expect("READY", deadline))["nodes"]
                victim.tell({"peers": nodes})
                other.tell({"peer": [address["host"], address["port"]]})
                await asyncio.gather(*(c.expect("ARMED", deadline) for c in pair))
                other.tell({"cmd": "start"})
                attacked = await other.expect("RESULT", deadline)
                victim.tell({"cmd": "stop"})
                report[name] = {**await victim.expect("RESULT", deadline), "attacker": attacked}
            print(f"  bounded memory: {name.replace('_', ' ')} measured", file=progress, flush=True)
    except BenchError as exc:
        report.update(status="failed", reason=str(exc))
    return report


def format_budgets(report: dict[str, Any]) -> list[str]:
    """The scenarios as table lines: peak RSS beside the budget, and the flatness."""
    lines = ["  60 kB payloads, default budgets (peak RSS of the victim's process, MiB):"]
    if report["status"] != "ok":
        return [*lines, f"  {report['status']}: {report['reason']}"]
    names = {
        "dead_peers": f"{DEAD_PEERS} dead peers",
        "stalled_consumer": f"stalled consumer, {STALL_PEERS} senders",
        "spoofer": f"spoofer of {SPOOFED_PEERS} peers",
    }
    for key, name in names.items():
        row = report[key]
        start, peak = row["rss_start_kib"] / 1024, row["peak_rss_kib"] / 1024
        grown = peak - start
        budget = report["budgets"][key] / MIB
        first, second = row["rss_first_half_max_kib"] / 1024, row["rss_second_half_max_kib"] / 1024
        flat = "flat" if second <= first * 1.1 + 8 else "GROWING"
        extra = ""
        if key == "spoofer":
            extra = (
                f"; honest {row['honest_received']}/{HONEST} once in order: "
                f"{row['honest_in_order_once']}; {row['link'].get('beyond_bytes', 0):,} dropped"
            )
        if key == "stalled_consumer":
            extra = f"; senders blocked for the last {row['attacker']['blocked_for_s']:.1f} s"
        lines.append(
            f"  {name}: peak {peak:.0f} (start {start:.0f}, +{grown:.0f}) beside budget "
            f"{budget:.0f}; halves {first:.0f} -> {second:.0f} ({flat}){extra}"
        )
    return lines
