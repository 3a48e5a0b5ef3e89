"""Length-prefixed frames on a byte stream (the TLS link's framing).

A frame is a 4-byte big-endian unsigned length ``n`` followed by ``n`` bytes holding one
msgpack envelope. :class:`FrameReader` is sans-IO: feed it the bytes a stream produced,
in any pieces, and it returns the complete frames. A length above the limit is refused
as soon as its 4 bytes are seen, before anything of that size is allocated.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from netclock.errors import WireError

__all__ = ["DEFAULT_MAX_FRAME", "FrameReader", "FrameTooLarge", "encode_frames"]

DEFAULT_MAX_FRAME = 1 << 20
"""Largest frame body accepted by default: 1 MiB."""

_HEADER = struct.Struct(">I")
_pack_header = _HEADER.pack
_unpack_header = _HEADER.unpack_from


class FrameTooLarge(WireError):
    """A frame header announced more bytes than the limit; the stream cannot be resynced."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a frame announced {size} bytes, more than the limit of {limit}")
        self.size = size
        self.limit = limit


def encode_frames(envelopes: Iterable[bytes]) -> bytes:
    """All ``envelopes`` framed and joined, ready for a single ``transport.write``."""
    parts: list[bytes] = []
    append = parts.append
    for envelope in envelopes:
        append(_pack_header(len(envelope)))
        append(envelope)
    return b"".join(parts)


class FrameReader:
    """Cuts a byte stream into frame bodies of at most ``max_frame`` bytes.

    After :class:`FrameTooLarge` the stream is unusable: the caller must close it.
    """

    __slots__ = ("_buffer", "max_frame")

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held that do not yet make a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """The frames completed by ``data``, in order; raises :class:`FrameTooLarge`."""
        buffer = self._buffer
        source: bytes | bytearray
        if buffer:
            buffer += data
            source = buffer
        else:
            source = data
        frames: list[bytes] = []
        limit = self.max_frame
        size_total = len(source)
        pos = 0
        while size_total - pos >= 4:
            (size,) = _unpack_header(source, pos)
            if size > limit:
                self._buffer = bytearray()
                raise FrameTooLarge(size, limit)
            end = pos + 4 + size
            if end > size_total:
                break
            frames.append(bytes(source[pos + 4 : end]))
            pos = end
        if source is buffer:
            del buffer[:pos]
        elif pos < size_total:
            buffer += source[pos:]
        return frames
