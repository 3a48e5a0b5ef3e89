"""The asyncio pump both reliable links share: sessions in, deliveries and timers out.

A reliable link (the UDP perfect link, the TLS link) keeps one sans-IO
:class:`~netclock.links.session.PeerSession` per peer and drives it the same way: a peer
whose session changed is marked dirty; once per loop iteration (one ``call_soon``) the pump
delivers what the session holds within the owner's room (one ``link_deliver_batch`` call
per batch), lets the link transmit what the session has to send, hands the session's
events to the owner, re-arms the session's one ``call_at`` timer and wakes the senders
waiting for window room. No task and no timer per message. Before anything leaves, the
pump calls the owner's ``link_before_send`` (when set): the sends it transmits are logged.

The link supplies only what depends on its transport: :meth:`SessionPump._transmit` (how
a session's datagrams leave, and what to do when the peer cannot be reached yet).
"""

from __future__ import annotations

import asyncio
from typing import Any

from netclock.clock import VectorClock
from netclock.errors import LinkClosed, UsageError
from netclock.links.base import LinkEvent, LinkUser, unknown_peer
from netclock.links.journal import LinkJournal
from netclock.links.session import PeerSession

__all__ = ["SessionPump"]


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

    def _init_pump(self, session_options: dict[str, Any], **probe: Any) -> None:
        """Keep ``session_options`` for every peer's session, checked now with a probe
        session (``probe`` adds what each peer's session gets of its own), so a
        misconfigured option fails here, not at the first add_peer."""
        PeerSession(self.node_id, self.incarnation, "probe", **session_options, **probe)
        self._session_options = session_options
        self.sessions: dict[str, PeerSession] = {}
        self._dirty: set[str] = set()
        self._flush_handle: asyncio.Handle | None = None
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._writable: dict[str, asyncio.Future[None]] = {}
        self._idle: asyncio.Event | None = None
        self._deliver_batch = self.user.link_deliver_batch
        self._before_send = self.user.link_before_send
        self._journal: LinkJournal | None = None
        self._to_restore: list[str] = []

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
            self.sessions[peer] = PeerSession(
                self.node_id, self.incarnation, peer, **self._session_options, **own
            )
            if self._journal is not None:
                self._to_restore.append(peer)
                if self._loop is not None:
                    self._restore_sessions()

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
        seq = session.send(clock, payload, loop.time())
        if self._journal is not None:
            self._journal.sent(peer, seq, session)
        self._dirty.add(peer)
        if self._flush_handle is None:
            self._flush_handle = loop.call_soon(self._pump)
        return seq

    def writable(self, peer: str) -> bool:
        """True when :meth:`send` to ``peer`` would not raise WindowFull."""
        return self._session(peer).writable()

    def _session(self, peer: str) -> PeerSession:
        try:
            return self.sessions[peer]
        except KeyError:
            raise unknown_peer(peer) from None

    async def wait_writable(self, peer: str) -> None:
        """Wait until the send window to ``peer`` may have room (or the link closes)."""
        if self._session(peer).writable():
            return
        loop = self._loop
        if loop is None:
            raise UsageError("link is not started; call start() first")
        waiter = self._writable.get(peer)
        if waiter is None or waiter.done():
            waiter = self._writable[peer] = loop.create_future()
        await asyncio.shield(waiter)

    async def flush(self) -> None:
        """Wait until every message sent so far is acknowledged (or given up on).

        Several callers may wait at once; closing the link releases them all.
        """
        while not self._closed and any(s.unacked for s in self.sessions.values()):
            idle = self._idle
            if idle is None:
                idle = self._idle = asyncio.Event()
            await idle.wait()

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
        if session.deliverable:
            self._deliver(peer, session)
        self._mark(peer)

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
            session = sessions[peer]
            if journal is not None and not journal.ready(peer):  # acks, messages: the fsync
                self._arm(peer, session)
                continue
            if session.deliverable:
                self._deliver(peer, session)
            self._transmit(peer, session, now)
            events = session.events()
            if events:
                self._dispatch(events)
            self._arm(peer, session)
            if writable:
                waiter = writable.get(peer)
                if waiter is not None and not waiter.done() and session.writable():
                    waiter.set_result(None)
        idle = self._idle
        if idle is not None and not any(s.unacked for s in sessions.values()):
            idle.set()
            self._idle = None
        if journal is not None:
            journal.maybe_compact(sessions)

    def _deliver(self, peer: str, session: PeerSession) -> None:
        """Hand what the session can deliver to the user, within the room it has."""
        room = self.user.link_room()
        while room > 0:
            batch = session.pop_deliveries(room)
            if not batch:
                return
            self._deliver_batch(peer, session.peer_incarnation, batch)
            if not session.deliverable:
                return
            room -= len(batch)

    def _dispatch(self, events: list[LinkEvent]) -> None:
        link_event = self.user.link_event
        for event in events:
            link_event(event)

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
        self._timers.pop(peer, None)
        if self._closed:
            return
        assert self._loop is not None
        self.sessions[peer].handle_timer(self._loop.time())
        self._mark(peer)

    def _stop_pump(self) -> None:
        """Cancel the timers and release every waiter (senders wake and meet LinkClosed)."""
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for waiter in self._writable.values():
            if not waiter.done():
                waiter.set_result(None)
        if self._idle is not None:
            self._idle.set()
            self._idle = None

    def _session_stats(self) -> dict[str, int]:
        """The sessions' counters summed over peers."""
        totals: dict[str, int] = {}
        for session in self.sessions.values():
            for key, value in session.stats.items():
                totals[key] = totals.get(key, 0) + value
        return totals
