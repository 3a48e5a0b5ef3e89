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
from netclock.govector import GoVectorLogger, decode_message, encode_message
from netclock.link import PeerReachable, PeerUnreachable, SendFailed
from netclock.node import Delivery, Failure, MessageId, Node
from netclock.shiviz import (
    SHIVIZ_REGEX,
    EventLogWriter,
    LogEvent,
    merge_logs,
    parse_log,
    validate_shiviz,
)

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
