"""One TCP connection carrying TLS 1.3 through memory BIOs: handshake, then frames.

Driving TLS here (rather than with asyncio's ``ssl=`` transports) works the same under
asyncio and uvloop, and lets the link see, count and log every failed handshake with its
reason. The byte path: ``data_received`` -> TLS decrypt -> :class:`FrameReader` -> the
owner's :meth:`ConnectionOwner.frame_received`; :meth:`TlsConnection.write` -> TLS encrypt
-> one ``transport.write``. The connection decides nothing about who may talk: it reports
to its owner (the link) through :class:`ConnectionOwner`, and keeps the connection's
:class:`~netclock.links.tls.handshake.Handshake` record for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import struct
from collections.abc import Callable
from typing import Any, Protocol, cast

from netclock.links.base import Address
from netclock.links.tls.faults import DelayedWrites
from netclock.links.tls.handshake import ConnState, Handshake
from netclock.wire.framing import FrameReader, FrameTooLarge

__all__ = ["ConnectionOwner", "TlsConnection", "address_of", "describe_error"]

log = logging.getLogger(__name__)

_LINGER_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER on with a zero timeout: closing the socket sends a TCP RST."""
_READ_SIZE = 256 * 1024
"""Most plaintext bytes taken from TLS in one read call."""

_TLS = ConnState.TLS
_HELLO = ConnState.HELLO
_UP = ConnState.UP
_CLOSED = ConnState.CLOSED


def describe_error(exc: BaseException) -> str:
    """A short, secret-free description of why a connection or its TLS handshake failed."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate rejected: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc.__class__.__name__}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


def address_of(value: Any) -> Address:
    """A socket address as ``(host, port)`` (``("?", 0)`` when unknown)."""
    if isinstance(value, tuple | list) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return ("?", 0)


class ConnectionOwner(Protocol):
    """What a :class:`TlsConnection` reports, and to whom: the link that owns it.

    Every call comes from the event loop inside the connection's callbacks; the owner may
    close or abort the connection from any of them.
    """

    node_id: str

    def connection_opened(self, conn: TlsConnection) -> bool:
        """TCP is up. False: the owner refused (and aborted) it; no handshake starts."""

    def handshake_done(self, conn: TlsConnection) -> None:
        """The TLS handshake completed; the peer's certificate is verified.

        Our last handshake flight is not sent yet: the owner's next :meth:`TlsConnection.write`
        carries it along; an owner that aborts instead calls :meth:`TlsConnection.flush_tls`
        first, so that the peer still completes its side.
        """

    def handshake_failed(self, conn: TlsConnection, reason: str) -> None:
        """The TLS handshake failed (the alert, if any, was sent)."""

    def tls_failed(self, conn: TlsConnection, reason: str) -> None:
        """TLS failed after the handshake (with TLS 1.3 also how a refused client learns it)."""

    def frame_received(self, conn: TlsConnection, frame: bytes) -> None:
        """One complete frame arrived."""

    def frame_too_large(self, conn: TlsConnection, exc: FrameTooLarge) -> None:
        """A frame header announced more than the limit (the connection is aborted next)."""

    def writable_again(self, conn: TlsConnection) -> None:
        """The socket's buffer drained after :attr:`TlsConnection.write_paused`."""

    def connection_lost(self, conn: TlsConnection, exc: Exception | None, was: ConnState) -> None:
        """The connection ended; ``was`` is its state just before."""


