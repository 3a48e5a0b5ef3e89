"""The logged perfect link's IO side: ``link.log`` in a node's data directory.

One :class:`LinkJournal` per durable node, shared by the sessions of its reliable link (the
UDP perfect link or the TLS link, through :class:`~netclock.links.pump.SessionPump`). It
writes the records :mod:`netclock.durable.linklog` defines and says when they are durable:

- ``out`` before the link accepts a message (``Node.send`` returns after it);
- ``mark`` and ``in`` right after a segment is taken, before anything is acked or delivered;
- ``acked`` when a session's acked point moves (lazily: a lost one only costs a resend that
  the peer acks as a duplicate);
- ``consumed`` when the application consumes a message (``Node``).

At :attr:`Durability.PROCESS` a record is durable once written (one ``os.write``). At
:attr:`Durability.MACHINE` the pump holds a peer's acks, deliveries and first transmissions
until a group-committed fsync covers the records written for that peer (:meth:`ready`,
``on_durable``): many records per fsync, never one per message.

Compaction follows docs/durability.md: when the file grows past twice its size after the
last compaction plus 1 MiB, it is rewritten with the live records, taken from the sessions
(outbound) and the pending ``in`` records (inbound).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgpack

from netclock.clock import VectorClock
from netclock.durable.commit import GroupCommit
from netclock.durable.linklog import (
    ACKED,
    CONSUMED,
    IN,
    MARK,
    OUT,
    STREAM,
    LinkLogError,
    LinkLogState,
    Outbound,
    recover,
)
from netclock.durable.log import Durability, LogCorrupt, RecordLog
from netclock.errors import ConfigError
from netclock.links.session import PeerSession
from netclock.wire.envelope import Message

log = logging.getLogger(__name__)

LINK_LOG = "link.log"
COMPACT_SLACK = 1 << 20
"""Bytes a log may grow beyond twice its live size before it is compacted."""


class LinkJournal:
    """The durable side of one node's reliable link; see the module docstring.

    :meth:`open` recovers it; :attr:`state` then holds what the sessions and the inbox take
    back (:attr:`stream` is the incarnation every session speaks as).
    """

    def __init__(self, log_: RecordLog, state: LinkLogState, level: Durability) -> None:
        self.log = log_
        self.state = state
        self.level = level
        assert state.stream is not None
        self.stream: int = state.stream
        self._acked: dict[str, int] = {}
        """Per peer: the acked point last logged."""
        self._need: dict[str, int] = {}
        """Machine level, per peer: the position its records need synced before it goes on."""
        self._waiting: set[str] = set()
        self.commit: GroupCommit | None = None
        self._wake: Callable[[str], None] | None = None
        self._compact_at = log_.size * 2 + COMPACT_SLACK
        self.compactions = 0

    @classmethod
    def open(cls, data_dir: str | Path, incarnation: int, level: Durability) -> LinkJournal:
        """Open (or create) ``link.log`` in ``data_dir`` and recover it.

        A new log takes ``incarnation`` as its stream. Raises ConfigError when the file is
        not a link log. The log is compacted (and so fsynced) before it is used.
        """
        path = Path(data_dir) / LINK_LOG
        try:
            record_log = RecordLog.open(path)
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
        if state.stream is None:
            state.stream = incarnation
        record_log.compact(state.live_records())
        return cls(record_log, state, level)

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
        session.start_journal()

    def sent(self, peer: str, seq: int, session: PeerSession) -> None:
        """A message was queued: log it before the link accepts it."""
        position = self.log.append([OUT, peer, seq, session.packed(seq)])
        if self.commit is not None:
            self._need[peer] = position

    def received(self, peer: str, session: PeerSession) -> None:
        """A segment was taken: log the new receive point and the accepted messages."""
        mark, messages = session.take_journal()
        if mark is None and not messages:
            return
        records: list[Any] = []
        if mark is not None:
            records.append([MARK, peer, mark[0], mark[1]])
            self.state.apply(records[0])
        if messages:
            inc = session.resume_point()[0]
            state = self.state
            pending, point, ahead = state.pending, state.point, state.ahead
            key = (peer, inc)
            top = point.get(key, 0)
            for seq, clock, payload in messages:
                record = [IN, peer, inc, seq, clock._entries, payload]
                records.append(record)
                if seq == top + 1 and key not in ahead:
                    pending[(peer, inc, seq)] = record
                    top = seq
                else:  # above a gap, or filling one: the core's rule
                    point[key] = top
                    state.apply(record)
                    top = point.get(key, 0)
            point[key] = top
        position = self.log.append_many(records)
        if self.commit is not None:
            self._need[peer] = position

    def ready(self, peer: str) -> bool:
        """True when ``peer``'s records are durable at this journal's level; otherwise an
        fsync covering them is on its way and ``wake(peer)`` follows it."""
        commit = self.commit
        if commit is None:
            return True
        need = self._need.get(peer)
        if need is None or commit.request(need):
            return True
        self._waiting.add(peer)
        return False

    def settled(self, peer: str, session: PeerSession) -> None:
        """Log ``peer``'s acked point if it moved (acks and give-ups retire ``out`` records)."""
        point = session.acked_point
        if point > self._acked.get(peer, 0):
            self._acked[peer] = point
            self.log.append([ACKED, peer, point])

    def consumed(self, sender: str, incarnation: int, seq: int) -> None:
        """The application consumed this message: it is never delivered again."""
        if self.state.pending.pop((sender, incarnation, seq), None) is not None:
            self.log.append([CONSUMED, sender, incarnation, seq])

    def maybe_compact(self, sessions: Mapping[str, PeerSession]) -> None:
        """Rewrite the log with its live records once it outgrew them (docs/durability.md)."""
        if self.log.size <= self._compact_at:
            return
        self.compact(sessions)

    def compact(self, sessions: Mapping[str, PeerSession]) -> None:
        """Rewrite the log now with the live records only (fsynced, atomic)."""
        state = self.state
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

    def sync(self) -> None:
        """Machine level: fsync now (blocking), e.g. before a close sends its last acks."""
        if self.level is Durability.MACHINE and self.log.needs_sync(self.log.position):
            self.log.sync()

    def _on_durable(self, position: int) -> None:
        waiting = self._waiting
        if not waiting or self._wake is None:
            return
        done = [peer for peer in waiting if self._need.get(peer, 0) <= position]
        for peer in done:
            waiting.discard(peer)
            self._wake(peer)

    async def aclose(self) -> None:
        """Wait for a running fsync, then close the file (idempotent)."""
        if self.commit is not None:
            await self.commit.close()
        self.log.close()

    def close(self) -> None:
        """Close the file now (records written stay in the OS); idempotent."""
        self.log.close()

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


def _payload(packed: bytes) -> Any:
    return msgpack.unpackb(packed, raw=False, strict_map_key=False)[2]


def _message(record: list[Any]) -> Message:
    _, _sender, _inc, seq, clock, payload = record
    return Message(seq, VectorClock._trusted(clock), payload)


__all__ = ["CONSUMED", "LINK_LOG", "STREAM", "LinkJournal"]
