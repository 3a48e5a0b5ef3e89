"""Raw sockets for forged bytes: a UDP socket of the adversary's own, and a TLS connection
made with the adversary's own certificate. Nothing here checks what it sends.

A UDP link takes an envelope's sender field at its word, from any source address, so
:class:`RawUdp` is all an impersonator or a replayer needs there. A TLS link reads the
sender from the certificate: :class:`RawTls` can only present the adversary's own, so
whatever the frames claim, the receiver knows who is talking.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from types import TracebackType

from netclock.links.base import Address
from netclock.links.tls.contexts import client_context

__all__ = ["RawTls", "RawUdp"]


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
