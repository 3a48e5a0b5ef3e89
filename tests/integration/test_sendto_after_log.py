"""Every datagram that carries a clock leaves after the send event that stamped it is written.

The socket is wrapped so each ``sendto`` reads the sender's logs at that moment: the
highest own clock entry any message in the datagram carries must already be in both files.
(The system test kills a sender with SIGKILL; this one checks the order itself.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from netclock import Node
from netclock.observe.eventlog import iter_events
from netclock.observe.shiviz import iter_log
from netclock.wire.envelope import Data, Decoder, Segment

pytestmark = pytest.mark.timeout(30)


class _Watched:
    """A datagram transport that checks the sender's logs before each datagram leaves.

    It reads both logs as any reader would at that moment (text and pending records) and
    keeps the highest own entry each holds.
    """

    def __init__(self, transport: Any, logs: Path) -> None:
        self._transport = transport
        self._decode = Decoder().decode
        self._logs = logs
        self.logged = [0, 0]
        """The highest own entry in the event log and in the GoVector log."""
        self.checked = 0
        self.late: list[str] = []
        """A line for each datagram that left before the sends it carries were logged."""

    def _read(self) -> None:
        events = iter_events(self._logs / "a.events.jsonl", [])
        self.logged[0] = max((e.clock.get("a", 0) for e in events), default=0)
        govector = iter_log(self._logs / "a.log")
        self.logged[1] = max((e.clock.get("a") for e in govector), default=0)

    def sendto(self, data: bytes, address: Any) -> None:
        envelope = self._decode(data)
        if type(envelope) is Data:
            clocks = [envelope.clock]
        elif type(envelope) is Segment:
            clocks = [m.clock for m in envelope.messages]
        else:  # an incarnation challenge or its answer: no clock
            clocks = []
        if clocks:
            carried = max(c.get("a") for c in clocks)
            if min(self.logged) < carried:  # what was read before may not hold it yet
                self._read()
            if min(self.logged) < carried:
                self.late.append(f"a:{carried} left, the logs hold a:{self.logged}")
            self.checked += 1
        self._transport.sendto(data, address)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


@pytest.mark.parametrize("link", ["fairloss", "stubborn", "reliable"])
async def test_a_datagram_leaves_only_after_the_sends_it_carries_are_logged(
    tmp_path: Path, link: str
) -> None:
    a = Node("a", link=link, govector_log=tmp_path / "a.log", event_log=tmp_path / "a.events.jsonl")
    async with a, Node("b", link=link) as b:
        a.add_peer("b", b.address)
        b.add_peer("a", a.address)
        watched = _Watched(a.link._transport, tmp_path)  # type: ignore[attr-defined]
        a.link._transport = watched  # type: ignore[attr-defined]
        for round_ in range(20):  # rounds of 1, 6, 11 ... sends, one loop iteration each
            for i in range(round_ * 5 + 1):
                await a.send("b", i)
            await asyncio.sleep(0)
        async with asyncio.timeout(10):
            while b.delivered < (1 if link == "fairloss" else 20 * 5 * 19 // 2 + 20):
                await b.receive()
    watched.close()
    assert watched.checked > 0
    assert not watched.late, watched.late[:5]
