"""Fair-loss link over UDP: one datagram per message, the sender's clock in each.

Textbook FLL1 fair-loss, FLL2 finite duplication, FLL3 no creation. Messages may be
lost, duplicated or reordered (by the network or a :class:`~netclock.faults.plan.FaultPlan`);
nothing is retransmitted. A full inbox drops the message, as a lossy link may.

Without an event log a message leaves inside ``send``. With one (the owner's
``link_before_send`` set) messages are held until the end of the loop iteration and leave
right after the log is written, so a peer never holds a clock the sender's log lacks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any

from netclock.clock import VectorClock
from netclock.errors import MessageTooLarge
from netclock.links.base import Address, unknown_peer
from netclock.links.udp import UdpEndpoint
from netclock.wire.envelope import (
    DEFAULT_LIMITS,
    Data,
    Envelope,
    data_prefix,
    encode_data_prefixed,
)

log = logging.getLogger(__name__)


_MAX_DATAGRAM = DEFAULT_LIMITS.max_bytes
"""The largest datagram a receiver accepts (what UDP over IPv4 carries)."""


class FairLossLink(UdpEndpoint):
    """A fair-loss link: ``send`` is one datagram, delivery is whatever arrives."""

    kind = "fairloss"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_seq: dict[str, int] = {}
        self._prefixes: dict[str, bytes] = {}
        """Per peer, the packed start of every DATA envelope to it."""
        self.counters.update(sent=0, delivered=0, inbox_full=0, not_data=0)
        self._before_send = self.user.link_before_send
        self._held: list[tuple[str, bytes, int]] = []
        """``(peer, datagram, seq)`` sent in this loop iteration, waiting for the log write."""
        if self._before_send is not None:
            self.send = self._send_logged  # type: ignore[method-assign]

    def add_peer(self, peer: str, address: Address) -> None:
        super().add_peer(peer, address)
        self._prefixes[peer] = data_prefix(self.node_id, self.incarnation, peer)

    def remove_peer(self, peer: str) -> None:
        """Forget ``peer`` (its next message number stays: ids never repeat if re-added)."""
        super().remove_peer(peer)
        del self._prefixes[peer]
        self._held = [held for held in self._held if held[0] != peer]

    def send(self, peer: str, clock: VectorClock, payload: Any) -> int:
        seq, data = self.stamp(peer, clock, payload)
        transport = self._transport
        if self._faults is None and transport is not None:
            # UdpEndpoint.transmit's path without faults or partitions, without the call.
            if not self._closed:
                self.counters["datagrams_sent"] += 1
                transport.sendto(data, self._peers[peer])
        else:
            self.transmit(peer, data, (seq,), 0)
        return seq

    def _send_logged(self, peer: str, clock: VectorClock, payload: Any) -> int:
        """:meth:`send` while an event log is kept: the datagram waits for the log write."""
        seq, data = self.stamp(peer, clock, payload)
        self._hold(peer, data, seq)
        return seq

    def _hold(self, peer: str, data: bytes, seq: int) -> None:
        """Send ``data`` at the end of this loop iteration, after the event log is written."""
        held = self._held
        held.append((peer, data, seq))
        if len(held) == 1 and self._loop is not None:
            self._loop.call_soon(self._release)

    def _release(self) -> None:
        """Write the event log, then send what :meth:`_hold` kept, in order."""
        held, self._held = self._held, []
        if held and self._before_send is not None:
            self._before_send()
            for peer, data, seq in held:
                self.transmit(peer, data, (seq,), 0)

    def before_close(self) -> None:
        self._release()

    def stamp(self, peer: str, clock: VectorClock, payload: Any) -> tuple[int, bytes]:
        """Give the next message to ``peer`` its sequence number and encode it.

        Raises UsageError for a peer never added or before :meth:`start`, or for a message
        that cannot fit one datagram (it could never be delivered), and LinkClosed after
        :meth:`close` (nothing is counted then), as the reliable links do.
        """
        if self._closed or self._transport is None:
            self.check_open()
        try:
            prefix = self._prefixes[peer]
        except KeyError:
            raise unknown_peer(peer) from None
        seq = self._next_seq.get(peer, 0) + 1
        data = encode_data_prefixed(prefix, seq, clock, payload)
        if len(data) > _MAX_DATAGRAM:
            raise MessageTooLarge(
                f"message of {len(data)} bytes does not fit in one datagram "
                f"(at most {_MAX_DATAGRAM}); the {self.kind} link sends one datagram per "
                "message: send a smaller payload, or use the reliable or tls link",
                len(data),
                _MAX_DATAGRAM,
            )
        self._next_seq[peer] = seq
        self.counters["sent"] += 1
        return seq, data

    def writable(self, peer: str) -> bool:
        """Always true for a known peer: a fair-loss link has no window."""
        if peer not in self._peers:
            raise unknown_peer(peer)
        return True

    async def wait_writable(self, peer: str) -> None:
        return None

    def resume_reading(self) -> None:
        return None

    async def flush(self, ignoring: Collection[str] = ()) -> None:
        await asyncio.sleep(0)

    def on_envelope(self, envelope: Envelope) -> None:
        if type(envelope) is not Data:
            self.counters["not_data"] += 1
            return
        sender, incarnation, _, seq, clock, payload = envelope
        user = self.user
        if user.link_room() <= 0:
            self.counters["inbox_full"] += 1
            log.debug("%s: inbox full, dropped %s#%d", self.node_id, sender, seq)
            return
        self.counters["delivered"] += 1
        user.link_deliver(sender, incarnation, seq, clock, payload)

    def stats(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.counters, "faults": self.fault_stats()}
