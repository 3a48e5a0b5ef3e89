"""Peers given by host name, resolved without blocking the event loop.

A link is given IP addresses (or ``localhost`` and wildcards, which need no lookup). A
host name goes through :class:`PeerResolver` first: with an event loop running it is
resolved by ``loop.getaddrinfo`` (in the loop's executor, so the loop never waits for a
name server) and the peer is added when the answer comes; with no loop running (a Node
built before ``asyncio.run``) it is resolved at once, since there is no loop to block. A
name that does not resolve is one :class:`~netclock.errors.ConfigError` sentence, raised
from ``Node.start`` or from a send to that peer, and logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable

from netclock.errors import ConfigError
from netclock.links.base import Address

__all__ = ["PeerResolver", "needs_lookup", "resolve_address", "resolve_now"]

log = logging.getLogger(__name__)

NO_LOOKUP = frozenset({"", "localhost"})
"""Hosts a link takes as they are (``localhost``'s addresses are known without a lookup)."""


def needs_lookup(host: str) -> bool:
    """True for a host name that only a name lookup turns into an address."""
    if host in NO_LOOKUP:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _unresolvable(address: Address, exc: BaseException) -> ConfigError:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return ConfigError(
        f"cannot resolve the host {address[0]!r:.80} (port {address[1]}): {reason:.120}; "
        "check the name, or give an IP address"
    )


def _first(address: Address, infos: list[tuple[object, ...]]) -> Address:
    if not infos:
        raise _unresolvable(address, OSError("no address"))
    sockaddr = infos[0][4]
    assert isinstance(sockaddr, tuple)
    return (str(sockaddr[0]), int(address[1]))


async def resolve_address(address: Address) -> Address:
    """``address`` with its host name resolved (the first answer), without blocking the
    loop; ConfigError when it does not resolve."""
    if not needs_lookup(address[0]):
        return address
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(address[0], address[1], type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(address, exc) from None
    return _first(address, list(infos))


def resolve_now(address: Address) -> Address:
    """:func:`resolve_address`, blocking: only where no event loop runs."""
    if not needs_lookup(address[0]):
        return address
    try:
        infos = socket.getaddrinfo(address[0], address[1], type=socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(address, exc) from None
    return _first(address, list(infos))


class PeerResolver:
    """Adds peers given by host name once their name is resolved (see the module docstring).

    ``add(peer, address)`` is called with the resolved address. :attr:`pending` holds the
    peers still being resolved; :meth:`error` the ConfigError of a peer whose name did not
    resolve (until it is added again).
    """

    def __init__(self, add: Callable[[str, Address], None]) -> None:
        self._add = add
        self.pending: dict[str, asyncio.Task[None]] = {}
        self._errors: dict[str, ConfigError] = {}

    def resolve(self, peer: str, address: Address) -> None:
        """Resolve ``address`` and add ``peer`` there (now, or when the answer comes)."""
        self._errors.pop(peer, None)
        earlier = self.pending.pop(peer, None)
        if earlier is not None:
            earlier.cancel()  # the latest address given wins
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._add(peer, resolve_now(address))
            return
        self.pending[peer] = loop.create_task(self._resolve(peer, address))

    async def _resolve(self, peer: str, address: Address) -> None:
        try:
            resolved = await resolve_address(address)
        except ConfigError as exc:
            self._errors[peer] = exc
            log.warning("peer %s: %s", peer, exc)
            return
        finally:
            if self.pending.get(peer) is asyncio.current_task():
                del self.pending[peer]
        self._add(peer, resolved)

    def error(self, peer: str) -> ConfigError | None:
        """Why ``peer``'s name did not resolve (None: it did, or it is not by name)."""
        return self._errors.get(peer)

    async def wait(self, peer: str) -> None:
        """Wait until ``peer`` is added; its ConfigError if its name does not resolve."""
        task = self.pending.get(peer)
        if task is not None:
            await asyncio.shield(task)
        error = self._errors.get(peer)
        if error is not None:
            raise error

    async def wait_all(self) -> None:
        """Wait for every pending name; the first ConfigError if one does not resolve."""
        for peer in list(self.pending):
            await self.wait(peer)
        for error in self._errors.values():
            raise error

    def close(self) -> None:
        """Stop resolving (the node closes)."""
        for task in self.pending.values():
            task.cancel()
        self.pending.clear()
