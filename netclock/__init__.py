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
from netclock.faults.delay import DelayModel, ExponentialDelay, FixedDelay, NoDelay, UniformDelay
from netclock.faults.plan import FaultPlan, LinkFaults, Partition
from netclock.links.base import PeerReachable, PeerUnreachable, SendFailed
from netclock.node import Delivery, Failure, MessageId, Node
from netclock.observe.govector import GoVectorLogger
from netclock.observe.shiviz import (
    SHIVIZ_REGEX,
    EventLogWriter,
    LogEvent,
    merge_logs,
    parse_log,
    validate_shiviz,
)
from netclock.wire.govector import decode_message, encode_message

__version__ = "0.1.0"

__all__ = [
    "SHIVIZ_REGEX",
    "EventLogWriter",
    "GoVectorLogger",
    "LogEvent",
    "decode_message",
    "encode_message",
    "merge_logs",
    "parse_log",
    "validate_shiviz",
    "AuthenticationError",
    "ClockError",
    "ConfigError",
    "Delivery",
    "DeliveryFailed",
    "Failure",
    "FaultPlan",
    "DelayModel",
    "ExponentialDelay",
    "FixedDelay",
    "LinkFaults",
    "NoDelay",
    "Partition",
    "UniformDelay",
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
