"""A stop while nodes are still being forked: the fork server closes under its requests.

SIGTERM or Ctrl-C can reach the launcher while it forks 64 nodes; :meth:`ForkServer.close`
then closes the socket the pending requests use. Each request must end in an ``OSError``
(or its process), and nothing may be left for asyncio to report as an exception never
retrieved (a traceback on the user's terminal).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from netclock.cluster.forkserver import ForkedProcess, ForkServer, supported

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not supported(), reason="this system has no fork server"),
]


async def _close_while_forking() -> tuple[list[object], list[dict[str, Any]]]:
    unhandled: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: unhandled.append(context))
    server = ForkServer()
    await server.start([])
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        spawns = [
            asyncio.ensure_future(server.spawn(["--version"], devnull, 1 << 16)) for _ in range(16)
        ]
        await asyncio.sleep(0)  # the first requests are on their way
        await server.close()
        outcomes = await asyncio.gather(*spawns, return_exceptions=True)
    finally:
        os.close(devnull)
    for outcome in outcomes:
        if isinstance(outcome, ForkedProcess):
            await outcome.wait()
    # the server's own tasks (its answer reader) must end, and without an exception that
    # nobody would retrieve; waiting does not retrieve it, so it is seen here
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    if others:
        await asyncio.wait(others, timeout=10)
    for task in others:
        assert task.done(), f"{task} still runs"
        if not task.cancelled() and task.exception() is not None:
            unhandled.append({"task": task, "exception": task.exception()})
    return outcomes, unhandled


def test_closing_the_fork_server_under_pending_spawns_fails_them_cleanly() -> None:
    outcomes, unhandled = asyncio.run(_close_while_forking())
    assert all(isinstance(o, ForkedProcess | OSError) for o in outcomes), outcomes
    assert any(isinstance(o, OSError) for o in outcomes), "the close came after every fork"
    assert unhandled == []
