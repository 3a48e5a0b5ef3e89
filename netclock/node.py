"""The Node: one process's identity, vector clock, link and inbox.

A Node stamps every application message with its vector clock (GoVector's rules), hands
it to a link, and yields what arrives through ``async for``. It is an async context
manager; ``close()`` drains what is in flight and is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import socket
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from netclock.broadcast.adapter import Broadcaster
from netclock.broadcast.bracha import value_key
from netclock.broadcast.frame import MARK, BMessage, Kind, check_payload
from netclock.clock import (
    DEFAULT_MAX_CLOCK_ENTRIES,
    ClockScope,
    VectorClock,
    check_pid,
    receive_all,
)
from netclock.detectors.adapter import FailureDetector
from netclock.detectors.core import DetectorEvent, Leader, Restore, Suspect
from netclock.detectors.options import DetectorOptions, detector_options
from netclock.durable.log import Durability
from netclock.durable.state import NodeState, new_incarnation
from netclock.errors import ClockError, LinkClosed, PeerRemoved, UsageError, WindowFull
from netclock.faults.plan import FaultPlan
from netclock.links.base import (
    Address,
    GaveUp,
    InputRefused,
    Link,
    LinkEvent,
    PeerReachable,
    PeerUnreachable,
    Refused,
    parse_address,
    promises,
)
from netclock.links.budget import DEFAULT_INBOX_BYTES, check_budget, payload_bytes
from netclock.links.journal import LinkJournal
from netclock.links.options import LinkOptions, make_link
from netclock.links.options import link_options as _link_options
from netclock.links.pump import SessionPump
from netclock.links.resolve import PeerResolver, needs_lookup
from netclock.observe.eventlog import EventRecorder
from netclock.sampling import Sampler, link_sample

log = logging.getLogger(__name__)

_new_tuple = tuple.__new__
"""Builds a NamedTuple from a tuple without the Python-level ``__new__`` (hot paths)."""
_clock_of = itemgetter(1)
"""The clock of a ``(seq, clock, payload)`` message."""


def _consume_nothing(_delivery: Any) -> None:
    """No journal: nothing records a consumption."""


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
    ``(sender, incarnation, seq)``. ``redelivered`` is True for a message a durable node
    delivered before a crash and gets again because it was not consumed (the application
    may have seen it: make its handling idempotent by id).
    """

    sender: str
    payload: Any
    clock: VectorClock
    receive_clock: VectorClock
    incarnation: int
    seq: int
    redelivered: bool = False

    @property
    def id(self) -> MessageId:
        """The message's id: unique per (sender, receiver) link, across restarts."""
        return _new_tuple(MessageId, (self[0], self[4], self[5]))


class BroadcastDelivery(Delivery):
    """A broadcast as the application receives it: a :class:`Delivery` whose ``sender`` is
    the broadcast's origin, ``clock`` the origin's clock when it broadcast, ``incarnation``
    and ``seq`` the origin's (``seq`` counts its broadcasts of this kind), plus ``kind``
    (``"causal"``, ...). Relays are invisible: it looks the same whoever relayed it.

    It is one item longer than a Delivery (``kind`` is last, after ``redelivered``, which is
    always False: a broadcast is kept in memory only): index and unpack it as one.
    """

    __slots__ = ()

    @property
    def kind(self) -> str:
        """The broadcast kind (a :class:`~netclock.broadcast.frame.Kind` value)."""
        return self[7]  # type: ignore[misc, no-any-return]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in zip(_FIELDS, self, strict=True))
        return f"BroadcastDelivery({fields})"


_FIELDS = (*Delivery._fields, "kind")
_BUFFERED = frozenset({Kind.FIFO, Kind.CAUSAL})
"""The kinds that hold a broadcast that arrived early (the event log says how long)."""


class Failure(NamedTuple):
    """A message a reliable link gave up on (only with ``give_up_after`` set), or one its
    peer refused (its clock broke the peer's scope): its peer, id, payload and ``reason``.
    The peer may have received it, but will never deliver it later."""

    peer: str
    id: MessageId
    payload: Any
    reason: str = "gave up"


