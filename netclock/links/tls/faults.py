"""The TLS link's faults: the node's :class:`FaultInjector` applied to streams, with timers.

A TCP stream cannot lose, duplicate or reorder, so of a :class:`FaultPlan` the TLS link
applies only partitions and the delay model, and the :class:`FaultInjector` decides both,
as it does for the UDP links (its module docstring says how a stream link uses it):

- **Cuts.** While :meth:`FaultInjector.cut_until` is not None for a peer (a partition in
  either direction, planned or live) its connection is aborted with a RST, the peer is
  refused after its handshake, and it is not dialed. One timer per peer fires just after
  each :meth:`FaultInjector.next_change` and tells the link when a cut starts (``cut``)
  or ends (``healed``). Live partitions go to :meth:`FaultInjector.partition` and
  :meth:`FaultInjector.heal`.
- **Delays.** Each write of frames to a peer waits
  ``delay_model(peer).sample(rng("delay", peer).random())`` seconds, order kept
  (:class:`DelayedWrites`); the writes are counted in the injector's stats.
- **Reconnect jitter** is drawn from ``rng("reconnect", peer)``.

Every number comes from the plan's seed, and every time from the injector's clock (the
wall clock, ``time.time()``, shared by the nodes of a cluster; converted to loop time for
the timers), so a run replays from its seed: the same delays frame by frame, the same cuts
and heals at the same times since the epoch, the same jitter draws attempt by attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from netclock.errors import UsageError
from netclock.faults.delay import DelayModel
from netclock.faults.injector import FaultInjector, FaultStats

__all__ = ["DelayedWrites", "FaultChange", "TlsFaults"]

log = logging.getLogger(__name__)

_FAULT_SLACK = 0.002
"""Partition timers fire this long after the moment they mark, never a hair before it."""

_PAST = 1e-6
"""A boundary is judged this long after its moment: past the rounding of ``epoch + t``
(about 2e-7 s on today's wall clock), so a cut ending at ``t`` is over at ``t``."""

_CHANGES_KEPT = 1000
"""How many cut/heal changes :attr:`TlsFaults.changes` remembers (the latest)."""


class DelayedWrites:
    """Writes of one connection held back by a delay model, each after its delay, in order."""

    __slots__ = ("_handle", "_loop", "_queue", "_write")

    def __init__(self, loop: asyncio.AbstractEventLoop, write: Callable[[bytes], None]) -> None:
        self._loop = loop
        self._write = write
        self._queue: deque[tuple[float, bytes]] = deque()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, data: bytes, delay: float, now: float) -> None:
        """Write ``data`` after ``delay`` seconds, never before earlier delayed writes."""
        due = now + delay
        queue = self._queue
        if queue and queue[-1][0] > due:
            due = queue[-1][0]
        queue.append((due, data))
        if self._handle is None:
            self._handle = self._loop.call_at(due, self._write_due)

    def _write_due(self) -> None:
        self._handle = None
        now = self._loop.time()
        queue = self._queue
        while queue and queue[0][0] <= now:
            self._write(queue.popleft()[1])
        if queue:
            self._handle = self._loop.call_at(queue[0][0], self._write_due)

    def cancel(self) -> None:
        """Drop what is held back (the connection is closing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._queue.clear()


class FaultChange(NamedTuple):
    """A cut starting (``cut``) or ending between this node and ``peer``.

    ``at`` is in seconds since the fault epoch: the plan's boundary for a planned
    change (so it replays exactly from the plan), the moment of the command for a live one.
    """

    at: float
    peer: str
    cut: bool


class TlsFaults:
    """Drives the TLS link's cuts, write delays and reconnect jitter from a :class:`FaultInjector`.

    ``cut(peer)`` is called when a cut of ``peer`` starts (abort its connections);
    ``healed(peer)`` when a timer or :meth:`heal` finds no cut any more (reconnect if
    needed). No callback comes before :meth:`start` or after :meth:`close`.
    """

    def __init__(
        self,
        injector: FaultInjector,
        *,
        cut: Callable[[str], None],
        healed: Callable[[str], None],
    ) -> None:
        self.injector = injector
        self._cut_peer = cut
        self._healed = healed
        self.changes: deque[FaultChange] = deque(maxlen=_CHANGES_KEPT)
        """The latest cuts and heals this link acted on, oldest first."""
        self._peers: list[str] = []
        self._cut: set[str] = set()
        """Peers cut off as of the last change this adapter acted on."""
        self._delays: dict[str, tuple[DelayModel, random.Random, FaultStats]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def add_peer(self, peer: str) -> None:
        """Apply the faults to the link with ``peer`` (called once per peer)."""
        self._peers.append(peer)
        injector = self.injector
        model = injector.delay_model(peer)
        if not model.is_zero:
            stats = injector.stats.setdefault(peer, FaultStats())
            self._delays[peer] = (model, injector.rng("delay", peer), stats)
        if self._loop is not None:
            self._begin(peer)

    def remove_peer(self, peer: str) -> None:
        """Stop applying faults to the link with ``peer``: its timers and state go."""
        if peer in self._peers:
            self._peers.remove(peer)
        self._delays.pop(peer, None)
        self._cut.discard(peer)
        timer = self._timers.pop(peer, None)
        if timer is not None:
            timer.cancel()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """The link runs: note who is cut off now and arm a timer per peer known so far."""
        self._loop = loop
        for peer in self._peers:
            self._begin(peer)

    def close(self) -> None:
        """Cancel every fault timer; no callback follows."""
        self._closed = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    # -- per write and per dial ---------------------------------------------------------------
    def delay(self, peer: str) -> float | None:
        """How long to hold back the next write to ``peer`` (None: no delay model), counted."""
        delay = self._delays.get(peer)
        if delay is None:
            return None
        model, rng, stats = delay
        if time.time() - self.injector.epoch >= model.stable_from:
            model = model.settled()  # a partially synchronous plan after its GST
        seconds = model.sample(rng.random())
        stats.sent += 1
        stats.delivered += 1
        if seconds > 0.0:
            stats.delayed += 1
        return seconds

    def jitter(self, peer: str) -> random.Random:
        """The generator of ``peer``'s reconnect jitter (seeded from the plan)."""
        return self.injector.rng("reconnect", peer)

    # -- partitions ------------------------------------------------------------------------------
    def partition(self, peer: str, seconds: float | None = None) -> None:
        """Cut ``peer`` off now, for ``seconds`` or (None) until :meth:`heal`."""
        if seconds is not None and not seconds > 0:
            raise UsageError(f"a partition lasts a positive number of seconds, not {seconds!r}")
        now = time.time()
        self.injector.partition(peer, None if seconds is None else now + seconds)
        if seconds is None:
            log.info("%s: partitioned from %s until healed", self.injector.local_id, peer)
        else:
            log.info("%s: partitioned from %s for %.3f s", self.injector.local_id, peer, seconds)
        self._change(peer, now)

    def heal(self, peer: str) -> None:
        """End a partition made by :meth:`partition` now (the plan's still hold).

        Healing a peer the link does not know does nothing.
        """
        self.injector.heal(peer)
        if peer in self._peers:
            self._change(peer, time.time())

    def partitioned(self, peer: str) -> bool:
        """True while a partition (live or planned, either direction) cuts ``peer``."""
        injector = self.injector
        return not injector.quiet and injector.cut_until(peer, time.time()) is not None

    # -- timers ----------------------------------------------------------------------------------
    def _begin(self, peer: str) -> None:
        """Start watching ``peer``: cut off now or not (no callback: no connection yet)."""
        now = time.time()
        if self.injector.cut_until(peer, now) is not None:
            self._cut.add(peer)
        self._arm(peer, now)

    def _change(self, peer: str, now: float) -> None:
        """Act on ``peer``'s cut as it is at ``now`` (a boundary or a command), then re-arm.

        Timers pass the boundary itself, not the moment they fire, so every boundary is
        acted on in the plan's order and at the plan's time however late the loop runs.
        """
        if self._loop is None or self._closed:
            return
        cut = self.injector.cut_until(peer, now + _PAST) is not None
        if cut != (peer in self._cut):
            self.changes.append(FaultChange(now - self.injector.epoch, peer, cut))
            if cut:
                self._cut.add(peer)
            else:
                self._cut.discard(peer)
        if cut:
            self._cut_peer(peer)
        else:
            self._healed(peer)
        self._arm(peer, now)

    def _arm(self, peer: str, after: float) -> None:
        """One timer for ``peer``, for the first start or end of a cut after ``after``."""
        handle = self._timers.pop(peer, None)
        if handle is not None:
            handle.cancel()
        at = self.injector.next_change(peer, after + _PAST)
        if at is not None:
            self._arm_at(peer, at)

    def _arm_at(self, peer: str, at: float) -> None:
        loop = self._loop
        if loop is None or self._closed:
            return
        when = loop.time() + (at - time.time()) + _FAULT_SLACK
        self._timers[peer] = loop.call_at(when, self._fire, peer, at)

    def _fire(self, peer: str, at: float) -> None:
        del self._timers[peer]
        if time.time() < at + _PAST:  # the wall clock lags the loop's: not there yet
            self._arm_at(peer, at)
        else:
            self._change(peer, at)
