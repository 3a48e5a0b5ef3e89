"""Failure detectors behind Nodes over real UDP (and TLS) sockets on loopback.

A node "crashes" here by closing: its heartbeats stop. Each test waits for the detector's
events (never a sleep) with a generous bound for a loaded machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from netclock import Node
from netclock.detectors.core import DetectorEvent, Leader, Restore, Suspect
from netclock.detectors.options import DetectorOptions
from netclock.errors import ConfigError, UsageError
from netclock.links.tls import certs
from netclock.links.udp import CONTROL_PREFIX

pytestmark = pytest.mark.timeout(30)

FAST = {"period": 0.05, "grace": 0.5}


async def next_of(events: AsyncIterator[DetectorEvent], kind: type, peer: str) -> Any:
    """The next event of ``kind`` about ``peer`` (a Leader's ``peer`` is the leader)."""
    async with asyncio.timeout(15):
        async for ev in events:
            if isinstance(ev, kind) and ev.peer == peer:
                return ev
    raise AssertionError("the detector closed first")


async def test_omega_moves_to_the_next_live_node_when_the_leader_stops(make_nodes) -> None:
    a, b, c = await make_nodes("a", "b", "c", detector=DetectorOptions("eventual_leader", **FAST))
    assert {a.leader, b.leader, c.leader} == {"a"}
    b_events, c_events = b.detector_events(), c.detector_events()
    await a.close()
    assert (await next_of(b_events, Leader, "b")).peer == "b"
    await next_of(c_events, Leader, "b")
    assert b.suspected == c.suspected == {"a"}
    assert b.leader == c.leader == "b"


async def test_messages_to_a_suspected_peer_come_back_as_failures(make_nodes) -> None:
    a, b = await make_nodes("a", "b", link="reliable", detector={"kind": "perfect", **FAST})
    events = a.detector_events()
    await b.close()
    sent = [await a.send("b", f"m{i}") for i in range(3)]
    suspect = await next_of(events, Suspect, "b")
    assert suspect.timeout == pytest.approx(2 * FAST["period"])
    await asyncio.wait_for(a.flush(), 10)
    assert [f.id for f in a.failures()] == sent
    later = await a.send("b", "after the suspicion")
    async with asyncio.timeout(10):  # given up on within a period of being sent
        while not (failures := a.failures()):
            await asyncio.wait_for(a.flush(), 10)
    assert [f.id for f in failures] == [later]


async def test_eventually_perfect_restores_after_a_partition_with_a_larger_timeout(
    make_nodes,
) -> None:
    a, _ = await make_nodes("a", "b", detector=DetectorOptions("eventually_perfect", **FAST))
    events = a.detector_events()
    a.partition("b")
    suspect = await next_of(events, Suspect, "b")
    a.heal("b")
    restore = await next_of(events, Restore, "b")
    assert restore.timeout == pytest.approx(2 * suspect.timeout)
    assert a.detector is not None
    assert a.detector.timeouts["b"] == restore.timeout
    assert a.suspected == frozenset()


async def test_heartbeats_do_not_tick_the_clock_nor_reach_the_inbox(make_nodes) -> None:
    a, b = await make_nodes(
        "a", "b", link="fairloss", detector={"kind": "eventually_perfect", **FAST}
    )
    events = a.detector_events()
    a.partition("b")
    await next_of(events, Suspect, "b")
    a.heal("b")
    await next_of(events, Restore, "b")  # heartbeats came through, and nothing else
    assert a.detector is not None
    assert a.detector.stats()["heartbeats_received"] > 0
    assert a.clock.get("a") == b.clock.get("b") == 0  # no event yet (no log: no init event)
    assert b.stats()["inbox"] == a.stats()["inbox"] == 0
    assert a.stats()["link"]["bad_datagrams"] == 0


async def test_garbage_and_forged_heartbeats_are_counted_and_dropped(make_nodes) -> None:
    a, b = await make_nodes("a", "b", detector=DetectorOptions("perfect", **FAST))
    events = a.detector_events()
    host, port = a.address
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.bind(("127.0.0.1", 0))
    forged = [
        b"\xc1",
        b"\xc1\xff\xff",
        b"\xc1" + b"x" * 2000,
        b"\xc1" + msgpack.packb([1, 2, 3]),
        b"\xc1" + msgpack.packb(["b", "a", 1, 1, "soon"]),
        b"\xc1" + msgpack.packb(["b", "a", 1, 1, time.time()]),  # b's name, wrong address
        b"\xc1" + msgpack.packb(["mallory", "a", 1, 1, time.time()]),
        b"\xc1" + msgpack.packb(["b", "z", 1, 1, time.time()]),
    ]
    for data in forged:
        attacker.sendto(data, (host, port))
    attacker.close()
    await b.close()  # the forged "b is alive" does not keep the real b from being suspected
    await next_of(events, Suspect, "b")  # long after the garbage queued on a's socket was read
    assert a.detector is not None
    stats = a.detector.stats()
    assert stats["bad_heartbeats"] == 5
    assert (stats["forged"], stats["unknown_peer"], stats["misaddressed"]) == (1, 1, 1)


async def test_tls_heartbeats_use_a_udp_socket_on_the_tls_port(tmp_path: Path) -> None:
    certs.init_cluster(tmp_path, ["a", "b"], cluster="lab")
    options = DetectorOptions("eventual_leader", **FAST)
    a = await Node("a", link="tls", cert_dir=tmp_path, detector=options).start()
    b = await Node("b", link="tls", cert_dir=tmp_path, detector=options).start()
    try:
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        events = b.detector_events()
        await a.send("b", "hello")
        assert (await b.receive(timeout=10)).payload == "hello"
        b.partition("a")  # cuts the heartbeat socket as well as the TLS connection
        await next_of(events, Leader, "b")
        b.heal("a")
        await next_of(events, Leader, "a")  # a's heartbeats arrive on the UDP socket again
        await a.close()
        await next_of(events, Leader, "b")
    finally:
        await a.close()
        await b.close()


def test_detector_mistakes_are_one_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"detector\.kind must be one of perfect"):
        Node("a", detector="omega")
    with pytest.raises(ConfigError, match=r"detector\.perod is not a known key"):
        Node("a", detector={"perod": 1})
    with pytest.raises(ConfigError, match=r"detector\.period must be positive"):
        Node("a", detector={"period": 0})


