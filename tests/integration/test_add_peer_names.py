"""Peers given by host name: resolved without blocking the event loop, on real sockets.

The name service is replaced by a stand-in (``socket.getaddrinfo``, which the loop's
``getaddrinfo`` runs in its executor) that takes 1.5 s to answer for ``b.test`` and knows
that ``nosuch.test`` does not exist: the loop keeps running meanwhile (no gap anywhere
near the lookup's time), the lookup happens off the loop's thread, a send to the peer
waits for the answer and arrives exactly once; a name that does not resolve is one
ConfigError sentence.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from netclock import Node
from netclock.errors import ConfigError

pytestmark = pytest.mark.timeout(30)

LOOKUP = 1.5
"""Seconds the stand-in name service takes to answer for ``b.test``."""


class NameService:
    """``socket.getaddrinfo`` for ``b.test`` (slow) and ``nosuch.test`` (unknown)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.port = 0
        self.threads: list[threading.Thread] = []

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("b.test", "nosuch.test"):
            return self.real(host, port, *args, **kwargs)
        self.threads.append(threading.current_thread())
        if host == "nosuch.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        threading.Event().wait(LOOKUP)  # a slow name server, blocking whoever calls it
        return [(socket.AF_INET, socket.SOCK_DGRAM, 17, "", ("127.0.0.1", int(port)))]


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> NameService:
    service = NameService(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", service)
    return service


async def largest_gap(stop: asyncio.Event) -> float:
    """The longest the loop went without running this task (a 10 ms ticker)."""
    loop = asyncio.get_running_loop()
    gap = 0.0
    last = loop.time()
    while not stop.is_set():
        await asyncio.sleep(0.01)
        now = loop.time()
        gap = max(gap, now - last)
        last = now
    return gap


@pytest.mark.parametrize("kind", ["reliable", "fairloss"])
async def test_a_peer_by_name_is_resolved_off_the_loop(kind: str, names: NameService) -> None:
    async with Node("a", link=kind) as a, Node("b", link=kind) as b:
        stop = asyncio.Event()
        ticker = asyncio.ensure_future(largest_gap(stop))
        await asyncio.sleep(0.05)  # the ticker is running
        a.add_peer("b", f"b.test:{b.address[1]}")
        b.add_peer("a", a.address)
        assert "b" not in a.peers, "added when the answer comes"
        sent = await a.send("b", "hello by name")  # waits for the name, then sends
        got = await b.receive(10)
        assert (got.id, got.payload) == (sent, "hello by name")
        stop.set()
        gap = await ticker
        assert names.threads, "the name was looked up"
        assert all(t is not threading.main_thread() for t in names.threads)
        assert gap < LOOKUP * 0.6, f"the loop stood still for {gap:.3f} s"
        assert a.peers == ["b"]
        assert a.link.peers["b"] == ("127.0.0.1", b.address[1])
        await b.send("a", "and back")
        assert (await a.receive(10)).payload == "and back"


async def test_a_name_that_does_not_resolve_is_one_clear_error(names: NameService) -> None:
    async with Node("a") as a:
        a.add_peer("b", "nosuch.test:9000")
        with pytest.raises(
            ConfigError, match=r"cannot resolve the host 'nosuch\.test'.*give an IP"
        ):
            await a.send("b", "anyone?")
        with pytest.raises(ConfigError, match=r"nosuch\.test"):
            a.send_nowait("b", "anyone?")
        assert a.peers == []
    node = Node("c", peers={"b": "nosuch.test:9000"})
    with pytest.raises(ConfigError, match=r"Name or service not known"):
        await node.start()
    await node.close()


def test_without_a_running_loop_a_name_is_resolved_at_once(names: NameService) -> None:
    node = Node("a", peers={"b": "b.test:9000"})
    assert node.link.peers["b"] == ("127.0.0.1", 9000)
    assert names.threads == [threading.main_thread()], "no loop to block"
