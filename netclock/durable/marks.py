"""Consumed-up-to marks in a memory-mapped file: a consumption with no system call.

A store into a shared mapping of a file lands in the kernel's page cache as it is made, so
a kill of the process (even ``kill -9``) cannot lose it: process-level durability for the
price of a memory store. The logged link uses it for ``consume="next"`` at process level,
where a stream's messages are consumed in order, so one number per stream (sender,
incarnation) says which are consumed: every message of the stream up to it.

``consumed.marks`` is 64 header bytes (the magic ``netcmrk1``, then zeros) and
:data:`SLOTS` slots of 128 bytes, one per stream, claimed as streams are first consumed
from:

=======  ===============================================================
0-7      sender incarnation (u64, little-endian)
8        length of the sender id in bytes (0: a free slot)
9-79     the sender id (UTF-8)
80-83    CRC-32 of bytes 0-79: a slot torn while it was claimed is ignored
96-111   copy 0 of the mark: ``seq`` (u64) and ``seq ^ 2**64-1``
112-127  copy 1
=======  ===============================================================

Marks alternate between the two copies, each stored with its complement, so a kill in
the middle of a store (a torn copy fails the check) leaves the other copy, the mark
before it; recovery takes the highest valid copy. A machine crash can lose stores the
kernel had not written back: the machine level logs ``consumed`` records instead.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from pathlib import Path

MAGIC = b"netcmrk1"
HEADER = 64
SLOT = 128
SLOTS = 64
SIZE = HEADER + SLOT * SLOTS
KEY = 80
"""Bytes of a slot covered by its CRC (incarnation, id length, id)."""
MAX_ID = KEY - 9
_ALL = (1 << 64) - 1
_COPY = struct.Struct("<QQ")
COPIES = 96
"""Offset of a slot's copy 0; copy 1 follows it."""
COPY = _COPY.size
CHECK = _ALL
"""A copy holds ``seq`` and ``seq ^ CHECK``."""
pack_copy = _COPY.pack_into
"""``pack_copy(area, offset, seq, seq ^ CHECK)`` writes one copy."""
_INC = struct.Struct("<Q")
_CRC = struct.Struct("<I")


class MarksCorrupt(Exception):
    """The file is not a marks file (wrong magic or size)."""


class ConsumedMarks:
    """Per stream, the highest consumed seq, in a shared mapping of ``consumed.marks``.

    :meth:`open` reads what the file holds (:attr:`recovered`); :meth:`reset` clears it once
    the caller no longer needs the old marks; :meth:`mark` stores one.
    """

    def __init__(self, fd: int, area: mmap.mmap, recovered: dict[tuple[str, int], int]) -> None:
        self._fd = fd
        self._map: mmap.mmap | None = area
        self.recovered = recovered
        """``(sender, incarnation) -> seq`` as the file held them when opened."""
        self._slots: dict[tuple[str, int], list[int]] = {}
        """Per stream claimed in this life: ``[slot offset, copy to write next]``."""
        self._free = 0
        """The next slot to try when claiming one."""

    @classmethod
    def open(cls, path: str | Path) -> ConsumedMarks:
        """Open (creating it if missing) and read the marks file at ``path``.

        Raises :class:`MarksCorrupt` for a file that is not one, ``OSError`` if it cannot
        be opened or mapped."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            size = os.fstat(fd).st_size
            if size not in (0, SIZE):
                raise MarksCorrupt(f"{path}: {size} bytes, not a marks file of {SIZE}")
            if size == 0:
                os.ftruncate(fd, SIZE)
            area = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        if size == 0:
            area[: len(MAGIC)] = MAGIC
        elif area[: len(MAGIC)] != MAGIC:
            area.close()
            os.close(fd)
            raise MarksCorrupt(f"{path}: not a marks file (it does not start with {MAGIC!r})")
        return cls(fd, area, _read(area))

    def reset(self) -> None:
        """Forget every mark (free every slot)."""
        area = self._area()
        area[HEADER:SIZE] = bytes(SIZE - HEADER)
        self._slots.clear()
        self._free = 0

    def mark(self, sender: str, incarnation: int, seq: int) -> bool:
        """Store: every message of this stream up to ``seq`` is consumed. False when no
        slot is left (or the id is too long): the caller records it another way."""
        slot = self.slot(sender, incarnation)
        if slot is None:
            return False
        store(self._area(), slot, seq)
        return True

    def slot(self, sender: str, incarnation: int) -> list[int] | None:
        """The stream's slot, claimed if need be, for :func:`store`: ``[offset of its
        copy 0, the copy to write next]`` (one list per stream: every store to it
        alternates its copies). None when no slot is left (or the id is too long)."""
        slot = self._slots.get((sender, incarnation))
        if slot is None:
            return self._claim(sender, incarnation)
        return slot

    @property
    def area(self) -> mmap.mmap:
        """The mapping :func:`store` writes into."""
        return self._area()

    def _claim(self, sender: str, incarnation: int) -> list[int] | None:
        ident = sender.encode()
        if len(ident) > MAX_ID or self._free >= SLOTS:
            return None
        area = self._area()
        offset = HEADER + SLOT * self._free
        self._free += 1
        key = _INC.pack(incarnation) + bytes([len(ident)]) + ident
        key += bytes(KEY - len(key))
        area[offset : offset + KEY] = key
        _CRC.pack_into(area, offset + KEY, zlib.crc32(key))
        slot = self._slots[(sender, incarnation)] = [offset + COPIES, 0]
        return slot

    def _area(self) -> mmap.mmap:
        if self._map is None:
            raise ValueError("the marks file is closed")
        return self._map

    def close(self) -> None:
        """Unmap and close the file (idempotent); the marks stay in the kernel."""
        if self._map is not None:
            self._map.close()
            self._map = None
            os.close(self._fd)


def store(area: mmap.mmap, slot: list[int], seq: int) -> None:
    """Store ``seq`` as the mark of ``slot`` (:meth:`ConsumedMarks.slot`): into the copy
    the last store did not write, with its complement, then flip. The logged link's
    per-message consumption inlines these three lines (links/journal.py)."""
    copy = slot[1]
    pack_copy(area, slot[0] + COPY * copy, seq, seq ^ CHECK)
    slot[1] = copy ^ 1


def _read(area: mmap.mmap) -> dict[tuple[str, int], int]:
    """Every valid slot's stream and its highest valid mark."""
    marks: dict[tuple[str, int], int] = {}
    for index in range(SLOTS):
        offset = HEADER + SLOT * index
        key = area[offset : offset + KEY]
        length = key[8]
        if not length or length > MAX_ID:
            continue
        if _CRC.unpack_from(area, offset + KEY)[0] != zlib.crc32(key):
            continue  # torn while it was claimed: nothing was marked in it yet
        try:
            sender = key[9 : 9 + length].decode()
        except UnicodeDecodeError:
            continue
        best = None
        for copy in (0, 1):
            seq, check = _COPY.unpack_from(area, offset + COPIES + COPY * copy)
            if seq ^ check == _ALL and (best is None or seq > best):
                best = seq
        if best is not None:
            stream = (sender, _INC.unpack_from(key)[0])
            marks[stream] = max(best, marks.get(stream, 0))
    return marks
