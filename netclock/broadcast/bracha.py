"""Byzantine reliable broadcast (Bracha): echo and ready phases, ``n > 3f``.

Sans-IO like :mod:`netclock.broadcast.core`. The origin SENDs its value to all; a process
ECHOes the first value its origin sent it; on more than ``(n + f) / 2`` echoes of one value,
or more than ``f`` readies of it, it sends READY for that value (once); on more than ``2f``
readies it delivers the value. A value is the origin's ``(clock, payload)``. Whatever up to
``f`` Byzantine processes do, the origin included, every correct process delivers the same
value or none (consistency), each at most once (no duplication), and if one correct process
delivers, every correct one does (totality); a correct origin's value is delivered by all
(validity).

Every count is per *authenticated* sender: each process counts once per phase per broadcast,
whatever it sends. That identity is only as good as the link's: over TLS (mutual
certificates) the guarantees hold; over UDP any process can claim another's id and vote in
its name, so ``f`` liars can be many votes and consistency can break (docs/broadcast.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import msgpack

from netclock.broadcast.core import BestEffortCore, Step
from netclock.broadcast.frame import ECHO, READY, SEND, BMessage, BroadcastKey, Kind


def value_key(clock: Any, payload: Any) -> bytes:
    """The bytes that identify a value: the origin's clock entries (sorted) and the payload."""
    entries = sorted(clock.to_wire().items()) if hasattr(clock, "to_wire") else clock
    return msgpack.packb([entries, payload], use_bin_type=True)  # type: ignore[no-any-return]


class _Instance:
    __slots__ = ("arrived", "echoed", "echoes", "readied", "readies", "values")

    def __init__(self, now: float) -> None:
        self.echoed = False
        self.readied = False
        self.echoes: dict[str, bytes] = {}
        self.readies: dict[str, bytes] = {}
        self.values: dict[bytes, BMessage] = {}
        self.arrived = now


class BrachaCore(BestEffortCore):
    """Byzantine reliable broadcast among ``n`` processes tolerating ``f = (n - 1) // 3``.

    ``max_open`` bounds the undelivered broadcasts kept per origin: a Byzantine origin
    cannot make a correct process hold more (further ones are refused and counted).
    """

    kind = Kind.BYZANTINE

    def __init__(
        self, me: str, incarnation: int, peers: Iterable[str], *, max_open: int = 4096
    ) -> None:
        super().__init__(me, incarnation, peers)
        self.max_open = max_open
        self._open: dict[BroadcastKey, _Instance] = {}
        self._per_origin: Counter[str] = Counter()

    @property
    def f(self) -> int:
        """How many Byzantine processes the group tolerates: the largest f with n > 3f."""
        return (self.n - 1) // 3

    def new(self, clock: Any, payload: Any) -> BMessage:
        """This process's next broadcast, as its SEND."""
        return super().new(clock, payload)._replace(extra=SEND)

    def broadcast(self, msg: BMessage, now: float) -> Step:
        """SEND ``msg`` to every peer (and to this process: it echoes its own value too)."""
        step = Step([(p, msg) for p in self.peers], [])
        self._take(self.me, msg, now, step)
        return step

    def receive(self, sender: str, msg: BMessage, now: float) -> Step:
        """A SEND, ECHO or READY from the authenticated ``sender``."""
        step = Step([], [])
        if msg.kind is not self.kind or sender not in self.peers:
            self.refused += 1
            return step
        self._take(sender, msg, now, step)
        return step

    def _take(self, sender: str, msg: BMessage, now: float, step: Step) -> None:
        key = msg.key
        if key in self._seen:
            return
        inst = self._open.get(key)
        if inst is None:
            if self._per_origin[msg.origin] >= self.max_open:
                self.refused += 1
                return
            inst = self._open[key] = _Instance(now)
            self._per_origin[msg.origin] += 1
        value = value_key(msg.clock, msg.payload)
        inst.values.setdefault(value, msg._replace(extra=SEND))
        phase = msg.extra
        if phase == SEND:
            if sender != msg.origin:
                self.refused += 1
            elif not inst.echoed:
                inst.echoed = True
                self._all(msg._replace(extra=ECHO), value, now, step)
        elif phase == ECHO:
            if sender not in inst.echoes:
                inst.echoes[sender] = value
                echoes = sum(1 for v in inst.echoes.values() if v == value)
                if 2 * echoes > self.n + self.f:
                    self._ready(inst, msg, value, now, step)
        elif sender not in inst.readies:
            inst.readies[sender] = value
            readies = sum(1 for v in inst.readies.values() if v == value)
            if readies > self.f:
                self._ready(inst, msg, value, now, step)
            if readies > 2 * self.f and key not in self._seen:
                self._seen.add(key)
                del self._open[key]
                self._per_origin[msg.origin] -= 1
                if not self._per_origin[msg.origin]:
                    del self._per_origin[msg.origin]
                step.delivers.append((inst.values[value], inst.arrived))

    def _ready(self, inst: _Instance, msg: BMessage, value: bytes, now: float, step: Step) -> None:
        if not inst.readied:
            inst.readied = True
            self._all(msg._replace(extra=READY), value, now, step)

    def _all(self, msg: BMessage, value: bytes, now: float, step: Step) -> None:
        step.sends.extend((p, msg) for p in self.peers)
        self._take(self.me, msg, now, step)

    def outstanding(self) -> int:
        """Ids held above the prefixes plus broadcasts not yet delivered."""
        return self._seen.held() + len(self._open)
