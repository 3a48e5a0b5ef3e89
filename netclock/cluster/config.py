"""Cluster files: a small TOML description of the nodes of a run and what they run.

::

    name = "pingpong"
    link = "reliable"          # fairloss | stubborn | reliable | sealed | tls
    duration = 20              # longest the run may take, seconds
    give_up_after = 5          # seconds; a reliable link then hands back what a peer left unacked
    [faults]                   # optional: a FaultPlan (seed, loss, duplicate, ...)
    loss = 0.1
    [detector]                 # optional: a failure detector on every node (docs/detectors.md)
    kind = "eventual_leader"
    [[node]]
    id = "server"
    address = "127.0.0.1:0"    # port 0: the launcher learns the real port from READY
    program = "pingpong.py:server"
    args = { rounds = 3 }

``[[action]]`` tables (``at = 2.0``, ``do = "pause"``, ``node = "b"``; or ``do =
"partition"``, ``nodes = ["a", "b"]``; or ``do = "restart"``, ``node = "b"``, ``after =
1.5``) inject process and network faults during the run.
``nodes = 32`` makes the cluster 32 nodes from the tables it has (or ``n01`` .. ``n32``
without any; :mod:`netclock.cluster.node_count`).
``compare_links = ["fairloss", "reliable"]`` runs the same cluster once per link kind
(same programs, same fault seed) and sets the verdicts side by side.

Every mistake is a :class:`~netclock.errors.ConfigError` naming the key and what is allowed.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import sys
import tomllib
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from netclock.clock import check_pid
from netclock.cluster.node_count import counted_nodes
from netclock.detectors.options import DetectorOptions
from netclock.errors import ClockError, ConfigError, UsageError
from netclock.faults.plan import FaultPlan
from netclock.links.base import LINK_KINDS, Address, parse_address
from netclock.links.budget import DEFAULT_INBOX_BYTES, check_budget

Program = Callable[..., Awaitable[Any]]

_TOP_KEYS = {
    "name": str,
    "link": str,
    "duration": (int, float),
    "fifo": bool,
    "give_up_after": (int, float),
    "inbox_size": int,
    "inbox_bytes": int,
    "cert_dir": str,
    "program": str,
    "args": dict,
    "faults": dict,
    "detector": dict,
    "node": list,
    "nodes": int,
    "log_events": bool,
    "log_govector": bool,
    "clock_encoding": str,
    "compare_links": list,
    "variant": list,
    "action": list,
}
_NODE_KEYS = {"id": str, "address": str, "program": str, "args": dict}
_ACTION_KEYS = {"at": (int, float), "do": str, "node": str, "nodes": list, "after": (int, float)}
GIVE_UP_AFTER = 5.0
"""A cluster run's default ``give_up_after``: a node killed for good stalls no survivor longer."""
ACTIONS = {"kill": 1, "pause": 1, "resume": 1, "restart": 1, "partition": 2, "heal": 2}
"""Live fault actions and how many nodes each names."""
RESTART_AFTER = 1.0
"""Seconds between a restart's kill and the new start, unless the action says ``after``."""


@dataclass(frozen=True)
class Action:
    """A fault applied during a run: ``at`` seconds after start, ``do`` to ``nodes``.

    ``kill`` (SIGKILL), ``pause`` (SIGSTOP), ``resume`` (SIGCONT) and ``restart`` (SIGKILL,
    then the same node started again ``after`` seconds later, on the same address and
    logs) name one node; ``partition`` and ``heal`` name two, cut off from each other in
    both directions.
    """

    at: float
    do: str
    nodes: tuple[str, ...]
    after: float = RESTART_AFTER


def parse_action(do: str, nodes: list[str], known: list[str], where: str = "") -> Action:
    """Validate one action (also used for commands typed at the launcher's prompt)."""
    if do not in ACTIONS:
        raise ConfigError(f"{where}{do!r} is not an action; use one of {', '.join(ACTIONS)}")
    if len(nodes) != ACTIONS[do]:
        raise ConfigError(f"{where}{do} names {ACTIONS[do]} node(s), not {len(nodes)}")
    for node in nodes:
        if node not in known:
            raise ConfigError(f"{where}{do}: no node {node!r}; the nodes are {', '.join(known)}")
    return Action(0.0, do, tuple(nodes))


