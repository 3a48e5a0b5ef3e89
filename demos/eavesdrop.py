"""Eavesdropping: what someone who reads the wire learns, over UDP and over TLS.

alice tells bob three secrets; eve, on the same machine, captures the loopback interface
with a raw packet socket (:class:`netclock.adversary.LoopbackCapture`: Linux, root or
CAP_NET_RAW; nothing is installed or run) and prints what she read. Over a UDP link
(``fairloss``, ``stubborn``, ``reliable``) each envelope is plain msgpack: eve decodes it
and prints the secrets in clear. Over ``sealed`` each datagram is sealed (ChaCha20-Poly1305):
she reads who sent it, never what. Over ``tls`` she sees TLS records: ciphertext only, the
secrets nowhere in it. Without the privilege eve says what she needs and the demo goes on
without her capture.
"""

from __future__ import annotations

from typing import Any

from netclock import Node
from netclock.adversary import LoopbackCapture, Packet, capture_unavailable
from netclock.errors import WireError
from netclock.wire.envelope import Data, Segment, decode

SECRETS = ("my PIN is 4321", "the vault code is 7-7-9", "meet at the old mill at noon")


async def alice(node: Node, to: str = "bob", eve: str = "eve") -> None:
    """Wait until eve listens, tell bob the secrets, wait for his thanks, tell eve we are done."""
    await node.receive()  # eve: "listening" (or that she cannot)
    for secret in SECRETS:
        await node.send(to, secret)
    for _ in SECRETS:
        await node.receive()
    await node.flush()
    await node.send(eve, "done")
    await node.flush()


async def bob(node: Node) -> None:
    """Thank alice for every secret."""
    for _ in SECRETS:
        msg = await node.receive()
        await node.send(msg.sender, f"thanks for {len(msg.payload)} characters")
    await node.flush()


async def eve(node: Node, watch: list[str]) -> None:
    """Capture the traffic of the ``watch``ed nodes on lo and print what can be read."""
    why = capture_unavailable()
    if why is not None:
        print(f"eve cannot eavesdrop here: {why}; the demo runs without the capture")
        await node.send("alice", "not listening")
        await node.receive()
        return
    ports = {node.link.peers[peer][1] for peer in watch}
    async with LoopbackCapture(ports) as capture:
        await node.send("alice", "listening")
        await node.receive()  # alice: done
    own = node.address[1]
    packets = [p for p in capture.packets if p.payload and own not in (p.src[1], p.dst[1])]
    print(f"eve captured {len(packets)} {node.link_kind} packets to or from alice and bob on lo")
    if node.link_kind == "tls":
        _ciphertext(packets)
    elif node.link_kind == "sealed":
        _sealed(packets)
    else:
        _clear(packets, node)


def _clear(packets: list[Packet], node: Node) -> None:
    names = {port: peer for peer, (_, port) in node.link.peers.items()}
    found = set()
    for packet in packets:
        try:
            envelope = decode(packet.payload)
        except WireError:
            continue
        messages: list[Any] = []
        if isinstance(envelope, Data):
            messages = [envelope.payload]
        elif isinstance(envelope, Segment):
            messages = [m.payload for m in envelope.messages]
        for payload in messages:
            if payload == "done":
                continue
            src, dst = names.get(packet.src[1], "?"), names.get(packet.dst[1], "?")
            print(f"  {src} -> {dst}: {payload!r}")
            found.update(s for s in SECRETS if s == payload)
    print(f"eve read {len(found)} of {len(SECRETS)} secrets in clear: UDP carries plaintext")


def _sealed(packets: list[Packet]) -> None:
    wire = b"".join(p.payload for p in packets)
    for packet in packets[:4]:
        data = packet.payload
        sender = data[2 : 2 + data[1]].decode(errors="replace")
        print(f"  {len(data):5} bytes, sealed by {sender!r}: {data[2 + data[1] :][:24].hex()}...")
    leaked = [s for s in SECRETS if s.encode() in wire]
    print(
        f"eve read {len(leaked)} of {len(SECRETS)} secrets in {len(wire)} captured bytes: "
        "sealed datagrams show the sender's id, never the message"
    )


def _ciphertext(packets: list[Packet]) -> None:
    wire = b"".join(p.payload for p in packets)
    for packet in packets[:4]:
        kind = {0x16: "handshake", 0x17: "application data", 0x14: "change cipher spec"}.get(
            packet.payload[0], "?"
        )
        head = packet.payload[:24].hex()
        print(f"  {len(packet.payload):5} bytes, TLS record type {kind}: {head}...")
    leaked = [s for s in SECRETS if s.encode() in wire]
    print(
        f"eve read {len(leaked)} of {len(SECRETS)} secrets in {len(wire)} captured bytes: "
        "TLS carries ciphertext only"
    )
