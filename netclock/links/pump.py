"""The asyncio pump both reliable links share: sessions in, deliveries and timers out.

A reliable link (the UDP perfect link, the TLS link) keeps one sans-IO
:class:`~netclock.links.session.PeerSession` per peer and drives it the same way: a peer
whose session changed is marked dirty; once per loop iteration (one ``call_soon``) the pump
delivers what the session holds within the owner's room (one ``link_deliver_batch`` call
per batch), lets the link transmit what the session has to send, hands the session's
events to the owner, re-arms the session's one ``call_at`` timer and wakes the senders
waiting for window room. No task and no timer per message. Before anything leaves, the
pump calls the owner's ``link_before_send`` (when set): the sends it transmits are logged.

A message too large for one datagram travels in pieces (``links/segments.py``): the pump
hands the session the pieces of one such message per peer as its window opens (later sends
to that peer wait, FIFO) and joins the pieces back into one delivery.

The link supplies only what depends on its transport: :meth:`SessionPump._transmit` (how
a session's datagrams leave, and what to do when the peer cannot be reached yet).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from operator import itemgetter
from typing import Any

from netclock.clock import VectorClock
from netclock.errors import LinkClosed, MessageTooLarge, UsageError, WindowFull
from netclock.links.base import (
    GaveUp,
    LinkEvent,
    LinkUser,
    Refused,
    unknown_peer,
)
from netclock.links.budget import DEFAULT_SEND_BYTES_TOTAL, SendPool
from netclock.links.inflight import LargeInFlight, cut_reason
from netclock.links.journal import LinkJournal
from netclock.links.rtt import SchedulingDelay
from netclock.links.segments import (
    CONTINUATION,
    DEFAULT_MAX_MESSAGE,
    Outgoing,
    Reassembly,
    check_max_message,
    send_large,
)
from netclock.links.session import STAT_KEYS, PeerSession
from netclock.wire.envelope import Fragment, Message

log = logging.getLogger(__name__)

__all__ = ["SessionPump"]

LATE = 0.002
"""A timer that runs this many seconds after its deadline ran late: the process was not run
(or was busy), and what arrived meanwhile may still wait in the socket."""
LATE_STEP = 0.001
"""How long a late timer waits so that the loop reads its sockets first (one loop pass)."""
LATE_ROUNDS = 8
"""Most passes a late timer waits while segments keep arriving."""


class SessionPump:
    """Base of a reliable link: the per-peer sessions and the pump that drives them.

    The link calls :meth:`_init_pump` in its constructor, keeps :attr:`sessions` filled
    (one per known peer), sets ``_loop`` when started and ``_closed`` when closed, calls
    :meth:`_received` after feeding a session a segment and :meth:`_mark` after any other
    change, and :meth:`_stop_pump` when it closes. It implements :meth:`_transmit`.
    """

    kind: str
    node_id: str
    incarnation: int
    user: LinkUser
    _loop: asyncio.AbstractEventLoop | None
    _closed: bool

    def _init_pump(
        self,
        session_options: dict[str, Any],
        *,
        max_message: int = DEFAULT_MAX_MESSAGE,
        send_bytes_total: int = DEFAULT_SEND_BYTES_TOTAL,
        **probe: Any,
    ) -> None:
        """Keep ``session_options`` for every peer's session, checked now with a probe
        session (``probe`` adds what each peer's session gets of its own), so a
        misconfigured option fails here, not at the first add_peer. ``max_message`` is
        the largest message (packed payload, bytes) :meth:`send` accepts;
        ``send_bytes_total`` bounds the bytes held for sending to all peers together."""
        self._max_message = check_max_message(max_message)
        self._send_pool = SendPool(send_bytes_total)
        """The bytes every session holds for sending (links/budget.py)."""
        self._pool_waiting = False
        """A sender waits because the pool was full: wake every waiter once it has room."""
        PeerSession(self.node_id, self.incarnation, "probe", **session_options, **probe)
        self._session_options = session_options
        self.sessions: dict[str, PeerSession] = {}
        self._dirty: set[str] = set()
        self._flush_handle: asyncio.Handle | None = None
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._writable: dict[str, asyncio.Future[None]] = {}
        self._flushes: list[tuple[frozenset[str], asyncio.Future[None]]] = []
        """Each waiting flush: the peers it ignores, and what wakes it."""
        self._deliver_batch = self.user.link_deliver_batch
        self._deliver_one = self.user.link_deliver
        self._room = self.user.link_room
        self._before_send = self.user.link_before_send
        self._journal: LinkJournal | None = None
        self._to_restore: list[str] = []
        self._outgoing: dict[str, Outgoing] = {}
        """Peers with a large message not yet wholly in their session."""
        self._joining: dict[str, Reassembly] = {}
        """Peers that sent a piece of a large message: their deliveries are joined."""
        self._large_sent = 0
        self._in_flight: dict[str, LargeInFlight] = {}
        """Peers with large messages not yet wholly acknowledged (links/inflight.py)."""
        self._removed: dict[str, tuple[int, tuple[int, int] | None]] = {}
        """Peers removed with remove_peer: the last seq sent to each and the receive point,
        where a session made if the peer is added again continues (ids never repeat, and
        nothing received before is delivered again)."""
        self._scheduling = SchedulingDelay()
        self._late: dict[str, float] = {}
        self._late_handle: asyncio.TimerHandle | None = None
        self._late_seen = 0
        self._late_rounds = 0
        self._postponed: set[str] = set()
        self._clock_scope = getattr(self.user, "link_clock_scope", None)
        """The owner's :class:`~netclock.clock.ClockScope`, if it has one: each session
        refuses an out-of-scope clock before acknowledging its message."""

    def use_journal(self, journal: LinkJournal) -> None:
        """Make this a logged perfect link (docs/durability.md), before any peer is added.

        Each peer's session is restored from ``journal`` when the link starts; from then on
        messages are logged before they are accepted, acked or delivered.
        """
        if self.sessions:
            raise UsageError("use_journal must come before the first add_peer")
        if self.incarnation != journal.stream:
            raise UsageError("a logged link speaks as its journal's stream incarnation")
        self._journal = journal
        journal.attach(self._mark)

    def _add_session(self, peer: str, **own: Any) -> None:
        """A session for a new ``peer`` (``own``: options of this peer's session alone)."""
        if peer not in self.sessions:
            session = self.sessions[peer] = PeerSession(
                self.node_id,
                self.incarnation,
                peer,
                clock_scope=self._clock_scope,
                max_large=self._max_message,
                send_pool=self._send_pool,
                **self._session_options,
                **own,
            )
            session.rtt.scheduling = self._scheduling
            gone = self._removed.pop(peer, None)
            if gone is not None:  # added again: a fresh session continuing both streams
                session.restore(gone[0], [], [], gone[1], [], 0.0)
            if self._journal is not None:
                self._to_restore.append(peer)
                if self._loop is not None:
                    self._restore_sessions()

    def _remove_session(self, peer: str) -> None:
        """Drop ``peer``'s session, timer and waiters; hand back what it held as a GaveUp.

        Raises UsageError for a peer never added and on a logged link (its log keeps the
        peer's stream, which a removal would leave dangling).
        """
        if peer not in self.sessions:
            raise unknown_peer(peer)
        if self._journal is not None:
            raise UsageError(
                "remove_peer is not available on a logged perfect link (data_dir): its log "
                f"keeps the stream to {peer!r}"
            )
        session = self.sessions.pop(peer)
        self._dirty.discard(peer)
        armed = self._timers.pop(peer, None)
        if armed is not None:
            armed[1].cancel()
        if self._loop is not None and not self._closed:
            session.give_up_now(self._loop.time())
            events: list[LinkEvent] = [e for e in session.events() if isinstance(e, GaveUp)]
            if events:
                self._dispatch(events)
        point = session.resume_point()
        self._removed[peer] = (session.next_seq - 1, point if point[0] else None)
        session.release_pool()
        self._outgoing.pop(peer, None)
        self._joining.pop(peer, None)
        self._in_flight.pop(peer, None)
        self._late.pop(peer, None)
        self._postponed.discard(peer)
        waiter = self._writable.pop(peer, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # the sender wakes and meets PeerRemoved at the Node
        if self._flushes:
            self._wake_flushes()

    def _restore_sessions(self) -> None:
        """The link has its loop: give the new sessions what the journal kept."""
        assert self._journal is not None
        assert self._loop is not None
        now = self._loop.time()
        for peer in self._to_restore:
            self._journal.restore(peer, self.sessions[peer], now)
            self._mark(peer)
        self._to_restore.clear()

    # -- what the link implements --------------------------------------------------------------
    def _transmit(self, peer: str, session: PeerSession, now: float) -> None:
        """Send what ``session`` has to send now (``datagrams_to_send(now)``), if it can."""
        raise NotImplementedError

    # -- the application side --------------------------------------------------------------------
    def send(self, peer: str, clock: VectorClock, payload: Any) -> int:
        """Queue one message for ``peer``; returns its sequence number.

        It leaves at the end of the current loop iteration. Raises WindowFull when the send
        window to ``peer`` is full, UsageError for an unknown peer or before :meth:`start`,
        LinkClosed after :meth:`close`.
        """
        loop = self._loop
        if loop is None or self._closed:
            if loop is None:
                raise UsageError("link is not started; call start() first")
            raise LinkClosed(f"the {self.kind} link of {self.node_id!r} is closed")
        try:
            session = self.sessions[peer]
        except KeyError:
            raise unknown_peer(peer) from None
        if self._outgoing and peer in self._outgoing:
            raise WindowFull(peer, session.send_window)
        try:
            seq = session.send(clock, payload, loop.time())
        except MessageTooLarge as exc:
            seq = self._send_large(peer, session, clock, payload, loop.time(), exc)
        if self._journal is not None:
            self._journal.sent(peer, session)
        self._dirty.add(peer)
        if self._flush_handle is None:
            self._flush_handle = loop.call_soon(self._pump)
        return seq

    def _send_large(
        self,
        peer: str,
        session: PeerSession,
        clock: VectorClock,
        payload: Any,
        now: float,
        exc: MessageTooLarge,
    ) -> int:
        """Send a message above one datagram in pieces; its id is its first piece's seq."""
        if self._journal is not None:
            raise MessageTooLarge(
                f"{exc}; the logged perfect link (data_dir) carries messages of one datagram only",
                exc.size,
                exc.limit,
            ) from None
        outgoing = send_large(
            session, clock, payload, now, self._max_message, self._piece_datagram(peer)
        )
        if not outgoing.done:
            self._outgoing[peer] = outgoing
        last = session.next_seq - 1 if outgoing.done else 0
        self._in_flight.setdefault(peer, LargeInFlight()).started(outgoing.first_seq, payload, last)
        self._large_sent += 1
        return outgoing.first_seq

    def _piece_datagram(self, peer: str) -> int | None:
        """Largest datagram a piece of a large message to ``peer`` may fill (``None``: the
        session's ``max_datagram``); a link whose path does not fragment may say more."""
        return None

    def writable(self, peer: str) -> bool:
        """True when :meth:`send` to ``peer`` would not raise WindowFull."""
        return self._session(peer).writable() and peer not in self._outgoing

    def _session(self, peer: str) -> PeerSession:
        try:
            return self.sessions[peer]
        except KeyError:
            raise unknown_peer(peer) from None

    async def wait_writable(self, peer: str) -> None:
        """Wait until the send window to ``peer`` may have room (or the link closes)."""
        if self.writable(peer):
            return
        loop = self._loop
        if loop is None:
            raise UsageError("link is not started; call start() first")
        if self._send_pool.full:
            self._pool_waiting = True
        waiter = self._writable.get(peer)
        if waiter is None or waiter.done():
            waiter = self._writable[peer] = loop.create_future()
        await asyncio.shield(waiter)

    async def flush(self, ignoring: Collection[str] = ()) -> None:
        """Wait until every message sent so far is acknowledged (or given up on), those to
        the peers in ``ignoring`` aside.

        Several callers may wait at once; closing the link releases them all.
        """
        skip = frozenset(ignoring)
        while not self._closed and self._unacked_beyond(skip):
            woken = asyncio.get_running_loop().create_future()
            self._flushes.append((skip, woken))
            await woken

    def _unacked_beyond(self, skip: frozenset[str]) -> bool:
        """Whether a message to a peer not in ``skip`` waits for its acknowledgement."""
        if not skip:
            return any(s.unacked for s in self.sessions.values())
        return any(s.unacked for p, s in self.sessions.items() if p not in skip)

    def _wake_flushes(self) -> None:
        """Release each waiting flush that has nothing left to wait for."""
        waiting = []
        for skip, woken in self._flushes:
            if woken.done():
                continue
            if self._unacked_beyond(skip):
                waiting.append((skip, woken))
            else:
                woken.set_result(None)
        self._flushes = waiting

    def resume_reading(self) -> None:
        """The owner's inbox has room: deliver what the sessions hold back."""
        for peer, session in self.sessions.items():
            if session.deliverable:
                self._mark(peer)

    def give_up(self, peer: str) -> None:
        """Hand back every message held for ``peer`` as failed now (its session's
        ``give_up_now``); a failure detector calls it when it suspects ``peer``."""
        session = self.sessions.get(peer)
        if session is not None and self._loop is not None and not self._closed:
            session.give_up_now(self._loop.time())
            self._mark(peer)

    def next_seq(self, peer: str) -> int:
        """The sequence number the next message to ``peer`` takes (a logged link's stream
        continues across restarts)."""
        return self._session(peer).next_seq

    def unacked(self, peer: str) -> int:
        """Messages to ``peer`` not yet acknowledged (sent or waiting to be sent)."""
        return self.sessions[peer].unacked

    # -- the pump --------------------------------------------------------------------------------
    def _received(self, peer: str, session: PeerSession) -> None:
        """``session`` took a segment: deliver at once, answer at the end of the iteration.

        Delivering now lets the application answer before the pump runs (the answer then
        carries the ack); the pump's bookkeeping waits until after that. A logged link
        logs what the segment brought first, and delivers once that is durable.
        """
        journal = self._journal
        if journal is not None:
            journal.received(peer, session)
            if not journal.ready(peer):
                return
        self._deliver(peer, session)
        self._dirty.add(peer)  # _mark's, without the call: once per datagram received
        if self._flush_handle is None and self._loop is not None and not self._closed:
            self._flush_handle = self._loop.call_soon(self._pump)

    def _mark(self, peer: str) -> None:
        """Pump ``peer``'s session at the end of the current loop iteration."""
        self._dirty.add(peer)
        if self._flush_handle is None and self._loop is not None and not self._closed:
            self._flush_handle = self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        """End of a loop iteration: deliver, transmit, re-arm timers, wake waiters."""
        self._flush_handle = None
        if self._closed:
            return
        assert self._loop is not None
        now = self._loop.time()
        dirty, self._dirty = self._dirty, set()
        sessions = self.sessions
        journal = self._journal
        if journal is not None:
            for peer in dirty:
                journal.settled(peer, sessions[peer])
            journal.flush()  # what the sends queued is in the OS before anything leaves
        if self._before_send is not None:
            self._before_send()  # the clocks about to leave are in the owner's logs first
        writable = self._writable
        for peer in dirty:
            session = sessions.get(peer)
            if session is None:
                continue  # removed since it was marked
            if journal is not None and not journal.ready(peer):  # acks, messages: the fsync
                self._arm(peer, session)
                continue
            if session.deliverable:
                self._deliver(peer, session)
            if self._outgoing:
                self._feed(peer, session, now)
            self._transmit(peer, session, now)
            events = session.events()
            if events:
                self._dispatch(events)
            if self._in_flight:
                self._settle_large(peer, session)
            self._arm(peer, session)
            if writable:
                waiter = writable.get(peer)
                if waiter is not None and not waiter.done() and self.writable(peer):
                    waiter.set_result(None)
        if self._pool_waiting and not self._send_pool.full:
            self._wake_pool_waiters()
        if self._flushes:
            self._wake_flushes()
        if journal is not None:
            journal.maybe_compact(sessions)

    def _wake_pool_waiters(self) -> None:
        """The send pool has room again: wake the senders of every peer that can take more."""
        self._pool_waiting = False
        for peer, waiter in self._writable.items():
            if not waiter.done() and peer in self.sessions and self.writable(peer):
                waiter.set_result(None)

    def _deliver(self, peer: str, session: PeerSession) -> None:
        """Hand what the session can deliver to the user, within the room it has.

        One whole message (a round trip's answer) goes through ``link_deliver``: the same
        receive rule without the batch's loops."""
        ready = session.deliverable
        if not ready:
            return
        room = self._room()
        joining = self._joining
        if ready == 1 and room > 0 and not joining:
            message = session.pop_deliveries(1)[0]
            if message.payload.__class__ is not Fragment:
                self._deliver_one(peer, session.peer_incarnation, *message)
                return
            batch = self._join(peer, session, [message])
            if batch:
                self._deliver_batch(peer, session.peer_incarnation, batch)
            return
        while room > 0:
            batch = session.pop_deliveries(room)
            if not batch:
                return
            if peer in joining or _has_piece(batch):
                batch = self._join(peer, session, batch)
            if batch:
                self._deliver_batch(peer, session.peer_incarnation, batch)
            if not session.deliverable:
                return
            room = self.user.link_room()  # the owner's room in messages and bytes

    def _join(self, peer: str, session: PeerSession, batch: list[Message]) -> list[Message]:
        """``batch`` with the pieces of large messages joined (whole messages only)."""
        reassembly = self._joining.get(peer)
        if reassembly is None:
            reassembly = self._joining[peer] = Reassembly(self._max_message)
        return reassembly.take(session.peer_incarnation, batch)

    def _feed(self, peer: str, session: PeerSession, now: float) -> None:
        """Hand the session more pieces of ``peer``'s large message, as its window allows."""
        outgoing = self._outgoing.get(peer)
        if outgoing is not None:
            outgoing.feed(session, None, now)
            if outgoing.done:
                del self._outgoing[peer]
                in_flight = self._in_flight.get(peer)
                if in_flight is not None:
                    in_flight.all_sent(outgoing.first_seq, session.next_seq - 1)

    def _dispatch(self, events: list[LinkEvent]) -> None:
        link_event = self.user.link_event
        for event in events:
            if type(event) is GaveUp and (self._large_sent or self._outgoing):
                link_event(self._gave_up_whole(event))
            elif type(event) is Refused and event.peer in self._in_flight:
                link_event(self._refused_whole(event))
            else:
                link_event(event)

    def _gave_up_whole(self, event: GaveUp) -> GaveUp:
        """A give-up names each large message once (its first piece), never its pieces."""
        outgoing = self._outgoing.get(event.peer)
        if outgoing is not None and any(seq == outgoing.first_seq for seq, _ in event.messages):
            del self._outgoing[event.peer]  # the rest of it would only be dropped
        kept = tuple(item for item in event.messages if item[1] is not CONTINUATION)
        in_flight = self._in_flight.get(event.peer)
        if in_flight is not None:
            for seq, _ in kept:
                in_flight.take(seq)
        return GaveUp(event.peer, event.incarnation, kept)

    def _refused_whole(self, event: Refused) -> Refused:
        """A refused large message comes back whole (its payload, not its first piece's
        bytes), and its pieces not yet sent stay unsent."""
        in_flight = self._in_flight[event.peer]
        messages = []
        for seq, payload, reason in event.messages:
            known, whole = in_flight.take(seq)
            if known:
                self._stop_outgoing(event.peer, seq)
            messages.append((seq, whole if known else payload, reason))
        return Refused(event.peer, event.incarnation, tuple(messages))

    def _stop_outgoing(self, peer: str, first_seq: int) -> None:
        """Send no more pieces of large message ``first_seq`` (the receiver will not join it)."""
        outgoing = self._outgoing.get(peer)
        if outgoing is not None and outgoing.first_seq == first_seq:
            del self._outgoing[peer]

    def _settle_large(self, peer: str, session: PeerSession) -> None:
        """Forget ``peer``'s large messages wholly acknowledged; hand back as failures those
        a restart of the peer cut in two (links/inflight.py)."""
        in_flight = self._in_flight.get(peer)
        if in_flight is None:
            return
        cut = in_flight.settle(session.next_seq - session.unacked, session.peer_restart_base)
        if not in_flight:
            del self._in_flight[peer]
        if cut:
            reason = cut_reason(peer)
            for first, _ in cut:
                self._stop_outgoing(peer, first)
            messages = tuple((first, payload, reason) for first, payload in cut)
            log.info(
                "%s: %d large message(s) to %s cut by its restart", self.node_id, len(cut), peer
            )
            self.user.link_event(Refused(peer, session.local_incarnation, messages))

    def _arm(self, peer: str, session: PeerSession) -> None:
        """Keep one timer per session, re-armed only when the deadline moves earlier.

        A timer that fires before the session's real deadline costs one harmless
        ``handle_timer`` call; re-creating the timer on every pump would cost more.
        """
        deadline = session.get_timer()
        if deadline is None:
            return
        armed = self._timers.get(peer)
        if armed is not None:
            if armed[0] <= deadline:
                return
            armed[1].cancel()
        assert self._loop is not None
        self._timers[peer] = (deadline, self._loop.call_at(deadline, self._on_timer, peer))

    def _on_timer(self, peer: str) -> None:
        """A session's timer. One that runs late (the process was not run, or was busy)
        feeds the floor of every timeout (:class:`~netclock.links.rtt.SchedulingDelay`) and
        waits until the loop has read what arrived meanwhile (:meth:`_late_check`): an ack
        waiting in the socket must not be taken for a loss."""
        armed = self._timers.pop(peer, None)
        if self._closed:
            return
        assert self._loop is not None
        now = self._loop.time()
        if armed is not None:
            late = now - armed[0]
            self._scheduling.observe(late, now)
            if late > LATE:
                self._late[peer] = max(late, self._late.get(peer, 0.0))
                if self._late_handle is None:
                    self._late_seen = self._arrivals()
                    self._late_rounds = 0
                    self._late_handle = self._loop.call_later(LATE_STEP, self._late_check)
                return
        self._postponed.discard(peer)
        self.sessions[peer].handle_timer(now)
        self._mark(peer)

    def _arrivals(self) -> int:
        """Segments received so far from every peer (read only while timers are late)."""
        return sum(s.stats["segments_received"] for s in self.sessions.values())

    def _late_check(self) -> None:
        """Run the late timers once a loop pass brought nothing new (at most
        :data:`LATE_ROUNDS` passes). A session whose ack arrived meanwhile has moved its
        deadline; one still waiting gets its retransmission postponed by the time the
        process was away (the peer was likely not run either), once: the next late
        timeout of that peer is not postponed, so a lost message is still resent."""
        self._late_handle = None
        if self._closed:
            return
        assert self._loop is not None
        seen = self._arrivals()
        if seen != self._late_seen and self._late_rounds < LATE_ROUNDS:
            self._late_seen = seen
            self._late_rounds += 1
            self._late_handle = self._loop.call_later(LATE_STEP, self._late_check)
            return
        now = self._loop.time()
        late, self._late = self._late, {}
        postponed = self._postponed
        for peer, away in late.items():
            session = self.sessions.get(peer)
            if session is None:
                continue
            if peer in postponed:
                postponed.discard(peer)
            else:
                postponed.add(peer)
                session.postpone_retransmission(now + away)
            session.handle_timer(now)
            self._mark(peer)

    def _stop_pump(self) -> None:
        """Cancel the timers and release every waiter (senders wake and meet LinkClosed)."""
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._late_handle is not None:
            self._late_handle.cancel()
            self._late_handle = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._outgoing.clear()
        for waiter in self._writable.values():
            if not waiter.done():
                waiter.set_result(None)
        for _, woken in self._flushes:
            if not woken.done():
                woken.set_result(None)
        self._flushes = []

    def _session_stats(self) -> dict[str, int]:
        """The sessions' counters summed over peers (empty without a session).

        A launched node reports its stats every 0.5 s: the sums are taken column by column
        in C (``zip``, ``sum``), not key by key in Python (half the time at 1,000 peers).
        """
        rows = [_session_counters(session.stats) for session in self.sessions.values()]
        columns = zip(*rows, strict=True)
        totals: dict[str, int] = dict(zip(STAT_KEYS, map(sum, columns), strict=False))
        if self._large_sent or self._joining:
            totals["large_sent"] = self._large_sent
            for reassembly in self._joining.values():
                for key, value in reassembly.stats.items():
                    totals[key] = totals.get(key, 0) + value
        return totals


_session_counters = itemgetter(*STAT_KEYS)
"""A session's counters as a tuple, in :data:`STAT_KEYS` order."""


def _has_piece(batch: list[Message]) -> bool:
    """True when a message of ``batch`` is a piece of a large message."""
    for message in batch:
        if message.payload.__class__ is Fragment:
            break
    else:
        return False
    return True
