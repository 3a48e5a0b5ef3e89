"""The perfect link's fault fates: the same seed gives the same fates in every process.

The perfect link keys a datagram's fate by the CRC-32 of its bytes, with the link's count
of datagrams as the attempt (netclock/reliable.py). A key that depends on the process
(``hash()`` of bytes, say) would replay differently in every run of a cluster.

A node sends to a bare UDP socket that never answers, so nothing it sends depends on
timing: its first pump sends seqs 1..N, one per datagram, as datagrams 1..N; timeouts
resend only seq 1 (and, after the give-up, a bare segment). So the seqs 2..N that reach the
socket are exactly the first transmissions the plan kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib

import pytest

from netclock import FaultPlan, VectorClock
from netclock.wire.envelope import encode_segment, message_wire

pytestmark = pytest.mark.timeout(30)

SEED = 20240607
COUNT = 40
PAYLOAD = "x" * 48
"""Big enough that each message needs a datagram of its own at ``max_datagram=64``."""

CHILD = f"""
import asyncio, json, socket
from netclock import FaultPlan, Node
from netclock.wire.envelope import decode

async def main():
    plan = FaultPlan(seed={SEED}, loss=0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hole:
        hole.bind(("127.0.0.1", 0))
        hole.settimeout(5.0)
        options = {{"max_datagram": 64}}
        async with Node("a", incarnation=1, faults=plan, give_up_after=0.2,
                        link_options=options) as a:
            a.add_peer("b", hole.getsockname())
            for i in range({COUNT}):
                a.send_nowait("b", {PAYLOAD!r})
            await a.flush()  # returns once everything is given up
            handed_to_socket = a.stats()["link"]["faults"]["b"]["delivered"]
        first = {{}}
        for _ in range(handed_to_socket):
            data = hole.recv(65536)
            seqs = [m.seq for m in decode(data).messages]
            if seqs and seqs[0] != 1:
                first[seqs[0]] = data.hex()
    print(json.dumps(first))

asyncio.run(main())
"""


def _documented_datagram(seq: int) -> bytes:
    """Seq ``seq`` alone in a segment of a (incarnation 1) to b: base 1, no ack yet."""
    return encode_segment(
        "a", 1, "b", 1, None, [message_wire(seq, VectorClock({"a": seq}), PAYLOAD)]
    )


def _kept_by_the_documented_rule() -> dict[int, str]:
    """Seqs 2..COUNT the plan keeps: key ``(crc32(datagram),)``, attempt = datagram count."""
    plan = FaultPlan(seed=SEED, loss=0.5)
    kept = {}
    for seq in range(2, COUNT + 1):
        datagram = _documented_datagram(seq)
        if not plan.fate("a", "b", (zlib.crc32(datagram),), seq, 0.0).drop:
            kept[seq] = datagram.hex()
    return kept


def test_pl_fates_are_the_same_in_processes_with_different_hash_seeds() -> None:
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        for hash_seed in ("1", "2")
    ]
    results = []
    for child in children:
        out, err = child.communicate(timeout=20)
        assert child.returncode == 0, f"seed={SEED}: child failed:\n{err}"
        results.append({int(seq): data for seq, data in json.loads(out).items()})
    first, second = results
    assert sorted(first) == sorted(second), f"seed={SEED}: another process, other fates"
    assert first == second, f"seed={SEED}"
    expected = _kept_by_the_documented_rule()
    assert 0 < len(expected) < COUNT - 1, f"seed={SEED}: the plan must keep some, drop some"
    assert first == expected, (
        f"seed={SEED}: kept {sorted(first)}, the documented rule keeps {sorted(expected)}"
    )
