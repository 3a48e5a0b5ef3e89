"""Periodic samples of a node's link and inbox, for the viewer's charts over time.

What the event log cannot show (retransmissions, the round-trip estimate and timeout of
each peer's session, the inbox depth) is read every ``period`` seconds by one loop timer
per node and recorded as a ``sample`` event (docs/eventlog.md): nothing is added to the
per-message path. A sample does not tick the clock and never reaches the GoVector log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from netclock.links.base import Link
from netclock.links.pump import SessionPump

__all__ = ["DEFAULT_SAMPLE_PERIOD", "Sampler", "link_sample"]

DEFAULT_SAMPLE_PERIOD = 0.1
"""Seconds between two samples of a node run by ``netclock run`` (a demo's run may last
under a second; ten lines a second per node cost nothing next to its messages)."""


def link_sample(link: Link) -> dict[str, list[Any]]:
    """``{peer: [sent, retransmitted, srtt, rto]}`` of a link with per-peer sessions.

    ``sent`` and ``retransmitted`` count datagrams since the session began; ``srtt`` (None
    before the first measurement) and ``rto`` are seconds. Links without sessions
    (fair-loss, stubborn) give ``{}``.
    """
    if not isinstance(link, SessionPump):
        return {}
    out: dict[str, list[Any]] = {}
    for peer, session in link.sessions.items():
        stats, rtt = session.stats, session.rtt
        srtt = None if rtt.srtt is None else round(rtt.srtt, 6)
        out[peer] = [stats["sent"], stats["retransmitted"], srtt, round(rtt.rto, 6)]
    return out


class Sampler:
    """Calls ``take`` every ``period`` seconds on the running loop until :meth:`close`.

    The first call is one period after :meth:`start`; ``close`` is idempotent and no call
    happens after it.
    """

    def __init__(self, period: float, take: Callable[[], None]) -> None:
        if not period > 0:
            raise ValueError(f"the sample period must be positive, not {period!r}")
        self.period = period
        self._take = take
        self._handle: asyncio.Handle | None = None
        self._due = 0.0
        """When the armed call is due (uvloop's handle for a past deadline has no ``when``)."""

    def start(self) -> None:
        """Arm the timer on the running loop."""
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self.period
        self._handle = loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        if self._handle is None:
            return
        self._take()
        loop = asyncio.get_running_loop()
        self._due += self.period
        if self._due <= loop.time():  # the process was away: skip what it missed, no burst
            self._due = loop.time() + self.period
        self._handle = loop.call_at(self._due, self._tick)

    def close(self) -> None:
        """Stop sampling."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
