"""Perfect link over UDP: the asyncio adapter around :class:`~netclock.links.session.PeerSession`.

Textbook PL1 reliable delivery, PL2 no duplication, PL3 no creation. All protocol
logic (sequence numbers, acks, retransmission, flow control) lives in the sans-IO core;
the shared :class:`~netclock.links.pump.SessionPump` drives it (messages handed to the Node
as soon as a datagram brings them, one call per batch; datagrams out at the end of the
current loop iteration, so batching costs no latency and a reply sent meanwhile carries the
ack; one ``call_at`` timer per session). This module adds only the UDP side: datagrams
through the fault plan.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

from netclock.links.budget import (
    DEFAULT_RECEIVE_BYTES,
    DEFAULT_SEND_BYTES,
    DEFAULT_SEND_BYTES_TOTAL,
)
from netclock.links.pump import SessionPump
from netclock.links.segments import DEFAULT_MAX_MESSAGE
from netclock.links.session import PeerSession
from netclock.links.udp import UdpEndpoint
from netclock.wire.envelope import DEFAULT_LIMITS, Challenge, Envelope, Segment

log = logging.getLogger(__name__)

LOOPBACK_DATAGRAM = 16_384
"""Batch budget on loopback (MTU 64 KiB: no fragmentation at this size)."""
NETWORK_DATAGRAM = 1_400
"""Batch budget elsewhere: fits a 1500-byte Ethernet MTU with IP and UDP headers."""


def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "localhost")


class PerfectLink(SessionPump, UdpEndpoint):
    """Reliable, FIFO (by default), flow-controlled messaging over UDP."""

    kind = "reliable"
    _seal_overhead = 0
    """Bytes a subclass adds to every datagram after batching (the sealed link's seal)."""

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
        max_message: int = DEFAULT_MAX_MESSAGE,
        clock_encoding: str = "full",
        send_bytes: int = DEFAULT_SEND_BYTES,
        send_bytes_total: int = DEFAULT_SEND_BYTES_TOTAL,
        receive_bytes: int = DEFAULT_RECEIVE_BYTES,
        **kwargs: Any,
    ) -> None:
        session_options: dict[str, Any] = {
            "fifo": fifo,
            "give_up_after": give_up_after,
            "receive_capacity": receive_capacity,
            "send_window": send_window,
            "ack_delay": ack_delay,
            "unreachable_after": unreachable_after,
            "rto_initial": rto_initial,
            "rto_min": rto_min,
            "rto_max": rto_max,
            "clock_encoding": clock_encoding,
            "send_bytes": send_bytes,
            "receive_bytes": receive_bytes,
            "confirm_incarnations": True,  # UDP: a new incarnation must answer from its address
        }
        self._max_datagram = max_datagram
        UdpEndpoint.__init__(self, *args, **kwargs)
        self._init_pump(
            session_options,
            max_message=max_message,
            send_bytes_total=send_bytes_total,
            max_datagram=max_datagram or NETWORK_DATAGRAM,
        )
        self._datagram_counter = 0

    # -- peers and sessions --------------------------------------------------------------------
    def add_peer(self, peer: str, address: tuple[str, int]) -> None:
        """Know ``peer`` at ``address``; a known peer moves there with its session: what is
        queued and unacknowledged goes to the new address from the next (re)transmission."""
        super().add_peer(peer, address)
        budget = (
            self._max_datagram
            or (
                LOOPBACK_DATAGRAM
                if _is_loopback(address[0]) and _is_loopback(self._bind[0])
                else NETWORK_DATAGRAM
            )
        ) - self._seal_overhead
        session = self.sessions.get(peer)
        if session is None:
            self._add_session(peer, max_datagram=budget)
        else:
            session.max_datagram = budget

    def _piece_datagram(self, peer: str) -> int | None:
        """On loopback (MTU 64 KiB: no fragmentation) a piece fills a whole datagram."""
        if self._max_datagram is None and self.sessions[peer].max_datagram == LOOPBACK_DATAGRAM:
            return DEFAULT_LIMITS.max_bytes
        return None

    def remove_peer(self, peer: str) -> None:
        self._remove_session(peer)
        UdpEndpoint.remove_peer(self, peer)

    async def start(self) -> None:
        await UdpEndpoint.start(self)
        if self._to_restore:
            self._restore_sessions()

    # -- receiving -----------------------------------------------------------------------------
    def on_envelope(self, envelope: Envelope) -> None:
        if type(envelope) is not Segment:
            if type(envelope) is Challenge:
                assert self._loop is not None
                session = self.sessions[envelope.sender]
                session.receive_challenge(envelope, self._loop.time())
                self._received(envelope.sender, session)
                return
            self.counters["not_segment"] = self.counters.get("not_segment", 0) + 1
            return
        loop = self._loop
        assert loop is not None
        peer = envelope.sender
        session = self.sessions[peer]
        session.receive_segment(envelope, loop.time())
        self._received(peer, session)

    # -- sending -------------------------------------------------------------------------------
    def _transmit(self, peer: str, session: PeerSession, now: float) -> None:
        datagrams = session.datagrams_to_send(now)
        if not datagrams:
            return
        if self._faults is None:
            for datagram in datagrams:
                self.transmit(peer, datagram, (), 0)
            return
        for datagram in datagrams:
            self._datagram_counter += 1
            self.transmit(peer, datagram, (zlib.crc32(datagram),), self._datagram_counter)

    def before_close(self) -> None:
        """Send the acks still owed: a peer waiting for them would resend forever."""
        if self._loop is None:
            return
        if self._journal is not None:
            self._journal.sync()  # machine level: what these acks cover is on disk first
        for peer, session in self.sessions.items():
            later = self._loop.time() + session.ack_delay + 0.001  # the delayed ack is due
            session.handle_timer(later)
            for datagram in session.datagrams_to_send(later):
                self.transmit(peer, datagram, (zlib.crc32(datagram),), 0)

    def on_close(self) -> None:
        self._stop_pump()

    def stats(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            **self.counters,
            **self._session_stats(),
            "faults": self.fault_stats(),
        }
