"""Byte budgets of the reliable links: what a node holds for its peers, counted in bytes.

Sans-IO (no asyncio, no sockets). Message counts alone do not bound memory: a window of
1,024 messages of 60 kB is 60 MB per peer. Each reliable link therefore also bounds

* ``send_bytes``: the packed messages held for one peer (sent or queued, not yet
  acknowledged or given up), and ``send_bytes_total``: the same summed over every peer of
  the link (a :class:`SendPool` the sessions share). A send is accepted while both are below
  their budget, so neither is exceeded by more than one message; otherwise ``Node.send``
  waits and ``send_nowait`` raises :class:`~netclock.errors.SendBudgetFull`.
* ``receive_bytes``: the messages one peer's session holds for delivery and above a gap,
  estimated by :func:`message_bytes`. A message beyond it is dropped and counted (the
  sender resends it later), and a full budget advertises a zero window.
* ``inbox_bytes`` (a Node keyword): the deliveries waiting in a Node's inbox; when full
  the link stops handing messages over, its session fills, and the sender waits.

Defaults are :data:`DEFAULT_SEND_BYTES` and friends; docs/security.md ("Memory") says what
happens at each limit.
"""

from __future__ import annotations

from typing import Any

import msgpack

from netclock.clock import VectorClock
from netclock.errors import ConfigError
from netclock.wire.envelope import Fragment, Message

__all__ = [
    "DEFAULT_INBOX_BYTES",
    "DEFAULT_RECEIVE_BYTES",
    "DEFAULT_SEND_BYTES",
    "DEFAULT_SEND_BYTES_TOTAL",
    "MIN_BUDGET",
    "SendPool",
    "check_budget",
    "fragment_size",
    "message_bytes",
    "message_size",
    "packed_message_size",
    "payload_bytes",
]

MIB = 1 << 20
DEFAULT_SEND_BYTES = 8 * MIB
"""Bytes of messages held for one peer until acknowledged (``send_bytes``)."""
DEFAULT_SEND_BYTES_TOTAL = 64 * MIB
"""Bytes of messages held for all peers of a link together (``send_bytes_total``)."""
DEFAULT_RECEIVE_BYTES = 8 * MIB
"""Bytes of one peer's messages a session holds for delivery or above a gap (``receive_bytes``)."""
DEFAULT_INBOX_BYTES = 64 * MIB
"""Bytes of deliveries a Node's inbox holds (``inbox_bytes``)."""
MIN_BUDGET = 64 * 1024
"""Smallest budget: one datagram's worth (a smaller one could never take a full message)."""
MAX_BUDGET = 1 << 40
_OVERHEAD = 16
"""Bytes counted for each value on top of its contents (a message, an item of a list)."""


def check_budget(name: str, value: int) -> int:
    """``value`` if it can be the byte budget ``name``, else one ConfigError sentence."""
    if type(value) is not int or not MIN_BUDGET <= value <= MAX_BUDGET:
        raise ConfigError(
            f"{name} must be a number of bytes between {MIN_BUDGET} (64 KiB) and 2**40, "
            f"not {value!r}"
        )
    return value


class SendPool:
    """The bytes held for sending by every session of one link (``send_bytes_total``)."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = check_budget("send_bytes_total", limit)
        self.used = 0
        """Bytes held now; the sessions add and subtract (never below 0)."""

    @property
    def full(self) -> bool:
        """True when no session may take another message."""
        return self.used >= self.limit


_TEXT = (bytes, str, bytearray, memoryview)
_ARRAYS = (list, tuple)


def payload_bytes(payload: Any) -> int:
    """An estimate of the memory ``payload`` (a msgpack value) holds, in bytes.

    The length of every str and bytes value plus a fixed overhead per value: proportional
    to the value's packed size and never below it by more than the overhead. A sender's
    value and the receiver's decoded copy count the same (subclasses of dict, list, str and
    bytes count as what msgpack makes of them). Iterative: a deeply nested payload costs no
    recursion.
    """
    kind = type(payload)
    if kind is bytes or kind is str:
        return len(payload) + _OVERHEAD
    if kind is Fragment:
        return len(payload.chunk) + _OVERHEAD
    total = 0
    stack = [payload]
    while stack:
        value = stack.pop()
        total += _OVERHEAD
        if isinstance(value, _TEXT):
            total += len(value)
        elif isinstance(value, _ARRAYS):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
    return total


def message_size(clock: VectorClock, payload: Any) -> int:
    """What a message of ``clock`` and ``payload`` counts against a receive budget: its
    payload's :func:`payload_bytes` plus a fixed cost per clock entry. The sender counts a
    message as the receiver will count it once decoded (the byte window, docs/wire.md)."""
    kind = type(payload)
    if kind is bytes or kind is str:
        return len(payload) + 16 * len(clock._entries) + 2 * _OVERHEAD
    return payload_bytes(payload) + 16 * len(clock._entries) + _OVERHEAD


def fragment_size(clock: VectorClock, chunk: bytes | memoryview) -> int:
    """:func:`message_size` of a piece of a large message carrying ``chunk``."""
    return len(chunk) + 16 * len(clock._entries) + 2 * _OVERHEAD


def packed_message_size(packed: bytes) -> int:
    """:func:`message_size` of a message packed by ``wire.pack_message`` or
    ``wire.pack_fragment`` (a sender's own bytes, read back after a restart)."""
    item = msgpack.unpackb(packed, raw=False)
    entries = item[1]
    if len(item) == 4:
        return len(item[2]) + 16 * len(entries) + 2 * _OVERHEAD
    return payload_bytes(item[2]) + 16 * len(entries) + _OVERHEAD


def message_bytes(message: Message) -> int:
    """:func:`message_size` of a decoded message."""
    payload = message[2]
    kind = type(payload)
    if kind is bytes or kind is str:
        return len(payload) + 16 * len(message[1]._entries) + 2 * _OVERHEAD
    return payload_bytes(payload) + 16 * len(message[1]._entries) + _OVERHEAD
