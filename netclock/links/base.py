"""What every link kind offers the Node, and what the Node offers every link.

A link moves application messages, each stamped with its sender's vector clock, between
this node and named peers. The Node owns the clock; a link only carries it. Links call
back into their :class:`LinkUser` (the Node) from the event loop, never from a task per
message.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from netclock.clock import VectorClock
from netclock.errors import UsageError

Address = tuple[str, int]

PROMISES: Mapping[str, tuple[str, ...]] = {
    "fairloss": ("no_creation",),
    "stubborn": ("no_creation",),
    "reliable": ("no_creation", "no_duplication", "reliable_delivery"),
    "tls": ("no_creation", "no_duplication", "reliable_delivery", "authenticity"),
    "sealed": ("no_creation", "no_duplication", "reliable_delivery", "authenticity"),
}
"""The textbook properties each link kind promises (``fifo`` is added when FIFO is on)."""

LINK_KINDS = tuple(PROMISES)

CERTIFIED_KINDS = frozenset({"tls", "sealed"})
"""The link kinds that need the cluster's certificates (``cert_dir``)."""


def promises(kind: str, fifo: bool) -> tuple[str, ...]:
    """What a link of ``kind`` promises; a reliable link also promises ``fifo`` when it is on."""
    base = PROMISES[kind]
    return (*base, "fifo") if fifo and "reliable_delivery" in base else base


def parse_address(text: str | Address) -> Address:
    """``"host:port"`` or ``"[v6]:port"`` (or a tuple) as ``(host, port)``."""
    if isinstance(text, tuple):
        return (str(text[0]), int(text[1]))
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UsageError(f"address {text!r} must look like 127.0.0.1:9000 or [::1]:9000")
    if int(port) > 65535:  # the kernel would take it modulo 65536: a port nobody asked for
        raise UsageError(f"address {text!r}: port {int(port)} is out of range 0-65535")
    return (host.strip("[]"), int(port))


# -- the one event vocabulary, from the session core through the link to the Node -------------
@dataclass(frozen=True, slots=True)
class PeerUnreachable:
    """No ack from ``peer`` for ``unreachable_after`` seconds while messages were held.

    Nothing is lost: the messages are kept and probed, and :class:`PeerReachable` follows
    when the peer answers again. The Node lists such peers in ``Node.unreachable``.
    """

    peer: str


@dataclass(frozen=True, slots=True)
class PeerReachable:
    """``peer`` answers again after a :class:`PeerUnreachable`."""

    peer: str


@dataclass(frozen=True, slots=True)
class GaveUp:
    """A reliable link gave up on messages to ``peer``, unacknowledged for ``give_up_after`` s.

    ``messages`` holds ``(seq, payload)`` pairs in sequence order, sent by this node's
    ``incarnation``. The peer may have received some (an ack may have been lost) but will
    deliver none of them later. The Node hands each back as a ``Failure`` with its id
    (``Node.failures()``).
    """

    peer: str
    incarnation: int
    messages: tuple[tuple[int, Any], ...]


@dataclass(frozen=True, slots=True)
class Refused:
    """``peer`` took in messages of this node's ``incarnation`` and refused them (their
    clock broke its scope, or a large message is above its ``max_message``; or a restart
    of the peer cut a large message in two, links/inflight.py): never delivered.
    ``messages`` holds ``(seq, payload, reason)`` in sequence order; the Node hands each
    back as a ``Failure`` with its id and the peer's reason (``Node.failures()``)."""

    peer: str
    incarnation: int
    messages: tuple[tuple[int, Any, str], ...]


@dataclass(frozen=True, slots=True)
class InputRefused:
    """The link refused what arrived: bad bytes, a stranger, an identity its certificate
    does not prove. ``source`` is the claimed node id when one was readable, else the remote
    address; ``reason`` says what was wrong (the same words as the debug log line). The
    Node writes a ``refused`` event (not per message on the normal path: only bad input)."""

    source: str
    reason: str


LinkEvent = PeerUnreachable | PeerReachable | GaveUp | Refused | InputRefused
"""What a link reports about a peer: the session core emits these, links pass them on."""


class LinkUser(Protocol):
    """The callbacks a link makes into its owner.

    The Node implements them on a private object it hands to its link, so they are not
    part of the Node's public surface.
    """

    def link_deliver(
        self, sender: str, incarnation: int, seq: int, clock: VectorClock, payload: Any
    ) -> None:
        """One message arrived for the application."""

    def link_deliver_batch(
        self, sender: str, incarnation: int, messages: Sequence[tuple[int, VectorClock, Any]]
    ) -> None:
        """Several ``(seq, clock, payload)`` messages from one sender incarnation, in order."""

    def link_room(self) -> int:
        """How many more messages the application's inbox can take now."""

    def link_event(self, event: LinkEvent) -> None:
        """A :data:`LinkEvent`, exactly as the session core (or the link) emitted it."""

    link_before_send: Callable[[], None] | None
    """None, or what the link must call before a datagram or frame that carries application
    messages leaves (the Node writes its event log, so no peer ever holds a clock it lacks)."""


class Link(Protocol):
    """The one interface every link kind implements."""

    kind: str

    @property
    def address(self) -> Address:
        """The local address the link is bound to (port read back after binding to 0)."""

    @property
    def peers(self) -> Mapping[str, Address]:
        """The known peers and their addresses."""

    async def start(self) -> None:
        """Bind sockets; after this :attr:`address` is valid."""

    def add_peer(self, peer: str, address: Address) -> None:
        """Make ``peer`` reachable at ``address``; a known peer moves there with its state
        (what it is owed follows it: docs/cluster.md, "Moving a peer")."""

    def remove_peer(self, peer: str) -> None:
        """Forget ``peer``: release its state (sessions, buffers, connections, timers).

        Messages to it not yet acknowledged are handed back as a :class:`GaveUp` when the
        link keeps payloads (``give_up_after``), and waiting senders wake. Added again, it
        gets fresh state; a reliable link's numbering continues in both directions, so ids
        never repeat and nothing received before is delivered again.
        """

    def send(self, peer: str, clock: VectorClock, payload: Any) -> int:
        """Queue one message; returns its sequence number. May raise ``WindowFull``."""

    def writable(self, peer: str) -> bool:
        """True when :meth:`send` to ``peer`` would not raise ``WindowFull``."""

    async def wait_writable(self, peer: str) -> None:
        """Wait until :meth:`writable` may be true for ``peer``."""

    def resume_reading(self) -> None:
        """The owner's inbox has room again: deliver what is being held back."""

    async def flush(self, ignoring: Collection[str] = ()) -> None:
        """Wait until every message sent so far is acknowledged (at once on a link without
        acks), those to the peers in ``ignoring`` aside."""

    def partition(self, peer: str) -> None:
        """Cut this node off from ``peer`` (both directions) until :meth:`heal`."""

    def heal(self, peer: str) -> None:
        """End a partition from ``peer``."""

    async def close(self) -> None:
        """Release sockets and timers; idempotent."""

    def stats(self) -> dict[str, Any]:
        """Counters for progress displays and benchmarks."""


def os_reason(exc: OSError) -> str:
    """Why a socket call failed, in words (uvloop keeps the errno only on ``__cause__``)."""
    for error in (exc, exc.__cause__):
        if isinstance(error, OSError) and error.strerror:
            return error.strerror
    return str(exc) or type(exc).__name__


def unknown_peer(peer: str) -> UsageError:
    """The error every link raises for a peer it was never given."""
    return UsageError(f"unknown peer {peer!r}; add it with add_peer first")
