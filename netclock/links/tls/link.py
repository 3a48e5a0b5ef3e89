"""Authenticated perfect link over mutual TLS 1.3: the asyncio adapter around PeerSession.

Textbook AL1 reliable delivery, AL2 no duplication, AL3 authenticity. Each pair of nodes
shares one TCP connection carrying TLS 1.3 with a certificate from the cluster CA on both
ends. After the handshake each side sends a HELLO envelope (who it is, what it has
received of the other, how many more it accepts); a connection carries segments only
after both hellos were checked. Sequencing, acks, flow control and dedup live in the
sans-IO :class:`~netclock.links.session.PeerSession` (with retransmission off: TCP does
that); across a reconnect the hello's resume point makes the core resend exactly what the
peer is missing, and its window keeps the core within what the peer accepts. The
framing, hello and reconnect rules are in ``docs/tls.md``.

The link is put together from rooms of its own:

- :mod:`~netclock.links.tls.handshake`: the sans-IO connection-start and admission rules
  (states, identity, tie-break, the cap, deadlines);
- :mod:`~netclock.links.tls.transport`: one TCP connection doing TLS through memory BIOs,
  reporting to this link through :class:`~netclock.links.tls.transport.ConnectionOwner`;
- :mod:`~netclock.links.tls.dialer`: connect, backoff, retry;
- :mod:`~netclock.links.tls.faults`: the node's :class:`~netclock.faults.injector.FaultInjector`
  applied to streams (cuts, write delays, reconnect jitter, all from the plan's seed);
- :class:`~netclock.links.pump.SessionPump` (shared with the UDP perfect link): deliveries,
  one ``call_at`` timer per peer session, window waiters, flush. All of one pump's frames
  to a peer go out in one ``transport.write``; no task per message (one per dial).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Any

from netclock.errors import AuthenticationError, ConfigError, UsageError, WireError
from netclock.faults.injector import FaultInjector
from netclock.faults.plan import FaultPlan
from netclock.links.base import Address, InputRefused, LinkUser, os_reason, unknown_peer
from netclock.links.budget import (
    DEFAULT_RECEIVE_BYTES,
    DEFAULT_SEND_BYTES,
    DEFAULT_SEND_BYTES_TOTAL,
)
from netclock.links.lograte import LogLimiter
from netclock.links.pump import SessionPump
from netclock.links.segments import DEFAULT_MAX_MESSAGE
from netclock.links.session import PeerSession
from netclock.links.tls.contexts import client_context, peer_identity, server_context
from netclock.links.tls.dialer import Dialer
from netclock.links.tls.faults import DelayedWrites, TlsFaults
from netclock.links.tls.handshake import Admission, ConnState, Evict, Outcome, Refusal, Refused
from netclock.links.tls.transport import TlsConnection, address_of, describe_error
from netclock.wire.envelope import Decoder, Hello, Limits, Segment, encode_hello
from netclock.wire.framing import DEFAULT_MAX_FRAME, FrameTooLarge, encode_frames

__all__ = ["ConnectionInfo", "TlsLink"]

log = logging.getLogger(__name__)

SEGMENT_BYTES = 65_507
"""Batch budget of one segment (the core's largest): a few dozen KiB per frame."""

_UP = ConnState.UP


class ConnectionInfo:
    """The connection that currently carries a peer's traffic (a snapshot)."""

    __slots__ = ("dialed_by", "local", "peer", "remote")

    def __init__(self, peer: str, dialed_by: str, local: Address, remote: Address) -> None:
        self.peer = peer
        self.dialed_by = dialed_by
        self.local = local
        self.remote = remote

    def __repr__(self) -> str:
        return (
            f"ConnectionInfo(peer={self.peer!r}, dialed_by={self.dialed_by!r}, "
            f"local={self.local!r}, remote={self.remote!r})"
        )


class TlsLink(SessionPump):
    """Authenticated perfect link: reliable, FIFO (by default), flow-controlled, over mTLS 1.3.

    ``cert_dir`` holds the cluster CA and this node's certificate and key (see
    ``netclock certs``); a missing or unusable file raises ConfigError here. Call
    :meth:`start` to listen; peers are dialed lazily when there is something to send to
    them. Options (all keyword-only): ``send_window`` messages in flight per peer,
    ``max_frame`` bytes per frame, ``handshake_timeout`` and ``hello_timeout`` seconds,
    ``connect_timeout`` seconds for TCP connect, ``max_unauthenticated`` connections that
    have not said hello yet, ``backoff`` ``(first, cap)`` reconnect delays in seconds.

    The link is the :class:`~netclock.links.tls.transport.ConnectionOwner` of its
    connections and the :class:`~netclock.links.tls.dialer.DialOwner` of its dialer: those
    callbacks (``connection_opened`` ... ``redial``) come from the event loop, not from
    applications.
    """

    kind = "tls"

    def __init__(
        self,
        node_id: str,
        incarnation: int,
        user: LinkUser,
        *,
        cert_dir: str | os.PathLike[str],
        bind: Address = ("127.0.0.1", 0),
        faults: FaultPlan | None = None,
        fault_epoch: float | None = None,
        fifo: bool = True,
        give_up_after: float | None = None,
        receive_capacity: int = 1024,
        send_window: int = 1024,
        max_frame: int = DEFAULT_MAX_FRAME,
        ack_delay: float = 0.002,
        unreachable_after: float = 3.0,
        handshake_timeout: float = 5.0,
        hello_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        max_unauthenticated: int = 64,
        max_message: int = DEFAULT_MAX_MESSAGE,
        max_unauthenticated_per_source: int = 16,
        backoff: tuple[float, float] = (0.01, 2.0),
        clock_encoding: str = "full",
        send_bytes: int = DEFAULT_SEND_BYTES,
        send_bytes_total: int = DEFAULT_SEND_BYTES_TOTAL,
        receive_bytes: int = DEFAULT_RECEIVE_BYTES,
    ) -> None:
        if not 1024 <= max_frame <= 2**31:
            raise ConfigError(f"max_frame must be between 1024 and 2**31 bytes, not {max_frame}")
        for name, value in (
            ("handshake_timeout", handshake_timeout),
            ("hello_timeout", hello_timeout),
            ("connect_timeout", connect_timeout),
        ):
            if not value > 0:
                raise ConfigError(f"{name} must be a positive number of seconds, not {value!r}")
        if max_unauthenticated < 1:
            raise ConfigError(f"max_unauthenticated must be at least 1, not {max_unauthenticated}")
        if max_unauthenticated_per_source < 1:
            raise ConfigError(
                "max_unauthenticated_per_source must be at least 1, not "
                f"{max_unauthenticated_per_source}"
            )
        if not 0 < backoff[0] <= backoff[1]:
            raise ConfigError(f"backoff must be (first, cap) with 0 < first <= cap, not {backoff}")
        self.node_id = node_id
        self.incarnation = incarnation
        self.user = user
        self._bind = bind
        self._server_ctx = server_context(cert_dir, node_id)
        self._client_ctx = client_context(cert_dir, node_id)
        self._max_frame = max_frame
        self._decoder = Decoder(Limits(max_bytes=max_frame))
        self._decoder.remember(node_id)
        self._decode = self._decoder.decode
        session_options: dict[str, Any] = {
            "fifo": fifo,
            "give_up_after": give_up_after,
            "receive_capacity": receive_capacity,
            "send_window": send_window,
            "max_datagram": min(SEGMENT_BYTES, max_frame),
            "retransmit": False,
            "clock_encoding": clock_encoding,
            "ack_delay": ack_delay,
            "unreachable_after": unreachable_after,
            "send_bytes": send_bytes,
            "receive_bytes": receive_bytes,
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._init_pump(session_options, max_message=max_message, send_bytes_total=send_bytes_total)
        self._addresses: dict[str, Address] = {}
        self._hosts: dict[str, int] = {}
        """Known peers per host of their addresses (the admission's per-source cap)."""
        self._up: dict[str, TlsConnection] = {}
        """The connection each peer's segments go out on (both hellos checked)."""
        self._admission = Admission(
            node_id,
            self.sessions,
            max_unauthenticated=max_unauthenticated,
            max_unauthenticated_per_source=max_unauthenticated_per_source,
            handshake_timeout=handshake_timeout,
            hello_timeout=hello_timeout,
        )
        self._faults = TlsFaults(
            FaultInjector(faults, node_id, time.time() if fault_epoch is None else fault_epoch),
            cut=self._cut_connections,
            healed=self._mark,
        )
        self.counters: dict[str, int] = {
            "connections_made": 0,
            "connections_refused": 0,
            "connections_reset": 0,
            "connections_lost": 0,
            "connections_replaced": 0,
            "dials": 0,
            "dial_failures": 0,
            "frames_in": 0,
            "frames_out": 0,
            "bad_frames": 0,
            "connections_evicted": 0,
        }
        self._refusals = LogLimiter(log, name=node_id)
        """Refusal log lines: a flood of bad connections writes a bounded number per second."""
        self._dialer = Dialer(
            node_id,
            self,
            self.counters,
            connect_timeout=connect_timeout,
            backoff=backoff,
            jitter=self._faults.jitter,
        )
        self._server: asyncio.Server | None = None
        self._conns: set[TlsConnection] = set()
        self._accepted_at = -float("inf")
        """Loop time a connection we accepted last opened or came up (:meth:`accepting`)."""

    # -- lifecycle -------------------------------------------------------------------------------
    def _loop_or_raise(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            raise UsageError("the tls link is not started; call start() first")
        return loop

    async def start(self) -> None:
        """Listen on the bind address (port 0 picks a free one: read :attr:`address`)."""
        if self._loop is not None:
            return
        self._loop = loop = asyncio.get_running_loop()
        host, port = self._bind
        try:
            self._server = await loop.create_server(
                self._accept, host, port, family=socket.AF_INET6 if ":" in host else 0
            )
        except OSError as exc:
            self._loop = None
            raise ConfigError(
                f"cannot listen on TCP {host}:{port} for node {self.node_id!r}: "
                f"{os_reason(exc)}; choose another address or port 0"
            ) from exc
        self._faults.start(loop)
        if self._to_restore:
            self._restore_sessions()

    @property
    def address(self) -> Address:
        """The address this link listens on."""
        server = self._server
        if server is None or not server.sockets:
            raise UsageError("link is not started; call start() first")
        return address_of(server.sockets[0].getsockname())

    @property
    def client_context(self) -> ssl.SSLContext:
        """The TLS context this link dials with: it presents this node's certificate."""
        return self._client_ctx

    @property
    def peers(self) -> Mapping[str, Address]:
        """The known peers and their addresses."""
        return self._addresses

    def add_peer(self, peer: str, address: Address) -> None:
        """Make ``peer`` known (and trusted) at ``address``.

        A known peer moves there with its session: a connection this node dialed to the old
        address is closed, and the next dial goes to the new one, where the hello resends
        what the peer has not acknowledged (a connection the peer dialed carries on).
        """
        address = (address[0], int(address[1]))
        self._decoder.remember(peer)
        known = self._addresses.get(peer)
        self._addresses[peer] = address
        if known is not None:
            self._forget_host(known[0])
        self._hosts[address[0]] = self._hosts.get(address[0], 0) + 1
        if known is None:
            self._add_session(peer)
            self._faults.add_peer(peer)
            return
        conn = self._up.get(peer)
        if known != address and conn is not None and conn.hs.dialed_to is not None:
            log.info("%s: %s moved to %s:%d; redialing", self.node_id, peer, *address)
            conn.close()

    def remove_peer(self, peer: str) -> None:
        """Forget ``peer``: its session, connection, dial and fault timers go; a connection
        it makes later is refused as from an unknown node."""
        self._remove_session(peer)
        self._forget_host(self._addresses.pop(peer)[0])
        self._faults.remove_peer(peer)
        self._dialer.forget(peer)
        conn = self._up.pop(peer, None)
        if conn is not None:
            conn.close()

    def _forget_host(self, host: str) -> None:
        left = self._hosts[host] - 1
        if left:
            self._hosts[host] = left
        else:
            del self._hosts[host]

    async def close(self) -> None:
        """Close every connection and the listener; idempotent. Unacked messages are lost."""
        if self._closed:
            return
        self._closed = True
        self._refusals.flush()
        self._stop_pump()
        self._faults.close()
        if self._server is not None:
            self._server.close()
        await self._dialer.close()
        self._final_acks()
        conns = list(self._conns)
        for conn in conns:
            conn.close()
        pending = [conn.lost for conn in conns if not conn.lost.done()]
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        for conn in conns:
            if not conn.lost.done():
                conn.abort()
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            except TimeoutError:
                log.debug("%s: listener did not close in time", self.node_id)

    def _final_acks(self) -> None:
        """Before closing: acknowledge what was received, so peers need not resend it.

        The ack may be waiting for its delay; asking for the segments as of one ack delay
        later releases it now (the session is discarded right after, so its clock no
        longer matters).
        """
        if self._loop is None:
            return
        if self._journal is not None:
            self._journal.sync()  # machine level: what these acks cover is on disk first
        now = self._loop.time()
        for peer, conn in self._up.items():
            if conn.write_paused:
                continue
            session = self.sessions[peer]
            datagrams = session.datagrams_to_send(now + session.ack_delay)
            if datagrams:
                self.counters["frames_out"] += len(datagrams)
                conn.write(encode_frames(datagrams))

    # -- the pump's transport side ---------------------------------------------------------------
    def _transmit(self, peer: str, session: PeerSession, now: float) -> None:
        """Write what the session has to send in one write; dial when there is no connection."""
        conn = self._up.get(peer)
        if conn is None:
            if session.unacked:
                self._ensure_connection(peer)
            return
        if conn.write_paused:
            return
        datagrams = session.datagrams_to_send(now)
        if not datagrams:
            return
        self.counters["frames_out"] += len(datagrams)
        data = encode_frames(datagrams)
        delay = self._faults.delay(peer)
        if delay is None:
            conn.write(data)
            return
        delayed = conn.delayed
        if delayed is None:
            delayed = conn.delayed = DelayedWrites(conn.loop, conn.write)
        delayed.add(data, delay, now)

    # -- faults ------------------------------------------------------------------------------
    def reset(self, peer: str) -> bool:
        """Abort the connection to ``peer`` with a TCP RST, as a crash of the network would.

        Unacknowledged messages stay in the session and are resent after the reconnect
        (which follows at once when there is something to send). False when not connected.
        """
        conn = self._up.get(peer)
        if conn is None:
            return False
        self.counters["connections_reset"] += 1
        log.info("%s: resetting the connection to %s", self.node_id, peer)
        conn.abort(rst=True)
        return True

    def partition(self, peer: str, seconds: float | None = None) -> None:
        """Cut ``peer`` off: drop its connection and refuse it both ways (a live partition).

        With ``seconds`` the partition heals by itself; without, it lasts until :meth:`heal`.
        A partition already in force is never shortened. Before :meth:`start` it is noted
        and acted on once the link runs.
        """
        if peer not in self.sessions:
            raise unknown_peer(peer)
        self._faults.partition(peer, seconds)

    def heal(self, peer: str) -> None:
        """End a partition made by :meth:`partition` now; the plan's partitions stay."""
        self._faults.heal(peer)

    def fault_stats(self) -> dict[str, dict[str, int]]:
        """Per-destination fault statistics: frame writes given a delay by the plan's model."""
        return self._faults.injector.stats_dict()

    def _cut_connections(self, peer: str) -> None:
        """A partition starts cutting ``peer``: abort its connection and our dial."""
        for conn in (self._up.get(peer), self._dialer.dialing(peer)):
            if conn is not None:
                log.debug("%s: partition cuts %r", self.node_id, conn)
                conn.abort(rst=True)

    # -- connections: ConnectionOwner ----------------------------------------------------------
    def _accept(self) -> TlsConnection:
        return self._connection(None, ("?", 0))

    def _connection(self, dialed_to: str | None, remote: Address) -> TlsConnection:
        context = self._client_ctx if dialed_to is not None else self._server_ctx
        return TlsConnection(
            self,
            self._admission.start(dialed_to),
            context,
            remote=remote,
            max_frame=self._max_frame,
            loop=self._loop_or_raise(),
        )

    def connection_opened(self, conn: TlsConnection) -> bool:
        """TCP is up: admit ``conn`` (bounded, timed) and let it start its TLS handshake."""
        if self._closed:
            conn.abort()
            return False
        loop = self._loop_or_raise()
        source = conn.remote[0]
        admitted = self._admission.open(conn.hs, loop.time(), source, self._hosts.get(source, 0))
        if isinstance(admitted, Refused):
            self.counters["connections_refused"] += 1
            self._refusals.log(
                logging.WARNING,
                "%s: refused a connection from %s: %s",
                self.node_id,
                conn.where(),
                admitted.reason,
            )
            conn.abort()
            return False
        if admitted is not None:
            self._evict(admitted)
        self._conns.add(conn)
        if conn.hs.dialed_to is None:
            self._accepted_at = loop.time()
        conn.arm(conn.hs.deadline, self._deadline)
        return True

    def _evict(self, evict: Evict) -> None:
        """Abort the idle connections the admission rules evicted for a new one."""
        victims = set(evict.victims)
        for conn in [c for c in self._conns if c.hs in victims]:
            self.counters["connections_evicted"] += 1
            self._refusals.log(
                logging.INFO, "%s: closed %s: %s", self.node_id, conn.where(), evict.reason
            )
            self._conns.discard(conn)
            conn.abort()

    def _deadline(self, conn: TlsConnection) -> None:
        """The timer of ``conn``'s handshake or hello deadline fired."""
        refused = self._admission.overdue(conn.hs, self._loop_or_raise().time())
        if refused is None:
            conn.arm(conn.hs.deadline, self._deadline)  # early or done: re-arm or nothing
        elif refused.why is Refusal.HANDSHAKE_TIMEOUT:
            self.handshake_failed(conn, refused.reason)
        else:
            self._refuse(conn, refused)

    def handshake_failed(self, conn: TlsConnection, reason: str) -> None:
        """A TLS handshake failed: a refusal when we accepted it, a failed dial otherwise."""
        if conn.hs.dialed_to is None:
            self.counters["connections_refused"] += 1
            self._refusals.log(
                logging.WARNING,
                "%s: refused a TLS connection from %s: %s",
                self.node_id,
                conn.where(),
                reason,
            )
            self.user.link_event(InputRefused(conn.where(), f"TLS handshake failed: {reason}"))
        else:
            conn.fail_reason = reason
        conn.close()

    def tls_failed(self, conn: TlsConnection, reason: str) -> None:
        """TLS failed after the handshake (with TLS 1.3, also how a refused client learns it)."""
        if conn.state is ConnState.HELLO and conn.hs.dialed_to is not None:
            conn.fail_reason = f"refused by the peer ({reason})"
        else:
            self.counters["bad_frames"] += 1
            log.debug("%s: TLS error on %r: %s", self.node_id, conn, reason)
        conn.abort()

    def handshake_done(self, conn: TlsConnection) -> None:
        """TLS is up: check the certificate's node id, then send our hello."""
        conn.arm(None, self._deadline)
        if self._closed:
            conn.abort()
            return
        hs = conn.hs
        try:
            certified = peer_identity(conn.tls)
        except (AuthenticationError, UsageError) as exc:
            conn.flush_tls()  # the peer completes its side and then learns of the refusal
            self._refuse(conn, str(exc))
            return
        loop = self._loop_or_raise()
        partitioned = certified in self.sessions and self._faults.partitioned(certified)
        refused = self._admission.handshake_done(
            hs, certified, loop.time(), partitioned=partitioned
        )
        if refused is not None:
            conn.flush_tls()
            self._refuse(conn, refused)
            return
        if self._journal is not None:
            self._journal.sync()  # machine level: the resume point the hello gives is on disk
        hello = encode_frames([encode_hello(*self.sessions[certified].hello())])
        if hs.dialed_to is not None:
            conn.write(hello)  # in one write with our last handshake flight (still in the BIO)
        else:
            conn.write(hello, hold=True)  # sent with our first segment, or after the read
        self.counters["frames_out"] += 1
        conn.arm(hs.deadline, self._deadline)

    def frame_received(self, conn: TlsConnection, frame: bytes) -> None:
        """One frame from ``conn``: a hello first, then segments."""
        self.counters["frames_in"] += 1
        try:
            envelope = self._decode(frame)
        except WireError as exc:
            self._bad_frame(conn, str(exc))
            return
        hs = conn.hs
        if hs.state is _UP:
            fault = self._admission.segment_fault(hs, envelope)
            if fault is not None:
                self._bad_frame(conn, fault)
                return
            assert type(envelope) is Segment
            peer = envelope.sender
            if self._up.get(peer) is not conn:
                return
            session = self.sessions[peer]
            session.receive_segment(envelope, conn.loop.time())
            self._received(peer, session)
            return
        if type(envelope) is not Hello:
            self._bad_frame(conn, f"a {type(envelope).__name__} before the hello")
            return
        self._on_hello(conn, envelope)

    def frame_too_large(self, conn: TlsConnection, exc: FrameTooLarge) -> None:
        self.counters["bad_frames"] += 1
        self._refusals.log(
            logging.WARNING,
            "%s: closing the connection from %s (%s): %s",
            self.node_id,
            conn.hs.peer,
            conn.where(),
            exc,
        )

    def writable_again(self, conn: TlsConnection) -> None:
        peer = conn.hs.peer
        if peer is not None and peer in self.sessions:
            self._mark(peer)

    def connection_lost(self, conn: TlsConnection, exc: Exception | None, was: ConnState) -> None:
        self._conns.discard(conn)
        self._admission.closed(conn.hs)
        if self._closed:
            return
        hs = conn.hs
        if was is ConnState.TLS and hs.dialed_to is None:
            self.counters["connections_refused"] += 1
            self._refusals.log(
                logging.WARNING,
                "%s: refused a TLS connection from %s: closed during the handshake",
                self.node_id,
                conn.where(),
            )
        peer = hs.peer or hs.dialed_to
        if peer is None or peer not in self.sessions:
            return
        if self._dialer.dialing(peer) is conn:
            reason = conn.fail_reason or (
                "closed before the hello" if exc is None else describe_error(exc)
            )
            self.dial_failed(peer, conn, reason)
            return
        if self._up.get(peer) is conn:
            del self._up[peer]
            self.counters["connections_lost"] += 1
            if exc is None:
                log.debug("%s: %s closed the connection", self.node_id, peer)
            else:
                log.info("%s: connection to %s lost: %s", self.node_id, peer, describe_error(exc))
            self._retry_later(peer)
            self._mark(peer)

    # -- the hello and who carries a peer's traffic ------------------------------------------------
    def _refuse(self, conn: TlsConnection, refused: Refused | str) -> None:
        if isinstance(refused, Refused):
            reason = refused.reason
            level = logging.INFO if refused.why is Refusal.PARTITIONED else logging.WARNING
        else:
            reason, level = refused, logging.WARNING
        self.counters["connections_refused"] += 1
        who = "to" if conn.hs.dialed_to else "from"
        self._refusals.log(
            level, "%s: refused the connection %s %s: %s", self.node_id, who, conn.where(), reason
        )
        self.user.link_event(InputRefused(conn.hs.peer or conn.where(), reason))
        conn.abort()

    def _bad_frame(self, conn: TlsConnection, reason: str) -> None:
        self.counters["bad_frames"] += 1
        log.debug("%s: bad frame from %r, closing: %s", self.node_id, conn, reason)
        self.user.link_event(InputRefused(conn.hs.peer or conn.where(), f"bad frame: {reason}"))
        conn.abort()

    def _on_hello(self, conn: TlsConnection, hello: Hello) -> None:
        hs = conn.hs
        peer = hs.peer
        session = self.sessions.get(peer) if peer is not None else None
        current = self._up.get(peer) if peer is not None else None
        verdict = self._admission.hello(
            hs,
            hello,
            session.resume_point()[0] if session is not None else 0,
            current.hs if current is not None else None,
        )
        conn.arm(None, self._deadline)
        if isinstance(verdict, Refused):
            conn.flush_tls()  # our hello, if held, as before the refusal
            self._refuse(conn, verdict)
            return
        assert peer is not None
        assert session is not None
        self._dialer.release(peer, conn)
        if verdict is Outcome.LOSE:
            log.debug("%s: keeping %r, closing the simultaneous %r", self.node_id, current, conn)
            conn.close()
            return
        if verdict is Outcome.REPLACE:
            assert current is not None
            log.debug("%s: %r replaces %r", self.node_id, conn, current)
            self.counters["connections_replaced"] += 1
            del self._up[peer]
            current.close()
        self._up[peer] = conn
        if hs.dialed_to is None:
            self._accepted_at = conn.loop.time()
        self._dialer.succeeded(peer)
        self.counters["connections_made"] += 1
        log.debug(
            "%s: connected to %s as %r; it has our messages up to %d (incarnation %d)",
            self.node_id,
            peer,
            conn,
            hello.received,
            hello.peer_incarnation,
        )
        session.on_reconnect(hello, conn.loop.time())
        self._mark(peer)
        conn.flush_soon()  # a held hello: with the pump's first segment, or alone after it

    # -- dialing: DialOwner ------------------------------------------------------------------------
    def _ensure_connection(self, peer: str) -> None:
        """Dial ``peer`` unless connected, dialing, backing off or partitioned, or waiting
        for ``peer`` to dial (the smaller id of a pair dials: :meth:`Dialer.defer`)."""
        if (
            self._closed
            or peer in self._up
            or not self._dialer.idle(peer)
            or self._faults.partitioned(peer)
            or self._dialer.defer(peer, self._loop_or_raise())
        ):
            return
        address = self._addresses[peer]
        self._dialer.dial(peer, address, self._connection(peer, address))

    def dial_failed(self, peer: str, conn: TlsConnection, reason: str) -> None:
        self._conns.discard(conn)
        self._admission.closed(conn.hs)
        if not self._dialer.failed(peer, conn, reason, self._addresses[peer]) or self._closed:
            return
        if peer not in self._up:
            self._retry_later(peer)

    def redial(self, peer: str) -> None:
        if not self._closed:
            self._mark(peer)

    def accepting(self) -> bool:
        if self._loop_or_raise().time() - self._accepted_at < self._dialer.dial_wait:
            return True
        return any(
            c.hs.dialed_to is None and c.state in (ConnState.TLS, ConnState.HELLO)
            for c in self._conns
        )

    def _retry_later(self, peer: str) -> None:
        if not self._closed and self.sessions[peer].unacked:
            self._dialer.backoff(peer, self._loop_or_raise())

    # -- introspection ---------------------------------------------------------------------------
    def connection(self, peer: str) -> ConnectionInfo | None:
        """The connection carrying ``peer``'s traffic now, or None while disconnected."""
        conn = self._up.get(peer)
        if conn is None or conn.transport is None:
            return None
        transport = conn.transport
        return ConnectionInfo(
            peer,
            conn.hs.dialer(self.node_id),
            address_of(transport.get_extra_info("sockname")),
            address_of(transport.get_extra_info("peername")),
        )

    def stats(self) -> dict[str, Any]:
        """Connection and frame counters, plus the sessions' counters summed over peers."""
        return {
            "kind": self.kind,
            **self.counters,
            "connected": len(self._up),
            "log_lines_suppressed": self._refusals.suppressed,
            "unauthenticated": self._admission.unauthenticated,
            **self._session_stats(),
            "faults": self.fault_stats(),
        }
