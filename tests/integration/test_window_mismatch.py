"""AL1/PL1 when the two ends have different inbox sizes (receive windows), on real sockets.

A receiver whose inbox is much smaller than the sender's must still get every message,
exactly once and in order: over ``tls`` (TCP retransmits, the session does not) and over
``reliable`` (UDP, the session retransmits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from netclock import Node
from netclock.links.tls import certs

pytestmark = pytest.mark.timeout(30)

STEP = 5.0
"""Longest the receiver may wait for any single message before the test fails."""


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("window-mismatch") / "certs"
    certs.init_cluster(directory, ["a", "b"], cluster="lab")
    return directory


@contextlib.asynccontextmanager
async def pair(
    link: str, cert_dir: Path, sender_inbox: int, receiver_inbox: int
) -> AsyncIterator[tuple[Node, Node]]:
    """Started Nodes ``a`` (inbox ``sender_inbox``) and ``b`` that know each other."""
    options: dict[str, Any] = {"cert_dir": cert_dir} if link == "tls" else {}
    async with (
        Node("a", link=link, inbox_size=sender_inbox, close_timeout=2.0, **options) as a,
        Node("b", link=link, inbox_size=receiver_inbox, close_timeout=2.0, **options) as b,
    ):
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        yield a, b


@pytest.mark.parametrize(
    ("link", "sender_inbox", "receiver_inbox"),
    [
        ("tls", 1024, 8),
        ("tls", 1024, 1),
        ("tls", 8, 1024),
        ("reliable", 1024, 8),
        ("reliable", 1024, 1),
        ("reliable", 8, 1024),
    ],
)
async def test_al1_every_message_reaches_a_receiver_with_a_smaller_inbox(
    link: str, cert_dir: Path, sender_inbox: int, receiver_inbox: int
) -> None:
    count = 200
    async with pair(link, cert_dir, sender_inbox, receiver_inbox) as (a, b):
        for i in range(count):
            await a.send("b", i)
        got = []
        for i in range(count):
            try:
                got.append((await b.receive(STEP)).payload)
            except TimeoutError:
                pytest.fail(
                    f"{link}: receiver (inbox {receiver_inbox}) stalled after {i} of {count} "
                    f"messages from a sender with inbox {sender_inbox}; "
                    f"sender {a.stats()}, receiver {b.stats()}"
                )
        assert got == list(range(count))
        async with asyncio.timeout(STEP):
            await a.flush()


class Connected(logging.Handler):
    """Sets :attr:`up` once ``node`` logs that its TLS connection to ``peer`` is up."""

    def __init__(self, node: str, peer: str) -> None:
        super().__init__(logging.DEBUG)
        self.text = f"{node}: connected to {peer} "
        self.up = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.text):
            self.up.set()


@contextlib.contextmanager
def watching(handler: logging.Handler) -> Iterator[None]:
    logger = logging.getLogger("netclock.links.tls")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


async def test_al1_a_restarted_sender_gets_through_to_a_receiver_full_of_its_old_messages(
    cert_dir: Path,
) -> None:
    """b's inbox and receive window are full of a's previous incarnation when a restarts:
    a's new incarnation meets window 0 in b's hello, and still delivers everything once
    b's application catches up."""
    async with Node("b", link="tls", inbox_size=4, cert_dir=cert_dir, close_timeout=2.0) as b:
        async with Node("a", link="tls", incarnation=1, cert_dir=cert_dir, close_timeout=0.5) as a1:
            a1.add_peer("b", b.address)
            b.add_peer("a", a1.address)
            for i in range(8):  # 4 fill b's inbox, 4 more its receive window
                await a1.send("b", f"old{i}")
            async with asyncio.timeout(STEP):
                await a1.flush()  # b holds all 8: acknowledged, window 0
        connected = Connected("a", "b")
        with watching(connected):
            async with Node("a", link="tls", incarnation=2, cert_dir=cert_dir) as a2:
                a2.add_peer("b", b.address)
                b.add_peer("a", a2.address)
                for i in range(6):
                    await a2.send("b", f"new{i}")
                async with asyncio.timeout(STEP):
                    await connected.up.wait()  # b's hello (window 0) has arrived
                assert a2.stats()["link"]["sent"] == 0, "nothing beyond b's window"
                got = [(await b.receive(STEP)) for _ in range(14)]
                assert [(m.incarnation, m.payload) for m in got] == [
                    (1, f"old{i}") for i in range(8)
                ] + [(2, f"new{i}") for i in range(6)]
                async with asyncio.timeout(STEP):
                    await a2.flush()
                assert b.stats()["link"]["beyond_window"] == 0
