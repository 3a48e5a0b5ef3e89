"""Shared fixtures: every test is bounded in time, nodes bind port 0."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import pytest

pytest_plugins = ["netclock.testing.plugin"]  # also when plugin autoloading is off

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
