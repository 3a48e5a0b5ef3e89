"""The failure detectors of a run, judged against the launcher's ground truth.

A node whose ``init`` line names a detector logged ``suspect``/``restore``/``leader``/
``violation`` events; ``faults.jsonl`` says who was really killed or paused, and when.
:func:`summarize` measures the run (detection times, false suspicions, timeouts reached,
leaders) and :func:`detector_properties` turns it into the checker's properties:

- ``strong_completeness`` (P, ◇P, Ω): every node killed for good is suspected, at the
  end, by every correct node that runs a detector;
- ``strong_accuracy`` (P; promised only under the synchronous model): no node is suspected
  before it was killed; a suspicion in a run where the host broke the model (a
  ``violation`` event) is reported, not counted;
- ``eventual_strong_accuracy`` (◇P, Ω): at the end no correct node suspects a correct one;
- ``eventual_agreement`` (Ω): every correct node's last leader is the same correct node.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from netclock.observe.eventlog import Event
from netclock.tools.check import PropertyResult, Run, Status

__all__ = ["DetectorSummary", "detector_properties", "detector_table", "summarize"]

SYMBOLS = {"perfect": "P", "eventually_perfect": "◇P", "eventual_leader": "Ω"}


@dataclass
class DetectorSummary:
    """What the detectors of one run did; times in seconds since the run's first event."""

    kind: str
    timing: str
    delta: float | None
    gst: float | None
    period: float
    watchers: list[str]
    killed: dict[str, float] = field(default_factory=dict)
    """Nodes killed for good, and when."""
    paused: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    detection: dict[tuple[str, str], float | None] = field(default_factory=dict)
    """(watcher, killed node) -> seconds from the kill to the suspicion (None: never)."""
    false: list[tuple[str, str, float, bool]] = field(default_factory=list)
    """(watcher, suspected node, time, during a pause of either) for each live node
    suspected."""
    still_suspected: list[tuple[str, str]] = field(default_factory=list)
    """(watcher, correct node) still suspected at the end."""
    missed: list[tuple[str, str]] = field(default_factory=list)
    """(watcher, killed node) not suspected at the end."""
    timeouts: dict[str, float] = field(default_factory=dict)
    """Each watcher's largest timeout reached."""
    leaders: dict[str, str] = field(default_factory=dict)
    """Each watcher's last leader (Ω)."""
    leader_since: dict[str, float] = field(default_factory=dict)
    """When each watcher's last leader became its leader (Ω): the leader is stable from the
    latest of these on."""
    violations: int = 0
    heartbeats: dict[str, float] = field(default_factory=dict)

    @property
    def symbol(self) -> str:
        return SYMBOLS.get(self.kind, self.kind)


def summarize(run: Run) -> DetectorSummary | None:
    """The detectors of ``run`` measured against its fault record (None: no detector ran)."""
    events: dict[str, list[Event]] = {}
    starts: list[float] = []
    config: dict[str, Any] | None = None
    for node, incs in run.nodes.items():
        for inc in incs:
            init = inc.init
            if init is not None and init.detector is not None:
                config = dict(init.detector)
                events.setdefault(node, []).extend(inc.held)
                first = inc.first_t
                if first is not None:
                    starts.append(first)
    if config is None:
        return None
    t0 = min(starts) if starts else 0.0
    killed: dict[str, float] = {}
    paused: dict[str, tuple[float, float | None]] = {}
    if run.faults is not None:
        for node, lives in run.faults.lives.items():
            last = lives[-1] if lives else None
            if last is not None and last.crashed and last.end is not None:
                killed[node] = last.end - t0
        for entry in run.faults.entries:
            if entry.do == "pause" and entry.node is not None:
                paused[entry.node] = (entry.t - t0, None)
            elif entry.do == "resume" and entry.node in paused:
                paused[entry.node] = (paused[entry.node][0], entry.t - t0)
    summary = DetectorSummary(
        kind=str(config.get("kind")),
        timing=str(config.get("timing")),
        delta=config.get("delta"),
        gst=config.get("gst"),
        period=float(config.get("period") or 0.0),
        watchers=sorted(n for n in events if n not in killed),
        killed=killed,
        paused=paused,
    )
    for watcher in summary.watchers:
        _watch(summary, watcher, events[watcher], t0)
    return summary


