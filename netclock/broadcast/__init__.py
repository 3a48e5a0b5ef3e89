"""Broadcast built from point-to-point links: best-effort, eager reliable, uniform (majority
ack), FIFO, causal (waiting causal broadcast) and Byzantine reliable broadcast (Bracha).

The cores (:mod:`~netclock.broadcast.core`, :mod:`~netclock.broadcast.bracha`) are sans-IO;
:mod:`~netclock.broadcast.adapter` runs them over a Node's link; the frame that carries a
broadcast on the link is :mod:`~netclock.broadcast.frame` (docs/broadcast.md).
"""

from netclock.broadcast.bracha import BrachaCore
from netclock.broadcast.core import (
    BestEffortCore,
    CausalCore,
    EagerReliableCore,
    FifoCore,
    Seen,
    Step,
    UniformReliableCore,
)
from netclock.broadcast.frame import BMessage, Kind

__all__ = [
    "BMessage",
    "BestEffortCore",
    "BrachaCore",
    "CausalCore",
    "EagerReliableCore",
    "FifoCore",
    "Kind",
    "Seen",
    "Step",
    "UniformReliableCore",
]
