"""Sans-IO perfect link: one reliable, flow-controlled message stream per peer.

:class:`PeerSession` is a pure state machine (no asyncio, no sockets, time passed in as
``now`` in float seconds). It implements the textbook perfect link between this node and
one peer, in both directions at once:

* PL1 reliable delivery: every message is held until the peer acknowledges it; it is
  resent on three selective acks above it (fast retransmit, once per RTT), and on the
  RFC 6298 timer (Karn's rule, exponential backoff): a timeout resends the lowest unacked
  message, and if the ack it draws stops there, everything sent before the timeout.
* PL2 no duplication: the receiver keeps a cumulative point and the bounded set of
  messages above it; anything at or below the point, or already held, is a duplicate.
* PL3 no creation: only messages decoded from the peer's segments are delivered.

How an adapter drives it (the aioquic pattern)::

    seq = session.send(clock, payload, now)          # may raise WindowFull / UsageError
    session.receive_segment(segment, now)            # a decoded wire.Segment from the peer
    for message in session.pop_deliveries(room): ... # hand to the application
    for datagram in session.datagrams_to_send(now): ...  # put on the wire
    deadline = session.get_timer()                   # re-arm one timer at this time
    session.handle_timer(now)                        # when it fires, then send again
    for event in session.events(): ...               # links.base.LinkEvent

Call ``datagrams_to_send`` after every input (send, receive, pop, timer, reconnect) and
re-read ``get_timer`` afterwards.

The protocol: each direction numbers messages from 1. Every segment carries ``base``, the
sender's lowest sequence number not yet acknowledged or given up (a receiver meeting a
peer incarnation for the first time starts there; a base past its cumulative point makes
it skip ahead), and, once anything was received from the peer, an ack: the cumulative
point, up to 64 selective ranges and the window, the sequence numbers beyond the
cumulative point the receiver accepts now (``receive_capacity`` minus the messages
waiting for the application; messages held out of order sit inside it). Selective acks
are not a promise: they stop resends, but a message is freed only when the cumulative
point passes it. A larger peer incarnation means the peer restarted: its receive state
starts afresh and everything it had not acknowledged cumulatively is resent: a message
the old incarnation received but had not acknowledged also reaches the new one.

With ``retransmit=False`` (a reliable transport such as TLS) nothing is resent on
timers, so nothing may be lost either: such a session never guesses the peer's window.
Each connection starts with a hello each way (:meth:`PeerSession.hello` builds ours,
:meth:`PeerSession.on_reconnect` takes the peer's): it carries the resume point and the
receive window, and the session sends nothing before the first hello. Afterwards every
message stays within the window the peer last advertised; on an in-order transport a
receiver's ``cumulative + window`` never shrinks (it grows as the application takes
messages), so no message is dropped beyond the window. A reconnect resends what the
peer's hello says is missing.
"""

from __future__ import annotations

import logging
import math
import secrets
from bisect import bisect_right
from collections import deque
from collections.abc import Sequence
from itertools import accumulate
from operator import itemgetter
from typing import Any

from netclock.clock import ClockScope, VectorClock
from netclock.errors import ConfigError, MessageTooLarge, SendBudgetFull, WindowFull
from netclock.links.base import (
    GaveUp,
    InputRefused,
    LinkEvent,
    PeerReachable,
    PeerUnreachable,
    Refused,
)
from netclock.links.budget import (
    DEFAULT_RECEIVE_BYTES,
    DEFAULT_SEND_BYTES,
    SendPool,
    check_budget,
    fragment_size,
    message_bytes,
    message_size,
    packed_message_size,
)
from netclock.links.rtt import RttEstimator
from netclock.wire import envelope as wire
from netclock.wire.clockdiff import CLOCK_ENCODINGS, ClockDelta, apply_delta, delta_flat

log = logging.getLogger(__name__)

TIMER_GRANULARITY = 0.001
"""Deadlines this close to ``now`` count as expired (event loops may fire timers early)."""
MAX_WINDOW = 1 << 24
"""Largest receive window a peer may advertise; a larger one is rejected as absurd."""
MAX_BYTE_WINDOW = 1 << 62
"""The byte window of a peer that does not say one (no byte budget)."""
MAX_SKIP = 1 << 32
"""Most sequence numbers one segment's ``base`` may skip at once (more than a sender could
ever have queued and given up on): a larger jump is refused as absurd."""
DUPTHRESH = 3
"""Selectively acked messages above an unacked one that mark it lost (fast retransmit)."""

_MAX_UINT_BYTES = 9
"""Largest msgpack encoding of an unsigned 64-bit integer."""
_PLAIN_ACK_BYTES = 1 + 2 * _MAX_UINT_BYTES + 1 + 2 * _MAX_UINT_BYTES + 1
"""Upper bound of an ack without selective ranges: array, incarnation, cumulative, [], window,
byte window."""
_WORST_SACK_BYTES = 3 + 2 * _MAX_UINT_BYTES * wire.DEFAULT_LIMITS.max_sack_ranges
"""Upper bound of the selective ranges of one ack."""

STAT_KEYS = (
    "sent",
    "retransmitted",
    "fast_retransmits",
    "timeouts",
    "probes",
    "received",
    "duplicates",
    "beyond_window",
    "beyond_bytes",
    "skipped",
    "discarded",
    "delivered",
    "acks_sent",
    "pure_acks",
    "segments_sent",
    "segments_received",
    "rejected",
    "stale_incarnation",
    "ignored_acks",
    "stale_acks",
    "gave_up",
    "refused",
    "refused_by_peer",
    "unconfirmed",
    "challenges_sent",
    "challenges_answered",
    "confirmed",
    "clock_base_missing",
)
"""Every counter in :attr:`PeerSession.stats` (all start at 0)."""


def _batches(packed: list[bytes], budget: int) -> list[list[bytes]]:
    """Split packed messages, in order, into runs of at most ``budget`` bytes and
    ``max_messages`` messages each (a message larger than the budget goes alone)."""
    most = wire.DEFAULT_LIMITS.max_messages
    if len(packed) <= most:
        if len(packed) == 1:
            return [packed]
        ends = list(accumulate(map(len, packed)))
        if ends[-1] <= budget:
            return [packed]
    else:
        ends = list(accumulate(map(len, packed)))
    out: list[list[bytes]] = []
    first = 0
    before = 0
    count = len(packed)
    while first < count:
        stop = bisect_right(ends, before + budget, first, min(count, first + most))
        if stop == first:
            stop = first + 1
        out.append(packed[first:stop])
        before = ends[stop - 1]
        first = stop
    return out


_seq_of = itemgetter(0)
_new_tuple = tuple.__new__
_clock_of = itemgetter(1)
_Fragment = wire.Fragment
_REFUSED = wire.Message(0, VectorClock(), None)
"""Holds a refused message's place among the out-of-order ones (never delivered)."""
HELD_SEGMENTS = 256
"""Segments of an unconfirmed peer incarnation kept for its confirmation (the newest): about
a send window's worth, so that a confirmation costs the sender no retransmissions."""
CHALLENGE_RETRIES = 6
"""Challenges resent on the session's own timer (the interval doubling from one RTO) when
neither it nor its answer arrived; after that only a new held segment asks again."""
MAX_PENDING_REFUSALS = 64
"""Refusals an ack carries at most; beyond, refused messages wait outside the window."""
_NIL = b"\xc0"
"""msgpack nil: a segment without an ack."""


def _segment_bytes(segment: wire.Segment) -> int:
    return sum(map(message_bytes, segment.messages))


def _str_bytes(text: str) -> int:
    return 3 + len(text.encode("utf-8"))


