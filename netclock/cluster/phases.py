"""Where a node process's start goes: wall-clock marks from its fork to its READY.

A node process marks each step of its start once (:func:`mark`): ``fork`` (a child of the
fork server begins), ``main`` (``netclock node`` begins, after the imports), ``parsed`` (the
cluster file is read), ``node`` (its Node is made: program loaded, data directory opened),
``bound`` (its socket is bound). Its READY line carries them (:func:`marks`) and the
launcher writes them, relative to the run's start, into the ``start`` record of
``faults.jsonl`` beside its own (``server``: the fork server is ready; ``spawned``: this
process was forked), which ``netclock bench --scenario scale`` reads back.

One small dict per process start; nothing per message.
"""

from __future__ import annotations

import time

_marks: dict[str, float] = {}


def mark(step: str) -> None:
    """Note that ``step`` of this process's start is done now (the first time only)."""
    _marks.setdefault(step, time.time())


def marks() -> dict[str, float]:
    """The steps marked so far, each with its ``time.time()``."""
    return dict(_marks)


def reset() -> None:
    """Forget every mark (a forked child starts its own record)."""
    _marks.clear()


def relative(steps: dict[str, object], epoch: float) -> dict[str, float]:
    """``steps`` as seconds since ``epoch`` (what is not a number is dropped)."""
    return {
        name: round(float(t) - epoch, 4)
        for name, t in steps.items()
        if isinstance(t, int | float) and not isinstance(t, bool)
    }
