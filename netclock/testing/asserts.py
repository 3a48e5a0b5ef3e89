"""Assertions over a run's event log, judged by the checker (:mod:`netclock.tools.check`).

Each takes a run folder (or a :class:`~netclock.testing.ClusterResult`), raises
AssertionError when the property does not hold, and returns the checker's report when it
does. A failure says which messages broke the property (the checker's examples, with
``file:line``), how many did, the fault seed and where the run folder is. A property is
asserted whatever the run's link promises: asserting exactly-once on a fair-loss run with
loss fails, as it should. Nodes the run killed are judged by the fault record (the ground
truth the run wrote): a message lost because its sender or receiver was killed is not owed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from netclock.clock import VectorClock
from netclock.observe.eventlog import Event
from netclock.testing.cluster import ClusterResult
from netclock.tools.check import Report, Run, Status, check_run, load_run

__all__ = [
    "assert_causal_order",
    "assert_exactly_once",
    "assert_fifo",
    "assert_happened_before",
    "find_event",
]

RunSource = ClusterResult | str | Path
EventRef = str | Callable[[Event], bool]
"""The text of a local event (``node.log_local_event(text)``), or a predicate over events."""

EXACTLY_ONCE = ("no_creation", "no_duplication", "reliable_delivery")


def _load(run: RunSource) -> tuple[Run, Path]:
    folder = run.run_dir if isinstance(run, ClusterResult) else Path(run)
    return load_run(folder), folder


def _where(report: Report, folder: Path) -> str:
    seed = "" if report.seed is None else f", fault seed {report.seed}"
    return f"run folder {folder}{seed} (viewer: {folder / 'viewer.html'})"


def _assert_properties(run: RunSource, what: str, names: tuple[str, ...]) -> Report:
    """Raise AssertionError naming every broken property of ``names`` and its examples."""
    if isinstance(run, ClusterResult):
        report, folder = run.report, run.run_dir
    else:
        loaded, folder = _load(run)
        report = check_run(loaded)
    lines = []
    for name in names:
        result = report.result(name)
        if result.status is Status.NOT_CHECKED:
            lines.append(f"  {name}: cannot be checked: {result.summary}")
        elif result.count:
            lines.append(f"  {name}: {result.summary}")
            lines += [f"    - {example}" for example in result.examples]
            if result.count > len(result.examples):
                lines.append(f"    ... {result.count - len(result.examples)} more")
    if lines:
        where = _where(report, folder)
        raise AssertionError(f"{what} does not hold in {where}:\n" + "\n".join(lines))
    return report


def assert_exactly_once(run: RunSource) -> Report:
    """Every message owed was delivered exactly once, and no delivery was made up.

    Exactly-once is the checker's no creation, no duplication and reliable delivery
    together (a message handed back to its sender as failed counts as accounted for).
    """
    return _assert_properties(run, "exactly-once delivery", EXACTLY_ONCE)


def assert_fifo(run: RunSource) -> Report:
    """Every receiver delivered each sender's messages in the order they were sent."""
    return _assert_properties(run, "FIFO order", ("fifo",))


def assert_causal_order(run: RunSource) -> Report:
    """No delivery overtook a message whose send happened before its own (vector clocks).

    Fails, saying so, when a restarted node's clock started again at 1: its clock entries
    are then ambiguous and the checker cannot judge causal order.
    """
    return _assert_properties(run, "causal order", ("causal_order",))


def find_event(run: RunSource, ref: EventRef) -> Event:
    """The one event of the run that ``ref`` names; AssertionError if none or several do."""
    loaded, folder = _load(run)
    return _find(loaded, folder, ref)


def _find(run: Run, folder: Path, ref: EventRef) -> Event:
    matches = _local_event(ref) if isinstance(ref, str) else ref
    if isinstance(ref, str):
        what = f"local event {ref!r}"
    else:
        what = f"an event matching {getattr(ref, '__name__', repr(ref))}"
    found = [e for incs in run.nodes.values() for inc in incs for e in inc.events if matches(e)]
    if len(found) != 1:
        places = ", ".join(e.where for e in found[:5])
        count = "no event" if not found else f"{len(found)} events ({places})"
        raise AssertionError(f"{what}: {count} in run folder {folder}; name exactly one")
    return found[0]


def _local_event(text: str) -> Callable[[Event], bool]:
    def matches(e: Event) -> bool:
        return e.ev == "local" and e.text == text

    return matches


def assert_happened_before(run: RunSource, a: EventRef, b: EventRef) -> tuple[Event, Event]:
    """Event ``a`` happened before event ``b`` (Lamport's relation, by their vector clocks).

    ``a`` and ``b`` are local event texts or predicates over :class:`Event`, each naming
    exactly one event of the run. Returns both events.
    """
    loaded, folder = _load(run)
    first, second = _find(loaded, folder, a), _find(loaded, folder, b)
    before = VectorClock(first.clock)
    after = VectorClock(second.clock)
    if before.happens_before(after):
        return first, second
    relation = (
        "the second happened before the first"
        if after.happens_before(before)
        else "the same event"
        if first == second
        else "they are concurrent"
    )
    raise AssertionError(
        f"{_describe(first)} did not happen before {_describe(second)}: {relation}; "
        f"run folder {folder}"
    )


def _describe(e: Event) -> str:
    clock = "{" + ", ".join(f"{k}:{v}" for k, v in sorted(e.clock.items())) + "}"
    detail = f" {e.text!r}" if e.text else "" if e.mid is None else f" {':'.join(map(str, e.mid))}"
    return f"{e.node}'s {e.ev}{detail} at {e.where} (clock {clock})"