class PeerSession:
    """Reliable, flow-controlled message stream between this node and one peer (both directions).

    Guarantees PL1/PL2/PL3 while both processes run (and FIFO order when ``fifo`` is true).
    Memory is bounded in messages and bytes (links/budget.py): at most ``send_window``
    messages and ``send_bytes`` bytes (plus one message) are held for sending, their bytes
    also counted in ``send_pool`` (shared by a link's sessions, checked as well), and at
    most ``receive_capacity`` messages and ``receive_bytes`` bytes are buffered for delivery.

    With ``retransmit`` (a lossy transport) the receive window assumed for a peer before
    its first ack is this session's own ``receive_capacity``; a smaller peer drops the
    excess and acks, and the excess is resent. Without it (a reliable transport) nothing
    is sent before :meth:`on_reconnect` brings the peer's window in its hello.
    """

    def __init__(
        self,
        local_id: str,
        local_incarnation: int,
        peer_id: str,
        *,
        send_window: int = 1024,
        receive_capacity: int = 1024,
        max_datagram: int = 1400,
        fifo: bool = True,
        retransmit: bool = True,
        rto_initial: float = 0.05,
        rto_min: float = 0.005,
        rto_max: float = 1.0,
        ack_delay: float = 0.002,
        unreachable_after: float = 3.0,
        give_up_after: float | None = None,
        clock_scope: ClockScope | None = None,
        confirm_incarnations: bool = False,
        max_large: int | None = None,
        clock_encoding: str = "full",
        send_bytes: int = DEFAULT_SEND_BYTES,
        receive_bytes: int = DEFAULT_RECEIVE_BYTES,
        send_pool: SendPool | None = None,
    ) -> None:
        check_budget("send_bytes", send_bytes)
        check_budget("receive_bytes", receive_bytes)
        if clock_encoding not in CLOCK_ENCODINGS:
            raise ConfigError(
                f"clock_encoding must be one of {', '.join(CLOCK_ENCODINGS)}, "
                f"not {clock_encoding!r}"
            )
        if clock_encoding == "diff" and not fifo:
            raise ConfigError(
                'clock_encoding "diff" needs a FIFO link: set fifo to true or use "full" clocks'
            )
        if send_window < 1:
            raise ConfigError(f"send_window must be at least 1, not {send_window}")
        if receive_capacity < 1:
            raise ConfigError(f"receive_capacity must be at least 1, not {receive_capacity}")
        if receive_capacity > MAX_WINDOW:
            raise ConfigError(f"receive_capacity must be at most {MAX_WINDOW}")
        if not 64 <= max_datagram <= wire.DEFAULT_LIMITS.max_bytes:
            raise ConfigError(
                f"max_datagram must be between 64 and {wire.DEFAULT_LIMITS.max_bytes} bytes, "
                f"not {max_datagram}"
            )
        if ack_delay < 0:
            raise ConfigError(f"ack_delay must not be negative, not {ack_delay}")
        if unreachable_after <= 0:
            raise ConfigError(f"unreachable_after must be positive, not {unreachable_after}")
        if give_up_after is not None and give_up_after <= 0:
            raise ConfigError(f"give_up_after must be positive or None, not {give_up_after}")

        self.local_id = local_id
        self.local_incarnation = local_incarnation
        self.peer_id = peer_id
        self.send_window = send_window
        self.receive_capacity = receive_capacity
        self.send_bytes = send_bytes
        self.receive_bytes = receive_bytes
        self._pool = send_pool
        self._held_bytes = 0
        """Bytes of the packed messages held (seqs base..next_seq-1)."""
        self._sizes: list[int] = []
        """What the receiver will count each held message as (``budget.message_size``)."""
        self._held_est = 0
        """The sum of ``_sizes``."""
        self._peer_bytes = receive_bytes if retransmit else 0
        """Bytes of messages after ``_bytes_from`` the peer accepts (its last byte window)."""
        self._bytes_from = 0
        self._byte_blocked = False
        """The byte window held back a message the message window allowed."""
        self._rx_bytes = 0
        """Receive side: ``message_bytes`` of the messages ready or of old incarnations."""
        self._ooo_bytes = 0
        """Receive side: the same of the messages held above a gap."""
        self._adv_bytes = receive_bytes
        self.max_datagram = max_datagram
        self.fifo = fifo
        self.retransmit = retransmit
        self.rto_max = rto_max
        self.ack_delay = ack_delay
        self.unreachable_after = unreachable_after
        self._give_up_after = give_up_after
        self.rtt = RttEstimator(rto_initial, rto_min, rto_max)
        """The retransmission-timeout estimator (read ``rtt.srtt`` / ``rtt.rto``)."""
        self.stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        """Counters (see :data:`STAT_KEYS`); the caller may read, never needs to reset."""

        self._header_bytes = (
            3 + _str_bytes(local_id) + _MAX_UINT_BYTES + _str_bytes(peer_id) + _MAX_UINT_BYTES + 5
        )
        self._max_message = (
            wire.DEFAULT_LIMITS.max_bytes
            - self._header_bytes
            - (_PLAIN_ACK_BYTES + _WORST_SACK_BYTES)
        )
        self._events: list[LinkEvent] = []

        # -- sending side: our messages to the peer --
        # Messages not yet cumulatively acked or given up are exactly seqs base..next_seq-1.
        # They live in parallel lists indexed by ``seq - base`` (no object per message).
        self._packed: list[bytes] = []
        """Each held message packed once (seqs base..next_seq-1), resent byte for byte."""
        self._sent_at: list[float] = []
        """Time of the last transmission of seqs base..next_send-1."""
        self._tx: list[int] = []
        """Transmissions of seqs base..next_send-1 (Karn: RTT samples only when exactly 1)."""
        self._keep = give_up_after is not None
        """Keep payloads and queue times (only a give-up needs them)."""
        self._payloads: list[Any] = []
        """With a give-up time: the payloads of seqs base..next_seq-1."""
        self._queued_at: list[float] = []
        """With a give-up time: when seqs base..next_seq-1 were queued."""
        self._sacked: set[int] = set()
        """Held seqs selectively acked: not resent, kept until the cumulative ack passes."""
        self._queued: set[int] = set()
        """Seqs waiting in the retransmission queue ``_rtx`` (may lag below base)."""
        self._next_seq = 1
        self._next_send = 1
        """Lowest sequence number never transmitted."""
        self._base = 1
        self._acked_cum = 0
        """Highest cumulative ack the peer sent for this incarnation."""
        self._peer_window = receive_capacity if retransmit else 0
        """Messages beyond ``_acked_cum`` the peer accepts (from its last ack or hello)."""
        self._window_by: int | None = None
        """Without retransmit: the peer incarnation whose hello set the window (its acks
        follow the hello, so every later ack comes from the same peer process)."""
        self._rtx: list[int] = []
        self._probe: int | None = None
        self._rtx_deadline: float | None = None
        self._recovery: tuple[int, int] | None = None
        """After a timeout: (seq resent, highest seq sent before the timeout)."""
        self._progress_at = 0.0
        self._unreachable = False
        self._announce = False

        # -- receiving side: the peer's messages to us --
        self._rx_inc: int | None = None
        self._cum = 0
        self._ready: deque[wire.Message] = deque()
        self._ooo: dict[int, wire.Message] = {}
        """fifo: messages above a gap, by seq."""
        self._seen: set[int] = set()
        """not fifo: seqs above the cumulative point already delivered to ``_ready``."""
        self._old: deque[tuple[int, deque[wire.Message]]] = deque()
        """Deliverable messages of earlier peer incarnations, oldest first."""
        self._old_count = 0
        self._delivering_inc = 0
        self._sacks: tuple[tuple[int, int], ...] | None = None
        """Cached selective ranges; ``None`` when they must be recomputed."""
        self._segs_unacked = 0
        self._ack_now = False
        self._ack_deadline: float | None = None
        self._adv_window = receive_capacity
        self._plain_key = (0, 0, 0, 0)
        self._plain_ack = wire.pack_plain_ack(0, 0, 0, 0)
        """The last ack without selective ranges, packed, reused while its key is unchanged."""
        self._prefix = wire.segment_prefix(local_id, local_incarnation, peer_id)
        """Every segment to the peer starts with these bytes."""
        self._journal: list[wire.Message] | None = None
        """With :meth:`start_journal`: messages accepted since the last :meth:`take_journal`."""
        self._journal_mark: tuple[int, int] | None = None
        self._refusal_mark: tuple[int, int] | None = None
        """With :meth:`start_journal`: a new receive point ``(incarnation, seq)`` to log."""
        self._scope = clock_scope
        """What a message's clock may hold; a message that breaks it is refused, not acked
        silently: its refusal rides on every ack until the peer's base passes it."""
        self._refusals: dict[int, str] = {}
        """Refused seqs of the current peer incarnation, with reasons, to tell the peer."""
        self._max_large = max_large
        """The largest large message (packed payload, bytes) the owner joins: a first piece
        announcing more is refused before its ack (links/segments.py)."""
        self.peer_restart_base = 0
        """Our ``base`` when the peer was last met as a new process (0: never): our messages
        below it went to an earlier process of the peer (links/segments.py, large messages
        cut by a restart)."""
        self._confirm = confirm_incarnations
        """Believe a new peer incarnation only once the peer's address echoed our nonce."""
        self._vouched: int | None = None
        """The peer incarnation the last valid answer named (adopted at its next segment)."""
        self._challenge: tuple[int, float] | None = None
        """(nonce, when sent) of the challenge waiting for its answer."""
        self._challenge_due: float | None = None
        self._challenge_retries = 0
        self._held: deque[wire.Segment] = deque(maxlen=HELD_SEGMENTS)
        """The latest segments of unconfirmed incarnations, in arrival order: those of the
        incarnation an answer confirms are taken in then (the peer resends the others)."""
        self._held_rx_bytes = 0
        """``message_bytes`` of the held segments' messages: at most ``receive_bytes``."""
        self._outbox: list[bytes] = []
        """Challenges and answers to send with the next :meth:`datagrams_to_send`."""

        # -- compressed clocks (docs/wire.md, "Compressed clocks") --
        self._diff = clock_encoding == "diff"
        """Send each clock as a delta against the previous message's."""
        self._tx_entries: dict[str, int] | None = None
        """diff: the clock of message ``next_seq - 1`` as the peer rebuilds it (None: the
        next message carries its full clock)."""
        self._clocks: list[VectorClock | bytes | None] = []
        """diff: for each held message sent as a delta, its clock (to pack it whole when
        needed) or, with a journal, the message packed whole (what the log writes); None
        for one sent whole."""
        self._rx_entries: dict[str, int] = {}
        self._rx_seq = 0
        self._most_entries = (
            clock_scope.max_entries
            if clock_scope is not None
            else wire.DEFAULT_LIMITS.max_clock_entries
        )
        """A rebuilt clock larger than this is not taken (a delta adds entries to a clock
        the decoder never sees whole)."""
        """The clock of the peer's message ``_rx_seq`` (of ``_rx_inc``), the last rebuilt:
        the base of a delta on message ``_rx_seq + 1``."""

    # -- sending ----------------------------------------------------------------------------------
    def send(self, clock: VectorClock, payload: Any, now: float) -> int:
        """Queue one message and return its sequence number (1, 2, ...).

        The message is packed once here. Raises :class:`~netclock.errors.WindowFull` when
        ``send_window`` messages are held, :class:`~netclock.errors.UsageError` when the
        payload cannot be encoded or is too large for one datagram. Call
        :meth:`datagrams_to_send` next.
        """
        seq = self._next_seq
        if seq - self._base >= self.send_window:
            raise WindowFull(self.peer_id, self.send_window)
        if self._held_bytes >= self.send_bytes or (
            self._pool is not None and self._pool.used >= self._pool.limit
        ):
            raise self._budget_full()
        kind = type(payload)
        if kind is bytes or kind is str:  # message_size, without a call on the common path
            estimate = len(payload) + 16 * len(clock._entries) + 32
        else:
            estimate = message_size(clock, payload)
        if self._diff:
            return self._send_delta(seq, clock, payload, now, estimate)
        packed = wire.pack_message(seq, clock, payload)
        if len(packed) > self._max_message:
            self._too_large(len(packed))
        return self._hold(seq, packed, payload, now, estimate)

    def _too_large(self, size: int) -> None:
        raise MessageTooLarge(
            f"message of {size} bytes does not fit in one datagram "
            f"(at most {self._max_message}); send a smaller payload",
            size,
            self._max_message,
        )

    def _send_delta(
        self, seq: int, clock: VectorClock, payload: Any, now: float, estimate: int
    ) -> int:
        """:meth:`send` with the diff clock encoding: the clock as a delta against the
        previous message's, or in full when there is none the peer is sure to rebuild."""
        previous = self._tx_entries
        if previous is None:
            packed = wire.pack_message(seq, clock, payload)
        else:
            packed = wire.pack_message_delta(seq, delta_flat(previous, clock._entries), payload)
        if len(packed) > self._max_message:
            self._too_large(len(packed))
        if previous is None:
            self._clocks.append(None)
        elif self._journal is not None:
            self._clocks.append(wire.pack_message(seq, clock, payload))
        else:
            self._clocks.append(clock)
        self._tx_entries = clock._entries
        return self._hold(seq, packed, payload, now, estimate)

    def _send_full(self, seq: int) -> None:
        """diff: held message ``seq`` (if held) goes out with its full clock from now on,
        the same message self-contained (the peer may lack the previous one's clock)."""
        i = seq - self._base
        if 0 <= i < len(self._clocks):
            whole = self._whole(i)
            grown = len(whole) - len(self._packed[i])  # released by its length: count it
            self._held_bytes += grown
            if self._pool is not None:
                self._pool.used += grown
            self._packed[i] = whole
            self._clocks[i] = None

    def _whole(self, i: int) -> bytes:
        """Held message ``base + i`` packed with its full clock."""
        whole = self._clocks[i]
        if whole is None:
            return self._packed[i]
        if type(whole) is bytes:
            return whole
        assert isinstance(whole, VectorClock)
        return wire.with_full_clock(self._packed[i], whole)

    def send_fragment(
        self,
        clock: VectorClock,
        chunk: bytes | memoryview,
        remaining: int,
        payload: Any,
        now: float,
    ) -> int:
        """Queue one piece of a large message (links/segments.py) as one message.

        ``payload`` is what a give-up reports for this piece. Raises
        :class:`~netclock.errors.WindowFull` as :meth:`send` does.
        """
        seq = self._next_seq
        if seq - self._base >= self.send_window:
            raise WindowFull(self.peer_id, self.send_window)
        if self._held_bytes >= self.send_bytes or (
            self._pool is not None and self._pool.used >= self._pool.limit
        ):
            raise self._budget_full()
        if self._diff:
            self._clocks.append(None)
            self._tx_entries = clock._entries
        packed = wire.pack_fragment(seq, clock, chunk, remaining)
        return self._hold(seq, packed, payload, now, fragment_size(clock, chunk))

    def _budget_full(self) -> SendBudgetFull:
        if self._held_bytes >= self.send_bytes:
            what = f"the send budget for {self.peer_id!r} (send_bytes)"
            return SendBudgetFull(self.peer_id, self._held_bytes, self.send_bytes, what)
        assert self._pool is not None
        what = "the link's send budget for all peers (send_bytes_total)"
        return SendBudgetFull(self.peer_id, self._pool.used, self._pool.limit, what)

    @property
    def max_message(self) -> int:
        """Largest packed message (or fragment) one datagram carries, in bytes."""
        return self._max_message

    def _hold(self, seq: int, packed: bytes, payload: Any, now: float, estimate: int) -> int:
        """Keep ``packed`` as message ``seq`` until it is acknowledged (``estimate``: what
        the receiver will count it as)."""
        self._packed.append(packed)
        self._sizes.append(estimate)
        self._held_est += estimate
        size = len(packed)
        self._held_bytes += size
        if self._pool is not None:
            self._pool.used += size
        if self._keep:
            self._payloads.append(payload)
            self._queued_at.append(now)
        self._next_seq = seq + 1
        if (
            self._rtx_deadline is None
            and self._next_send > self._acked_cum + self._peer_window
            and self.retransmit
        ):
            self._rtx_deadline = now + self.rtt.rto
        return seq

    def writable(self) -> bool:
        """True when :meth:`send` has room: fewer than ``send_window`` messages held, and the
        bytes held below ``send_bytes`` and the pool's limit."""
        return (
            self._next_seq - self._base < self.send_window
            and self._held_bytes < self.send_bytes
            and (self._pool is None or self._pool.used < self._pool.limit)
        )

    @property
    def held_bytes(self) -> int:
        """Bytes of the messages held for sending (not yet acknowledged or given up)."""
        return self._held_bytes

    def release_pool(self) -> None:
        """Take this session's bytes out of its send pool (the session is being dropped)."""
        if self._pool is not None:
            self._pool.used -= self._held_bytes
            self._pool = None

    @property
    def unacked(self) -> int:
        """Messages held: sent or queued, not yet cumulatively acked or given up."""
        return self._next_seq - self._base

    @property
    def give_up_after(self) -> float | None:
        """Seconds after which unacknowledged messages are given up (``None``: never)."""
        return self._give_up_after

    @property
    def unreachable(self) -> bool:
        """True between a ``PeerUnreachable`` event and the next ack."""
        return self._unreachable

    # -- receiving --------------------------------------------------------------------------------
    @property
    def peer_incarnation(self) -> int:
        """The peer incarnation of the messages the last :meth:`pop_deliveries` returned.

        Before any pop, the incarnation currently received from (0 before first contact).
        """
        return self._delivering_inc

    @property
    def buffered(self) -> int:
        """Messages held on the receive side (deliverable or out of order); <= capacity."""
        return len(self._ready) + self._old_count + len(self._ooo)

    @property
    def deliverable(self) -> int:
        """How many messages :meth:`pop_deliveries` can return now (all incarnations)."""
        return len(self._ready) + self._old_count

    def receive_segment(self, segment: wire.Segment, now: float) -> None:
        """Take one decoded segment from the peer (already addressed to us).

        Bad or stale input is counted in :attr:`stats` and ignored, never raised. Call
        :meth:`pop_deliveries` and :meth:`datagrams_to_send` next.
        """
        stats = self.stats
        stats["segments_received"] += 1
        sender, incarnation, receiver, base, ack, messages = segment
        if sender != self.peer_id or receiver != self.local_id:
            stats["rejected"] += 1
            log.debug("segment %s->%s is not for this session", sender, receiver)
            return
        if incarnation != self._rx_inc:
            if self._rx_inc is not None and incarnation < self._rx_inc:
                stats["stale_incarnation"] += 1
                log.debug("segment from old incarnation %d of %s", incarnation, self.peer_id)
                return
            if self._confirm and incarnation != self._vouched:
                self._hold_unconfirmed(segment, now)
                return
            self._new_peer_incarnation(incarnation, base)
        elif base - 1 > self._cum:
            if base - 1 - self._cum > MAX_SKIP or (messages and min(map(_seq_of, messages)) < base):
                stats["rejected"] += 1
                log.debug(
                    "absurd segment from %s: base %d (received up to %d), messages from %s",
                    self.peer_id,
                    base,
                    self._cum,
                    messages[0].seq if messages else None,
                )
                return
            self._skip_to(base - 1)
        if self._refusals:
            self._forget_refusals(base)
        if ack is not None:
            self._on_ack(ack, now)
        if messages:
            self._on_messages(messages, now)

    # -- confirmed incarnations ------------------------------------------------------------------
    def _hold_unconfirmed(self, segment: wire.Segment, now: float) -> None:
        """A segment of a peer incarnation not yet confirmed: keep it (with the latest few),
        and ask the peer's address (at most once per RTO) which incarnation it really is."""
        self.stats["unconfirmed"] += 1
        held = self._held
        cost = _segment_bytes(segment)
        if len(held) == HELD_SEGMENTS:
            self._held_rx_bytes -= _segment_bytes(held.popleft())
        while held and self._held_rx_bytes + cost > self.receive_bytes:
            self._held_rx_bytes -= _segment_bytes(held.popleft())  # the oldest goes first
        held.append(segment)
        self._held_rx_bytes += cost
        challenge = self._challenge
        if challenge is not None and now - challenge[1] < self.rtt.unbacked_rto:
            return
        nonce = secrets.randbits(64) if challenge is None else challenge[0]
        self._challenge_retries = 0
        self._send_challenge(nonce, now)
        log.debug("%s claims incarnation %d: challenged", self.peer_id, segment.incarnation)

    def _send_challenge(self, nonce: int, now: float) -> None:
        self._challenge = (nonce, now)
        self._challenge_due = (
            now + self.rtt.unbacked_rto * 2**self._challenge_retries
            if self._challenge_retries < CHALLENGE_RETRIES
            else None
        )
        self.stats["challenges_sent"] += 1
        self._outbox.append(
            wire.encode_challenge(self.local_id, self.local_incarnation, self.peer_id, nonce, False)
        )

    def receive_challenge(self, challenge: wire.Challenge, now: float) -> None:
        """A challenge from the peer (answer it: our nonce echo, from our address), or the
        answer to ours: the incarnation it names, if newer, is believed from now on (the
        held segment of that incarnation is taken in). Anything else is counted and
        ignored. Call :meth:`pop_deliveries` and :meth:`datagrams_to_send` next."""
        sender, incarnation, receiver, nonce, reply = challenge
        if sender != self.peer_id or receiver != self.local_id:
            self.stats["rejected"] += 1
            return
        if not reply:
            self.stats["challenges_answered"] += 1
            self._outbox.append(
                wire.encode_challenge(
                    self.local_id, self.local_incarnation, self.peer_id, nonce, True
                )
            )
            if (
                self._confirm
                and self._challenge is None
                and incarnation != self._vouched
                and (self._rx_inc is None or incarnation > self._rx_inc)
            ):
                # The peer asks who we are because it meets a new incarnation of ours, so we
                # are about to meet its own (its acks): ask back now, while it is surely up,
                # rather than after its ack arrives (a peer that then closes never answers).
                self._challenge_retries = 0
                self._send_challenge(secrets.randbits(64), now)
            return
        pending = self._challenge
        if pending is None or nonce != pending[0]:
            self.stats["rejected"] += 1
            log.debug("answer from %s with a nonce never asked", self.peer_id)
            return
        self._challenge = None
        self._challenge_due = None
        held = list(self._held)
        self._held.clear()
        self._held_rx_bytes = 0
        if self._rx_inc is not None and incarnation <= self._rx_inc:
            log.debug("%s is still incarnation %d: the claim was false", self.peer_id, incarnation)
            return
        self._vouched = incarnation
        self.stats["confirmed"] += 1
        # The timeouts while this side held the peer's acks were not losses: one RTT sample
        # (the challenge's, unless it was resent: Karn) and no backoff carried over.
        if self._challenge_retries == 0:
            self.rtt.on_sample(now - pending[1])
        self.rtt.reset_backoff()
        for segment in held:
            if segment.incarnation == incarnation:
                self.receive_segment(segment, now)

    def _on_messages(self, messages: tuple[wire.Message, ...], now: float) -> None:
        cum = self._cum
        ready = self._ready
        ooo = self._ooo
        seen = self._seen
        limit = cum + self.receive_capacity - len(ready) - self._old_count
        had_gap = bool(ooo or seen)
        n = len(messages)
        scope = self._scope
        bad = None
        if scope is not None and not scope.admits_all(map(_clock_of, messages)):
            bad = self._screen(messages)
        if type(messages[0][2]) is _Fragment and self._max_large is not None:
            bad = self._screen_large(messages, bad)
        deltas = ClockDelta in map(type, map(_clock_of, messages))
        run: Sequence[wire.Message] = messages
        rx_bytes = self._rx_bytes
        budget = self.receive_bytes
        saved = (self._rx_entries, self._rx_seq) if deltas else None
        if (
            bad is None
            and not had_gap
            and messages[0][0] == cum + 1
            and messages[-1][0] == cum + n <= limit
            and (n < 3 or list(map(_seq_of, messages)) == list(range(cum + 1, cum + n + 1)))
            and (not deltas or (run := self._rebuild_run(messages)))
            and (
                rx_bytes + (cost := sum(map(message_bytes, run))) <= budget
                or (n == 1 and rx_bytes < budget)
            )
        ):
            # The common case: the next messages, in order, within the windows.
            if not deltas:
                last = messages[-1]
                self._rx_entries = last[1]._entries
                self._rx_seq = last[0]
            self._rx_bytes = rx_bytes + cost
            ready.extend(run)
            if self._journal is not None:
                self._journal.extend(run)
            self._cum = cum + n
            self._sacks = None
            self.stats["received"] += n
            self._segs_unacked += 1
            if self._segs_unacked >= 2:
                self._ack_now = True
            elif self._ack_deadline is None:
                self._ack_deadline = now + self.ack_delay
            return
        if saved is not None:  # a run rebuilt, then over the bytes: message by message
            self._rx_entries, self._rx_seq = saved
        fifo = self.fifo
        accepted = duplicates = beyond = refused = over = 0
        journal = self._journal
        refusals = self._refusals
        for message in messages:
            seq = message.seq
            if seq <= cum:
                duplicates += 1
            elif seq > limit:
                beyond += 1
            elif bad is not None and seq in bad:
                if seq in ooo or seq in seen or seq in refusals:
                    duplicates += 1
                    continue
                if len(refusals) >= MAX_PENDING_REFUSALS:
                    beyond += 1
                    continue
                self._refuse(seq, bad[seq])
                refused += 1
                if seq == cum + 1:
                    self._rebuild(message)  # the next message's clock may build on it
                else:
                    if fifo:
                        ooo[seq] = _REFUSED
                    else:
                        seen.add(seq)
                    continue
                cum = self._advance(seq)
            elif seq == cum + 1:
                # The next in order: taken while the ready ones are below the budget, so
                # that messages held above the gap can never block it.
                if self._rx_bytes >= budget:
                    over += 1
                    continue
                if type(message[1]) is ClockDelta:
                    rebuilt = self._rebuild(message)
                    if rebuilt is None:
                        continue
                else:
                    rebuilt = message
                    self._rx_entries = message[1]._entries
                    self._rx_seq = seq
                self._rx_bytes += message_bytes(rebuilt)
                ready.append(rebuilt)
                cum = seq
                accepted += 1
                if journal is not None:
                    journal.append(rebuilt)
                if ooo or seen:
                    cum = self._advance(cum)
            elif fifo:
                if seq in ooo:
                    duplicates += 1
                    held = ooo[seq]
                    if type(message[1]) is not ClockDelta and type(held[1]) is ClockDelta:
                        ooo[seq] = message  # resent whole: it no longer needs its base
                        self._ooo_bytes += message_bytes(message) - message_bytes(held)
                    continue
                if journal is not None and type(message[1]) is ClockDelta:
                    # A log holds whole clocks: this one waits until its base is here.
                    self.stats["clock_base_missing"] += 1
                    continue
                cost = message_bytes(message)
                if self._rx_bytes + self._ooo_bytes + cost > budget:
                    over += 1
                    continue
                self._ooo_bytes += cost
                ooo[seq] = message
                accepted += 1
                if journal is not None:
                    journal.append(message)
            elif seq in seen:
                duplicates += 1
            else:
                cost = message_bytes(message)
                if self._rx_bytes + cost > budget:
                    over += 1
                    continue
                rebuilt = self._rebuild(message)
                if rebuilt is None:
                    continue
                self._rx_bytes += cost
                seen.add(seq)
                ready.append(rebuilt)
                limit -= 1
                accepted += 1
                if journal is not None:
                    journal.append(rebuilt)
        stats = self.stats
        if over:
            stats["beyond_bytes"] += over
            beyond += over
        if cum != self._cum or accepted or refused:
            if refusals and journal is not None and cum != self._cum:
                self._mark_past_refusals(cum)
            self._cum = cum
            self._sacks = None
        stats["received"] += accepted
        if refused:
            stats["refused"] += refused
        if duplicates:
            stats["duplicates"] += duplicates
        if beyond:
            stats["beyond_window"] += beyond
            if self.retransmit:
                log.debug("%d message(s) from %s beyond the receive window", beyond, self.peer_id)
            else:  # the peer broke the window it was given: nothing will resend them
                log.warning(
                    "%s sent %d message(s) beyond the window it was given; dropped",
                    self.peer_id,
                    beyond,
                )
        self._segs_unacked += 1
        if self._segs_unacked >= 2 or duplicates or beyond or had_gap or ooo or seen:
            self._ack_now = True
        elif self._ack_deadline is None:
            self._ack_deadline = now + self.ack_delay

    def _advance(self, cum: int) -> int:
        """The cumulative point past ``cum`` over what is held above it (FIFO: moved to
        the ready queue; otherwise already delivered)."""
        if self.fifo:
            return self._drain(cum)
        seen = self._seen
        while seen and cum + 1 in seen:
            cum += 1
            seen.discard(cum)
        return cum

    def _drain(self, cum: int) -> int:
        """Move the messages held above ``cum`` that now follow it to the ready queue (a
        refused one only moves the point); returns the new cumulative point."""
        ooo, ready = self._ooo, self._ready
        while ooo:
            following = ooo.pop(cum + 1, None)
            if following is None:
                break
            if following is not _REFUSED:
                self._ooo_bytes -= message_bytes(following)
                rebuilt = self._rebuild(following)
                if rebuilt is None:
                    break  # dropped: the peer resends it with its full clock
                ready.append(rebuilt)
                self._rx_bytes += message_bytes(rebuilt)
            cum += 1
        return cum

    def _rebuild(self, message: wire.Message) -> wire.Message | None:
        """``message`` with its whole clock, rebuilt from the previous message's when it
        came as a delta, in sequence order; None (counted, acked at once so the sender
        hears it) when this side does not hold the delta's base: never a guess."""
        seq, clock, payload = message
        if type(clock) is not ClockDelta:
            self._rx_entries = clock._entries
            self._rx_seq = seq
            return message
        if self._rx_seq != seq - 1:
            self.stats["clock_base_missing"] += 1
            self._ack_now = True
            log.debug("clock delta on %d from %s without its base", seq, self.peer_id)
            return None
        entries = apply_delta(self._rx_entries, clock)
        if len(entries) > self._most_entries:
            self.stats["clock_base_missing"] += 1
            log.debug("clock delta on %d from %s builds a clock out of scope", seq, self.peer_id)
            return None  # resent whole, it is refused like any clock out of scope
        self._rx_entries = entries
        self._rx_seq = seq
        return _new_tuple(wire.Message, (seq, VectorClock._trusted(entries), payload))

    def _rebuild_run(self, messages: tuple[wire.Message, ...]) -> list[wire.Message]:
        """The in-order ``messages`` with whole clocks (:meth:`_rebuild`), or an empty list
        and no state changed when one cannot be rebuilt (the caller goes message by message)."""
        entries, at = self._rx_entries, self._rx_seq
        most = self._most_entries
        out: list[wire.Message] = []
        append = out.append
        for seq, clock, payload in messages:
            if type(clock) is ClockDelta:
                if at != seq - 1:
                    return []
                if clock.removed:
                    entries = apply_delta(entries, clock)
                else:
                    entries = entries.copy()
                    entries.update(clock._entries)
                if len(entries) > most:
                    return []
                append(_new_tuple(wire.Message, (seq, VectorClock._trusted(entries), payload)))
            else:
                entries = clock._entries
                append(_new_tuple(wire.Message, (seq, clock, payload)))
            at = seq
        self._rx_entries, self._rx_seq = entries, at
        return out

    def _mark_past_refusals(self, cum: int) -> None:
        """A refused message has no ``in`` record: the receive point passes it only by a
        mark (written after the batch's ``in`` records, which it covers), or a recovery
        would wait for it before what follows it."""
        if self._rx_inc is not None and min(self._refusals) <= cum:
            self._refusal_mark = (self._rx_inc, cum)

    def _screen(self, messages: tuple[wire.Message, ...]) -> dict[int, str]:
        """The messages whose clock breaks the scope, by seq, with the reason."""
        assert self._scope is not None
        violation = self._scope.violation
        bad: dict[int, str] = {}
        for seq, clock, _ in messages:
            reason = violation(clock)
            if reason is not None:
                bad[seq] = reason[: wire.MAX_REASON]
        return bad

    def _screen_large(
        self, messages: tuple[wire.Message, ...], bad: dict[int, str] | None
    ) -> dict[int, str] | None:
        """``bad`` with the first pieces that announce a message above ``max_large``."""
        limit = self._max_large
        assert limit is not None
        for seq, clock, piece in messages:
            if type(piece) is _Fragment and clock and piece[0] + len(piece[1]) > limit:
                size = piece[0] + len(piece[1])
                bad = bad or {}
                bad[seq] = (
                    f"a message of {size} bytes is larger than this node's max_message of "
                    f"{limit} bytes"
                )
        return bad

    def _refuse(self, seq: int, reason: str) -> None:
        """Take message ``seq`` in as refused: the peer hears it on every ack from now on
        (until its base passes it), the owner gets an ``InputRefused`` event."""
        self._refusals[seq] = reason
        self._events.append(
            InputRefused(self.peer_id, f"message {self._rx_inc}:{seq} refused: {reason}")
        )
        log.debug("refused message %d from %s: %s", seq, self.peer_id, reason)

    def _forget_refusals(self, base: int) -> None:
        """The peer's ``base`` passed these refusals: it has heard of them."""
        for seq in [seq for seq in self._refusals if seq < base]:
            del self._refusals[seq]

    def _skip_to(self, point: int) -> None:
        """The sender gave up up to ``point``: deliver what we hold up to there, skip the rest."""
        moved = 0
        if self.fifo:
            for seq in sorted(s for s in self._ooo if s <= point):
                held = self._ooo.pop(seq)
                if held is not _REFUSED:
                    self._ooo_bytes -= message_bytes(held)
                    rebuilt = self._rebuild(held)
                    if rebuilt is not None:  # else its base was given up: so is it
                        self._ready.append(rebuilt)
                        self._rx_bytes += message_bytes(rebuilt)
                moved += 1
        else:
            below = [s for s in self._seen if s <= point]
            self._seen.difference_update(below)
            moved = len(below)
        self.stats["skipped"] += point - self._cum - moved
        self._cum = self._advance(point)
        self._sacks = None
        self._ack_now = True
        if self._journal is not None:
            assert self._rx_inc is not None
            self._journal_mark = (self._rx_inc, self._cum)

    def _new_peer_incarnation(self, incarnation: int, base: int) -> None:
        """First contact with ``incarnation`` of the peer: start receiving at its ``base``."""
        previous = self._rx_inc
        if self._ready:
            assert previous is not None
            self._old.append((previous, self._ready))
            self._old_count += len(self._ready)
            self._ready = deque()
        discarded = len(self._ooo)
        if discarded:
            self.stats["discarded"] += discarded
            log.debug("discarding %d out-of-order message(s) of a previous incarnation", discarded)
        self._ooo.clear()
        self._ooo_bytes = 0
        self._seen.clear()
        self._refusals.clear()
        self._rx_inc = incarnation
        self._rx_entries = {}
        self._rx_seq = 0
        if not self._old:
            self._delivering_inc = incarnation
        self._cum = base - 1
        if self._journal is not None:
            self._journal_mark = (incarnation, self._cum)
        self._sacks = None
        self._segs_unacked = 0
        self._ack_now = False
        self._ack_deadline = None
        self._adv_window = self.receive_capacity
        self._adv_bytes = self._byte_window()
        if not self.retransmit:
            self._ack_now = True  # it learns our window for it at once (no resends to wait for)
        if previous is None:
            return
        log.debug("%s restarted (incarnation %d -> %d)", self.peer_id, previous, incarnation)
        self.peer_restart_base = self._base
        self._restart_deltas()
        if self.retransmit:
            # What the peer had selectively acked is gone, and its window is new. (On a
            # reliable transport the new incarnation's hello told both already.)
            self._peer_window = self.receive_capacity
            self._peer_bytes = self.receive_bytes
            self._bytes_from = self._acked_cum
            self._unsack_and_requeue()

    def _restart_deltas(self) -> None:
        """diff: the peer may hold no clock of ours: the lowest held message goes whole (the
        rest build on it), or, with none held, the next one."""
        if self._diff:
            if self._next_seq > self._base:
                self._send_full(self._base)
            else:
                self._tx_entries = None

    def _unsack_and_requeue(self) -> None:
        queued = self._queued
        rtx = self._rtx
        for seq in range(self._base, self._next_send):
            if seq not in queued:
                queued.add(seq)
                rtx.append(seq)
        self._sacked.clear()

    def pop_deliveries(self, limit: int) -> list[wire.Message]:
        """At most ``limit`` messages for the application, in delivery order.

        One call returns messages of one peer incarnation only (:attr:`peer_incarnation`
        says which); loop while :attr:`deliverable` is non-zero to drain everything.
        Popping frees receive capacity; call :meth:`datagrams_to_send` afterwards, it may
        carry a window update.
        """
        if limit <= 0:
            return []
        if self._old:
            incarnation, batch = self._old[0]
            out = [batch.popleft() for _ in range(min(limit, len(batch)))]
            if not batch:
                self._old.popleft()
            self._old_count -= len(out)
            self._delivering_inc = incarnation
            self._rx_bytes -= sum(map(message_bytes, out))
        else:
            ready = self._ready
            if not ready:
                return []
            if self._rx_inc is not None:
                self._delivering_inc = self._rx_inc
            if limit >= len(ready):
                out = list(ready)
                ready.clear()
                self._rx_bytes = 0  # it counts the ready messages and the old ones: none left
            else:
                out = [ready.popleft() for _ in range(limit)]
                self._rx_bytes -= sum(map(message_bytes, out))
        self.stats["delivered"] += len(out)
        if self._rx_inc is not None:
            window = self.receive_capacity - len(self._ready) - self._old_count
            if (
                self._adv_window == 0
                or window - self._adv_window >= self.receive_capacity // 2
                or self._adv_bytes == 0
                or self._byte_window() - self._adv_bytes >= self.receive_bytes // 2
            ):
                self._ack_now = True
        return out

    def _byte_window(self) -> int:
        """Bytes of messages beyond the cumulative point this side accepts now."""
        room = self.receive_bytes - self._rx_bytes
        return room if room > 0 else 0

    @property
    def buffered_bytes(self) -> int:
        """Receive side: what the messages held count (ready, old, above a gap, and in
        segments of an unconfirmed peer incarnation), in bytes."""
        return self._rx_bytes + self._ooo_bytes + self._held_rx_bytes

    def resume_point(self) -> tuple[int, int]:
        """``(peer incarnation, cumulative seq received from it)``; ``(0, 0)`` before any."""
        if self._rx_inc is None:
            return (0, 0)
        return (self._rx_inc, self._cum)

    def hello(self) -> wire.Hello:
        """Our hello for a new connection: the resume point and the receive window.

        The window counts as advertised: messages the application takes later make the
        session send a window update (as after an ack).
        """
        window = max(self.receive_capacity - len(self._ready) - self._old_count, 0)
        self._adv_window = window
        self._adv_bytes = self._byte_window()
        return wire.Hello(
            self.local_id,
            self.local_incarnation,
            self.peer_id,
            *self.resume_point(),
            window,
            self._adv_bytes,
        )

    # -- durable streams (the logged perfect link) -----------------------------------------------
    def start_journal(self) -> None:
        """Record from now on what a durable link must log before it acks or delivers:
        every message accepted (in order or above a gap) and every new receive point (a
        new peer incarnation, a skip). Read them with :meth:`take_journal` after each
        :meth:`receive_segment`, before :meth:`datagrams_to_send`."""
        self._journal = []

    def take_journal(self) -> tuple[tuple[int, int] | None, list[wire.Message]]:
        """``(new receive point or None, messages accepted)`` since the last call; the
        messages belong to the incarnation :meth:`resume_point` names (the point comes
        first: it was set before them)."""
        journal = self._journal
        if not journal and self._journal_mark is None:
            return None, []
        mark, self._journal_mark = self._journal_mark, None
        self._journal = []
        return mark, journal or []

    def take_refusal_mark(self) -> tuple[int, int] | None:
        """The receive point past a refused message (or None), for a log to write after the
        ``in`` records of the same batch: a refused message has no ``in`` record."""
        mark, self._refusal_mark = self._refusal_mark, None
        return mark

    def packed(self, seq: int) -> bytes:
        """The encoding of held message ``seq`` (what a durable link logs and resends), with
        its full clock: a log's bytes never depend on a clock it does not hold."""
        i = seq - self._base
        if self._diff:
            return self._whole(i)
        return self._packed[i]

    def packed_run(self, first: int, last: int) -> list[bytes]:
        """:meth:`packed` of held messages ``first`` to ``last``, in one slice."""
        if self._diff:
            return [self._whole(i) for i in range(first - self._base, last - self._base + 1)]
        return self._packed[first - self._base : last - self._base + 1]

    @property
    def next_seq(self) -> int:
        """The sequence number the next :meth:`send` gives."""
        return self._next_seq

    @property
    def acked_point(self) -> int:
        """Every message up to here is acknowledged or given up."""
        return self._base - 1

    def restore(
        self,
        acked: int,
        packed: list[bytes],
        payloads: list[Any],
        receive: tuple[int, int] | None,
        held_back: list[wire.Message],
        now: float,
    ) -> None:
        """Take back a durable stream after a restart, before any other input.

        Outbound: every message up to ``acked`` is settled; ``packed`` are the messages
        after it (with their ``payloads``), resent with their original sequence numbers and
        clocks once the window allows (Karn: none gives an RTT sample; a give-up time
        counts from now). Inbound: ``receive`` is ``(peer incarnation, receive point)``,
        and ``held_back`` the messages logged above a gap (FIFO only). The peer never sees
        a new stream: anything at or below the point is a duplicate.
        """
        count = len(packed)
        self._base = acked + 1
        self._acked_cum = acked
        self._next_seq = self._next_send = acked + 1 + count
        self._packed = list(packed)
        self._sizes = list(map(packed_message_size, packed))
        self._held_est = sum(self._sizes)
        size = sum(map(len, packed)) - self._held_bytes
        self._held_bytes += size
        if self._pool is not None:
            self._pool.used += size
        self._sent_at = [now] * count
        self._tx = [2] * count
        if self._diff:
            self._clocks = [None] * count  # logged in full (see packed)
            self._tx_entries = None
        if self._keep:
            self._payloads = list(payloads)
            self._queued_at = [now] * count
        self._progress_at = now
        if count:
            self._unsack_and_requeue()
            if self.retransmit:
                self._rtx_deadline = now + self.rtt.rto
        if receive is not None:
            self._rx_inc, self._cum = receive
            self._rx_seq = -1  # the clock of the receive point died with the process
            self._delivering_inc = self._rx_inc
            for message in held_back:
                if message.seq > self._cum:
                    self._ooo[message.seq] = message
                    self._ooo_bytes += message_bytes(message)
            self._sacks = None

    # -- acks (sending side) ----------------------------------------------------------------------
    def _on_ack(self, ack: wire.Ack, now: float) -> None:
        incarnation, cum, sacks, window, refused, byte_window = ack
        if incarnation != self.local_incarnation:
            self.stats["ignored_acks"] += 1
            return
        next_send = self._next_send
        if cum >= next_send or window > MAX_WINDOW or (sacks and sacks[-1][1] >= next_send):
            self.stats["rejected"] += 1
            log.debug(
                "absurd ack from %s: cumulative %d, sacks %r, window %d, next unsent %d",
                self.peer_id,
                cum,
                sacks[:4],
                window,
                next_send,
            )
            return
        acked_cum = self._acked_cum
        if cum < acked_cum:
            self.stats["stale_acks"] += 1
            return
        self._progress_at = now
        if self._unreachable:
            self._unreachable = False
            self._events.append(PeerReachable(self.peer_id))
        self._peer_window = window
        self._peer_bytes = byte_window if byte_window >= 0 else MAX_BYTE_WINDOW
        self._bytes_from = cum
        # RTT sample (Karn): from the most recently sent of the newly acked messages, and
        # only if it went out once; otherwise the ack may answer a resend, or it may have
        # waited behind a resent message.
        latest_sent = -1.0
        latest_tx = 0
        sacked = self._sacked
        progressed = cum > acked_cum
        if progressed:
            base = self._base
            low = acked_cum + 1 if acked_cum >= base else base
            unresent_arrivals = 0
            if low <= cum:
                recovery = self._recovery
                resent = cum if recovery is None else recovery[0]
                sent_at = self._sent_at
                tx = self._tx
                if sacked:
                    for seq in range(low, cum + 1):
                        if seq in sacked:
                            sacked.discard(seq)
                            continue
                        if seq > resent:
                            unresent_arrivals += 1
                        at = sent_at[seq - base]
                        if at > latest_sent:
                            latest_sent = at
                            latest_tx = tx[seq - base]
                elif low == cum:
                    latest_sent = sent_at[cum - base]
                    latest_tx = tx[cum - base]
                    unresent_arrivals = cum > resent
                else:
                    unresent_arrivals = max(0, cum - max(resent, low - 1))
                    acked_times = sent_at[low - base : cum + 1 - base]
                    latest_sent = max(acked_times)
                    latest_tx = tx[low - base + acked_times.index(latest_sent)]
                if refused:
                    self._refused_by_peer(refused, low, cum)
                self._release(cum + 1)
            self._acked_cum = cum
            self.rtt.reset_backoff()
        if sacks:
            base = self._base
            sent_at = self._sent_at
            tx = self._tx
            for first, last in sacks:
                for seq in range(max(first, base), last + 1):
                    if seq not in sacked:
                        sacked.add(seq)
                        at = sent_at[seq - base]
                        if at > latest_sent:
                            latest_sent = at
                            latest_tx = tx[seq - base]
        if latest_tx == 1:
            self.rtt.on_sample(now - latest_sent)
        if progressed and self._recovery is not None:
            self._end_recovery(cum, window, spurious=unresent_arrivals > 0)
        if not self.retransmit:
            return
        if len(sacked) >= DUPTHRESH:
            self._detect_losses(now)
        if progressed or self._rtx_deadline is None:
            if self._next_send > self._base or self._window_blocked():
                self._rtx_deadline = now + self.rtt.rto
            else:
                self._rtx_deadline = None

    def _refused_by_peer(self, refused: tuple[tuple[int, str], ...], low: int, cum: int) -> None:
        """The peer refused these of the messages ``low..cum`` its ack releases: report
        each (a ``Refused`` event) before they are forgotten."""
        base = self._base
        out: list[tuple[int, Any, str]] = []
        for seq, reason in refused:
            if low <= seq <= cum:
                i = seq - base
                payload = self._payloads[i] if self._keep else wire.payload_of(self._packed[i])
                out.append((seq, payload, reason))
        if out:
            self.stats["refused_by_peer"] += len(out)
            self._events.append(Refused(self.peer_id, self.local_incarnation, tuple(out)))
            log.debug("%s refused %d message(s): %s", self.peer_id, len(out), out[0][2])

    def _release(self, new_base: int) -> None:
        """Forget the held messages below ``new_base`` (acknowledged or given up)."""
        drop = new_base - self._base
        if drop <= 0:
            return
        if drop == len(self._packed):
            size = self._held_bytes
            self._packed.clear()
            self._sizes.clear()
            self._held_est = 0
        else:
            size = sum(map(len, self._packed[:drop]))
            del self._packed[:drop]
            self._held_est -= sum(self._sizes[:drop])
            del self._sizes[:drop]
        self._held_bytes -= size
        if self._pool is not None:
            self._pool.used -= size
        del self._sent_at[:drop]
        del self._tx[:drop]
        if self._diff:
            del self._clocks[:drop]
        if self._keep:
            del self._payloads[:drop]
            del self._queued_at[:drop]
        self._base = new_base

    def _end_recovery(self, cum: int, window: int, *, spurious: bool) -> None:
        """First progress after a timeout. Unless messages that were neither resent nor
        known to have arrived were acked (a spurious timeout: the rest is still in flight),
        the unacked messages sent before the timeout are lost too: resend them all."""
        assert self._recovery is not None
        high = self._recovery[1]
        self._recovery = None
        if spurious:
            return
        sacked, queued = self._sacked, self._queued
        for seq in range(
            max(cum + 1, self._base), min(high, cum + window, self._next_send - 1) + 1
        ):
            if seq not in sacked and seq not in queued:
                queued.add(seq)
                self._rtx.append(seq)

    def _detect_losses(self, now: float) -> None:
        """Queue each unacked message with DUPTHRESH sacked ones above it (once per RTT)."""
        srtt = self.rtt.srtt if self.rtt.srtt is not None else self.rtt.rto
        sacked, queued = self._sacked, self._queued
        above = len(sacked)
        base = self._base
        for seq in range(base, self._next_send):
            if above < DUPTHRESH:
                break
            if seq in sacked:
                above -= 1
            elif seq not in queued and (
                self._tx[seq - base] == 1 or now - self._sent_at[seq - base] >= srtt
            ):
                queued.add(seq)
                self._rtx.append(seq)
                self.stats["fast_retransmits"] += 1

    def _window_blocked(self) -> bool:
        return self._next_seq > self._next_send and (
            self._next_send > self._acked_cum + self._peer_window or self._byte_blocked
        )

    def _byte_limit(self) -> int:
        """The highest sequence number the peer's byte window lets out (resent or new).

        Messages after ``_bytes_from`` count against the window; the first of them goes
        whatever its size when the window is open at all (a receiver with room always
        takes the next message in order)."""
        base = self._base
        sizes = self._sizes
        first = max(self._bytes_from + 1, base)
        room = self._peer_bytes
        seq = first
        end = self._next_seq
        while seq < end:
            room -= sizes[seq - base]
            if room < 0:
                break
            seq += 1
        if seq == first and self._peer_bytes > 0:
            return first
        return seq - 1

    def _needs_timer(self) -> bool:
        return self._next_send > self._base or self._window_blocked()

    # -- output -----------------------------------------------------------------------------------
    def datagrams_to_send(self, now: float) -> list[bytes]:
        """Encoded datagrams to put on the wire now (possibly none).

        Challenges and answers first; then retransmissions, new messages the peer's window
        allows, and the ack, packed into as few segments of at most ``max_datagram`` bytes
        as possible (a message larger than that goes alone). Re-read :meth:`get_timer`
        afterwards.
        """
        if self._outbox:
            outbox, self._outbox = self._outbox, []
            return outbox + self._segments_to_send(now)
        return self._segments_to_send(now)

    def _segments_to_send(self, now: float) -> list[bytes]:
        start = self._next_send
        base = self._base
        limit = self._acked_cum + self._peer_window
        if self._byte_blocked:
            self._byte_blocked = False
        if self._held_est > self._peer_bytes:
            allowed = self._byte_limit()
            if allowed < limit:
                limit = allowed
                self._byte_blocked = True
        stop = self._next_seq
        if stop > limit:
            stop = limit + 1
        idle = start == base  # nothing in flight (a running timer is persist)
        resends = None
        if self._rtx or self._probe is not None:
            resends = self._take_resends(limit)
            start = self._next_send  # a probe of the first unsent message moved it
        if start < stop:
            self._next_send = stop
        elif not resends and not self._announce:
            if self._rx_inc is None:
                return []
            if not self._ack_now:
                deadline = self._ack_deadline
                if deadline is None or deadline > now:
                    return []
        if idle and self._next_send > base:
            self._progress_at = now  # the peer's silence counts from the first message out
        rx_inc = self._rx_inc
        if rx_inc is None:
            packed_ack = _NIL
            ack_bytes = 1
            window = -1
        else:
            packed_ack, ack_bytes, window = self._make_ack(rx_inc)
        stats = self.stats
        packed = self._resend(resends, now) if resends else None
        if start < stop:
            new = stop - start
            fresh = self._packed[start - base : stop - base]
            if packed:
                packed += fresh
            else:
                packed = fresh
            self._sent_at += [now] * new
            self._tx += [1] * new
            stats["sent"] += new
        encode = wire.encode_segment_prefixed
        if packed:
            if len(packed) == 1:
                out = [encode(self._prefix, base, packed_ack, packed)]
            else:
                prefix = self._prefix
                batches = _batches(packed, self.max_datagram - self._header_bytes - ack_bytes)
                out = [encode(prefix, base, packed_ack, batch) for batch in batches]
            if self.retransmit and (self._rtx_deadline is None or idle):
                self._rtx_deadline = now + self.rtt.rto
        else:
            out = [encode(self._prefix, base, packed_ack, [])]
            if window >= 0:
                stats["pure_acks"] += 1
        stats["segments_sent"] += len(out)
        self._announce = False
        if window >= 0:
            stats["acks_sent"] += len(out)
            self._segs_unacked = 0
            self._ack_now = False
            self._ack_deadline = None
            self._adv_window = window
        return out

    def _resend(self, seqs: list[int], now: float) -> list[bytes]:
        """The packed messages of ``seqs`` (resends, or a probe never sent), counted as out."""
        base = self._base
        packed, sent_at, tx = self._packed, self._sent_at, self._tx
        out: list[bytes] = []
        resent = 0
        for seq in seqs:
            i = seq - base
            out.append(packed[i])
            if i < len(tx):
                tx[i] += 1
                sent_at[i] = now
                resent += 1
            else:  # a probe of the lowest message never sent
                tx.append(1)
                sent_at.append(now)
                self.stats["sent"] += 1
        if resent:
            self.stats["retransmitted"] += resent
        return out

    def _take_resends(self, limit: int) -> list[int]:
        """The probe (regardless of the window) and the queued resends the window allows."""
        base = self._base
        sacked, queued = self._sacked, self._queued
        items: list[int] = []
        probe = self._probe
        if probe is not None:
            self._probe = None
            if base <= probe < self._next_seq and probe not in sacked:
                items.append(probe)
                queued.discard(probe)
                self.stats["probes"] += 1
                if probe == self._next_send:
                    self._next_send += 1
        if self._rtx:
            keep: list[int] = []
            for seq in sorted(self._rtx):
                if seq not in queued or seq < base or seq in sacked:
                    queued.discard(seq)
                    continue
                if seq > limit:
                    keep.append(seq)
                    continue
                queued.discard(seq)
                items.append(seq)
            self._rtx = keep
        return items

    def _make_ack(self, rx_inc: int) -> tuple[bytes, int, int]:
        """The current ack packed, an upper bound of its encoded size, and its window."""
        window = max(self.receive_capacity - len(self._ready) - self._old_count, 0)
        room = self.receive_bytes - self._rx_bytes
        self._adv_bytes = room = room if room > 0 else 0
        if not self._ooo and not self._seen and not self._refusals:
            key = (rx_inc, self._cum, window, room)
            if key != self._plain_key:
                self._plain_key = key
                self._plain_ack = wire.pack_plain_ack(*key)
            return self._plain_ack, _PLAIN_ACK_BYTES, window
        sacks = self._sacks
        if sacks is None:
            sacks = self._sacks = self._compute_sacks() if self._ooo or self._seen else ()
        refused = tuple(sorted(self._refusals.items()))
        packed = wire.pack_ack_bytes(wire.Ack(rx_inc, self._cum, sacks, window, refused, room))
        return packed, len(packed), window

    def _compute_sacks(self) -> tuple[tuple[int, int], ...]:
        keys = sorted(self._ooo if self.fifo else self._seen)
        most = wire.DEFAULT_LIMITS.max_sack_ranges
        ranges: list[tuple[int, int]] = []
        first = last = keys[0]
        for seq in keys[1:]:
            if seq == last + 1:
                last = seq
                continue
            ranges.append((first, last))
            if len(ranges) == most:
                return tuple(ranges)
            first = last = seq
        ranges.append((first, last))
        return tuple(ranges)

    # -- timers -----------------------------------------------------------------------------------
    def get_timer(self) -> float | None:
        """The earliest deadline at which :meth:`handle_timer` must run, or ``None``."""
        deadline = self._rtx_deadline
        ack_deadline = self._ack_deadline
        if ack_deadline is not None and (deadline is None or ack_deadline < deadline):
            deadline = ack_deadline
        challenge_due = self._challenge_due
        if challenge_due is not None and (deadline is None or challenge_due < deadline):
            deadline = challenge_due
        if self._next_seq > self._base:
            if not self._unreachable and self._next_send > self._base:
                quiet = self._progress_at + self.unreachable_after
                if deadline is None or quiet < deadline:
                    deadline = quiet
            if self._give_up_after is not None and self._give_up_after != math.inf:
                oldest = self._queued_at[0] + self._give_up_after
                if deadline is None or oldest < deadline:
                    deadline = oldest
        return deadline

    def handle_timer(self, now: float) -> None:
        """Run whatever is due at ``now``; calling it early is harmless.

        Then call :meth:`datagrams_to_send`, :meth:`events` and :meth:`get_timer`.
        """
        due = now + TIMER_GRANULARITY
        if (
            self._give_up_after is not None
            and self._next_seq > self._base
            and self._queued_at[0] + self._give_up_after <= due
        ):
            self._give_up(due, now)
        if (
            not self._unreachable
            and self._next_send > self._base
            and self._progress_at + self.unreachable_after <= due
        ):
            self._unreachable = True
            self._events.append(PeerUnreachable(self.peer_id))
            log.debug("%s unreachable: no ack for %.3f s", self.peer_id, self.unreachable_after)
        if self._ack_deadline is not None and self._ack_deadline <= due:
            self._ack_deadline = None
            if self._segs_unacked:
                self._ack_now = True
        if self._rtx_deadline is not None and self._rtx_deadline <= due:
            self._on_timeout(now)
        challenge = self._challenge
        if challenge is not None and self._challenge_due is not None and self._challenge_due <= due:
            self._challenge_retries += 1  # the challenge or its answer was lost: ask again
            self._send_challenge(challenge[0], now)

    def _on_timeout(self, now: float) -> None:
        """Retransmission (or persist) timer: back off, then resend or probe."""
        self.stats["timeouts"] += 1
        rtt = self.rtt
        rtt.back_off()
        limit = self._acked_cum + self._peer_window
        if self._next_send > self._base:
            sacked = self._sacked
            if self._diff:
                # A whole RTO with the lowest held message acked only selectively: the peer
                # dropped it for want of its delta's base. It goes whole (as does what we resend).
                sacked.discard(self._base)
            lowest = None
            for seq in range(self._base, self._next_send):
                if seq not in sacked:
                    lowest = seq
                    break
            if lowest is None:
                self._announce = True
            else:
                # Resend only the lowest (a spurious timeout then costs one message); the
                # ack it draws tells whether the rest was lost too (see _on_ack).
                if self._diff:
                    self._send_full(lowest)
                if self._unreachable or lowest > limit:
                    self._probe = lowest
                elif lowest not in self._queued:
                    self._queued.add(lowest)
                    self._rtx.append(lowest)
                high = self._next_send - 1
                if self._recovery is not None:
                    high = max(high, self._recovery[1])
                self._recovery = (lowest, high)
        elif self._next_seq > self._next_send:
            self._probe = self._next_send
        if self._needs_timer() or self._probe is not None:
            self._rtx_deadline = now + (self.rto_max if self._unreachable else rtt.rto)
        else:
            self._rtx_deadline = None

    def postpone_retransmission(self, until: float) -> None:
        """Let the retransmission timer expire no earlier than ``until`` (the adapter was
        not run for a while: that time does not count against the peer). Re-read
        :meth:`get_timer` afterwards."""
        if self._rtx_deadline is not None and self._rtx_deadline < until:
            self._rtx_deadline = until

    def give_up_now(self, now: float) -> None:
        """Give up on every held message at once (a failure detector suspects the peer).

        Only with a ``give_up_after`` (``math.inf``: keep payloads, give up only when told);
        without one nothing happens. Then call :meth:`events` (a :class:`GaveUp`).
        """
        if self._keep and self._next_seq > self._base:
            self._give_up(math.inf, now)

    def _give_up(self, due: float, now: float) -> None:
        """Remove every held message whose give-up deadline is at or before ``due``."""
        assert self._give_up_after is not None
        patience = self._give_up_after
        base = self._base
        queued_at, payloads, sacked = self._queued_at, self._payloads, self._sacked
        given: list[tuple[int, Any]] = []
        seq = base
        while seq < self._next_seq:
            if queued_at[seq - base] + patience > due:
                break
            if seq in sacked:
                sacked.discard(seq)
                if self._diff:  # the peer holds it, maybe above a delta's lost base
                    given.append((seq, payloads[seq - base]))
            else:
                given.append((seq, payloads[seq - base]))
            seq += 1
        self._release(seq)
        self._restart_deltas()
        self._next_send = max(self._next_send, seq)
        self._announce = True
        if given:
            self.stats["gave_up"] += len(given)
            self._events.append(GaveUp(self.peer_id, self.local_incarnation, tuple(given)))
            log.debug("gave up on %d message(s) to %s", len(given), self.peer_id)
        if self.retransmit:
            self._rtx_deadline = now + self.rtt.rto if self._needs_timer() else None

    # -- reconnects (reliable transports) ---------------------------------------------------------
    def on_reconnect(self, hello: wire.Hello, now: float) -> None:
        """A new connection's hello from the peer (its sender checked by the adapter).

        It has our messages up to ``hello.received`` of our incarnation
        ``hello.peer_incarnation`` (of any other, nothing), and accepts ``hello.window``
        more beyond them (for another incarnation of ours: beyond our ``base``, where it
        will start receiving this one). Treats it as an ack, queues every other unacked
        message for resending (within the window), and makes the next
        :meth:`datagrams_to_send` carry a window update. Call :meth:`datagrams_to_send`
        next.
        """
        received, window = hello.received, hello.window
        ours = hello.peer_incarnation == self.local_incarnation
        if not ours:
            received = 0
        elif received >= self._next_send:
            self.stats["rejected"] += 1
            log.debug("hello from %s claims %d, never sent", self.peer_id, received)
            received = 0
        if received > self._acked_cum:
            self._release(received + 1)
            self._acked_cum = received
        if window > MAX_WINDOW:
            self.stats["rejected"] += 1
            log.debug("hello from %s advertises an absurd window %d", self.peer_id, window)
        else:
            self._apply_hello_window(hello.incarnation, ours, received, window, hello.byte_window)
        self._progress_at = now
        if self._unreachable:
            self._unreachable = False
            self._events.append(PeerReachable(self.peer_id))
        self._restart_deltas()
        self._unsack_and_requeue()
        if self._rx_inc is not None:
            self._ack_now = True
        if self.retransmit:
            self.rtt.reset_backoff()
            self._rtx_deadline = now + self.rtt.rto if self._needs_timer() else None

    def _apply_hello_window(
        self, incarnation: int, ours: bool, received: int, window: int, byte_window: int
    ) -> None:
        """Take the peer's window from its hello, as the highest seq it accepts.

        A receiver's ``cumulative + window`` never shrinks while it receives one
        incarnation of ours, so the bound the hello gives holds for as long as that
        process lives, even when an ack that came on the old connection is newer.
        """
        if ours:
            start = received
        elif self._window_by == incarnation:
            # The same process, but it had not met this incarnation of ours when it wrote
            # the hello: it did since (its ack came first, on the old connection), from a
            # base we no longer know. Its last word stands.
            return
        else:
            start = self._base - 1
        self._peer_window = max(start + window - self._acked_cum, 0)
        self._peer_bytes = byte_window if byte_window >= 0 else MAX_BYTE_WINDOW
        self._bytes_from = start
        self._window_by = incarnation

    # -- events -----------------------------------------------------------------------------------
    def events(self) -> list[LinkEvent]:
        """Drain the events since the last call (PeerUnreachable, PeerReachable, GaveUp).

        They are the links' own vocabulary: an adapter hands them to its user unchanged.
        """
        events = self._events
        if not events:
            return []
        self._events = []
        return events
