"""Crash-stop and crash-recovery: three processes stream numbered messages to each other.

Each node streams ``count`` numbered messages to every peer (one every ``every``
seconds) and receives theirs. crash.toml kills one node for good mid-stream (crash-stop)
and kills another and starts it again (crash-recovery); the program copes with both.

A crashed peer. The reliable link retransmits to a silent peer for ``give_up_after``
seconds (crash.toml), then hands the messages back: :meth:`Node.failures`. A node that
gets a peer's messages back stops streaming to it and stops waiting for it, so the
survivors end promptly; it prints how many were handed back. The checker counts them as
``failed``, not lost: the sender knows it cannot tell whether they arrived.

A restarted peer. A cluster run gives each node a data directory, so the reliable link is
a *logged* perfect link (docs/durability.md). A restarted node is a new process running
this program from the start on the same data directory: its link resends what it had sent
and not seen acknowledged, with the same ids, and hands it first the messages it had
delivered and the program had not consumed (``redelivered``). The program keeps its own
record of the numbers it consumed in the data directory (one line each, written before it
asks for the next message), so it skips a redelivered number it had already written down,
and it resumes its own streams where the link's stand (``node.next_seq``). Its peers see no
new sender, only a silence: nothing is lost and nothing is consumed twice ("again" counts
a number that came twice without the redelivery flag: it stays 0).

Without a data directory (a program run by hand) a restart is a new incarnation: a node
that hears a peer's new incarnation counts what the earlier life sent it apart and streams
to the new life from 1 again.

A node ends once it has every number from every peer's latest life and every peer it
streams to has acknowledged it or handed it back; or after ``quiet`` seconds without a
new number (it then says whom it stopped waiting for).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from netclock import Delivery, Node


class _Peer:
    """What one node knows of one peer: its latest life, what came from it, what it owes it."""

    def __init__(self) -> None:
        self.life = 0
        """The peer's latest incarnation heard from (0: none yet)."""
        self.got: set[int] = set()
        """Numbers received from the latest life."""
        self.earlier = 0
        """Numbers received from earlier lives."""
        self.again = 0
        self.next = 1
        """The next number to stream to it."""
        self.handed_back = 0
        self.redelivered = 0
        """Redelivered after a restart and already consumed before it (skipped)."""
        self.before = 0
        """Numbers consumed by this node's earlier lives (from its own record)."""
        self.gone = False
        """The link gave up on it: it crashed, or is down for longer than the link waits."""


async def main(
    node: Node, count: int = 150, every: float = 0.02, quiet: float = 5.0
) -> dict[str, Any]:
    """Stream ``count`` numbers to every peer's latest life and take theirs; returns counts."""
    peers = {peer: _Peer() for peer in node.peers}
    record = _resume(node, peers)
    more = asyncio.Event()
    began = time.monotonic()
    streaming = asyncio.ensure_future(_stream(node, peers, count, every, more))
    loop = asyncio.get_running_loop()
    last_news = loop.time()
    try:
        while not all(p.gone or (len(p.got) == count and p.next > count) for p in peers.values()):
            if loop.time() - last_news > quiet:
                waiting = [name for name, p in peers.items() if not p.gone and len(p.got) < count]
                print(f"no new number for {quiet:g} s: stopped waiting for {', '.join(waiting)}")
                break
            try:
                msg = await node.receive(timeout=0.1)
            except TimeoutError:
                _take_failures(node, peers)
                continue
            _take_failures(node, peers)
            if _take(msg, peers[msg.sender], count, more, record):
                last_news = loop.time()
    finally:
        streaming.cancel()
        if record is not None:
            record.close()
    await node.flush()
    _take_failures(node, peers)
    for name, peer in sorted(peers.items()):
        print(_summary(name, peer, count))
    print(f"done in {time.monotonic() - began:.2f} s, clock {node.clock}")
    return {
        name: {"got": len(p.got), "earlier": p.earlier, "handed_back": p.handed_back}
        for name, p in peers.items()
    }


