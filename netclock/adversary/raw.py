"""Raw sockets for forged bytes: a UDP socket of the adversary's own, a spoofing raw IP
socket, and a TLS connection made with the adversary's own certificate. Nothing here
checks what it sends.

A UDP link drops a datagram for a known peer that comes from another address than the
peer's, so :class:`RawUdp` (an off-path forger on a port of its own) can no longer speak
for anyone. :class:`SpoofingUdp` writes the IP header itself, with any source address
(IPv4, root or ``CAP_NET_RAW``): that attacker still speaks for anyone on an
unauthenticated link. A TLS link reads the sender from the certificate: :class:`RawTls`
can only present the adversary's own, so whatever the frames claim, the receiver knows
who is talking.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import struct
from types import TracebackType

from netclock.links.base import Address
from netclock.links.tls.contexts import client_context

__all__ = ["RawTls", "RawUdp", "SpoofingUdp", "spoofing_unavailable"]


class RawUdp:
    """A bound UDP socket that sends whatever bytes it is given (``async with RawUdp()``)."""

    def __init__(self, bind: Address = ("127.0.0.1", 0)) -> None:
        family = socket.AF_INET6 if ":" in bind[0] else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._sock.bind(bind)
        self.sent = 0

    @property
    def address(self) -> Address:
        host, port = self._sock.getsockname()[:2]
        return (host, port)

    def send(self, data: bytes, address: Address) -> None:
        """One datagram to ``address`` (a full socket buffer drops it, as UDP may)."""
        with contextlib.suppress(BlockingIOError):
            self._sock.sendto(data, address)
            self.sent += 1

    def close(self) -> None:
        self._sock.close()

    async def __aenter__(self) -> RawUdp:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def spoofing_unavailable() -> str | None:
    """Why a spoofed datagram cannot be sent here, in one sentence (None: it can)."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError:
        return "spoofing a source address needs root or CAP_NET_RAW (a raw IP socket)"
    except OSError as exc:
        return f"a raw IP socket cannot be opened here: {exc.strerror}"
    sock.close()
    return None


class SpoofingUdp:
    """Sends UDP datagrams over IPv4 with any source address (a raw socket; root).

    What an attacker who can put packets on the path can do: the receiver's socket sees
    the datagram as coming from ``source``. It cannot read the answers unless it also
    sees the path (:class:`~netclock.adversary.capture.LoopbackCapture` on ``lo``).
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sent = 0

    def send(self, data: bytes, source: Address, address: Address) -> None:
        """One datagram to ``address`` whose IP and UDP headers say it came from ``source``."""
        udp = struct.pack("!HHHH", source[1], address[1], 8 + len(data), 0) + data
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(udp),
            0,
            0,
            64,
            socket.IPPROTO_UDP,
            0,  # the kernel fills in the checksum
            socket.inet_aton(source[0]),
            socket.inet_aton(address[0]),
        )
        self._sock.sendto(ip + udp, (address[0], 0))
        self.sent += 1

    def close(self) -> None:
        self._sock.close()


class RawTls:
    """A TLS 1.3 connection to ``address`` presenting ``node``'s certificate from ``cert_dir``.

    :meth:`write` sends bytes as they are (use :func:`~netclock.adversary.forge.frames`);
    :meth:`refused` waits until the peer closes the connection (or the handshake fails) and
    says whether it did within ``timeout``.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, address: Address, cert_dir: str | os.PathLike[str], node: str) -> RawTls:
        """Dial ``address`` with ``node``'s certificate from ``cert_dir``."""
        return await cls.dial(address, client_context(cert_dir, node))

    @classmethod
    async def dial(cls, address: Address, context: ssl.SSLContext) -> RawTls:
        """Dial ``address`` with ``context`` (a tls Node's ``node.link.client_context``)."""
        reader, writer = await asyncio.open_connection(address[0], address[1], ssl=context)
        return cls(reader, writer)

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    async def refused(self, timeout: float) -> bool:
        """True once the peer has closed the connection; False if it is still open after
        ``timeout`` seconds. What the peer sends meanwhile is read and discarded."""
        try:
            async with asyncio.timeout(timeout):
                while await self._reader.read(65536):
                    pass
        except TimeoutError:
            return False
        except (OSError, ssl.SSLError):
            pass
        return True

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self._writer.wait_closed()

    async def __aenter__(self) -> RawTls:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
