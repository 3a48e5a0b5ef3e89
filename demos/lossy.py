"""The same traffic over a fair-loss and a perfect link, with the same seeded faults.

Each of the two nodes sends ``count`` numbered messages to the other, then receives.
The receiver stops once it has every number, or after ``quiet`` seconds without a new
one (duplicates do not count: ``stubborn`` resends every message forever). Over
``reliable`` it always has them all (the link retransmits, discards duplicates and
delivers in order); over ``fairloss`` some never come, some come twice and some overtake
others, so it stops after the quiet period. Each node prints what it received;
lossy.toml's ``compare_links`` makes ``netclock demo lossy`` run this once per link and
print the checker's counts side by side.

Before the numbered messages a node says hello every ``hello_every`` seconds until it
has heard anything from its peer: a process only knows that its peer is up and accepts
its messages once it has heard from it, and a message sent to a peer that is not yet
listening is lost whatever the link's faults. The hellos are counted in the checker's
table with the rest (a few messages beside the ``2 * count`` numbered ones).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from netclock import Delivery, Node


async def main(
    node: Node,
    peer: str | None = None,
    count: int = 200,
    quiet: float = 0.5,
    hello_every: float = 0.05,
) -> dict[str, Any]:
    """Send ``count`` numbered messages to ``peer`` and receive the peer's; returns counts."""
    other = peer if peer is not None else node.peers[0]
    first: Delivery | None = await _hello(node, other, hello_every)
    began = time.monotonic()
    for number in range(1, count + 1):
        await node.send(other, {"n": number}, event=f"message {number} to {other}")
    seen: set[int] = set()
    duplicates = overtaken = highest = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + quiet
    while len(seen) < count:
        try:
            wait = max(deadline - loop.time(), 0.0)
            msg = first if first is not None else await node.receive(timeout=wait)
        except TimeoutError:
            break
        first = None
        if not isinstance(msg.payload, dict) or "n" not in msg.payload:
            continue
        number = int(msg.payload["n"])
        if number in seen:
            duplicates += 1
            continue
        deadline = loop.time() + quiet
        if number < highest:
            overtaken += 1
        highest = max(highest, number)
        seen.add(number)
    ending = "every message" if len(seen) == count else f"{quiet:g} s without a message"
    await node.flush()
    missing = count - len(seen)
    print(
        f"got {len(seen)} of {count} from {other} in {time.monotonic() - began:.2f} s "
        f"(stopped on {ending}): {missing} missing, {duplicates} duplicates, "
        f"{overtaken} out of order"
    )
    return {"received": len(seen), "missing": missing, "duplicates": duplicates}


async def _hello(node: Node, other: str, every: float) -> Delivery:
    """Say hello to ``other`` until anything arrives from it; returns what arrived."""
    while True:
        await node.send(other, {"hello": node.id}, event=f"hello to {other}")
        try:
            return await node.receive(timeout=every)
        except TimeoutError:
            continue
