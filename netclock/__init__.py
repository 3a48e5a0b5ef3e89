"""netclock: distributed-systems models on real sockets, a vector clock on every message.

The package root exports the public API; everything else is internal.
"""

from netclock.clock import Ordering, VectorClock
from netclock.errors import (
    AuthenticationError,
    ClockError,
    ConfigError,
    DeliveryFailed,
    LinkBroken,
    LinkClosed,
    LinkError,
    NetclockError,
    ProtocolViolation,
    UsageError,
    WindowFull,
    WireError,
)
from netclock.faults import FaultPlan
from netclock.link import PeerReachable, PeerUnreachable, SendFailed
from netclock.node import Delivery, Failure, MessageId, Node

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "ClockError",
    "ConfigError",
    "Delivery",
    "DeliveryFailed",
    "Failure",
    "FaultPlan",
    "LinkBroken",
    "LinkClosed",
    "LinkError",
    "MessageId",
    "NetclockError",
    "Node",
    "Ordering",
    "PeerReachable",
    "PeerUnreachable",
    "ProtocolViolation",
    "SendFailed",
    "UsageError",
    "VectorClock",
    "WindowFull",
    "WireError",
    "__version__",
]
