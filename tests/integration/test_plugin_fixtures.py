"""The plugin's in-process fixtures and the assertion helpers, over real sockets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from netclock import FaultPlan, Node
from netclock.testing import (
    Event,
    TestCA,
    assert_causal_order,
    assert_exactly_once,
    assert_fifo,
    assert_happened_before,
    find_event,
)

pytestmark = pytest.mark.timeout(30)

MakeNodes = Callable[..., Awaitable[list[Node]]]


async def exchange(a: Node, b: Node, count: int) -> None:
    """a sends ``count`` numbers to b, b echoes each back; both logged as local events."""
    a.log_local_event("a starts")
    for i in range(count):
        await a.send("b", i)
    for _ in range(count):
        msg = await b.receive(timeout=10)
        await b.send("a", msg.payload)
    b.log_local_event("b echoed all")
    for _ in range(count):
        await a.receive(timeout=10)
    a.log_local_event("a got all back")
    await a.flush()
    await b.flush()


def at_b(e: Event) -> bool:
    """Deliveries at b."""
    return e.ev == "deliver" and e.node == "b"


async def test_netclock_nodes_are_connected_on_ephemeral_ports(netclock_nodes: MakeNodes) -> None:
    a, b, c = await netclock_nodes("a", "b", "c")
    assert {a.address[1], b.address[1], c.address[1]}.isdisjoint({0})
    assert sorted(a.peers) == ["b", "c"]
    await c.send("a", "hello")
    assert (await a.receive(timeout=10)).payload == "hello"


async def test_a_clean_run_passes_every_assertion(
    netclock_nodes: MakeNodes, tmp_path: Path
) -> None:
    a, b = await netclock_nodes("a", "b", log_dir=tmp_path)
    await exchange(a, b, 20)
    await a.close()
    await b.close()
    report = assert_exactly_once(tmp_path)
    assert report.pair("a", "b").delivered == 20
    assert_fifo(tmp_path)
    assert_causal_order(tmp_path)
    first, last = assert_happened_before(tmp_path, "a starts", "a got all back")
    assert first.node == last.node == "a"
    assert_happened_before(tmp_path, "a starts", "b echoed all")
    with pytest.raises(AssertionError, match="an event matching at_b: 20 events"):
        find_event(tmp_path, at_b)
    first_at_b = find_event(tmp_path, lambda e: at_b(e) and e.mid is not None and e.mid[2] == 1)
    assert_happened_before(tmp_path, "a starts", lambda e: e == first_at_b)


async def test_happened_before_says_when_the_order_is_the_other_way_or_none(
    netclock_nodes: MakeNodes, tmp_path: Path
) -> None:
    a, b = await netclock_nodes("a", "b", log_dir=tmp_path)
    a.log_local_event("a alone")
    b.log_local_event("b alone")
    await exchange(a, b, 1)
    await a.close()
    await b.close()
    with pytest.raises(AssertionError, match="the second happened before the first"):
        assert_happened_before(tmp_path, "b echoed all", "a starts")
    with pytest.raises(AssertionError, match=f"they are concurrent; run folder {tmp_path}"):
        assert_happened_before(tmp_path, "a alone", "b alone")
    with pytest.raises(AssertionError, match="local event 'nobody': no event"):
        assert_happened_before(tmp_path, "nobody", "a alone")


async def test_exactly_once_names_the_duplicates_of_a_duplicating_link(
    netclock_nodes: MakeNodes, tmp_path: Path, netclock_faults: Callable[..., FaultPlan]
) -> None:
    a, b = await netclock_nodes(
        "a", "b", link="fairloss", faults=netclock_faults(duplicate=1.0), log_dir=tmp_path
    )
    for i in range(5):
        await a.send("b", i)
    for _ in range(10):
        await b.receive(timeout=10)
    await a.close()
    await b.close()
    with pytest.raises(AssertionError) as failure:
        assert_exactly_once(tmp_path)
    text = str(failure.value)
    assert "no_duplication: 5 extra deliveries of a message" in text
    assert "b.events.jsonl:" in text
    assert "delivered again" in text
    assert f"run folder {tmp_path}" in text
    assert_fifo(tmp_path)  # a duplicate is not an out-of-order delivery


def test_netclock_faults_carry_the_tests_seed(
    netclock_seed: int, netclock_faults: Callable[..., FaultPlan]
) -> None:
    plan = netclock_faults(loss=0.5)
    assert plan == FaultPlan(seed=netclock_seed, loss=0.5)


async def test_the_session_ca_certifies_tls_nodes(
    netclock_ca: TestCA, netclock_nodes: MakeNodes
) -> None:
    cert_dir = netclock_ca.issue("a", "b")
    assert netclock_ca.issue("a") == cert_dir  # issuing again keeps the certificate
    a, b = await netclock_nodes("a", "b", link="tls", cert_dir=cert_dir)
    await a.send("b", b"over mutual TLS")
    assert (await b.receive(timeout=10)).payload == b"over mutual TLS"
