"""Omission faults: a process that fails to send or to receive some of its datagrams.

A process fault, not a network one: the plan names the faulty *node* (``[faults.omission]``,
``m = {send = 0.3, receive = 0.1}``) and every link of that node omits, with those
probabilities, each datagram it would send (send-omission) and each datagram that reaches it
(receive-omission). The network is not involved: an omitted datagram never reaches the
socket, or is discarded after it arrived. Omissions are counted apart from network loss
(``omitted`` in a node's fault statistics, ``receive_omitted`` in its link counters), so the
checker can tell a faulty process from a lossy link.

Decisions come from the plan's seed: one generator per (node, peer, direction) drawn in
order (:func:`~netclock.faults.fate.seeded_random` with purposes ``"send-omission"`` and
``"receive-omission"``), so the same seed and the same traffic omit the same datagrams.

A reliable link masks omissions as it masks loss (it retransmits) as long as a probability is
below 1; ``send = 1.0`` is a mute process. Omission acts on datagrams: the TLS link, a byte
stream, takes none (``make_link`` refuses the combination with a ConfigError).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netclock.faults import config
from netclock.faults.fate import Fate, seeded_random

__all__ = ["OMITTED", "Omission", "Omitter", "omissions_from_config"]

OMITTED = Fate(True, ())
"""A datagram its own sender omitted: equal to a loss, a distinct object (``fate is OMITTED``)."""

_KEYS = ("send", "receive")


@dataclass(frozen=True)
class Omission:
    """One node's omission probabilities: of each datagram it sends, of each it receives."""

    send: float = 0.0
    receive: float = 0.0

    def __post_init__(self) -> None:
        for key in _KEYS:
            object.__setattr__(self, key, config.probability(getattr(self, key), f"Omission.{key}"))

    @property
    def is_quiet(self) -> bool:
        return self.send == 0.0 and self.receive == 0.0

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], *, name: str) -> Omission:
        table = config.table(table, name)
        config.check_keys(table, _KEYS, name)
        return cls(
            send=config.probability(table.get("send", 0.0), f"{name}.send"),
            receive=config.probability(table.get("receive", 0.0), f"{name}.receive"),
        )

    def to_dict(self) -> dict[str, float]:
        return {"send": self.send, "receive": self.receive}


def omissions_from_config(value: object, name: str) -> dict[str, Omission]:
    """``{m = {send = 0.3}, ...}`` as node id -> :class:`Omission`; ConfigError naming the key."""
    table = config.table(value, name)
    out: dict[str, Omission] = {}
    for node, item in table.items():
        where = f"{name}.{node}"
        config.node_id(node, f"{name} key")
        out[node] = item if isinstance(item, Omission) else Omission.from_dict(item, name=where)
    return out


class Omitter:
    """Decides, in order, which datagrams one node omits; counts them per peer."""

    def __init__(self, seed: int, node: str, omission: Omission) -> None:
        self.seed = seed
        self.node = node
        self.omission = omission
        self.send_omitted: dict[str, int] = {}
        self.receive_omitted: dict[str, int] = {}
        self._rngs: dict[tuple[str, str], random.Random] = {}

    def _omits(self, purpose: str, p: float, peer: str, counts: dict[str, int]) -> bool:
        if p == 0.0:
            return False
        rng = self._rngs.get((purpose, peer))
        if rng is None:
            rng = self._rngs[(purpose, peer)] = seeded_random(self.seed, purpose, self.node, peer)
        if rng.random() >= p:
            return False
        counts[peer] = counts.get(peer, 0) + 1
        return True

    def omits_send(self, peer: str) -> bool:
        """True when this node omits the next datagram it sends to ``peer``."""
        return self._omits("send-omission", self.omission.send, peer, self.send_omitted)

    def omits_receive(self, peer: str) -> bool:
        """True when this node omits the datagram from ``peer`` that just reached it."""
        return self._omits("receive-omission", self.omission.receive, peer, self.receive_omitted)
