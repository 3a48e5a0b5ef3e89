"""Chat over causal, then best-effort, then Byzantine reliable broadcast (chat.toml).

Every correct process runs :func:`main`: the asker broadcasts a question, the answerer
answers the first question it sees; everyone prints each message as it appears, marking an
answer that appears before the message it answers. Once a part's two messages are in, the
asker starts the next part. In the last part each correct process broadcasts one line over
Bracha and reports what it delivered from mallory, who runs :func:`mallory`: it sends a
different value to alice than to bob and carol as one broadcast, and records that it lies
(``byzantine.json`` in the run folder, the ground truth the checker reads).
"""

from __future__ import annotations

from typing import Any

from netclock import Node
from netclock.broadcast.frame import ECHO, SEND, BMessage, Kind, encode
from netclock.node import BroadcastDelivery
from netclock.tools.check_broadcast import record_byzantine

PARTS = ("causal", "best-effort")
QUESTION = "Who is up for lunch?"
ANSWER = "Me! Pizza?"


async def main(
    node: Node, asks: bool = False, answers: bool = False, quiet: float = 2.0
) -> dict[str, Any]:
    """Chat through both parts, then the Bracha part; returns what this process saw."""
    seen: dict[str, list[str]] = {part: [] for part in PARTS}
    honest: list[str] = []
    from_mallory: list[Any] = []
    if asks:
        await node.broadcast({"text": QUESTION}, kind=PARTS[0])
    while True:
        try:
            msg = await node.receive(timeout=quiet if len(honest) >= 3 else 30)
        except TimeoutError:
            break
        assert isinstance(msg, BroadcastDelivery)
        if msg.kind == Kind.BYZANTINE.value:
            (honest if msg.sender != "mallory" else from_mallory).append(msg.payload)
            continue
        part = msg.kind
        text = msg.payload["text"]
        early = text == ANSWER and QUESTION not in seen[part]
        seen[part].append(text)
        mark = "   <-- an answer before the question it answers!" if early else ""
        print(f"[{part:>11}] {node.id} sees {msg.sender}: {text}{mark}", flush=True)
        if answers and text == QUESTION:
            await node.broadcast({"text": ANSWER}, kind=part)
        if len(seen[part]) == 2:
            later = PARTS.index(part) + 1
            if later < len(PARTS):
                if asks:
                    await node.broadcast({"text": QUESTION}, kind=PARTS[later])
            else:
                await node.broadcast(f"{node.id} says hi", kind=Kind.BYZANTINE.value)
    print(f"[  byzantine] {node.id} delivered {sorted(honest)} and from mallory {from_mallory}")
    return {"seen": seen, "mallory": from_mallory}


async def mallory(node: Node, quiet: float = 3.0) -> None:
    """Equivocate: "pay alice" to alice and "pay mallory" to the others, as one broadcast."""
    folder = node.event_log.parent if node.event_log is not None else None
    if folder is not None:
        record_byzantine(folder, node.id)
    for peer in node.peers:
        value = "pay alice" if peer == "alice" else "pay mallory"
        for phase in (SEND, ECHO):
            msg = BMessage(Kind.BYZANTINE, node.id, node.incarnation, 1, node.clock, value, phase)
            node.link.send(peer, node.clock, encode(msg))
    while True:
        try:
            await node.receive(timeout=quiet)
        except TimeoutError:
            return
