"""What the checker learns about processes that lie or omit, from those who made them do it.

Two records, both written by whoever injected the fault, never inferred from what the
receivers believed:

* **Forgeries.** An adversary program records every envelope it forged before sending it
  (``<node>.forged.jsonl``, :mod:`netclock.observe.forgeries`). A delivery whose id and
  receiver match a recorded impersonation did not come from the sender it names: the
  checker counts it as created and as an authenticity violation, naming the forger, even
  where the logs alone would have excused it (a forged incarnation looks like the cut-off
  tail of a crashed one). A node that recorded anything (a forgery, a replay, a lie told in
  words) is marked Byzantine.
* **Omissions.** A node whose fault plan gives it omission faults counts what its own
  injector withheld (``omitted`` per peer, ``receive_omitted``) in the statistics of its
  ``stop`` event. The checker reports them per node, apart from what the network lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netclock.cluster.node_count import natural_order
from netclock.observe.eventlog import EVENT_SUFFIX, Event, MsgId
from netclock.observe.forgeries import Forgery, read_forgeries

__all__ = ["Adversaries", "false_claim_notes", "load_adversaries", "refusal_notes", "role_of"]


@dataclass(frozen=True, slots=True)
class Omissions:
    """What one node's omission faults withheld: datagrams per peer it did not send, and
    datagrams it discarded on receipt."""

    send: Mapping[str, int]
    receive: int

    @property
    def total_send(self) -> int:
        return sum(self.send.values())


@dataclass(frozen=True, slots=True)
class Adversaries:
    """The run's Byzantine and omission nodes, as their own records say."""

    forgeries: tuple[Forgery, ...] = ()
    omissions: Mapping[str, Omissions] = field(default_factory=dict)
    _impersonated: Mapping[tuple[MsgId, str], Forgery] = field(default_factory=dict)
    _told: Mapping[tuple[MsgId, str], Forgery] = field(default_factory=dict)

    @property
    def byzantine(self) -> tuple[str, ...]:
        """Nodes that recorded a forgery, a replay or a lie, sorted."""
        return tuple(sorted({f.by for f in self.forgeries}))

    def forgery(self, mid: MsgId, receiver: str) -> Forgery | None:
        """The impersonation that produced message ``mid`` to ``receiver`` (None: none did)."""
        return self._impersonated.get((mid, receiver))

    def told(self, mid: MsgId, receiver: str) -> Forgery | None:
        """The recorded lie that sent message ``mid`` to ``receiver`` under the liar's own
        id (a lying clock: :meth:`Forger.send_with_clock`): sent, not created."""
        return self._told.get((mid, receiver))

    def notes(self) -> list[str]:
        """One sentence per Byzantine or omission node, for the report."""
        out: list[str] = []
        for node in self.byzantine:
            mine = [f for f in self.forgeries if f.by == node]
            forged = [f for f in mine if f.attack != "lie"]
            lies = sorted({f.what or "a lie" for f in mine if f.attack == "lie"})
            parts = []
            if forged:
                kinds = ", ".join(sorted({f.attack for f in forged}))
                parts.append(f"{len(forged)} forged envelope(s) ({kinds})")
            if lies:
                parts.append(f"lied: {', '.join(lies)}")
            out.append(f"{node} is Byzantine (its own record): {'; '.join(parts)}")
        for node, o in sorted(self.omissions.items()):
            per_peer = ", ".join(f"to {p}: {n}" for p, n in sorted(o.send.items()) if n)
            out.append(
                f"{node} has omission faults (its own, not the network's): "
                f"{o.total_send} datagram(s) omitted on send"
                + (f" ({per_peer})" if per_peer else "")
                + f", {o.receive} on receipt"
            )
        return out


def forged_text(where: str, mid: MsgId, receiver: str, forgery: Forgery) -> str:
    """The example line of an authenticity violation the record explains."""
    return (
        f"{where}: {mid[0]}:{mid[1]}:{mid[2]} to {receiver} claims {forgery.claimed} but was "
        f"forged by {forgery.by} ({forgery.attack})"
    )


def role_of(adversaries: Adversaries | None, node: str) -> str:
    """ "Byzantine", "omission" or "" for ``node``, as the records say."""
    if adversaries is None:
        return ""
    if node in adversaries.byzantine:
        return "Byzantine"
    return "omission" if node in adversaries.omissions else ""


