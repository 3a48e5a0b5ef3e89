"""The course's GoVector example as two netclock programs.

The client sends "message @ time"; the server receives it, logs a local event and
answers; the client receives the answer and logs a local event. With one round the
clocks are the course's: client {client:2} on send, server {client:2, server:2} on
receive, {.., server:3} after its local event, {.., server:4} on its answer, and the
client ends at {client:4, server:4}.
"""

from __future__ import annotations

import time

from netclock import Node


async def server(node: Node, rounds: int = 1) -> None:
    """Answer ``rounds`` messages, logging a local event for each."""
    for _ in range(rounds):
        msg = await node.receive()
        print(f"received {msg.payload!r} from {msg.sender}  clock {msg.receive_clock}")
        node.log_local_event("Processing message")
        answer = f"reply to {msg.payload}"
        await node.send(msg.sender, answer, event="Sending reply")
        print(f"sent     {answer!r}  clock {node.clock}")
    await node.flush()


async def client(node: Node, server: str = "server", rounds: int = 1) -> None:
    """Send ``rounds`` timestamped messages to ``server`` and wait for each answer."""
    for _ in range(rounds):
        text = f"message @ {time.strftime('%H:%M:%S')}"
        await node.send(server, text, event="Sending Message")
        print(f"sent     {text!r}  clock {node.clock}")
        reply = await node.receive()
        print(f"received {reply.payload!r}  clock {reply.receive_clock}")
        node.log_local_event("Reply handled")
        print(f"local event  clock {node.clock}")
