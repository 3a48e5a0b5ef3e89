"""The viewer's page data read from event logs in one pass, in memory that grows by numbers.

:func:`page_data` makes what :func:`netclock.tools.viz.render_run` embeds in the page (the
columnar form ``viz_template.html`` reads; :func:`netclock.tools.viz._page_data` makes the
same from objects). Each event is read once and left as numbers appended to its process
line's ``array`` columns and ``bytearray``: its kind, wall time, clock changes, and, for a
send, delivery or ``failed``, its link and sequence number. No Python object per event
outlives its line, so a run of a million events costs tens of MB here, not a GB. Sends are
matched to deliveries once every line is read, through one array per link indexed by
sequence number (ids number the messages of one link from 1).

What it keeps as objects: the texts the page cannot make from a message (``local``,
``init``, ``drop``... lines, one string object per distinct text), broadcasts (matched by
id and kind, as :mod:`netclock.tools.viz` does) and samples. GoVector logs (matched by
their clocks) take the object path in :mod:`netclock.tools.viz`.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain, filterfalse
from math import isfinite, isnan
from operator import sub
from pathlib import Path
from typing import Any

from netclock.errors import ConfigError
from netclock.observe.compact import ChainReader, Resolved
from netclock.observe.eventlog import (
    _NOT_JSON,
    EVENT_KINDS,
    Event,
    FaultRecord,
    _json_lines,
    _lenient_event,
)
from netclock.tools.check_byzantine import load_adversaries, role_of
from netclock.tools.viz import (
    _CODE_BASE,
    _KIND_CODE,
    _START_GAP,
    CLOCK_MARK,
    MAX_TEXT,
    VizProcess,
    _Chunks,
    _crashes,
    _event_text,
    _fault_record,
    _id_text,
    _mark,
    _plain,
    _Rows,
    _run_info,
    _short,
    _sources,
    _suspicions,
    kept_rows,
    longest_chains,
    packed_changes,
)

__all__ = ["page_data"]

_SLACK = 1 << 16
"""How far past a link's highest sequence number so far its table grows for a new one;
a number further out (a forged or garbled id) goes to a dict instead."""
_NAN = float("nan")
_SEND, _DELIVER, _FAILED = _KIND_CODE["send"], _KIND_CODE["deliver"], _KIND_CODE["failed"]
_LOCAL = _KIND_CODE["local"]
_WHAT = "a netclock event log"
_CUT = "skipped an unfinished last line (the node was killed)"
_BIG = 2**63 - 1
"""A sequence number at least this large is kept in a lane's ``big`` dict."""


