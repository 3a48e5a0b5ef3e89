"""The logged perfect link's records and the state they recover to (sans-IO).

A durable node writes one record log, ``link.log``, for all its reliable sessions. This
module is the pure part: what each record means, the state a list of records recovers to,
and the live records a compaction keeps. It does no IO (the link's adapter,
:mod:`netclock.links.journal`, writes and syncs).

Records (msgpack arrays, first field the kind):

``["stream", incarnation]``
    The incarnation every session of this log speaks as on the wire. It is the node's
    incarnation when the log was created and survives restarts, so to a peer a durable
    node's restart is a silence, never a new sender whose stream starts afresh.
``["out", peer, seq, packed]`` or ``["out", peer, seq, [packed, ...]]``
    A message to ``peer`` (``packed``: the session's encoding of ``[seq, clock, payload]``,
    resent byte for byte), or the messages ``seq``, ``seq + 1``, ... to it, written before
    any of them leaves.
``["acked", peer, seq]``
    ``peer`` acknowledged (or the link gave up on) every message up to ``seq``.
``["mark", sender, incarnation, seq]``
    Every message of ``sender``'s ``incarnation`` up to ``seq`` was received (or skipped:
    the sender gave it up). Written on first contact with an incarnation (``base - 1``), on a
    skip, and by compaction.
``["in", sender, incarnation, seq, clock, payload]``
    A message accepted from ``sender``, written before it is acknowledged or delivered.
``["ins", [in-record, ...]]``
    The ``in`` records of one arriving segment, in the order they were accepted: one
    record (one pack, one checksum) per segment instead of one per message. It means
    exactly what its ``in`` records mean, applied in order.
``["inr", sender, incarnation, seq, [clock, ...], [payload, ...]]``
    The messages ``seq``, ``seq + 1``, ... of one arriving segment, in order, as columns:
    exactly the ``in`` records ``["in", sender, incarnation, seq + i, clocks[i],
    payloads[i]]`` applied in order. Half the values to pack per message of ``ins``, and
    no record per message to build.
``["consumed", sender, incarnation, seq]`` or ``["consumed", sender, incarnation, seq, last]``
    The application consumed that message (or every message from ``seq`` to ``last``): it
    is never delivered again.

Guarantees of :class:`LinkLogState` (checked by hypothesis over every prefix of record
streams, with compactions anywhere): an ``in`` record not followed by its ``consumed``
record comes back (:meth:`LinkLogState.redeliveries`, or held back above a gap); one
followed by it never does, and its sequence number is at or below the recovered receive
point, so a retransmission is a duplicate; an ``out`` record not covered by an ``acked``
record comes back with its bytes. :meth:`LinkLogState.live_records` recovers to the same
state and its size is bounded by what is outstanding, not by history.
"""

from __future__ import annotations

from typing import Any

STREAM = "stream"
OUT = "out"
ACKED = "acked"
MARK = "mark"
IN = "in"
INS = "ins"
INR = "inr"
CONSUMED = "consumed"

Key = tuple[str, int]
"""A received stream: ``(sender, sender incarnation)``."""
MsgKey = tuple[str, int, int]
"""A received message: ``(sender, sender incarnation, seq)``."""


class LinkLogError(Exception):
    """A record of an unknown kind or shape (the log is not a link log)."""


class Outbound:
    """What survives of one peer's outbound stream: the acked point and the held messages."""

    __slots__ = ("acked", "held")

    def __init__(self) -> None:
        self.acked = 0
        """Every seq up to here is acknowledged or given up."""
        self.held: dict[int, bytes] = {}
        """seq -> packed message, for every seq above :attr:`acked` (in seq order)."""

    @property
    def next_seq(self) -> int:
        """The sequence number the next message to the peer takes."""
        top = max(self.held) if self.held else 0
        return max(self.acked, top) + 1


