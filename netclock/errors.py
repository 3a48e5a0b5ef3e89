"""The exceptions netclock raises, all in one place.

::

    NetclockError
    ├── ClockError          a value that cannot be a vector clock (also a ValueError)
    ├── WireError           bytes from the network that are not a valid envelope
    │   └── ProtocolViolation   a valid envelope that breaks the protocol's rules
    ├── UsageError          a local mistake: wrong argument, unserialisable payload,
    │   │                   a node used before it is started
    │   ├── MessageTooLarge a message above the link's size limit (named in the text)
    │   └── ConfigError     a bad cluster file, certificate folder or link option
    ├── AuthenticationError a peer whose certificate does not prove who it claims to be
    └── LinkError
        ├── LinkClosed      you closed it: nothing more can be sent
        ├── WindowFull      a non-blocking send found the send window full
        │   └── SendBudgetFull  ... or the bytes held for sending at their budget
        └── PeerRemoved     a send to a peer this node removed (``remove_peer``)

Errors from the remote side (``WireError`` and below) never escape the event loop:
links count them, log them at debug level and drop the offending bytes. What the world
does to a link is not an exception either: a reliable link keeps retrying, reports an
unanswering peer (``Node.unreachable``) and, with ``give_up_after`` set, hands the
messages it gave up on back as ``Failure`` records (``Node.failures()``).
"""

from __future__ import annotations


class NetclockError(Exception):
    """Base class of every error netclock raises on purpose."""


class ClockError(NetclockError, ValueError):
    """A value that cannot be a vector clock (bad process id or counter)."""


class WireError(NetclockError):
    """Bytes that are not a valid netclock or GoVector envelope."""


class ProtocolViolation(WireError):
    """A well-formed envelope that breaks the protocol (for example a clock from the future)."""


class UsageError(NetclockError, ValueError):
    """A local mistake in calling netclock; the message says what to fix."""


class MessageTooLarge(UsageError):
    """A message larger than the link carries; ``size`` and ``limit`` are in bytes."""

    def __init__(self, text: str, size: int, limit: int) -> None:
        super().__init__(text)
        self.size = size
        self.limit = limit


class ConfigError(UsageError):
    """A bad configuration (cluster file, option, certificate folder); says what to fix."""


class AuthenticationError(NetclockError):
    """A peer whose certificate does not prove the identity it claims."""


class LinkError(NetclockError):
    """Base class for errors about a link's state."""


class LinkClosed(LinkError):
    """The node (or link) was closed by this process; nothing more can be sent.

    Using a node before it is started is a :class:`UsageError`, not this.
    """


class WindowFull(LinkError):
    """A non-blocking send found the peer's send window full; wait or retry later."""

    def __init__(self, peer: str, window: int) -> None:
        super().__init__(
            f"send window to {peer!r} is full ({window} messages in flight); "
            "await node.send() to wait for room instead"
        )
        self.peer = peer
        self.window = window


class SendBudgetFull(WindowFull):
    """A non-blocking send found the bytes held for sending at their budget (``send_bytes``
    for the peer, or ``send_bytes_total`` for the whole link); wait or retry later."""

    def __init__(self, peer: str, held: int, budget: int, what: str) -> None:
        LinkError.__init__(
            self,
            f"{what} is full ({held} bytes held for sending, budget {budget}); await "
            "node.send() to wait for room instead, or raise the link option",
        )
        self.peer = peer
        self.window = budget
        self.held = held


class PeerRemoved(LinkError):
    """A send to a peer this node removed with ``remove_peer`` (also raised in a send that
    was waiting for the peer's window when it was removed)."""

    def __init__(self, peer: str) -> None:
        super().__init__(
            f"peer {peer!r} was removed from this node (remove_peer); nothing more can be "
            "sent to it"
        )
        self.peer = peer