@dataclass(frozen=True)
class NodeSpec:
    """One node of a cluster: its id, address, program and the program's arguments."""

    id: str
    address: Address
    program: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Cluster:
    """A parsed, validated cluster file."""

    name: str
    link: str
    nodes: tuple[NodeSpec, ...]
    base_dir: Path
    duration: float = 30.0
    fifo: bool = True
    give_up_after: float | None = None
    """Seconds a reliable link waits for a silent peer before handing messages back as failed
    (parsed cluster files default to ``GIVE_UP_AFTER``, so survivors of a crash finish)."""
    inbox_size: int = 1024
    inbox_bytes: int = DEFAULT_INBOX_BYTES
    """Bytes of payload each node's inbox holds (links/budget.py)."""
    cert_dir: Path | None = None
    faults: FaultPlan | None = None
    detector: DetectorOptions | None = None
    """Every node's failure detector (``[detector]``, docs/detectors.md); with one and no
    ``give_up_after``, a reliable link gives up when the detector suspects the peer."""
    log_events: bool = True
    """Each node writes its event log (``<id>.events.jsonl``: what the checker reads)."""
    log_govector: bool = True
    """Each node writes its GoVector log (``<id>.log``: ``merged.log`` for ShiViz)."""
    clock_encoding: str = "full"
    """How clocks travel on a reliable link: ``full`` or ``diff`` (docs/wire.md)."""
    compare_links: tuple[str, ...] = ()
    variants: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    """``[[variant]]`` tables: the same cluster run once per variant, each with its own
    ``faults`` and ``detector`` tables (``netclock demo detectors``)."""
    actions: tuple[Action, ...] = ()
    source: Path | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def node(self, node_id: str) -> NodeSpec:
        """The spec of ``node_id``; ConfigError if the file has no such node."""
        for spec in self.nodes:
            if spec.id == node_id:
                return spec
        known = ", ".join(n.id for n in self.nodes)
        raise ConfigError(f"the cluster has no node {node_id!r}; its nodes are {known}")

    @property
    def node_ids(self) -> list[str]:
        return [n.id for n in self.nodes]


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        dict: "a table",
        list: "an array of tables",
    }
    if isinstance(kind, tuple):
        return names[float]
    return names[kind]


def _check_table(table: Mapping[str, Any], allowed: Mapping[str, Any], where: str) -> None:
    for key, value in table.items():
        if key not in allowed:
            inside = f" in {where.rstrip('.')}" if where else ""
            close = difflib.get_close_matches(key, list(allowed), 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"unknown key {key!r}{inside}{hint}; allowed keys are {', '.join(sorted(allowed))}"
            )
        kind = allowed[key]
        ok = isinstance(value, kind) and not (kind in (int, (int, float)) and type(value) is bool)
        if not ok:
            raise ConfigError(f"{where}{key} must be {_type_name(kind)}, not {value!r}")


