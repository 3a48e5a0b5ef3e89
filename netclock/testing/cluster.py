"""Run a cluster from Python: the launcher's public face.

::

    async with start_cluster("pingpong.toml", seed=7, faults=FaultPlan(loss=0.1)) as run:
        await run.node("b").kill()
        result = await run.wait()
    assert result.nodes["a"].returned == 3
    assert result.report.ok

:func:`start_cluster` takes a cluster file or the same description as a dict (programs may
be async functions defined at module level). Entering the context starts one OS process per
node and returns once every node runs; :meth:`ClusterRun.wait` waits for the programs (or
the run's duration) and returns a :class:`ClusterResult`: each node's outcome and return
value (also in the run folder's ``results.json``), the checker's report, and the paths of
the logs and the viewer. Leaving the context stops every process that still runs, also
when the body raised or was cancelled.

Every fault injected through a :class:`NodeHandle` or :meth:`ClusterRun.partition` goes into
the run folder's ``faults.jsonl`` (``"by": "api"``), the ground truth the checker uses.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import math
import sys
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from netclock.cluster.config import RESTART_AFTER, Action, Cluster, load_cluster, parse_cluster
from netclock.cluster.launcher import (
    KILLED_STAYS_DOWN,
    RESULTS,
    Child,
    Launcher,
    RunResult,
    claim_run_dir,
    new_run_dir,
    run_certificates,
)
from netclock.errors import ConfigError, NetclockError
from netclock.faults.plan import FaultPlan
from netclock.links.base import CERTIFIED_KINDS
from netclock.observe.eventlog import EVENT_SUFFIX, RunInfo, write_run_info
from netclock.tools.check import Report
from netclock.tools.report import MERGED_LOG, finish_run_report

__all__ = ["ClusterResult", "ClusterRun", "NodeHandle", "NodeOutcome", "start_cluster"]

CLUSTER_FILE = "cluster.toml"
"""Where a cluster described in Python is written in its run folder (``netclock run`` reads it)."""
VIEWER = "viewer.html"

ClusterSource = str | Path | Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    """How one node's run ended (its latest life, when it was restarted).

    ``status`` is ``"done"`` (its program returned ``returned``), ``"failed"`` (``error``
    says why), ``"killed"`` (by the run), ``"unfinished"`` (the duration expired first) or
    ``"stopped"`` (the run was stopped first).
    """

    id: str
    status: str
    returned: Any
    error: str | None
    exit_code: int | None
    restarted: bool
    event_log: Path
    govector_log: Path
    output: Path
    stderr: Path


@dataclass(frozen=True, slots=True)
class ClusterResult:
    """What a finished run left: outcomes, return values, the checker's verdict, files."""

    run_dir: Path
    seed: int | None
    stop_reason: str
    nodes: Mapping[str, NodeOutcome]
    report: Report
    viewer: Path
    merged_log: Path | None
    results_file: Path
    fault_record: Path

    @property
    def returned(self) -> dict[str, Any]:
        """Each node whose program returned, and what it returned."""
        return {n.id: n.returned for n in self.nodes.values() if n.status == "done"}

    @property
    def ok(self) -> bool:
        """True when no program failed and every promised property holds."""
        return self.report.ok and not any(n.status == "failed" for n in self.nodes.values())


class NodeHandle:
    """One node of a running cluster: its address and process, and faults to inject."""

    def __init__(self, run: ClusterRun, node_id: str) -> None:
        self._run = run
        self.id = node_id

    def _child(self) -> Child:
        return self._run._launcher_now().children[self.id]

    @property
    def address(self) -> tuple[str, int]:
        """The host and port the node bound (the same across restarts)."""
        address = self._child().address
        assert address is not None  # every handed-out node said READY
        return address

    @property
    def pid(self) -> int:
        """The process id of the node's current life."""
        return self._child().process.pid

    @property
    def running(self) -> bool:
        """True while the node's current process has not exited."""
        return self._child().process.returncode is None

    async def kill(self) -> None:
        """SIGKILL the node (crash-stop); returns once its process is gone."""
        child = self._child()
        self._run._apply("kill", self.id)
        await child.finished.wait()

    async def pause(self) -> None:
        """SIGSTOP the node: it neither sends nor receives until :meth:`resume`."""
        self._run._apply("pause", self.id)

    async def resume(self) -> None:
        """SIGCONT a paused node."""
        self._run._apply("resume", self.id)

    async def restart(self, after: float = RESTART_AFTER) -> None:
        """Kill the node, start it again ``after`` seconds later on the same address and
        logs (crash-recovery); returns once the new life runs. NetclockError if it did not."""
        launcher = self._run._launcher_now()
        old = launcher.children[self.id]
        started = launcher.apply(Action(0.0, "restart", (self.id,), after), by="api")
        if started is not None:
            await asyncio.wait([started])
        if launcher.children[self.id] is old:
            why = KILLED_STAYS_DOWN if old.killed else "; see the run's output"
            raise NetclockError(f"node {self.id} was not restarted{why}")

    async def partition(self, other: str | NodeHandle) -> None:
        """Cut this node and ``other`` off from each other, both ways, until :meth:`heal`."""
        self._run._apply("partition", self.id, _id(other))

    async def heal(self, other: str | NodeHandle) -> None:
        """Undo :meth:`partition`."""
        self._run._apply("heal", self.id, _id(other))

    def __repr__(self) -> str:
        return f"NodeHandle({self.id!r})"


