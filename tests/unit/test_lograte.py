"""LogLimiter: at most N lines per one-second window, the rest counted and reported."""

from __future__ import annotations

import logging

import pytest

from netclock.links.lograte import LogLimiter


def test_a_flood_passes_n_lines_per_window_and_reports_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    limiter = LogLimiter(logging.getLogger("t.lograte"), 3, lambda: now[0], name="c")
    with caplog.at_level(logging.INFO, "t.lograte"):
        for i in range(10):
            limiter.log(logging.WARNING, "refused %d", i)
        assert [r.getMessage() for r in caplog.records] == ["refused 0", "refused 1", "refused 2"]
        now[0] = 0.99
        limiter.log(logging.WARNING, "refused %d", 10)
        assert len(caplog.records) == 3
        now[0] = 1.0
        limiter.log(logging.INFO, "evicted %d", 11)
        assert caplog.records[-1].getMessage() == "evicted 11 (and 8 similar lines suppressed)"
        assert limiter.suppressed == 8
        for i in range(5):
            limiter.log(logging.WARNING, "refused %d", i)
        limiter.flush()
        limiter.flush()
        assert caplog.records[-1].getMessage() == "c: 3 similar lines suppressed"
        assert len(caplog.records) == 3 + 3 + 1


def test_a_disabled_level_costs_nothing_and_counts_nothing() -> None:
    logger = logging.getLogger("t.lograte.quiet")
    logger.setLevel(logging.ERROR)
    limiter = LogLimiter(logger, 1)
    for _ in range(100):
        limiter.log(logging.WARNING, "x")
    assert limiter.suppressed == 0
