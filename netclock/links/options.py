"""Typed options for each link kind, and the one place a link is made from them.

Each link kind has one frozen dataclass of tuning options (as aioquic's
``QuicConfiguration``): :class:`FairLossOptions`, :class:`StubbornOptions`,
:class:`PerfectLinkOptions` (the ``reliable`` link) and :class:`TlsOptions`. What every
kind shares (address, fault plan, ``fifo``, ``give_up_after``, the inbox size) is an
argument of the Node, not an option. ``Node(link_options=...)`` takes the options object
or a plain mapping; :func:`link_options` checks a mapping and says, in one sentence, which
option is wrong and what the link kind allows. Ranges are checked where they are used
(the session core, the TLS link), when the link is made.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from netclock.errors import ConfigError, UsageError
from netclock.faults.plan import FaultPlan
from netclock.links.base import LINK_KINDS, Address, Link, LinkUser
from netclock.links.budget import (
    DEFAULT_RECEIVE_BYTES,
    DEFAULT_SEND_BYTES,
    DEFAULT_SEND_BYTES_TOTAL,
)
from netclock.links.segments import DEFAULT_MAX_MESSAGE
from netclock.wire.framing import DEFAULT_MAX_FRAME


@dataclass(frozen=True, slots=True)
class FairLossOptions:
    """The fair-loss link has no tuning options: one datagram per message, no state."""


@dataclass(frozen=True, slots=True)
class StubbornOptions:
    """Options of the stubborn link (retransmit forever)."""

    period: float = 0.2
    """Seconds between two retransmissions of every remembered message."""
    remember: int = 10_000
    """How many of the newest messages are retransmitted; older ones are forgotten (counted)."""


@dataclass(frozen=True, slots=True)
class _SessionOptions:
    """What both reliable links pass to their session cores (``links.session.PeerSession``)."""

    send_window: int = 1024
    """Messages in flight per peer; a full window makes ``Node.send`` wait."""
    ack_delay: float = 0.002
    """Seconds an ack may wait for a reply to ride on."""
    unreachable_after: float = 3.0
    """Seconds without an ack, while messages are held, before a peer counts as unreachable."""
    max_message: int = DEFAULT_MAX_MESSAGE
    """Largest message in bytes (its packed payload); larger ones are refused at ``send``.
    A message above one datagram travels in pieces (docs/wire.md, "Large messages")."""
    clock_encoding: str = "full"
    """``"full"``: every message carries its whole vector clock; ``"diff"``: only the entries
    that changed since the previous message to the same peer (docs/wire.md, "Compressed
    clocks"; needs ``fifo``)."""
    send_bytes: int = DEFAULT_SEND_BYTES
    """Bytes of messages held for one peer until acknowledged; when full ``Node.send`` waits
    (``send_nowait`` raises SendBudgetFull). A dead peer holds at most this much."""
    send_bytes_total: int = DEFAULT_SEND_BYTES_TOTAL
    """The same for all peers of the node together."""
    receive_bytes: int = DEFAULT_RECEIVE_BYTES
    """Bytes of one peer's messages held for delivery or out of order; beyond it messages
    are dropped and counted (the sender resends them) and the window advertised is 0."""


@dataclass(frozen=True, slots=True)
class PerfectLinkOptions(_SessionOptions):
    """Options of the ``reliable`` link (the perfect link over UDP)."""

    max_datagram: int | None = None
    """Largest datagram in bytes; ``None``: 16 KiB on loopback, 1400 bytes elsewhere."""
    rto_initial: float = 0.05
    """Retransmission timeout in seconds before the first round-trip sample."""
    rto_min: float = 0.005
    """Smallest retransmission timeout in seconds."""
    rto_max: float = 1.0
    """Largest retransmission timeout in seconds (also the probe period when unreachable)."""


@dataclass(frozen=True, slots=True)
class SealedOptions(PerfectLinkOptions):
    """Options of the ``sealed`` link (the perfect link over UDP, every datagram sealed);
    ``max_datagram`` counts the seal, so a sealed datagram is never larger."""


@dataclass(frozen=True, slots=True)
class TlsOptions(_SessionOptions):
    """Options of the ``tls`` link (the authenticated perfect link over mutual TLS 1.3)."""

    max_frame: int = DEFAULT_MAX_FRAME
    """Largest frame in bytes, either way."""
    handshake_timeout: float = 5.0
    """Seconds a TLS handshake may take."""
    hello_timeout: float = 5.0
    """Seconds between the handshake and the peer's hello."""
    connect_timeout: float = 5.0
    """Seconds a TCP connect may take."""
    max_unauthenticated: int = 64
    """Accepted connections that have not said hello yet; over it the longest idle one still
    in its TLS handshake is closed for the new one (a known peer's never is)."""
    max_unauthenticated_per_source: int = 16
    """The same, per source host."""
    backoff: tuple[float, float] = (0.01, 2.0)
    """``(first, cap)``: reconnect delays in seconds, doubling from first up to cap."""


LinkOptions = FairLossOptions | StubbornOptions | PerfectLinkOptions | SealedOptions | TlsOptions
"""The options object of any link kind."""

OPTIONS: Mapping[str, type[LinkOptions]] = {
    "fairloss": FairLossOptions,
    "stubborn": StubbornOptions,
    "reliable": PerfectLinkOptions,
    "tls": TlsOptions,
    "sealed": SealedOptions,
}
"""The options class of each link kind."""


def link_options(kind: str, options: LinkOptions | Mapping[str, Any] | None) -> LinkOptions:
    """The typed options for link ``kind``: defaults, the object itself, or a mapping checked.

    Raises :class:`~netclock.errors.UsageError` for an unknown kind and
    :class:`~netclock.errors.ConfigError` for an option the kind does not have, a value
    of the wrong type, or an options object of another kind.
    """
    if kind not in OPTIONS:
        raise UsageError(f"link {kind!r} is not one of {', '.join(LINK_KINDS)}")
    cls = OPTIONS[kind]
    if options is None:
        return cls()
    if isinstance(options, cls):
        return options
    if not isinstance(options, Mapping):
        raise ConfigError(
            f"link_options for the {kind} link must be {cls.__name__} or a mapping, "
            f"not {type(options).__name__}"
        )
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    values: dict[str, Any] = {}
    for name, value in options.items():
        if name not in hints:
            allowed = f"it takes {', '.join(names)}" if names else "it takes none"
            raise ConfigError(f"{name!r} is not an option of the {kind} link; {allowed}")
        values[name] = _typed(kind, name, hints[name], value)
    return cls(**values)


def _typed(kind: str, name: str, hint: Any, value: Any) -> Any:
    """``value`` as the option's type (an int is a number, a list a tuple), or ConfigError."""
    optional = typing.get_origin(hint) is types.UnionType
    if optional:
        if value is None:
            return None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if hint is float and type(value) in (int, float) and math.isfinite(value):
        return float(value)
    if hint is int and type(value) is int:
        return value
    if hint is str and type(value) is str:
        return value
    if typing.get_origin(hint) is tuple:
        items = typing.get_args(hint)
        if (
            isinstance(value, (tuple, list))
            and len(value) == len(items)
            and all(type(v) in (int, float) and math.isfinite(v) for v in value)
        ):
            return tuple(float(v) for v in value)
    wanted = {float: "a finite number", int: "an integer", str: "a string"}.get(
        hint, "a pair of finite numbers (first, cap)"
    )
    if optional:
        wanted += " or None"
    raise ConfigError(f"option {name!r} of the {kind} link must be {wanted}, not {value!r}")


def make_link(
    kind: str,
    node_id: str,
    incarnation: int,
    user: LinkUser,
    *,
    bind: Address,
    options: LinkOptions,
    faults: FaultPlan | None = None,
    fault_epoch: float | None = None,
    fifo: bool = True,
    give_up_after: float | None = None,
    receive_capacity: int = 1024,
    cert_dir: str | Path | None = None,
) -> Link:
    """A link of ``kind`` for ``node_id``, calling back into ``user``; not started yet.

    ``options`` must come from :func:`link_options` for the same kind. ``fifo``,
    ``give_up_after`` and ``receive_capacity`` concern only the reliable kinds; ``cert_dir``
    is required by ``tls`` and ``sealed``. Out-of-range values raise ConfigError here.
    """
    tuning = {f.name: getattr(options, f.name) for f in fields(options)}
    if kind == "tls" and faults is not None and faults.omission.get(node_id) is not None:
        raise ConfigError(
            f"omission faults act on datagrams: node {node_id!r} cannot have them on the tls "
            "link; use link fairloss, stubborn or reliable, or remove it from faults.omission"
        )
    common: dict[str, Any] = {"bind": bind, "faults": faults, "fault_epoch": fault_epoch}
    if kind == "fairloss":
        from netclock.links.fairloss import FairLossLink

        return FairLossLink(node_id, incarnation, user, **common)
    if kind == "stubborn":
        from netclock.links.stubborn import StubbornLink

        return StubbornLink(node_id, incarnation, user, **common, **tuning)
    reliable: dict[str, Any] = {
        "fifo": fifo,
        "give_up_after": give_up_after,
        "receive_capacity": receive_capacity,
    }
    if kind == "reliable":
        from netclock.links.perfect import PerfectLink

        return PerfectLink(node_id, incarnation, user, **common, **reliable, **tuning)
    if kind == "sealed":
        from netclock.links.sealed import SealedLink

        return SealedLink(
            node_id, incarnation, user, cert_dir=cert_dir, **common, **reliable, **tuning
        )
    from netclock.links.tls.link import TlsLink

    if cert_dir is None:
        raise UsageError("the tls link needs cert_dir (create one with `netclock certs init`)")
    return TlsLink(node_id, incarnation, user, cert_dir=cert_dir, **common, **reliable, **tuning)
