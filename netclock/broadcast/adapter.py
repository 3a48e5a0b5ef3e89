"""The asyncio side of broadcast: runs the cores over a Node's link.

:class:`Broadcaster` is what the Node keeps (created on first use): it makes one core per
kind, hands a core each broadcast frame the link delivered, sends what the core asks for on
the link as ordinary messages (the origin's clock and id unchanged: relays are not events),
and gives what the core delivers back to the Node, which applies the receive rule and logs
it. A relay that finds a peer's send window full waits in a per-peer backlog drained by one
task while the backlog lasts, so a receive callback never blocks. Bad frames are counted,
logged at debug level and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from netclock.broadcast.bracha import BrachaCore
from netclock.broadcast.core import (
    BestEffortCore,
    CausalCore,
    EagerReliableCore,
    FifoCore,
    Step,
    UniformReliableCore,
)
from netclock.broadcast.frame import BMessage, Kind, decode, encode, flat_deps
from netclock.errors import LinkClosed, WindowFull, WireError

log = logging.getLogger(__name__)

CORES: dict[Kind, type[BestEffortCore]] = {
    Kind.BEST_EFFORT: BestEffortCore,
    Kind.RELIABLE: EagerReliableCore,
    Kind.UNIFORM: UniformReliableCore,
    Kind.FIFO: FifoCore,
    Kind.CAUSAL: CausalCore,
    Kind.BYZANTINE: BrachaCore,
}
"""The core that implements each kind."""

BACKLOG = 4096
"""Relays waiting for send windows above which :meth:`Broadcaster.wait_room` holds a new
broadcast back."""

Deliver = Callable[[BMessage, float], None]
"""The Node's side: deliver one broadcast (first arrival time, monotonic seconds)."""
LinkSend = Callable[[str, Any, Any], int]


class Broadcaster:
    """One node's broadcast layer: the cores, the relays' backlog, the counters."""

    def __init__(
        self,
        me: str,
        incarnation: int,
        peers: Callable[[], list[str]],
        send: LinkSend,
        wait_writable: Callable[[str], Awaitable[None]],
        deliver: Deliver,
        *,
        authenticated: bool = False,
    ) -> None:
        self.me = me
        self.authenticated = authenticated
        """The link proves who sent each message (TLS): Bracha's counts rely on it."""
        self.incarnation = incarnation
        self._peers = peers
        self._send = send
        self._wait_writable = wait_writable
        self._deliver = deliver
        self.cores: dict[Kind, BestEffortCore] = {}
        self._backlog: dict[str, deque[tuple[Any, list[Any]]]] = {}
        self._drains: dict[str, asyncio.Task[None]] = {}
        self._room = asyncio.Event()
        self._room.set()
        self.bad = 0
        """Broadcast frames that were malformed or refused by their core."""
        self.relayed = 0

    def core(self, kind: Kind) -> BestEffortCore:
        """The core of ``kind``, made on first use over the peers known then."""
        core = self.cores.get(kind)
        if core is None:
            core = self.cores[kind] = CORES[kind](self.me, self.incarnation, self._peers())
            if kind is Kind.BYZANTINE and not self.authenticated:
                log.warning(
                    "%s: Byzantine reliable broadcast over a link that does not authenticate "
                    "senders: a liar can vote in others' names (use link='tls')",
                    self.me,
                )
        return core

    def peers_changed(self) -> None:
        """The node learned a peer: every core's group follows."""
        peers = self._peers()
        for core in self.cores.values():
            core.set_peers(peers)

    def new(self, kind: Kind, clock: Any, payload: Any) -> BMessage:
        """The next broadcast of ``kind`` from this node (its id taken)."""
        return self.core(kind).new(clock, payload)

    def broadcast(self, msg: BMessage) -> None:
        """Send ``msg`` (from :meth:`new`) as its kind requires; deliveries go to the Node."""
        self._run(self.core(msg.kind).broadcast(msg, time.monotonic()))

    def receive(self, sender: str, clock: Any, frame: Any) -> None:
        """A frame the link delivered from ``sender``: decoded, handed to its core."""
        try:
            msg = decode(clock, frame)
        except WireError as exc:
            self.bad += 1
            log.debug("%s: dropped a broadcast frame from %s: %s", self.me, sender, exc)
            return
        core = self.core(msg.kind)
        refused = core.refused
        self._run(core.receive(sender, msg, time.monotonic()))
        if core.refused != refused:
            self.bad += 1
            log.debug(
                "%s: %s broadcast %s refused from %s", self.me, msg.kind.value, msg.key, sender
            )

    def _run(self, step: Step) -> None:
        frames: dict[int, list[Any]] = {}
        for peer, msg in step.sends:
            frame = frames.get(id(msg))
            if frame is None:
                wire = msg._replace(extra=flat_deps(msg.extra)) if msg.kind is Kind.CAUSAL else msg
                frame = frames[id(msg)] = encode(wire)
            if msg.origin != self.me:
                self.relayed += 1
            self._out(peer, msg.clock, frame)
        for msg, arrived in step.delivers:
            self._deliver(msg, arrived)

    def _out(self, peer: str, clock: Any, frame: list[Any]) -> None:
        backlog = self._backlog.get(peer)
        if backlog:
            backlog.append((clock, frame))
            return
        try:
            self._send(peer, clock, frame)
        except WindowFull:
            self._backlog.setdefault(peer, deque()).append((clock, frame))
            self._drains[peer] = asyncio.ensure_future(self._drain(peer))
            self._check_room()
        except LinkClosed:
            pass

    async def _drain(self, peer: str) -> None:
        backlog = self._backlog[peer]
        try:
            while backlog:
                await self._wait_writable(peer)
                while backlog:
                    clock, frame = backlog[0]
                    try:
                        self._send(peer, clock, frame)
                    except WindowFull:
                        break
                    backlog.popleft()
                self._check_room()
        except LinkClosed:
            backlog.clear()
        finally:
            del self._drains[peer]
            self._check_room()

    def _check_room(self) -> None:
        if self.backlog() < BACKLOG:
            self._room.set()
        else:
            self._room.clear()

    def backlog(self) -> int:
        """Relays waiting for a send window."""
        return sum(len(b) for b in self._backlog.values())

    async def wait_room(self) -> None:
        """Wait while the relays' backlog is over :data:`BACKLOG`."""
        await self._room.wait()

    async def drain(self) -> None:
        """Wait until every relay has been handed to the link."""
        while self._drains:
            await asyncio.gather(*self._drains.values(), return_exceptions=True)

    async def close(self) -> None:
        """Stop the drain tasks (what is still in the backlog is not sent)."""
        for task in list(self._drains.values()):
            task.cancel()
        for task in list(self._drains.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._backlog.clear()

    def stats(self) -> dict[str, Any]:
        """Counters: relays sent, bad frames, backlog, and per kind what the core holds
        (and the causal buffer's size and peak)."""
        out: dict[str, Any] = {"relayed": self.relayed, "bad": self.bad, "backlog": self.backlog()}
        for kind, core in self.cores.items():
            entry: dict[str, Any] = {"outstanding": core.outstanding()}
            if isinstance(core, CausalCore):
                entry |= {"buffered": core.waiting, "peak": core.peak}
            out[kind.value] = entry
        return out
