"""The Node: one process's identity, vector clock, link and inbox.

A Node stamps every application message with its vector clock (GoVector's rules), hands
it to a link, and yields what arrives through ``async for``. It is an async context
manager; ``close()`` drains what is in flight and is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from netclock.clock import MAX_COUNTER, VectorClock, _new_clock, check_pid
from netclock.errors import ClockError, LinkClosed, UsageError, WindowFull
from netclock.faults.plan import FaultPlan
from netclock.links.base import (
    LINK_KINDS,
    PROMISES,
    Address,
    Link,
    LinkEvent,
    PeerReachable,
    PeerUnreachable,
    SendFailed,
    parse_address,
)
from netclock.observe.eventlog import EventRecorder

log = logging.getLogger(__name__)

_new_tuple = tuple.__new__
"""Builds a NamedTuple from a tuple without the Python-level ``__new__`` (hot paths)."""


class MessageId(NamedTuple):
    """A message's cluster-wide id: ``(sender, incarnation, seq)``."""

    sender: str
    incarnation: int
    seq: int

    def __str__(self) -> str:
        return f"{self.sender}:{self.incarnation}:{self.seq}"


class Delivery(NamedTuple):
    """A message as the application receives it.

    ``clock`` is the sender's clock when it sent the message; ``receive_clock`` is this
    node's clock right after the delivery (the receive event); ``id`` is the message's
    ``(sender, incarnation, seq)``.
    """

    sender: str
    payload: Any
    clock: VectorClock
    receive_clock: VectorClock
    incarnation: int
    seq: int

    @property
    def id(self) -> MessageId:
        """The message's id: unique per (sender, receiver) link, across restarts."""
        return _new_tuple(MessageId, (self[0], self[4], self[5]))


class Failure(NamedTuple):
    """A message a reliable link gave up on (only with a give-up time configured)."""

    peer: str
    id: MessageId
    payload: Any


def new_incarnation() -> int:
    """A fresh incarnation number: grows across restarts of the same node id."""
    return time.time_ns() // 1000