async def test_without_a_detector_the_node_says_so(make_nodes) -> None:
    (a,) = await make_nodes("a")
    assert a.suspected == frozenset()
    assert a.leader is None
    with pytest.raises(UsageError, match="no failure detector"):
        a.detector_events()


async def test_a_peer_known_by_host_name_is_not_taken_for_a_forger() -> None:
    options = DetectorOptions("eventually_perfect", **FAST)
    async with Node("a", detector=options) as a, Node("b", detector=options) as b:
        a.add_peer("b", f"localhost:{b.address[1]}")
        b.add_peer("a", a.address)
        events = a.detector_events()
        a.partition("b")
        await next_of(events, Suspect, "b")
        a.heal("b")
        await next_of(events, Restore, "b")
        assert a.detector is not None
        assert a.detector.stats()["forged"] == 0


async def restored(events: AsyncIterator[DetectorEvent], peer: str, within: float) -> bool:
    """True if a Restore of ``peer`` comes within ``within`` seconds."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            async for ev in events:
                if isinstance(ev, Restore) and ev.peer == peer:
                    return True
    return False


async def forge(target: tuple[str, int], incarnation: int, stop: asyncio.Event) -> int:
    """Send ``target`` a heartbeat "from b" every 10 ms from a socket of our own."""
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.bind(("127.0.0.1", 0))
        raw.setblocking(False)
        while not stop.is_set():
            beat = CONTROL_PREFIX + msgpack.packb(["b", "a", incarnation, sent + 1, time.time()])
            with contextlib.suppress(OSError):
                raw.sendto(beat, target)
                sent += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.01)  # pacing, not synchronisation
    return sent


@pytest.mark.parametrize("kind", ["fairloss", "reliable", "sealed", "tls"])
async def test_forged_heartbeats_do_not_keep_a_crashed_peer_alive(
    kind: str, tmp_path: Path
) -> None:
    """Heartbeats are source-filtered: ``b`` crash-stops while a forger on a socket of its
    own sends ``a`` a heartbeat "from b" every 10 ms. ``a`` still suspects ``b``, counts the
    forgeries (the detector's ``forged``; on ``sealed`` the link's ``bad_datagrams``: an
    unsealed datagram is refused before any heartbeat is read), never restores ``b`` while
    they go on (◇P would, for one heartbeat taken), and goes on hearing honest ``c``."""
    extra: dict[str, Any] = {}
    if kind in ("sealed", "tls"):
        certs.init_cluster(tmp_path, ["a", "b", "c"], cluster="lab")
        extra["cert_dir"] = tmp_path
    detector = DetectorOptions("eventually_perfect", **FAST)  # a heartbeat taken restores
    nodes = [Node(n, link=kind, detector=detector, close_timeout=0.5, **extra) for n in "abc"]  # type: ignore[arg-type]
    a, b, c = nodes
    for node in nodes:
        await node.start()
    stop = asyncio.Event()
    try:
        for node in nodes:
            for other in nodes:
                if other is not node:
                    node.add_peer(other.id, other.address)
        events = a.detector_events()
        await b.send("a", "b is here")
        assert (await a.receive(20)).payload == "b is here"
        forger = asyncio.ensure_future(forge(a.address, b.incarnation, stop))
        await b.close()
        await next_of(events, Suspect, "b")
        assert not await restored(events, "b", within=1.0), "20 periods of forgeries"
        stop.set()
        forged = await forger
        assert forged > 0
        assert "b" in a.suspected
        if "c" in a.suspected:  # a false suspicion on a loaded machine: c's heartbeats end it
            await next_of(events, Restore, "c")
        await c.send("a", "c is here")
        assert (await a.receive(20)).payload == "c is here"
        assert a.detector is not None
        link = a.stats()["link"]
        counted = link["bad_datagrams"] if kind == "sealed" else a.detector.stats()["forged"]
        assert counted > 0, f"{forged} forged heartbeats sent, none counted"
        assert a.detector.stats()["heartbeats_received"] > 0
    finally:
        stop.set()
        for node in nodes:
            await node.close()
