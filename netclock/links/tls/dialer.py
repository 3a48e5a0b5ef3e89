"""Dialing peers for the TLS link: one TCP connect at a time per peer, backoff between failures.

The dialer opens TCP and hands the socket to a :class:`TlsConnection`, which does TLS and
the HELLO on its own; the link tells the dialer how each dial ended (:meth:`Dialer.failed`,
:meth:`Dialer.release`, :meth:`Dialer.succeeded`). After a failure the next attempt waits
``first * 2**attempts`` seconds, capped, times a random factor in [0.5, 1) drawn from the
peer's own generator (the link's seeded ``rng("reconnect", peer)``, so the backoff replays
from the fault plan's seed). One task per dial, none per message.

One dial per pair: of two peers, the one with the smaller id dials; the other
(:meth:`Dialer.defer`) waits :data:`DIAL_WAIT` seconds for that connection, longer (up to
:data:`WAIT_EXTENSIONS` times more) while peers are still connecting to it (a connection it
accepted is in its handshake, or came up less than :data:`DIAL_WAIT` ago: when a whole
cluster connects at once on a busy machine, the awaited dial may simply not have started
yet), and dials itself only when none came (the other is down, or has nothing to send it). Both ends
dialing at once would make two connections of which one loses, and the messages written
on the loser are resent.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Protocol

from netclock.links.base import Address
from netclock.links.tls.transport import TlsConnection, describe_error

__all__ = ["DialOwner", "Dialer"]

log = logging.getLogger(__name__)

_WARN_AFTER = 5
"""Failed attempts in a row before one warning line (the others are debug lines)."""
DIAL_WAIT = 0.5
"""Seconds the larger id of a pair waits for the smaller one's dial before it dials."""
WAIT_EXTENSIONS = 8
"""Most times the wait is extended by :data:`DIAL_WAIT` while accepted handshakes run."""


def dials_first(node_id: str, peer: str) -> bool:
    """True when ``node_id`` is the one of the pair that dials at once (the smaller id)."""
    return node_id < peer


class DialOwner(Protocol):
    """What the dialer reports to the link."""

    def dial_failed(self, peer: str, conn: TlsConnection, reason: str) -> None:
        """TCP connect to ``peer`` failed or timed out; ``conn`` never opened."""

    def redial(self, peer: str) -> None:
        """The backoff after a failure is over: dial ``peer`` again if it is still needed."""

    def accepting(self) -> bool:
        """True while peers are still connecting to the owner: a connection it accepted is
        in its handshake (its peer is not known yet: it may be the one waited for), or one
        came up less than :data:`DIAL_WAIT` seconds ago."""


class _Attempts:
    __slots__ = ("conn", "extensions", "failures", "retry", "waited", "warned")

    def __init__(self) -> None:
        self.conn: TlsConnection | None = None
        """Our dial in progress (until the link keeps it or it fails)."""
        self.failures = 0
        self.warned = False
        self.retry: asyncio.TimerHandle | None = None
        self.waited = False
        """The wait for the peer's own dial is over (:meth:`Dialer.defer`): dial."""
        self.extensions = 0


