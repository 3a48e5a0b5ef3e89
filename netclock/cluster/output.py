"""Relayed program output, in the order it was produced.

A node under a launcher replaces ``sys.stdout`` with a :class:`LineStamper`: every
complete line its program prints becomes one ``@netclock OUT {"t": wall time, "line":
text}`` control line, stamped when the program wrote it. The launcher feeds each line to
an :class:`OutputMerger` (sans-IO: it takes ``now``), which holds every line back for
:data:`HOLD_BACK` seconds and releases them in order of their stamps, so lines of
different nodes come out in the order they were printed as long as each reached the
launcher within the window. A line later than that is released at once (never lost,
perhaps out of order), as is text a program writes around ``sys.stdout`` (straight to
file descriptor 1), which is stamped when the launcher reads it.
"""

from __future__ import annotations

import codecs
import heapq
import io
import itertools
import time
from collections.abc import Callable
from typing import Any

__all__ = ["HOLD_BACK", "LineStamper", "OutputLine", "OutputMerger"]

HOLD_BACK = 0.25
"""Seconds the launcher holds each output line back to merge the nodes' lines by time."""

OutputLine = tuple[float, str, str]
"""One line of output: ``(wall time it was printed, node id, text)``."""


class LineStamper(io.TextIOBase):
    """A ``sys.stdout`` that hands each complete line, with the time it was written, to
    ``send(t, line)``; :meth:`close` hands over a last unfinished line too."""

    def __init__(self, send: Callable[[float, str], Any], clock: Callable[[], float] = time.time):
        super().__init__()
        self._send = send
        self._clock = clock
        self._partial = ""
        self._bytes = _BytesIn(self)

    @property
    def buffer(self) -> io.RawIOBase:
        """Bytes written here are decoded as UTF-8 (bad bytes replaced) and stamped as text."""
        return self._bytes

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """What ``print`` may encode to: any text goes."""
        return "utf-8"

    def writable(self) -> bool:
        """Always: it is an output stream."""
        return True

    def write(self, text: str) -> int:
        """Take ``text``; every line it completes is sent at once, stamped now."""
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        *lines, self._partial = (self._partial + text).split("\n")
        if lines:
            now = self._clock()
            for line in lines:
                self._send(now, line)
        return len(text)

    def close(self) -> None:
        """Send what is left of an unfinished line; idempotent."""
        if self._partial:
            partial, self._partial = self._partial, ""
            self._send(self._clock(), partial)
        super().close()


class _BytesIn(io.RawIOBase):
    """The ``buffer`` of a :class:`LineStamper`: a program writing bytes to standard output."""

    def __init__(self, text: LineStamper) -> None:
        super().__init__()
        self._text = text
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        """Decode ``data`` (bytes-like) and write it as text."""
        raw = bytes(data)
        self._text.write(self._decode(raw))
        return len(raw)


class OutputMerger:
    """Holds output lines back ``hold_back`` seconds and releases them ordered by time.

    Sans-IO: :meth:`add` a line, call :meth:`due` with the current wall time when
    :meth:`next_deadline` comes, :meth:`drain` at the end. Lines with equal stamps keep the
    order they were added in.
    """

    def __init__(self, hold_back: float = HOLD_BACK) -> None:
        self.hold_back = hold_back
        self._heap: list[tuple[float, int, str, str]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, t: float, node: str, line: str) -> None:
        """Take one line printed by ``node`` at wall time ``t``."""
        heapq.heappush(self._heap, (t, next(self._order), node, line))

    def next_deadline(self) -> float | None:
        """The wall time the earliest held line is due, or None when nothing is held."""
        return self._heap[0][0] + self.hold_back if self._heap else None

    def due(self, now: float) -> list[OutputLine]:
        """The held lines printed at least ``hold_back`` seconds before ``now``, in order."""
        out: list[OutputLine] = []
        while self._heap and self._heap[0][0] + self.hold_back <= now:
            t, _, node, line = heapq.heappop(self._heap)
            out.append((t, node, line))
        return out

    def drain(self) -> list[OutputLine]:
        """Every held line, in order (the run is over)."""
        out = [(t, node, line) for t, _, node, line in sorted(self._heap)]
        self._heap.clear()
        return out
