"""The record format: pure encode and scan functions (no IO).

A log file is :data:`MAGIC` followed by records. Each record is a 4-byte big-endian
payload length, a 4-byte big-endian CRC-32 of the length bytes and the payload, then the
payload. :func:`scan` returns every complete, valid record from the start and stops at the
first one that is torn (the file ends inside it) or corrupt (bad checksum, impossible
length), reporting what follows as :class:`Damage`. A single flipped bit anywhere is
always detected (CRC-32 catches every 1-bit error).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from typing import NamedTuple

MAGIC = b"netclog1"
"""The first 8 bytes of every record log (format version 1)."""
HEADER = struct.Struct(">II")
"""A record's header: payload length, CRC-32 of (length bytes + payload)."""
NOT_A_LOG = "not a netclock record log"
"""The damage reason when a file does not start with :data:`MAGIC` (nor a torn part of it)."""
MAX_RECORD = 64 * 1024 * 1024
"""A length above this is corruption, not a record (no record is written larger)."""

_LENGTH = struct.Struct(">I")
_crc32 = zlib.crc32


class Damage(NamedTuple):
    """What recovery dropped: from byte ``offset`` to the end, ``dropped`` bytes, and why."""

    offset: int
    dropped: int
    reason: str

    def __str__(self) -> str:
        return f"dropped {self.dropped} bytes from offset {self.offset}: {self.reason}"


class Scan(NamedTuple):
    """The result of :func:`scan`: the valid payloads, where they end, and any damage."""

    payloads: list[bytes]
    end: int
    """Offset just after the last valid record (the file's length when there is no damage)."""
    damage: Damage | None


def encode_record(payload: bytes) -> bytes:
    """One record's bytes: header then ``payload``. Raises ``ValueError`` above MAX_RECORD."""
    size = len(payload)
    seed = _LENGTH_CRC.get(size)
    if seed is None:
        seed = _length_crc(size)
    return _HEADER_PACK(size, _crc32(payload, seed)) + payload


def encode_records(payloads: Iterable[bytes]) -> bytes:
    """Several records back to back (one write for a batch): the same bytes as
    :func:`encode_record` of each, built in one join."""
    parts: list[bytes] = []
    append = parts.append
    header = HEADER.pack
    seeds = _LENGTH_CRC
    for payload in payloads:
        size = len(payload)
        seed = seeds.get(size)
        if seed is None:
            seed = _length_crc(size)
        append(header(size, _crc32(payload, seed)))
        append(payload)
    return b"".join(parts)


_LENGTH_CRC: dict[int, int] = {}
"""CRC-32 of the length bytes, by length (records of a stream share a few sizes)."""
_HEADER_PACK = HEADER.pack


def _length_crc(size: int) -> int:
    """CRC-32 of a record's length bytes (cached); ValueError above MAX_RECORD."""
    if size > MAX_RECORD:
        raise ValueError(f"a record holds at most {MAX_RECORD} bytes, not {size}")
    seed = _crc32(_LENGTH.pack(size))
    if len(_LENGTH_CRC) < 4096:
        _LENGTH_CRC[size] = seed
    return seed


def scan(data: bytes | memoryview) -> Scan:
    """Every complete valid record of a whole log file's bytes, then the damage if any.

    The file must start with :data:`MAGIC`; an empty file is an empty log. Records after
    the first torn or corrupt one are never returned, even if they look valid: the log is
    a prefix, and what follows damage cannot be trusted to be in order.
    """
    view = memoryview(data)
    total = len(view)
    if total == 0:
        return Scan([], 0, None)
    if view[: len(MAGIC)] != MAGIC:
        why = "torn file header" if MAGIC.startswith(bytes(view)) else NOT_A_LOG
        return Scan([], 0, Damage(0, total, why))
    payloads: list[bytes] = []
    append = payloads.append
    unpack = HEADER.unpack_from
    header = HEADER.size
    offset = len(MAGIC)
    reason = ""
    while offset < total:
        if total - offset < header:
            reason = "torn record header"
            break
        size, crc = unpack(view, offset)
        if size > MAX_RECORD:
            reason = f"impossible record length {size}"
            break
        start = offset + header
        end = start + size
        if end > total:
            reason = f"torn record (length {size}, {total - start} bytes present)"
            break
        payload = view[start:end]
        if _crc32(payload, _crc32(view[offset : offset + 4])) != crc:
            reason = "checksum mismatch"
            break
        append(bytes(payload))
        offset = end
    if offset == total:
        return Scan(payloads, offset, None)
    return Scan(payloads, offset, Damage(offset, total - offset, reason))
