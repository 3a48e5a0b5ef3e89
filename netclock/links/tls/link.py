"""Authenticated perfect link over mutual TLS 1.3: the asyncio adapter around PeerSession.

Textbook AL1 reliable delivery, AL2 no duplication, AL3 authenticity. Each pair of nodes
shares one TCP connection carrying TLS 1.3 with a certificate from the cluster CA on both
ends. After the handshake each side sends a HELLO envelope (who it is, what it has
received of the other); a connection carries segments only after both hellos were
checked: the certificate's node id must be the hello's sender, a known peer, and the
one a dialer meant to reach. Sequencing, acks, flow control and dedup live in the
sans-IO :class:`~netclock.reliable_core.PeerSession` (with retransmission off: TCP does
that); across a reconnect the hello's resume point makes the core resend exactly what
the peer is missing. The framing, hello and reconnect rules are in ``docs/tls.md``.

Like the UDP adapter this one only pumps: frames in, frames out at the end of the loop
iteration (all of one pump's frames in one ``transport.write``), one ``call_at`` timer per
peer session, no task per message (one task per outgoing dial, none per frame). TLS runs
through memory BIOs inside the connection's protocol, so asyncio and uvloop behave alike
and every failed handshake is seen, counted and logged with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Mapping
from itertools import count
from typing import Any, cast

from netclock.clock import VectorClock
from netclock.errors import AuthenticationError, ConfigError, LinkClosed, UsageError, WireError
from netclock.faults.plan import DelayModel, FaultPlan
from netclock.links.base import Address, LinkUser, PeerReachable, PeerUnreachable, SendFailed
from netclock.links.session import GaveUp, PeerSession, Reachable, SessionEvent, Unreachable
from netclock.links.tls.contexts import client_context, peer_identity, server_context
from netclock.wire.envelope import Decoder, Hello, Limits, Segment, encode_hello
from netclock.wire.framing import DEFAULT_MAX_FRAME, FrameReader, FrameTooLarge, encode_frames

__all__ = ["ConnectionInfo", "TlsLink"]

log = logging.getLogger(__name__)

SEGMENT_BYTES = 65_507
"""Batch budget of one segment (the core's largest): a few dozen KiB per frame."""

_LINGER_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER on with a zero timeout: closing the socket sends a TCP RST."""
_FAULT_SLACK = 0.002
"""Partition timers fire this long after the moment they mark, never a hair before it."""
_READ_SIZE = 256 * 1024
"""Most plaintext bytes taken from TLS in one read call."""

_TLS = "tls"
"""Connection states: TLS handshake running -> HELLO sent, waiting -> UP -> CLOSED."""
_HELLO = "hello"
_UP = "up"
_CLOSED = "closed"


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


def _ssl_reason(exc: BaseException) -> str:
    """A short, secret-free description of why a TLS handshake failed."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate rejected: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc.__class__.__name__}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


def _address(value: Any) -> Address:
    if isinstance(value, tuple | list) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return ("?", 0)


class _Peer:
    """Everything the link holds about one peer: its session and its connection."""

    __slots__ = (
        "address",
        "attempts",
        "conn",
        "cut_until",
        "delay",
        "delay_rng",
        "dialing",
        "id",
        "retry",
        "session",
        "timer",
        "warned",
        "writable",
    )

    def __init__(self, peer: str, address: Address, session: PeerSession) -> None:
        self.id = peer
        self.address = address
        self.session = session
        self.conn: _Connection | None = None
        """The connection segments go out on (both hellos checked), if any."""
        self.dialing: _Connection | None = None
        """Our own dial in progress (not yet attached), if any."""
        self.retry: asyncio.TimerHandle | None = None
        self.attempts = 0
        self.warned = False
        self.cut_until = 0.0
        self.timer: tuple[float, asyncio.TimerHandle] | None = None
        self.writable: asyncio.Future[None] | None = None
        self.delay: DelayModel | None = None
        self.delay_rng: random.Random | None = None


class _Connection(asyncio.Protocol):
    """One TCP connection with TLS 1.3 driven through memory BIOs: handshake, then frames.

    Driving TLS here (rather than with ``ssl=`` transports) works the same under asyncio
    and uvloop, and lets the link see, count and log every failed handshake with its reason.
    The byte path: ``data_received`` -> TLS decrypt -> :class:`FrameReader` -> the link;
    :meth:`write` -> TLS encrypt -> one ``transport.write``.
    """

    def __init__(self, link: TlsLink, *, dialed_to: str | None, remote: Address) -> None:
        self.link = link
        self.dialed_to = dialed_to
        self.remote = remote
        self.serial = next(link._serials)
        self.transport: asyncio.Transport | None = None
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        context = link._client_ctx if dialed_to is not None else link._server_ctx
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=dialed_to is None)
        self.state = _TLS
        self.peer: str | None = None
        """The node id in the peer's verified certificate."""
        self.peer_incarnation = 0
        self.reader = FrameReader(link._max_frame)
        self.timer: asyncio.TimerHandle | None = None
        """The handshake timeout, then the hello timeout."""
        self.write_paused = False
        self.fail_reason = ""
        """Why our dial failed, when the connection knows better than "closed"."""
        self.unauthenticated = False
        """Counted against the listener's cap on connections that have not said hello."""
        self.lost: asyncio.Future[None] = link._loop_or_raise().create_future()
        self.delayed: deque[tuple[float, bytes]] = deque()
        self.delay_handle: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        who = self.peer or self.dialed_to or "?"
        return f"<connection #{self.serial} {who} {self.remote[0]}:{self.remote[1]} {self.state}>"

    def where(self) -> str:
        """The remote address as ``host:port`` for log lines."""
        return f"{self.remote[0]}:{self.remote[1]}"

    # -- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peername = transport.get_extra_info("peername")
        if peername is not None:
            self.remote = _address(peername)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                log.debug("could not set TCP_NODELAY on %r", self)
        if not self.link._conn_opened(self):
            return
        try:
            self._handshake()
        except Exception as exc:  # nothing from the network may escape the event loop
            log.debug("%s: dropping %r after an unexpected error: %r", self.link.node_id, self, exc)
            self.abort()

    def data_received(self, data: bytes) -> None:
        if self.state == _CLOSED:
            return
        try:
            self.incoming.write(data)
            if self.state == _TLS:
                self._handshake()
            else:
                self._read()
        except Exception as exc:  # nothing from the network may escape the event loop
            log.debug("%s: dropping %r after an unexpected error: %r", self.link.node_id, self, exc)
            self.abort()

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost.done():
            return
        was = self.state
        self.state = _CLOSED
        self._cancel_timers()
        self.lost.set_result(None)
        self.link._conn_lost(self, exc, was)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        peer = self.peer
        if peer is not None and self.state == _UP:
            self.link._mark_id(peer)

    # -- TLS ---------------------------------------------------------------------------------
    def _flush_tls(self) -> None:
        if self.outgoing.pending and self.transport is not None:
            self.transport.write(self.outgoing.read())

    def _handshake(self) -> None:
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush_tls()
            return
        except (ssl.SSLError, OSError) as exc:
            self._flush_tls()  # the alert tells the peer why
            self.link._handshake_failed(self, _ssl_reason(exc))
            return
        self._flush_tls()
        self.link._handshake_done(self)
        if self.state != _CLOSED:
            self._read()

    def _read(self) -> None:
        """Decrypt what arrived and hand complete frames to the link."""
        chunks: list[bytes] = []
        read = self.tls.read
        eof = False
        while True:
            try:
                chunk = read(_READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                eof = True
                break
            except ssl.SSLError as exc:
                self._flush_tls()
                self.link._tls_error(self, _ssl_reason(exc))
                return
            if not chunk:
                eof = True
                break
            chunks.append(chunk)
            if not self.incoming.pending and not self.tls.pending():
                break  # all decrypted: spare the exception the next read would raise
        self._flush_tls()
        if chunks:
            link = self.link
            try:
                frames = self.reader.feed(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            except FrameTooLarge as exc:
                link.counters["bad_frames"] += 1
                log.warning(
                    "%s: closing the connection from %s (%s): %s",
                    link.node_id,
                    self.peer,
                    self.where(),
                    exc,
                )
                self.abort()
                return
            for frame in frames:
                link._frame(self, frame)
                if self.state == _CLOSED:
                    return
        if eof:
            self.close()

    # -- actions -----------------------------------------------------------------------------
    def _cancel_timers(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.delay_handle is not None:
            self.delay_handle.cancel()
            self.delay_handle = None
        self.delayed.clear()

    def write(self, data: bytes) -> None:
        """Encrypt ``data`` and hand it to the socket in one write."""
        transport = self.transport
        if transport is None or self.state == _CLOSED:
            return
        try:
            self.tls.write(data)
        except ssl.SSLError as exc:
            log.debug("%s: cannot write to %r: %s", self.link.node_id, self, exc)
            self.abort()
            return
        transport.write(self.outgoing.read())

    def write_later(self, data: bytes, delay: float, now: float) -> None:
        """Write ``data`` after ``delay`` seconds, never before earlier delayed writes."""
        due = now + delay
        if self.delayed and self.delayed[-1][0] > due:
            due = self.delayed[-1][0]
        self.delayed.append((due, data))
        if self.delay_handle is None:
            self.delay_handle = self.link._loop_or_raise().call_at(due, self._write_due)

    def _write_due(self) -> None:
        self.delay_handle = None
        loop = self.link._loop_or_raise()
        now = loop.time()
        delayed = self.delayed
        while delayed and delayed[0][0] <= now:
            self.write(delayed.popleft()[1])
        if delayed:
            self.delay_handle = loop.call_at(delayed[0][0], self._write_due)

    def close(self) -> None:
        """Close gracefully: TLS close_notify after what was written, then TCP FIN."""
        if self.state == _CLOSED:
            return
        was = self.state
        self.state = _CLOSED
        self._cancel_timers()
        if self.transport is None:
            return
        if was != _TLS:
            with contextlib.suppress(ssl.SSLError, OSError):
                self.tls.unwrap()  # sends close_notify; we do not wait for the peer's
            self._flush_tls()
        self.transport.close()

    def abort(self, *, rst: bool = False) -> None:
        """Drop the connection now, discarding unsent data (``rst``: send a TCP RST)."""
        self.state = _CLOSED
        self._cancel_timers()
        transport = self.transport
        if transport is None:
            return
        if rst:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                except OSError as exc:
                    log.debug("could not set SO_LINGER: %s", exc)
        transport.abort()


class TlsLink:
    """Authenticated perfect link: reliable, FIFO (by default), flow-controlled, over mTLS 1.3.

    ``cert_dir`` holds the cluster CA and this node's certificate and key (see
    ``netclock certs``); a missing or unusable file raises ConfigError here. Call
    :meth:`start` to listen; peers are dialed lazily when there is something to send to
    them. Options (all keyword-only): ``send_window`` messages in flight per peer,
    ``max_frame`` bytes per frame, ``handshake_timeout`` and ``hello_timeout`` seconds,
    ``connect_timeout`` seconds for TCP connect, ``max_unauthenticated`` connections that
    have not said hello yet, ``backoff`` ``(first, cap)`` reconnect delays in seconds.
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
        backoff: tuple[float, float] = (0.01, 2.0),
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
        if not 0 < backoff[0] <= backoff[1]:
            raise ConfigError(f"backoff must be (first, cap) with 0 < first <= cap, not {backoff}")
        self.node_id = node_id
        self.incarnation = incarnation
        self.user = user
        self._bind = bind
        self._server_ctx = server_context(cert_dir, node_id)
        self._client_ctx = client_context(cert_dir, node_id)
        self._max_frame = max_frame
        self._decode = Decoder(Limits(max_bytes=max_frame)).decode
        self._session_options: dict[str, Any] = {
            "fifo": fifo,
            "give_up_after": give_up_after,
            "receive_capacity": receive_capacity,
            "send_window": send_window,
            "max_datagram": min(SEGMENT_BYTES, max_frame),
            "retransmit": False,
            "ack_delay": ack_delay,
            "unreachable_after": unreachable_after,
        }
        # A misconfigured session option fails now, not at the first add_peer.
        PeerSession(node_id, incarnation, node_id, **self._session_options)
        self._handshake_timeout = handshake_timeout
        self._hello_timeout = hello_timeout
        self._connect_timeout = connect_timeout
        self._max_unauthenticated = max_unauthenticated
        self._backoff = backoff
        self._plan = faults if faults is not None and not faults.is_quiet else None
        self._epoch = time.time() if fault_epoch is None else fault_epoch
        self._rng = random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._peers: dict[str, _Peer] = {}
        self._addresses: dict[str, Address] = {}
        self._conns: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._fault_timers: list[asyncio.TimerHandle] = []
        self._serials = count(1)
        self._unauthenticated = 0
        self._dirty: set[_Peer] = set()
        self._flush_handle: asyncio.Handle | None = None
        self._idle: asyncio.Event | None = None
        self._closed = False
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
        }

    # -- lifecycle -------------------------------------------------------------------------------
    def _loop_or_raise(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            raise LinkClosed("the tls link is not started")
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
                f"{exc.strerror}; choose another address or port 0"
            ) from exc
        for peer in self._peers.values():
            self._schedule_partitions(peer)

    @property
    def address(self) -> Address:
        """The address this link listens on."""
        server = self._server
        if server is None or not server.sockets:
            raise LinkClosed("link is not started")
        return _address(server.sockets[0].getsockname())

    @property
    def peers(self) -> Mapping[str, Address]:
        """The known peers and their addresses."""
        return self._addresses

    def add_peer(self, peer: str, address: Address) -> None:
        """Make ``peer`` known (and trusted) at ``address``; replaces an earlier address."""
        address = (address[0], int(address[1]))
        self._addresses[peer] = address
        known = self._peers.get(peer)
        if known is not None:
            known.address = address
            return
        session = PeerSession(self.node_id, self.incarnation, peer, **self._session_options)
        state = self._peers[peer] = _Peer(peer, address, session)
        plan = self._plan
        if plan is not None:
            override = plan.links.get((self.node_id, peer))
            model = override.delay if override is not None and override.delay else plan.delay
            if not model.is_zero:
                state.delay = model
                state.delay_rng = random.Random(f"{plan.seed}:{self.node_id}:{peer}")
            if self._loop is not None:
                self._schedule_partitions(state)

    async def close(self) -> None:
        """Close every connection and the listener; idempotent. Unacked messages are lost."""
        if self._closed:
            return
        self._closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for handle in self._fault_timers:
            handle.cancel()
        self._fault_timers.clear()
        for peer in self._peers.values():
            if peer.timer is not None:
                peer.timer[1].cancel()
                peer.timer = None
            if peer.retry is not None:
                peer.retry.cancel()
                peer.retry = None
            if peer.writable is not None and not peer.writable.done():
                peer.writable.set_result(None)  # the sender wakes and meets LinkClosed
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
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
        if self._idle is not None:
            self._idle.set()
            self._idle = None
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
        now = self._loop.time()
        for state in self._peers.values():
            conn = state.conn
            if conn is None or conn.write_paused:
                continue
            datagrams = state.session.datagrams_to_send(now + state.session.ack_delay)
            if datagrams:
                self.counters["frames_out"] += len(datagrams)
                conn.write(encode_frames(datagrams))

    # -- the application side ----------------------------------------------------------------
    def send(self, peer: str, clock: VectorClock, payload: Any) -> int:
        """Queue one message for ``peer``; returns its sequence number.

        Raises WindowFull when ``send_window`` messages to that peer are unacknowledged
        (they stay queued across disconnections), UsageError for an unknown peer or a
        payload that cannot be carried.
        """
        if self._closed:
            raise LinkClosed(f"the tls link of {self.node_id!r} is closed")
        state = self._peers.get(peer)
        if state is None:
            raise UsageError(f"unknown peer {peer!r}; add it with add_peer first")
        seq = state.session.send(clock, payload, self._loop_or_raise().time())
        self._mark(state)
        return seq

    def writable(self, peer: str) -> bool:
        """True when :meth:`send` to ``peer`` would not raise WindowFull."""
        return self._peers[peer].session.writable()

    async def wait_writable(self, peer: str) -> None:
        """Wait until the send window to ``peer`` may have room."""
        state = self._peers[peer]
        if state.session.writable():
            return
        waiter = state.writable
        if waiter is None or waiter.done():
            waiter = state.writable = self._loop_or_raise().create_future()
        await asyncio.shield(waiter)

    async def flush(self) -> None:
        """Wait until every message sent so far is acknowledged (or given up on)."""
        while not self._closed and any(p.session.unacked for p in self._peers.values()):
            idle = self._idle
            if idle is None:
                idle = self._idle = asyncio.Event()
            await idle.wait()

    def resume_reading(self) -> None:
        """The owner's inbox has room: deliver what the sessions hold back."""
        for state in self._peers.values():
            if state.session.deliverable:
                self._mark(state)

    # -- faults ------------------------------------------------------------------------------
    def reset(self, peer: str) -> bool:
        """Abort the connection to ``peer`` with a TCP RST, as a crash of the network would.

        Unacknowledged messages stay in the session and are resent after the reconnect
        (which follows at once when there is something to send). False when not connected.
        """
        state = self._peers.get(peer)
        if state is None or state.conn is None:
            return False
        self.counters["connections_reset"] += 1
        log.info("%s: resetting the connection to %s", self.node_id, peer)
        state.conn.abort(rst=True)
        return True

    def partition(self, peer: str, seconds: float | None = None) -> None:
        """Cut ``peer`` off: drop its connection and refuse it both ways.

        With ``seconds`` the partition heals by itself; without, it lasts until :meth:`heal`.
        """
        if seconds is not None and not seconds > 0:
            raise UsageError(f"a partition lasts a positive number of seconds, not {seconds!r}")
        state = self._peers.get(peer)
        if state is None:
            raise UsageError(f"unknown peer {peer!r}; add it with add_peer first")
        loop = self._loop_or_raise()
        if seconds is None:
            state.cut_until = math.inf
            log.info("%s: partitioned from %s until healed", self.node_id, peer)
            self._cut(state)
            return
        state.cut_until = max(state.cut_until, loop.time() + seconds)
        log.info("%s: partitioned from %s for %.3f s", self.node_id, peer, seconds)
        self._cut(state)
        if state.cut_until != math.inf:
            self._fault_timers.append(
                loop.call_at(state.cut_until + _FAULT_SLACK, self._heal, state)
            )

    def heal(self, peer: str) -> None:
        """End a partition made by :meth:`partition` now."""
        state = self._peers.get(peer)
        if state is not None and state.cut_until:
            state.cut_until = 0.0
            self._heal(state)

    def _partitioned(self, state: _Peer) -> bool:
        return self._cut_until(state) is not None

    def _cut_until(self, state: _Peer) -> float | None:
        """Loop time at which the partitions cutting ``state`` now end (inf: never).

        None when no partition cuts it. A partition in either direction cuts the one
        bidirectional TCP connection.
        """
        loop = self._loop_or_raise()
        now = loop.time()
        until: float | None = None
        if state.cut_until:
            if now < state.cut_until:
                until = state.cut_until
            else:
                state.cut_until = 0.0
        plan = self._plan
        if plan is None or not plan.partitions:
            return until
        t = time.time() - self._epoch
        me, peer = self.node_id, state.id
        for partition in plan.partitions:
            if (partition.blocks(me, peer) or partition.blocks(peer, me)) and partition.active(t):
                end = math.inf if partition.end is None else now + (partition.end - t)
                until = end if until is None else max(until, end)
        return until

    def _schedule_partitions(self, state: _Peer) -> None:
        """Arm timers just after the plan's partition starts (cut) and ends (reconnect)."""
        plan = self._plan
        if plan is None or not plan.partitions:
            return
        loop = self._loop_or_raise()
        t_now = time.time() - self._epoch
        offset = loop.time() - t_now + _FAULT_SLACK
        me, peer = self.node_id, state.id
        for partition in plan.partitions:
            if not (partition.blocks(me, peer) or partition.blocks(peer, me)):
                continue
            if partition.start > t_now:
                self._fault_timers.append(loop.call_at(offset + partition.start, self._cut, state))
            if partition.end is not None and partition.end > t_now:
                self._fault_timers.append(loop.call_at(offset + partition.end, self._heal, state))

    def _cut(self, state: _Peer) -> None:
        if not self._partitioned(state):
            return
        for conn in (state.conn, state.dialing):
            if conn is not None:
                log.debug("%s: partition cuts %r", self.node_id, conn)
                conn.abort(rst=True)

    def _heal(self, state: _Peer) -> None:
        if self._closed:
            return
        until = self._cut_until(state)
        if until is None:
            self._mark(state)
        elif until != math.inf:
            loop = self._loop_or_raise()
            self._fault_timers.append(loop.call_at(until + _FAULT_SLACK, self._heal, state))

    # -- accepting -----------------------------------------------------------------------------
    def _accept(self) -> _Connection:
        return _Connection(self, dialed_to=None, remote=("?", 0))

    def _conn_opened(self, conn: _Connection) -> bool:
        """TCP is up: admit ``conn`` (bounded, timed) and let it start its TLS handshake."""
        if self._closed:
            conn.abort()
            return False
        if conn.dialed_to is None:
            if self._unauthenticated >= self._max_unauthenticated:
                self.counters["connections_refused"] += 1
                log.warning(
                    "%s: refused a connection from %s: already %d connections without a hello",
                    self.node_id,
                    conn.where(),
                    self._unauthenticated,
                )
                conn.abort()
                return False
            conn.unauthenticated = True
            self._unauthenticated += 1
        self._conns.add(conn)
        conn.timer = self._loop_or_raise().call_later(
            self._handshake_timeout, self._handshake_overdue, conn
        )
        return True

    def _handshake_overdue(self, conn: _Connection) -> None:
        conn.timer = None
        if conn.state == _TLS:
            self._handshake_failed(conn, "TLS handshake timed out")

    def _handshake_failed(self, conn: _Connection, reason: str) -> None:
        """A TLS handshake failed: a refusal when we accepted it, a failed dial otherwise."""
        if conn.dialed_to is None:
            self.counters["connections_refused"] += 1
            log.warning(
                "%s: refused a TLS connection from %s: %s", self.node_id, conn.where(), reason
            )
        else:
            conn.fail_reason = reason
        conn.close()

    def _tls_error(self, conn: _Connection, reason: str) -> None:
        """TLS failed after the handshake (with TLS 1.3, also how a refused client learns it)."""
        if conn.state == _HELLO and conn.dialed_to is not None:
            conn.fail_reason = f"refused by the peer ({reason})"
        else:
            self.counters["bad_frames"] += 1
            log.debug("%s: TLS error on %r: %s", self.node_id, conn, reason)
        conn.abort()

    def _forget(self, conn: _Connection) -> None:
        """``conn`` never opened (its dial failed): release what it holds."""
        conn.state = _CLOSED
        conn._cancel_timers()
        self._conns.discard(conn)
        self._settle(conn)
        if not conn.lost.done():
            conn.lost.set_result(None)

    def _settle(self, conn: _Connection) -> None:
        if conn.unauthenticated:
            conn.unauthenticated = False
            self._unauthenticated -= 1

    # -- dialing -------------------------------------------------------------------------------
    def _ensure_connection(self, state: _Peer) -> None:
        """Dial ``state`` unless connected, dialing, backing off or partitioned."""
        if (
            self._closed
            or state.conn is not None
            or state.dialing is not None
            or state.retry is not None
            or self._partitioned(state)
        ):
            return
        loop = self._loop_or_raise()
        conn = _Connection(self, dialed_to=state.id, remote=state.address)
        state.dialing = conn
        self._conns.add(conn)
        self.counters["dials"] += 1
        task = loop.create_task(self._dial(state, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dial(self, state: _Peer, conn: _Connection) -> None:
        """Open TCP to ``state``; the connection does TLS and the hello on its own."""
        loop = self._loop_or_raise()
        host, port = state.address
        try:
            async with asyncio.timeout(self._connect_timeout):
                await loop.create_connection(lambda: conn, host, port)
        except asyncio.CancelledError:
            self._forget(conn)
            raise
        except Exception as exc:  # refused, unreachable, timed out: retry later
            self._forget(conn)
            self._dial_failed(state, conn, _ssl_reason(exc))

    def _dial_failed(self, state: _Peer, conn: _Connection, reason: str) -> None:
        if state.dialing is not conn:
            return
        state.dialing = None
        if self._closed:
            return
        self.counters["dial_failures"] += 1
        state.attempts += 1
        if state.attempts >= 5 and not state.warned:
            state.warned = True
            log.warning(
                "%s: cannot connect to %s at %s:%d (%d attempts): %s; still trying",
                self.node_id,
                state.id,
                state.address[0],
                state.address[1],
                state.attempts,
                reason,
            )
        else:
            log.debug("%s: dial to %s failed: %s", self.node_id, state.id, reason)
        if state.conn is None:
            self._schedule_retry(state)

    def _schedule_retry(self, state: _Peer) -> None:
        if state.retry is not None or self._closed or not state.session.unacked:
            return
        first, cap = self._backoff
        delay = min(cap, first * 2 ** min(state.attempts, 30))
        delay *= 0.5 + 0.5 * self._rng.random()
        state.retry = self._loop_or_raise().call_later(delay, self._retry, state)

    def _retry(self, state: _Peer) -> None:
        state.retry = None
        if not self._closed:
            self._mark(state)

    # -- connection events ---------------------------------------------------------------------
    def _refuse(self, conn: _Connection, reason: str, *, level: int = logging.WARNING) -> None:
        self.counters["connections_refused"] += 1
        who = "to" if conn.dialed_to else "from"
        log.log(
            level, "%s: refused the connection %s %s: %s", self.node_id, who, conn.where(), reason
        )
        conn.abort()

    def _handshake_done(self, conn: _Connection) -> None:
        """TLS is up: check the certificate's node id, then send our hello."""
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        if self._closed:
            conn.abort()
            return
        try:
            peer = peer_identity(conn.tls, expected=conn.dialed_to)
        except (AuthenticationError, UsageError) as exc:
            self._refuse(conn, str(exc))
            return
        state = self._peers.get(peer)
        if state is None:
            self._refuse(conn, f"node {peer!r} is not a known peer")
            return
        if self._partitioned(state):
            self._refuse(conn, f"partitioned from {peer!r}", level=logging.INFO)
            return
        conn.peer = peer
        conn.state = _HELLO
        resume = state.session.resume_point()
        conn.write(encode_frames([encode_hello(self.node_id, self.incarnation, peer, *resume)]))
        self.counters["frames_out"] += 1
        conn.timer = self._loop_or_raise().call_later(
            self._hello_timeout, self._hello_overdue, conn
        )

    def _hello_overdue(self, conn: _Connection) -> None:
        conn.timer = None
        if conn.state == _HELLO:
            self._refuse(conn, f"no hello within {self._hello_timeout:g} s")

    def _frame(self, conn: _Connection, frame: bytes) -> None:
        """One frame from ``conn``: a hello first, then segments."""
        self.counters["frames_in"] += 1
        try:
            envelope = self._decode(frame)
        except WireError as exc:
            self._bad_frame(conn, str(exc))
            return
        if conn.state == _UP:
            if type(envelope) is not Segment:
                self._bad_frame(conn, f"a {type(envelope).__name__} after the hello")
                return
            if (
                envelope.sender != conn.peer
                or envelope.receiver != self.node_id
                or envelope.incarnation != conn.peer_incarnation
            ):
                self._bad_frame(
                    conn,
                    f"segment {envelope.sender}:{envelope.incarnation} -> {envelope.receiver} "
                    "does not match the hello",
                )
                return
            state = self._peers[envelope.sender]
            if state.conn is not conn:
                return
            state.session.receive_segment(envelope, self._loop_or_raise().time())
            self._mark(state)
            return
        if type(envelope) is not Hello:
            self._bad_frame(conn, f"a {type(envelope).__name__} before the hello")
            return
        self._on_hello(conn, envelope)

    def _bad_frame(self, conn: _Connection, reason: str) -> None:
        self.counters["bad_frames"] += 1
        log.debug("%s: bad frame from %r, closing: %s", self.node_id, conn, reason)
        conn.abort()

    def _on_hello(self, conn: _Connection, hello: Hello) -> None:
        peer = conn.peer
        assert peer is not None
        if hello.sender != peer:
            self._refuse(
                conn,
                f"its certificate names node {peer!r} but its hello claims to be {hello.sender!r}",
            )
            return
        if hello.receiver != self.node_id:
            self._refuse(conn, f"node {peer!r} says hello to {hello.receiver!r}, not to us")
            return
        state = self._peers.get(peer)
        if state is None:
            self._refuse(conn, f"node {peer!r} is not a known peer")
            return
        if hello.incarnation < state.session.resume_point()[0]:
            self._refuse(conn, f"node {peer!r} speaks for an old incarnation {hello.incarnation}")
            return
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        conn.state = _UP
        conn.peer_incarnation = hello.incarnation
        self._settle(conn)
        self._attach(state, conn, hello)

    def _attach(self, state: _Peer, conn: _Connection, hello: Hello) -> None:
        """Make ``conn`` the peer's connection, unless the one we have wins the tie-break.

        Rule (both ends apply it, so they agree): a connection dialed by the smaller node id
        beats one dialed by the larger; between connections dialed by the same node the
        newer wins (that node dials only after it gave up the older one).
        """
        current = state.conn
        if state.dialing is conn:
            state.dialing = None
        if current is not None and current is not conn:
            keeper = min(self.node_id, state.id)
            if self._dialer(current) == keeper and self._dialer(conn) != keeper:
                log.debug(
                    "%s: keeping %r, closing the simultaneous %r", self.node_id, current, conn
                )
                conn.close()
                return
            log.debug("%s: %r replaces %r", self.node_id, conn, current)
            self.counters["connections_replaced"] += 1
            state.conn = None
            current.close()
        state.conn = conn
        state.attempts = 0
        state.warned = False
        if state.retry is not None:
            state.retry.cancel()
            state.retry = None
        self.counters["connections_made"] += 1
        log.debug(
            "%s: connected to %s as %r; it has our messages up to %d (incarnation %d)",
            self.node_id,
            state.id,
            conn,
            hello.received,
            hello.peer_incarnation,
        )
        loop = self._loop_or_raise()
        state.session.on_reconnect(hello.peer_incarnation, hello.received, loop.time())
        self._mark(state)

    def _dialer(self, conn: _Connection) -> str:
        return self.node_id if conn.dialed_to is not None else (conn.peer or "")

    def _conn_lost(self, conn: _Connection, exc: Exception | None, was: str) -> None:
        self._conns.discard(conn)
        self._settle(conn)
        if self._closed:
            return
        if was == _TLS and conn.dialed_to is None:
            self.counters["connections_refused"] += 1
            log.warning(
                "%s: refused a TLS connection from %s: closed during the handshake",
                self.node_id,
                conn.where(),
            )
        name = conn.peer or conn.dialed_to
        state = self._peers.get(name) if name is not None else None
        if state is None:
            return
        if state.dialing is conn:
            reason = conn.fail_reason or (
                "closed before the hello" if exc is None else _ssl_reason(exc)
            )
            self._dial_failed(state, conn, reason)
            return
        if state.conn is conn:
            state.conn = None
            self.counters["connections_lost"] += 1
            if exc is None:
                log.debug("%s: %s closed the connection", self.node_id, state.id)
            else:
                log.info("%s: connection to %s lost: %s", self.node_id, state.id, _ssl_reason(exc))
            self._schedule_retry(state)
            self._mark(state)

    # -- the pump --------------------------------------------------------------------------------
    def _mark_id(self, peer: str) -> None:
        state = self._peers.get(peer)
        if state is not None:
            self._mark(state)

    def _mark(self, state: _Peer) -> None:
        self._dirty.add(state)
        if self._flush_handle is None and not self._closed and self._loop is not None:
            self._flush_handle = self._loop.call_soon(self._pump)

    def _pump(self) -> None:
        """End of a loop iteration: deliver, write one batch per connection, re-arm timers."""
        self._flush_handle = None
        if self._closed:
            return
        loop = self._loop
        assert loop is not None
        now = loop.time()
        dirty, self._dirty = self._dirty, set()
        user = self.user
        for state in dirty:
            session = state.session
            while session.deliverable:
                room = user.link_room()
                messages = session.pop_deliveries(room)
                if not messages:
                    break
                incarnation = session.peer_incarnation
                for message in messages:
                    user.link_deliver(
                        state.id, incarnation, message.seq, message.clock, message.payload
                    )
            conn = state.conn
            if conn is not None:
                if not conn.write_paused:
                    datagrams = session.datagrams_to_send(now)
                    if datagrams:
                        self.counters["frames_out"] += len(datagrams)
                        data = encode_frames(datagrams)
                        if state.delay is None:
                            conn.write(data)
                        else:
                            assert state.delay_rng is not None
                            conn.write_later(
                                data, state.delay.sample(state.delay_rng.random()), now
                            )
            elif session.unacked:
                self._ensure_connection(state)
            events = session.events()
            if events:
                self._events(events)
            deadline = session.get_timer()
            if deadline is not None:
                armed = state.timer
                if armed is None or armed[0] > deadline:
                    self._arm(state, deadline)
            waiter = state.writable
            if waiter is not None and not waiter.done() and session.writable():
                waiter.set_result(None)
        idle = self._idle
        if idle is not None and not any(p.session.unacked for p in self._peers.values()):
            idle.set()
            self._idle = None

    def _events(self, events: list[SessionEvent]) -> None:
        user = self.user
        for event in events:
            if isinstance(event, Unreachable):
                user.link_event(PeerUnreachable(event.peer))
            elif isinstance(event, Reachable):
                user.link_event(PeerReachable(event.peer))
            elif isinstance(event, GaveUp):
                user.link_event(SendFailed(event.peer, self.incarnation, tuple(event.messages)))

    def _arm(self, state: _Peer, deadline: float) -> None:
        """Re-arm the session's one timer at ``deadline``, earlier than the armed one.

        A timer armed earlier than the session's deadline is left alone (the pump checks):
        ``handle_timer`` is safe to call early and the pump re-arms after it. This avoids a
        cancel and a new timer for every message when the deadline keeps moving later.
        """
        if state.timer is not None:
            state.timer[1].cancel()
        handle = self._loop_or_raise().call_at(deadline, self._on_timer, state)
        state.timer = (deadline, handle)

    def _on_timer(self, state: _Peer) -> None:
        state.timer = None
        if self._closed:
            return
        state.session.handle_timer(self._loop_or_raise().time())
        self._mark(state)

    # -- introspection ---------------------------------------------------------------------------
    def unacked(self, peer: str) -> int:
        """Messages to ``peer`` not yet acknowledged (sent or waiting to be sent)."""
        return self._peers[peer].session.unacked

    def connection(self, peer: str) -> ConnectionInfo | None:
        """The connection carrying ``peer``'s traffic now, or None while disconnected."""
        state = self._peers.get(peer)
        conn = state.conn if state is not None else None
        if conn is None or conn.transport is None:
            return None
        transport = conn.transport
        return ConnectionInfo(
            peer,
            self._dialer(conn),
            _address(transport.get_extra_info("sockname")),
            _address(transport.get_extra_info("peername")),
        )

    def stats(self) -> dict[str, Any]:
        """Connection and frame counters, plus the sessions' counters summed over peers."""
        totals: dict[str, int] = {}
        for state in self._peers.values():
            for key, value in state.session.stats.items():
                totals[key] = totals.get(key, 0) + value
        return {
            "kind": self.kind,
            **self.counters,
            "connected": sum(1 for p in self._peers.values() if p.conn is not None),
            "unauthenticated": self._unauthenticated,
            **totals,
        }