def _id(node: str | NodeHandle) -> str:
    return node.id if isinstance(node, NodeHandle) else node


class ClusterRun:
    """A cluster being run; made by :func:`start_cluster`, used as ``async with``."""

    def __init__(
        self, cluster: Cluster, run_dir: Path, seed: int | None, out: TextIO | None
    ) -> None:
        self.cluster = cluster
        self.run_dir = run_dir
        self.seed = seed
        self._out = out
        self._launcher: Launcher | None = None
        self._task: asyncio.Task[RunResult] | None = None
        self._result: ClusterResult | None = None
        self.nodes = {node_id: NodeHandle(self, node_id) for node_id in cluster.node_ids}
        """Every node's handle, by id."""

    def node(self, node_id: str) -> NodeHandle:
        """The handle of ``node_id``; ConfigError naming the nodes if there is none."""
        self.cluster.node(node_id)
        return self.nodes[node_id]

    def _launcher_now(self) -> Launcher:
        """The launcher of a running cluster; NetclockError before the start or after the end."""
        if self._launcher is None or not self._launcher.started.is_set():
            raise NetclockError("the cluster is not running; use it inside `async with`")
        if self._task is not None and self._task.done():
            raise NetclockError(f"the cluster run is over; its files are in {self.run_dir}")
        return self._launcher

    def _apply(self, do: str, *nodes: str) -> None:
        launcher = self._launcher_now()
        for node in nodes:
            self.cluster.node(node)
        if len(set(nodes)) != len(nodes):
            raise ConfigError(f"{do} names two different nodes, not {nodes[0]!r} twice")
        launcher.apply(Action(0.0, do, nodes), by="api")

    async def partition(self, a: str | NodeHandle, b: str | NodeHandle) -> None:
        """Cut ``a`` and ``b`` off from each other, both ways (recorded in faults.jsonl)."""
        self._apply("partition", _id(a), _id(b))

    async def heal(self, a: str | NodeHandle, b: str | NodeHandle) -> None:
        """Undo :meth:`partition`."""
        self._apply("heal", _id(a), _id(b))

    async def __aenter__(self) -> ClusterRun:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start every node; returns once all run. NetclockError if one could not start."""
        if self._launcher is not None:
            raise NetclockError("this cluster run was already started; start a new one")
        cluster = self.cluster
        info = RunInfo(cluster.name, cluster.link, tuple(cluster.node_ids), self.seed, time.time())
        write_run_info(self.run_dir, info)
        launcher = Launcher(self.cluster, self.run_dir, self._out or sys.stdout)
        launcher.interactive = launcher.prompt = False  # no status line, no prompt
        self._launcher = launcher
        self._task = asyncio.ensure_future(launcher.run())
        started = asyncio.ensure_future(launcher.started.wait())
        try:
            await asyncio.wait([self._task, started], return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            await self.close()
            raise
        finally:
            started.cancel()
        if not launcher.started.is_set():
            self._task.result()  # raises why the start failed
            raise NetclockError(f"the cluster stopped while starting; see {self.run_dir}")

    async def wait(self) -> ClusterResult:
        """Wait until every program ends (or the duration is over); the run's result.

        Writes ``merged.log`` and ``viewer.html`` and prints the checker's verdict.
        """
        if self._result is not None:
            return self._result
        if self._task is None:
            raise NetclockError("the cluster was never started; use it inside `async with`")
        try:
            run_result = await asyncio.shield(self._task)
        except asyncio.CancelledError:
            await self.close()
            raise
        self._result = _result(run_result, self.seed, self._out or sys.stdout, self._launcher)
        return self._result

    async def stop(self) -> ClusterResult:
        """Stop every node now (cleanly: they drain and log their stop); the run's result."""
        if self._launcher is not None and self._task is not None and not self._task.done():
            self._launcher.stop()
        return await self.wait()

    async def close(self) -> None:
        """Stop whatever still runs and wait for it; idempotent. Cancelling it kills."""
        task, launcher = self._task, self._launcher
        if task is None or launcher is None:
            return
        if not task.done():
            launcher.stop()
            try:
                await asyncio.wait([task])
            except asyncio.CancelledError:
                launcher.stop()  # a second stop sends SIGKILL to every process still alive
                raise
        if not task.cancelled():
            task.exception()  # retrieved: the caller's own exception is the news


