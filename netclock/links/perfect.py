"""Perfect link over UDP: the asyncio adapter around :class:`~netclock.reliable_core.PeerSession`.

Textbook PL1 reliable delivery, PL2 no duplication, PL3 no creation. All protocol
logic (sequence numbers, acks, retransmission, flow control) lives in the sans-IO core;
this adapter only pumps: datagrams in (their messages handed to the Node at once, one call
per batch), datagrams out at the end of the current loop iteration (so batching costs no
latency, and a reply sent meanwhile carries the ack), one ``call_at`` timer per session.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from typing import Any

from netclock.clock import VectorClock
from netclock.errors import UsageError
from netclock.links.base import LinkEvent
from netclock.links.session import PeerSession
from netclock.links.udp import UdpEndpoint
from netclock.wire.envelope import Envelope, Segment

log = logging.getLogger(__name__)

LOOPBACK_DATAGRAM = 16_384
"""Batch budget on loopback (MTU 64 KiB: no fragmentation at this size)."""
NETWORK_DATAGRAM = 1_400
"""Batch budget elsewhere: fits a 1500-byte Ethernet MTU with IP and UDP headers."""


def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "localhost")


class PerfectLink(UdpEndpoint):
    """Reliable, FIFO (by default), flow-controlled messaging over UDP."""

    kind = "reliable"

    def __init__(
        self,
        *args: Any,
        fifo: bool = True,
        give_up_after: float | None = None,
        receive_capacity: int = 1024,
        send_window: int = 1024,
        max_datagram: int | None = None,
        ack_delay: float = 0.002,
        unreachable_after: float = 3.0,
        rto_initial: float = 0.05,
        rto_min: float = 0.005,
        rto_max: float = 1.0,
        **kwargs: Any,
    ) -> None:
        self._session_options: dict[str, Any] = {
            "fifo": fifo,
            "give_up_after": give_up_after,
            "receive_capacity": receive_capacity,
            "send_window": send_window,
            "ack_delay": ack_delay,
            "unreachable_after": unreachable_after,
            "rto_initial": rto_initial,
            "rto_min": rto_min,
            "rto_max": rto_max,
        }
        self._max_datagram = max_datagram
        # A misconfigured session option fails now, not at the first add_peer.
        probe_datagram = max_datagram or NETWORK_DATAGRAM
        PeerSession("probe", 0, "peer", max_datagram=probe_datagram, **self._session_options)
        super().__init__(*args, **kwargs)
        self.sessions: dict[str, PeerSession] = {}
        self._dirty: set[str] = set()
        self._flush_handle: asyncio.Handle | None = None
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._writable: dict[str, asyncio.Future[None]] = {}
        self._idle: asyncio.Event | None = None
        self._datagram_counter = 0
        self._deliver_batch = self.user.link_deliver_batch

    # -- peers and sessions --------------------------------------------------------------------
    def add_peer(self, peer: str, address: tuple[str, int]) -> None:
        super().add_peer(peer, address)
        if peer not in self.sessions:
            max_datagram = self._max_datagram or (
                LOOPBACK_DATAGRAM
                if _is_loopback(address[0]) and _is_loopback(self._bind[0])
                else NETWORK_DATAGRAM
            )
            self.sessions[peer] = PeerSession(
                self.node_id,
                self.incarnation,
                peer,
                max_datagram=max_datagram,
                **self._session_options,
            )

    # -- sending -------------------------------------------------------------------------------
    def send(self, peer: str, clock: VectorClock, payload: Any) -> int:
        loop = self._loop
        if loop is None:
            raise UsageError("link is not started; call start() first")
        seq = self.sessions[peer].send(clock, payload, loop.time())
        self._dirty.add(peer)
        if self._flush_handle is None and not self._closed:
            self._flush_handle = loop.call_soon(self._pump)
        return seq

    def writable(self, peer: str) -> bool:
        return self.sessions[peer].writable()

    async def wait_writable(self, peer: str) -> None:
        if self.sessions[peer].writable():
            return
        assert self._loop is not None
        waiter = self._writable.get(peer)
        if waiter is None or waiter.done():
            waiter = self._writable[peer] = self._loop.create_future()
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
        for peer, session in self.sessions.items():
            if session.deliverable:
                self._mark(peer)

    # -- receiving -----------------------------------------------------------------------------
    def on_envelope(self, envelope: Envelope) -> None:
        if type(envelope) is not Segment:
            self.counters["not_segment"] = self.counters.get("not_segment", 0) + 1
            return
        loop = self._loop
        assert loop is not None
        peer = envelope.sender
        session = self.sessions[peer]
        session.receive_segment(envelope, loop.time())
        if session.deliverable:
            # Deliver now: the application may answer before the pump runs (its answer
            # then carries the ack), and the pump's bookkeeping waits until after that.
            self._deliver(peer, session)
        self._dirty.add(peer)
        if self._flush_handle is None and not self._closed:
            self._flush_handle = loop.call_soon(self._pump)

    # -- the pump ------------------------------------------------------------------------------
    def _mark(self, peer: str) -> None:
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
        writable = self._writable
        for peer in dirty:
            session = sessions[peer]
            if session.deliverable:
                self._deliver(peer, session)
            datagrams = session.datagrams_to_send(now)
            if datagrams:
                self._send_datagrams(peer, datagrams)
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

    def _send_datagrams(self, peer: str, datagrams: list[bytes]) -> None:
        if self._faults is None:
            for datagram in datagrams:
                self.transmit(peer, datagram, (), 0)
            return
        for datagram in datagrams:
            self._datagram_counter += 1
            self.transmit(peer, datagram, (zlib.crc32(datagram),), self._datagram_counter)

    def _dispatch(self, events: list[LinkEvent]) -> None:
        for event in events:
            self.user.link_event(event)

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

    def before_close(self) -> None:
        """Send the acks still owed: a peer waiting for them would resend forever."""
        if self._loop is None:
            return
        for peer, session in self.sessions.items():
            later = self._loop.time() + session.ack_delay + 0.001  # the delayed ack is due
            session.handle_timer(later)
            for datagram in session.datagrams_to_send(later):
                self.transmit(peer, datagram, (zlib.crc32(datagram),), 0)

    def on_close(self) -> None:
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for waiter in self._writable.values():
            if not waiter.done():
                waiter.set_result(None)  # the sender wakes and meets LinkClosed
        if self._idle is not None:
            self._idle.set()
            self._idle = None

    def stats(self) -> dict[str, Any]:
        totals: dict[str, int] = {}
        for session in self.sessions.values():
            for key, value in session.stats.items():
                totals[key] = totals.get(key, 0) + value
        return {"kind": self.kind, **self.counters, **totals, "faults": self.fault_stats()}
