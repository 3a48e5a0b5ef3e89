"""The one asyncio adapter of the failure detectors: heartbeats on UDP, one timer, events out.

:class:`FailureDetector` drives a core of :mod:`netclock.detectors.core` beside a Node's
link. Heartbeats are control datagrams (first byte
:data:`~netclock.links.udp.CONTROL_PREFIX`, then msgpack ``[sender, receiver, incarnation,
seq, sent_at]``): they carry no vector clock and never tick one, travel unordered and
unacknowledged, and go through the node's :class:`~netclock.faults.injector.FaultInjector`,
so the plan's loss, partitions and timing model reach them as they reach data.

- On a UDP link (``fairloss``, ``stubborn``, ``reliable``) they share the link's socket:
  the envelope decoder refuses their first byte, and only then is the datagram offered to
  the detector, so data costs nothing more.
- On the ``tls`` link they use a UDP socket of their own bound to the TLS port's number;
  a peer's heartbeats are expected from its TLS address's host and port. They are **not
  authenticated** (a process on the path can forge liveness); see docs/detectors.md.

A heartbeat that does not decode, names another receiver, comes from an unknown peer or
from another address than the peer's (the link's own rule, ``UdpEndpoint.from_peer``: a
peer known by name is expected from what the name resolved to; on ``sealed`` the seal
proves the sender instead) is counted and dropped (debug log). One
``loop.call_at`` timer serves every peer; no task runs per peer or per heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import msgpack

from netclock.detectors.core import (
    DETECTORS,
    DetectorEvent,
    HeartbeatDetector,
    Suspect,
    SynchronyViolated,
)
from netclock.detectors.options import DetectorOptions
from netclock.faults.plan import FaultPlan
from netclock.links.base import Address, Link, LinkUser
from netclock.links.pump import SessionPump
from netclock.links.udp import CONTROL_PREFIX, UdpEndpoint
from netclock.wire.envelope import Envelope

__all__ = ["FailureDetector"]

log = logging.getLogger(__name__)

_KEY = -1
"""First element of a heartbeat's fault key: heartbeats never share a fate with data."""
_MAX_HEARTBEAT = 512
_BACKLOG = 4096
"""Events kept for each :meth:`FailureDetector.events` reader that falls behind."""


class _HeartbeatSocket(UdpEndpoint):
    """The TLS link's heartbeat socket: a UDP endpoint that takes only control datagrams."""

    kind = "heartbeat"

    def on_envelope(self, envelope: Envelope) -> None:
        self.counters["misaddressed"] += 1


