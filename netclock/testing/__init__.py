"""netclock for test suites: run clusters from Python, a pytest plugin, assertions over runs.

:func:`start_cluster` runs a cluster (one OS process per node) as an async context
manager; the assertion helpers judge a run folder's event log with the checker;
:class:`TestCA` issues node certificates for the ``tls`` and ``sealed`` links. The pytest plugin
(:mod:`netclock.testing.plugin`, installed as a pytest11 entry point) gives
fixtures built on them. docs/testing.md lists everything with an example.
"""

from netclock.observe.eventlog import Event
from netclock.testing.asserts import (
    assert_causal_order,
    assert_exactly_once,
    assert_fifo,
    assert_happened_before,
    find_event,
)
from netclock.testing.ca import TestCA
from netclock.testing.cluster import (
    ClusterResult,
    ClusterRun,
    NodeHandle,
    NodeOutcome,
    start_cluster,
)

__all__ = [
    "ClusterResult",
    "ClusterRun",
    "Event",
    "NodeHandle",
    "NodeOutcome",
    "TestCA",
    "assert_causal_order",
    "assert_exactly_once",
    "assert_fifo",
    "assert_happened_before",
    "find_event",
    "start_cluster",
]