class TlsConnection(asyncio.Protocol):
    """One TCP connection with TLS 1.3 driven through memory BIOs (see the module docstring).

    ``hs`` is its connection-start record (state, peer, deadline); the owner and the
    :class:`~netclock.links.tls.handshake.Admission` rules update it.
    """

    def __init__(
        self,
        owner: ConnectionOwner,
        hs: Handshake,
        context: ssl.SSLContext,
        *,
        remote: Address,
        max_frame: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.owner = owner
        self.hs = hs
        self.remote = remote
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=hs.dialed_to is None)
        self.reader = FrameReader(max_frame)
        self.timer: asyncio.TimerHandle | None = None
        """The timer of the handshake's current deadline."""
        self.write_paused = False
        self.fail_reason = ""
        """Why our dial failed, when the connection knows better than "closed"."""
        self.lost: asyncio.Future[None] = loop.create_future()
        self.delayed: DelayedWrites | None = None
        """Writes held back by a fault plan's delay model, if any."""
        self.held = False
        """Bytes written with ``hold`` wait in the BIO until the next flush."""

    def __repr__(self) -> str:
        hs = self.hs
        who = hs.peer or hs.dialed_to or "?"
        return f"<connection #{hs.serial} {who} {self.remote[0]}:{self.remote[1]} {hs.state.value}>"

    @property
    def state(self) -> ConnState:
        return self.hs.state

    def where(self) -> str:
        """The remote address as ``host:port`` for log lines."""
        return f"{self.remote[0]}:{self.remote[1]}"

    # -- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peername = transport.get_extra_info("peername")
        if peername is not None:
            self.remote = address_of(peername)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                log.debug("could not set TCP_NODELAY on %r", self)
        if not self.owner.connection_opened(self):
            return
        try:
            self._handshake()
        except Exception as exc:  # nothing from the network may escape the event loop
            self._unexpected(exc)

    def data_received(self, data: bytes) -> None:
        state = self.hs.state
        if state is _CLOSED:
            return
        try:
            self.incoming.write(data)
            if state is _TLS:
                self.hs.active = self.loop.time()  # not idle: evicted after the silent ones
                self._handshake()
            else:
                self._read()
        except Exception as exc:  # nothing from the network may escape the event loop
            self._unexpected(exc)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost.done():
            return
        was = self.hs.state
        self.hs.state = _CLOSED
        self._cancel_timers()
        self.lost.set_result(None)
        self.owner.connection_lost(self, exc, was)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.hs.state is _UP:
            self.owner.writable_again(self)

    def _unexpected(self, exc: Exception) -> None:
        log.debug("%s: dropping %r after an unexpected error: %r", self.owner.node_id, self, exc)
        self.abort()

    # -- TLS ---------------------------------------------------------------------------------
    def flush_tls(self) -> None:
        """Hand what TLS has to send (a handshake flight, an alert, held bytes) to the socket."""
        self.held = False
        if self.outgoing.pending and self.transport is not None:
            self.transport.write(self.outgoing.read())

    def _handshake(self) -> None:
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self.flush_tls()
            return
        except (ssl.SSLError, OSError) as exc:
            self.flush_tls()  # the alert tells the peer why
            self.owner.handshake_failed(self, describe_error(exc))
            return
        # Our last flight (a client's Certificate ... Finished) waits in the BIO: the owner's
        # first write, the hello, takes it along in one segment, and the peer reads both in
        # one wake-up. An owner that refuses calls flush_tls first. A server holds its hello
        # (write(hold=True)) while it reads what came with the client's flight: when that was the
        # client's hello, the connection is up and the hello leaves with the first segment.
        self.owner.handshake_done(self)
        if self.hs.state is not _CLOSED:
            self._read()
        if self.hs.state is _HELLO:
            self.flush_tls()

    def _read(self) -> None:
        """Decrypt what arrived and hand complete frames to the owner."""
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
                self.flush_tls()
                self.owner.tls_failed(self, describe_error(exc))
                return
            if not chunk:
                eof = True
                break
            chunks.append(chunk)
            if not self.incoming.pending and not self.tls.pending():
                break  # all decrypted: spare the exception the next read would raise
        if self.outgoing.pending and not self.held:  # TLS 1.3 may answer what it read
            self.flush_tls()  # (a key update); held bytes leave soon, and this answer with them
        if chunks:
            try:
                frames = self.reader.feed(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            except FrameTooLarge as exc:
                self.owner.frame_too_large(self, exc)
                self.abort()
                return
            owner = self.owner
            hs = self.hs
            for frame in frames:
                owner.frame_received(self, frame)
                if hs.state is _CLOSED:
                    return
        if eof:
            self.close()

    # -- actions -----------------------------------------------------------------------------
    def arm(self, deadline: float | None, callback: Callable[[TlsConnection], None]) -> None:
        """Run ``callback(self)`` at loop time ``deadline`` (None: no timer); one at a time."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if deadline is not None:
            self.timer = self.loop.call_at(deadline, callback, self)

    def _cancel_timers(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.delayed is not None:
            self.delayed.cancel()

    def write(self, data: bytes, *, hold: bool = False) -> None:
        """Encrypt ``data`` and hand it, after what TLS still holds, to the socket in one
        write; ``hold``: keep it for the next write or :meth:`flush_tls`, so that it shares
        a TCP segment with what follows."""
        transport = self.transport
        if transport is None or self.hs.state is _CLOSED:
            return
        try:
            self.tls.write(data)
        except ssl.SSLError as exc:
            log.debug("%s: cannot write to %r: %s", self.owner.node_id, self, exc)
            self.abort()
            return
        if hold:
            self.held = True
        else:
            transport.write(self.outgoing.read())

    def flush_soon(self) -> None:
        """After ``write(..., hold=True)``: :meth:`flush_tls` once the callbacks already due in this
        loop iteration ran (a pump scheduled before this call writes first, and takes the
        held bytes along)."""
        if self.held:
            self.loop.call_soon(self._flush_if_open)

    def _flush_if_open(self) -> None:
        if self.hs.state is not _CLOSED:
            self.flush_tls()

    def forget(self) -> None:
        """The connection never opened (its dial failed or was cancelled): it is over."""
        self.hs.state = _CLOSED
        self._cancel_timers()
        if not self.lost.done():
            self.lost.set_result(None)

    def close(self) -> None:
        """Close gracefully: TLS close_notify after what was written, then TCP FIN."""
        hs = self.hs
        if hs.state is _CLOSED:
            return
        was = hs.state
        hs.state = _CLOSED
        self._cancel_timers()
        if self.transport is None:
            return
        if was is not _TLS:
            with contextlib.suppress(ssl.SSLError, OSError):
                self.tls.unwrap()  # sends close_notify; we do not wait for the peer's
            self.flush_tls()
        self.transport.close()

    def abort(self, *, rst: bool = False) -> None:
        """Drop the connection now, discarding unsent data (``rst``: send a TCP RST); held
        bytes (``write(..., hold=True)``) leave first, as they would have without the hold."""
        if self.held:
            self.flush_tls()
        self.hs.state = _CLOSED
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
