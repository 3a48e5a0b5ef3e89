"""Who may talk on the TLS link: the sans-IO connection-start and admission rules.

No sockets, no TLS, no event loop: the adapter reports what happened (TCP up, TLS done with
the certificate's node id, a HELLO, a frame, the time) and gets back what to do. Time is an
explicit ``now``; deadlines are data the adapter arms timers for.

A connection moves ``TLS -> HELLO -> UP`` and may close from any state::

    TLS    TCP is up, the TLS handshake runs (deadline: the handshake timeout)
    HELLO  TLS is done, the certificate was checked and our HELLO sent (deadline: the hello
           timeout); the first frame must be the peer's HELLO
    UP     both HELLOs accepted; only SEGMENT frames from the HELLO's sender follow
    CLOSED closed or refused

The rules (``docs/tls.md`` sections 3, 5 and 6): the certificate names a known peer, and
the node a dialer meant to reach; the HELLO's sender is the certificate's node, it is
addressed to us, and its incarnation is not older than one we already heard from; when
a second connection to the same peer comes up, the one dialed by the smaller node id wins,
and between two dialed by the same node the newer wins.

The listener keeps serving its peers under a flood of idle connections: at most
``max_unauthenticated`` accepted connections, and ``max_unauthenticated_per_source`` from
one source host (plus one for each known peer at that host), may be without an accepted
HELLO at once. A connection over either cap
does not wait or get refused: the *oldest idle* connection still in its TLS handshake (the
one whose last bytes came longest ago, from that source for the per-source cap) is evicted
to make room (:class:`Evict`). A connection whose certificate already named a known peer
(state HELLO) is never evicted; only when such connections fill every place is a new one
refused. So a peer that reconnects during a slowloris gets a place at once and keeps it
for the few milliseconds its handshake takes.
"""

from __future__ import annotations

import enum
from collections.abc import Container
from dataclasses import dataclass, field

from netclock.wire.envelope import Envelope, Hello, Segment

__all__ = [
    "Admission",
    "ConnState",
    "Evict",
    "Handshake",
    "HelloVerdict",
    "Outcome",
    "Refusal",
    "Refused",
]


class ConnState(enum.Enum):
    """Where a connection is in its start (see the module docstring)."""

    TLS = "tls"
    HELLO = "hello"
    UP = "up"
    CLOSED = "closed"


class Refusal(enum.Enum):
    """Why a connection was refused."""

    OVER_CAP = "too many connections without a hello"
    HANDSHAKE_TIMEOUT = "TLS handshake timed out"
    HELLO_TIMEOUT = "no hello in time"
    NOT_EXPECTED = "the certificate names another node than the one dialed"
    UNKNOWN_PEER = "not a known peer"
    PARTITIONED = "partitioned"
    IMPOSTOR = "the hello's sender is not the certificate's node"
    NOT_FOR_US = "the hello is addressed to another node"
    OLD_INCARNATION = "the hello speaks for an old incarnation"


@dataclass(frozen=True, slots=True)
class Refused:
    """A refusal: its kind and the sentence to log (names and numbers, never key material)."""

    why: Refusal
    reason: str


class Outcome(enum.Enum):
    """What to do with a connection whose peer's HELLO was accepted."""

    ATTACH = "attach"
    """It carries the peer's traffic from now on (the peer had no connection)."""
    REPLACE = "replace"
    """It carries the peer's traffic from now on; close the connection that did."""
    LOSE = "lose"
    """The peer's current connection wins the tie-break: close this one gracefully."""


HelloVerdict = Outcome | Refused


@dataclass(frozen=True, slots=True)
class Evict:
    """The new connection is admitted once these idle ones are aborted (already uncounted)."""

    victims: tuple[Handshake, ...]
    reason: str


@dataclass(slots=True, eq=False)
class Handshake:
    """The start of one connection: its state, who is on the other end, its deadline."""

    serial: int
    dialed_to: str | None
    """The peer we dialed, or None for a connection we accepted."""
    state: ConnState = ConnState.TLS
    peer: str | None = None
    """The node id in the peer's verified certificate, once checked."""
    peer_incarnation: int = 0
    """The incarnation the peer's HELLO speaks for, once accepted."""
    deadline: float | None = None
    """When the current step (handshake, then hello) times out; None once UP or CLOSED."""
    counted: bool = False
    """Counted against the cap on accepted connections without an accepted HELLO."""
    source: str = ""
    """The remote host of an accepted connection (the per-source cap's key)."""
    active: float = field(default=0.0)
    """When bytes last arrived during the TLS handshake (the adapter updates it)."""

    def dialer(self, me: str) -> str:
        """The node that dialed this connection (``me`` or the peer)."""
        return me if self.dialed_to is not None else (self.peer or "")


