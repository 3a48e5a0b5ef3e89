"""netclock: distributed-systems models on real sockets, a vector clock on every message.

The package root exports the public API; everything else is internal.
"""

from netclock.clock import Ordering, VectorClock
from netclock.errors import (
    AuthenticationError,
    ClockError,
    ConfigError,
    LinkClosed,
    LinkError,
    NetclockError,
    PeerRemoved,
    ProtocolViolation,
    SendBudgetFull,
    UsageError,
    WindowFull,
    WireError,
)
from netclock.faults.delay import DelayModel, ExponentialDelay, FixedDelay, NoDelay, UniformDelay
from netclock.faults.omission import Omission
from netclock.faults.plan import FaultPlan, LinkFaults, Partition
from netclock.links.options import (
    FairLossOptions,
    PerfectLinkOptions,
    SealedOptions,
    StubbornOptions,
    TlsOptions,
)
from netclock.node import BroadcastDelivery, Delivery, Failure, MessageId, Node
from netclock.observe.govector import GoVectorLogger
from netclock.observe.shiviz import (
    SHIVIZ_REGEX,
    EventLogWriter,
    LogEvent,
    merge_logs,
    parse_log,
    validate_shiviz,
)
from netclock.voting import Ballot, Decided, NoMajority, Voter
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
    "BroadcastDelivery",
    "Delivery",
    "Failure",
    "FairLossOptions",
    "FaultPlan",
    "DelayModel",
    "ExponentialDelay",
    "FixedDelay",
    "LinkFaults",
    "NoDelay",
    "Partition",
    "UniformDelay",
    "LinkClosed",
    "LinkError",
    "MessageId",
    "NetclockError",
    "PeerRemoved",
    "Node",
    "Ordering",
    "PerfectLinkOptions",
    "SealedOptions",
    "ProtocolViolation",
    "SendBudgetFull",
    "StubbornOptions",
    "TlsOptions",
    "UsageError",
    "VectorClock",
    "WindowFull",
    "WireError",
    "__version__",
    "Ballot",
    "Decided",
    "NoMajority",
    "Voter",
    "Omission",
]