class Node:
    """A process in a distributed system, with a vector clock on every message.

    Use it as ``async with Node("a", peers={"b": ("127.0.0.1", 9001)}) as node:``, then
    ``await node.send("b", payload)`` and ``async for msg in node``.
    """

    def __init__(
        self,
        node_id: str,
        *,
        link: str = "reliable",
        address: str | Address = ("127.0.0.1", 0),
        peers: Mapping[str, str | Address] | None = None,
        incarnation: int | None = None,
        faults: FaultPlan | None = None,
        fault_epoch: float | None = None,
        inbox_size: int = 1024,
        fifo: bool = True,
        give_up_after: float | None = None,
        cert_dir: str | Path | None = None,
        govector_log: str | Path | None = None,
        event_log: str | Path | None = None,
        close_timeout: float = 5.0,
        link_options: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            self.id = check_pid(node_id)
        except ClockError as exc:
            raise UsageError(f"node id: {exc}") from None
        if link not in LINK_KINDS:
            raise UsageError(f"link {link!r} is not one of {', '.join(LINK_KINDS)}")
        if inbox_size < 1:
            raise UsageError("inbox_size must be at least 1")
        self.incarnation = new_incarnation() if incarnation is None else incarnation
        self.link_kind = link
        self.fifo = fifo
        self._inbox: deque[Delivery] = deque()
        self._inbox_size = inbox_size
        self._inbox_full = False
        """The inbox filled up since the last resume: the link may be holding messages back."""
        self._waiter: asyncio.Future[None] | None = None
        self._close_timeout = close_timeout
        self._state = "new"
        self._failures: deque[Failure] = deque()
        self._unreachable: set[str] = set()
        self.dropped = 0
        self.sent = 0
        self.delivered = 0
        self._clock = VectorClock({self.id: 1})
        self._peer_ids: set[str] = set()
        """Peers known to the link (checked by the send fast path)."""
        self._recorder = (
            EventRecorder(self.id, self.incarnation, govector_log=govector_log, event_log=event_log)
            if govector_log is not None or event_log is not None
            else None
        )
        self._link: Link = _make_link(
            link,
            self,
            parse_address(address),
            faults=faults,
            fault_epoch=fault_epoch,
            fifo=fifo,
            give_up_after=give_up_after,
            cert_dir=cert_dir,
            inbox_size=inbox_size,
            options=dict(link_options or {}),
        )
        for peer, peer_address in (peers or {}).items():
            self.add_peer(peer, peer_address)
        if self._recorder is not None:
            promises = list(PROMISES[link]) + (
                ["fifo"] if fifo and link in ("reliable", "tls") else []
            )
            self._recorder.record(
                "init", self._clock, "Initialization Complete", link=link, promises=promises
            )

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> Node:
        """Bind the link's sockets; :attr:`address` is valid afterwards."""
        if self._state == "new":
            await self._link.start()
            self._state = "running"
        return self

    async def __aenter__(self) -> Node:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Wait (up to ``close_timeout``) for in-flight messages, then release everything."""
        if self._state in ("closing", "closed"):
            return
        was_running = self._state == "running"
        self._state = "closing"
        drained = True
        if was_running:
            try:
                await asyncio.wait_for(self._link.flush(), self._close_timeout)
            except TimeoutError:
                drained = False
                log.info("%s: closed with messages still unacknowledged", self.id)
        await self._link.close()
        self._state = "closed"
        if self._recorder is not None:
            self._recorder.record("stop", self._clock, "stop", clean=drained, stats=self.stats())
            self._recorder.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- peers -----------------------------------------------------------------------------------
    @property
    def address(self) -> Address:
        """The address this node listens on (the real port after binding to port 0)."""
        return self._link.address

    @property
    def link(self) -> Link:
        """The node's link, for link-specific controls (e.g. ``reset(peer)`` on tls)."""
        return self._link

    def add_peer(self, peer: str, address: str | Address) -> None:
        """Make ``peer`` known at ``address`` (``"host:port"`` or a tuple)."""
        try:
            check_pid(peer)
        except ClockError as exc:
            raise UsageError(f"peer id: {exc}") from None
        self._link.add_peer(peer, parse_address(address))
        self._peer_ids.add(peer)

    @property
    def peers(self) -> list[str]:
        """The ids of the known peers, sorted."""
        return sorted(self._link.peers)

    # -- clock and events ------------------------------------------------------------------------
    @property
    def clock(self) -> VectorClock:
        """This node's current vector clock."""
        return self._clock

    def log_local_event(self, text: str) -> VectorClock:
        """A local event: ticks the clock and logs ``text``; returns the new clock."""
        self._clock = self._clock.tick(self.id)
        if self._recorder is not None:
            self._recorder.record("local", self._clock, text, text=text)
        return self._clock

    # -- sending -----------------------------------------------------------------------------------
    async def send(self, peer: str, payload: Any, *, event: str | None = None) -> MessageId:
        """Stamp ``payload`` with a tick of the clock and hand it to the link.

        Returns once the link has accepted the message (not when it is acknowledged),
        waiting while the peer's send window is full. ``event`` is the text logged.
        """
        try:
            return self.send_nowait(peer, payload, event=event)
        except WindowFull:
            pass
        link = self._link
        while True:
            await link.wait_writable(peer)
            try:
                return self.send_nowait(peer, payload, event=event)
            except WindowFull:
                continue

    def send_nowait(self, peer: str, payload: Any, *, event: str | None = None) -> MessageId:
        """Like :meth:`send`, but raises :class:`~netclock.errors.WindowFull` instead of waiting."""
        if self._state != "running" or peer not in self._peer_ids:
            self._check_sendable(peer)
        # A send event: the own entry + 1 (VectorClock.tick, inlined; the own entry is
        # always there, from 1 at the start).
        entries = self._clock._entries.copy()
        own = entries[self.id]
        if own >= MAX_COUNTER:
            raise ClockError(f"counter for {self.id!r} would pass 2**64-1")
        entries[self.id] = own + 1
        clock = _new_clock(VectorClock)
        clock._entries = entries
        seq = self._link.send(peer, clock, payload)
        self._clock = clock
        self.sent += 1
        msg_id: MessageId = _new_tuple(MessageId, (self.id, self.incarnation, seq))
        if self._recorder is not None:
            text = event if event is not None else f"send {msg_id} to {peer}"
            self._recorder.record("send", clock, text, to=peer, id=list(msg_id))
        return msg_id

    def _check_sendable(self, peer: str) -> None:
        if self._state != "running":
            raise LinkClosed(f"node {self.id!r} is {self._state}; start it before sending")
        if peer not in self._link.peers:
            raise UsageError(f"unknown peer {peer!r}; known peers: {', '.join(self.peers)}")
        self._peer_ids.add(peer)

    async def broadcast(self, payload: Any, *, event: str | None = None) -> list[MessageId]:
        """Best-effort broadcast: send ``payload`` to every known peer (one event each)."""
        return [await self.send(peer, payload, event=event) for peer in self.peers]

    async def flush(self) -> None:
        """Wait until everything sent so far is acknowledged (or handed back as failed)."""
        await self._link.flush()

    # -- receiving ---------------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[Delivery]:
        return self

    async def __anext__(self) -> Delivery:
        inbox = self._inbox
        while True:
            if inbox:
                delivery = inbox.popleft()
                if self._inbox_full and len(inbox) < self._inbox_size // 2:
                    self._inbox_full = False
                    self._link.resume_reading()
                return delivery
            if self._state == "closed":
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def receive(self, timeout: float | None = None) -> Delivery:
        """The next delivery; raises ``TimeoutError`` after ``timeout`` seconds."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    def failures(self) -> list[Failure]:
        """Messages a reliable link gave up on since the last call (their ids and payloads)."""
        out = list(self._failures)
        self._failures.clear()
        return out

    @property
    def unreachable(self) -> frozenset[str]:
        """Peers the link currently reports as not answering."""
        return frozenset(self._unreachable)

    # -- callbacks from the link (LinkUser) -----------------------------------------------------
    def link_room(self) -> int:
        room = self._inbox_size - len(self._inbox)
        if room <= 0:
            self._inbox_full = True
        return room

    def link_deliver(
        self, sender: str, incarnation: int, seq: int, clock: VectorClock, payload: Any
    ) -> None:
        me = self.id
        entries = self._clock._entries
        new = entries.copy()
        get = entries.get
        # GoVector's receive rule, as in link_deliver_batch.
        for pid, value in clock._entries.items():
            if value > get(pid, 0):
                if pid == me:
                    self._refuse(sender, incarnation, seq, clock)
                    return
                new[pid] = value
        own = new[me]
        if own >= MAX_COUNTER:
            self._refuse(sender, incarnation, seq, clock)
            return
        new[me] = own + 1
        new_clock = _new_clock(VectorClock)
        new_clock._entries = new
        self._clock = new_clock
        self.delivered += 1
        inbox = self._inbox
        inbox.append(_new_tuple(Delivery, (sender, payload, clock, new_clock, incarnation, seq)))
        if self._recorder is not None:
            self._record_delivery(sender, incarnation, seq, clock, new_clock)
        if len(inbox) >= self._inbox_size:
            self._inbox_full = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def link_deliver_batch(
        self, sender: str, incarnation: int, messages: Sequence[tuple[int, VectorClock, Any]]
    ) -> None:
        """Deliver ``(seq, clock, payload)`` messages of one sender incarnation, in order.

        Each is a receive event (a tick and a merge, GoVector's rule). A message whose clock
        claims more for this node than it has produced is counted, logged and dropped. The
        caller keeps within :meth:`link_room`.
        """
        me = self.id
        clock = self._clock
        entries = clock._entries
        own = entries[me]
        inbox = self._inbox
        before = len(inbox)
        append = inbox.append
        recorder = self._recorder
        for seq, message_clock, payload in messages:
            # GoVector's receive rule, as VectorClock.receive (inlined: a call per message
            # would cost as much as the rule itself): the max of every other entry, then
            # own entry + 1; a message that claims more for this node is dropped.
            new = entries.copy()
            get = entries.get
            for pid, value in message_clock._entries.items():
                if value > get(pid, 0):
                    if pid == me:
                        break
                    new[pid] = value
            else:
                if own < MAX_COUNTER:
                    own += 1
                    new[me] = own
                    clock = _new_clock(VectorClock)
                    clock._entries = entries = new
                    append(
                        _new_tuple(
                            Delivery, (sender, payload, message_clock, clock, incarnation, seq)
                        )
                    )
                    if recorder is not None:
                        self._record_delivery(sender, incarnation, seq, message_clock, clock)
                    continue
            self._clock = clock
            self._refuse(sender, incarnation, seq, message_clock)
        self._clock = clock
        delivered = len(inbox) - before
        if not delivered:
            return
        self.delivered += delivered
        if len(inbox) >= self._inbox_size:
            self._inbox_full = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _record_delivery(
        self, sender: str, incarnation: int, seq: int, clock: VectorClock, new_clock: VectorClock
    ) -> None:
        assert self._recorder is not None
        self._recorder.record(
            "deliver",
            new_clock,
            f"deliver {sender}:{incarnation}:{seq} from {sender}",
            id=[sender, incarnation, seq],
            msg_clock=clock.to_wire(),
            **{"from": sender},
        )

    def _refuse(self, sender: str, incarnation: int, seq: int, clock: VectorClock) -> None:
        """Drop a message the receive rule refuses, with :meth:`VectorClock.receive`'s reason."""
        try:
            self._clock.receive(self.id, clock)
        except ClockError as exc:
            self._drop(sender, incarnation, seq, exc)
        else:  # pragma: no cover - the inlined rule and VectorClock.receive agree
            self._drop(sender, incarnation, seq, ClockError("refused by the receive rule"))

    def _drop(self, sender: str, incarnation: int, seq: int, exc: ClockError) -> None:
        self.dropped += 1
        log.debug("%s: dropped %s:%d:%d: %s", self.id, sender, incarnation, seq, exc)
        if self._recorder is not None:
            self._recorder.record("drop", self._clock, "drop", reason=str(exc), **{"from": sender})

    def link_event(self, event: LinkEvent) -> None:
        if isinstance(event, PeerUnreachable):
            self._unreachable.add(event.peer)
            log.info("%s: peer %s is not answering", self.id, event.peer)
        elif isinstance(event, PeerReachable):
            self._unreachable.discard(event.peer)
            log.info("%s: peer %s answers again", self.id, event.peer)
        elif isinstance(event, SendFailed):
            for seq, payload in event.messages:
                msg_id = MessageId(self.id, event.incarnation, seq)
                self._failures.append(Failure(event.peer, msg_id, payload))
                if self._recorder is not None:
                    self._recorder.record(
                        "failed", self._clock, "failed", to=event.peer, id=list(msg_id)
                    )

    # -- faults -------------------------------------------------------------------------------
    def partition(self, peer: str) -> None:
        """Cut this node off from ``peer`` in both directions until :meth:`heal` (live fault).

        On a reliable link messages wait and are resent after the partition heals.
        """
        self._link.partition(peer)

    def heal(self, peer: str) -> None:
        """End a partition from ``peer``."""
        self._link.heal(peer)

    # -- statistics ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters of the node and its link."""
        link = self._link.stats()
        return {
            "node": self.id,
            "clock": self._clock.get(self.id),
            "sent": self.sent,
            "delivered": self.delivered,
            "retransmitted": link.get("retransmitted", 0),
            "inbox": len(self._inbox),
            "dropped": self.dropped,
            "link": link,
        }

    def flush_logs(self) -> None:
        """Write buffered log lines to disk now."""
        if self._recorder is not None:
            self._recorder.flush()


def _make_link(
    kind: str,
    user: Node,
    address: Address,
    *,
    faults: FaultPlan | None,
    fault_epoch: float | None,
    fifo: bool,
    give_up_after: float | None,
    cert_dir: str | Path | None,
    inbox_size: int,
    options: dict[str, Any],
) -> Link:
    common: dict[str, Any] = {"bind": address, "faults": faults, "fault_epoch": fault_epoch}
    if kind == "fairloss":
        from netclock.links.fairloss import FairLossLink

        return FairLossLink(user.id, user.incarnation, user, **common, **options)
    if kind == "stubborn":
        from netclock.links.stubborn import StubbornLink

        return StubbornLink(user.id, user.incarnation, user, **common, **options)
    if kind == "reliable":
        from netclock.links.perfect import PerfectLink

        return PerfectLink(
            user.id,
            user.incarnation,
            user,
            fifo=fifo,
            give_up_after=give_up_after,
            receive_capacity=inbox_size,
            **common,
            **options,
        )
    from netclock.links.tls.link import TlsLink

    if cert_dir is None:
        raise UsageError("the tls link needs cert_dir (create one with `netclock certs init`)")
    return TlsLink(
        user.id,
        user.incarnation,
        user,
        cert_dir=cert_dir,
        fifo=fifo,
        give_up_after=give_up_after,
        receive_capacity=inbox_size,
        **common,
        **options,
    )