class _Lane:
    """One process line's events as read: columns of numbers, indexed from 0 in file order."""

    __slots__ = (
        "again",
        "bcasts",
        "big",
        "clock",
        "cn",
        "cv",
        "host",
        "incs",
        "kind",
        "last_inc",
        "links",
        "marks",
        "name",
        "suspects",
        "texts",
        "time",
        "waited",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = bytearray()
        self.time = array("d")
        self.cn = array("i")
        self.cv: array[int] | list[int] = array("i")  # 64-bit once a change needs it
        self.clock: dict[str, int] = {}
        self.marks: list[dict[str, int]] = []
        self.incs: list[tuple[int, int | None]] = []
        self.last_inc: Any = self  # no incarnation seen yet
        # sends, deliveries and failures: (event, link, seq) flattened, in file order
        self.links = array("q")
        self.big: dict[int, int] = {}
        self.texts: dict[int, str] = {}
        self.again: list[int] = []
        self.waited: list[tuple[int, float]] = []
        self.bcasts: list[tuple[int, str, str, str]] = []  # (event, kind, id, broadcast kind)
        self.suspects: list[tuple[int, str, str]] = []
        self.host: str | None = None


class _Reader:
    """The run as read so far: lanes by process id, links, names, samples, notes."""

    def __init__(self, order: Sequence[str]) -> None:
        self.lanes: dict[str, _Lane] = {pid: _Lane(pid) for pid in order}
        self.names: dict[str, int] = {}
        self.link_of: dict[tuple[str, int, str | None], int] = {}
        self.links: list[tuple[str, int, str | None]] = []
        self.texts: dict[str, str] = {}
        self.samples = _Samples()
        self.notes: list[str] = []

    def read(self, path: Path) -> None:
        """Read one event log (and its pending records) as ``iter_events(strict=False)``
        reads it: the same lines skipped with the same notes. A send, or a delivery from
        the sender its id names, is taken from the decoded line without an ``Event``."""
        notes, lanes, chain = self.notes, self.lanes, ChainReader()
        last: Any = None  # the previous line's clock: what its successor's "dc" changes
        for where, entry in _json_lines(path, _WHAT, notes, _CUT, errors="replace", pending=True):
            if type(entry) is not dict:
                notes.append(
                    f"{where}: not JSON, skipped" if entry is _NOT_JSON else _not_event(where)
                )
                chain.lost()
                last = None
                continue
            dc = entry.get("dc")
            problem = chain.resolve(entry)
            if problem is not None:
                notes.append(f"{where}: {problem}, skipped")
                last = None
                continue
            ev, node, clock = entry.get("ev"), entry.get("node"), entry.get("clock")
            if ev in ("send", "deliver") and type(node) is str and type(clock) is Resolved:
                lane = lanes.get(node)
                if lane is not None and self.plain(lane, ev, entry, clock, dc, last):
                    last = clock
                    continue
            e = _lenient_event(where, entry)
            if e is None:
                notes.append(_not_event(where))
                chain.lost()
                last = None
                continue
            last = clock
            if e.ev == "sample":
                if e.sample is not None and e.t is not None:
                    self.samples.add(e.node, e.t, e.sample)
                continue
            lane = lanes.get(e.node)
            if lane is None:
                lane = lanes[e.node] = _Lane(e.node)
            self.add(lane, e)

    def plain(
        self, lane: _Lane, ev: str, entry: dict[str, Any], clock: Resolved, dc: Any, last: Any
    ) -> bool:
        """Take a send, or a delivery from its id's sender, straight from its decoded line
        (what :meth:`add` would make of its ``Event``); False: not such a line, nothing
        taken."""
        send, get = ev == "send", entry.get
        peer, mid = get("to" if send else "from"), get("id")
        if type(peer) is not str or type(mid) is not list or len(mid) != 3 or "host" in entry:
            return False
        sender, inc, seq = mid
        if not (
            type(sender) is str
            and sender
            and type(inc) is int
            and type(seq) is int
            and inc >= 0
            and 0 <= seq < _BIG
            and (send or peer == sender)
        ):
            return False
        i = len(lane.kind)
        lane.kind.append(_SEND if send else _DELIVER)
        t = get("t")
        lane.time.append(
            t if type(t) is float and t - t == 0.0 else float(t) if type(t) is int else _NAN
        )
        own = get("inc")
        if type(own) is not int:
            own = None
        if own != lane.last_inc:
            lane.incs.append((i, own))
            lane.last_inc = own
        if type(dc) is dict and lane.clock is last and i % CLOCK_MARK:
            prev, names = lane.clock, self.names
            pairs = [
                x
                for name, value in dc.items()
                for x in (names.setdefault(name, len(names)), value - prev.get(name, 0))
            ]
            lane.cn.append(len(pairs) >> 1)
            self.changes(lane, pairs)
            lane.clock = clock
        else:
            self.clock(lane, i, clock)
        if get("redelivered") is True:
            lane.again.append(i)
        key = (sender, inc, peer if send else lane.name)
        link = self.link_of.get(key)
        if link is None:
            link = self.link_of[key] = len(self.links)
            self.links.append(key)
        lane.links.fromlist([i, link, seq])
        return True

    def add(self, lane: _Lane, e: Event) -> None:
        i = len(lane.kind)
        ev = e.ev
        lane.kind.append(_KIND_CODE.get(ev, _LOCAL))
        lane.time.append(_NAN if e.t is None else e.t)
        if e.inc != lane.last_inc:
            lane.incs.append((i, e.inc))
            lane.last_inc = e.inc
        self.clock(lane, i, e.clock)
        if e.redelivered:
            lane.again.append(i)
        mid = e.mid
        if mid is not None and ev in ("send", "deliver", "failed"):
            key = (mid[0], mid[1], e.node if ev == "deliver" else e.peer)
            link = self.link_of.get(key)
            if link is None:
                link = self.link_of[key] = len(self.links)
                self.links.append(key)
            seq = mid[2]
            if seq >= _BIG:  # past an array's numbers: kept aside
                lane.big[i] = seq
                seq = _BIG
            lane.links.fromlist([i, link, seq])
            if e.peer is None or ev == "failed" or (ev == "deliver" and e.peer != mid[0]):
                self.text(lane, i, _event_text(e, _id_text(e)))
            if e.host is not None and lane.host is None:
                lane.host = e.host
            return
        if e.bkind is not None and mid is not None and ev in ("bcast", "bdeliver"):
            lane.bcasts.append((i, ev, _id_text(e) or "", e.bkind))
            if e.waited:
                lane.waited.append((i, e.waited))
        elif ev in ("suspect", "restore") and e.peer is not None:
            lane.suspects.append((i, ev, e.peer))
        if e.host is not None and lane.host is None:
            lane.host = e.host
        self.text(lane, i, _event_text(e, _id_text(e)))

    def text(self, lane: _Lane, i: int, text: str) -> None:
        text = _short(text) if len(text) > MAX_TEXT else text
        lane.texts[i] = self.texts.setdefault(text, text)

    def clock(self, lane: _Lane, i: int, clock: Any) -> None:
        """Append how ``clock`` differs from the lane's last one: ``(name, change)`` pairs,
        sorted so that a page does not depend on hashing (a clock changes in an entry or
        two, so sorting them costs less than comparing the clocks as sets)."""
        if i % CLOCK_MARK == 0:
            lane.marks.append(lane.clock)
        prev = lane.clock
        get = prev.get
        changed = [
            (name, value - get(name, 0)) for name, value in clock.items() if get(name) != value
        ]
        changed.sort()
        names = self.names
        pairs = [
            x for name, change in changed for x in (names.setdefault(name, len(names)), change)
        ]
        if len(prev) > len(clock) - len(changed) and not prev.keys() <= clock.keys():
            for name in sorted(prev.keys() - clock.keys()):
                pairs += (names.setdefault(name, len(names)), -prev[name])
        lane.cn.append(len(pairs) // 2)
        self.changes(lane, pairs)
        lane.clock = clock

    @staticmethod
    def changes(lane: _Lane, pairs: list[int]) -> None:
        cv = lane.cv
        if isinstance(cv, list):
            cv += pairs
        else:
            try:
                cv.fromlist(pairs)  # all or nothing
            except OverflowError:  # 32 bits, then 64, then a liar's clock: this lane keeps ints
                if cv.typecode == "i":
                    lane.cv = array("q", cv)
                    _Reader.changes(lane, pairs)
                else:
                    lane.cv = [*cv, *pairs]


_EXACT = 2**53
"""Integers a float holds exactly: a sample's counters past it (a forged line) are kept aside."""
_FLOAT, _INT, _NONE = 0, 1, 2
_TYPES = {float: _FLOAT, int: _INT, type(None): _NONE}
"""The type code of each type a sample's value may have (see :func:`~netclock.tools.viz._plain`)."""
_FAR_US = float(2**62)
"""Microseconds from the run's start past which an event's time is taken as none (146,000
years: a forged time, which 64-bit differences could not hold)."""


def _micros_of(times: Sequence[float], t0: float) -> array[int] | list[int]:
    """Microseconds since ``t0``: 64-bit numbers, or ints (0 for a time no float can
    hold) when a forged time is too far out for them."""
    try:
        return array("q", [round((t - t0) * 1e6) for t in times])
    except OverflowError:
        return [round(us) if isfinite(us := (t - t0) * 1e6) else 0 for t in times]


class _Samples:
    """The run's ``sample`` events as columns of numbers: a 64-process run holds a row per
    peer in every sample (millions in a minute), which as lists of objects took GBs here.

    The page gets what :func:`netclock.tools.viz._sample_columns` makes, its per-peer rows
    made a chunk at a time as they are written (:class:`netclock.tools.viz._Rows`)."""

    def __init__(self) -> None:
        self.process: list[str] = []
        self.time = array("d")
        self.inbox: list[int] = []
        self.row_of = array("i")  # per peer row: its sample's number
        self.peer: list[str] = []
        self.values = array("d")  # four per peer row
        self.types = bytearray()  # per value: _FLOAT, _INT or _NONE
        self.exact: dict[int, int] = {}  # values past what a float holds exactly
        self._peers: dict[str, str] = {}

    def add(self, node: str, t: float, sample: Mapping[str, Any]) -> None:
        n = len(self.time)
        self.process.append(node)
        self.time.append(t)
        inbox = sample["inbox"]
        self.inbox.append(-1 if inbox is None else inbox)
        values, types = self.values, self.types
        for peer, row in sample["links"].items():
            if type(row) is not list or len(row) != 4 or not all(map(_plain, row)):
                continue
            self.row_of.append(n)
            self.peer.append(self._peers.setdefault(peer, peer))
            for v in row:
                kind = _TYPES[type(v)]
                if kind == _INT and not -_EXACT <= v <= _EXACT:
                    self.exact[len(values)] = v
                    values.append(0)
                else:
                    values.append(_NAN if kind == _NONE else v)
                types.append(kind)

    def columns(self, names: dict[str, int], t0: float | None, span: int) -> dict[str, Any]:
        """Process (a number of ``names``, which gains any new one), microseconds since
        ``t0``, inbox depth (-1: unknown), and ``[sample, peer, sent, retransmitted, srtt,
        rto]`` rows of the peer sessions that :func:`~netclock.tools.viz.kept_rows` keeps
        (``span``: the events' latest time); all empty without ``t0``."""
        if t0 is None:
            return {"p": [], "t": [], "inbox": [], "links": []}
        peers, processes = array("i"), array("i")
        row_of, peer, r = self.row_of, self.peer, 0
        for n, process in enumerate(self.process):  # names in order of appearance
            processes.append(names.setdefault(process, len(names)))
            end = bisect_right(row_of, n, r)  # the sample's rows: r to end
            peers.fromlist([names.setdefault(p, len(names)) for p in peer[r:end]])
            r = end
        micros = _micros_of(self.time, t0)
        span = max(span, max(micros, default=0))
        width = len(names)
        keys = (processes[n] * width + p for n, p in zip(row_of, peers, strict=True))
        kept = kept_rows(keys, map(micros.__getitem__, row_of), span)
        links = _Rows(self._rows(peers, array("i", kept)))
        return {"p": processes, "t": micros, "inbox": self.inbox, "links": links}

    def _rows(self, peers: array[int], kept: array[int]) -> Callable[[], Iterator[list[list[Any]]]]:
        row_of, values, types, exact = self.row_of, self.values, self.types, self.exact

        def chunks() -> Iterator[list[list[Any]]]:
            for start in range(0, len(kept), 4096):
                chunk = []
                for r in kept[start : start + 4096]:
                    row: list[Any] = [row_of[r], peers[r]]
                    for k in range(4 * r, 4 * r + 4):
                        kind = types[k]
                        v = values[k]
                        row.append(
                            v if kind == _FLOAT else None if kind == _NONE else exact.get(k, int(v))
                        )
                    chunk.append(row)
                yield chunk

        return chunks


def _not_event(where: str) -> str:
    return f"{where}: not an event, skipped"


class _Links:
    """Each link's messages by sequence number: an ``array`` per link (0: none yet,
    else the message's number + 1), a dict for numbers far past the rest."""

    def __init__(self, count: int) -> None:
        self.tables = [array("i") for _ in range(count)]
        self.far: dict[tuple[int, int], int] = {}

    def get(self, link: int, seq: int) -> int:
        table = self.tables[link]
        if seq < len(table):
            return table[seq] - 1
        return self.far.get((link, seq), 0) - 1

    def claim(self, link: int, seq: int, message: int) -> int:
        """The message numbered ``seq`` on ``link`` so far, or -1 after making it ``message``."""
        table = self.tables[link]
        if seq < len(table):
            if table[seq]:
                return table[seq] - 1
        elif (link, seq) in self.far:
            return self.far[(link, seq)] - 1
        elif seq >= len(table) + _SLACK:
            self.far[(link, seq)] = message + 1
            return -1
        else:
            table.extend(array("i", [0]) * (seq + 1 - len(table) + len(table) // 2))
        table[seq] = message + 1
        return -1


def _lane_entries(lane: _Lane) -> Iterator[tuple[int, int, int]]:
    """A lane's sends, deliveries and failures as ``(event in the lane, link, seq)``, in
    file order."""
    links, big = lane.links, lane.big
    seqs: Iterable[int] = links[2::3]
    if big:
        seqs = [big[i] if seq == _BIG else seq for i, seq in zip(links[0::3], seqs, strict=True)]
    return zip(links[0::3], links[1::3], seqs, strict=True)


def page_data(path: str | Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The page's data of a run folder or event log (``_page_data`` of the same run) and
    the run's summary; raises as :func:`netclock.tools.viz.build_model` does."""
    source = Path(path)
    kind, files, title, order = _sources(source)
    if kind != "events.jsonl":
        raise ValueError("page_data reads event logs; GoVector logs take the object path")
    reader = _Reader(order)
    for f in files:
        reader.read(f)
    lanes = [lane for lane in reader.lanes.values() if lane.kind]
    if not lanes:
        raise ConfigError(f"{source} holds no events; is the run folder or log file right?")
    first = array("i", [0])
    for lane in lanes:
        first.append(first[-1] + len(lane.kind))
    lane_of = {lane.name: p for p, lane in enumerate(lanes)}
    texts: dict[int, str] = {}
    for p, lane in enumerate(lanes):
        texts.update((first[p] + i, text) for i, text in lane.texts.items())
    messages = _Messages(reader, lanes, first, lane_of, texts)
    rank, broken = longest_chains(first, messages.edge_send, messages.edge_deliver)
    return _assemble(source, title, reader, lanes, first, messages, texts, rank, broken)


class _Messages:
    """The run's messages as columns: broadcasts first (one per delivering process), then
    every first send of a link's sequence number with its deliveries and ``failed`` event;
    the texts of sends and deliveries the page cannot make go to ``texts``."""

    def __init__(
        self,
        reader: _Reader,
        lanes: list[_Lane],
        first: Sequence[int],
        lane_of: dict[str, int],
        texts: dict[int, str],
    ) -> None:
        self.send = array("i")
        self.delivered = array("i")
        self.to = array("i")
        self.ids = _Chunks()  # runs of sequence numbers (array) and of whole ids (list)
        self.more: list[list[int]] = []
        self.failed: list[list[int]] = []
        self.unmatched: list[int] = []
        self.edge_send = array("i")
        self.edge_deliver = array("i")
        self._first = first
        self._broadcasts(lanes, first)
        self._by_id(reader, lanes, lane_of, texts)

    def add_id(self, mid: int | str) -> None:
        """Append a message's id: its sequence number, or the whole id (``mid``)."""
        numeric = type(mid) is int and mid < _BIG
        parts = self.ids
        if not parts or (type(parts[-1]) is array) != numeric:
            parts.append(array("q") if numeric else [])
        parts[-1].append(mid)

    def _lane(self, i: int) -> int:
        return bisect_right(self._first, i) - 1

    def _broadcasts(self, lanes: list[_Lane], first: Sequence[int]) -> None:
        sends: dict[tuple[str, str], int] = {}
        delivered: dict[tuple[str, str], list[int]] = {}
        for p, lane in enumerate(lanes):
            for i, ev, mid, bkind in lane.bcasts:
                if ev == "bcast":
                    sends.setdefault((mid, bkind), first[p] + i)
                else:
                    delivered.setdefault((mid, bkind), []).append(first[p] + i)
        for key, i in sends.items():
            p = self._lane(i)
            for j in delivered.pop(key, []):
                q = self._lane(j)
                if j == i + 1 and p == q:
                    continue  # the origin's own delivery, right after its broadcast
                self.edge_send.append(i)
                self.edge_deliver.append(j)
                self.send.append(i)
                self.delivered.append(j)
                self.to.append(q)
                self.add_id(f"{key[0]} ({key[1]})")

    def _by_id(
        self, reader: _Reader, lanes: list[_Lane], lane_of: dict[str, int], texts: dict[int, str]
    ) -> None:
        table = _Links(len(reader.links))
        known: list[bool] = []  # per message: the page can make its deliveries' texts
        failed: set[int] = set()
        base, first, links = len(self.send), self._first, reader.links
        for p, lane in enumerate(lanes):
            incs, k = lane.incs, 0  # incs[k]: the incarnation of the events from incs[k][0]
            change = incs[1][0] if len(incs) > 1 else _BIG  # where incs[k + 1] starts
            kinds = lane.kind
            for i, link, seq in _lane_entries(lane):
                if kinds[i] != _SEND:
                    continue
                while i >= change:
                    k += 1
                    change = incs[k + 1][0] if k + 1 < len(incs) else _BIG
                sender, inc, to = links[link]
                if table.claim(link, seq, len(self.send) - base) >= 0:
                    texts.setdefault(first[p] + i, f"send {sender}:{inc}:{seq} to {to}")
                    continue
                target = lane_of.get(to, -1) if to is not None else -1
                self.send.append(first[p] + i)
                self.delivered.append(-1)
                self.to.append(target)
                if target < 0:
                    texts.setdefault(first[p] + i, f"send {sender}:{inc}:{seq} to {to}")
                own = sender == lane.name
                self.add_id(seq if own and inc == incs[k][1] else f"{sender}:{inc}:{seq}")
                known.append(own and target >= 0)
        for p, lane in enumerate(lanes):
            kinds = lane.kind
            for i, link, seq in _lane_entries(lane):
                kind = kinds[i]
                if kind == _SEND:
                    continue
                m, e = table.get(link, seq), first[p] + i
                if kind == _FAILED:
                    if m >= 0 and base + m not in failed:
                        failed.add(base + m)
                        self.failed.append([base + m, e])
                    continue
                if m < 0:
                    self.unmatched.append(e)
                elif self.delivered[base + m] < 0:
                    self.delivered[base + m] = e
                else:
                    self.more.append([base + m, e])
                if m < 0 or not known[m]:
                    sender, inc, _ = links[link]
                    texts.setdefault(e, f"deliver {sender}:{inc}:{seq} from {sender}")
                if m >= 0:
                    self.edge_send.append(self.send[base + m])
                    self.edge_deliver.append(e)


def _assemble(
    source: Path,
    title: str,
    reader: _Reader,
    lanes: list[_Lane],
    first: array[int],
    msgs: _Messages,
    texts: dict[int, str],
    rank: array[int],
    broken: int,
) -> tuple[dict[str, Any], dict[str, int]]:
    """The page's columns (see :func:`netclock.tools.viz._page_data`) and the summary."""
    names = {lane.name: p for p, lane in enumerate(lanes)}
    remap = array("i", [0]) * len(reader.names)
    for name, number in reader.names.items():
        remap[number] = names.setdefault(name, len(names))
    columns = []
    for lane in lanes:
        column = lane.cv
        if isinstance(column, array):
            column[0::2] = array(column.typecode, map(remap.__getitem__, column[0::2]))
        else:
            column[0::2] = [remap[x] for x in column[0::2]]
        columns.append(column)
        lane.cv = array("i")
    cv = packed_changes(columns)
    del columns
    times = [min(filterfalse(isnan, lane.time), default=_NAN) for lane in lanes]
    times = [t for t in times if not isnan(t)]
    times += reader.samples.time
    t0 = min(times) if times else None
    started = _run_info(source).started if source.is_dir() else None
    if t0 is not None and started is not None and 0 <= t0 - started < _START_GAP:
        t0 = started  # times since the run's start, as the fault record's
    record = _fault_record(source, reader.notes)
    adversaries = load_adversaries(source) if source.is_dir() else None
    processes = [_process(lane, first[p], record, adversaries) for p, lane in enumerate(lanes)]
    micros, untimed, span = _micros(lanes, first, t0)
    rows = max(rank) + 1
    ranks = array("i", map(sub, rank, chain((0,), rank)))
    for p in range(len(lanes)):
        if first[p] < first[p + 1]:
            ranks[first[p]] = rank[first[p]]
    del rank
    incs = [[first[p] + i, inc] for p, lane in enumerate(lanes) for i, inc in lane.incs]
    samples = reader.samples.columns(names, t0, span)
    again = [first[p] + i for p, lane in enumerate(lanes) for i in lane.again]
    redelivered = set(again)
    count = [sum(lane.kind.count(code) for lane in lanes) for code in range(len(EVENT_KINDS))]
    delivered = sum(1 for d in msgs.delivered if d >= 0)
    summary = {
        "processes": len(processes),
        "events": first[-1],
        "messages": len(msgs.send),
        "delivered": delivered,
        # as the checker counts: handed back (failed) is not lost
        "lost": len(msgs.send)
        - delivered
        - sum(1 for m, _ in msgs.failed if msgs.delivered[m] < 0),
        "duplicates": sum(1 for _, d in msgs.more if d not in redelivered),
        "redelivered": len(again),
        "failed": len(msgs.failed),
        "dropped": count[_KIND_CODE["drop"]],
        "refused": count[_KIND_CODE["refused"]],
        "crashed": sum(1 for p in processes if p["crashed"]),
        "unmatched": len(msgs.unmatched),
        "inconsistent": broken,
        "skipped": len(reader.notes),
        "rows": rows,
    }
    data = {
        "samples": samples,
        "span": max([span, *samples["t"]]) / 1e6,
        "title": title,
        "source": "events.jsonl",
        "kinds": list(EVENT_KINDS),
        "names": list(names),
        "processes": processes,
        "first": first,
        "k": "".join(lane.kind.translate(_KIND_CHARS).decode("ascii") for lane in lanes),
        "r": ranks,
        "t0": t0,
        "t": micros if t0 is not None else None,
        "untimed": untimed,
        "inc": incs,
        "cn": "".join(_count_chars(lane.cn) for lane in lanes),
        "cv": cv,
        "ck": [[_mark(c, names) for c in lane.marks] for lane in lanes],
        "ckEvery": CLOCK_MARK,
        "text": texts,
        "waited": [[first[p] + i, w] for p, lane in enumerate(lanes) for i, w in lane.waited],
        "redelivered": again,
        "ms": array("i", map(sub, msgs.send, chain((0,), msgs.send))),
        "md": msgs.delivered,
        "mt": msgs.to,
        "mid": msgs.ids,
        "mx": msgs.more,
        "mf": msgs.failed,
        "unmatched": msgs.unmatched,
        "summary": summary,
    }
    return data, summary


_KIND_CHARS = bytes((_CODE_BASE + b) % 256 for b in range(256))


def _count_chars(counts: array[int]) -> str:
    if not counts or max(counts) < 128 - _CODE_BASE:
        return bytes(array("B", counts)).translate(_KIND_CHARS).decode("ascii")
    return "".join([chr(_CODE_BASE + c) for c in counts])


def _micros(
    lanes: list[_Lane], first: Sequence[int], t0: float | None
) -> tuple[array[int], list[int], int]:
    """Wall times as microseconds since ``t0``, each a difference from the lane's last
    timed event; the events without a time; the latest time."""
    micros, untimed, span = array("q"), list[int](), 0
    if t0 is None:
        return micros, untimed, span
    for p, lane in enumerate(lanes):
        times, lane.time = lane.time, array("d")  # read: the crashes were placed
        if not any(map(isnan, times)):
            try:
                us = array("q", map(round, map((1e6).__mul__, map((-t0).__add__, times))))
                micros += array("q", map(sub, us, chain((0,), us)))
            except OverflowError:  # a forged time too far out: the careful way below
                pass
            else:
                top = max(us, default=0)
                span = max(span, top)
                continue
        last = 0
        for i, t in enumerate(times):
            us_f = (t - t0) * 1e6
            if isnan(t) or not -_FAR_US <= us_f <= _FAR_US:  # no time, or a forged one
                untimed.append(first[p] + i)
                micros.append(0)
                continue
            now = round(us_f)
            micros.append(now - last)
            last = now
            span = max(span, now)
    return micros, untimed, span


def _process(lane: _Lane, first: int, record: FaultRecord | None, adversaries: Any) -> VizProcess:
    pid = lane.name
    crashes = [] if record is None else _crashes(record, pid, lane.time, first)
    return VizProcess(
        id=pid,
        events=len(lane.kind),
        crashed=bool(crashes),
        incarnations=sorted({inc for _, inc in lane.incs if inc is not None}),
        crashes=crashes,
        restarts=[]
        if record is None
        else [x.start_at for x in record.lives.get(pid, ()) if x.restart],
        role=role_of(adversaries, pid),
        suspicions=_suspicions((first + i, kind, peer) for i, kind, peer in lane.suspects),
        host=lane.host,
    )
