"""Rate-limited log lines: what an attacker's flood of bad input may write to the log.

A link logs each refusal (a bad connection, a failed handshake) so an operator sees it;
under a flood that would be hundreds of thousands of lines. :class:`LogLimiter` lets at
most ``per_second`` lines through in any one-second window and counts the rest; the next
line that passes says how many were suppressed, and :meth:`LogLimiter.flush` reports what
is still owed (a link calls it when it closes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["LogLimiter"]


class LogLimiter:
    """At most ``per_second`` lines per one-second window through ``logger``."""

    def __init__(
        self,
        logger: logging.Logger,
        per_second: int = 20,
        clock: Callable[[], float] = time.monotonic,
        *,
        name: str = "",
    ) -> None:
        self.logger = logger
        self.name = name
        """Who suppressed the lines (a node id), for :meth:`flush`'s line."""
        self.per_second = per_second
        self.suppressed = 0
        """Lines suppressed in all, since the start."""
        self._clock = clock
        self._owed = 0
        self._window = float("-inf")
        self._lines = 0

    def log(self, level: int, msg: str, *args: Any) -> None:
        """Log like ``logger.log``, unless this window's lines are used up (then count it)."""
        if not self.logger.isEnabledFor(level):
            return
        now = self._clock()
        if now - self._window >= 1.0:
            self._window = now
            self._lines = 0
        if self._lines >= self.per_second:
            self._owed += 1
            self.suppressed += 1
            return
        self._lines += 1
        if self._owed:
            msg += " (and %d similar lines suppressed)"
            args = (*args, self._owed)
            self._owed = 0
        self.logger.log(level, msg, *args)

    def flush(self) -> None:
        """Report the suppressed lines no later line has reported yet."""
        if self._owed:
            self.logger.warning("%s: %d similar lines suppressed", self.name, self._owed)
            self._owed = 0
