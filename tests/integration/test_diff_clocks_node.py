"""Compressed clocks (``clock_encoding="diff"``) between Nodes over real sockets on loopback.

Every delivery's clock must be exactly the clock the sender stamped, on the perfect link
under seeded loss, duplication and reordering, and on the TLS link; a node's GoVector log
(which writes the clocks it delivers) stays valid for ShiViz.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from netclock import FaultPlan, Node
from netclock.errors import ConfigError
from netclock.links.tls import certs
from netclock.observe.shiviz import merge_logs, parse_log, validate_shiviz

pytestmark = pytest.mark.timeout(60)

DIFF = {"clock_encoding": "diff"}
IDS = ("a", "b", "c", "d")


async def all_to_all(nodes: list[Node], rounds: int, burst: int) -> dict[Any, dict[str, int]]:
    """Every node sends ``burst`` messages to each other node per round, and takes in all
    of a round before the next, so clocks fill up; returns the stamped clock of each
    message by ``(sender, receiver, payload)``."""
    stamped: dict[Any, dict[str, int]] = {}
    got: dict[str, list[Any]] = {n.id: [] for n in nodes}
    per_round = burst * (len(nodes) - 1)
    for r in range(rounds):
        for node in nodes:
            for peer in sorted(node.peers):
                for i in range(burst):
                    payload = f"{node.id}>{peer}:{r}.{i}"
                    node.send_nowait(peer, payload)  # synchronous: node.clock is the stamp
                    stamped[(node.id, peer, payload)] = dict(node.clock)
        for node in nodes:
            for _ in range(per_round):
                msg = await node.receive(timeout=20)
                got[node.id].append((msg.sender, node.id, msg.payload, dict(msg.clock)))
    for node in nodes:
        for sender, receiver, payload, clock in got[node.id]:
            assert clock == stamped[(sender, receiver, payload)], (sender, receiver, payload)
    await asyncio.gather(*(node.flush() for node in nodes))
    return stamped


async def test_diff_clocks_are_rebuilt_exactly_under_loss_duplication_and_reordering(
    make_nodes: Any,
) -> None:
    plan = FaultPlan(seed=11, loss=0.15, duplicate=0.1, reorder=0.2)
    nodes = await make_nodes(*IDS, link="reliable", faults=plan, link_options=DIFF)
    stamped = await all_to_all(nodes, rounds=6, burst=3)
    assert len(stamped) == 6 * 3 * 12
    largest = max(len(clock) for clock in stamped.values())
    assert largest == len(IDS), "the clocks filled up: there was something to compress"


async def test_diff_clocks_on_the_tls_link(tmp_path: Path) -> None:
    cert_dir = tmp_path / "certs"
    certs.init_cluster(cert_dir, list(IDS[:3]), cluster="diff")
    async with (
        Node("a", link="tls", cert_dir=cert_dir, link_options=DIFF) as a,
        Node("b", link="tls", cert_dir=cert_dir, link_options=DIFF) as b,
        Node("c", link="tls", cert_dir=cert_dir, link_options=DIFF) as c,
    ):
        nodes = [a, b, c]
        for node in nodes:
            for other in nodes:
                if other is not node:
                    node.add_peer(other.id, other.address)
        await all_to_all(nodes, rounds=5, burst=4)


async def test_a_govector_log_of_diff_clocks_is_shiviz_valid(
    make_nodes: Any, tmp_path: Path
) -> None:
    nodes = await make_nodes(*IDS[:3], link="reliable", link_options=DIFF, log_dir=tmp_path)
    await all_to_all(nodes, rounds=4, burst=2)
    for node in nodes:
        await node.close()
    logs = [tmp_path / f"{node.id}.log" for node in nodes]
    assert merge_logs(logs, tmp_path / "merged.log") == []
    assert validate_shiviz(parse_log(tmp_path / "merged.log")) == []


async def test_diff_clocks_on_a_link_without_fifo_or_streams_are_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="FIFO"):
        Node("a", link="reliable", fifo=False, link_options=DIFF)
    with pytest.raises(ConfigError, match="not an option of the fairloss link"):
        Node("a", link="fairloss", link_options=DIFF)
    with pytest.raises(ConfigError, match="one of full, diff"):
        Node("a", link="reliable", link_options={"clock_encoding": "delta"})


async def test_a_large_message_between_compressed_ones_keeps_every_clock(make_nodes: Any) -> None:
    """Pieces of a large message carry whole clocks (the later ones empty); the message
    after it builds on the last piece's, and every clock arrives as stamped."""
    a, b = await make_nodes("a", "b", link="reliable", link_options=DIFF)
    payloads = ["small", b"L" * 200_000, "after", b"M" * 70_000, "last"]
    stamped = []
    for payload in payloads:
        a.send_nowait("b", payload)
        stamped.append(dict(a.clock))  # what the message carries
        await b.send("a", "tick")  # b's entry moves: a's next clock differs in two entries
        await a.receive(timeout=10)
    got = [await b.receive(timeout=10) for _ in payloads]
    assert [m.payload for m in got] == payloads
    assert [dict(m.clock) for m in got] == stamped
    assert all(len(clock) == 2 for clock in stamped[1:])
