"""The checker's broadcast properties: a run's ``bcast``/``bdeliver`` events per kind.

:func:`broadcast_properties` returns one :class:`~netclock.tools.check.PropertyResult`
per kind seen in the run and property, named ``<kind>/<property>``; a property the kind
promises (:data:`PROMISES`) is judged, the others (FIFO and causal order of a best-effort
run, say) are reported as information. How the log is read:

- A broadcast is its kind and id ``(origin, incarnation, seq)``; its ``bcast`` event is the
  one send event, each ``bdeliver`` one delivery at one incarnation of one node.
- *Correct* comes from ground truth only: a node the fault record never saw crash
  (``faults.jsonl``) and that the run's Byzantine record (``byzantine.json``, written by
  whoever made a node lie: ``{"nodes": [...]}``) does not name.
- validity: every broadcast of a correct origin is delivered by every correct node.
- no_duplication: no incarnation delivers a broadcast twice.
- no_creation: every delivery matches a ``bcast`` of that kind and id with the same clock;
  except a delivery from a Byzantine origin, or from an origin whose log was cut by a kill
  beyond the last broadcast it logged (*unlogged*).
- agreement: what one correct node delivers, every correct node delivers (RB4; for Bracha,
  totality). uniform_agreement: what any node delivers, even one that crashed.
- fifo: a node delivers an origin life's broadcast only after all its earlier ones.
- causal_order: if broadcast m1 happened before m2 (m2's origin had broadcast or delivered
  m1 before broadcasting m2, transitively, broadcast events only), no node delivers m2
  before m1 (nor without m1).
- consistency (Byzantine): correct nodes that deliver a broadcast deliver the same value
  (the ``digest`` of the origin's clock and payload).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from netclock.errors import ConfigError
from netclock.observe.eventlog import Event, MsgId
from netclock.tools.check import PropertyResult, Run, Status, _Finding, _fmt

BYZANTINE_RECORD = "byzantine.json"
"""The run folder's ground truth of which nodes were made to lie: ``{"nodes": [...]}``."""

_CRASH = ("validity", "no_duplication", "no_creation")
PROMISES: Mapping[str, tuple[str, ...]] = {
    "best-effort": _CRASH,
    "reliable": (*_CRASH, "agreement"),
    "uniform": (*_CRASH, "agreement", "uniform_agreement"),
    "fifo": (*_CRASH, "agreement", "fifo"),
    "causal": (*_CRASH, "agreement", "fifo", "causal_order"),
    "byzantine": (*_CRASH, "agreement", "consistency"),
}
"""What each broadcast kind promises (docs/broadcast.md)."""
INFORMATION = ("agreement", "fifo", "causal_order")
"""Reported for every kind, judged only where promised."""

Key = tuple[str, MsgId]
"""A broadcast: ``(kind, (origin, incarnation, seq))``."""
Life = tuple[str, int]


def read_byzantine(folder: Path) -> frozenset[str]:
    """The nodes ``folder/byzantine.json`` names (none when there is no such file)."""
    path = folder / BYZANTINE_RECORD
    if not path.is_file():
        return frozenset()
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path} ({exc}); fix or remove it") from None
    nodes = value.get("nodes") if type(value) is dict else None
    if type(nodes) is not list or not all(type(n) is str for n in nodes):
        raise ConfigError(f'{path} must hold {{"nodes": [node ids]}}; fix or remove it')
    return frozenset(nodes)


def record_byzantine(folder: Path, node: str) -> None:
    """Add ``node`` to ``folder/byzantine.json``: whoever makes a node lie says so here, as
    the launcher records the kills (a program that lies on purpose calls it)."""
    nodes = sorted(read_byzantine(folder) | {node})
    (folder / BYZANTINE_RECORD).write_text(json.dumps({"nodes": nodes}) + "\n", encoding="utf-8")


