"""Shared fixtures: every test is bounded in time, nodes bind port 0."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from netclock import Node

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
async def make_nodes() -> AsyncIterator[Callable[..., Any]]:
    """Start connected nodes on 127.0.0.1 port 0: ``a, b = await make_nodes("a", "b")``."""
    async with AsyncExitStack() as stack:

        async def make(*ids: str, **options: Any) -> list[Node]:
            nodes = [await stack.enter_async_context(Node(i, **options)) for i in ids]
            for node in nodes:
                for other in nodes:
                    if other is not node:
                        node.add_peer(other.id, other.address)
            return nodes

        yield make


@pytest.fixture
def python() -> str:
    """The interpreter running the tests (child processes use the same one)."""
    return sys.executable