def _result(
    run: RunResult, seed: int | None, out: TextIO, launcher: Launcher | None
) -> ClusterResult:
    _, report = finish_run_report(run, out)
    children = {} if launcher is None else launcher.children
    nodes = {}
    for node_id, child in children.items():
        if child.failed is not None:
            status = "failed"
        elif child.killed:
            status = "killed"
        elif child.returned:
            status = "done"
        elif node_id in run.unfinished:
            status = "unfinished"
        else:
            status = "stopped"
        base = run.run_dir / node_id
        nodes[node_id] = NodeOutcome(
            id=node_id,
            status=status,
            returned=child.result,
            error=child.failed,
            exit_code=child.process.returncode,
            restarted=child.restart,
            event_log=Path(f"{base}{EVENT_SUFFIX}"),
            govector_log=Path(f"{base}.log"),
            output=Path(f"{base}.out"),
            stderr=Path(f"{base}.stderr"),
        )
    merged = run.run_dir / MERGED_LOG
    return ClusterResult(
        run_dir=run.run_dir,
        seed=seed,
        stop_reason=run.stop_reason,
        nodes=nodes,
        report=report,
        viewer=run.run_dir / VIEWER,
        merged_log=merged if merged.is_file() else None,
        results_file=run.run_dir / RESULTS,
        fault_record=run.run_dir / "faults.jsonl",
    )


def start_cluster(
    source: ClusterSource,
    *,
    run_dir: str | Path | None = None,
    base_dir: str | Path | None = None,
    seed: int | None = None,
    faults: FaultPlan | Mapping[str, Any] | None = None,
    link: str | None = None,
    duration: float | None = None,
    cert_dir: str | Path | None = None,
    out: TextIO | None = None,
) -> ClusterRun:
    """A cluster run to use as ``async with``: one OS process per node, on loopback.

    ``source`` is a cluster file or the same description as a dict (``{"link": ...,
    "program": main, "node": [{"id": "a"}, ...]}``; a node may be just its id; a program is
    ``"file.py:func"``, relative to ``base_dir`` (default: the current folder),
    ``"pkg.module:func"`` or a module-level async function). ``faults`` replaces the
    file's fault plan, ``seed`` the plan's seed (a run without faults has no seed),
    ``link``, ``duration`` and ``cert_dir`` the file's values. The run
    folder ``run_dir`` must be new or empty (default: a new ``runs/NAME-TIME``). A
    ``tls`` or ``sealed`` run without ``cert_dir`` gets a fresh CA in ``run_dir/certs``, as
    ``netclock run`` does. Configuration mistakes raise one ConfigError sentence.
    """
    overrides: dict[str, Any] = {}
    if link is not None:
        overrides["link"] = link
    if duration is not None:
        overrides["duration"] = duration
    if cert_dir is not None:
        overrides["cert_dir"] = str(Path(cert_dir).resolve())
    plan = _plan(faults)
    if isinstance(source, Mapping):
        # Everything goes into the run folder's cluster.toml: it is exactly what ran.
        description = {**source, **overrides}
        overrides = {}
        given = plan if plan is not None else _plan(description.get("faults"))
        if given is not None:
            description["faults"] = given if seed is None else dataclasses.replace(given, seed=seed)
        base = Path.cwd() if base_dir is None else Path(base_dir)
        text = cluster_toml(description, base)
        checked = parse_cluster(tomllib.loads(text), base_dir=base)  # before claiming a folder
        folder = _claim(run_dir, checked.name)
        path = folder / CLUSTER_FILE
        path.write_text(text, encoding="utf-8")
        cluster = load_cluster(path)
    else:
        path = Path(source)
        cluster = _load(path, overrides, plan, seed)
        folder = _claim(run_dir, cluster.name)
    if cluster.link in CERTIFIED_KINDS and cluster.cert_dir is None:
        overrides["cert_dir"] = str(run_certificates(folder, cluster.node_ids))
        cluster = load_cluster(path, overrides)
    run_seed = None if cluster.faults is None else cluster.faults.seed
    return ClusterRun(cluster, folder, run_seed, out)