def wins(new: Handshake, current: Handshake, me: str, peer: str) -> bool:
    """True when ``new`` should carry ``peer``'s traffic instead of ``current``.

    Both ends apply the same rule to the same pair, so they keep the same connection: one
    dialed by the smaller node id beats one dialed by the larger; between two dialed by the
    same node the newer wins (that node dials only after it gave up the older one).
    """
    keeper = min(me, peer)
    return not (current.dialer(me) == keeper and new.dialer(me) != keeper)


class Admission:
    """The connection-start rules of one node, for every connection it accepts or dials.

    ``known`` is the live collection of known peers (the link's). The adapter calls
    :meth:`start` for a new connection, :meth:`open` when its TCP is up,
    :meth:`handshake_done` when TLS is, :meth:`hello` for the first frame,
    :meth:`segment_fault` for every later frame, :meth:`overdue` when a deadline's timer
    fires, and :meth:`closed` when the connection ends.
    """

    def __init__(
        self,
        node_id: str,
        known: Container[str],
        *,
        max_unauthenticated: int = 64,
        max_unauthenticated_per_source: int = 16,
        handshake_timeout: float = 5.0,
        hello_timeout: float = 5.0,
    ) -> None:
        self.node_id = node_id
        self.known = known
        self.max_unauthenticated = max_unauthenticated
        self.max_per_source = max_unauthenticated_per_source
        self._pending: dict[Handshake, None] = {}
        """The counted connections, oldest admission first."""
        self._per_source: dict[str, int] = {}
        self.handshake_timeout = handshake_timeout
        self.hello_timeout = hello_timeout
        self.unauthenticated = 0
        """Accepted connections without an accepted HELLO now."""
        self._serial = 0

    def start(self, dialed_to: str | None) -> Handshake:
        """The record of a new connection: one we dial to ``dialed_to``, or accept (None)."""
        self._serial += 1
        return Handshake(self._serial, dialed_to)

    def open(
        self, hs: Handshake, now: float, source: str = "", peers_at_source: int = 0
    ) -> Refused | Evict | None:
        """TCP is up: admit ``hs`` with a handshake deadline (None), admit it once the idle
        connections in :class:`Evict` are aborted, or refuse it when known peers' connections
        fill the places (see the module docstring).

        ``peers_at_source``: how many known peers live at ``source``; that host's cap is
        ``max_unauthenticated_per_source`` more than that (a cluster on one machine connects
        all at once from one address). An accepted connection counts against the caps until
        its HELLO is accepted or it closes.
        """
        evict: Evict | None = None
        if hs.dialed_to is None:
            victims: list[Handshake] = []
            cap = self.max_per_source + peers_at_source
            if self._per_source.get(source, 0) >= cap and not self._evict(source, victims):
                return Refused(
                    Refusal.OVER_CAP,
                    f"already {cap} connections from {source} without a "
                    "hello, all from known peers",
                )
            if self.unauthenticated >= self.max_unauthenticated and not self._evict(None, victims):
                return Refused(
                    Refusal.OVER_CAP,
                    f"already {self.unauthenticated} connections without a hello, all from "
                    "known peers",
                )
            if victims:
                evict = Evict(
                    tuple(victims),
                    "evicted for a new connection: the longest idle in its TLS handshake",
                )
            hs.counted = True
            hs.source = source
            hs.active = now
            self.unauthenticated += 1
            self._pending[hs] = None
            self._per_source[source] = self._per_source.get(source, 0) + 1
        hs.deadline = now + self.handshake_timeout
        return evict

    def _evict(self, source: str | None, victims: list[Handshake]) -> bool:
        """Uncount the idlest connection in its TLS handshake (from ``source``, or any) and
        add it to ``victims``; False when every counted one is a known peer's."""
        best: Handshake | None = None
        for hs in self._pending:
            if (
                hs.state is ConnState.TLS
                and (source is None or hs.source == source)
                and (best is None or hs.active < best.active)
            ):
                best = hs
        if best is None:
            return False
        victims.append(best)
        self.closed(best)
        return True

    def handshake_done(
        self, hs: Handshake, certified: str, now: float, *, partitioned: bool = False
    ) -> Refused | None:
        """TLS is up and the peer's certificate names node ``certified``.

        None: send our HELLO now; the peer's is due by the new deadline. Otherwise refuse.
        """
        if hs.dialed_to is not None and certified != hs.dialed_to:
            return self._refuse(
                hs,
                Refusal.NOT_EXPECTED,
                f"the peer is node {certified!r}, not the expected {hs.dialed_to!r}",
            )
        if (refused := self._unknown(hs, certified)) is not None:
            return refused
        if partitioned:
            return self._refuse(hs, Refusal.PARTITIONED, f"partitioned from {certified!r}")
        hs.peer = certified
        hs.state = ConnState.HELLO
        hs.deadline = now + self.hello_timeout
        return None

    def hello(
        self, hs: Handshake, hello: Hello, oldest: int, current: Handshake | None
    ) -> HelloVerdict:
        """The peer's HELLO on ``hs`` (in state HELLO): refuse it, or say where it goes.

        ``oldest`` is the newest incarnation of the peer we have received messages from
        (0 if none); ``current`` is the connection carrying the peer's traffic now, if any.
        An accepted HELLO makes ``hs`` UP and frees its place under the cap.
        """
        peer = hs.peer
        assert peer is not None, "a hello before the TLS handshake was checked"
        if hello.sender != peer:
            return self._refuse(
                hs,
                Refusal.IMPOSTOR,
                f"its certificate names node {peer!r} but its hello claims to be {hello.sender!r}",
            )
        if hello.receiver != self.node_id:
            return self._refuse(
                hs,
                Refusal.NOT_FOR_US,
                f"node {peer!r} says hello to {hello.receiver!r}, not to us",
            )
        if (refused := self._unknown(hs, peer)) is not None:
            return refused
        if hello.incarnation < oldest:
            return self._refuse(
                hs,
                Refusal.OLD_INCARNATION,
                f"node {peer!r} speaks for an old incarnation {hello.incarnation}",
            )
        hs.state = ConnState.UP
        hs.peer_incarnation = hello.incarnation
        hs.deadline = None
        self._uncount(hs)
        if current is None or current is hs:
            return Outcome.ATTACH
        return Outcome.REPLACE if wins(hs, current, self.node_id, peer) else Outcome.LOSE

    def segment_fault(self, hs: Handshake, envelope: Envelope) -> str | None:
        """Why ``envelope``, a frame after the HELLO on ``hs``, is a bad frame (None: it is not)."""
        if type(envelope) is not Segment:
            return f"a {type(envelope).__name__} after the hello"
        if (
            envelope.sender != hs.peer
            or envelope.receiver != self.node_id
            or envelope.incarnation != hs.peer_incarnation
        ):
            return (
                f"segment {envelope.sender}:{envelope.incarnation} -> {envelope.receiver} "
                "does not match the hello"
            )
        return None

    def overdue(self, hs: Handshake, now: float) -> Refused | None:
        """The deadline's timer fired: the refusal when the step timed out.

        None when the step finished in time, or when ``now`` is still before the deadline
        (a timer may fire a hair early: the adapter re-arms it at :attr:`Handshake.deadline`).
        """
        deadline = hs.deadline
        if deadline is None or now < deadline:
            return None
        if hs.state is ConnState.TLS:
            return self._refuse(hs, Refusal.HANDSHAKE_TIMEOUT, "TLS handshake timed out")
        if hs.state is ConnState.HELLO:
            return self._refuse(
                hs, Refusal.HELLO_TIMEOUT, f"no hello within {self.hello_timeout:g} s"
            )
        hs.deadline = None  # up or closed: nothing is due any more
        return None

    def closed(self, hs: Handshake) -> None:
        """``hs`` ended (closed, refused or never opened): it no longer counts or times out."""
        hs.state = ConnState.CLOSED
        hs.deadline = None
        self._uncount(hs)

    def _unknown(self, hs: Handshake, peer: str) -> Refused | None:
        """Refuse ``hs`` unless ``peer`` is a known peer (checked at the handshake and again
        at the hello: the peer may have been forgotten in between)."""
        if peer in self.known:
            return None
        return self._refuse(hs, Refusal.UNKNOWN_PEER, f"node {peer!r} is not a known peer")

    def _refuse(self, hs: Handshake, why: Refusal, reason: str) -> Refused:
        hs.deadline = None
        return Refused(why, reason)

    def _uncount(self, hs: Handshake) -> None:
        if hs.counted:
            hs.counted = False
            self.unauthenticated -= 1
            self._pending.pop(hs, None)
            left = self._per_source[hs.source] - 1
            if left:
                self._per_source[hs.source] = left
            else:
                del self._per_source[hs.source]
