"""The UDP plumbing every datagram link shares: binding, peers, faults, bad input."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, cast

from netclock.errors import ConfigError, LinkClosed, UsageError, WireError
from netclock.faults.injector import FaultInjector
from netclock.faults.plan import FaultPlan
from netclock.links.base import Address, InputRefused, LinkUser, os_reason, unknown_peer
from netclock.links.resolve import needs_lookup
from netclock.wire.envelope import DEFAULT_LIMITS, Decoder, Envelope, Limits

log = logging.getLogger(__name__)


CONTROL_PREFIX = b"\xc1"
"""The first byte of a control datagram (a heartbeat): a byte msgpack never uses, so no
envelope starts with it and the envelope decoder refuses it before anything else."""


class UdpEndpoint(asyncio.DatagramProtocol):
    """One bound UDP socket of a node: decodes datagrams and applies its faults.

    Subclasses implement :meth:`on_envelope`. Undecodable datagrams, datagrams for
    another node, datagrams from unknown peers and datagrams for a known peer that come
    from another address than the peer's (``wrong_source``: a stale process of an earlier
    run on the same port, a forger on another port) are counted and dropped here.

    The node's :class:`FaultInjector` decides every datagram's fate, the plan's partitions
    and live ones alike (see :meth:`partition`). While it is quiet ``_faults`` is None and
    a send or receipt costs one attribute check; fault statistics are in
    :meth:`fault_stats`, and ``counters["partitioned"]`` counts datagrams received from a
    peer this node is cut off from.
    """

    check_source = True
    """Drop a known peer's datagram that comes from another address (an unauthenticated
    link's only defence against off-path forgers; the sealed link authenticates by key)."""

    kind = "udp"

    def __init__(
        self,
        node_id: str,
        incarnation: int,
        user: LinkUser,
        *,
        bind: Address = ("127.0.0.1", 0),
        faults: FaultPlan | None = None,
        fault_epoch: float | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.node_id = node_id
        self.incarnation = incarnation
        self.user = user
        self._bind = bind
        self._decoder = Decoder(limits)
        self._decoder.remember(node_id)
        self._decode = self._decoder.decode
        self._transport: asyncio.DatagramTransport | None = None
        self._peers: dict[str, Address] = {}
        self._sources: dict[str, frozenset[tuple[str, int]]] = {}
        """Per peer, the source addresses its datagrams may come from (its address,
        resolved)."""
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._injector = FaultInjector(
            faults, node_id, time.time() if fault_epoch is None else fault_epoch
        )
        self._faults = None if self._injector.quiet else self._injector
        """The injector while it can do something, else None: the fast path's one check."""
        self.control: Callable[[bytes, Any], None] | None = None
        """Who takes the control datagrams (:data:`CONTROL_PREFIX`): a failure detector."""
        self.counters: dict[str, int] = {
            "datagrams_sent": 0,
            "datagrams_received": 0,
            "bad_datagrams": 0,
            "misaddressed": 0,
            "unknown_peer": 0,
            "wrong_source": 0,
            "send_errors": 0,
            "partitioned": 0,
            "receive_omitted": 0,
        }

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind the socket (port 0 picks a free one; read it back from :attr:`address`)."""
        self._loop = asyncio.get_running_loop()
        host, port = self._bind
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            await self._loop.create_datagram_endpoint(
                lambda: self, local_addr=(host, port), family=family
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot bind UDP {host}:{port} for node {self.node_id!r}: {os_reason(exc)}; "
                "choose another address or port 0"
            ) from exc

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)
                except OSError:
                    log.debug("could not enlarge socket buffer %s", opt)

    @property
    def address(self) -> Address:
        if self._transport is None:
            raise UsageError("link is not started; call start() first")
        sockname = self._transport.get_extra_info("sockname")
        return (sockname[0], sockname[1])

    def add_peer(self, peer: str, address: Address) -> None:
        self._decoder.remember(peer)
        self._peers[peer] = (address[0], int(address[1]))
        self._sources[peer] = source_addresses(address[0], int(address[1]))

    @property
    def peers(self) -> dict[str, Address]:
        return self._peers

    def remove_peer(self, peer: str) -> None:
        """Forget ``peer``: its datagrams are refused as from an unknown peer from now on."""
        if peer not in self._peers:
            raise unknown_peer(peer)
        del self._peers[peer]
        del self._sources[peer]
        self.heal(peer)

    async def close(self) -> None:
        if self._closed:
            return
        self.before_close()
        self._closed = True
        self.on_close()
        if self._transport is not None:
            self._transport.close()

    def before_close(self) -> None:
        """Hook for subclasses: last datagrams (such as owed acks), sent while still open."""

    def on_close(self) -> None:
        """Hook for subclasses: cancel timers before the socket closes."""

    # -- sending -----------------------------------------------------------------------------
    def transmit(self, peer: str, data: bytes, key: tuple[int, ...], attempt: int) -> None:
        """Send one datagram to ``peer`` through the fault plan."""
        transport = self._transport
        if transport is None or self._closed:
            return
        address = self._peers[peer]
        injector = self._faults
        if injector is None:
            self.counters["datagrams_sent"] += 1
            transport.sendto(data, address)
            return
        assert self._loop is not None
        fate = injector.decide(peer, key, attempt, time.time())
        for delay in fate.delays:
            if delay <= 0:
                self.counters["datagrams_sent"] += 1
                transport.sendto(data, address)
            else:
                self._loop.call_later(delay, self._send_later, data, address)

    def _send_later(self, data: bytes, address: Address) -> None:
        if self._transport is not None and not self._closed:
            self.counters["datagrams_sent"] += 1
            self._transport.sendto(data, address)

    # -- receiving ------------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.counters["datagrams_received"] += 1
        try:
            envelope = self._decode(data)
        except WireError as exc:
            control = self.control
            if control is not None and data[:1] == CONTROL_PREFIX:
                control(data, addr)  # a heartbeat: never an envelope, never in the hot path
                return
            self.counters["bad_datagrams"] += 1
            log.debug("%s: dropped datagram from %s: %s", self.node_id, addr, exc)
            self.user.link_event(InputRefused(_where(addr), f"malformed: {exc}"))
            return
        if envelope.receiver != self.node_id:
            self.counters["misaddressed"] += 1
            log.debug("%s: dropped datagram for %r", self.node_id, envelope.receiver)
            self.user.link_event(
                InputRefused(envelope.sender, f"addressed to {envelope.receiver!r}")
            )
            return
        sources = self._sources.get(envelope.sender)
        if sources is None:
            self.counters["unknown_peer"] += 1
            log.debug("%s: dropped datagram from unknown peer %r", self.node_id, envelope.sender)
            self.user.link_event(InputRefused(envelope.sender, "not a known peer"))
            return
        if self.check_source and addr not in sources and (addr[0], addr[1]) not in sources:
            self.counters["wrong_source"] += 1
            where = _where(addr)
            log.debug(
                "%s: dropped datagram from %r sent by %s", self.node_id, envelope.sender, where
            )
            self.user.link_event(
                InputRefused(envelope.sender, f"came from {where}, not from the peer's address")
            )
            return
        faults = self._faults
        if (
            faults is not None
            and faults.live_cuts
            and not faults.admits(envelope.sender, time.time())
        ):
            self.counters["partitioned"] += 1
            return
        if faults is not None and faults.omits_receive(envelope.sender):
            self.counters["receive_omitted"] += 1
            return
        self.on_envelope(envelope)

    def check_open(self) -> None:
        """Raise UsageError before :meth:`start` and LinkClosed after :meth:`close`."""
        if self._closed:
            raise LinkClosed(f"the {self.kind} link of {self.node_id!r} is closed")
        if self._transport is None:
            raise UsageError("link is not started; call start() first")

    def from_peer(self, peer: str, addr: Any) -> bool:
        """True when a datagram from ``addr`` may come from known ``peer``: its source is one
        of the peer's addresses, or this endpoint authenticates datagrams by key
        (``check_source`` False). The rule :meth:`datagram_received` applies (inline there)
        and a failure detector applies to heartbeats."""
        sources = self._sources.get(peer)
        return sources is not None and (not self.check_source or (addr[0], addr[1]) in sources)

    def admits(self, peer: str) -> bool:
        """False while a live partition cuts this node off from ``peer``."""
        faults = self._faults
        return faults is None or not faults.live_cuts or faults.admits(peer, time.time())

    def partition(self, peer: str) -> None:
        """Drop every datagram to and from ``peer`` until :meth:`heal` (a live partition)."""
        if peer not in self._peers:
            raise unknown_peer(peer)
        self._injector.partition(peer)
        self._faults = self._injector

    def heal(self, peer: str) -> None:
        """End a partition made by :meth:`partition`; the plan's partitions stay."""
        self._injector.heal(peer)
        self._faults = None if self._injector.quiet else self._injector

    def on_envelope(self, envelope: Envelope) -> None:
        """Handle one decoded envelope addressed to this node from a known peer."""
        raise NotImplementedError

    def error_received(self, exc: Exception) -> None:
        self.counters["send_errors"] += 1
        log.debug("%s: socket error: %s", self.node_id, exc)

    def fault_stats(self) -> dict[str, dict[str, int]]:
        """Per-destination fault statistics (empty while nothing was ever cut or faulted)."""
        return self._injector.stats_dict()


_UNSPECIFIED = {"0.0.0.0": ("127.0.0.1",), "::": ("::1",), "": ("127.0.0.1",)}
"""A peer given by a wildcard address is reached (and answers) on loopback."""


_LOCALHOST = ("127.0.0.1", "::1")


def source_addresses(host: str, port: int) -> frozenset[tuple[str, int]]:
    """Every ``(ip, port)`` a datagram from the peer at ``host:port`` may carry as its
    source: ``host`` itself and the addresses it stands for. An IP address, a wildcard and
    ``localhost`` need no lookup; another name is resolved here, blocking (a Node resolves
    names before, without blocking its loop: links/resolve.py)."""
    hosts = {host, *_UNSPECIFIED.get(host, ())}
    if host == "localhost":
        hosts.update(_LOCALHOST)
    elif needs_lookup(host):
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError):
            infos = []
        for info in infos:
            hosts.add(str(info[4][0]))
    return frozenset((h, port) for h in hosts)


def _where(addr: Any) -> str:
    """A datagram's source as ``host:port`` (what a refusal names when no id is readable)."""
    try:
        return f"{addr[0]}:{addr[1]}"
    except (TypeError, IndexError):
        return str(addr)
