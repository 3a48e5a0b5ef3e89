"""Test-only crash points: a process that kills itself with SIGKILL at a named moment.

``NETCLOCK_CRASH_AT="POINT:N"`` in a node's environment makes the ``N``-th time the
process reaches ``POINT`` a real ``kill -9`` of itself (``os.kill(os.getpid(), SIGKILL)``:
no handler, no flush, no ``finally``), so a test can kill a node at a moment no outside
signal can hit reliably. Unset (always, outside tests), nothing is checked on any path: a
:class:`~netclock.links.journal.LinkJournal` asks :func:`armed` once when it opens.

Points (docs/durability.md):

``in-written``
    A segment's ``in`` records are in the OS; its ack has not left and the application has
    not had its messages (the logged link's "between the durable write and the ack").
``consumed``
    The application asked for another message (or acked one); the ``consumed`` record of
    what it had is not written yet, long after that message's ack left ("between the ack
    and the application's consumption").
"""

from __future__ import annotations

import os
import signal

from netclock.errors import ConfigError

ENV = "NETCLOCK_CRASH_AT"
POINTS = ("in-written", "consumed")


class CrashPoint:
    """An armed crash point: :meth:`reached` kills the process on the ``count``-th call."""

    __slots__ = ("left", "point")

    def __init__(self, point: str, count: int) -> None:
        self.point = point
        self.left = count

    def reached(self) -> None:
        """One more arrival at the point; the ``count``-th is a SIGKILL of this process."""
        self.left -= 1
        if self.left <= 0:
            os.kill(os.getpid(), signal.SIGKILL)


def armed(point: str) -> CrashPoint | None:
    """The crash point ``NETCLOCK_CRASH_AT`` arms at ``point``, or None.

    Raises ConfigError when the variable is set but not ``POINT:N`` with a known point and
    a positive count.
    """
    value = os.environ.get(ENV)
    if not value:
        return None
    name, _, count = value.partition(":")
    if name not in POINTS or not count.isdigit() or int(count) < 1:
        raise ConfigError(
            f"{ENV}={value!r} is not POINT:N; use one of {', '.join(POINTS)} and a count "
            "from 1 (the N-th arrival kills the process), or unset it"
        )
    return CrashPoint(name, int(count)) if name == point else None
