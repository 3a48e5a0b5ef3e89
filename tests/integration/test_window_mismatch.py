"""AL1/PL1 when the two ends have different inbox sizes (receive windows), on real sockets.

A receiver whose inbox is much smaller than the sender's must still get every message,
exactly once and in order: over ``tls`` (TCP retransmits, the session does not) and over
``reliable`` (UDP, the session retransmits).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
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
