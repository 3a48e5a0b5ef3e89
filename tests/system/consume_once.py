"""The receiving side of the kill -9 system tests: consume every message exactly once.

Before asking for the next message the worker appends the payload to its own crash-safe
record (one ``os.write`` to ``path``); a message flagged ``redelivered`` that the record
already holds is skipped: the one a crash caught between that write and the ask.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from netclock import Node


async def consume_exactly_once(
    node: Node, path: Path, count: int, pace: float = 0.0
) -> tuple[int, int]:
    """Consume until ``path`` holds ``count`` payloads, printing ``got N`` every 20 (then
    pausing ``pace`` s, a load shape). Returns (redelivered, skipped) of this life."""
    seen = _consumed(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    redelivered = skipped = 0
    while len(seen) < count:
        message = await node.receive()
        redelivered += message.redelivered
        if message.redelivered and message.payload in seen:
            skipped += 1
            continue
        os.write(fd, b"%d\n" % message.payload)
        seen.add(message.payload)
        if len(seen) % 20 == 0:
            print("got", len(seen), flush=True)
            if pace:
                await asyncio.sleep(pace)
    return redelivered, skipped


def _consumed(path: Path) -> set[int]:
    """The payloads earlier lives consumed."""
    return {int(x) for x in path.read_text().split()} if path.exists() else set()
