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
- agreement: what one correct node delivered, every correct node delivered (RB4; for Bracha,
  totality). uniform_agreement: what any node delivered, even one that crashed.
- fifo: a node delivers an origin life's broadcast only after all its earlier ones.
- causal_order: if broadcast m1 happened before m2 (m2's origin had broadcast or delivered
  m1 before broadcasting m2, transitively, broadcast events only), no node delivers m2
  before m1 (nor without m1).
- consistency (Byzantine): correct nodes that deliver a broadcast deliver the same value
  (the ``digest`` of the origin's clock and payload).

The events are read once (:class:`BroadcastEvents`, fed in the checker's order as
:class:`~netclock.tools.check_stream.LinkEvents` is) and kept as numbers: a row of a few
numbers per event, a flag per delivered sequence number per node, and a clock's
fingerprint (``hash(frozenset(clock.items()))``, as the link checker compares clocks). A
broadcast's causal past (its vector over broadcast events) is built after the pass and
kept only while some delivery of it is still to be judged.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from netclock.errors import ConfigError
from netclock.observe.eventlog import Clock, Event
from netclock.tools.check import PropertyResult, Run, Status
from netclock.tools.check_stream import MAX_EXAMPLES, Ranked, fmt

__all__ = [
    "BYZANTINE_RECORD",
    "INFORMATION",
    "PROMISES",
    "BroadcastEvents",
    "broadcast_properties",
    "read_byzantine",
    "record_byzantine",
]

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
_NAMES = (*_CRASH, *INFORMATION, "uniform_agreement", "consistency")


def read_byzantine(folder: Path) -> frozenset[str]:
    """The nodes ``folder/byzantine.json`` names (none when there is no such file)."""
    path = folder / BYZANTINE_RECORD
    if not path.is_file():
        return frozenset()
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
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


_DENSE = 1024
"""The flags (and arrays) of a set grow to a number only while it stays below ``_DENSE``
plus 8 slots per number held; a number further off goes to a Python set (a dict), so a
forged log of scattered numbers cannot make them large."""
_WIDE = 1 << 63
"""Sequence numbers from here on (a forged log's) are kept beside the rows' array."""

# a row's flag
_BCAST = 1
_FIRST = 2  # a bdeliver, the first of its id in this incarnation
_AGAIN = 3  # a bdeliver of an id this incarnation delivered already
_OTHER = 4  # another event that names a broadcast kind (none of the writers' logs)


class _Seqs:
    """A set of sequence numbers: one flag byte per number (a Python set for negative or
    far-off ones), how many it holds, and ``prefix``: 1..prefix are all held."""

    __slots__ = ("far", "flags", "prefix", "size")

    def __init__(self) -> None:
        self.flags = bytearray()
        self.far: set[int] = set()
        self.size = 0
        self.prefix = 0

    def has(self, seq: int) -> bool:
        if 0 <= seq < len(self.flags) and self.flags[seq]:
            return True
        return bool(self.far) and seq in self.far

    def add(self, seq: int) -> bool:
        """Hold ``seq``; False when it was held already."""
        flags = self.flags
        if seq == len(flags) and not self.far:  # the next number: the common case
            flags.append(1)
        elif self.has(seq):
            return False
        elif 0 <= seq < _DENSE + 8 * self.size:
            if seq >= len(flags):
                flags.extend(bytes(seq + 1 - len(flags)))
            flags[seq] = 1
        else:
            self.far.add(seq)
        self.size += 1
        if seq == self.prefix + 1:
            while self.has(seq + 1):
                seq += 1
            self.prefix = seq
        return True

    def dense(self) -> int:
        """The flags as one integer: bit ``8 * seq`` set for each number held there."""
        return int.from_bytes(self.flags, "little")

    def missing(self, dense: int, far: set[int]) -> Iterator[int]:
        """The numbers of (``dense``, ``far``), another set's parts, this one lacks, ascending."""
        gaps = dense & ~self.dense()
        found = sorted(x for x in far if not self.has(x))
        if gaps:
            raw = gaps.to_bytes((gaps.bit_length() + 7) // 8, "little")
            at = raw.find(1)
            while at >= 0:
                if not self.has(at):
                    found.append(at)
                at = raw.find(1, at + 1)
            found.sort()
        return iter(found)


class _Numbers:
    """A number per sequence number (-1: none), in an array (a dict for far-off ones)."""

    __slots__ = ("numbers", "size", "sparse")

    def __init__(self) -> None:
        self.numbers = array("q")
        self.sparse: dict[int, int] = {}
        self.size = 0

    def get(self, seq: int) -> int:
        if 0 <= seq < len(self.numbers):
            found = self.numbers[seq]
            if found >= 0 or not self.sparse:
                return found
        return self.sparse.get(seq, -1)

    def put(self, seq: int, number: int) -> None:
        self.size += 1
        if not 0 <= seq < max(len(self.numbers), _DENSE + 8 * self.size):
            self.sparse[seq] = number
            return
        grow = seq + 1 - len(self.numbers)
        if grow > 0:
            self.numbers.extend([-1] * grow)
        self.numbers[seq] = number


def _fingerprint(clock: Clock | None) -> int:
    return hash(None) if clock is None else hash(frozenset(clock.items()))


class BroadcastEvents:
    """The broadcast events of one run, fed once in the checker's order, kept as numbers.

    Call :meth:`start_incarnation`, :meth:`feed` for each event of that incarnation in log
    order (any event: those without a broadcast kind are ignored), :meth:`end_incarnation`;
    node by node, each node's incarnations ascending. Then :meth:`properties` judges them
    (as often as needed: it changes nothing here).
    """

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self._kind_ids: dict[str, int] = {}
        # lives: every (node, incarnation) met, as a logger or as a broadcast's origin
        self._life_ids: dict[tuple[str, int], int] = {}
        self.life_node: list[str] = []
        self.life_inc: list[int] = []
        self.complete = bytearray()  # 1 unless a logged life ended without stop
        self.logged: list[tuple[int, int, int]] = []  # (life, first row, end row)
        # one row per event with a broadcast kind, in feeding order
        self.r_kind = array("I")
        self.r_flag = bytearray()
        self.r_origin = array("q")
        self.r_seq = array("q")
        self.r_fp = array("q")
        self.wide: dict[int, int] = {}
        self.r_dkind: bytearray | None = None  # per row: 0 no digest, 1 hex, 2 other
        self.r_digest: array[int] | None = None
        self.odd_digests: list[str] = []
        self._odd_ids: dict[str, int] = {}
        # broadcasts: per (kind, origin life) sequence number -> broadcast number
        self.numbers: dict[tuple[int, int], _Numbers] = {}
        self.last_logged: dict[tuple[int, int], int] = {}
        self.b_row = array("q")
        self.b_life = array("q")
        self.b_fp = array("q")
        self.twice: set[int] = set()  # broadcast numbers logged by more than one bcast
        # per (kind, node): per origin life, the numbers any incarnation of it delivered
        self.delivered: dict[tuple[int, str], dict[int, _Seqs]] = {}
        self.duplicated: dict[int, Ranked] = {}
        self._life = -1
        self._start = 0
        self._node = ""
        self._inc = 0
        self._seen: dict[int, _Seqs] = {}  # this incarnation's, by origin << 32 | kind
        self._mine: dict[int, _Seqs] = {}  # this node's delivered sets, by the same key

    def _life_of(self, node: str, inc: int) -> int:
        found = self._life_ids.get((node, inc))
        if found is None:
            found = self._life_ids[(node, inc)] = len(self.life_node)
            self.life_node.append(node)
            self.life_inc.append(inc)
            self.complete.append(1)
        return found

    def start_incarnation(self, node: str, inc: int) -> None:
        """The events fed next belong to incarnation ``inc`` of ``node``."""
        self._life = self._life_of(node, inc)
        self._node, self._inc = node, inc
        self._start = len(self.r_flag)
        self._seen = {}
        self._mine = {}

    def end_incarnation(self, node: str, inc: int, last: Event | None) -> None:
        """The incarnation fed last ends with ``last`` (complete when it is a ``stop``)."""
        life = self._life_of(node, inc)
        self.complete[life] = 1 if last is not None and last.ev == "stop" else 0
        self.logged.append((life, self._start, len(self.r_flag)))
        self._seen = {}

    def feed(self, e: Event) -> None:
        """One event of the current incarnation, in log order."""
        kind, mid = e.bkind, e.mid
        if not kind or mid is None:
            return
        k = self._kind_ids.get(kind)
        if k is None:
            k = self._kind_ids[kind] = len(self.kinds)
            self.kinds.append(kind)
        origin = self._life_ids.get((mid[0], mid[1]))
        if origin is None:
            origin = self._life_of(mid[0], mid[1])
        seq = mid[2]
        row = len(self.r_flag)
        fp = 0
        digest = None
        ev = e.ev
        if ev == "bcast":
            flag = _BCAST
            fp = _fingerprint(e.clock)
            pair = (k, origin)
            numbers = self.numbers.get(pair)
            if numbers is None:
                numbers = self.numbers[pair] = _Numbers()
            number = numbers.get(seq)
            if number < 0:
                numbers.put(seq, len(self.b_row))
                self.b_row.append(row)
                self.b_life.append(self._life)
                self.b_fp.append(fp)
                if seq > self.last_logged.get(pair, 0):
                    self.last_logged[pair] = seq
            else:
                self.b_fp[number] = fp  # the clock of the last bcast of that id counts
                self.twice.add(number)
        elif ev == "bdeliver":
            key = origin << 32 | k
            seen = self._seen.get(key)
            if seen is None:
                seen = self._seen[key] = _Seqs()
            flags = seen.flags
            if seq == len(flags) and not seen.far:  # _Seqs.add's common case, inline
                flags.append(1)
                seen.size += 1
                if seq == seen.prefix + 1:
                    seen.prefix = seq
                new = True
            else:
                new = seen.add(seq)
            if new:
                flag = _FIRST
                fp = _fingerprint(e.msg_clock)
                digest = e.digest
                got = self._mine.get(key)
                if got is None:
                    sets = self.delivered.get((k, self._node))
                    if sets is None:
                        sets = self.delivered[(k, self._node)] = {}
                    got = sets.get(origin)
                    if got is None:
                        got = sets[origin] = _Seqs()
                    self._mine[key] = got
                got.add(seq)
            else:
                flag = _AGAIN
                found = self.duplicated.get(k)
                if found is None:
                    found = self.duplicated[k] = Ranked()
                found.add(f"{self._node}:{self._inc} delivered {fmt(mid)} again", (0, row))
        else:
            flag = _OTHER
        self.r_kind.append(k)
        self.r_flag.append(flag)
        self.r_origin.append(origin)
        if -_WIDE <= seq < _WIDE:
            self.r_seq.append(seq)
        else:
            self.r_seq.append(0)
            self.wide[row] = seq
        self.r_fp.append(fp)
        if digest is not None or self.r_dkind is not None:
            self._digest(row, digest)

    def _digest(self, row: int, digest: str | None) -> None:
        if self.r_dkind is None or self.r_digest is None:
            self.r_dkind, self.r_digest = bytearray(row), array("Q", bytes(8 * row))
        if digest is None:
            self.r_dkind.append(0)
            self.r_digest.append(0)
            return
        if len(digest) == 16:
            try:
                value = int(digest, 16)
            except ValueError:
                value = -1
            if value >= 0 and f"{value:016x}" == digest:
                self.r_dkind.append(1)
                self.r_digest.append(value)
                return
        found = self._odd_ids.get(digest)
        if found is None:
            found = self._odd_ids[digest] = len(self.odd_digests)
            self.odd_digests.append(digest)
        self.r_dkind.append(2)
        self.r_digest.append(found)

    def _seq(self, row: int) -> int:
        seq = self.r_seq[row]
        return self.wide.get(row, seq) if seq == 0 and self.wide else seq

    def _mid(self, origin: int, seq: int) -> str:
        return fmt((self.life_node[origin], self.life_inc[origin], seq))

    # -- after the pass ----------------------------------------------------------------------
    def properties(
        self, nodes: Sequence[str], correct: Callable[[str], bool], byzantine: frozenset[str]
    ) -> list[PropertyResult]:
        """The properties of each kind fed, kinds sorted: ``nodes`` are the run's nodes,
        ``correct`` says which never crashed, ``byzantine`` which were made to lie."""
        out: list[PropertyResult] = []
        for kind in sorted(self.kinds):
            judge = _Judge(self, self._kind_ids[kind], nodes, correct, byzantine)
            out += _results(kind, judge.run())
        return out


class _Judge:
    """The properties of one broadcast kind over a :class:`BroadcastEvents`."""

    def __init__(
        self,
        events: BroadcastEvents,
        k: int,
        nodes: Sequence[str],
        correct: Callable[[str], bool],
        byzantine: frozenset[str],
    ) -> None:
        self.e = events
        self.k = k
        self.byzantine = byzantine
        self.correct_nodes = [n for n in nodes if correct(n) and n not in byzantine]
        self.is_correct = frozenset(self.correct_nodes)
        self.found = {name: Ranked() for name in _NAMES}
        again = events.duplicated.get(k)
        if again is not None:
            self.found["no_duplication"].count = again.count
            self.found["no_duplication"].best = list(again.best)

    def run(self) -> dict[str, Ranked]:
        b_of, remaining = self._creation()
        self._validity()
        self._agreement()
        self._consistency()
        self._orders(b_of, remaining)
        return self.found

    def _creation(self) -> tuple[array[int], array[int]]:
        """Each delivery's broadcast number (-1: none) and how many rows cite each number;
        and no_creation, judged on each incarnation's first delivery of an id."""
        e, k = self.e, self.k
        r_kind, r_flag, r_origin, r_fp = e.r_kind, e.r_flag, e.r_origin, e.r_fp
        b_of = array("q", bytes(8 * len(r_flag)))
        remaining = array("q", bytes(8 * len(e.b_row)))
        found = self.found["no_creation"]
        byzantine, complete = self.byzantine, e.complete
        for life, start, end in e.logged:
            node = e.life_node[life]
            for row in range(start, end):
                if r_kind[row] != k:
                    continue
                origin, seq = r_origin[row], e._seq(row)
                numbers = e.numbers.get((k, origin))
                number = -1 if numbers is None else numbers.get(seq)
                b_of[row] = number
                flag = r_flag[row]
                if flag == _BCAST:
                    continue
                if number >= 0:
                    remaining[number] += 1
                if flag != _FIRST or e.life_node[origin] in byzantine:
                    continue
                if number < 0:
                    if not complete[origin] and seq > e.last_logged.get((k, origin), 0):
                        continue  # unlogged: the origin was killed after sending, before its log
                    found.add(f"{node} delivered {e._mid(origin, seq)}, never broadcast", (0, row))
                elif r_fp[row] != e.b_fp[number]:
                    found.add(
                        f"{node} delivered {e._mid(origin, seq)} with a clock its broadcast "
                        "did not have",
                        (0, row),
                    )
        return b_of, remaining

    def _validity(self) -> None:
        e, k = self.e, self.k
        found = self.found["validity"]
        sets = [e.delivered.get((k, n), {}) for n in self.correct_nodes]
        rank = 0
        for row, life in zip(e.b_row, e.b_life, strict=True):
            if e.r_kind[row] != k or e.life_node[life] not in self.is_correct:
                continue
            origin, seq = e.r_origin[row], e._seq(row)
            for node, mine in zip(self.correct_nodes, sets, strict=True):
                got = mine.get(origin)
                if got is None or not got.has(seq):
                    found.add(f"{node} never delivered {e._mid(origin, seq)}", (0, rank))
                    rank += 1

    def _agreement(self) -> None:
        """Counted as ``|union| - |own|`` per correct node (its own set is in the union);
        the examples are each correct node's missing ids in sorted order."""
        e, k = self.e, self.k
        per_node = {node: sets for (kind, node), sets in e.delivered.items() if kind == k}
        origins = sorted({o for sets in per_node.values() for o in sets},
                         key=lambda o: (e.life_node[o], e.life_inc[o]))  # fmt: skip
        for name, among in (
            ("agreement", self.is_correct),
            ("uniform_agreement", frozenset(per_node)),
        ):
            unions: list[tuple[int, int, set[int], int]] = []
            for o in origins:
                dense, far = 0, set()
                for node, sets in per_node.items():
                    got = sets.get(o)
                    if node in among and got is not None:
                        dense |= got.dense()
                        far |= got.far
                far = {x for x in far if not (x >= 0 and (dense >> (8 * x)) & 1)}
                unions.append((o, dense, far, dense.bit_count() + len(far)))
            found = self.found[name]
            text = (
                "which a correct node delivered"
                if name == "agreement"
                else ("which another node delivered")
            )
            rank = 0
            for node in self.correct_nodes:
                sets = per_node.get(node, {})
                for o, dense, far, size in unions:
                    got = sets.get(o)
                    lacking = size - (0 if got is None else got.size)
                    if lacking and len(found.best) < MAX_EXAMPLES:
                        for seq in (got or _Seqs()).missing(dense, far):
                            found.add(f"{node} never delivered {e._mid(o, seq)}, {text}", (0, rank))
                            rank += 1
                            lacking -= 1
                            if len(found.best) == MAX_EXAMPLES:
                                break
                    found.count += lacking

    def _consistency(self) -> None:
        """Per id, the value each correct node delivered last (its last incarnation's first
        delivery); an id with two values is reported with every correct node's."""
        e, k = self.e, self.k
        if e.r_dkind is None or e.r_digest is None:
            return  # no digests: every value is None, the same everywhere
        dkind, digest = e.r_dkind, e.r_digest
        slots: dict[int, _Numbers] = {}
        agreed: list[tuple[int, int]] = []  # per slot: the value, or (-1, 0) for two values
        first = array("q")
        latest: dict[tuple[str, int], _Seqs] = {}
        for life, start, end in reversed(e.logged):
            node = e.life_node[life]
            if node not in self.is_correct:
                continue
            for row in range(end - 1, start - 1, -1):
                if e.r_kind[row] != k or e.r_flag[row] != _FIRST:
                    continue
                origin, seq = e.r_origin[row], e._seq(row)
                per = slots.get(origin)
                if per is None:
                    per = slots[origin] = _Numbers()
                slot = per.get(seq)
                if slot < 0:
                    slot = len(agreed)
                    per.put(seq, slot)
                    agreed.append((-2, 0))
                    first.append(row)
                first[slot] = row
                seen = latest.get((node, origin))
                if seen is None:
                    seen = latest[(node, origin)] = _Seqs()
                if not seen.add(seq):
                    continue  # a later incarnation of the node delivered it: that value counts
                value = (dkind[row], digest[row])
                if agreed[slot][0] == -2:
                    agreed[slot] = value
                elif agreed[slot] != value:
                    agreed[slot] = (-1, 0)
        split = sorted(first[slot] for slot, value in enumerate(agreed) if value[0] == -1)
        found = self.found["consistency"]
        found.count = len(split)
        for row in split[:3]:
            origin, seq = e.r_origin[row], e._seq(row)
            values: dict[str, str | None] = {}
            for life, start, end in e.logged:
                node = e.life_node[life]
                if node not in self.is_correct:
                    continue
                for r in range(start, end):
                    if (e.r_kind[r] == k and e.r_flag[r] == _FIRST and e.r_origin[r] == origin
                            and e._seq(r) == seq):  # fmt: skip
                        values[node] = self._digest_text(r)
            found.best.append(
                (
                    (0, row),
                    f"correct nodes delivered different values for {e._mid(origin, seq)}: "
                    + ", ".join(f"{n}={d}" for n, d in sorted(values.items())),
                )
            )

    def _digest_text(self, row: int) -> str | None:
        e = self.e
        assert e.r_dkind is not None
        assert e.r_digest is not None
        kind, value = e.r_dkind[row], e.r_digest[row]
        if kind == 0:
            return None
        return f"{value:016x}" if kind == 1 else e.odd_digests[value]

    def _orders(self, b_of: array[int], remaining: array[int]) -> None:
        """FIFO and causal order, in one walk over every incarnation's rows side by side.

        Each broadcast's vector (per origin life, how many of its broadcasts happened before
        it; its own life: its own seq) is its origin's running vector at the ``bcast``; a
        life's running vector merges the vector of every broadcast it delivers. A life
        waits at a delivery whose ``bcast`` another life has not reached; when every life
        waits (a cycle only a forged log can make) the first waiting row is passed over
        without its vector, and its causal check waits for the end of the walk. A vector is
        dropped once every row that cites it is judged.
        """
        e, k = self.e, self.k
        r_kind, r_flag, r_origin = e.r_kind, e.r_flag, e.r_origin
        wide = bool(e.wide)
        twice = e.twice
        lives = e.logged
        cursors = [start for _, start, _ in lives]
        running: list[dict[int, int]] = [{} for _ in lives]
        prefixes: list[dict[int, _Seqs]] = [{} for _ in lives]
        computed = bytearray(len(e.b_row))
        vectors: dict[int, dict[int, int]] = {}
        deferred: list[tuple[int, int, int, int, int, dict[int, int]]] = []
        left = sum(1 for kind in r_kind if kind == k)
        while left:
            moved = False
            for i, (life, _, end) in enumerate(lives):
                cur = cursors[i]
                mine = running[i]
                while cur < end:
                    if r_kind[cur] != k:
                        cur += 1
                        continue
                    flag, origin, number = r_flag[cur], r_origin[cur], b_of[cur]
                    seq = e._seq(cur) if wide else e.r_seq[cur]
                    if flag == _BCAST:
                        vector = dict(mine)
                        vector[origin] = seq
                        if remaining[number]:
                            vectors[number] = vector
                        computed[number] = 1
                        _merge(mine, vector)
                    else:
                        if number >= 0 and not computed[number]:
                            break  # its broadcast is further on in another log
                        cited = vectors.get(number) if number >= 0 else None
                        if cited and flag != _OTHER and number not in twice:
                            # the common case: merge and causal check in one loop
                            prefix = prefixes[i]
                            got = prefix.get(origin)
                            if got is None:
                                got = prefix[origin] = _Seqs()
                            if got.prefix < seq - 1:
                                self._fifo(life, cur, origin, seq, got.prefix)
                            late = -1
                            for dep, count in cited.items():
                                if count > mine.get(dep, 0):
                                    mine[dep] = count
                                if late < 0:
                                    held = prefix.get(dep)
                                    have = 0 if held is None else held.prefix
                                    if have < (count - 1 if dep == origin else count):
                                        late = dep
                                        self._causal(life, cur, origin, seq, dep, have)
                            got.add(seq)
                            remaining[number] -= 1
                            if not remaining[number]:
                                del vectors[number]
                            cur += 1
                            left -= 1
                            moved = True
                            continue
                        _merge(mine, {origin: seq} if cited is None else cited)
                        if number in twice and flag != _OTHER:
                            # its vector is the last one its bcasts make: judged at the end
                            snapshot = {o: s.prefix for o, s in prefixes[i].items()}
                            self._order(life, cur, origin, seq, prefixes[i], None)
                            deferred.append((life, cur, origin, seq, number, snapshot))
                        elif flag != _OTHER:
                            self._order(life, cur, origin, seq, prefixes[i], cited)
                        if number >= 0 and number not in twice:
                            remaining[number] -= 1
                            if not remaining[number]:
                                vectors.pop(number, None)
                    cur += 1
                    left -= 1
                    moved = True
                cursors[i] = cur
            if moved:
                continue
            for i, (life, _, end) in enumerate(lives):  # a cycle: pass the first row over
                cur = cursors[i]
                while cur < end and r_kind[cur] != k:
                    cur += 1
                if cur == end:
                    cursors[i] = cur
                    continue
                if r_flag[cur] in (_FIRST, _AGAIN):
                    origin, seq = r_origin[cur], e._seq(cur)
                    snapshot = {o: s.prefix for o, s in prefixes[i].items()}
                    self._order(life, cur, origin, seq, prefixes[i], None)
                    deferred.append((life, cur, origin, seq, b_of[cur], snapshot))
                cursors[i] = cur + 1
                left -= 1
                break
        for life, row, origin, seq, number, snapshot in deferred:
            for dep, count in vectors.get(number, {}).items():
                need = count - 1 if dep == origin else count
                if snapshot.get(dep, 0) < need:
                    self._causal(life, row, origin, seq, dep, snapshot.get(dep, 0))
                    break

    def _order(
        self,
        life: int,
        row: int,
        origin: int,
        seq: int,
        prefix: dict[int, _Seqs],
        cited: dict[int, int] | None,
    ) -> None:
        """The FIFO and (with ``cited``, the broadcast's vector) causal check of one
        delivery, then the delivery taken into its life's prefixes."""
        got = prefix.get(origin)
        if got is None:
            got = prefix[origin] = _Seqs()
        if got.prefix < seq - 1:
            self._fifo(life, row, origin, seq, got.prefix)
        if cited:
            for dep, count in cited.items():
                need = count - 1 if dep == origin else count
                held = prefix.get(dep)
                have = 0 if held is None else held.prefix
                if have < need:
                    self._causal(life, row, origin, seq, dep, have)
                    break
        got.add(seq)

    def _fifo(self, life: int, row: int, origin: int, seq: int, held: int) -> None:
        found = self.found["fifo"]
        if _full(found, row):
            return
        e = self.e
        found.add(
            f"{e.life_node[life]}:{e.life_inc[life]} delivered {e._mid(origin, seq)} "
            f"before {e._mid(origin, held + 1)}",
            (0, row),
        )

    def _causal(self, life: int, row: int, origin: int, seq: int, dep: int, held: int) -> None:
        found = self.found["causal_order"]
        if _full(found, row):
            return
        e = self.e
        found.add(
            f"{e.life_node[life]}:{e.life_inc[life]} delivered {e._mid(origin, seq)} "
            f"before {e._mid(dep, held + 1)}, which happened before it",
            (0, row),
        )


def _full(found: Ranked, rank: int) -> bool:
    """Count one more finding at ``rank`` when it would not be quoted (True); else False
    (the caller adds it with its text)."""
    if len(found.best) == MAX_EXAMPLES and (0, rank) >= found.best[-1][0]:
        found.count += 1
        return True
    return False


def _merge(into: dict[int, int], vector: Mapping[int, int]) -> None:
    for life, count in vector.items():
        if count > into.get(life, 0):
            into[life] = count


def _results(kind: str, found: Mapping[str, Ranked]) -> list[PropertyResult]:
    promised = PROMISES.get(kind, _CRASH)
    names = [n for n in PROMISES["causal"] if n in promised or n in INFORMATION]
    names += [n for n in promised if n not in names]
    out = []
    for name in names:
        finding = found[name]
        judged = name in promised
        if finding.count:
            status = Status.VIOLATED if judged else Status.DOES_NOT_HOLD
            summary = f"{finding.count} {_BAD[name]}"
        else:
            status = Status.OK if judged else Status.HOLDS
            summary = _GOOD[name]
        out.append(
            PropertyResult(
                f"{kind}/{name}", judged, status, finding.count, summary, tuple(finding.examples)
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


def _fed(run: Run) -> BroadcastEvents:
    """A run's broadcast events as numbers, fed from the events its incarnations hold."""
    events = BroadcastEvents()
    for node, incs in run.nodes.items():
        for inc in incs:
            events.start_incarnation(node, inc.inc)
            for e in inc.held:
                events.feed(e)
            events.end_incarnation(node, inc.inc, inc.held[-1] if inc.held else None)
    return events


def broadcast_properties(
    run: Run,
    byzantine: Iterable[str] | None = None,
    notes: list[str] | None = None,
    events: BroadcastEvents | None = None,
) -> list[PropertyResult]:
    """The broadcast properties of ``run``, per kind seen (none without broadcasts).

    ``events`` are the run's broadcast events as its reader fed them (None: fed here from
    the events ``run`` holds). ``byzantine`` names the nodes made to lie; by default the
    run folder's ``byzantine.json`` (no such file: none). A sentence naming them goes to
    ``notes``.
    """
    if events is None:
        # a reader that fed the events as it read keeps them beside the run
        kept = getattr(run, "broadcasts", None)
        events = kept if isinstance(kept, BroadcastEvents) else _fed(run)
    if not events.kinds:
        return []
    liars = frozenset(byzantine) if byzantine is not None else _record(run.source)
    if liars and notes is not None:
        notes.append(
            f"{', '.join(sorted(liars))} made to lie ({BYZANTINE_RECORD}): "
            "not a correct process for the broadcast properties"
        )
    return events.properties(tuple(run.nodes), run.correct, liars)


def _record(source: Path) -> frozenset[str]:
    return read_byzantine(source if source.is_dir() else source.parent)