def _claim(run_dir: str | Path | None, name: str) -> Path:
    return new_run_dir(name) if run_dir is None else claim_run_dir(Path(run_dir))


def _plan(faults: FaultPlan | Mapping[str, Any] | None) -> FaultPlan | None:
    if faults is None or isinstance(faults, FaultPlan):
        return faults
    if isinstance(faults, Mapping):
        return FaultPlan.from_dict(faults)
    raise ConfigError(f"faults must be a FaultPlan or a table, not {type(faults).__name__}")


def _load(
    path: Path, overrides: dict[str, Any], plan: FaultPlan | None, seed: int | None
) -> Cluster:
    """The cluster file with the overrides; the node processes get the same overrides."""
    if plan is None and seed is not None:
        plan = load_cluster(path, overrides).faults
    if plan is not None:
        if seed is not None:
            plan = dataclasses.replace(plan, seed=seed)
        overrides["faults"] = plan.to_dict()
    return load_cluster(path, overrides)


# -- a description built in Python, written as a cluster file -----------------------------------
def cluster_toml(description: Mapping[str, Any], base_dir: Path) -> str:
    """The cluster file of ``description`` (the keys of a cluster file), paths made absolute.

    Program files and ``cert_dir`` are resolved against ``base_dir``, so the file may live
    in the run folder; an async function given as a program becomes ``"/its/file.py:name"``.
    """
    data = dict(description)
    if "faults" in data:
        data["faults"] = _plan(data["faults"]).to_dict()  # type: ignore[union-attr]
    if "program" in data:
        data["program"] = _program(data["program"], base_dir)
    if "cert_dir" in data:
        data["cert_dir"] = str((base_dir / str(data["cert_dir"])).resolve())
    nodes = data.get("node", [])
    if not isinstance(nodes, list | tuple):
        raise ConfigError("node must be a list of node tables (or node ids)")
    data["node"] = [_node(raw, base_dir) for raw in nodes]
    lines = [f"{json.dumps(str(key))} = {_toml(value, str(key))}" for key, value in data.items()]
    return "# written by netclock.testing.start_cluster\n" + "\n".join(lines) + "\n"


def _node(raw: Any, base_dir: Path) -> Any:
    if isinstance(raw, str):
        return {"id": raw}
    if isinstance(raw, Mapping) and "program" in raw:
        return {**raw, "program": _program(raw["program"], base_dir)}
    return raw


def _program(program: Any, base_dir: Path) -> Any:
    """``"file.py:f"`` made absolute; an async function as ``"/abs/file.py:f"``."""
    if callable(program):
        return _function_program(program)
    if not isinstance(program, str):
        return program  # the cluster parser names the mistake
    module, sep, func = program.partition(":")
    if sep and (module.endswith(".py") or "/" in module):
        return f"{(base_dir / module).resolve()}:{func}"
    return program


def _function_program(func: Callable[..., Any]) -> str:
    name = getattr(func, "__name__", repr(func))
    if not inspect.iscoroutinefunction(func) or getattr(func, "__qualname__", "") != name:
        raise ConfigError(
            f"program {name} must be an async function defined at module level "
            "(each node process imports it from its file)"
        )
    try:
        source = inspect.getfile(func)
    except TypeError:
        source = ""
    if not source.endswith(".py"):
        raise ConfigError(f"program {name} is not defined in a .py file; name it as 'mod:func'")
    return f"{Path(source).resolve()}:{name}"


def _toml(value: Any, where: str) -> str:
    """A TOML value (inline form) for a JSON-like Python value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ConfigError(f"{where} must be a finite number, not {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))} = {_toml(v, f'{where}.{k}')}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v, f"{where}[{i}]") for i, v in enumerate(value)) + "]"
    raise ConfigError(
        f"{where} must be a string, number, boolean, table or list, not {type(value).__name__}"
    )
