"""The ``sealed`` link: the perfect link over UDP with every datagram sealed (AEAD).

"Authenticate and filter" over UDP: :class:`SealedLink` is the ``reliable`` link whose
datagrams (segments, acks and the failure detector's heartbeats alike) are sealed by
:class:`~netclock.links.seal.Sealer` under per-pair keys derived from the cluster's
certificates (:class:`~netclock.links.seal_keys.PairSecrets`). Whatever fails to open
(a stranger, a forgery, a modification, a replay, an earlier start of the peer) or claims
a sender other than the one whose key sealed it is counted, logged at debug level and
dropped before the session core sees it, so the perfect link's PL1-PL3 hold against an
attacker on the network and authenticity (AL3) is added. The plain ``reliable`` link pays
nothing for this: sealing lives in this subclass only.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import msgpack

from netclock.errors import UsageError
from netclock.links.base import InputRefused
from netclock.links.perfect import PerfectLink
from netclock.links.seal import Sealer, SealRefused, overhead
from netclock.links.seal_keys import PairSecrets
from netclock.links.udp import CONTROL_PREFIX, _where
from netclock.wire.envelope import Envelope

log = logging.getLogger(__name__)


class SealedLink(PerfectLink):
    """Reliable, FIFO, authenticated messaging over UDP between certified members."""

    kind = "sealed"
    check_source = False  # who sealed a datagram is proven by its key, not by its address

    def __init__(
        self,
        node_id: str,
        incarnation: int,
        *args: Any,
        cert_dir: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if cert_dir is None:
            raise UsageError(
                "the sealed link needs cert_dir (create one with `netclock certs init`)"
            )
        keys = PairSecrets(cert_dir, node_id)
        self._sealer = Sealer(node_id, incarnation, keys.cluster, keys.secret_for)
        self._seal_overhead = overhead(node_id)
        self._opened_from = ""
        super().__init__(node_id, incarnation, *args, **kwargs)
        for name in ("forged", "replayed", "impersonated"):
            self.counters[name] = 0

    def add_peer(self, peer: str, address: tuple[str, int]) -> None:
        self._sealer.add_peer(peer)  # a certificate problem is a ConfigError before any change
        super().add_peer(peer, address)

    def remove_peer(self, peer: str) -> None:
        super().remove_peer(peer)
        self._sealer.remove_peer(peer)

    def transmit(self, peer: str, data: bytes, key: tuple[int, ...], attempt: int) -> None:
        super().transmit(peer, self._sealer.seal(peer, data), key, attempt)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            sender, plain = self._sealer.open(data)
        except SealRefused as exc:
            self.counters["datagrams_received"] += 1
            self.counters[exc.counter] += 1
            log.debug("%s: dropped datagram from %s: %s", self.node_id, addr, exc)
            self.user.link_event(InputRefused(exc.source or _where(addr), f"sealed: {exc}"))
            return
        if plain[:1] == CONTROL_PREFIX and _heartbeat_sender(plain) != sender:
            self._impersonated(sender, "a heartbeat")
            return
        self._opened_from = sender
        super().datagram_received(plain, addr)

    def on_envelope(self, envelope: Envelope) -> None:
        if envelope.sender != self._opened_from:
            self._impersonated(self._opened_from, f"an envelope from {envelope.sender!r}")
            return
        super().on_envelope(envelope)

    def _impersonated(self, sender: str, what: str) -> None:
        self.counters["impersonated"] += 1
        log.debug("%s: %s sealed %s", self.node_id, sender, what)
        self.user.link_event(InputRefused(sender, f"sealed by {sender!r} but claims {what}"))


def _heartbeat_sender(plain: bytes) -> object:
    """The sender a control datagram names (None when it names none)."""
    try:
        fields = msgpack.unpackb(plain[1:], raw=False)
    except (ValueError, msgpack.UnpackException):
        return None
    return fields[0] if isinstance(fields, list) and fields else None
