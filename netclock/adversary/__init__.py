"""The adversary toolkit: Byzantine behaviours for programs that lie (docs/byzantine.md).

A Byzantine node is a program like any other; it runs a normal Node and uses these to lie:

* wrong values and equivocation: :func:`wrong_value`, :class:`Equivocation`;
* impersonation and replay over UDP: :class:`Forger` (each forgery recorded for the checker;
  from a port of its own a UDP link drops them, with a spoofed source they get through);
* lying clocks: :func:`claims_more_of`, :func:`backwards`, :func:`jumped`, sent in envelopes
  built by :func:`data_envelope`, :func:`segment_envelope`, :func:`hello_envelope`;
* malformed envelopes: :data:`MALFORMED`;
* silence on some links: :class:`Silence`; delay and reordering: :class:`Shuffle`;
* raw sockets: :class:`RawUdp`, :class:`SpoofingUdp` (any source address; root),
  :class:`RawTls` (the adversary's own certificate);
* eavesdropping: :class:`LoopbackCapture` (a raw packet socket on ``lo``).

The honest Node and links contain no trace of any of it.
"""

from netclock.adversary.behaviours import Forger, Shuffle, Silence
from netclock.adversary.capture import LoopbackCapture, Packet, capture_unavailable
from netclock.adversary.forge import (
    FORGED_INCARNATION,
    MALFORMED,
    Equivocation,
    backwards,
    claims_more_of,
    data_envelope,
    frames,
    hello_envelope,
    jumped,
    segment_envelope,
    wrong_value,
)
from netclock.adversary.raw import RawTls, RawUdp, SpoofingUdp, spoofing_unavailable

__all__ = [
    "FORGED_INCARNATION",
    "MALFORMED",
    "Equivocation",
    "Forger",
    "LoopbackCapture",
    "Packet",
    "RawTls",
    "RawUdp",
    "Shuffle",
    "Silence",
    "SpoofingUdp",
    "backwards",
    "capture_unavailable",
    "claims_more_of",
    "data_envelope",
    "frames",
    "hello_envelope",
    "jumped",
    "segment_envelope",
    "spoofing_unavailable",
    "wrong_value",
]