async def _stream(
    node: Node, peers: dict[str, _Peer], count: int, every: float, more: asyncio.Event
) -> None:
    """Send the next number to each peer still owed one, one round every ``every`` s."""
    while True:
        owed = [(name, p) for name, p in peers.items() if not p.gone and p.next <= count]
        if not owed:
            more.clear()
            await more.wait()
            continue
        for name, peer in owed:
            number = peer.next
            await node.send(name, {"n": number}, event=f"number {number} to {name}")
            if peer.next == number:  # not restarted from 1 meanwhile
                peer.next = number + 1
        await asyncio.sleep(every)


def _resume(node: Node, peers: dict[str, _Peer]) -> Any:
    """With a data directory and a logged link (reliable or tls): what earlier lives
    consumed and sent; the record file, open. Other links keep nothing across a restart."""
    if node.data_dir is None or node.link_kind not in ("reliable", "tls"):
        return None
    path = node.data_dir / "numbers"
    lines = path.read_text().split() if path.exists() else []
    for line in lines:
        sender, number = line.split(":")
        peers[sender].got.add(int(number))
    for name, peer in peers.items():
        peer.before = len(peer.got)
        peer.next = node.next_seq(name)  # numbers are the link's sequence numbers
    if lines:
        taken = ", ".join(f"{len(p.got)} from {n}" for n, p in sorted(peers.items()))
        sent = ", ".join(f"{n} at {p.next}" for n, p in sorted(peers.items()))
        print(f"restarted on its data directory: had consumed {taken}; streams resume: {sent}")
    return path.open("a", buffering=1)


def _take(msg: Delivery, peer: _Peer, count: int, more: asyncio.Event, record: Any = None) -> bool:
    """Count one delivery; a new incarnation restarts the stream to it. True if news."""
    life = msg.id.incarnation
    if life < peer.life:
        return False
    if life > peer.life:
        if peer.life:
            print(
                f"{msg.sender} restarted (incarnation {peer.life} -> {life}): "
                f"{len(peer.got)} numbers came from its earlier life; streaming to it from 1 again"
            )
            peer.earlier += len(peer.got)
            peer.got = set()
            peer.next = 1
            more.set()
        peer.life = life
        peer.gone = False
    if not isinstance(msg.payload, dict) or "n" not in msg.payload:
        return False
    number = int(msg.payload["n"])
    if number in peer.got and msg.redelivered:
        peer.redelivered += 1  # consumed before the crash, not yet marked so: skip it
        return False
    if number in peer.got or not 1 <= number <= count:
        peer.again += 1
        return False
    if record is not None:
        record.write(f"{msg.sender}:{number}\n")  # line-buffered: in the OS before the next ask
    peer.got.add(number)
    return True


def _take_failures(node: Node, peers: dict[str, _Peer]) -> None:
    """Mark the peers the link gave up on, and count what it handed back."""
    for failure in node.failures():
        peer = peers[failure.peer]
        peer.handed_back += 1
        if not peer.gone:
            peer.gone = True
            print(
                f"the link gave up on {failure.peer}: it stops answering; no longer waiting for it"
            )


def _summary(name: str, peer: _Peer, count: int) -> str:
    """One line: what came from ``name`` and what went to it."""
    got = f"got {len(peer.got)} of {count} from {name}"
    if peer.before:
        got += f" ({peer.before} before this node's restart)"
    if peer.redelivered:
        got += f", {peer.redelivered} redelivered after it and skipped"
    if peer.earlier:
        got += f"'s latest life (+{peer.earlier} from its earlier life)"
    if peer.again:
        got += f", {peer.again} again"
    if peer.handed_back:
        got += (
            f"; {peer.handed_back} sent to it were handed back by the link (node.failures()): "
            "the checker counts them as failed, not lost"
        )
    return got