def refusal_notes(events: Iterable[Event], each_up_to: int = 8) -> list[str]:
    """One sentence per node whose link refused input (``refused`` events), with examples;
    past ``each_up_to`` such nodes, one sentence for them all (the most refusing named)."""
    by_node: dict[str, list[Event]] = {}
    for e in events:
        if e.ev == "refused":
            by_node.setdefault(e.node, []).append(e)

    def examples(refused: Iterable[Event]) -> str:
        return "; ".join(list(dict.fromkeys(f"from {e.peer}: {e.text}" for e in refused))[:3])

    if len(by_node) > each_up_to:
        total = sum(len(refused) for refused in by_node.values())
        most = sorted(by_node.items(), key=lambda item: (-len(item[1]), natural_order(item[0])))
        most = most[:3]
        return [
            f"{len(by_node)} nodes refused {total} input(s) at their links (most: "
            + ", ".join(f"{node} {len(refused)}" for node, refused in most)
            + f"; e.g. {examples(e for _, refused in most for e in refused)})"
        ]
    return [
        f"{node} refused {len(refused)} input(s) at its link (e.g. {examples(refused)})"
        for node, refused in sorted(by_node.items())
    ]


def false_claim_notes(events: Iterable[Event]) -> list[str]:
    """One sentence per node that delivered messages whose clock claimed more of the node
    than it had done (``false_claims``: delivered, the claim not merged), with the senders."""
    by_node: dict[str, dict[str, int]] = {}
    for e in events:
        claim = None if e.ev != "deliver" or e.msg_clock is None else e.msg_clock.get(e.node)
        if claim is not None and e.peer is not None and claim >= e.clock.get(e.node, 0) > 0:
            senders = by_node.setdefault(e.node, {})
            senders[e.peer] = senders.get(e.peer, 0) + 1
    return [
        f"{node} delivered {sum(senders.values())} message(s) whose clock claimed more of "
        f"{node} than it had done, without merging the claim (from "
        + ", ".join(f"{peer}: {n}" for peer, n in sorted(senders.items()))
        + ")"
        for node, senders in sorted(by_node.items())
    ]


def load_adversaries(run_dir: Path) -> Adversaries:
    """The forgery records and omission counts of the run folder ``run_dir``."""
    forgeries = tuple(read_forgeries(run_dir))
    impersonated = {
        (f.id, f.to): f for f in forgeries if f.attack == "impersonation" and f.id is not None
    }
    told = {
        (f.id, f.to): f
        for f in forgeries
        if f.attack == "lie" and f.id is not None and f.claimed == f.by
    }
    omissions: dict[str, Omissions] = {}
    for path in sorted(run_dir.glob(f"*{EVENT_SUFFIX}")):
        counted = _omissions(path)
        if counted is not None:
            omissions[path.name[: -len(EVENT_SUFFIX)]] = counted
    return Adversaries(forgeries, omissions, impersonated, told)


_STOP = b'"ev": "stop"'


def _stop_lines(data: bytes) -> Iterator[str]:
    """The lines of ``data`` (as ``str.splitlines`` of its text cuts them) that hold a stop
    event's kind, in order: only the lines around each occurrence are decoded (a newline
    byte is never inside a UTF-8 sequence, and a line the other separators cut is cut
    again here)."""
    at = data.find(_STOP)
    while at >= 0:
        start, end = data.rfind(b"\n", 0, at) + 1, data.find(b"\n", at)
        end = len(data) if end < 0 else end
        for line in data[start:end].decode("utf-8", errors="replace").splitlines():
            if '"ev": "stop"' in line:
                yield line
        at = data.find(_STOP, end)


def _omissions(path: Path) -> Omissions | None:
    """The omission counters of the last ``stop`` line of one events file (None: none)."""
    send: dict[str, int] = {}
    receive = 0
    for line in _stop_lines(path.read_bytes()):
        try:
            stats: Any = json.loads(line).get("stats", {})
            link = stats["link"]
            faults = link.get("faults", {})
            send = {
                str(peer): int(c.get("omitted", 0))
                for peer, c in faults.items()
                if isinstance(c, dict)
            }
            receive = int(link.get("receive_omitted", 0))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            continue
    if not any(send.values()) and not receive:
        return None
    return Omissions(send, receive)