class FailureDetector:
    """Heartbeats to and from every peer of ``link``, judged by the core ``options.kind``.

    ``on_event`` hears every event of the core as it happens (the Node logs them). The
    detector watches the peers the link knows at :meth:`start` and those given to
    :meth:`add_peer` later. While it suspects a peer it makes a reliable link give up on the
    messages it holds for that peer (they come back as failures) at once and then once per
    period.
    """

    def __init__(
        self,
        node_id: str,
        incarnation: int,
        link: Link,
        options: DetectorOptions,
        *,
        faults: FaultPlan | None,
        fault_epoch: float | None,
        on_event: Callable[[DetectorEvent], None],
    ) -> None:
        self.node_id = node_id
        self.incarnation = incarnation
        self.options = options
        self._link = link
        self._plan = faults
        self._epoch = time.time() if fault_epoch is None else fault_epoch
        self._on_event = on_event
        self._give_up = link.give_up if isinstance(link, SessionPump) else None
        self._socket: UdpEndpoint | None = None
        self._own_socket = False
        """True on the tls link: the heartbeat socket is the detector's, not the link's."""
        self._core: HeartbeatDetector | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed = float("inf")
        self._seq = 0
        self._closed = False
        self._readers: list[_Reader] = []
        self.max_delay = 0.0
        """The largest heartbeat delay measured (seconds, wall clock of sender and receiver)."""
        self.max_gap = 0.0
        """The largest lateness of the heartbeat timer measured (a scheduling gap)."""
        self.counters: dict[str, int] = {
            "heartbeats_sent": 0,
            "heartbeats_received": 0,
            "bad_heartbeats": 0,
            "unknown_peer": 0,
            "misaddressed": 0,
            "forged": 0,
            "violations": 0,
        }

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the heartbeat path and start beating (the link must be started)."""
        loop = self._loop = asyncio.get_running_loop()
        link = self._link
        if isinstance(link, UdpEndpoint):
            self._socket = link
        else:
            host, port = link.address
            sock = _HeartbeatSocket(
                self.node_id,
                self.incarnation,
                cast(LinkUser, None),  # it delivers nothing
                bind=(host, port),
                faults=self._plan,
                fault_epoch=self._epoch,
            )
            await sock.start()
            for peer, address in link.peers.items():
                sock.add_peer(peer, address)
            self._socket = sock
            self._own_socket = True
        self._socket.control = self._received
        options = self.options
        bound = self._bound()
        self._core = DETECTORS[options.kind](
            self.node_id,
            link.peers,
            period=options.period,
            timeout=options.timeout_for(bound),
            now=loop.time(),
            grace=options.grace,
            grow=options.grow,
            bound=bound,
            step_bound=options.step_bound if bound is not None else None,
        )
        self._drain()
        self._arm()

    def add_peer(self, peer: str, address: Address) -> None:
        """Watch ``peer`` too (at ``address`` for a heartbeat socket of its own)."""
        if self._core is None or self._loop is None:
            return
        if self._socket is not None and self._own_socket:
            self._socket.add_peer(peer, address)
        self._core.add_peer(peer, self._loop.time(), self.options.grace)
        self._drain()
        self._arm()

    def partition(self, peer: str) -> None:
        """A live partition of the node: cut the heartbeat socket too (tls link only; a
        UDP link's socket is cut by the link itself)."""
        if self._own_socket and self._socket is not None and peer in self._socket.peers:
            self._socket.partition(peer)

    def heal(self, peer: str) -> None:
        """End the live partition with ``peer`` on the heartbeat socket (tls link only)."""
        if self._own_socket and self._socket is not None:
            self._socket.heal(peer)

    async def close(self) -> None:
        """Stop beating, release the timer (and the TLS heartbeat socket); idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._socket is not None:
            self._socket.control = None
            if self._own_socket:
                await self._socket.close()
        for reader in self._readers:
            reader.wake()

    # -- what the Node reads -------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """What the event log's ``init`` line says of the detector: its kind, period, the
        timing model's kind and the bound Δ it promises (from the start, or after GST)."""
        delay = self._plan.delay if self._plan is not None else None
        settled = None if delay is None else delay.settled().bound_at(delay.stable_from)
        return {
            "kind": self.options.kind,
            "period": self.options.period,
            "timing": "none" if delay is None else delay.kind,
            "delta": None if delay is None else delay.bound_at(0.0) or settled,
            "gst": None
            if delay is None or delay.stable_from == float("inf")
            else delay.stable_from,
        }

    @property
    def suspected(self) -> frozenset[str]:
        """The peers suspected now."""
        return frozenset() if self._core is None else self._core.suspected

    @property
    def leader(self) -> str | None:
        """Ω's leader now (None for P and ◇P, and before start)."""
        return None if self._core is None else self._core.leader

    @property
    def timeouts(self) -> dict[str, float]:
        """Each peer's current timeout (◇P and Ω raise it after a false suspicion)."""
        return {} if self._core is None else dict(self._core.timeouts)

    def events(self) -> AsyncIterator[DetectorEvent]:
        """Every event from this call on, in order, until the detector closes."""
        reader = _Reader(self)
        self._readers.append(reader)
        return reader

    def stats(self) -> dict[str, Any]:
        """Counters, the largest delay and gap measured, and the core's counters."""
        core = {} if self._core is None else dict(self._core.counters)
        return {
            **self.counters,
            **{f"core_{k}": v for k, v in core.items()},
            "max_delay": self.max_delay,
            "max_gap": self.max_gap,
        }

    # -- driving the core ------------------------------------------------------------------------
    def _bound(self) -> float | None:
        plan = self._plan
        if plan is None:
            return None
        return plan.delay.bound_at(time.time() - self._epoch)

    def _arm(self) -> None:
        assert self._core is not None
        assert self._loop is not None
        deadline = self._core.get_timer()
        if self._timer is not None:
            if self._armed <= deadline:
                return
            self._timer.cancel()
        self._armed = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._armed = float("inf")
        core, loop = self._core, self._loop
        if self._closed or core is None or loop is None:
            return
        now = loop.time()
        self.max_gap = max(self.max_gap, now - core.get_timer())
        bound = self._bound()
        core.bound = bound
        core.step_bound = self.options.step_bound if bound is not None else None
        core.handle_timer(now)
        beats = core.heartbeats_to_send()
        if beats:
            self._beat(beats)
            if self._give_up is not None:
                for peer in core.suspected:
                    self._give_up(peer)  # what was sent to it since: failures, not waiting
        self._drain()
        self._arm()

    def _beat(self, peers: tuple[str, ...]) -> None:
        sock = self._socket
        assert sock is not None
        self._seq += 1
        seq = self._seq
        sent_at = time.time()
        for peer in peers:
            if peer not in sock.peers:
                continue
            data = CONTROL_PREFIX + msgpack.packb(
                [self.node_id, peer, self.incarnation, seq, sent_at]
            )
            sock.transmit(peer, data, (_KEY, seq), 0)
            self.counters["heartbeats_sent"] += 1

    def _received(self, data: bytes, addr: Any) -> None:
        core, loop, sock = self._core, self._loop, self._socket
        if core is None or loop is None or sock is None or self._closed:
            return
        try:
            if len(data) > _MAX_HEARTBEAT:
                raise ValueError("too long")
            fields = msgpack.unpackb(data[1:], raw=False, strict_map_key=True)
            sender, receiver, _incarnation, _seq, sent_at = fields
            if not (
                isinstance(sender, str) and isinstance(receiver, str) and isinstance(sent_at, float)
            ):
                raise ValueError("bad field types")
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            self.counters["bad_heartbeats"] += 1
            log.debug("%s: dropped heartbeat from %s: %s", self.node_id, addr, exc)
            return
        if receiver != self.node_id:
            self.counters["misaddressed"] += 1
            log.debug("%s: dropped heartbeat for %r", self.node_id, receiver)
            return
        known = sock.peers.get(sender)
        if known is None:
            self.counters["unknown_peer"] += 1
            log.debug("%s: dropped heartbeat from unknown peer %r", self.node_id, sender)
            return
        if not sock.from_peer(sender, addr):
            self.counters["forged"] += 1
            log.debug("%s: dropped heartbeat for %r from %s", self.node_id, sender, addr)
            return
        if not sock.admits(sender):
            return
        delay = time.time() - sent_at
        self.max_delay = max(self.max_delay, delay)
        self.counters["heartbeats_received"] += 1
        if core.on_heartbeat(sender, loop.time(), delay):
            self._drain()
            self._arm()

    def _drain(self) -> None:
        assert self._core is not None
        events = self._core.events()
        if not events:
            return
        for event in events:
            if isinstance(event, Suspect) and self._give_up is not None:
                self._give_up(event.peer)
            elif isinstance(event, SynchronyViolated):
                self.counters["violations"] += 1
                log.info(
                    "%s: synchrony assumption violated by the host: %s %.3f s > %.3f s",
                    self.node_id,
                    event.what,
                    event.seen,
                    event.bound,
                )
            self._on_event(event)
            for reader in self._readers:
                reader.backlog.append(event)
                reader.wake()


class _Reader:
    """One reader of :meth:`FailureDetector.events`: its own backlog (the newest
    ``_BACKLOG`` events when it falls behind), its own wake-up."""

    def __init__(self, detector: FailureDetector) -> None:
        self.backlog: deque[DetectorEvent] = deque(maxlen=_BACKLOG)
        self._detector = detector
        self._waiter: asyncio.Future[None] | None = None

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __aiter__(self) -> _Reader:
        return self

    async def __anext__(self) -> DetectorEvent:
        while not self.backlog:
            if self._detector._closed:
                with contextlib.suppress(ValueError):
                    self._detector._readers.remove(self)
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self.backlog.popleft()
