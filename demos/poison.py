"""Clock poisoning, contained: one member lies in its vector clocks, the others talk on.

mallory, a member of the cluster with its own socket (and certificate over tls or sealed),
stamps four messages with lying clocks (the adversary's own link, ``node.link.send``):

* to alice, ``carol: 2**64-1``: a huge entry for a third party. alice cannot know better
  and merges it; every message she sends from then on carries the lie. Before the
  containment this cut carol off: carol's own entry can never pass 2**64-1, so she dropped
  every later message from whoever had merged the lie.
* to bob, ``mallory: 2**63``: a huge entry of its own (not detectable: only the liar knows
  its own events; it spreads like news).
* to carol, a clock of 1,000 entries (65 kB): refused before the link acknowledges it, so
  mallory gets it back as a failure with carol's reason, and nobody's clock grows.
* to carol, a claim that carol has done a million events more than she has: delivered,
  the claim never merged (``false_claims``): carol is the one authority on her own entry.

Then alice, bob and carol send ``count`` messages to each other and check that each arrives
exactly once and in order. Each prints what it merged, what it refused and how many false
claims about itself it ignored; mallory prints what it was told back. ``netclock check``
marks mallory Byzantine (its confessions) and lists carol's refusal and false claims;
``netclock viz`` draws the refusal on carol's lane.
"""

from __future__ import annotations

import asyncio

from netclock import Node
from netclock.adversary import Forger, claims_more_of
from netclock.clock import VectorClock

COUNT = 50
"""Messages each honest process sends to each other honest process."""
WAIT = 10.0
"""Seconds an honest process waits for the next message before it reports what is missing."""
HUGE = 2**64 - 1


async def honest(node: Node, peers: list[str], liar: str = "mallory", count: int = COUNT) -> None:
    """Hear the liar first, then exchange ``count`` messages with every other honest peer."""
    others = [p for p in peers if p != node.id]
    got = dict.fromkeys(others, 0)
    out_of_order = 0
    heard_liar = False

    async def take() -> bool:
        nonlocal heard_liar, out_of_order
        try:
            msg = await node.receive(timeout=WAIT)
        except TimeoutError:
            return False
        if msg.sender == liar:
            heard_liar = True
        elif msg.sender in got and isinstance(msg.payload, int):
            if msg.payload != got[msg.sender]:
                out_of_order += 1
            got[msg.sender] += 1
        return True

    while not heard_liar:
        if not await take():
            print(f"{node.id}: never heard {liar}")
            break
    for i in range(count):
        for peer in others:
            await node.send(peer, i)
    while any(n < count for n in got.values()):
        if not await take():
            break
    await node.flush()
    stats = node.stats()
    heard = ", ".join(f"{got[p]} from {p}" for p in others)
    whole = all(got[p] == count for p in others) and out_of_order == 0
    verdict = "every message exactly once and in order" if whole else "MESSAGES MISSING"
    print(f"{node.id}: {heard} (of {count} each): {verdict}")
    lies = {p: v for p, v in node.clock.items() if v >= 2**62}
    if lies:
        said = ", ".join(f"{p} at {v}" for p, v in sorted(lies.items()))
        print(f"{node.id}: my clock says {said} (merged: it cannot know better)")
    print(
        f"{node.id}: my own entry {node.clock.get(node.id)}; false claims about me ignored: "
        f"{stats['false_claims']}; refused: {node.refused}; failures: {len(node.failures())}"
    )


async def lies(node: Node, peers: list[str], liar: str = "mallory") -> None:
    """Tell each of ``peers`` (alice, bob, carol) a lying clock on the liar's own link,
    confessing each lie first."""
    alice, bob, carol = peers
    me = node.id
    bloated = VectorClock({f"p{i:03}": 2**63 for i in range(1000)} | {me: 3})
    told = [
        (alice, VectorClock({me: 1, carol: HUGE}), f"a huge entry for {carol}"),
        (bob, VectorClock({me: 2**63}), "a huge entry of its own"),
        (carol, bloated, "a clock of 1001 entries"),
        (carol, claims_more_of(VectorClock({me: 4}), carol, by=1_000_000), f"{carol}'s future"),
    ]
    forger = Forger.for_node(node)
    try:
        for to, clock, what in told:
            forger.send_with_clock(node, to, clock, f"{me} says: {what}", f"lying clock: {what}")
            node.log_local_event(f"told {to} a lying clock: {what}")  # on its lane in the viewer
            print(f"{me}: told {to} {what}")
        await node.flush()
        for failure in node.failures():
            print(f"{me}: {failure.peer} refused {failure.payload!r}: {failure.reason}")
    finally:
        forger.close()
    await asyncio.sleep(0)
