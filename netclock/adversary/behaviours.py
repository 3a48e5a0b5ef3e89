"""Byzantine behaviours as one-liners for a program that runs a normal Node.

The honest Node and links know nothing of these: a Byzantine program holds its Node and
wraps what it sends. :class:`Forger` sends envelopes with any identity over UDP (the
impersonation and replay attacks; each forgery is written to the adversary's record first,
ground truth for the checker), :class:`Silence` withholds messages from some peers and
:class:`Shuffle` delays and reorders the program's own messages. Wrong values, equivocation,
lying clocks and malformed envelopes are in :mod:`netclock.adversary.forge`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from typing import Any

from netclock.adversary.forge import FORGED_INCARNATION, data_envelope, segment_envelope
from netclock.adversary.raw import RawUdp, SpoofingUdp
from netclock.clock import VectorClock
from netclock.errors import UsageError, WireError
from netclock.links.base import Address
from netclock.node import MessageId, Node
from netclock.observe.forgeries import FORGED_SUFFIX, ForgeryRecorder
from netclock.wire.envelope import Data, Segment, decode

__all__ = ["Forger", "Shuffle", "Silence"]


class Forger:
    """Sends forged envelopes from a UDP socket of its own, recording each one first.

    ``impersonate`` sends ``payload`` as if ``claimed`` had sent it (a DATA envelope for a
    fair-loss or stubborn receiver, a SEGMENT for a reliable one); ``replay`` resends
    captured bytes unchanged. From the forger's own port a UDP link drops both
    (``wrong_source``); given ``source`` (the address of the node it speaks for) they go
    out with that source address through a :class:`SpoofingUdp` (root), and get through.
    Use :meth:`for_node` in a cluster program: the record goes beside the node's event log
    (``<run>/<node>.forged.jsonl``) where the checker finds it.
    """

    def __init__(self, by: str, record_path: str | None = None) -> None:
        self.by = by
        self.raw = RawUdp()
        self._spoofing: SpoofingUdp | None = None
        self.record = ForgeryRecorder(record_path, by)
        self._next: dict[tuple[str, str], int] = {}

    @classmethod
    def for_node(cls, node: Node) -> Forger:
        """A forger for the adversary running ``node``, its record in the node's run folder."""
        path = None
        if node.event_log is not None:
            path = str(node.event_log.parent / f"{node.id}{FORGED_SUFFIX}")
        return cls(node.id, path)

    def impersonate(
        self,
        claimed: str,
        to: str,
        address: Address,
        payload: Any,
        *,
        link: str = "fairloss",
        incarnation: int = FORGED_INCARNATION,
        clock: VectorClock | None = None,
        source: Address | None = None,
    ) -> MessageId:
        """Send ``payload`` to ``to`` at ``address`` claiming to be ``claimed`` (from
        ``source`` when given: spoofed); returns the id a receiver that believes it will
        deliver it under."""
        if link not in ("fairloss", "stubborn", "reliable"):
            raise UsageError(
                f"impersonation over UDP needs link fairloss, stubborn or reliable, not {link!r}"
            )
        key = (claimed, to)
        seq = self._next.get(key, 0) + 1
        self._next[key] = seq
        clock = clock or VectorClock({claimed: seq})
        if link == "reliable":
            data = segment_envelope(
                claimed, to, [payload], first_seq=seq, incarnation=incarnation, clocks=[clock]
            )
        else:
            data = data_envelope(
                claimed, to, payload, seq=seq, incarnation=incarnation, clock=clock
            )
        msg_id = MessageId(claimed, incarnation, seq)
        self.record.record("impersonation", claimed, to, msg_id)
        self._send(data, address, source)
        return msg_id

    def replay(self, datagram: bytes, address: Address, source: Address | None = None) -> None:
        """Send captured ``datagram`` again, unchanged, to ``address`` (from ``source``
        when given: spoofed, as the packet's own source)."""
        try:
            envelope = decode(datagram)
        except WireError:
            self._send(datagram, address, source)
            return
        msg_id: tuple[str, int, int] | None = None
        if isinstance(envelope, Data):
            msg_id = (envelope.sender, envelope.incarnation, envelope.seq)
        elif isinstance(envelope, Segment) and envelope.messages:
            msg_id = (envelope.sender, envelope.incarnation, envelope.messages[0].seq)
        self.record.record("replay", envelope.sender, envelope.receiver, msg_id)
        self._send(datagram, address, source)

    def _send(self, data: bytes, address: Address, source: Address | None) -> None:
        if source is None:
            self.raw.send(data, address)
            return
        if self._spoofing is None:
            self._spoofing = SpoofingUdp()
        self._spoofing.send(data, source, address)

    def confess(self, to: str, what: str) -> None:
        """Record a lie told to ``to`` in words (a wrong value, silence...): it carries no
        forged identity, but the checker then marks this node Byzantine."""
        self.record.record("lie", self.by, to, None, what)

    def send_with_clock(
        self, node: Node, to: str, clock: VectorClock, payload: Any, what: str
    ) -> MessageId:
        """Send ``payload`` from ``node`` (the adversary's own Node) to ``to`` on its own link,
        stamped with ``clock`` instead of a tick of its clock: a lying clock under the
        adversary's own id. Recorded as a ``lie`` with the message's id before the datagram
        leaves (the link only queues it), so the checker counts the message as sent by this
        node, not created, and marks it Byzantine; the Node's event log has no send event."""
        seq = node.link.send(to, clock, payload)
        msg_id = MessageId(node.id, getattr(node.link, "incarnation", node.incarnation), seq)
        self.record.record("lie", node.id, to, msg_id, what)
        return msg_id

    def send_raw(self, data: bytes, address: Address) -> None:
        """Send any bytes (a malformed envelope, a lying clock under the adversary's own id)."""
        self.raw.send(data, address)

    def close(self) -> None:
        self.raw.close()
        if self._spoofing is not None:
            self._spoofing.close()
        self.record.close()


class Silence:
    """Sends through ``node`` except to the peers in ``silent_to``: those messages are
    withheld (counted in :attr:`withheld`) and never reach the link."""

    def __init__(self, node: Node, silent_to: Iterable[str]) -> None:
        self.node = node
        self.silent_to = frozenset(silent_to)
        self.withheld = 0

    async def send(self, peer: str, payload: Any) -> MessageId | None:
        if peer in self.silent_to:
            self.withheld += 1
            return None
        return await self.node.send(peer, payload)


class Shuffle:
    """Holds each message a random delay in ``[0, max_delay)`` (drawn from ``seed``) before
    ``node.send``: the program's own messages leave late and out of order."""

    def __init__(self, node: Node, *, seed: int, max_delay: float) -> None:
        if not max_delay > 0:
            raise UsageError(f"max_delay must be positive, not {max_delay!r}")
        self.node = node
        self.max_delay = max_delay
        self._rng = random.Random(seed)
        self._pending: set[asyncio.Task[MessageId]] = set()

    def send(self, peer: str, payload: Any) -> None:
        """Schedule ``payload`` for ``peer``; it is handed to the node after its delay."""
        delay = self._rng.random() * self.max_delay
        task = asyncio.ensure_future(self._later(delay, peer, payload))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _later(self, delay: float, peer: str, payload: Any) -> MessageId:
        await asyncio.sleep(delay)
        return await self.node.send(peer, payload)

    async def drain(self) -> None:
        """Wait until every scheduled message was handed to the node."""
        while self._pending:
            await asyncio.gather(*self._pending)