class _KindCheck:
    """The properties of one broadcast kind over a run."""

    def __init__(self, run: Run, kind: str, byzantine: frozenset[str]) -> None:
        self.run = run
        self.kind = kind
        self.byzantine = byzantine
        self.found = {name: _Finding() for name in (*_CRASH, *INFORMATION)}
        self.found["uniform_agreement"] = _Finding()
        self.found["consistency"] = _Finding()
        self.bcasts: dict[MsgId, Event] = {}
        self.lives: list[tuple[str, int, list[Event], bool]] = []
        for node, incs in run.nodes.items():
            for inc in incs:
                mine = [e for e in inc.held if e.bkind == kind and e.mid is not None]
                self.lives.append((node, inc.inc, mine, inc.complete))
                for e in mine:
                    if e.ev == "bcast":
                        assert e.mid is not None
                        self.bcasts[e.mid] = e
        self.last_logged: dict[Life, int] = {}
        for mid in self.bcasts:
            life = (mid[0], mid[1])
            self.last_logged[life] = max(self.last_logged.get(life, 0), mid[2])
        self.complete = {(node, inc): done for node, inc, _, done in self.lives}

    def correct(self, node: str) -> bool:
        return self.run.correct(node) and node not in self.byzantine

    def check(self) -> None:
        delivered: dict[str, set[MsgId]] = {}
        values: dict[MsgId, dict[str, str | None]] = {}
        for node, inc, events, _ in self.lives:
            got = delivered.setdefault(node, set())
            seen: set[MsgId] = set()
            for e in events:
                if e.ev != "bdeliver":
                    continue
                assert e.mid is not None
                if e.mid in seen:
                    self.found["no_duplication"].add(f"{node}:{inc} delivered {_fmt(e.mid)} again")
                    continue
                seen.add(e.mid)
                got.add(e.mid)
                self._creation(node, e)
                if self.correct(node):
                    values.setdefault(e.mid, {})[node] = e.digest
        correct = [n for n in self.run.nodes if self.correct(n)]
        for mid, e in self.bcasts.items():
            if self.correct(e.node):
                for node in correct:
                    if mid not in delivered.get(node, set()):
                        self.found["validity"].add(f"{node} never delivered {_fmt(mid)}")
        by_correct = set().union(*(delivered.get(n, set()) for n in correct))
        by_any = set().union(*delivered.values())
        for node in correct:
            mine = delivered.get(node, set())
            for mid in sorted(by_correct - mine):
                self.found["agreement"].add(
                    f"{node} never delivered {_fmt(mid)}, which a correct node delivered"
                )
            for mid in sorted(by_any - mine):
                self.found["uniform_agreement"].add(
                    f"{node} never delivered {_fmt(mid)}, which another node delivered"
                )
        for mid, by_node in values.items():
            if len(set(by_node.values())) > 1:
                self.found["consistency"].add(
                    f"correct nodes delivered different values for {_fmt(mid)}: "
                    + ", ".join(f"{n}={d}" for n, d in sorted(by_node.items()))
                )
        self._orders()

    def _creation(self, node: str, e: Event) -> None:
        assert e.mid is not None
        origin = e.mid[0]
        sent = self.bcasts.get(e.mid)
        if origin in self.byzantine:
            return
        if sent is None:
            life = (origin, e.mid[1])
            if not self.complete.get(life, True) and e.mid[2] > self.last_logged.get(life, 0):
                return  # unlogged: the origin was killed after sending, before its log was
            self.found["no_creation"].add(f"{node} delivered {_fmt(e.mid)}, never broadcast")
        elif e.msg_clock != sent.clock:
            self.found["no_creation"].add(
                f"{node} delivered {_fmt(e.mid)} with a clock its broadcast did not have"
            )

    def _orders(self) -> None:
        vectors = self._broadcast_vectors()
        for node, inc, events, _ in self.lives:
            prefix: dict[Life, int] = {}
            above: dict[Life, set[int]] = {}
            for e in events:
                if e.ev != "bdeliver" or e.mid is None:
                    continue
                life, seq = (e.mid[0], e.mid[1]), e.mid[2]
                if prefix.get(life, 0) < seq - 1:
                    self.found["fifo"].add(
                        f"{node}:{inc} delivered {_fmt(e.mid)} before "
                        f"{life[0]}:{life[1]}:{prefix.get(life, 0) + 1}"
                    )
                for dep, count in vectors.get(e.mid, {}).items():
                    need = count - 1 if dep == life else count
                    if prefix.get(dep, 0) < need:
                        self.found["causal_order"].add(
                            f"{node}:{inc} delivered {_fmt(e.mid)} before "
                            f"{dep[0]}:{dep[1]}:{prefix.get(dep, 0) + 1}, which happened before it"
                        )
                        break
                _take(prefix, above, life, seq)

    def _broadcast_vectors(self) -> dict[MsgId, dict[Life, int]]:
        """Each broadcast's vector over broadcast events only: per origin life, how many of
        its broadcasts happened before it (its own life: its own seq)."""
        vectors: dict[MsgId, dict[Life, int]] = {}
        cursors = [0] * len(self.lives)
        running: list[dict[Life, int]] = [{} for _ in self.lives]
        left = sum(len(events) for _, _, events, _ in self.lives)
        while left:
            moved = False
            for i, (_, _, events, _) in enumerate(self.lives):
                while cursors[i] < len(events):
                    e = events[cursors[i]]
                    assert e.mid is not None
                    life = (e.mid[0], e.mid[1])
                    if e.ev == "bcast":
                        vector = dict(running[i])
                        vector[life] = e.mid[2]
                        vectors[e.mid] = vector
                    elif e.mid in self.bcasts and e.mid not in vectors:
                        break  # its broadcast is further on in another log
                    _merge(running[i], vectors.get(e.mid, {life: e.mid[2]}))
                    cursors[i] += 1
                    left -= 1
                    moved = True
            if not moved:  # a cycle only a forged log can make: take the first one as is
                i = next(i for i, (_, _, ev, _) in enumerate(self.lives) if cursors[i] < len(ev))
                cursors[i] += 1
                left -= 1
        return vectors

    def results(self) -> list[PropertyResult]:
        promised = PROMISES.get(self.kind, _CRASH)
        names = [n for n in PROMISES["causal"] if n in promised or n in INFORMATION]
        names += [n for n in promised if n not in names]
        out = []
        for name in names:
            finding = self.found[name]
            judged = name in promised
            if finding.count:
                status = Status.VIOLATED if judged else Status.DOES_NOT_HOLD
                summary = f"{finding.count} {_BAD[name]}"
            else:
                status = Status.OK if judged else Status.HOLDS
                summary = _GOOD[name]
            out.append(
                PropertyResult(
                    f"{self.kind}/{name}",
                    judged,
                    status,
                    finding.count,
                    summary,
                    tuple(finding.examples),
                )
            )
        return out