class Dialer:
    """Dials peers for one link; counts ``dials`` and ``dial_failures`` in ``counters``.

    ``jitter(peer)`` gives the generator of ``peer``'s backoff factors (the same object on
    every call).
    """

    def __init__(
        self,
        node_id: str,
        owner: DialOwner,
        counters: dict[str, int],
        *,
        connect_timeout: float,
        backoff: tuple[float, float],
        jitter: Callable[[str], random.Random],
        dial_wait: float = DIAL_WAIT,
    ) -> None:
        self.node_id = node_id
        self._owner = owner
        self._counters = counters
        self._connect_timeout = connect_timeout
        self._backoff = backoff
        self._jitter = jitter
        self.dial_wait = dial_wait
        self._peers: dict[str, _Attempts] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def _of(self, peer: str) -> _Attempts:
        attempts = self._peers.get(peer)
        if attempts is None:
            attempts = self._peers[peer] = _Attempts()
        return attempts

    def dialing(self, peer: str) -> TlsConnection | None:
        """Our dial to ``peer`` in progress, if any."""
        attempts = self._peers.get(peer)
        return attempts.conn if attempts is not None else None

    def idle(self, peer: str) -> bool:
        """True when no dial to ``peer`` runs and none waits for its backoff."""
        attempts = self._peers.get(peer)
        return attempts is None or (attempts.conn is None and attempts.retry is None)

    def defer(self, peer: str, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether to leave the dial to ``peer`` (the smaller id) for now: True the first
        time (the owner is asked to ``redial`` after :data:`DIAL_WAIT` seconds), False once
        that wait is over and until the pair is connected again, and always for the smaller
        id of the pair."""
        if dials_first(self.node_id, peer):
            return False
        attempts = self._of(peer)
        if attempts.waited or self._closed:
            return False
        if attempts.retry is None:
            attempts.retry = loop.call_later(self.dial_wait, self._wait_over, peer)
        return True

    def _wait_over(self, peer: str) -> None:
        attempts = self._peers[peer]
        attempts.retry = None
        if not self._closed and attempts.extensions < WAIT_EXTENSIONS and self._owner.accepting():
            attempts.extensions += 1
            loop = asyncio.get_running_loop()
            attempts.retry = loop.call_later(self.dial_wait, self._wait_over, peer)
            return
        attempts.waited = True
        if not self._closed:
            self._owner.redial(peer)

    def dial(self, peer: str, address: Address, conn: TlsConnection) -> None:
        """Open TCP to ``peer`` at ``address`` for ``conn`` (in a task of its own)."""
        self._of(peer).conn = conn
        self._counters["dials"] += 1
        task = conn.loop.create_task(self._dial(peer, address, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dial(self, peer: str, address: Address, conn: TlsConnection) -> None:
        host, port = address
        try:
            async with asyncio.timeout(self._connect_timeout):
                await conn.loop.create_connection(lambda: conn, host, port)
        except asyncio.CancelledError:
            conn.forget()
            raise
        except Exception as exc:  # refused, unreachable, timed out: retry later
            conn.forget()
            self._owner.dial_failed(peer, conn, describe_error(exc))

    def release(self, peer: str, conn: TlsConnection) -> None:
        """``conn`` came up (kept or not): it is no longer a dial in progress."""
        attempts = self._peers.get(peer)
        if attempts is not None and attempts.conn is conn:
            attempts.conn = None

    def succeeded(self, peer: str) -> None:
        """``peer`` is connected: the next failure starts the backoff afresh."""
        attempts = self._of(peer)
        attempts.failures = 0
        attempts.warned = False
        attempts.waited = False
        attempts.extensions = 0
        if attempts.retry is not None:
            attempts.retry.cancel()
            attempts.retry = None

    def failed(self, peer: str, conn: TlsConnection, reason: str, address: Address) -> bool:
        """Our dial ``conn`` to ``peer`` ended before it came up. False: not our dial."""
        attempts = self._peers.get(peer)
        if attempts is None or attempts.conn is not conn:
            return False
        attempts.conn = None
        if self._closed:
            return True
        self._counters["dial_failures"] += 1
        attempts.failures += 1
        if attempts.failures >= _WARN_AFTER and not attempts.warned:
            attempts.warned = True
            log.warning(
                "%s: cannot connect to %s at %s:%d (%d attempts): %s; still trying",
                self.node_id,
                peer,
                address[0],
                address[1],
                attempts.failures,
                reason,
            )
        else:
            log.debug("%s: dial to %s failed: %s", self.node_id, peer, reason)
        return True

    def backoff(self, peer: str, loop: asyncio.AbstractEventLoop) -> None:
        """Let the owner redial ``peer`` after the backoff delay (unless already waiting)."""
        attempts = self._of(peer)
        if attempts.retry is not None or self._closed:
            return
        first, cap = self._backoff
        delay = min(cap, first * 2 ** min(attempts.failures, 30))
        delay *= 0.5 + 0.5 * self._jitter(peer).random()
        attempts.retry = loop.call_later(delay, self._retry, peer)

    def forget(self, peer: str) -> None:
        """Stop dialing ``peer``: cancel its backoff and abort a dial in progress."""
        attempts = self._peers.pop(peer, None)
        if attempts is None:
            return
        if attempts.retry is not None:
            attempts.retry.cancel()
        if attempts.conn is not None:
            attempts.conn.abort()

    def _retry(self, peer: str) -> None:
        attempts = self._peers.get(peer)
        if attempts is None:
            return
        attempts.retry = None
        if not self._closed:
            self._owner.redial(peer)

    async def close(self) -> None:
        """Cancel every backoff and dial in progress; no report follows."""
        self._closed = True
        for attempts in self._peers.values():
            if attempts.retry is not None:
                attempts.retry.cancel()
                attempts.retry = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
