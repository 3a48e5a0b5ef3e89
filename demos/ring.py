"""The course's "telephone" exercise: a token travels around a ring of processes.

The ring is every node of the cluster in sorted order of ids, starting at ``start`` (the
first id by default). The starter creates the token and passes it on; each holder logs a
local event and passes it to the next node, for ``rounds`` trips around the ring. The
token carries its hop number, so each hop is one deliver, one local event and one send,
and the last hop brings it back to the starter, which prints the trip summary (hops,
copies resent, its final vector clock) and tells every other node that the run is over.

Losses. Over ``fairloss`` (the ``[faults]`` of ring.toml lose some datagrams) a lost
token stalls a ring: nobody holds it. So the starter, which begins every lap, waits for
the token to come back; when it has not within ``timeout`` seconds, the starter sends
its copy again. A node that receives again the copy it last passed on sends its own copy
on again, so the retransmission travels the ring up to where the token was lost and the
token goes on from there. Only the starter keeps a timer: every lap passes through it,
and one timer cannot set off competing resends. Any other copy of a token already seen
is ignored (hop numbers tell them apart), and so is a message whose id was already
delivered: a duplicate made by the link (``stubborn`` resends every message forever,
the faults may duplicate) is not a resend by a node and must not set off another round
of resends. The viewer shows the lost arrow crossed out and the resent copies after it.
Over ``reliable`` or ``tls`` the link itself repairs losses and the timeout never fires
in practice.

Ending. The starter's "done" message may be lost too: a node that has passed the token
for the last time also ends after ``linger`` seconds (default ``3 * timeout``) without a
new message (link duplicates do not count). It keeps passing its copy on again while the
starter's resends reach it, so it does not leave while its last pass is still missing
downstream.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from netclock import MessageId, Node


async def main(
    node: Node,
    rounds: int = 3,
    timeout: float = 0.5,
    linger: float | None = None,
    start: str | None = None,
) -> dict[str, Any]:
    """Pass the token ``rounds`` times around the ring; returns what this node saw."""
    ring = sorted([node.id, *node.peers])
    first = ring[0] if start is None else start
    ring = ring[ring.index(first) :] + ring[: ring.index(first)]
    size = len(ring)
    position = ring.index(node.id)
    successor = ring[(position + 1) % size]
    total = rounds * size
    quiet = 3 * timeout if linger is None else linger
    loop = asyncio.get_running_loop()

    last_seen = 0
    passed: dict[str, Any] | None = None
    deadline: float | None = None
    held = 0
    resent = 0
    ignored = 0
    delivered: set[MessageId] = set()
    began = time.monotonic()
    last_news = loop.time()

    async def pass_on(token: dict[str, Any], again: bool) -> None:
        hop = token["hop"]
        text = f"pass the token to {successor} (round {lap(hop)}, hop {hop})"
        await node.send(successor, token, event=text + (" again" if again else ""))

    def lap(hop: int) -> int:
        return (hop - 1) // size + 1

    if position == 0:
        node.log_local_event("create the token")
        print(f"ring {' -> '.join(ring)} -> {ring[0]}, {rounds} rounds, {total} hops")
        passed = {"kind": "token", "hop": 1}
        await pass_on(passed, again=False)
        deadline = loop.time() + timeout

    while True:
        if deadline is not None:
            wait: float | None = max(deadline - loop.time(), 0.0)
        elif last_seen > total - size:
            wait = max(last_news + quiet - loop.time(), 0.0)
        else:
            wait = None
        try:
            msg = await node.receive(timeout=wait)
        except TimeoutError:
            if deadline is not None and passed is not None:
                resent += 1
                print(
                    f"token not back after {timeout:g} s: sending hop {passed['hop']} "
                    f"to {successor} again"
                )
                await pass_on(passed, again=True)
                deadline = loop.time() + timeout
                continue
            print(f"no word for {quiet:g} s after my last pass; the ring must be done")
            break
        if msg.id in delivered:
            ignored += 1
            continue
        delivered.add(msg.id)
        last_news = loop.time()
        payload = msg.payload
        kind = payload.get("kind") if isinstance(payload, dict) else None
        if kind == "done":
            print(f"{msg.sender} says the token is home after {payload.get('hops')} hops")
            break
        if kind != "token":
            ignored += 1
            continue
        hop = int(payload["hop"])
        if hop <= last_seen:
            if hop == last_seen and position != 0 and passed is not None:
                resent += 1
                print(f"hop {hop} was resent: sending hop {passed['hop']} on again")
                await pass_on(passed, again=True)
            else:
                ignored += 1
            continue
        last_seen = hop
        held += 1
        print(f"token from {msg.sender}: round {lap(hop)}, hop {hop}")
        node.log_local_event(f"hold the token (round {lap(hop)}, hop {hop})")
        if hop == total:
            elapsed = time.monotonic() - began
            print(
                f"token home after {rounds} rounds: {total} hops in {elapsed:.2f} s, "
                f"{_copies(resent)} resent, final clock {node.clock}"
            )
            for peer in node.peers:
                await node.send(peer, {"kind": "done", "hops": total}, event=f"tell {peer}: done")
            break
        passed = {"kind": "token", "hop": hop + 1}
        await pass_on(passed, again=False)
        if position == 0:
            deadline = loop.time() + timeout
    await node.flush()
    if position != 0:
        print(f"held the token {held} times, resent {_copies(resent)}, ignored {_copies(ignored)}")
    return {"held": held, "resent": resent, "ignored": ignored}


def _copies(n: int) -> str:
    return f"{n} {'copy' if n == 1 else 'copies'}"
