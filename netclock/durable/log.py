"""An append-only record log on disk, with recovery, compaction and explicit syncs.

Records are msgpack values. :meth:`RecordLog.append` writes with one ``os.write`` on an
``O_APPEND`` descriptor: when it returns, the record is in the kernel, so a process kill
(even ``kill -9``) never loses it ("process" durability). A machine crash can lose what was
not yet synced: :meth:`RecordLog.sync` (or the asyncio
:class:`~netclock.durable.commit.GroupCommit`) makes every record appended before it durable
on disk ("machine" durability), one ``fsync`` for all of them.

A caller that writes many records per event-loop iteration queues them
(:meth:`RecordLog.queue`) and writes them together (:meth:`RecordLog.flush`, one
``os.write``); a queued record is in the process only, so the caller flushes before anything
that reveals it leaves.

Positions count the records written over the log's life in this process, starting after
the recovered ones: ``append`` returns the new record's position, and ``synced`` is the
highest position an ``fsync`` has covered. Compaction keeps positions as they are.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgpack

from netclock.durable.records import MAGIC, NOT_A_LOG, Damage, encode_record, encode_records, scan

log = logging.getLogger(__name__)


class Durability(enum.Enum):
    """When a record counts as durable."""

    PROCESS = "process"
    """Written to the OS: survives a kill of the process, not a crash of the machine."""
    MACHINE = "machine"
    """Written and fsynced (group commit): survives a crash of the machine too."""


class LogCorrupt(Exception):
    """A file that is not a record log, or a checksummed record that is not msgpack."""


_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class RecordLog:
    """An append-only file of checksummed msgpack records.

    Open it with :meth:`open`, which recovers what the file holds: :attr:`recovered` are
    the records found, :attr:`damage` what was dropped from a torn or corrupt tail (the
    file is truncated to its valid prefix, so new records follow valid ones).
    """

    def __init__(
        self, path: Path, fd: int, size: int, recovered: list[Any], damage: Damage | None
    ) -> None:
        self.path = path
        self._fd = fd
        self.size = size
        """Bytes in the file."""
        self.recovered = recovered
        self.damage = damage
        self.position = 0
        """Position of the last record appended (0 before the first)."""
        self.synced = 0
        """Highest position covered by an fsync (or a compaction)."""
        self.syncs = 0
        """How many fsyncs were made (compactions excluded)."""
        self._packer = msgpack.Packer(use_bin_type=True)
        self._queued: list[bytes] = []
        """Packed records :meth:`queue` took, written by the next :meth:`flush`."""

    @classmethod
    def open(cls, path: str | Path, *, sync: bool = True) -> RecordLog:
        """Open (creating it if missing) and recover the log at ``path`` (a new file's
        creation fsynced to its directory unless ``sync`` is False).

        Raises :class:`LogCorrupt` if the file is not a record log or a checksummed record is
        not msgpack (nothing is truncated then), and ``OSError``
        if the file cannot be read or written.
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        found = scan(data)
        if found.damage is not None and found.damage.reason == NOT_A_LOG:
            raise LogCorrupt(f"{path}: {NOT_A_LOG} (it does not start with {MAGIC!r})")
        try:
            recovered = [
                msgpack.unpackb(p, raw=False, strict_map_key=False) for p in found.payloads
            ]
        except (ValueError, TypeError) as exc:
            raise LogCorrupt(f"{path}: a record is not msgpack ({exc})") from None
        fresh = not data or found.end == 0
        fd = os.open(path, _FLAGS, 0o600)
        try:
            if found.damage is not None:
                log.warning("%s: %s", path, found.damage)
                os.ftruncate(fd, found.end)
            if fresh:
                if data:  # (truncating an empty file would make ext4 flush it at close)
                    os.ftruncate(fd, 0)
                os.write(fd, MAGIC)
                if sync:
                    _fsync_dir(path.parent)
        except BaseException:
            os.close(fd)
            raise
        size = len(MAGIC) if fresh else found.end
        return cls(path, fd, size, recovered, found.damage)

    # -- writing ------------------------------------------------------------------------------
    def append(self, record: Any) -> int:
        """Write one record (after any queued ones) to the OS; returns its position.
        Durable against a process kill when it returns."""
        if self._queued:
            self._queued.append(self._packer.pack(record))
            return self.flush()
        data = encode_record(self._packer.pack(record))
        self._write(data)
        self.position += 1
        return self.position

    def append_many(self, records: Iterable[Any]) -> int:
        """Write several records (after any queued ones) with one ``os.write``; returns the
        last one's position."""
        pack = self._packer.pack
        self._queued.extend(pack(record) for record in records)
        return self.flush()

    def queue(self, record: Any) -> None:
        """Pack ``record`` for the next :meth:`flush` (or append): it is in this process
        only until then, and counts in no position. Records keep the order they were
        queued and appended in."""
        self._queued.append(self._packer.pack(record))

    @property
    def queued(self) -> int:
        """Records queued and not yet written."""
        return len(self._queued)

    def flush(self) -> int:
        """Write every queued record with one ``os.write``; returns the last position."""
        queued = self._queued
        if queued:
            self._write(encode_records(queued))
            self.position += len(queued)
            self._queued = []
        return self.position

    def _write(self, data: bytes) -> None:
        written = os.write(self._fd, data)
        while written < len(data):  # a short write (a full disk reports ENOSPC next)
            written += os.write(self._fd, memoryview(data)[written:])
        self.size += len(data)

    # -- syncing ------------------------------------------------------------------------------
    def needs_sync(self, position: int) -> bool:
        """Whether records up to ``position`` still wait for an fsync."""
        return position > self.synced

    def sync(self) -> int:
        """fsync now (blocking): every record appended so far is on disk; returns the position."""
        target = self.position
        os.fsync(self._fd)
        self.mark_synced(target)
        return target

    def sync_handle(self) -> tuple[int, int]:
        """``(position, fd)`` for an fsync made elsewhere (a thread): the fd is a duplicate the
        caller must close; fsyncing it covers every record up to ``position``. Then call
        :meth:`mark_synced` with the position."""
        return self.position, os.dup(self._fd)

    def mark_synced(self, position: int) -> None:
        """Records up to ``position`` were fsynced."""
        self.syncs += 1
        self.synced = max(self.synced, position)

    # -- compaction ---------------------------------------------------------------------------
    def compact(self, live: Iterable[Any], *, sync: bool = True) -> None:
        """Rewrite the log to hold only ``live`` records (in that order), atomically.

        The new file is written to a temporary name, fsynced, renamed over the log, and the
        directory fsynced: a crash at any point leaves either the old log or the new one.
        Afterwards every position so far counts as synced. Without ``sync`` nothing is
        fsynced: the rename is atomic for a killed process, not for a crashed machine.
        """
        self._queued = []  # ``live`` is the whole state: what was queued is in it or retired
        pack = self._packer.pack
        body = MAGIC + encode_records(pack(record) for record in live)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600
        )
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        if sync:
            _fsync_dir(self.path.parent)
        old, self._fd = self._fd, os.open(self.path, _FLAGS, 0o600)
        os.close(old)
        self.size = len(body)
        self.synced = self.position

    def close(self) -> None:
        """Write what is queued and close the file (idempotent). Records already appended
        stay in the OS."""
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1

    def fileno(self) -> int:
        """The file descriptor records are appended to."""
        return self._fd


def _fsync_dir(path: Path) -> None:
    """Make a file's creation or rename in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
