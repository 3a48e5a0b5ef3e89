"""Shared fixtures: every test is bounded in time, nodes bind port 0."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

pytest_plugins = ["netclock.testing.plugin"]  # also when plugin autoloading is off

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

H = TypeVar("H", bound=logging.Handler)


NO_SKIPS = os.environ.get("NETCLOCK_NO_SKIPS") == "1"
"""Set by .ci/run: CI installs every real component (Chromium, SLURM, iproute2), so a test
that skips there has lost one and fails instead."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under ``NETCLOCK_NO_SKIPS=1`` a skipped test is reported as failed, with its reason."""
    outcome = yield
    report = outcome.get_result()
    if NO_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under NETCLOCK_NO_SKIPS=1 (CI must not skip): {reason}"


@pytest.fixture
def capture_logs() -> Iterator[Callable[[H, str], H]]:
    """``attach(handler, logger_name)``: the handler sees that logger at DEBUG for this test;
    the logger's handlers and level are restored after it."""
    attached: list[tuple[logging.Logger, logging.Handler, int]] = []

    def attach(handler: H, name: str) -> H:
        logger = logging.getLogger(name)
        attached.append((logger, handler, logger.level))
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        return handler

    yield attach
    for logger, handler, level in reversed(attached):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def make_nodes(netclock_nodes: Callable[..., Any]) -> Callable[..., Any]:
    """Start connected nodes on 127.0.0.1 port 0: ``a, b = await make_nodes("a", "b")``.

    The plugin's ``netclock_nodes`` (netclock.testing), under the name these tests use.
    """
    return netclock_nodes


@pytest.fixture
def python() -> str:
    """The interpreter running the tests (child processes use the same one)."""
    return sys.executable
