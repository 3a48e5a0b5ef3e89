"""The course's gossip homework: a rumour spreads by each process telling K random peers.

``origin`` (node n1 in gossip.toml) starts the rumour by sending it to ``fanout`` random
peers. Every other process, the first time it hears the rumour, logs a local event and
forwards it to ``fanout`` random peers other than the one it heard it from; later copies
are only counted. Peer choices are seeded (``random.Random(seed + crc32(node id))``: a
stable hash, so the same seed picks the same peers in every run), and so are the link's
losses (``[faults]``), so a run can be repeated.

The run has three phases, all over the same (lossy) link:

1. Roll call. Each process says hello to the origin, which starts the rumour once every
   process has (or after ``2 * quiet`` seconds without a hello): a process that has sent
   its hello knows the whole cluster, so no rumour arrives before its receiver can
   accept it.
2. Rumour. Nobody knows when a rumour has stopped spreading, so a process decides it is
   over after ``quiet`` seconds without a new message, and prints whether it heard it.
3. Report. Each process tells the origin whether it heard the rumour; the origin prints
   how many of the N processes it reached once every report is in (or after
   ``2 * quiet`` seconds without one).

Hellos and reports are resent until the origin acknowledges them, at most ``tries``
times, ``ack_timeout`` seconds apart; the origin keeps acknowledging until
``2 * ack_timeout`` seconds pass without a new message, so every program ends. A message
whose id was already delivered is a duplicate made by the link (``stubborn`` resends
every message forever): it is counted, never answered, and does not end a quiet period.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from typing import Any

from netclock import Delivery, MessageId, Node


def pick(rng: random.Random, candidates: list[str], fanout: int) -> list[str]:
    """``fanout`` distinct peers from ``candidates`` (all of them when there are fewer)."""
    return rng.sample(candidates, min(fanout, len(candidates)))


def kind_of(msg: Delivery) -> str | None:
    """The ``kind`` of a demo message, None for anything else."""
    payload = msg.payload
    kind = payload.get("kind") if isinstance(payload, dict) else None
    return kind if isinstance(kind, str) else None


class Inbox:
    """A node's deliveries without the link's duplicates, and waits for a quiet period."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.duplicates = 0
        self.held: list[Delivery] = []
        self._seen: set[MessageId] = set()

    async def next(self, quiet: float) -> Delivery:
        """The next message not delivered before; TimeoutError after ``quiet`` s without one."""
        if self.held:
            return self.held.pop(0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + quiet
        while True:
            msg = await self.node.receive(timeout=max(deadline - loop.time(), 0.0))
            if msg.id not in self._seen:
                self._seen.add(msg.id)
                return msg
            self.duplicates += 1


async def main(
    node: Node,
    origin: str = "n1",
    fanout: int = 2,
    seed: int = 0,
    quiet: float = 1.0,
    ack_timeout: float = 0.1,
    tries: int = 10,
    rumour: str = "the exam is postponed",
) -> dict[str, Any]:
    """Spread or pass on the rumour, then report to ``origin``; returns what this node saw."""
    rng = random.Random(seed + zlib.crc32(node.id.encode("utf-8")))
    inbox = Inbox(node)
    if node.id == origin:
        return await _originate(node, inbox, rng, fanout, quiet, ack_timeout, rumour)
    if not await _until_acked(node, inbox, origin, "hello", {}, ack_timeout, tries):
        print(f"{origin} never acknowledged my hello ({tries} tries)")
    heard: dict[str, Any] | None = None
    copies = 0
    while True:
        try:
            msg = await inbox.next(quiet)
        except TimeoutError:
            break
        if kind_of(msg) != "rumour":
            continue
        if heard is not None:
            copies += 1
            continue
        text, hops = msg.payload["text"], int(msg.payload["hops"])
        heard = {"from": msg.sender, "hops": hops}
        node.log_local_event(f"heard the rumour ({hops} hops from {origin})")
        targets = pick(rng, [p for p in node.peers if p != msg.sender], fanout)
        away = f"{hops} hop{'' if hops == 1 else 's'} from {origin}"
        print(f"heard {text!r} from {msg.sender} ({away}); telling {', '.join(targets)}")
        for peer in targets:
            forward = {"kind": "rumour", "text": text, "hops": hops + 1}
            await node.send(peer, forward, event=f"tell {peer} the rumour")
    if heard is None:
        print(f"never heard the rumour ({quiet:g} s without a message)")
    else:
        print(f"heard the rumour, then {copies} more {'copy' if copies == 1 else 'copies'}")
    report = {"heard": heard is not None, "hops": None if heard is None else heard["hops"]}
    acked = await _until_acked(node, inbox, origin, "report", report, ack_timeout, tries)
    if not acked:
        print(f"{origin} never acknowledged my report ({tries} tries)")
    await node.flush()
    return {"heard": heard is not None, "copies": copies, "report_acked": acked}


async def _until_acked(
    node: Node,
    inbox: Inbox,
    origin: str,
    kind: str,
    fields: dict[str, Any],
    timeout: float,
    tries: int,
) -> bool:
    """Send a ``kind`` message to ``origin`` until it acknowledges it; False after ``tries``.

    Whatever else arrives meanwhile is kept in ``inbox.held`` for the caller's next read.
    """
    for attempt in range(tries):
        again = " again" if attempt else ""
        await node.send(origin, {"kind": kind, **fields}, event=f"{kind} to {origin}{again}")
        other: list[Delivery] = []
        try:
            while True:
                msg = await inbox.next(timeout)
                if kind_of(msg) == "ack" and msg.payload.get("of") == kind:
                    return True
                if kind_of(msg) != "ack":
                    other.append(msg)
        except TimeoutError:
            continue
        finally:
            inbox.held.extend(other)
    return False


async def _originate(
    node: Node,
    inbox: Inbox,
    rng: random.Random,
    fanout: int,
    quiet: float,
    ack_timeout: float,
    rumour: str,
) -> dict[str, Any]:
    """Wait for every hello, start the rumour, then collect and acknowledge the reports."""
    everyone = set(node.peers)
    hellos: set[str] = set()
    reports: dict[str, bool] = {}
    copies = 0
    started = announced = False
    while True:
        if not started and everyone <= hellos:
            started = await _start(node, rng, fanout, rumour, hellos, everyone)
        if started and not announced and everyone <= reports.keys():
            print(_summary(reports, everyone))
            announced = True
        try:
            msg = await inbox.next(2 * ack_timeout if announced else 2 * quiet)
        except TimeoutError:
            if not started:
                started = await _start(node, rng, fanout, rumour, hellos, everyone)
                continue
            break
        kind = kind_of(msg)
        if kind == "rumour":
            copies += 1
        elif kind in ("hello", "report"):
            if kind == "hello":
                hellos.add(msg.sender)
            elif msg.sender not in reports:
                reports[msg.sender] = bool(msg.payload.get("heard"))
            ack = {"kind": "ack", "of": kind}
            await node.send(msg.sender, ack, event=f"acknowledge {msg.sender}'s {kind}")
    if not announced:
        print(_summary(reports, everyone))
    await node.flush()
    return {"reached": 1 + sum(reports.values()), "processes": len(everyone) + 1}


async def _start(
    node: Node,
    rng: random.Random,
    fanout: int,
    rumour: str,
    hellos: set[str],
    everyone: set[str],
) -> bool:
    """Send the rumour to ``fanout`` random peers; returns True (the rumour has started)."""
    missing = sorted(everyone - hellos)
    node.log_local_event("start the rumour")
    targets = pick(rng, node.peers, fanout)
    note = f" (no hello from {', '.join(missing)})" if missing else ""
    print(f"starting the rumour {rumour!r}{note}; telling {', '.join(targets)}")
    for peer in targets:
        payload = {"kind": "rumour", "text": rumour, "hops": 1}
        await node.send(peer, payload, event=f"tell {peer} the rumour")
    return True


def _summary(reports: dict[str, bool], everyone: set[str]) -> str:
    """One line: how many processes heard the rumour, who did not, who never reported."""
    size = len(everyone) + 1
    reached = 1 + sum(reports.values())
    missed = sorted(p for p, heard in reports.items() if not heard)
    silent = sorted(everyone - reports.keys())
    at_least = "at least " if silent else ""
    line = f"the rumour reached {at_least}{reached} of {size} processes"
    if missed:
        line += f"; never heard it: {', '.join(missed)}"
    if silent:
        line += f"; no report from {', '.join(silent)}"
    return line