def load_cluster(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Cluster:
    """Read and validate a cluster file; ``overrides`` replace top-level keys (``link``...)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"cluster file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder; give the cluster file in it (NAME.toml)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read cluster file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cluster file {path} is not UTF-8 text (is it a TOML file?)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cluster file {path} is not valid TOML: {exc}") from None
    data = {**data, **(overrides or {})}
    cluster = parse_cluster(
        data,
        base_dir=path.resolve().parent,
        default_name=path.stem.lstrip(".") or "cluster",  # .lab.toml: a run folder lab-TIME
        source=path.resolve(),
    )
    return replace(cluster, overrides=dict(overrides or {}))


def parse_cluster(
    data: Mapping[str, Any],
    *,
    base_dir: Path,
    default_name: str = "cluster",
    source: Path | None = None,
) -> Cluster:
    """Validate a cluster description already read from TOML."""
    _check_table(data, _TOP_KEYS, "")
    link = data.get("link", "reliable")
    if link not in LINK_KINDS:
        raise ConfigError(f"link must be one of {', '.join(LINK_KINDS)}, not {link!r}")
    default_program = data.get("program")
    default_args = data.get("args", {})
    raw_nodes = data.get("node", [])
    if "nodes" in data:
        raw_nodes = counted_nodes(raw_nodes, data["nodes"])
    if not raw_nodes:
        raise ConfigError(
            "the cluster file has no [[node]] tables; add one per process, or nodes = N"
        )
    nodes: list[NodeSpec] = []
    for i, raw in enumerate(raw_nodes):
        where = f"node[{i}]."
        if not isinstance(raw, dict):
            raise ConfigError(f"node[{i}] must be a table")
        _check_table(raw, _NODE_KEYS, where)
        if "id" not in raw:
            raise ConfigError(f"node[{i}] has no id")
        try:
            node_id = check_pid(raw["id"])
        except ClockError as exc:
            raise ConfigError(f"node[{i}].id: {exc}") from None
        if node_id in (n.id for n in nodes):
            raise ConfigError(f"node id {node_id!r} appears twice")
        program = raw.get("program", default_program)
        if program is None:
            raise ConfigError(f'node {node_id!r} has no program (e.g. program = "algo.py:main")')
        try:
            address = parse_address(raw.get("address", "127.0.0.1:0"))
        except UsageError as exc:
            raise ConfigError(f"node {node_id!r}: {exc}") from None
        nodes.append(NodeSpec(node_id, address, program, {**default_args, **raw.get("args", {})}))
    compare = tuple(data.get("compare_links", ()))
    for kind in compare:
        if kind not in LINK_KINDS:
            raise ConfigError(
                f"compare_links must list link kinds ({', '.join(LINK_KINDS)}), not {kind!r}"
            )
    actions = []
    for i, raw in enumerate(data.get("action", [])):
        if not isinstance(raw, dict):
            raise ConfigError(f"action[{i}] must be a table")
        _check_table(raw, _ACTION_KEYS, f"action[{i}].")
        if "at" not in raw or "do" not in raw:
            raise ConfigError(f"action[{i}] needs at (seconds) and do ({', '.join(ACTIONS)})")
        named = raw.get("nodes", [raw["node"]] if "node" in raw else [])
        action = parse_action(raw["do"], named, [n.id for n in nodes], f"action[{i}]: ")
        after = float(raw.get("after", RESTART_AFTER))
        if "after" in raw and (action.do != "restart" or after < 0):
            raise ConfigError(
                f"action[{i}].after is for restart only, a number of seconds >= 0, "
                f"not {raw['after']!r} on {action.do}"
            )
        if not raw["at"] >= 0:  # NaN too
            raise ConfigError(
                f"action[{i}].at must be seconds after the start, >= 0, not {raw['at']!r}"
            )
        actions.append(replace(action, at=float(raw["at"]), after=after))
    duration = float(data.get("duration", 30.0))
    if duration <= 0:
        raise ConfigError("duration must be a positive number of seconds")
    detector = DetectorOptions.from_dict(data["detector"]) if "detector" in data else None
    give_up: float | None = float(data.get("give_up_after", GIVE_UP_AFTER))
    if "give_up_after" not in data and detector is not None:
        give_up = None  # the detector's suspicion decides
    if give_up is not None and give_up <= 0:
        raise ConfigError("give_up_after must be a positive number of seconds")
    cert_dir = data.get("cert_dir")
    faults = FaultPlan.from_dict(data["faults"]) if "faults" in data else None
    if faults is not None:
        _check_fault_nodes(faults, [n.id for n in nodes], link, "faults")
    variants = _variants(data.get("variant", []))
    name = data.get("name", default_name)
    if not name.strip() or name.startswith(".") or any(c in name for c in "/\\\0"):
        raise ConfigError(
            f"name {name!r} names the run folder runs/NAME-TIME: give a word without / or \\, "
            "not starting with a dot"
        )
    return Cluster(
        name=name,
        link=link,
        nodes=tuple(nodes),
        base_dir=base_dir,
        duration=duration,
        fifo=data.get("fifo", True),
        give_up_after=give_up,
        inbox_size=data.get("inbox_size", 1024),
        inbox_bytes=check_budget("inbox_bytes", data.get("inbox_bytes", DEFAULT_INBOX_BYTES)),
        cert_dir=None if cert_dir is None else (base_dir / cert_dir),
        faults=faults,
        detector=detector,
        log_events=data.get("log_events", True),
        log_govector=data.get("log_govector", True),
        clock_encoding=_clock_encoding(data, link, compare),
        compare_links=compare,
        variants=variants,
        actions=tuple(sorted(actions, key=lambda a: a.at)),
        source=source,
    )


DIFF_CLOCK_LINKS = ("reliable", "sealed", "tls")
"""The link kinds that can send clocks as deltas (docs/wire.md, "Compressed clocks")."""


def _clock_encoding(data: Mapping[str, Any], link: str, compare: tuple[str, ...]) -> str:
    """The cluster's ``clock_encoding``, checked against its links and ``fifo``."""
    encoding = data.get("clock_encoding", "full")
    if encoding not in ("full", "diff"):
        raise ConfigError(f'clock_encoding must be "full" or "diff", not {encoding!r}')
    if encoding == "diff":
        for kind in (link, *compare):
            if kind not in DIFF_CLOCK_LINKS:
                raise ConfigError(
                    f'clock_encoding = "diff" needs a reliable, sealed or tls link; the {kind} '
                    "link sends every clock whole: remove clock_encoding or change the link"
                )
        if not data.get("fifo", True):
            raise ConfigError('clock_encoding = "diff" needs fifo = true (or "full" clocks)')
    return str(encoding)


STREAM_IGNORED_FAULTS = ("loss", "duplicate", "reorder")
"""Fault-plan keys that act on datagrams: a TCP stream (the ``tls`` link) cannot honour them."""


def _check_fault_nodes(plan: FaultPlan, known: list[str], link: str, name: str) -> None:
    """Every node a fault plan names is one of the cluster's (a typo would silently fault
    nobody), and omission faults are not asked of the tls link (a stream cannot omit)."""
    named = [(f"{name}.omission", node) for node in plan.omission]
    named += [(f"{name}.partitions", node) for p in plan.partitions for node in (p.a, p.b)]
    named += [(f"{name}.links", node) for pair in plan.links for node in pair]
    for where, node in named:
        if node not in known:
            raise ConfigError(
                f"{where} names node {node!r}, which the cluster does not have; "
                f"its nodes are {', '.join(known)}"
            )
    if link == "tls" and any(not o.is_quiet for o in plan.omission.values()):
        raise ConfigError(
            f"{name}.omission is not possible on the tls link (a TCP stream cannot omit "
            "datagrams); use a datagram link or remove it"
        )


def unhonoured_faults(plan: FaultPlan | None, link: str) -> list[str]:
    """One warning sentence per fault key of ``plan`` that ``link`` ignores (empty if none).

    The ``tls`` link is a TCP stream: it honours delays and partitions, not loss,
    duplication or reordering, which a run would otherwise ignore without a word.
    """
    if plan is None or link != "tls":
        return []
    found = [f"faults.{key}" for key in STREAM_IGNORED_FAULTS if getattr(plan, key)]
    for (sender, receiver), override in sorted(plan.links.items()):
        found += [
            f"faults.links.{sender}->{receiver}.{key}"
            for key in STREAM_IGNORED_FAULTS
            if getattr(override, key)
        ]
    return [
        f"{key} is ignored on the tls link (a TCP stream is never lossy, duplicated or "
        "reordered; only delay and partitions apply there)"
        for key in found
    ]


def unused_certificates(cluster: Cluster) -> list[str]:
    """A warning sentence when ``cert_dir`` is set on a link that takes no certificates."""
    if cluster.cert_dir is None or cluster.link in ("tls", "sealed"):
        return []
    return [
        f"cert_dir is ignored on the {cluster.link} link (only the sealed and tls links use "
        "certificates)"
    ]


def unreached_actions(cluster: Cluster) -> list[str]:
    """One warning sentence per ``[[action]]`` due after the run's duration."""
    return [
        f"action {action.do} {' '.join(action.nodes)} at {action.at:g} s will not happen: the "
        f"run's duration is {cluster.duration:g} s"
        for action in cluster.actions
        if action.at > cluster.duration
    ]


def _variants(raw: list[Any]) -> tuple[tuple[str, Mapping[str, Any]], ...]:
    """``[[variant]]``: a unique ``name`` each, and the ``faults``/``detector`` it runs with."""
    out: list[tuple[str, Mapping[str, Any]]] = []
    for i, table in enumerate(raw):
        where = f"variant[{i}]."
        if not isinstance(table, dict):
            raise ConfigError(f"variant[{i}] must be a table, not {table!r}")
        _check_table(table, {"name": str, "faults": dict, "detector": dict}, where)
        name = table.get("name")
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"{where}name must be a word of letters, digits, - or _")
        if name in (n for n, _ in out):
            raise ConfigError(f"{where}name {name!r} is used twice")
        if "faults" in table:
            FaultPlan.from_dict(table["faults"], name=f"variant[{i}].faults")
        if "detector" in table:
            DetectorOptions.from_dict(table["detector"], name=f"variant[{i}].detector")
        out.append((name, {k: v for k, v in table.items() if k != "name"}))
    return tuple(out)


