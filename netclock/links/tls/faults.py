"""The TLS link's fault emulation, in one place: partitions, write delays, reconnect jitter.

A TCP stream cannot lose, duplicate or reorder, so of a :class:`FaultPlan` the TLS link
applies only partitions (a partition in either direction cuts the one bidirectional
connection: it is aborted with a RST and the peer is refused and not dialed while the
partition lasts) and the delay model (each write of frames waits, order kept). Live
partitions come from :meth:`TlsFaults.partition` and :meth:`TlsFaults.heal`. The link
learns of cuts and heals through two callbacks and asks :meth:`TlsFaults.partitioned` and
:meth:`TlsFaults.delay`; nothing else of the link depends on how faults are made.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable

from netclock.errors import UsageError
from netclock.faults.plan import DelayModel, FaultPlan

__all__ = ["DelayedWrites", "TlsFaults"]

log = logging.getLogger(__name__)

_FAULT_SLACK = 0.002
"""Partition timers fire this long after the moment they mark, never a hair before it."""


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


class TlsFaults:
    """Partitions (planned and live), per-peer write delays and the reconnect jitter's rng.

    ``cut(peer)`` is called when a partition starts cutting ``peer`` (abort its
    connections); ``healed(peer)`` when no partition cuts it any more (reconnect if needed).
    """

    def __init__(
        self,
        node_id: str,
        plan: FaultPlan | None,
        epoch: float | None,
        *,
        cut: Callable[[str], None],
        healed: Callable[[str], None],
    ) -> None:
        self.node_id = node_id
        self._plan = plan if plan is not None and not plan.is_quiet else None
        self._epoch = time.time() if epoch is None else epoch
        self._cut_peer = cut
        self._healed = healed
        self.jitter = random.Random()
        """Randomises reconnect delays."""
        self._cut_until: dict[str, float] = {}
        self._delays: dict[str, tuple[DelayModel, random.Random]] = {}
        self._peers: list[str] = []
        self._timers: list[asyncio.TimerHandle] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def add_peer(self, peer: str) -> None:
        """Apply the plan to the link with ``peer`` (called once per peer)."""
        self._peers.append(peer)
        plan = self._plan
        if plan is None:
            return
        override = plan.links.get((self.node_id, peer))
        model = override.delay if override is not None and override.delay else plan.delay
        if not model.is_zero:
            self._delays[peer] = (model, random.Random(f"{plan.seed}:{self.node_id}:{peer}"))
        if self._loop is not None:
            self._schedule_partitions(peer)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """The link runs: arm the plan's partition timers for the peers known so far."""
        self._loop = loop
        for peer in self._peers:
            self._schedule_partitions(peer)

    def close(self) -> None:
        """Cancel every fault timer; no callback follows."""
        self._closed = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    def delay(self, peer: str) -> float | None:
        """How long to hold back the next write to ``peer`` (None: no delay model)."""
        delay = self._delays.get(peer)
        if delay is None:
            return None
        model, rng = delay
        return model.sample(rng.random())

    # -- partitions ------------------------------------------------------------------------------
    def partition(self, peer: str, seconds: float | None = None) -> None:
        """Cut ``peer`` off now, for ``seconds`` or (None) until :meth:`heal`."""
        if seconds is not None and not seconds > 0:
            raise UsageError(f"a partition lasts a positive number of seconds, not {seconds!r}")
        loop = self._running()
        if seconds is None:
            self._cut_until[peer] = math.inf
            log.info("%s: partitioned from %s until healed", self.node_id, peer)
            self._cut(peer)
            return
        until = max(self._cut_until.get(peer, 0.0), loop.time() + seconds)
        self._cut_until[peer] = until
        log.info("%s: partitioned from %s for %.3f s", self.node_id, peer, seconds)
        self._cut(peer)
        if until != math.inf:
            self._timers.append(loop.call_at(until + _FAULT_SLACK, self._heal, peer))

    def heal(self, peer: str) -> None:
        """End a partition made by :meth:`partition` now (the plan's still hold)."""
        if self._cut_until.get(peer):
            self._cut_until[peer] = 0.0
            self._heal(peer)

    def partitioned(self, peer: str) -> bool:
        """True while a partition (live or planned, either direction) cuts ``peer``."""
        return self._cut_until_now(peer) is not None

    def _running(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            raise UsageError("the tls link is not started; call start() first")
        return loop

    def _cut_until_now(self, peer: str) -> float | None:
        """Loop time at which the partitions cutting ``peer`` now end (inf: never).

        None when no partition cuts it. A partition in either direction cuts the one
        bidirectional TCP connection.
        """
        loop = self._running()
        now = loop.time()
        until: float | None = None
        cut_until = self._cut_until.get(peer, 0.0)
        if cut_until:
            if now < cut_until:
                until = cut_until
            else:
                self._cut_until[peer] = 0.0
        plan = self._plan
        if plan is None or not plan.partitions:
            return until
        t = time.time() - self._epoch
        me = self.node_id
        for partition in plan.partitions:
            if (partition.blocks(me, peer) or partition.blocks(peer, me)) and partition.active(t):
                end = math.inf if partition.end is None else now + (partition.end - t)
                until = end if until is None else max(until, end)
        return until

    def _schedule_partitions(self, peer: str) -> None:
        """Arm timers just after the plan's partition starts (cut) and ends (reconnect)."""
        plan = self._plan
        if plan is None or not plan.partitions:
            return
        loop = self._running()
        t_now = time.time() - self._epoch
        offset = loop.time() - t_now + _FAULT_SLACK
        me = self.node_id
        for partition in plan.partitions:
            if not (partition.blocks(me, peer) or partition.blocks(peer, me)):
                continue
            if partition.start > t_now:
                self._timers.append(loop.call_at(offset + partition.start, self._cut, peer))
            if partition.end is not None and partition.end > t_now:
                self._timers.append(loop.call_at(offset + partition.end, self._heal, peer))

    def _cut(self, peer: str) -> None:
        if not self._closed and self.partitioned(peer):
            self._cut_peer(peer)

    def _heal(self, peer: str) -> None:
        if self._closed:
            return
        until = self._cut_until_now(peer)
        if until is None:
            self._healed(peer)
        elif until != math.inf:
            loop = self._running()
            self._timers.append(loop.call_at(until + _FAULT_SLACK, self._heal, peer))
