"""netclock for test suites: run clusters from Python, a pytest plugin, assertions over runs.

:func:`start_cluster` runs a cluster (one OS process per node) as an async context
manager; the assertion helpers judge a run folder's event log with the checker. The pytest
plugin (:mod:`netclock.testing.plugin`, installed as the ``netclock`` pytest11 entry point)
gives fixtures built on both. docs/testing.md lists everything with an example.
"""

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
    "NodeHandle",
    "NodeOutcome",
    "start_cluster",
]
