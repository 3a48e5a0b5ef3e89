"""Triple modular redundancy: three replicas, one trusted voter, and replicas that lie.

The voter sends a stream of requests ``{"req": i, "x": x}`` to r1, r2 and r3; every
replica computes ``f(x) = x * x + 1`` and answers ``{"req": i, "value": f(x)}``. The voter
(:class:`netclock.Voter`) decides each request's value by a majority of distinct replicas,
taking each replica's identity from the link's sender, and names who disagreed or stayed
silent. ``SCHEDULE`` says which replicas lie on which request and how; the voter prints it
beside each outcome, but decides without it.

* Requests 1-8: r3 alone lies, one behaviour per request (wrong value, equivocation, replay
  of an old answer, silence, a late answer, malformed envelopes, impersonation of r1). With
  at most one liar of three, the voter gets every value right and names the liar.
* Requests 9-10: r2 and r3 both lie. Colluding on one wrong value they *are* the majority:
  the voter decides their value and blames honest r1. Disagreeing, no value has a
  majority: no decision. Two of three masks one liar, not two.

Impersonation needs an unauthenticated link to work. Over tls (the default) r3's attempt to
speak as r1 is refused by the voter's link (its certificate says r3). Run ``netclock demo
tmr --link fairloss``: a UDP link drops a datagram "from r1" that comes from another port
than r1's, so r3 writes r1's source address into the packet itself (a raw socket: root;
without it, the forgery is dropped and the demo says so). r3's forged answer "from r1"
then arrives before r1's own, so the liar votes twice and wins; the honest replicas are the
ones blamed (r1 too, for contradicting "itself", when its own answer arrives before the
ballot closes). That is why the voter needs authenticated links.
"""

from __future__ import annotations

import asyncio
from typing import Any

from netclock import Decided, Node, Voter
from netclock.adversary import (
    MALFORMED,
    Equivocation,
    Forger,
    RawTls,
    frames,
    spoofing_unavailable,
    wrong_value,
)

SCHEDULE: dict[int, tuple[str, tuple[str, ...]]] = {
    1: ("honest", ()),
    2: ("wrong value", ("r3",)),
    3: ("equivocation", ("r3",)),
    4: ("replay of an old answer", ("r3",)),
    5: ("silence", ("r3",)),
    6: ("a late answer", ("r3",)),
    7: ("malformed envelopes", ("r3",)),
    8: ("impersonation of r1", ("r3",)),
    9: ("two liars colluding", ("r2", "r3")),
    10: ("two liars disagreeing", ("r2", "r3")),
}
"""Request -> (what the liars do, who lies)."""
ONE_LIAR = range(2, 9)
"""The requests on which r3 alone lies."""
WORK = 0.05
"""Seconds an honest replica computes: a liar does not bother and answers first."""


def f(x: int) -> int:
    return x * x + 1


def _answer(payload: Any) -> tuple[Any, Any] | None:
    """``(request, value)`` of a well-formed answer, None for anything else."""
    if isinstance(payload, dict) and "req" in payload and "value" in payload:
        return payload["req"], payload["value"]
    return None


# -- the voter -----------------------------------------------------------------------------------
async def voter(node: Node, replicas: list[str], timeout: float = 1.0) -> None:
    """Send every request of SCHEDULE, vote on the answers, say what the vote showed."""
    loop = asyncio.get_running_loop()
    voting = Voter(replicas, timeout)
    outcomes: dict[int, Any] = {}
    ignored = 0
    print(f"voter over {node.link_kind}: {len(replicas)} replicas, a majority of 2 decides")
    for req, (behaviour, liars) in SCHEDULE.items():
        x = req + 2
        voting.open(req, loop.time())
        for replica in replicas:
            await node.send(replica, {"req": req, "x": x})
        while req not in outcomes:
            deadline = voting.next_deadline()
            assert deadline is not None
            try:
                msg = await node.receive(timeout=max(0.0, deadline - loop.time()))
            except TimeoutError:
                closed = voting.on_timer(loop.time())
            else:
                answer = _answer(msg.payload)
                if answer is None:
                    ignored += 1
                    continue
                closed = voting.answer(msg.sender, answer[0], answer[1], loop.time())
            for outcome in closed:
                outcomes[outcome.request] = outcome
        outcome = outcomes[req]
        right = f(x)
        who = f"{', '.join(liars)} lie: {behaviour}" if liars else behaviour
        verdict = _verdict(outcome, right, liars)
        print(f"request {req:2} [{who}]: {outcome} -> {verdict}")
    for replica in replicas:
        await node.send(replica, {"done": True})
    await node.flush()
    _summary(outcomes, node.link_kind)
    print(f"answers to closed requests (replays, late answers): {voting.unexpected}")
    print(f"payloads that were not answers: {ignored}")
    print(f"refused by the receive rule (lying clocks): {node.stats()['dropped']}")


def _verdict(outcome: Any, right: int, liars: tuple[str, ...]) -> str:
    if not isinstance(outcome, Decided):
        return "NO DECISION"
    named = set(outcome.disagreed) | set(outcome.silent)
    text = "right" if outcome.value == right else f"WRONG (the right value is {right})"
    if liars and set(liars) <= named:
        text += ", liar named"
    elif named - set(liars):
        text += f", honest {', '.join(sorted(named - set(liars)))} blamed"
    return text