class Node:
    """A process in a distributed system, with a vector clock on every message.

    Use it as ``async with Node("a", peers={"b": ("127.0.0.1", 9001)}) as node:``, then
    ``await node.send("b", payload)`` and ``async for msg in node`` (or ``await
    node.receive()``): any number of tasks may consume the inbox at once, each message
    reaches exactly one of them, and ``close()`` ends them all once the inbox is empty.

    What a reliable link reports comes back here: :meth:`failures` returns the messages it
    gave up on (with ``give_up_after`` set) and :attr:`unreachable` the peers it currently
    gets no answer from. ``link_options`` tunes the link: a
    :class:`~netclock.links.options.PerfectLinkOptions` (``reliable``),
    :class:`~netclock.links.options.SealedOptions`,
    :class:`~netclock.links.options.TlsOptions`,
    :class:`~netclock.links.options.StubbornOptions` or
    :class:`~netclock.links.options.FairLossOptions`, or a mapping of the same names.

    ``data_dir`` gives the node durable state (docs/durability.md): each start takes a new
    incarnation, persisted before use, and the clock's own entry continues above every value
    an earlier start used. ``clock_start`` is the own entry's first value (default 1, the
    logged "Initialization Complete" event, or 0 without a log, as GoVector starts, so the
    first event is 1; with ``data_dir`` the stored high-water mark + 1); a caller that
    knows the last value logged before a crash passes it + 1 to keep the ShiViz log's "+1
    per event".
    Given ``clock_start`` above 1 (by hand, or by ``data_dir``), the node continues an earlier
    life: its GoVector log is appended to instead of truncated.

    Every clock that arrives is scoped (docs/byzantine.md): it may name only this node, its
    peers and ``members`` (further ids of the cluster), with at most ``max_clock_entries``
    entries. A reliable link refuses a message that breaks this before acknowledging it,
    and the sender gets it back in :meth:`failures` with the reason. A clock that claims
    more of this node than it has done is delivered without that claim (``false_claims``
    in :meth:`stats`): a process is the only authority on its own entry.

    ``detector`` runs a failure detector beside the link (docs/detectors.md): a kind
    (``"perfect"``, ``"eventually_perfect"``, ``"eventual_leader"``), a table or a
    :class:`~netclock.detectors.options.DetectorOptions`. Read :attr:`suspected`,
    :attr:`leader` and ``async for ev in node.detector_events()``; on a reliable link without
    ``give_up_after`` the detector's suspicion is what makes the link give up.

    With ``data_dir``, the ``reliable`` and ``tls`` links are *logged* perfect links
    (docs/durability.md): a message is delivered (and acked) only once it is durable in
    ``link.log`` at the ``durability`` level (``"process"``: written to the OS, survives
    kill -9; ``"machine"``: group-committed fsync, survives a machine crash), and a sent
    message survives the sender's crash and is resent after a restart with its id and clock.
    ``consume`` says when a message counts as consumed: ``"next"`` (default) when the
    application asks for the next message (``async for``, :meth:`receive`), which consumes
    every message handed out before, by any task; ``"explicit"`` only by :meth:`ack`, the
    choice for several consumer tasks on one inbox. After a restart the delivered but
    unconsumed messages come first, with ``redelivered`` set; a consumed one never returns.

    The inbox holds at most ``inbox_size`` messages and about ``inbox_bytes`` bytes of
    payload (links/budget.py counts them): when either is reached a reliable link stops
    handing messages over, its session's window closes, and the senders wait; nothing
    acknowledged is dropped. (It may pass ``inbox_bytes`` by one batch of the link.)

    ``sample_period`` (seconds; with an event log) records a ``sample`` event that often
    while the node runs, and once more when it closes: its inbox depth and each peer
    session's counters, round-trip estimate and timeout (:mod:`netclock.sampling`), for
    the viewer's charts.
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
        inbox_bytes: int = DEFAULT_INBOX_BYTES,
        fifo: bool = True,
        give_up_after: float | None = None,
        cert_dir: str | Path | None = None,
        govector_log: str | Path | None = None,
        event_log: str | Path | None = None,
        close_timeout: float = 5.0,
        link_options: LinkOptions | Mapping[str, Any] | None = None,
        data_dir: str | Path | None = None,
        clock_start: int | None = None,
        detector: DetectorOptions | str | Mapping[str, Any] | None = None,
        durability: str = "process",
        consume: str = "next",
        sample_period: float | None = None,
        members: Iterable[str] | None = None,
        max_clock_entries: int = DEFAULT_MAX_CLOCK_ENTRIES,
    ) -> None:
        try:
            self.id = check_pid(node_id)
        except ClockError as exc:
            raise UsageError(f"node id: {exc}") from None
        options = _link_options(link, link_options)
        if inbox_size < 1:
            raise UsageError("inbox_size must be at least 1")
        self._inbox_budget = check_budget("inbox_bytes", inbox_bytes)
        self._inbox_bytes = 0
        """``payload_bytes`` of the deliveries in the inbox."""
        if clock_start is not None and (
            not isinstance(clock_start, int) or isinstance(clock_start, bool) or clock_start < 1
        ):
            raise UsageError(f"clock_start must be an integer of at least 1, not {clock_start!r}")
        if durability not in ("process", "machine"):
            raise UsageError(f"durability must be 'process' or 'machine', not {durability!r}")
        if consume not in ("next", "explicit"):
            raise UsageError(f"consume must be 'next' or 'explicit', not {consume!r}")
        if sample_period is not None and (isinstance(sample_period, bool) or not sample_period > 0):
            raise UsageError(f"sample_period must be a positive number, not {sample_period!r}")
        logged = data_dir is not None and link in ("reliable", "sealed", "tls")
        if logged and not fifo:
            raise UsageError(
                "a logged perfect link (data_dir with the reliable or tls link) needs fifo=True: "
                "its log recovers a FIFO receive point; drop fifo=False or the data_dir"
            )
        self._durable: NodeState | None = None
        self.data_dir = None if data_dir is None else Path(data_dir)
        """The node's data directory (None without one): a program may keep its own
        crash-safe files there."""
        if data_dir is not None:
            self._durable = NodeState.open(
                data_dir,
                self.id,
                incarnation=incarnation,
                clock_start=clock_start,
                sync=durability == "machine",
            )
            incarnation, clock_start = self._durable.incarnation, self._durable.clock_start
            weakref.finalize(self, self._durable.close)  # also if this constructor fails
        self.incarnation = new_incarnation() if incarnation is None else incarnation
        self._journal: LinkJournal | None = None
        if logged:
            assert data_dir is not None
            self._journal = LinkJournal.open(data_dir, self.incarnation, Durability(durability))
            weakref.finalize(self, self._journal.close)
        self._link_incarnation = self.incarnation if self._journal is None else self._journal.stream
        """The incarnation in this node's message ids: a logged link keeps its stream's."""
        self._consume_next = self._journal is not None and consume == "next"
        self._consume_one: Callable[[Delivery], None] = (
            self._journal.consumed_next if self._journal is not None else _consume_nothing
        )
        """consume="next": the journal's consumption of one handed message (one call)."""
        self._handed: Delivery | None = None
        """consume="next": the first message handed out and not yet consumed."""
        self._handed_more: list[Delivery] = []
        """consume="next": those handed out after :attr:`_handed` (concurrent consumers)."""
        self.link_kind = link
        self.fifo = fifo
        self._inbox: deque[Delivery] = deque()
        self._inbox_size = inbox_size
        self._inbox_full = False
        """The inbox filled up since the last resume: the link may be holding messages back."""
        self._waiters: deque[asyncio.Future[None]] = deque()
        """Consumers waiting for the inbox, oldest first; each wake-up takes one off."""
        self._close_timeout = close_timeout
        self._state = "new"
        self._failures: deque[Failure] = deque()
        self._unreachable: set[str] = set()
        self.dropped = 0
        self.refused = 0
        """What the link refused (bad bytes, strangers, unproven identities): ``refused`` events."""
        self.sent = 0
        self.delivered = 0
        self._receive_name: str | Callable[[str, Any], str] | None = None
        """What receive events are logged as (:meth:`name_receives`); None: the default."""
        self._broadcaster: Broadcaster | None = None
        """The broadcast layer, made on the first broadcast sent or received."""
        logs = govector_log is not None or event_log is not None
        # GoVector's start: the own entry is 1 after the "Initialization Complete" event,
        # which is logged only with a log; without one the first event is 1.
        if clock_start is None and not logs:
            self._clock = VectorClock()
        else:
            self._clock = VectorClock({self.id: clock_start or 1})
        self._peer_ids: set[str] = set()
        """Peers known to the link (checked by the send fast path)."""
        self._removed: set[str] = set()
        self._resolver = PeerResolver(self._add_peer_at)
        """Peers given by host name, added once resolved (links/resolve.py)."""
        """Peers removed with :meth:`remove_peer`."""
        if isinstance(members, str):
            raise UsageError(f"members must be a list of node ids, not the str {members!r:.40}")
        try:
            scoped = {self.id, *(check_pid(pid) for pid in members or ())}
        except ClockError as exc:
            raise UsageError(f"members: {exc}") from None
        try:
            self._clock_scope = ClockScope(scoped, max_clock_entries)
        except ClockError as exc:
            raise UsageError(str(exc)) from None
        """What an arriving clock may name (this node, its peers, ``members``) and hold."""
        self._false_claim_count = 0
        """Messages whose clock claimed more of this node than it has done (not merged)."""
        self._claims: list[tuple[int, int]] = []
        self._recorder = (
            EventRecorder(
                self.id,
                self.incarnation,
                govector_log=govector_log,
                event_log=event_log,
                append=(clock_start or 1) > 1,
            )
            if govector_log is not None or event_log is not None
            else None
        )
        detector_opts = detector_options(detector)
        if detector_opts is not None and give_up_after is None:
            give_up_after = math.inf  # keep payloads: the detector's suspicion gives up
        self._link: Link = make_link(
            link,
            self.id,
            self._link_incarnation,
            _LinkSide(self),
            bind=parse_address(address),
            options=options,
            faults=faults,
            fault_epoch=fault_epoch,
            fifo=fifo,
            give_up_after=give_up_after,
            receive_capacity=inbox_size,
            cert_dir=cert_dir,
        )
        self._screened = isinstance(self._link, SessionPump)
        """The link refuses out-of-scope clocks itself, before its ack (a reliable link)."""
        self._detector = (
            None
            if detector_opts is None
            else FailureDetector(
                self.id,
                self.incarnation,
                self._link,
                detector_opts,
                faults=faults,
                fault_epoch=fault_epoch,
                on_event=self._on_detector_event,
            )
        )
        if self._journal is not None:
            assert isinstance(self._link, SessionPump)
            self._link.use_journal(self._journal)
        for peer, peer_address in (peers or {}).items():
            self.add_peer(peer, peer_address)
        if self._recorder is not None:
            self._recorder.record(
                "init",
                self._clock,
                "Initialization Complete",
                link=link,
                promises=list(promises(link, fifo)),
                host=socket.gethostname(),
                **({} if self._detector is None else {"detector": self._detector.describe()}),
            )
        if self._journal is not None:
            self._redeliver(self._journal.state.redeliveries())
        self._sampler = (
            None
            if sample_period is None or event_log is None
            else Sampler(sample_period, self._sample)
        )

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> Node:
        """Bind the link's sockets; :attr:`address` is valid afterwards."""
        if self._state == "new":
            await self._resolver.wait_all()
            await self._link.start()
            self._state = "running"
            if self._sampler is not None:
                self._sampler.start()
            if self._detector is not None:
                await self._detector.start()
        return self

    async def __aenter__(self) -> Node:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Wait (up to ``close_timeout``) for in-flight messages, then release everything.

        Consumers waiting on the inbox take what is left in it, then their ``async for``
        ends (``receive()`` raises ``StopAsyncIteration``).
        """
        if self._state in ("closing", "closed"):
            return
        was_running = self._state == "running"
        self._state = "closing"
        self._resolver.close()
        if self._sampler is not None:
            self._sampler.close()
        drained = True
        if was_running:
            try:
                if self._broadcaster is not None:
                    await asyncio.wait_for(self._broadcaster.drain(), self._close_timeout)
                await asyncio.wait_for(self._link.flush(), self._close_timeout)
            except TimeoutError:
                drained = False
                log.info("%s: closed with messages still unacknowledged", self.id)
        if self._detector is not None:
            await self._detector.close()
        if self._recorder is not None:
            self._recorder.flush()  # the link's last datagrams may carry clocks
        if self._sampler is not None and was_running:
            self._sample()  # the last figures, also of a run shorter than one period
        if self._broadcaster is not None:
            await self._broadcaster.close()
        await self._link.close()
        self._state = "closed"
        if self._journal is not None:
            await self._journal.aclose()
        if self._durable is not None:
            self._durable.close()
        if self._recorder is not None:
            self._recorder.record("stop", self._clock, "stop", clean=drained, stats=self.stats())
            await self._recorder.aclose()  # the loop runs on while the text is rendered
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- peers -----------------------------------------------------------------------------------
    @property
    def address(self) -> Address:
        """The address this node listens on (the real port after binding to port 0)."""
        if self._state == "new":
            raise UsageError(f"node {self.id!r} has no address until it is started{_START}")
        return self._link.address

    @property
    def link(self) -> Link:
        """The node's link, for link-specific controls (e.g. ``reset(peer)`` on tls)."""
        return self._link

    def add_peer(self, peer: str, address: str | Address) -> None:
        """Make ``peer`` known at ``address`` (``"host:port"`` or a tuple).

        For a peer already known this moves it: the same process, reachable now at
        ``address``. Its link state stays, so on ``reliable`` and ``tls`` messages queued
        or unacknowledged go to the new address and arrive exactly once, in order;
        ``stubborn`` retransmits there; on ``fairloss`` only datagrams sent from now on go
        there. A different process at ``address`` (another node, or a restarted life) is
        not a move: its link refuses what it cannot place (docs/cluster.md, "Moving a peer").

        A host name is resolved without blocking the event loop: the peer is added when the
        answer comes (a send to it waits until then); a name that does not resolve is a
        ConfigError from :meth:`start`, or from a send to that peer.
        """
        try:
            check_pid(peer)
        except ClockError as exc:
            raise UsageError(f"peer id: {exc}") from None
        parsed = parse_address(address)
        if needs_lookup(parsed[0]):
            self._resolver.resolve(peer, parsed)
        else:
            self._add_peer_at(peer, parsed)

    def _add_peer_at(self, peer: str, address: Address) -> None:
        self._link.add_peer(peer, address)
        self._peer_ids.add(peer)
        self._removed.discard(peer)
        assert self._clock_scope.members is not None
        self._clock_scope.members.add(peer)
        if self._detector is not None:
            self._detector.add_peer(peer, address)
        if self._broadcaster is not None:
            self._broadcaster.peers_changed()

    def remove_peer(self, peer: str) -> None:
        """Forget ``peer``: the link releases its state (session, buffers, connection,
        timers). Messages to it not yet acknowledged become :meth:`failures` when the link
        keeps them (``give_up_after``); a send waiting for its window, and every later send
        to it, raises :class:`~netclock.errors.PeerRemoved`, until :meth:`add_peer` adds
        it again (fresh state; on a reliable link the message numbering continues both
        ways: ids never repeat, nothing delivered before comes again). Messages from it
        acknowledged but not yet delivered go with it. Not on a logged link (``data_dir``).
        """
        self._link.remove_peer(peer)
        self._peer_ids.discard(peer)
        self._removed.add(peer)
        if self._broadcaster is not None:
            self._broadcaster.peers_changed()

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
        if self._durable is not None:
            self._durable.reserve(self._clock.get(self.id))
        if self._recorder is not None:
            self._recorder.record("local", self._clock, text, text=text)
        return self._clock

    # -- sending -----------------------------------------------------------------------------------
    async def send(self, peer: str, payload: Any, *, event: str | None = None) -> MessageId:
        """Stamp ``payload`` with a tick of the clock and hand it to the link.

        Returns once the link has accepted the message (not when it is acknowledged),
        waiting while the peer's send window is full. ``event`` is the text logged.
        Raises :class:`~netclock.errors.UsageError` before :meth:`start` and
        :class:`~netclock.errors.LinkClosed` after :meth:`close`.
        """
        try:
            return self.send_nowait(peer, payload, event=event)
        except WindowFull:
            pass
        link = self._link
        while True:
            if peer in self._resolver.pending:
                await self._resolver.wait(peer)
            else:
                await link.wait_writable(peer)
            try:
                return self.send_nowait(peer, payload, event=event)
            except WindowFull:
                continue

    def send_nowait(self, peer: str, payload: Any, *, event: str | None = None) -> MessageId:
        """Like :meth:`send`, but raises :class:`~netclock.errors.WindowFull` instead of waiting."""
        if self._state != "running" or peer not in self._peer_ids:
            self._check_sendable(peer)
        if type(payload) is list and payload and payload[0] == MARK:
            raise UsageError("a list starting with netclock's broadcast mark is reserved")
        clock = self._clock.tick(self.id)  # a send event
        if self._durable is not None:
            self._durable.reserve(clock.get(self.id))
        seq = self._link.send(peer, clock, payload)
        self._clock = clock
        self.sent += 1
        msg_id: MessageId = _new_tuple(MessageId, (self.id, self._link_incarnation, seq))
        if self._recorder is not None:
            self._recorder.record_send(clock, peer, self._link_incarnation, seq, event)
        return msg_id

    def _check_running(self) -> None:
        if self._state == "new":
            raise UsageError(f"node {self.id!r} is not started{_START}")
        if self._state != "running":
            raise LinkClosed(f"node {self.id!r} is {self._state}; nothing more can be sent")

    def _check_sendable(self, peer: str) -> None:
        self._check_running()
        if peer in self._removed and peer not in self._link.peers:
            raise PeerRemoved(peer)
        if peer in self._resolver.pending:
            raise WindowFull(peer, 0)  # its name is being resolved: send() waits for it
        error = self._resolver.error(peer)
        if error is not None:
            raise error
        if peer not in self._link.peers:
            if peer == self.id:
                raise UsageError(f"{peer!r} is this node; a node has no link to itself")
            known = (
                f"known peers: {', '.join(self.peers)}"
                if self.peers
                else f"node {self.id!r} has no peers yet; add them with add_peer(peer, address)"
            )
            raise UsageError(f"unknown peer {peer!r}; {known}")
        self._peer_ids.add(peer)

    def next_seq(self, peer: str) -> int:
        """The sequence number the next message to ``peer`` will take, on a reliable link.

        With a data directory the stream continues across restarts, so a program that
        numbers its messages can resume exactly after a crash: every message sent before
        (``send`` returned) is in the log and will be delivered; the next one is this.
        """
        link = self._link
        if not isinstance(link, SessionPump):
            raise UsageError(f"next_seq needs a reliable or tls link, not {self.link_kind}")
        if self._state == "new":
            raise UsageError(f"node {self.id!r} is not started{_START}")
        return link.next_seq(peer)

    async def broadcast(
        self, payload: Any, *, kind: Kind | str = "best-effort", event: str | None = None
    ) -> MessageId:
        """Broadcast ``payload`` to every known peer and to this node: one send event.

        ``kind`` is ``"best-effort"``, ``"reliable"`` (eager), ``"uniform"`` (majority
        ack), ``"fifo"``, ``"causal"`` or ``"byzantine"`` (Bracha; needs ``link="tls"``
        for its guarantees); every process, this one included, gets it in its inbox as a
        :class:`BroadcastDelivery` (docs/broadcast.md). Returns the broadcast's id,
        ``(this node, incarnation, seq)`` with ``seq`` counting this kind's broadcasts.
        Waits while relays wait for send windows. To send a message to each peer as its
        own point-to-point send (one event each), call :meth:`send` per peer.
        """
        what = Kind.parse(kind)
        check_payload(payload)
        if self._state != "running":
            self._check_running()
        broadcaster = self._broadcasting()
        await broadcaster.wait_room()
        if self._state != "running":
            self._check_running()
        clock = self._clock = self._clock.tick(self.id)  # the one send event
        if self._durable is not None:
            self._durable.reserve(clock.get(self.id))
        msg = broadcaster.new(what, clock, payload)
        msg_id: MessageId = MessageId(self.id, self.incarnation, msg.seq)
        self.sent += 1
        if self._recorder is not None:
            text = event if event is not None else f"broadcast {msg_id} ({what.value})"
            self._recorder.record("bcast", clock, text, id=list(msg_id), bkind=what.value)
        broadcaster.broadcast(msg)
        return msg_id

    @property
    def event_log(self) -> Path | None:
        """This node's JSON-lines event log (None without one); its folder is the run's."""
        return None if self._recorder is None else self._recorder.event_log

    def _broadcasting(self) -> Broadcaster:
        if self._broadcaster is None:
            self._broadcaster = Broadcaster(
                self.id,
                self.incarnation,
                lambda: self.peers,
                self._link.send,
                self._link.wait_writable,
                self._deliver_broadcast,
                authenticated="authenticity" in promises(self.link_kind, self.fifo),
            )
        return self._broadcaster

    async def flush(self, *, ignoring: Collection[str] = ()) -> None:
        """Wait until everything sent so far is acknowledged (or handed back as failed),
        what was sent to the peers in ``ignoring`` aside (a peer id or a collection of
        them). With ``ignoring``, broadcast relays still waiting for room are handed to the
        link first (as :meth:`close` does), so that they are waited for too."""
        if not ignoring:
            await self._link.flush()
            return
        if self._broadcaster is not None:
            await self._broadcaster.drain()
        await self._link.flush((ignoring,) if isinstance(ignoring, str) else ignoring)

    # -- receiving ---------------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[Delivery]:
        return self

    async def __anext__(self) -> Delivery:
        inbox = self._inbox
        handed = self._handed
        if handed is not None:  # consume="next": what it had is consumed, before the next
            if self._handed_more:
                self._consume_handed(handed)
            else:
                self._consume_one(handed)
            self._handed = None
        while True:
            if inbox:
                delivery = inbox.popleft()
                if inbox:
                    payload = delivery[1]
                    self._inbox_bytes -= (
                        len(payload) + 16 if type(payload) is bytes else payload_bytes(payload)
                    )
                else:
                    self._inbox_bytes = 0
                if self._consume_next and type(delivery) is Delivery:  # not a broadcast's
                    if self._handed is None:
                        self._handed = delivery
                    else:
                        self._handed_more.append(delivery)
                if (
                    self._inbox_full
                    and len(inbox) < self._inbox_size // 2
                    and self._inbox_bytes < self._inbox_budget // 2
                ):
                    self._inbox_full = False
                    self._link.resume_reading()
                if inbox and self._waiters:
                    self._wake_one()  # more is there: pass it on to the next consumer
                return delivery
            if self._state == "closed":
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                self._leave(waiter)
                raise

    async def receive(self, timeout: float | None = None) -> Delivery:
        """The next delivery; raises ``TimeoutError`` after ``timeout`` seconds.

        Once the node is closed and the inbox empty it raises ``StopAsyncIteration``.
        A timeout or a cancellation takes nothing out of the inbox.
        """
        try:
            async with asyncio.timeout(timeout):
                return await self.__anext__()
        except TimeoutError:
            raise TimeoutError(f"node {self.id!r} received nothing within {timeout} s") from None

    def ack(self, delivery: Delivery) -> None:
        """Mark ``delivery`` consumed: after a crash it is never delivered again.

        With a data directory and a reliable link; with ``consume="explicit"`` this is the
        only way a message counts as consumed (any task, any order). Idempotent. The record
        is written to the OS at once; at machine level a machine crash may still return a
        consumed message, flagged ``redelivered`` (docs/durability.md).
        """
        if self._journal is None:
            raise UsageError(
                "ack() needs a logged perfect link: give the node a data_dir "
                "(with the reliable or tls link)"
            )
        if type(delivery) is Delivery:  # a broadcast's delivery is no link message
            self._journal.consumed(delivery[0], delivery[4], delivery[5])

    async def sync(self) -> None:
        """Return once what this node's logged link recorded so far (messages sent,
        received, consumed) is durable at its ``durability`` level: in the OS at
        ``"process"``, on disk at ``"machine"`` (a group commit, shared with the link).
        Call it before an effect outside netclock that must not outrun a consumption."""
        if self._journal is None:
            raise UsageError(
                "sync() needs a logged perfect link: give the node a data_dir "
                "(with the reliable or tls link)"
            )
        await self._journal.durable()

    def _consume_handed(self, first: Delivery) -> None:
        """consume="next", several consumer tasks: the application asked for more, so every
        message handed out (``first``, then :attr:`_handed_more`) is consumed, in one write."""
        journal = self._journal
        assert journal is not None
        more = self._handed_more
        journal.consumed_all([first, *more], in_order=True)
        more.clear()

    def _redeliver(self, records: list[list[Any]]) -> None:
        """Put the messages a crash left delivered but unconsumed back in the inbox, first.

        Each is a receive event of this life, logged as a delivery with ``redelivered``.
        The records come from this node's own checksummed log: their clocks are trusted.
        """
        me = self.id
        inbox = self._inbox
        recorder = self._recorder
        messages = []
        for record in records:  # a frame here was logged before frames were consumed when taken
            if type(record[5]) is list and record[5] and record[5][0] == MARK:
                self._frame_taken(record[1], record[2], record[3])
            else:
                messages.append(record)
        records = messages
        clocks_in = [VectorClock._trusted(record[4]) for record in records]
        start = 0
        while start < len(records):
            clocks, refusal = receive_all(me, self._clock, clocks_in[start:])
            for offset, new_clock in enumerate(clocks):
                _, sender, incarnation, seq, _entries, payload = records[start + offset]
                clock = clocks_in[start + offset]
                inbox.append(
                    _new_tuple(
                        Delivery, (sender, payload, clock, new_clock, incarnation, seq, True)
                    )
                )
                self._inbox_bytes += payload_bytes(payload)
                if recorder is not None:
                    recorder.record(
                        "deliver",
                        new_clock,
                        f"redeliver {sender}:{incarnation}:{seq} from {sender}",
                        id=[sender, incarnation, seq],
                        msg_clock=clock.to_wire(),
                        redelivered=True,
                        **{"from": sender},
                    )
            if clocks:
                self._clock = clocks[-1]
                if self._durable is not None:
                    self._durable.reserve(self._clock.get(me))
            self.delivered += len(clocks)
            start += len(clocks)
            if refusal is not None:
                _, sender, incarnation, seq, _entries, _payload = records[start]
                self._refuse(sender, incarnation, seq, refusal)
                start += 1
        if len(inbox) >= self._inbox_size:
            self._inbox_full = True

    def _wake_one(self) -> None:
        """Wake the longest-waiting consumer still waiting (one message, one consumer)."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _leave(self, waiter: asyncio.Future[None]) -> None:
        """A consumer stops waiting (cancelled, timed out) without taking a message.

        Never woken: it leaves the queue. Woken already: the wake-up was meant for a
        message still in the inbox, so it goes to the next consumer.
        """
        if waiter.cancelled():
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
        elif self._inbox:
            self._wake_one()

    def failures(self) -> list[Failure]:
        """Messages a reliable link handed back since the last call (ids and payloads).

        Given up on (only with ``give_up_after`` set; without it a reliable link never gives
        up), or refused by the peer, or a large message a restart of the peer cut in two:
        those have a ``reason``.
        """
        out = list(self._failures)
        self._failures.clear()
        return out

    @property
    def unreachable(self) -> frozenset[str]:
        """Peers the link currently gets no answer from (their messages are kept)."""
        return frozenset(self._unreachable)

    # -- what the link calls (through _LinkSide) --------------------------------------------------
    def _room(self) -> int:
        room = self._inbox_size - len(self._inbox)
        if room <= 0 or self._inbox_bytes >= self._inbox_budget:
            self._inbox_full = True
            return 0
        return room

    def _deliver(
        self, sender: str, incarnation: int, seq: int, clock: VectorClock, payload: Any
    ) -> None:
        """Deliver one message: :meth:`_deliver_batch` for one, without its loops."""
        if not self._screened and not self._clock_scope.admits(clock):
            self._out_of_scope(sender, incarnation, seq, clock)
            return
        if type(payload) is list and payload and payload[0] == MARK:
            self._frame_taken(sender, incarnation, seq)
            self._broadcasting().receive(sender, clock, payload)
            return
        claims = self._claims
        clocks, refusal = receive_all(self.id, self._clock, (clock,), claims)
        if claims:
            self._false_claims(sender, incarnation, (seq,))
        if refusal is not None:
            self._refuse(sender, incarnation, seq, refusal)
            return
        new_clock = self._clock = clocks[0]
        if self._durable is not None:
            self._durable.reserve(new_clock.get(self.id))
        inbox = self._inbox
        inbox.append(
            _new_tuple(Delivery, (sender, payload, clock, new_clock, incarnation, seq, False))
        )
        self._inbox_bytes += payload_bytes(payload)
        if self._recorder is not None:
            self._record_delivery(sender, incarnation, seq, clock, new_clock, payload)
        self.delivered += 1
        if len(inbox) >= self._inbox_size:
            self._inbox_full = True
        waiters = self._waiters
        if waiters:
            waiter = waiters[0]  # _wake_one's common case, without the call
            if waiter.done():
                self._wake_one()
            else:
                waiters.popleft()
                waiter.set_result(None)

    def _deliver_batch(
        self, sender: str, incarnation: int, messages: Sequence[tuple[int, VectorClock, Any]]
    ) -> None:
        """Deliver ``(seq, clock, payload)`` messages of one sender incarnation, in order.

        Each is a receive event (:func:`~netclock.clock.receive_all`); a message the rule
        refuses is counted, logged and dropped. The link keeps within :meth:`_room`.
        Broadcast frames among them go to the broadcast layer, in their place.
        """
        for message in messages:
            if type(message[2]) is list and message[2] and message[2][0] == MARK:
                self._deliver_mixed(sender, incarnation, messages)
                return
        me = self.id
        inbox = self._inbox
        before = len(inbox)
        recorder = self._recorder
        logged = None if recorder is None or self._receive_name else recorder.record_delivery
        rest = messages
        claims = self._claims
        while rest:
            clocks, refusal = receive_all(me, self._clock, map(_clock_of, rest), claims)
            if claims:
                self._false_claims(sender, incarnation, [seq for seq, _, _ in rest])
            if clocks:
                self._clock = clocks[-1]
                if self._durable is not None:
                    self._durable.reserve(self._clock.get(me))
                append = inbox.append
                added = 0
                for (seq, message_clock, payload), clock in zip(rest, clocks, strict=False):
                    append(
                        _new_tuple(
                            Delivery,
                            (sender, payload, message_clock, clock, incarnation, seq, False),
                        )
                    )
                    added += (  # payload_bytes, without a call for bytes
                        len(payload) + 16 if type(payload) is bytes else payload_bytes(payload)
                    )
                    if recorder is not None:
                        if logged is not None:  # the default text: one binary record
                            logged(clock, sender, incarnation, seq, message_clock)
                        else:
                            self._record_delivery(
                                sender, incarnation, seq, message_clock, clock, payload
                            )
                self._inbox_bytes += added
            if refusal is None:
                break
            self._refuse(sender, incarnation, rest[len(clocks)][0], refusal)
            rest = rest[len(clocks) + 1 :]
        delivered = len(inbox) - before
        if not delivered:
            return
        self.delivered += delivered
        if len(inbox) >= self._inbox_size:
            self._inbox_full = True
        if self._waiters:
            self._wake_one()

    def _frame_taken(self, sender: str, incarnation: int, seq: int) -> None:
        """A logged link's message carrying a broadcast frame went to the broadcast layer,
        which keeps no durable state: the link's record of it is consumed."""
        if self._journal is not None:
            self._journal.consumed(sender, incarnation, seq)

    def _deliver_mixed(
        self, sender: str, incarnation: int, messages: Sequence[tuple[int, VectorClock, Any]]
    ) -> None:
        """A batch holding broadcast frames: each frame to the broadcast layer, each run of
        point-to-point messages between them to :meth:`_deliver_batch`, in order."""
        broadcaster = self._broadcasting()
        start = 0
        for i, (seq, clock, payload) in enumerate(messages):
            if type(payload) is list and payload and payload[0] == MARK:
                if start < i:
                    self._deliver_batch(sender, incarnation, messages[start:i])
                self._frame_taken(sender, incarnation, seq)
                broadcaster.receive(sender, clock, payload)
                start = i + 1
        if start < len(messages):
            self._deliver_batch(sender, incarnation, messages[start:])

    def _deliver_broadcast(self, msg: BMessage, arrived: float) -> None:
        """Deliver one broadcast (the broadcast layer calls it): one receive event, with the
        origin's clock; ``arrived`` is when it first reached this node (monotonic)."""
        if not self._clock_scope.admits(msg.clock):
            self._out_of_scope(msg.origin, msg.incarnation, msg.seq, msg.clock)
            return
        claims = self._claims
        clocks, refusal = receive_all(self.id, self._clock, (msg.clock,), claims)
        if claims:
            self._false_claims(msg.origin, msg.incarnation, (msg.seq,))
        if refusal is not None:
            self._drop(msg.origin, msg.incarnation, msg.seq, refusal)
            return
        new_clock = self._clock = clocks[0]
        if self._durable is not None:
            self._durable.reserve(new_clock.get(self.id))
        kind = msg.kind.value
        inbox = self._inbox
        inbox.append(
            _new_tuple(
                BroadcastDelivery,
                (
                    msg.origin,
                    msg.payload,
                    msg.clock,
                    new_clock,
                    msg.incarnation,
                    msg.seq,
                    False,
                    kind,
                ),
            )
        )
        self._inbox_bytes += payload_bytes(msg.payload)
        if self._recorder is not None:
            extra: dict[str, Any] = {}
            waited = time.monotonic() - arrived
            if waited >= 0.0005 and msg.kind in _BUFFERED:
                extra["waited"] = round(waited, 4)
            if msg.kind is Kind.BYZANTINE:
                extra["digest"] = hashlib.blake2b(
                    value_key(msg.clock, msg.payload), digest_size=8
                ).hexdigest()
            if self._receive_name is not None:
                extra["text"] = self._receive_text(msg.origin, msg.payload)
            self._recorder.record(
                "bdeliver",
                new_clock,
                extra.get("text")
                or f"deliver broadcast {msg.origin}:{msg.incarnation}:{msg.seq} ({kind})",
                id=[msg.origin, msg.incarnation, msg.seq],
                msg_clock=msg.clock.to_wire(),
                bkind=kind,
                **{"from": msg.origin},
                **extra,
            )
        self.delivered += 1
        if len(inbox) >= self._inbox_size:
            self._inbox_full = True
        if self._waiters:
            self._wake_one()

    def _record_delivery(
        self,
        sender: str,
        incarnation: int,
        seq: int,
        clock: VectorClock,
        new_clock: VectorClock,
        payload: Any,
    ) -> None:
        assert self._recorder is not None
        if self._receive_name is None:
            self._recorder.record_delivery(new_clock, sender, incarnation, seq, clock)
            return
        text = self._receive_text(sender, payload)
        self._recorder.record(
            "deliver",
            new_clock,
            text,
            id=[sender, incarnation, seq],
            msg_clock=clock,
            text=text,
            **{"from": sender},
        )

    def name_receives(self, name: str | Callable[[str, Any], str] | None) -> None:
        """Name this node's receive events from now on, in both logs.

        As GoVector's ``UnpackReceive("Receiving Message", ...)``: ``name`` is the text
        logged for each receive event, or a function of ``(sender, payload)`` returning it;
        None restores the default (``deliver ID from SENDER``). A receive event happens when
        a message is delivered to the node (its clock merged), which may be before the
        program takes it from the inbox, so the name is given beforehand, once, and holds
        for :meth:`receive` and ``async for`` alike. A function that raises logs the
        default text instead (and a warning); the message is delivered either way.
        """
        if name is not None and not isinstance(name, str) and not callable(name):
            raise UsageError(
                f"name_receives takes a string, a function of (sender, payload) or None, "
                f"not {type(name).__name__}"
            )
        self._receive_name = name

    def _receive_text(self, sender: str, payload: Any) -> str:
        name = self._receive_name
        if isinstance(name, str):
            return name
        assert name is not None
        try:
            return str(name(sender, payload))
        except Exception as exc:
            log.warning("%s: the receive-event name function raised %r", self.id, exc)
            return f"deliver from {sender}"

    def _false_claims(self, sender: str, incarnation: int, seqs: Sequence[int]) -> None:
        """Messages (by index into ``seqs``) claimed more of this node than it has done:
        delivered, the claim not merged (this node is the authority on its own entry)."""
        for index, value in self._claims:
            self._false_claim_count += 1
            log.debug(
                "%s: %s:%d:%d claims %s:%d, more than this node has done; not merged",
                self.id,
                sender,
                incarnation,
                seqs[index],
                self.id,
                value,
            )
        self._claims.clear()

    def _out_of_scope(self, sender: str, incarnation: int, seq: int, clock: VectorClock) -> None:
        """A clock the link could not screen before its ack (a fair-loss or stubborn link,
        a relayed broadcast) broke the scope: refused, counted, logged."""
        reason = f"message {incarnation}:{seq} refused: {self._clock_scope.violation(clock)}"
        log.debug("%s: %s from %s", self.id, reason, sender)
        self._on_link_event(InputRefused(sender, reason))

    def _refuse(self, sender: str, incarnation: int, seq: int, exc: ClockError) -> None:
        """:meth:`_drop` a link's message; a logged link's record of it is consumed (the
        node disposed of it: it is not judged again after a restart)."""
        self._drop(sender, incarnation, seq, exc)
        if self._journal is not None:
            self._journal.consumed(sender, incarnation, seq)

    def _drop(self, sender: str, incarnation: int, seq: int, exc: ClockError) -> None:
        self.dropped += 1
        log.debug("%s: dropped %s:%d:%d: %s", self.id, sender, incarnation, seq, exc)
        if self._recorder is not None:
            self._recorder.record("drop", self._clock, "drop", reason=str(exc), **{"from": sender})

    def _on_link_event(self, event: LinkEvent) -> None:
        if isinstance(event, PeerUnreachable):
            self._unreachable.add(event.peer)
            log.info("%s: peer %s is not answering", self.id, event.peer)
        elif isinstance(event, PeerReachable):
            self._unreachable.discard(event.peer)
            log.info("%s: peer %s answers again", self.id, event.peer)
        elif isinstance(event, InputRefused):
            self.refused += 1
            if self._recorder is not None and self.refused <= MAX_REFUSED_EVENTS:
                self._recorder.record(
                    "refused", self._clock, "refused", reason=event.reason, **{"from": event.source}
                )
        elif isinstance(event, GaveUp):
            for seq, payload in event.messages:
                msg_id = MessageId(self.id, event.incarnation, seq)
                self._failures.append(Failure(event.peer, msg_id, payload))
                if self._recorder is not None:
                    self._recorder.record(
                        "failed", self._clock, "failed", to=event.peer, id=list(msg_id)
                    )
        elif isinstance(event, Refused):
            for seq, payload, reason in event.messages:
                msg_id = MessageId(self.id, event.incarnation, seq)
                self._failures.append(Failure(event.peer, msg_id, payload, reason))
                log.info("%s: %s refused %s: %s", self.id, event.peer, msg_id, reason)
                if self._recorder is not None:
                    self._recorder.record(
                        "failed",
                        self._clock,
                        "failed",
                        to=event.peer,
                        id=list(msg_id),
                        reason=reason,
                    )

    # -- failure detector (docs/detectors.md) --------------------------------------------------
    def detector_events(self) -> AsyncIterator[DetectorEvent]:
        """The detector's events from now on: ``async for ev in node.detector_events()``.

        :class:`~netclock.detectors.core.Suspect`, :class:`~netclock.detectors.core.Restore`,
        :class:`~netclock.detectors.core.Leader` and
        :class:`~netclock.detectors.core.SynchronyViolated`, in order; the iteration ends when
        the node closes. Each call is a reader of its own. UsageError without ``detector``.
        """
        if self._detector is None:
            raise UsageError(f"node {self.id!r} has no failure detector; pass detector=...")
        return self._detector.events()

    @property
    def suspected(self) -> frozenset[str]:
        """The peers the failure detector suspects now (empty without one)."""
        return frozenset() if self._detector is None else self._detector.suspected

    @property
    def leader(self) -> str | None:
        """The eventual leader Ω trusts now (None unless ``detector="eventual_leader"``)."""
        return None if self._detector is None else self._detector.leader

    @property
    def detector(self) -> FailureDetector | None:
        """The failure detector (its timeouts, counters and measurements), or None."""
        return self._detector

    def _on_detector_event(self, event: DetectorEvent) -> None:
        """Log a detector event: its own kind, no tick, not in the GoVector log."""
        if isinstance(event, Suspect | Restore):
            log.info(
                "%s: %s %s (timeout %.3f s)",
                self.id,
                type(event).__name__.lower(),
                event.peer,
                event.timeout,
            )
        recorder = self._recorder
        if recorder is None:
            return
        if isinstance(event, Suspect):
            recorder.record(
                "suspect", self._clock, "suspect", peer=event.peer, timeout=event.timeout
            )
        elif isinstance(event, Restore):
            recorder.record(
                "restore", self._clock, "restore", peer=event.peer, timeout=event.timeout
            )
        elif isinstance(event, Leader):
            recorder.record("leader", self._clock, "leader", peer=event.peer)
        else:
            recorder.record(
                "violation",
                self._clock,
                "synchrony assumption violated by the host",
                what=event.what,
                seen=event.seen,
                bound=event.bound,
                peer=event.peer,
            )

    # -- faults -------------------------------------------------------------------------------
    def partition(self, peer: str) -> None:
        """Cut this node off from ``peer`` in both directions until :meth:`heal` (live fault).

        On a reliable link messages wait and are resent after the partition heals.
        """
        self._link.partition(peer)
        if self._detector is not None:
            self._detector.partition(peer)

    def heal(self, peer: str) -> None:
        """End a partition from ``peer``."""
        self._link.heal(peer)
        if self._detector is not None:
            self._detector.heal(peer)

    # -- statistics ------------------------------------------------------------------------------
    def _sample(self) -> None:
        """One ``sample`` event (the sampler's timer; the clock does not tick)."""
        if self._recorder is not None:
            self._recorder.record(
                "sample",
                self._clock,
                "sample",
                inbox=len(self._inbox),
                links=link_sample(self._link),
            )

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
            "inbox_bytes": self._inbox_bytes,
            "dropped": self.dropped,
            "refused": self.refused,
            "false_claims": self._false_claim_count,
            "link": link,
            **({} if self._detector is None else {"detector": self._detector.stats()}),
            **({"journal": self._journal.stats()} if self._journal is not None else {}),
        } | ({} if self._broadcaster is None else {"broadcast": self._broadcaster.stats()})


_START = "; use `async with node` or `await node.start()` first"
MAX_REFUSED_EVENTS = 1000
"""Refusals a node writes to its event log; beyond, a flood of bad input is only counted."""


class _LinkSide:
    """What the Node offers its link (:class:`~netclock.links.base.LinkUser`), kept private.

    The link calls these from the event loop; they are the Node's own bound methods, so
    going through this object costs nothing per message.
    """

    __slots__ = (
        "link_before_send",
        "link_clock_scope",
        "link_deliver",
        "link_deliver_batch",
        "link_event",
        "link_room",
    )

    def __init__(self, node: Node) -> None:
        self.link_deliver = node._deliver
        self.link_deliver_batch = node._deliver_batch
        self.link_room = node._room
        self.link_event = node._on_link_event
        self.link_clock_scope = node._clock_scope
        recorder = node._recorder
        self.link_before_send = None if recorder is None else recorder.flush