_GOOD = {
    "validity": "every broadcast of a correct node reached every correct node",
    "no_duplication": "no broadcast delivered twice",
    "no_creation": "every delivery matches a broadcast",
    "agreement": "what one correct node delivered, every correct node delivered",
    "uniform_agreement": "what any node delivered, every correct node delivered",
    "fifo": "each origin's broadcasts delivered in order",
    "causal_order": "no broadcast delivered before one that happened before it",
    "consistency": "correct nodes delivered the same value for each broadcast",
}
_BAD = {
    "validity": "broadcast(s) of a correct node missing at a correct node",
    "no_duplication": "extra delivery(ies)",
    "no_creation": "delivery(ies) of nothing broadcast",
    "agreement": "broadcast(s) a correct node delivered missing at another",
    "uniform_agreement": "broadcast(s) delivered somewhere missing at a correct node",
    "fifo": "delivery(ies) ahead of an earlier broadcast of the same origin",
    "causal_order": "delivery(ies) ahead of a broadcast that happened before",
    "consistency": "broadcast(s) delivered with different values",
}


def _take(prefix: dict[Life, int], above: dict[Life, set[int]], life: Life, seq: int) -> None:
    if seq == prefix.get(life, 0) + 1:
        held = above.get(life, set())
        while seq + 1 in held:
            held.discard(seq + 1)
            seq += 1
        prefix[life] = seq
    elif seq > prefix.get(life, 0):
        above.setdefault(life, set()).add(seq)


def _merge(into: dict[Life, int], vector: Mapping[Life, int]) -> None:
    for life, count in vector.items():
        if count > into.get(life, 0):
            into[life] = count


def broadcast_kinds(run: Run) -> list[str]:
    """The broadcast kinds a run's logs show, sorted."""
    return sorted({e.bkind for incs in run.nodes.values() for i in incs for e in i.held if e.bkind})


def broadcast_properties(
    run: Run, byzantine: Iterable[str] | None = None, notes: list[str] | None = None
) -> list[PropertyResult]:
    """The broadcast properties of ``run``, per kind seen (none without broadcasts).

    ``byzantine`` names the nodes made to lie; by default the run folder's
    ``byzantine.json`` (no such file: none). A sentence naming them goes to ``notes``.
    """
    kinds = broadcast_kinds(run)
    if not kinds:
        return []
    liars = frozenset(byzantine) if byzantine is not None else _record(run.source)
    if liars and notes is not None:
        notes.append(
            f"{', '.join(sorted(liars))} made to lie ({BYZANTINE_RECORD}): "
            "not a correct process for the broadcast properties"
        )
    out: list[PropertyResult] = []
    for kind in kinds:
        check = _KindCheck(run, kind, liars)
        check.check()
        out += check.results()
    return out


def _record(source: Path) -> frozenset[str]:
    return read_byzantine(source if source.is_dir() else source.parent)
