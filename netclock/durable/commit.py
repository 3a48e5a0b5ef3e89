"""Group commit: the asyncio side of machine-level durability.

Many callers append records and then wait for them to be on disk; one ``fsync``, run in a
thread so the event loop keeps going, covers every record appended before it started. While
it runs, new requests gather, and the next ``fsync`` covers them all: the number of fsyncs
follows the disk's speed, never the number of records.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from netclock.durable.log import Durability, RecordLog

_log = logging.getLogger(__name__)


class GroupCommit:
    """Makes a :class:`~netclock.durable.log.RecordLog`'s records durable at one level.

    At :attr:`Durability.PROCESS` a record is durable once appended, and nothing here waits.
    At :attr:`Durability.MACHINE`, :meth:`request` asks for an fsync covering a position and
    :meth:`durable` waits for one; ``on_durable(position)`` (optional) is called on the loop
    after each fsync with the highest position it covered, so a link can release every ack
    waiting for it in one pass, with no future per message.
    """

    def __init__(
        self,
        log: RecordLog,
        level: Durability = Durability.MACHINE,
        on_durable: Callable[[int], None] | None = None,
    ) -> None:
        self.log = log
        self.level = level
        self._on_durable = on_durable
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._wanted = 0
        """The highest position asked for."""
        self._task: asyncio.Task[None] | None = None
        self.records_synced = 0
        """Records covered by this committer's fsyncs (for messages-per-fsync figures)."""
        self.syncs = 0
        self.error: OSError | None = None
        """The fsync error that failed the waiters, if one did (later requests try again)."""

    def request(self, position: int) -> bool:
        """Ask for records up to ``position`` to become durable; True if they already are.

        When False, an fsync covering them is running or scheduled; ``on_durable`` or
        :meth:`durable` tell when it is done. Call on the event loop.
        """
        if self.level is Durability.PROCESS or not self.log.needs_sync(position):
            return True
        self._wanted = max(self._wanted, position)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return False

    async def durable(self, position: int) -> None:
        """Return once records up to ``position`` are durable at this committer's level."""
        if self.request(position):
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((position, waiter))
        await waiter

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        log = self.log
        log_path = log.path
        try:
            while self._wanted > log.synced:
                before = log.synced
                target, fd = log.sync_handle()
                try:
                    await loop.run_in_executor(None, os.fsync, fd)
                finally:
                    os.close(fd)
                log.mark_synced(target)
                self.syncs += 1
                self.records_synced += max(0, target - before)
                self._release(log.synced)
        except OSError as exc:
            self.error = exc
            _log.error("%s: fsync failed: %s", log_path, exc)
            self._fail(exc)
        except BaseException:
            self._fail(asyncio.CancelledError())
            raise
        finally:
            self._task = None

    def _fail(self, exc: BaseException) -> None:
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(exc)
        self._waiters.clear()

    def _release(self, synced: int) -> None:
        if self._on_durable is not None:
            self._on_durable(synced)
        if not self._waiters:
            return
        still = []
        for position, waiter in self._waiters:
            if position <= synced:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((position, waiter))
        self._waiters = still

    async def close(self) -> None:
        """Wait for a running fsync to end (its waiters are released)."""
        task = self._task
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
