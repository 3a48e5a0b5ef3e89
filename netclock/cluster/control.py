"""The control protocol between a parent process and the children it starts.

Two pairs speak it: the launcher and its nodes (:mod:`netclock.cluster.launcher`,
:mod:`netclock.cluster.process`), and ``netclock bench`` and its workers
(:mod:`netclock.tools.bench.runner`, :mod:`netclock.tools.bench.worker`).

- Child to parent, on the child's standard output: one line per message,
  ``@netclock KIND {json object}`` (:data:`TAG`, a kind from :data:`MESSAGE_KINDS`, the
  fields). Other lines on that stream (what a node's program prints) are not control
  lines; the parent relays or ignores them. A child writes with a :class:`ControlWriter`,
  the parent reads with :func:`parse_message`.
- Parent to child, on the child's standard input: one JSON object per line
  (:func:`command_line`), read by a :class:`CommandReader`. Lines that are not JSON
  objects are ignored; the end of input means the parent is gone.

The node's commands are ``{"cmd": "start", "peers": {...}}``, ``{"cmd": "go"}``,
``{"cmd": "partition" | "heal", "peer": id}``, ``{"cmd": "drain", "down": [ids]}`` (the end
of a run: stop the program, get what was sent acknowledged, :data:`DRAIN_TIMEOUT`) and
``{"cmd": "stop"}``; a bench worker's are
``{"peer": [host, port]}``, ``{"cmd": "start"}``, ``{"cmd": "done"}`` and ``{"cmd": "stop"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "DRAIN_TIMEOUT",
    "MESSAGE_KINDS",
    "TAG",
    "CommandReader",
    "ControlWriter",
    "command_line",
    "error_line",
    "first_line",
    "parse_message",
]

TAG = "@netclock "
"""What every control line starts with."""

DRAIN_TIMEOUT = 2.0
"""Longest a node drains on the launcher's ``drain`` (its program stopped, it waits for its
messages to the running peers to be acknowledged) before it says DRAINED anyway."""
MESSAGE_KINDS = frozenset(
    {
        # a node to the launcher
        "READY",  # bound: {"id", "host", "port", "incarnation"}
        "PEERS",  # knows the peer table
        "STATS",  # now and then: the node's counters
        "DONE",  # the program returned: {"result"}
        "DRAINED",  # after a drain: {"clean"}, every message to a running peer acknowledged
        "FAILED",  # the program raised, or the node cannot start: {"error": first line}
        "STOPPED",  # closed: the node's counters
        "OUT",  # a line the program printed: {"t": wall time it was printed, "line"}
        # a bench worker to the runner (READY: {"host", "port"})
        "ARMED",  # knows its peer; a receiver is reading
        "RESULT",  # the figures, the last line
        "SENT",  # a set-up's first message left: {"start", "connected"?}
        "GOT",  # a set-up's first message arrived: {"at"}
        "PHASE",  # a broadcast worker delivered everything of one phase: {"name"}
        "ERROR",  # the worker failed: {"error"}
    }
)
"""The kinds of message a child sends."""


class ControlWriter:
    """Writes control lines to a stream of its own; once the parent is gone, drops them.

    :meth:`for_stdout` gives the usual one: a duplicate of the process's standard output,
    so neither a program that replaces or closes ``sys.stdout`` nor a broken pipe changes
    what ``print`` does.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream: TextIO | None = stream

    @classmethod
    def for_stdout(cls) -> ControlWriter:
        """A writer on a duplicate of file descriptor 1 (``sys.stdout`` if it has none)."""
        try:
            fd = os.dup(sys.stdout.fileno())
        except (AttributeError, OSError, ValueError):
            return cls(sys.stdout)
        return cls(open(fd, "w", encoding="utf-8", errors="backslashreplace"))

    @property
    def closed(self) -> bool:
        """True once a write failed (the parent is gone) or :meth:`close` was called."""
        return self._stream is None

    def send(self, kind: str, **fields: Any) -> None:
        """One ``TAG KIND {fields}`` line, flushed at once (nothing once the parent is gone)."""
        if kind not in MESSAGE_KINDS:
            raise ValueError(f"{kind!r} is not a control message kind")
        stream = self._stream
        if stream is None:
            return
        try:
            stream.write(f"{TAG}{kind} {json.dumps(fields, default=str)}\n")
            stream.flush()
        except (BrokenPipeError, ValueError):
            # The parent died (or the stream was closed): keep running to a clean stop.
            self._stream = None

    def close(self) -> None:
        """Stop writing; closes the stream unless it is ``sys.stdout``."""
        stream, self._stream = self._stream, None
        if stream is not None and stream is not sys.stdout:
            with contextlib.suppress(OSError, ValueError):
                stream.close()


def parse_message(line: str) -> tuple[str, dict[str, Any]] | None:
    """``(kind, fields)`` of a control line (without its line break), or None for other text.

    Fields that are not a JSON object read as ``{}``.
    """
    if not line.startswith(TAG):
        return None
    kind, _, body = line[len(TAG) :].partition(" ")
    try:
        fields = json.loads(body) if body else {}
    except ValueError:
        fields = {}
    return kind, fields if isinstance(fields, dict) else {}


_ASYNCIO_DIR = str(Path(asyncio.__file__).parent)


def first_line(text: str) -> str:
    """What a FAILED message carries of an error: its first non-empty line."""
    lines = text.strip().splitlines()
    return lines[0] if lines else "(no message)"


def error_line(exc: BaseException) -> str:
    """What a FAILED message says of a program's exception: ``Type: first line``, or for an
    exception without a message, ``Type (no message) at FILE:LINE in FUNCTION``, the
    innermost frame outside asyncio (where the program was when it happened)."""
    text = first_line(str(exc))
    if str(exc).strip():
        return f"{type(exc).__name__}: {text}"
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(_ASYNCIO_DIR)
    ]
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}"
    return f"{type(exc).__name__} (no message){where if frames else ''}"


def command_line(**fields: Any) -> bytes:
    """One command for a child's standard input."""
    return (json.dumps(fields) + "\n").encode()


class CommandReader:
    """The parent's commands, one JSON object per line of standard input.

    Call :meth:`start` inside the event loop, then :meth:`get` for each command; it
    returns ``None`` once the input ends (the parent is gone), and again on every later
    call. :meth:`close` stops reading.
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self, stream: Any = None) -> None:
        """Read ``stream`` (default ``sys.stdin``, a pipe or a terminal) in the background."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        await loop.connect_read_pipe(lambda: protocol, sys.stdin if stream is None else stream)
        self._task = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            try:
                command = json.loads(line)
            except ValueError:
                continue
            if isinstance(command, dict):
                await self._queue.put(command)
        await self._queue.put(None)

    async def get(self) -> dict[str, Any] | None:
        """The next command, or ``None`` when the parent closed our input."""
        command = await self._queue.get()
        if command is None:
            self._queue.put_nowait(None)  # every later call sees the end too
        return command

    def push(self, command: dict[str, Any]) -> None:
        """Queue ``command`` as if the parent had sent it (e.g. a stop on SIGTERM)."""
        self._queue.put_nowait(command)

    def close(self) -> None:
        """Stop reading; idempotent."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