def _summary(outcomes: dict[int, Any], link: str) -> None:
    one = [outcomes[r] for r in ONE_LIAR]
    right = sum(isinstance(o, Decided) and o.value == f(o.request + 2) for o in one)
    named = sum(
        isinstance(o, Decided) and "r3" in (*o.disagreed, *o.silent) and len(o.disagreed) <= 1
        for o in one
    )
    print(
        f"one liar of three (requests {ONE_LIAR[0]}-{ONE_LIAR[-1]}): {right} of {len(one)} "
        f"voted values right, the liar named in {named}"
    )
    if right == len(one):
        print("2 of 3 masks one liar.")
    else:
        print(
            f"over {link} a liar could speak for an honest replica and vote twice: "
            "the voter needs authenticated links (tls)."
        )
    colluding, disagreeing = outcomes[9], outcomes[10]
    if isinstance(colluding, Decided) and colluding.value != f(11):
        print(
            f"two liars colluding: the voter decided their wrong value {colluding.value!r}; "
            "2 of 3 no longer masks two liars."
        )
    if not isinstance(disagreeing, Decided):
        print("two liars disagreeing: no majority, no decision (never a wrong one).")


# -- the replicas --------------------------------------------------------------------------------
async def replica(node: Node, voter: str = "voter") -> None:
    """Answer every request; lie where SCHEDULE says so; stop at the voter's "done"."""
    liar = _Liar(node, voter)
    try:
        async for msg in node:
            payload = msg.payload
            if not isinstance(payload, dict) or payload.get("done"):
                break
            req, x = payload["req"], payload["x"]
            behaviour, liars = SCHEDULE.get(req, ("honest", ()))
            if node.id in liars:
                liar.confess(behaviour)
                await liar.lie(behaviour, req, f(x))
            else:
                await asyncio.sleep(WORK)
                await node.send(voter, {"req": req, "value": f(x)})
        await liar.finish()
    finally:
        liar.close()


class _Liar:
    """What a Byzantine replica does, one behaviour per call (toolkit one-liners)."""

    def __init__(self, node: Node, voter: str) -> None:
        self.node = node
        self.voter = voter
        self.last: dict[str, Any] | None = None
        self.late: list[asyncio.Task[Any]] = []
        self.forger: Forger | None = None

    def confess(self, behaviour: str) -> None:
        """Ground truth for the checker: this replica lies now, and how."""
        self._forger().confess(self.voter, behaviour)

    async def send(self, answer: dict[str, Any]) -> None:
        await self.node.send(self.voter, answer)
        self.last = answer

    async def lie(self, behaviour: str, req: int, value: int) -> None:
        node, voter = self.node, self.voter
        address = node.link.peers[voter]
        if behaviour == "wrong value":
            await self.send({"req": req, "value": wrong_value(value)})
        elif behaviour == "equivocation":  # two different answers to the same request
            equivocation = Equivocation()
            await self.send({"req": req, "value": equivocation.answer("first", value)})
            await self.send({"req": req, "value": equivocation.answer("second", value)})
        elif behaviour == "replay of an old answer":
            assert self.last is not None
            await node.send(voter, self.last)
        elif behaviour == "silence":
            pass
        elif behaviour == "a late answer":
            self.late.append(asyncio.ensure_future(self._later(3.0, {"req": req, "value": value})))
        elif behaviour == "malformed envelopes":
            if node.link_kind == "tls":
                conn = await RawTls.dial(address, node.link.client_context)  # type: ignore[attr-defined]
                conn.write(frames(MALFORMED.values()))
                await conn.refused(2.0)
                await conn.close()
            else:
                for data in MALFORMED.values():
                    self._forger().send_raw(data, address)
        elif behaviour == "impersonation of r1":
            lie = {"req": req, "value": wrong_value(value)}
            await self._impersonate("r1", lie, address)
            await self.send(lie)
        elif behaviour == "two liars colluding":
            await self.send({"req": req, "value": wrong_value(value)})
        elif behaviour == "two liars disagreeing":
            salt = 1 if node.id == "r2" else 2
            await self.send({"req": req, "value": wrong_value(value, salt)})

    async def _impersonate(self, victim: str, answer: dict[str, Any], address: Any) -> None:
        node = self.node
        if node.link_kind == "tls":
            from netclock.adversary import hello_envelope, segment_envelope

            conn = await RawTls.dial(address, node.link.client_context)  # type: ignore[attr-defined]
            conn.write(
                frames(
                    [
                        hello_envelope(victim, self.voter, incarnation=7),
                        segment_envelope(victim, self.voter, [answer], incarnation=7),
                    ]
                )
            )
            refused = await conn.refused(2.0)
            await conn.close()
            print(f"{node.id}: speaking as {victim} over tls: {'refused' if refused else 'open'}")
        elif node.link_kind == "sealed":
            from netclock.adversary import segment_envelope

            forged = segment_envelope(victim, self.voter, [answer], incarnation=7)
            node.link.transmit(self.voter, forged, (), 0)  # type: ignore[attr-defined]
            print(f"{node.id}: sealed an answer claiming to be {victim} (with its own key)")
        elif (why := spoofing_unavailable()) is not None:
            self._forger().impersonate(victim, self.voter, address, answer, link=node.link_kind)
            print(
                f"{node.id}: sent an answer claiming to be {victim} over {node.link_kind} from a "
                f"port of its own, which the voter's link drops ({why})"
            )
        else:
            source = node.link.peers[victim]
            self._forger().impersonate(
                victim, self.voter, address, answer, link=node.link_kind, source=source
            )
            print(
                f"{node.id}: sent an answer claiming to be {victim} over {node.link_kind}, "
                f"spoofing {victim}'s address"
            )

    async def _later(self, delay: float, answer: dict[str, Any]) -> None:
        await asyncio.sleep(delay)
        await self.node.send(self.voter, answer)

    def _forger(self) -> Forger:
        if self.forger is None:
            self.forger = Forger.for_node(self.node)
        return self.forger

    async def finish(self) -> None:
        await asyncio.gather(*self.late, return_exceptions=True)

    def close(self) -> None:
        if self.forger is not None:
            self.forger.close()