def _where(exc: Exception, file: Path) -> str:
    """``FILE, line N: Kind: message`` for an exception raised importing ``file``."""
    line = None
    if isinstance(exc, SyntaxError) and exc.filename == str(file):
        line, text = exc.lineno, f"SyntaxError: {exc.msg}"
    else:
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == str(file):
                line = frame.lineno
        text = f"{type(exc).__name__}: {exc}"
    text = (text.strip().splitlines() or [""])[0]
    return f"{file}{f', line {line}' if line else ''}: {text}"


def load_program(spec: str, base_dir: Path) -> Program:
    """Resolve ``"file.py:function"`` (relative to ``base_dir``) or ``"package.module:func"``."""
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise ConfigError(f'program {spec!r} must look like "algo.py:main" or "mypkg.algo:main"')
    if module_name.endswith(".py") or "/" in module_name:
        file = (base_dir / module_name).resolve()
        if not file.is_file():
            what = "is a folder; name the .py file in it" if file.is_dir() else "does not exist"
            raise ConfigError(f"program file {file} {what}")
        unique = f"netclock_program_{file.stem}_{abs(hash(str(file)))}"
        module_spec = importlib.util.spec_from_file_location(unique, file)
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"cannot load program file {file}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[unique] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:  # the program's own mistake: where it is, not our traceback
            del sys.modules[unique]
            raise ConfigError(f"cannot import program {_where(exc, file)}") from None
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(f"cannot import program module {module_name!r}: {exc}") from None
        except Exception as exc:
            raise ConfigError(f"cannot import program module {module_name!r}: {exc!r}") from None
    func = getattr(module, func_name, None)
    if func is None:
        names = sorted(
            n for n, v in vars(module).items() if inspect.iscoroutinefunction(v) and n[0] != "_"
        )
        has = f"it has {', '.join(names)}" if names else "it has no async function"
        raise ConfigError(f"{module_name} has no function {func_name!r} ({has})")
    if not inspect.iscoroutinefunction(func):
        raise ConfigError(f"{spec}: {func_name} must be an async function taking the node")
    return func  # type: ignore[no-any-return]
