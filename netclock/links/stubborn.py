"""Stubborn link: a fair-loss link that retransmits every message forever.

Textbook SL1 stubborn delivery (sent once, delivered infinitely often while both run)
and SL2 no creation. It is the "Retransmit Forever" algorithm, kept for teaching: every
``period`` seconds all remembered messages go out again, identical (same id, same
clock). Duplicates are delivered as they come; the perfect link removes them. To keep
memory bounded only the newest ``remember`` messages are retransmitted (the count of
forgotten ones is in the stats).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from netclock.clock import VectorClock
from netclock.errors import ConfigError
from netclock.links.fairloss import FairLossLink


class StubbornLink(FairLossLink):
    """Fair-loss plus one timer that resends everything every ``period`` seconds."""

    kind = "stubborn"

    def __init__(
        self, *args: Any, period: float = 0.2, remember: int = 10_000, **kwargs: Any
    ) -> None:
        if not period > 0:
            raise ConfigError(f"period must be a positive number of seconds, not {period!r}")
        if remember < 1:
            raise ConfigError(f"remember must be at least 1 message, not {remember!r}")
        super().__init__(*args, **kwargs)
        self.period = period
        self._sent: deque[tuple[str, int, bytes]] = deque(maxlen=remember)
        self._attempt = 0
        self._timer: asyncio.TimerHandle | None = None
        self.counters.update(retransmitted=0, forgotten=0)

    def send(self, peer: str, clock: VectorClock, payload: Any) -> int:
        seq, data = self.stamp(peer, clock, payload)
        self.transmit(peer, data, (seq,), 0)
        return seq

    def stamp(self, peer: str, clock: VectorClock, payload: Any) -> tuple[int, bytes]:
        """Stamp and encode the message (see FairLossLink), and keep it for retransmission."""
        seq, data = super().stamp(peer, clock, payload)
        if len(self._sent) == self._sent.maxlen:
            self.counters["forgotten"] += 1
        self._sent.append((peer, seq, data))
        if self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(self.period, self._retransmit_all)
        return seq, data

    def remove_peer(self, peer: str) -> None:
        """Forget ``peer`` and stop retransmitting to it."""
        super().remove_peer(peer)
        kept = [sent for sent in self._sent if sent[0] != peer]
        self._sent.clear()
        self._sent.extend(kept)

    def _retransmit_all(self) -> None:
        self._timer = None
        if self._closed or not self._sent:
            return
        if self._before_send is not None:
            self._before_send()  # a message sent in this iteration may not be logged yet
        self._attempt += 1
        for peer, seq, data in self._sent:
            self.counters["retransmitted"] += 1
            self.transmit(peer, data, (seq,), self._attempt)
        assert self._loop is not None
        self._timer = self._loop.call_later(self.period, self._retransmit_all)

    def on_close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
