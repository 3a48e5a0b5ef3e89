"""What first contact costs on the TLS link, beside the bare TLS 1.3 handshake it rests on.

Run: ``python benchmarks/tls_connect.py [--nodes 16] [--handshakes 200] [--runs 5]
[--key p256|ed25519] [--no-logs]``. CPU seconds (``time.process_time()``), medians of
``--runs``, all in one process, so the figures do not depend on how busy the other cores are:

* raw: one mutual TLS 1.3 handshake through memory BIOs with the link's own contexts
  (:func:`~netclock.links.tls.contexts.server_context` and ``client_context``: the cluster
  CA, client certificates required, strict X.509), both ends counted: the floor that no
  Python above OpenSSL can go under;
* netclock: ``--nodes`` TLS nodes on one event loop and real loopback sockets, each sends
  one message to every other and waits for its ``n - 1`` and for its acks; CPU per pair
  (both ends: TCP connect, handshake, node id check, hellos, the two messages and acks, with
  event logs, GoVector logs and data directories as ``netclock run`` gives a node, unless
  ``--no-logs``).

The ratio is netclock per pair / raw handshake. At ``n`` processes a cluster makes
``n(n-1)/2`` such pairs at first contact; on two cores that is the floor of
``netclock bench --scenario scale --scale-link tls --count 1`` (docs/tls.md, section 10).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

from netclock import Node
from netclock.links.tls import certs
from netclock.links.tls.contexts import client_context, peer_identity, server_context


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> None:
    """One handshake between ``server`` and ``client`` through memory BIOs, ids checked."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    s = server.wrap_bio(s_in, s_out, server_side=True)
    c = client.wrap_bio(c_in, c_out, server_side=False)
    done = {c: False, s: False}
    while not all(done.values()):
        for side, out, peer_in in ((c, c_out, s_in), (s, s_out, c_in)):
            if not done[side]:
                try:
                    side.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
            if out.pending:
                peer_in.write(out.read())
    peer_identity(s, expected="b")
    peer_identity(c, expected="a")


def raw_ms(cert_dir: Path, count: int) -> float:
    """CPU milliseconds of one handshake, both ends (after 10 unmeasured)."""
    server, client = server_context(cert_dir, "a"), client_context(cert_dir, "b")
    for _ in range(10):
        _handshake(server, client)
    began = time.process_time()
    for _ in range(count):
        _handshake(server, client)
    return 1000 * (time.process_time() - began) / count


async def _all_pairs(cert_dir: Path, ids: list[str], folder: Path, logs: bool) -> float:
    nodes = []
    for node_id in ids:
        files = {}
        if logs:
            files = {
                "event_log": folder / f"{node_id}.events.jsonl",
                "govector_log": folder / f"{node_id}.log",
                "data_dir": folder / "data" / node_id,
            }
        nodes.append(Node(node_id, link="tls", cert_dir=cert_dir, give_up_after=120, **files))
    for node in nodes:
        await node.start()
    for node in nodes:
        for other in nodes:
            if other is not node:
                node.add_peer(other.id, other.address)

    async def one(node: Node) -> None:
        for other in nodes:
            if other is not node:
                await node.send(other.id, b"x" * 16)
        for _ in range(len(nodes) - 1):
            await node.receive()
        await node.flush()

    began = time.process_time()
    await asyncio.wait_for(asyncio.gather(*(one(node) for node in nodes)), 120)
    cpu = time.process_time() - began
    for node in nodes:
        await node.close()
    return cpu


def netclock_ms(cert_dir: Path, n: int, logs: bool) -> float:
    """CPU milliseconds per pair of one all-to-all message exchange among ``n`` nodes."""
    ids = [f"p{i:02d}" for i in range(1, n + 1)]
    with tempfile.TemporaryDirectory(prefix="tls-connect-") as tmp:
        try:
            import uvloop

            cpu = uvloop.run(_all_pairs(cert_dir, ids, Path(tmp), logs))
        except ImportError:
            cpu = asyncio.run(_all_pairs(cert_dir, ids, Path(tmp), logs))
    return 1000 * cpu / (n * (n - 1) // 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=16)
    parser.add_argument("--handshakes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--key", choices=["p256", "ed25519"], default="p256")
    parser.add_argument("--no-logs", action="store_true")
    args = parser.parse_args()
    if args.nodes < 2 or args.handshakes < 1 or args.runs < 1:
        parser.error("--nodes must be at least 2, --handshakes and --runs at least 1")
    with tempfile.TemporaryDirectory(prefix="tls-connect-certs-") as tmp:
        cert_dir = Path(tmp)
        ids = ["a", "b"] + [f"p{i:02d}" for i in range(1, args.nodes + 1)]
        certs.init_cluster(cert_dir, ids, key_type=args.key)
        raw, ours = [], []
        for _ in range(args.runs):  # alternating, so a busy spell hits both sides
            raw.append(raw_ms(cert_dir, args.handshakes))
            ours.append(netclock_ms(cert_dir, args.nodes, not args.no_logs))
    r, o = statistics.median(raw), statistics.median(ours)
    print(f"{ssl.OPENSSL_VERSION}, {args.key} certificates, medians of {args.runs} runs (CPU)")
    print(f"raw mutual TLS 1.3 handshake, both ends   {r:6.2f} ms")
    logs = "without logs" if args.no_logs else "with logs"
    print(
        f"netclock first contact per pair, {args.nodes} nodes, {logs}   {o:6.2f} ms   "
        f"{o / r:.2f}x the raw handshake"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