def _watch(summary: DetectorSummary, watcher: str, events: Iterable[Event], t0: float) -> None:
    state: dict[str, bool] = {}
    for e in events:
        if e.t is None:
            continue
        t = e.t - t0
        if e.ev == "suspect" and e.peer is not None:
            state[e.peer] = True
            kill = summary.killed.get(e.peer)
            if kill is not None and t >= kill:
                summary.detection.setdefault((watcher, e.peer), t - kill)
            else:
                during = _paused(summary, e.peer, t) or _paused(summary, watcher, t)
                summary.false.append((watcher, e.peer, t, during))
        elif e.ev == "restore" and e.peer is not None:
            state[e.peer] = False
        elif e.ev == "leader" and e.peer is not None:
            summary.leaders[watcher] = e.peer
            summary.leader_since[watcher] = t
        elif e.ev == "violation":
            summary.violations += 1
        if e.value is not None and e.ev in ("suspect", "restore"):
            summary.timeouts[watcher] = max(summary.timeouts.get(watcher, 0.0), e.value)
    for node in summary.killed:
        if node != watcher and not state.get(node, False):
            summary.missed.append((watcher, node))
            summary.detection.setdefault((watcher, node), None)
    for node, suspected in state.items():
        if suspected and node not in summary.killed:
            summary.still_suspected.append((watcher, node))


def _paused(summary: DetectorSummary, node: str, t: float) -> bool:
    """True when ``node`` was paused at ``t`` or resumed less than a second before."""
    pause = summary.paused.get(node)
    return pause is not None and pause[0] <= t <= (pause[1] or float("inf")) + 1.0


def detector_properties(run: Run) -> list[PropertyResult]:
    """The detector properties of ``run`` (none when no node ran a detector)."""
    s = summarize(run)
    if s is None:
        return []
    out = [
        _property(
            "strong_completeness",
            True,
            [f"{w} never suspected {n}, killed at {s.killed[n]:.2f} s" for w, n in s.missed],
            "every node killed for good is suspected by every correct node",
        )
    ]
    if s.kind == "perfect":
        mistakes = [f"{w} suspected live {n} at {t:.2f} s" for w, n, t, _ in s.false]
        promised = s.timing == "synchronous" and not s.violations
        text = "no node suspected before it crashed"
        if s.violations and mistakes:
            text += f" (mistakes excused: the host broke synchrony {s.violations} time(s))"
        out.append(_property("strong_accuracy", promised, mistakes, text))
    else:
        out.append(
            _property(
                "eventual_strong_accuracy",
                True,
                [f"{w} still suspects correct {n} at the end" for w, n in s.still_suspected],
                "no correct node is suspected at the end",
            )
        )
    if s.kind == "eventual_leader":
        live = [w for w in s.watchers if w in s.leaders]
        chosen = {s.leaders[w] for w in live}
        bad = []
        if len(chosen) > 1:
            bad.append("last leaders differ: " + ", ".join(f"{w}->{s.leaders[w]}" for w in live))
        bad += [
            f"{w} settled on {s.leaders[w]}, which was killed"
            for w in live
            if s.leaders[w] in s.killed
        ]
        out.append(
            _property(
                "eventual_agreement", True, bad, "every correct node settles on one correct leader"
            )
        )
    return out


def _property(name: str, promised: bool, bad: Sequence[str], ok_text: str) -> PropertyResult:
    if bad:
        status = Status.VIOLATED if promised else Status.DOES_NOT_HOLD
        return PropertyResult(
            name, promised, status, len(bad), f"{len(bad)} mistake(s)", tuple(bad[:3])
        )
    return PropertyResult(name, promised, Status.OK if promised else Status.HOLDS, 0, ok_text)


def _when(t: float, gst: float | None) -> str:
    """``t`` (seconds since the run's first event) as ``1.23 s``, or ``GST+0.12 s``."""
    return f"{t:.2f} s" if gst is None else f"GST{t - gst:+.2f} s"


def detector_table(rows: Sequence[tuple[str, DetectorSummary]]) -> str:
    """One line per run: timing model, detector, detection, false suspicions, timeouts, leader."""
    head = (
        f"{'timing':<12} {'det':<3} {'crash detected after':<22} {'false (pause)':>13} "
        f"{'last mistake':>13} {'max timeout':>12}  {'stable leader':<18} violations"
    )
    lines = [head]
    for _, s in rows:
        times = [d for d in s.detection.values() if d is not None]
        detected = (f"{min(times):.2f}..{max(times):.2f} s" if times else "never") + (
            "" if not any(d is None for d in s.detection.values()) else " (missed)"
        )
        last = max((t for _, _, t, _ in s.false), default=None)
        last_text = "-" if last is None else _when(last, s.gst)
        timeout = max(s.timeouts.values(), default=0.0)
        in_pause = sum(1 for *_, during in s.false if during)
        false_text = f"{len(s.false)} ({in_pause})"
        leaders = ",".join(sorted(set(s.leaders.values()))) or "-"
        if s.leader_since:
            stable = max(s.leader_since.values())
            leaders += f" from {_when(stable, s.gst)}"
        lines.append(
            f"{s.timing:<12} {s.symbol:<3} {detected:<22} {false_text:>13} "
            f"{last_text:>13} {timeout:>10.2f} s  {leaders:<18} {s.violations}"
        )
    return "\n".join(lines)
