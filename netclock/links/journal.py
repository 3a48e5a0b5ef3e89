"""The logged perfect link's IO side: ``link.log`` in a node's data directory.

One :class:`LinkJournal` per durable node, shared by the sessions of its reliable link (the
UDP perfect link or the TLS link, through :class:`~netclock.links.pump.SessionPump`). It
writes the records :mod:`netclock.durable.linklog` defines and says when they are durable:

- ``out`` when the link accepts a message (``Node.send``), written before the pump
  transmits anything: before the message or any other datagram leaves the node;
- ``mark`` and ``inr`` or ``ins`` (the segment's messages in one record) right after a
  segment is taken, before anything is acked or delivered;
- ``acked`` when a session's acked point moves (lazily: a lost one only costs a resend that
  the peer acks as a duplicate);
- ``consumed`` when the application consumes a message (``Node``), before it is handed
  another; at process level with ``consume="next"`` a consumed-up-to mark in
  ``consumed.marks`` (:mod:`netclock.durable.marks`, a memory store) stands for it.

Records are queued and written together (:meth:`LinkJournal.flush`, one ``os.write``) at
those points, so a sender's loop iteration costs one write, not one per message. At
:attr:`Durability.PROCESS` a record is durable once written. At
:attr:`Durability.MACHINE` the pump holds a peer's acks, deliveries and first transmissions
until a group-committed fsync covers the records written for that peer (:meth:`ready`,
``on_durable``), and once the application consumed messages, every peer's datagrams until
the fsync covering those ``consumed`` records (requested at once, so it follows within one
fsync): many records per fsync, never one per message.

Compaction follows docs/durability.md: when the file grows past twice its size after the
last compaction plus 8 MiB, it is rewritten with the live records, taken from the sessions
(outbound) and the pending ``in`` records (inbound).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

import msgpack

from netclock.clock import VectorClock
from netclock.durable import crashpoint
from netclock.durable.commit import GroupCommit
from netclock.durable.linklog import (
    ACKED,
    CONSUMED,
    IN,
    INR,
    INS,
    MARK,
    OUT,
    STREAM,
    LinkLogError,
    LinkLogState,
    Outbound,
    consumed_runs,
    recover,
)
from netclock.durable.log import Durability, LogCorrupt, RecordLog
from netclock.durable.marks import CHECK, COPY, ConsumedMarks, MarksCorrupt, pack_copy
from netclock.errors import ConfigError
from netclock.links.session import PeerSession
from netclock.wire.envelope import Message

log = logging.getLogger(__name__)

LINK_LOG = "link.log"
MARKS = "consumed.marks"
COMPACT_SLACK = 8 << 20
"""Bytes a log may grow beyond twice its live size before it is compacted. A compaction
costs two fsyncs and a rename (2-40 ms on a busy VM, the loop blocked): 8 MiB (about
75,000 messages of 64 bytes) makes that below 0.5 us per message, and bounds what a
restart reads beyond what is outstanding to about 8 MiB (under 0.5 s)."""


class LinkJournal:
    """The durable side of one node's reliable link; see the module docstring.

    :meth:`open` recovers it; :attr:`state` then holds what the sessions and the inbox take
    back (:attr:`stream` is the incarnation every session speaks as).
    """

    def __init__(
        self,
        log_: RecordLog,
        state: LinkLogState,
        level: Durability,
        marks: ConsumedMarks | None = None,
    ) -> None:
        self.log = log_
        self.marks = marks
        """Consumed-up-to marks (process level, ``consume="next"``): no write per message."""
        self._mark = marks.mark if marks is not None and level is Durability.PROCESS else None
        self.state = state
        self.level = level
        assert state.stream is not None
        self.stream: int = state.stream
        self._acked: dict[str, int] = {}
        """Per peer: the acked point last logged."""
        self._need: dict[str, int] = {}
        """Machine level, per peer: the position its records need synced before it goes on."""
        self._need_all = 0
        """Machine level: the position every peer's next datagram needs synced (the last
        ``consumed`` records: a consumption is on disk before any effect of it leaves)."""
        self._waiting: set[str] = set()
        self._queued_for: set[str] = set()
        """Machine level: peers with records queued since the last flush."""
        self._next_sender = ""
        self._next_incarnation = -1
        """:meth:`consumed_next`'s last stream; its pending messages, its mark's slot and the
        marks' mapping:"""
        self._next_pending: dict[int, Any] = {}
        self._next_slot: list[int] | None = None
        self._next_area: Any = None
        self._outs: dict[str, PeerSession] = {}
        """The sessions that queued messages since the last flush: one ``out`` record each."""
        self._logged: dict[str, int] = {}
        """Per peer: the highest seq an ``out`` record covers."""
        self.commit: GroupCommit | None = None
        self._wake: Callable[[str], None] | None = None
        self._compact_at = log_.size * 2 + COMPACT_SLACK
        try:
            self._crash_in = crashpoint.armed("in-written")
            self._crash_consumed = crashpoint.armed("consumed")
        except ConfigError:
            self.close()
            raise
        self.compactions = 0

    @classmethod
    def open(cls, data_dir: str | Path, incarnation: int, level: Durability) -> LinkJournal:
        """Open (or create) ``link.log`` in ``data_dir`` and recover it.

        A new log takes ``incarnation`` as its stream. Raises ConfigError when the file is
        not a link log. The log is compacted (and so fsynced, at machine durability) before it
        is used.
        """
        path = Path(data_dir) / LINK_LOG
        try:
            record_log = RecordLog.open(path, sync=level is Durability.MACHINE)
        except LogCorrupt as exc:
            raise ConfigError(
                f"{exc}; move {path} aside to start this node's links afresh "
                "(its unacknowledged and unconsumed messages are then lost)"
            ) from None
        try:
            state = recover(record_log.recovered)
        except LinkLogError as exc:
            record_log.close()
            raise ConfigError(
                f"{path}: {exc}; move the file aside to start this node's links afresh"
            ) from None
        record_log.recovered = []
        try:
            marks = ConsumedMarks.open(path.with_name(MARKS))
        except MarksCorrupt as exc:
            record_log.close()
            raise ConfigError(
                f"{exc}; move it aside to start this node (messages it consumed since its "
                "last start may then come back, flagged redelivered)"
            ) from None
        for (sender, inc), seq in marks.recovered.items():
            state.consumed_through(sender, inc, seq)
        if state.stream is None:
            state.stream = incarnation
        record_log.compact(state.live_records(), sync=level is Durability.MACHINE)
        marks.reset()  # the log no longer holds what they marked
        return cls(record_log, state, level, marks)

    # -- what the pump calls ----------------------------------------------------------------------
    def attach(self, wake: Callable[[str], None]) -> None:
        """``wake(peer)`` is called on the loop when a peer held for an fsync may go on."""
        self._wake = wake
        if self.level is Durability.MACHINE:
            self.commit = GroupCommit(self.log, self.level, on_durable=self._on_durable)

    def restore(self, peer: str, session: PeerSession, now: float) -> None:
        """Give a new session what the log kept of ``peer``, and start its journal."""
        state = self.state
        out = state.outbound.pop(peer, None)  # the session holds it from now on
        if out is not None and (out.held or out.acked):
            packed = [out.held[seq] for seq in sorted(out.held)]
            payloads = [_payload(p) for p in packed] if session.give_up_after else []
            acked = out.acked
        else:
            packed, payloads, acked = [], [], 0
        held = [_message(rec) for rec in state.held_back(peer)]
        session.restore(acked, packed, payloads, state.resume(peer), held, now)
        self._acked[peer] = acked
        self._logged[peer] = session.next_seq - 1
        session.start_journal()

    def sent(self, peer: str, session: PeerSession) -> None:
        """``session`` queued a message: the messages it queued since the last :meth:`flush`
        get one record with it, which the pump makes before their first transmission."""
        self._outs[peer] = session

    def flush(self) -> None:
        """Write every queued record (one ``os.write``): the pump calls it before anything
        leaves, :meth:`received` before anything is acked or delivered."""
        self._write()

    def _write(self, consumed: list[Any] | None = None) -> None:
        """Write the queued records, then ``consumed`` if given, in one ``os.write``."""
        log = self.log
        if self._outs:
            for peer, session in self._outs.items():
                self._queue_out(peer, session)
            self._outs.clear()
        if consumed is not None:
            position = log.append(consumed)
        elif log.queued:
            position = log.flush()
        else:
            return
        commit = self.commit
        if commit is not None:
            need = self._need
            for peer in self._queued_for:
                need[peer] = position
            self._queued_for.clear()
            if consumed is not None:  # the next group commit; whatever leaves next waits for it
                self._need_all = position
                with contextlib.suppress(RuntimeError):  # no loop (a close): its sync will do
                    commit.request(position)

    def _queue_out(self, peer: str, session: PeerSession) -> None:
        """One ``out`` record for the messages ``session`` queued to ``peer`` since the last
        one (the session holds each until it is acked or given up)."""
        last = session.next_seq - 1
        first = max(self._logged.get(peer, 0), session.acked_point) + 1  # a give-up settled some
        self._logged[peer] = last
        if first > last:
            return
        if self.commit is not None:
            self._queued_for.add(peer)
        if first == last:
            self.log.queue([OUT, peer, first, session.packed(first)])
        else:
            self.log.queue([OUT, peer, first, session.packed_run(first, last)])

    def received(self, peer: str, session: PeerSession) -> None:
        """A segment was taken: log the new receive point and the accepted messages (one
        record for the segment's messages: ``inr`` for the next ones in order, else
        ``ins``)."""
        mark, messages = session.take_journal()
        after = session.take_refusal_mark()
        if mark is None and not messages and after is None:
            return
        state = self.state
        queue = self.log.queue
        if mark is not None:
            record = [MARK, peer, mark[0], mark[1]]
            state.apply(record)
            queue(record)
        if messages:
            inc = session.resume_point()[0]
            point, ahead = state.point, state.ahead
            key = (peer, inc)
            stream = state.inbound.get(key)
            if stream is None:
                stream = state.inbound[key] = {}
            top = point.get(key, 0)
            n = len(messages)
            if (
                key not in ahead
                and messages[0][0] == top + 1
                and messages[-1][0] == top + n
                and (n < 3 or list(map(_seq_of, messages)) == list(range(top + 1, top + n + 1)))
            ):
                # The common case: the next messages in order (the session's fast path). The
                # pending value is the message itself, ``(seq, clock, payload)``, until a
                # compaction needs its record (:meth:`pending_records`): nothing to build
                # per message, and the record packs its messages as two columns.
                stream.update(zip(range(top + 1, top + n + 1), messages, strict=True))
                point[key] = top + n
                if n > 1:
                    queue(
                        [
                            INR,
                            peer,
                            inc,
                            top + 1,
                            [message[1]._entries for message in messages],
                            list(map(_payload_of, messages)),
                        ]
                    )
                else:
                    seq, clock, data = messages[0]
                    queue([IN, peer, inc, seq, clock._entries, data])
            else:
                records = []
                for seq, clock, payload in messages:
                    record = [IN, peer, inc, seq, clock._entries, payload]
                    records.append(record)
                    if seq == top + 1 and key not in ahead:
                        stream[seq] = record
                        top = seq
                    else:  # above a gap, or filling one: the core's rule
                        point[key] = top
                        state.apply(record)
                        top = point.get(key, 0)
                point[key] = top
                queue([INS, records] if n > 1 else records[0])
        if after is not None:
            record = [MARK, peer, after[0], after[1]]
            state.apply(record)
            queue(record)
        if self.commit is not None:
            self._queued_for.add(peer)
        self.flush()
        if self._crash_in is not None and messages:
            self._crash_in.reached()

    def ready(self, peer: str) -> bool:
        """True when ``peer``'s records are durable at this journal's level; otherwise an
        fsync covering them is on its way and ``wake(peer)`` follows it."""
        commit = self.commit
        if commit is None:
            return True
        need = max(self._need.get(peer, 0), self._need_all)
        if not need or commit.request(need):
            return True
        self._waiting.add(peer)
        return False

    def settled(self, peer: str, session: PeerSession) -> None:
        """Queue ``peer``'s acked point if it moved (acks and give-ups retire ``out``
        records); the pump's next :meth:`flush` writes it."""
        point = session.acked_point
        if point > self._acked.get(peer, 0):
            self._acked[peer] = point
            self.log.queue([ACKED, peer, point])

    def consumed(self, sender: str, incarnation: int, seq: int, *, in_order: bool = False) -> None:
        """The application consumed this message: it is never delivered again (the record
        is in the kernel before the application gets another message). ``in_order``: every
        earlier message of its stream was consumed or disposed of (``consume="next"``), so
        at process level a consumed-up-to mark stores it, with no system call."""
        stream = self.state.inbound.get((sender, incarnation))
        if stream and stream.pop(seq, None) is not None:
            if self._crash_consumed is not None:
                self._crash_consumed.reached()
            if in_order and self._mark is not None and self._mark(sender, incarnation, seq):
                return
            self._write([CONSUMED, sender, incarnation, seq])

    def consumed_next(self, delivery: Sequence[Any]) -> None:
        """:meth:`consumed` with ``in_order`` for a ``(sender, _, _, _, incarnation, seq, ...)``
        delivery (``consume="next"``, one consumer): the node's one call per message. The
        stream's pending messages and consumed-up-to store are looked up once per stream."""
        sender = delivery[0]
        incarnation = delivery[4]
        if (
            sender != self._next_sender or incarnation != self._next_incarnation
        ) and not self._next_stream(sender, incarnation):
            return
        seq = delivery[5]
        if self._next_pending.pop(seq, None) is None:
            return
        if self._crash_consumed is not None:
            self._crash_consumed.reached()
        slot = self._next_slot
        if slot is not None:  # marks.store, inlined: the consumer's per-message path
            copy = slot[1]
            pack_copy(self._next_area, slot[0] + COPY * copy, seq, seq ^ CHECK)
            slot[1] = copy ^ 1
        else:
            self._write([CONSUMED, sender, incarnation, seq])

    def _next_stream(self, sender: str, incarnation: int) -> bool:
        """Make ``(sender, incarnation)`` :meth:`consumed_next`'s stream; False if nothing of
        it is pending."""
        stream = self.state.inbound.get((sender, incarnation))
        if not stream:
            return False
        marks = self.marks if self._mark is not None else None
        self._next_slot = marks.slot(sender, incarnation) if marks is not None else None
        if marks is not None:
            self._next_area = marks.area
        self._next_pending = stream
        self._next_sender, self._next_incarnation = sender, incarnation
        return True

    def consumed_all(self, deliveries: Iterable[Sequence[Any]], *, in_order: bool = False) -> None:
        """:meth:`consumed` for each ``(sender, _, _, _, incarnation, seq, ...)`` delivery,
        in one write (or marks)."""
        consume = self.state.consume
        keys = []
        for delivery in deliveries:
            key = (delivery[0], delivery[4], delivery[5])
            if consume(*key):
                keys.append(key)
        if keys and self._crash_consumed is not None:
            self._crash_consumed.reached()
        mark = self._mark if in_order else None
        if mark is not None:
            keys = [key for key in keys if not mark(*key)]
        if len(keys) == 1:
            self._write([CONSUMED, *keys[0]])
        elif keys:
            *runs, last = consumed_runs(keys)
            for record in runs:
                self.log.queue(record)
            self._write(last)

    def maybe_compact(self, sessions: Mapping[str, PeerSession]) -> None:
        """Rewrite the log with its live records once it outgrew them (docs/durability.md)."""
        if self.log.size <= self._compact_at:
            return
        self.compact(sessions)

    def compact(self, sessions: Mapping[str, PeerSession]) -> None:
        """Rewrite the log now with the live records only (fsynced, atomic)."""
        self.flush()
        state = self.pending_records()
        elsewhere = state.outbound  # peers of the log this life has no session for (yet)
        state.outbound = dict(elsewhere)
        for peer, session in sessions.items():
            out = state.outbound[peer] = Outbound()
            out.acked = session.acked_point
            for seq in range(out.acked + 1, out.acked + 1 + session.unacked):
                out.held[seq] = session.packed(seq)
            self._acked[peer] = out.acked
        self.log.compact(state.live_records())
        state.outbound = elsewhere
        self._compact_at = self.log.size * 2 + COMPACT_SLACK
        self.compactions += 1
        if self._waiting:
            self._on_durable(self.log.synced)

    def pending_records(self) -> LinkLogState:
        """:attr:`state`, with every pending message as its ``in`` record (the receive fast
        path keeps the message itself, ``(seq, clock, payload)``, until this is asked)."""
        for (sender, inc), stream in self.state.inbound.items():
            for seq, pending in stream.items():
                if type(pending) is not list:
                    stream[seq] = [IN, sender, inc, seq, pending[1]._entries, pending[2]]
        return self.state

    async def durable(self) -> None:
        """Return once every record so far (queued ones included) is durable at this
        journal's level."""
        self.flush()
        if self.commit is not None:
            await self.commit.durable(self.log.position)

    def sync(self) -> None:
        """Write what is queued; at machine level also fsync now (blocking), e.g. before a
        close sends its last acks."""
        self.flush()
        if self.level is Durability.MACHINE and self.log.needs_sync(self.log.position):
            self.log.sync()

    def _on_durable(self, position: int) -> None:
        waiting = self._waiting
        if not waiting or self._wake is None:
            return
        if self._need_all > position:
            return
        done = [peer for peer in waiting if self._need.get(peer, 0) <= position]
        for peer in done:
            waiting.discard(peer)
            self._wake(peer)

    async def aclose(self) -> None:
        """Wait for a running fsync, then close the files (idempotent)."""
        self.flush()
        if self.commit is not None:
            await self.commit.close()
        self.close()

    def close(self) -> None:
        """Close the files now (queued records are written first); idempotent."""
        if self.log.fileno() >= 0:
            self.flush()
        self.log.close()
        if self.marks is not None:
            self.marks.close()

    def stats(self) -> dict[str, Any]:
        """Counters for benchmarks: records, fsyncs, records per fsync, compactions."""
        syncs = self.commit.syncs if self.commit is not None else 0
        synced = self.commit.records_synced if self.commit is not None else 0
        return {
            "level": self.level.value,
            "records": self.log.position,
            "fsyncs": syncs,
            "records_per_fsync": round(synced / syncs, 1) if syncs else None,
            "compactions": self.compactions,
            "log_bytes": self.log.size,
        }


_seq_of = itemgetter(0)
_payload_of = itemgetter(2)


def _payload(packed: bytes) -> Any:
    return msgpack.unpackb(packed, raw=False, strict_map_key=False)[2]


def _message(record: list[Any]) -> Message:
    _, _sender, _inc, seq, clock, payload = record
    return Message(seq, VectorClock._trusted(clock), payload)


__all__ = ["CONSUMED", "LINK_LOG", "STREAM", "LinkJournal"]
