"""One node of the TLS system tests, as its own OS process (under uvloop when installed).

Line protocol on stdout: ``READY <port>`` once listening, ``PEERED`` once the peer's
address (one line ``<host> <port>`` on stdin) is known, then per role:

* ``--receive N``: receive N messages, then ``RESULT {json}`` (count, order, duplicates).
* ``--send N``: send ``[index, --pad bytes]`` payloads as stdin commands say, one answer
  line each:
  ``send K`` (await sends until K were accepted) -> ``SENT <total> <unacked>``;
  ``flush`` (wait until everything sent is acknowledged) -> ``FLUSHED <unacked>``;
  ``fill [PAD]`` (send without waiting until the window is full, ``PAD`` bytes beside the
  index) -> ``FILLED <total> <unacked>``;
  ``reset`` (abort the connection with a TCP RST) -> ``RESET <was connected> <unacked>``;
  ``finish`` (send the rest, wait for every ack) -> ``DONE {link stats json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from netclock import Node
from netclock.errors import WindowFull
from netclock.links.tls.link import TlsLink


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def stdin_lines() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def receive(node: Node, count: int) -> None:
    payloads = []
    for _ in range(count):
        payloads.append((await node.receive()).payload[0])
    expected = list(range(count))
    first_bad = next((i for i, p in enumerate(payloads) if p != i), None)
    say(
        "RESULT "
        + json.dumps(
            {
                "count": len(payloads),
                "in_order": payloads == expected,
                "distinct": len(set(payloads)),
                "first_bad": first_bad,
                "link": node.stats()["link"],
            }
        )
    )


async def send(
    node: Node, peer: str, count: int, pad: bytes, commands: asyncio.StreamReader
) -> None:
    link = node._link
    assert isinstance(link, TlsLink)
    total = 0
    while line := (await commands.readline()).decode().split():
        if line[0] == "send":
            while total < int(line[1]):
                await node.send(peer, [total, pad])
                total += 1
            say(f"SENT {total} {link.unacked(peer)}")
        elif line[0] == "flush":
            await node.flush()
            say(f"FLUSHED {link.unacked(peer)}")
        elif line[0] == "fill":
            big = bytes(int(line[1])) if len(line) > 1 else pad
            try:
                while total < count:
                    node.send_nowait(peer, [total, big])
                    total += 1
            except WindowFull:
                pass
            await asyncio.sleep(0)  # let this iteration's pump write them to the socket
            say(f"FILLED {total} {link.unacked(peer)}")
        elif line[0] == "reset":
            unacked = link.unacked(peer)
            say(f"RESET {link.reset(peer)} {unacked}")
        elif line[0] == "finish":
            while total < count:
                await node.send(peer, [total, pad])
                total += 1
            await node.flush()
            say("DONE " + json.dumps(link.stats()))
            return


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True)
    parser.add_argument("--peer", required=True)
    parser.add_argument("--certs", required=True)
    parser.add_argument("--receive", type=int, default=0)
    parser.add_argument("--send", type=int, default=0)
    parser.add_argument("--pad", type=int, default=1000, help="payload bytes beside the index")
    args = parser.parse_args()
    commands = await stdin_lines()
    async with Node(args.id, link="tls", cert_dir=args.certs) as node:
        say(f"READY {node.address[1]}")
        host, port = (await commands.readline()).decode().split()
        node.add_peer(args.peer, (host, int(port)))
        say("PEERED")
        if args.receive:
            await receive(node, args.receive)
        else:
            await send(node, args.peer, args.send, bytes(args.pad), commands)


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