class LinkLogState:
    """The meaning of a link log's records, built by :meth:`apply` (or :func:`recover`)."""

    def __init__(self) -> None:
        self.stream: int | None = None
        self.outbound: dict[str, Outbound] = {}
        self.latest: dict[str, int] = {}
        """Each sender's highest incarnation seen (the one its session receives from)."""
        self.point: dict[Key, int] = {}
        """Per received stream: everything up to here was received (contiguously)."""
        self.ahead: dict[Key, set[int]] = {}
        """Per received stream: seqs received above :attr:`point` (a gap below them)."""
        self.inbound: dict[Key, dict[int, Any]] = {}
        """Per received stream, seq -> its ``in`` record, for every message not consumed
        (in log order). An adapter may keep a stand-in for the record there (the journal
        keeps the message it logged) if it puts the record back before it asks for
        records (:meth:`redeliveries`, :meth:`held_back`, :meth:`live_records`)."""

    # -- applying records -------------------------------------------------------------------------
    def apply(self, record: Any) -> None:
        """Take one record (raises :class:`LinkLogError` for a record of unknown shape)."""
        try:
            kind = record[0]
            if kind == IN:
                _, sender, inc, seq, _clock, _payload = record
                self._received(sender, inc, seq)
                self._stream(sender, inc)[seq] = record
            elif kind == INS:
                _, batch = record
                for one in batch:
                    if one[0] != IN:
                        raise LinkLogError(f"an ins record holds a {one[0]!r} record")
                    self.apply(one)
            elif kind == INR:
                _, sender, inc, seq, clocks, payloads = record
                if len(clocks) != len(payloads):
                    raise LinkLogError(
                        f"an inr record holds {len(clocks)} clocks and {len(payloads)} payloads"
                    )
                for clock, payload in zip(clocks, payloads, strict=True):
                    self.apply([IN, sender, inc, seq, clock, payload])
                    seq += 1
            elif kind == CONSUMED:
                if len(record) == 5:
                    _, sender, inc, seq, last = record
                else:
                    _, sender, inc, seq = record
                    last = seq
                self.consume(sender, inc, seq, last)
            elif kind == OUT:
                _, peer, seq, packed = record
                out = self._out(peer)
                if type(packed) is list:
                    held, acked = out.held, out.acked
                    for one in packed:
                        if seq > acked:
                            held[seq] = one
                        seq += 1
                elif seq > out.acked:
                    out.held[seq] = packed
            elif kind == ACKED:
                _, peer, seq = record
                out = self._out(peer)
                if seq > out.acked:
                    out.acked = seq
                    for done in [s for s in out.held if s <= seq]:
                        del out.held[done]
            elif kind == MARK:
                _, sender, inc, seq = record
                self._marked(sender, inc, seq)
            elif kind == STREAM:
                _, self.stream = record
            else:
                raise LinkLogError(f"unknown link-log record kind {kind!r}")
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            raise LinkLogError(f"malformed link-log record {record!r}: {exc}") from None

    def _stream(self, sender: str, inc: int) -> dict[int, Any]:
        stream = self.inbound.get((sender, inc))
        if stream is None:
            stream = self.inbound[(sender, inc)] = {}
        return stream

    def consume(self, sender: str, inc: int, seq: int, last: int | None = None) -> bool:
        """Messages ``seq`` to ``last`` (default: just ``seq``) of that stream are consumed;
        True if any of them was pending."""
        stream = self.inbound.get((sender, inc))
        if not stream:
            return False
        if last is None or last == seq:
            return stream.pop(seq, None) is not None
        pop = stream.pop
        found = False
        for one in range(seq, last + 1):
            if pop(one, None) is not None:
                found = True
        return found

    @property
    def pending_count(self) -> int:
        """Messages received and not consumed."""
        return sum(map(len, self.inbound.values()))

    def _out(self, peer: str) -> Outbound:
        out = self.outbound.get(peer)
        if out is None:
            out = self.outbound[peer] = Outbound()
        return out

    def _see(self, sender: str, inc: int) -> Key:
        if inc > self.latest.get(sender, -1):
            self.latest[sender] = inc
        return (sender, inc)

    def _received(self, sender: str, inc: int, seq: int) -> None:
        key = self._see(sender, inc)
        point = self.point.get(key, 0)
        if seq == point + 1:
            self._advance(key, seq)
        elif seq > point:
            self.ahead.setdefault(key, set()).add(seq)

    def _marked(self, sender: str, inc: int, seq: int) -> None:
        key = self._see(sender, inc)
        if seq > self.point.get(key, 0):
            ahead = self.ahead.get(key)
            if ahead:
                ahead.difference_update([s for s in ahead if s <= seq])
            self._advance(key, seq)

    def _advance(self, key: Key, point: int) -> None:
        ahead = self.ahead.get(key)
        if ahead:
            while point + 1 in ahead:
                point += 1
                ahead.discard(point)
            if not ahead:
                del self.ahead[key]
        self.point[key] = point

    def consumed_through(self, sender: str, incarnation: int, seq: int) -> None:
        """Every pending message of that stream up to ``seq`` is consumed (a consumed-up-to
        mark, :mod:`netclock.durable.marks`)."""
        stream = self.inbound.get((sender, incarnation))
        if stream:
            for done in [s for s in stream if s <= seq]:
                del stream[done]

    # -- what recovery hands back -----------------------------------------------------------------
    def deliverable(self, key: MsgKey) -> bool:
        """True when a pending message can go to the application (no gap below it)."""
        return key[2] <= self.point.get((key[0], key[1]), 0)

    def redeliveries(self) -> list[list[Any]]:
        """Pending ``in`` records the application may have seen: the next ones it gets, by
        (sender, incarnation, seq), so each sender's order holds. (Pending above a gap are
        :meth:`held_back`; those of an earlier incarnation above a gap can never be
        delivered and are not returned.)"""
        back: list[list[Any]] = []
        for key in sorted(self.inbound):
            point = self.point.get(key, 0)
            stream = self.inbound[key]
            back.extend(stream[seq] for seq in sorted(stream) if seq <= point)
        return back

    def held_back(self, sender: str) -> list[list[Any]]:
        """Pending ``in`` records of ``sender``'s latest incarnation above a gap, by seq."""
        inc = self.latest.get(sender)
        if inc is None:
            return []
        stream = self.inbound.get((sender, inc), {})
        point = self.point.get((sender, inc), 0)
        return [stream[seq] for seq in sorted(stream) if seq > point]

    def resume(self, sender: str) -> tuple[int, int] | None:
        """``(incarnation, receive point)`` of ``sender``'s latest stream, or None."""
        inc = self.latest.get(sender)
        if inc is None:
            return None
        return inc, self.point.get((sender, inc), 0)

    # -- compaction -------------------------------------------------------------------------------
    def live_records(self) -> list[Any]:
        """The records that recover to this state (observably), with nothing retired.

        At most: one stream record, per peer one ``acked`` and its held ``out`` records, per
        sender one ``mark`` (plus one per earlier incarnation still pending), and the
        pending ``in`` records that can still be delivered.
        """
        live: list[Any] = []
        if self.stream is not None:
            live.append([STREAM, self.stream])
        for peer, out in self.outbound.items():
            live.append([ACKED, peer, out.acked])
            live.extend([OUT, peer, seq, out.held[seq]] for seq in sorted(out.held))
        keep: list[list[Any]] = []
        streams = set(self.latest.items())
        for key, stream in self.inbound.items():
            latest = self.latest.get(key[0]) == key[1]
            point = self.point.get(key, 0)
            kept = [rec for seq, rec in stream.items() if latest or seq <= point]
            if kept:
                streams.add(key)
                keep.extend(kept)
        live.extend(
            [MARK, sender, inc, self.point.get((sender, inc), 0)] for sender, inc in streams
        )
        live.extend(keep)
        return live


def consumed_runs(keys: list[MsgKey]) -> list[list[Any]]:
    """``consumed`` records for ``keys`` (in consumption order): one record per run of
    consecutive seqs of one stream, so a stream consumed in order costs one record per
    batch, not one per message."""
    records: list[list[Any]] = []
    run: list[Any] | None = None
    for sender, inc, seq in keys:
        if run is not None and run[1] == sender and run[2] == inc and run[4] + 1 == seq:
            run[4] = seq
            continue
        run = [CONSUMED, sender, inc, seq, seq]
        records.append(run)
    return [run if run[3] != run[4] else run[:4] for run in records]


def recover(records: list[Any]) -> LinkLogState:
    """The state a link log's records recover to (raises :class:`LinkLogError`)."""
    state = LinkLogState()
    for record in records:
        state.apply(record)
    return state
