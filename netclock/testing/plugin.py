"""netclock's pytest plugin: fixtures for testing distributed code over loopback.

Installed with netclock as a ``pytest11`` entry point named after this module (so listing
it in ``pytest_plugins`` too is harmless; ``-p no:netclock.testing.plugin`` turns it off).
It adds fixtures only, and ``--netclock-seed N`` to replay a test's faults. Fixtures
(docs/testing.md):

- ``netclock_seed``: this test's fault seed (``--netclock-seed``, else a fresh one);
  printed in the report of a failing test with the command that replays it.
- ``netclock_faults``: ``netclock_faults(loss=0.1, ...)`` is a FaultPlan with that seed.
- ``netclock_cluster``: ``run = await netclock_cluster(source, **options)`` starts a
  cluster (:func:`~netclock.testing.start_cluster`, seeded with ``netclock_seed``, run
  folder under ``tmp_path``); every run is stopped when the test ends, pass or fail.
- ``netclock_nodes``: ``a, b = await netclock_nodes("a", "b", **node_options)`` starts
  in-process nodes on 127.0.0.1, port 0, each knowing the others; closed when the test ends.
- ``netclock_ca`` (session): a test CA; ``netclock_ca.issue("a", "b")`` returns a
  ``cert_dir`` holding certificates for those nodes (``link="tls"``).

The async fixtures need pytest-asyncio (strict or auto mode); without it they are absent.
"""

from __future__ import annotations

import argparse
import random
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from netclock.cluster.config import load_cluster
from netclock.errors import ConfigError
from netclock.faults.config import parse_seed
from netclock.faults.plan import FaultPlan
from netclock.node import Node
from netclock.observe.eventlog import EVENT_SUFFIX
from netclock.testing.ca import TestCA
from netclock.testing.cluster import ClusterRun, ClusterSource, start_cluster

_async_fixture: Callable[..., Any] | None
try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # the async fixtures need it; the rest works without
    _async_fixture = None

SEED_OPTION = "--netclock-seed"


@dataclass
class _TestRecord:
    """What one test used: its fault seed and its cluster runs (for the failure report)."""

    seed: int | None = None
    runs: list[ClusterRun] = field(default_factory=list)


_RECORD = pytest.StashKey[_TestRecord]()


def _record(item: pytest.Item) -> _TestRecord:
    record = item.stash.get(_RECORD, None)
    if record is None:
        record = item.stash[_RECORD] = _TestRecord()
    return record


def _seed_type(text: str) -> int:
    try:
        return parse_seed(text, SEED_OPTION)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--netclock-seed N``: the fault seed of every test (to replay a failure)."""
    group = parser.getgroup("netclock", "netclock fault seeds")
    group.addoption(
        SEED_OPTION,
        dest="netclock_seed",
        type=_seed_type,
        default=None,
        metavar="N",
        help="fault seed for every test using netclock_seed (default: a fresh one per test)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test's report gets a ``netclock`` section: its seed and run folders."""
    report = yield
    record = item.stash.get(_RECORD, None)
    if record is not None and report.failed:
        report.sections.append(("netclock", _report_text(item, record)))
    return report


def _report_text(item: pytest.Item, record: _TestRecord) -> str:
    lines = []
    if record.seed is not None:
        replay = f"pytest {SEED_OPTION} {record.seed} {shlex.quote(item.nodeid)}"
        lines.append(f"fault seed {record.seed} (replay: {replay})")
    for run in record.runs:
        lines.append(f"run folder {run.run_dir} (viewer: {run.run_dir / 'viewer.html'})")
    return "\n".join(lines)


@pytest.fixture
def netclock_seed(request: pytest.FixtureRequest) -> int:
    """This test's fault seed: ``--netclock-seed`` if given, else a fresh random one."""
    seed = request.config.getoption("netclock_seed")
    if seed is None:
        seed = random.SystemRandom().randrange(2**32)
    _record(request.node).seed = seed
    return int(seed)


@pytest.fixture
def netclock_faults(netclock_seed: int) -> Callable[..., FaultPlan]:
    """``netclock_faults(loss=0.1, ...)``: a FaultPlan seeded with ``netclock_seed``."""

    def make(**fields: Any) -> FaultPlan:
        if "seed" in fields:
            raise ConfigError("netclock_faults takes its seed from netclock_seed; leave out seed")
        return FaultPlan(seed=netclock_seed, **fields)

    return make


@pytest.fixture(scope="session")
def netclock_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A cluster CA for the session; ``netclock_ca.issue("a", "b")`` is a ``cert_dir``."""
    return TestCA(tmp_path_factory.mktemp("netclock-ca"))


if _async_fixture is not None:

    @_async_fixture
    async def netclock_cluster(
        request: pytest.FixtureRequest, tmp_path: Path
    ) -> AsyncIterator[Callable[..., Awaitable[ClusterRun]]]:
        """``run = await netclock_cluster(source, **options)``: a started cluster run.

        Options are :func:`~netclock.testing.start_cluster`'s; ``seed`` defaults to
        ``netclock_seed`` when the run has faults, and ``run_dir`` to ``tmp_path /
        "run-N"``. Every run is stopped when the test ends, whether it passed, failed or
        was cancelled, and its run folder gets the checker's verdict (printed),
        ``merged.log`` and ``viewer.html``.
        """
        record = _record(request.node)
        async with AsyncExitStack() as stack:

            async def start(source: ClusterSource, **options: Any) -> ClusterRun:
                options.setdefault("run_dir", tmp_path / f"run-{len(record.runs) + 1}")
                if "seed" not in options and _has_faults(source, options):
                    options["seed"] = request.getfixturevalue("netclock_seed")
                run = start_cluster(source, **options)
                record.runs.append(run)
                await run.start()
                stack.push_async_callback(_finish, run)
                return run

            yield start

    def _has_faults(source: ClusterSource, options: Mapping[str, Any]) -> bool:
        if options.get("faults") is not None:
            return True
        if isinstance(source, Mapping):
            return source.get("faults") is not None
        return load_cluster(source).faults is not None

    async def _finish(run: ClusterRun) -> None:
        """Stop ``run`` and write its verdict and viewer; it is stopped even if that fails."""
        try:
            await run.stop()
        finally:
            await run.close()

    @_async_fixture
    async def netclock_nodes() -> AsyncIterator[Callable[..., Awaitable[list[Node]]]]:
        """``a, b = await netclock_nodes("a", "b", **node_options)``: started, connected nodes.

        Each binds 127.0.0.1 port 0 (unless ``address`` says otherwise) and knows the
        others of the same call; all are closed when the test ends. ``log_dir=folder``
        gives each node its event log and GoVector log there (``a.events.jsonl``,
        ``a.log``), a folder the assertion helpers can judge.
        """
        async with AsyncExitStack() as stack:

            async def make(*ids: str, log_dir: Path | None = None, **options: Any) -> list[Node]:
                nodes = []
                for i in ids:
                    if log_dir is not None:
                        options["event_log"] = log_dir / f"{i}{EVENT_SUFFIX}"
                        options["govector_log"] = log_dir / f"{i}.log"
                    nodes.append(await stack.enter_async_context(Node(i, **options)))
                for node in nodes:
                    for other in nodes:
                        if other is not node:
                            node.add_peer(other.id, other.address)
                return nodes

            yield make
