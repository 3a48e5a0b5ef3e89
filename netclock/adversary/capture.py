"""A real packet capture on the loopback interface: what an eavesdropper on the wire reads.

:class:`LoopbackCapture` opens a raw ``AF_PACKET`` socket on ``lo`` (Linux, root or
``CAP_NET_RAW``: :func:`capture_unavailable` says what is missing) and keeps every UDP and
TCP packet to or from the ports it watches. Nothing is installed and no tool is run: the
kernel hands over each frame and :func:`parse_frame` reads its IP and UDP/TCP headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass
from types import TracebackType

__all__ = ["LoopbackCapture", "Packet", "capture_unavailable", "parse_frame"]

_ETH_P_ALL = 0x0003
_PACKET_OUTGOING = 4
"""On ``lo`` each packet is seen twice, outgoing and incoming: the outgoing copy is skipped."""


@dataclass(frozen=True, slots=True)
class Packet:
    """One UDP datagram or TCP segment seen on the wire, with its payload bytes."""

    proto: str
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def parse_frame(frame: bytes) -> Packet | None:
    """The UDP or TCP packet in an Ethernet frame as ``lo`` delivers it (None: anything else)."""
    if len(frame) < 14:
        return None
    ethertype = int.from_bytes(frame[12:14], "big")
    ip = frame[14:]
    if ethertype == 0x0800 and len(ip) >= 20 and ip[0] >> 4 == 4:
        header = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        proto, src, dst = ip[9], socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        body = ip[header:total]
    elif ethertype == 0x86DD and len(ip) >= 40:
        proto = ip[6]
        src = socket.inet_ntop(socket.AF_INET6, ip[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, ip[24:40])
        body = ip[40 : 40 + int.from_bytes(ip[4:6], "big")]
    else:
        return None
    if proto == 17 and len(body) >= 8:
        sport, dport, length = struct.unpack_from(">HHH", body)
        return Packet("udp", (src, sport), (dst, dport), bytes(body[8:length]))
    if proto == 6 and len(body) >= 20:
        sport, dport = struct.unpack_from(">HH", body)
        offset = (body[12] >> 4) * 4
        return Packet("tcp", (src, sport), (dst, dport), bytes(body[offset:]))
    return None


def capture_unavailable() -> str | None:
    """Why a loopback capture cannot run here, in one sentence (None: it can)."""
    if not sys.platform.startswith("linux"):
        return "a loopback capture needs Linux (a raw AF_PACKET socket)"
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
    except PermissionError:
        return "a loopback capture needs root or CAP_NET_RAW (a raw AF_PACKET socket); run as root"
    except OSError as exc:
        return f"a raw AF_PACKET socket cannot be opened here: {exc.strerror}"
    sock.close()
    return None


class LoopbackCapture:
    """Captures the packets on ``lo`` to or from ``ports`` while open (``async with``).

    :attr:`packets` holds them in arrival order; :meth:`wait_for` waits for one that a
    predicate accepts. Raises ``PermissionError`` without root (see :func:`capture_unavailable`).
    """

    def __init__(self, ports: Collection[int]) -> None:
        self.ports = frozenset(ports)
        self.packets: list[Packet] = []
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived = asyncio.Event()

    async def __aenter__(self) -> LoopbackCapture:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
        sock.bind(("lo", 0))
        sock.setblocking(False)
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._read)
        return self

    def _read(self) -> None:
        assert self._sock is not None
        while True:
            try:
                frame, where = self._sock.recvfrom(65_600)
            except (BlockingIOError, InterruptedError):
                return
            if where[2] == _PACKET_OUTGOING:
                continue
            packet = parse_frame(frame)
            if packet is not None and (packet.src[1] in self.ports or packet.dst[1] in self.ports):
                self.packets.append(packet)
                self._arrived.set()

    async def wait_for(self, accept: Callable[[Packet], bool], timeout: float) -> Packet:
        """The first captured packet ``accept`` takes; raises TimeoutError after ``timeout``."""
        async with asyncio.timeout(timeout):
            seen = 0
            while True:
                for packet in self.packets[seen:]:
                    if accept(packet):
                        return packet
                seen = len(self.packets)
                self._arrived.clear()
                await self._arrived.wait()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sock is not None:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
