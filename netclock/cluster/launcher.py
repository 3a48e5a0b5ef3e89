"""The launcher: one OS process per node, a control channel to each, a run folder.

``netclock run CLUSTER.toml`` starts every node with ``netclock node --control``, waits
for each READY line (never guesses ports, never sleeps), sends every node the peer
table and, once every node has it, the signal to go; it relays what the programs print,
applies live faults (kill, pause, resume, restart, partition, heal), and stops everything
when the programs are done or the run's duration is over, and on Ctrl-C or SIGTERM.

Everything it does to a node process, and everything that happens to one, goes into the
run folder's fault record ``faults.jsonl`` as it happens (:class:`FaultRecord`; the
format is in docs/eventlog.md, "The fault record"): the ground truth the checker judges
a run against. What the programs print is shown in the order it was printed and kept in
``output.jsonl`` (:mod:`netclock.cluster.output`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from netclock.cluster import phases
from netclock.cluster.config import (
    RESTART_AFTER,
    Action,
    Cluster,
    parse_action,
    unhonoured_faults,
    unreached_actions,
    unused_certificates,
)
from netclock.cluster.control import DRAIN_TIMEOUT, command_line, first_line, parse_message
from netclock.cluster.forkserver import ForkedProcess, ForkServer, supported
from netclock.cluster.output import OutputLine, OutputMerger
from netclock.errors import ConfigError, NetclockError
from netclock.observe.eventlog import RunInfo, write_run_info
from netclock.observe.pending import finish_run

READY_TIMEOUT = 20.0
"""Seconds a cluster of any size gets to report READY, plus :data:`READY_PER_NODE` a node."""
READY_PER_NODE = 0.25
"""Seconds more for each node: a pessimistic start on a loaded core (python and imports)."""
FORK_SERVER_ENV = "NETCLOCK_FORK_SERVER"
"""Set to ``0`` to start every node with its own ``python -m netclock node`` (no fork server)."""
LINE_LIMIT = 1 << 20
"""Longest line a node may print; a longer one is dropped, not fatal to the run."""
STOP_TIMEOUT = 10.0
DRAIN_WAIT = DRAIN_TIMEOUT + 1.0
"""Longest the launcher waits for the nodes' DRAINED at the end of a run (a node gives up
draining after ``DRAIN_TIMEOUT``)."""
FAULT_RECORD = "faults.jsonl"
"""The run folder's record of every fault injected and every node process start and end."""
OUTPUT_RECORD = "output.jsonl"
"""The run folder's record of every line the programs printed, with its time and node."""
RESULTS = "results.json"
"""The run folder's record of what each node's program returned (JSON; ``str()`` of the rest)."""
PROGRESS_NODES = 8
"""Up to this many nodes a progress line shows each one; beyond, the totals."""
STOP_REASONS = ("done", "duration", "interrupted", "terminated")
"""Why a run stopped: its programs ended, its duration expired, Ctrl-C (or ``stop`` at the
prompt), SIGTERM."""


class OutputRecord:
    """Keeps every relayed output line in ``output.jsonl``, in the order shown, one JSON
    object a line: ``{"t": wall time printed, "node": id, "line": text}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = _open(path, "a")

    def add(self, t: float, node: str, line: str) -> None:
        """Keep one line (nothing once closed)."""
        if self._file is not None:
            self._file.write(json.dumps({"t": t, "node": node, "line": line}) + "\n")
            self._file.flush()

    def close(self) -> None:
        """Stop keeping; idempotent."""
        if self._file is not None:
            self._file.close()
            self._file = None


class FaultRecord:
    """Appends the run's ground truth to ``faults.jsonl``, one JSON object a line.

    Each line is ``{"t": wall time, "at": seconds since the run's start, "do": kind, ...}``
    and reaches the OS before :meth:`add` returns, so a launcher killed in mid-run leaves
    every line it wrote. The kinds and their fields are in docs/eventlog.md.
    """

    def __init__(self, path: Path, epoch: float) -> None:
        self.path = path
        self.epoch = epoch
        self._file: IO[str] | None = _open(path, "a")

    def add(self, do: str, node: str | None = None, **fields: Any) -> None:
        """Record one thing that happened now (nothing once closed)."""
        if self._file is None:
            return
        now = time.time()
        entry: dict[str, Any] = {"t": now, "at": round(now - self.epoch, 6), "do": do}
        if node is not None:
            entry["node"] = node
        entry.update(fields)
        self._file.write(json.dumps(entry) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Stop recording; idempotent."""
        if self._file is not None:
            self._file.close()
            self._file = None


def ready_timeout(nodes: int) -> float:
    """Seconds ``nodes`` node processes get to say READY (and then to take the peer table)."""
    return READY_TIMEOUT + READY_PER_NODE * nodes


@dataclass
class Child:
    """A node process (one life of a node) and what the launcher knows about it."""

    id: str
    process: asyncio.subprocess.Process | ForkedProcess
    restart: bool = False
    address: tuple[str, int] | None = None
    incarnation: int | None = None
    done: bool = False
    failed: str | None = None
    stopped: bool = False
    killed: bool = False
    signalled: bool = False
    """The launcher ended this process itself (kill, restart, or forcing a stop)."""
    paused: bool = False
    returned: bool = False
    result: Any = None
    """What the program returned, as its DONE message carried it (JSON)."""
    stats: dict[str, Any] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    knows_peers: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    """It said DRAINED at the end of the run (:meth:`Launcher._drain`)."""
    drain_clean: bool = False
    """Its DRAINED said that every message to a running peer was acknowledged."""
    spawned: dict[str, float] = field(default_factory=dict)
    """The launcher's marks of this start (:mod:`netclock.cluster.phases`), ``time.time()``."""


@dataclass
class RunResult:
    """What a run left behind.

    ``failed`` maps a node to the first line of what went wrong (its program raised,
    exited non-zero, or died of a signal the run did not send); ``unfinished`` names the
    nodes whose programs were still running when the duration expired; ``stop_reason`` is
    one of :data:`STOP_REASONS`.
    """

    run_dir: Path
    failed: dict[str, str]
    stats: dict[str, dict[str, Any]]
    exit_codes: dict[str, int | None]
    killed: tuple[str, ...] = ()
    restarted: tuple[str, ...] = ()
    unfinished: tuple[str, ...] = ()
    stop_reason: str = "done"
    results: dict[str, Any] = field(default_factory=dict)
    """Each node whose (latest) program returned, and what it returned (JSON)."""
    log_events: bool = True
    """The cluster asked its nodes for event logs (``log_events``)."""


KILLED_STAYS_DOWN = (
    " (kill is crash-stop: the node stays down; restart a running node for a crash that recovers)"
)


def new_run_dir(name: str, root: Path | None = None) -> Path:
    """A fresh folder ``runs/<name>-<time>`` for one run."""
    root = root or Path.cwd() / "runs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        run_dir = root / (f"{name}-{stamp}" if n == 0 else f"{name}-{stamp}-{n}")
        try:
            run_dir.mkdir(parents=True)
        except FileExistsError:
            continue
        except OSError as exc:  # a read-only working folder, a file named runs, ...
            raise ConfigError(
                f"cannot create a run folder under {root}: {exc.strerror}; "
                "run from a folder you can write to, or name the run folder"
            ) from None
        return run_dir
    raise ConfigError(f"cannot create a run folder under {root}")


def run_certificates(run_dir: Path, nodes: list[str]) -> Path:
    """A fresh cluster CA and node certificates in ``run_dir/certs``, for a ``tls`` run
    whose cluster names no ``cert_dir``; returns that folder."""
    from netclock.links.tls.certs import init_cluster

    folder = (run_dir / "certs").resolve()
    init_cluster(folder, nodes)
    return folder


def claim_run_dir(run_dir: Path) -> Path:
    """Create ``run_dir`` for a new run; ConfigError if it already holds files.

    A run folder belongs to one run: the checker reads every log in it, so a new run's
    files are never mixed with an old one's.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run folder {run_dir} is a file; name a new folder")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise ConfigError(
            f"run folder {run_dir} already holds files of another run; "
            "name a new folder or remove that one"
        )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the run folder {run_dir}: {exc.strerror}; name a folder you can "
            "write to"
        ) from None
    return run_dir


class Launcher:
    """Runs a cluster; use :func:`run_cluster` unless you need the pieces.

    :meth:`apply` injects a fault now (what the cluster file's actions and the prompt
    do); from Python, call it once :attr:`started` is set, while :meth:`run` runs.
    """

    def __init__(
        self,
        cluster: Cluster,
        run_dir: Path,
        out: TextIO = sys.stdout,
        *,
        prompt: bool | None = None,
    ) -> None:
        self.cluster = cluster
        self.run_dir = run_dir
        self.out = out
        self.prompt = _stdin_is_a_terminal() if prompt is None else prompt
        """Read live commands from standard input (default: when it is a terminal, wherever
        the output goes, e.g. through ``tee``)."""
        self.children: dict[str, Child] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self.epoch = time.time()
        self.record = FaultRecord(run_dir / FAULT_RECORD, self.epoch)
        self.interactive = bool(getattr(out, "isatty", lambda: False)())
        self._status = ""
        self._tasks: list[asyncio.Future[Any]] = []
        self._quit = False
        self._running = False
        self._stopping = False
        self.stop_reason: str | None = None
        self._killed: set[str] = set()
        self._cut: set[frozenset[str]] = set()
        """The pairs a ``partition`` action cut and no ``heal`` joined again."""
        self._drain_asked = False
        self._restarted: set[str] = set()
        self._restarting: set[str] = set()
        self._main: asyncio.Task[Any] | None = None
        self.started = asyncio.Event()
        """Set once every node has said READY and was told to go: faults may be applied."""
        self.output = OutputRecord(run_dir / OUTPUT_RECORD)
        self._merger = OutputMerger()
        self._release: asyncio.TimerHandle | None = None
        self._release_at = 0.0

    def say(self, text: str) -> None:
        """Print a line; on a terminal the status line is redrawn under it."""
        if self.interactive and self._status:
            self.out.write("\r\033[K" + text + "\n" + self._status)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    # -- live faults ------------------------------------------------------------------------
    def apply(self, action: Action, by: str = "api") -> asyncio.Future[None] | None:
        """Apply a fault now: signal a node's process, restart it, or partition/heal a pair.

        ``by`` ("action", "prompt" or "api") goes into the fault record. A restart returns
        the future of the new start (done once the node's new life runs, or gave up).
        """
        restarting: asyncio.Future[None] | None = None
        if action.do in ("partition", "heal"):
            a, b = (self.children[n] for n in action.nodes)
            self._command(a, cmd=action.do, peer=b.id)
            self._command(b, cmd=action.do, peer=a.id)
            pair = frozenset((a.id, b.id))
            if action.do == "partition":
                self._cut.add(pair)
            else:
                self._cut.discard(pair)
            self.record.add(action.do, nodes=list(action.nodes), by=by)
        else:
            child = self.children[action.nodes[0]]
            if child.process.returncode is not None or child.id in self._restarting:
                why = KILLED_STAYS_DOWN if child.killed and action.do == "restart" else ""
                self.say(f"* {action.do} {child.id}: not running, nothing done{why}")
                return None
            sig = {"pause": signal.SIGSTOP, "resume": signal.SIGCONT}.get(action.do, signal.SIGKILL)
            if sig == signal.SIGKILL:
                child.killed = child.signalled = True
                self._killed.add(child.id)
            # Recorded before the signal: the process's exit always follows its kill.
            self.record.add("kill" if sig == signal.SIGKILL else action.do, child.id, by=by)
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(sig)
            child.paused = action.do == "pause"
            if action.do == "restart":
                self._restarting.add(child.id)
                restarting = asyncio.ensure_future(self._restart(child, action.after))
                self._tasks.append(restarting)
        after = f" (back in {action.after:g} s)" if action.do == "restart" else ""
        self.say(f"* {action.do} {' '.join(action.nodes)}{after}")
        return restarting

    async def _restart(self, old: Child, after: float) -> None:
        """Start ``old``'s node again ``after`` s after its kill, on the same address and logs."""
        try:
            await old.finished.wait()
            await asyncio.sleep(after)
            if self._stopping:
                return
            child = await self._spawn(old.id, restart=True, address=old.address)
            self.children[old.id] = child
            await self._introduce([child])
            self._restarted.add(old.id)
            self.say(f"* {old.id} restarted (incarnation {child.incarnation})")
        except NetclockError as exc:
            self.say(f"* restart {old.id} failed: {exc}")
        finally:
            self._restarting.discard(old.id)
            self._changed.set()

    async def _timed_actions(self, start: float) -> None:
        loop = asyncio.get_running_loop()
        for action in self.cluster.actions:
            delay = start + action.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.apply(action, by="action")

    async def _prompt(self) -> None:
        """Read live commands typed at the terminal: ``kill a``, ``restart b``, ``help``..."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        # A duplicate of standard input, closed after the run: the terminal stays open and
        # blocking for whatever reads it next (the next run of a comparison, the shell).
        fd = sys.stdin.fileno()
        pipe = os.fdopen(os.dup(fd), "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        try:
            while line := (await reader.readline()).decode(errors="replace"):
                words = line.split()
                if not words:
                    continue
                if words[0] in ("stop", "quit"):
                    self._interrupt("interrupted")
                    return
                if words[0] in ("help", "?"):
                    self.say(prompt_help(list(self.children)))
                    continue
                try:
                    action = parse_action(words[0], words[1:], list(self.children))
                    self.apply(action, by="prompt")
                except ConfigError as exc:
                    self.say(f"? {exc}; type help for the commands")
        finally:
            transport.close()
            with contextlib.suppress(OSError):
                os.set_blocking(fd, True)

    # -- stopping on a signal -------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every node cleanly now (as Ctrl-C does); a later call forces it."""
        self._interrupt("interrupted")

    def _interrupt(self, reason: str) -> None:
        """Ctrl-C, SIGTERM or ``stop``: stop every node cleanly; a second one forces it."""
        if self.stop_reason in ("interrupted", "terminated"):
            self.say("stopping now: killing what is still running")
            for child in self.children.values():
                if child.process.returncode is None:
                    child.signalled = True
                    with contextlib.suppress(ProcessLookupError):
                        child.process.send_signal(signal.SIGKILL)
            return
        self.stop_reason = reason
        self.say(f"{reason}: stopping every node")
        self._quit = True
        self._changed.set()
        if not self._running and self._main is not None:
            self._main.cancel()  # still starting: stop waiting for READY lines

    def _catch_signals(self) -> list[signal.Signals]:
        loop = asyncio.get_running_loop()
        caught = []
        for sig, reason in ((signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._interrupt, reason)
                caught.append(sig)
        return caught

    def _started_line(self) -> str:
        """Each node's address; past :data:`PROGRESS_NODES` nodes on one host, the host once."""
        bound = [c for c in self.children.values() if c.address]
        hosts = {_host_text(c.address[0]) for c in bound if c.address}
        if len(bound) <= PROGRESS_NODES or len(hosts) != 1:
            return (
                "started "
                + ", ".join(
                    f"{c.id}@{_host_text(c.address[0])}:{c.address[1]}" for c in bound if c.address
                )
                + f" over {self.cluster.link}"
            )
        return f"started {len(bound)} nodes over {self.cluster.link} on {hosts.pop()}: " + " ".join(
            f"{c.id}:{c.address[1]}" for c in bound if c.address
        )

    # -- progress -------------------------------------------------------------------------------
    def progress_line(self) -> str:
        """Per node: messages sent, delivered and retransmitted, and its state; past
        :data:`PROGRESS_NODES` nodes the totals, the running node that has delivered the
        fewest, and how many are in each state."""
        children = list(self.children.values())
        if len(children) <= PROGRESS_NODES:
            return " | ".join(
                f"{child.id}: {self._counts(child.stats)}{self._state(child)}" for child in children
            )
        total: dict[str, int] = {}
        for child in children:
            for key in ("sent", "delivered", "retransmitted"):
                total[key] = total.get(key, 0) + child.stats.get(key, 0)
        state = [self._state(child).strip() for child in children]
        states = Counter(state)
        running = [child for child, now in zip(children, state, strict=True) if not now]
        line = f"{len(children)} nodes: {self._counts(total)}"
        if running:
            behind = min(running, key=lambda child: child.stats.get("delivered", 0))
            line += f" | fewest delivered: {behind.id} ({behind.stats.get('delivered', 0)})"
        return (
            line
            + f" | {states.pop('', 0)} running"
            + "".join(f", {count} {state}" for state, count in sorted(states.items()))
        )

    @staticmethod
    def _counts(stats: Mapping[str, Any]) -> str:
        return (
            f"sent {stats.get('sent', 0)} deliv {stats.get('delivered', 0)} "
            f"retx {stats.get('retransmitted', 0)}"
        )

    def _state(self, child: Child) -> str:
        return (
            " restarting"
            if child.id in self._restarting
            else " killed"
            if child.killed
            else " paused"
            if child.paused
            else " done"
            if child.done
            else ""
        )

    async def _progress(self) -> None:
        period = 0.25 if self.interactive else 5.0
        while True:
            await asyncio.sleep(period)
            line = self.progress_line()
            if self.interactive:
                self._status = line[: shutil.get_terminal_size().columns - 1]
                self.out.write("\r\033[K" + self._status)
                self.out.flush()
            else:
                self.say(f"progress: {line}")

    # -- node processes --------------------------------------------------------------------------
    async def _spawn(
        self,
        node_id: str,
        restart: bool = False,
        address: tuple[str, int] | None = None,
        forks: ForkServer | None = None,
    ) -> Child:
        assert self.cluster.source is not None
        more = ["--restart"] if restart else []
        if address is not None:
            more += ["--address", f"{address[0]}:{address[1]}"]
        argv = [
            "node",
            "--id",
            node_id,
            "--control",
            "--run-dir",
            str(self.run_dir),
            "--epoch",
            repr(self.epoch),
            "--override",
            json.dumps(dict(self.cluster.overrides)),
            *more,
            str(self.cluster.source),
        ]
        stderr = _open(self.run_dir / f"{node_id}.stderr", "ab" if restart else "wb")
        process: asyncio.subprocess.Process | ForkedProcess
        try:
            forked = None
            if forks is not None:
                with contextlib.suppress(OSError):  # the server broke: exec this one
                    forked = await forks.spawn(argv, stderr.fileno(), LINE_LIMIT)
            if forked is not None:
                process = forked
            else:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "netclock",
                    *argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=stderr,
                    limit=LINE_LIMIT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
        finally:
            stderr.close()
        child = Child(node_id, process, restart=restart, spawned={"spawned": time.time()})
        if forks is not None and forks.ready_at is not None:
            child.spawned["server"] = forks.ready_at
        self._readers.append(asyncio.ensure_future(self._read(child)))
        return child

    async def _start_fork_server(self) -> ForkServer | None:
        """The fork server the first lives of the nodes are forked from
        (:mod:`netclock.cluster.forkserver`), where the system has one and
        ``NETCLOCK_FORK_SERVER`` is not ``0``; None (each node is its own ``python -m netclock
        node``) otherwise or when it cannot start."""
        if not supported() or os.environ.get(FORK_SERVER_ENV, "1") == "0":
            return None
        forks = ForkServer()
        try:
            await forks.start(
                []
                if self.cluster.source is None
                else [str(self.cluster.source), json.dumps(dict(self.cluster.overrides))]
            )
        except (OSError, TimeoutError) as exc:
            await forks.close()
            self.say(f"warning: no fork server ({exc}); starting each node on its own")
            return None
        return forks

    async def _read(self, child: Child) -> None:
        assert child.process.stdout is not None
        with _open(self.run_dir / f"{child.id}.out", "a" if child.restart else "w") as output:
            while True:
                try:
                    raw = await child.process.stdout.readline()
                except ValueError:  # a line longer than LINE_LIMIT: skip it, keep reading
                    raw = b"[netclock: an over-long output line was dropped]\n"
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\n")
                message = parse_message(line)
                if message is not None and message[0] == "OUT":
                    t, text = _printed(message[1])
                    output.write(text + "\n")
                    self._relay(t, child.id, text)
                elif message is not None and self._control(child, *message):
                    pass
                else:  # written around sys.stdout (a control line's look alone is not one)
                    output.write(line + "\n")
                    self._relay(time.time(), child.id, line)
        code = await child.process.wait()
        self._exited(child, code)
        child.finished.set()
        child.ready.set()
        child.knows_peers.set()
        self._changed.set()

    # -- relayed output ---------------------------------------------------------------------------
    def _relay(self, t: float, node: str, line: str) -> None:
        """Hold a printed line back to release it in order of printing (:mod:`.output`)."""
        self._merger.add(t, node, line)
        self._arm_release()

    def _arm_release(self) -> None:
        deadline = self._merger.next_deadline()
        if deadline is None or (self._release is not None and self._release_at <= deadline):
            return
        if self._release is not None:
            self._release.cancel()
        loop = asyncio.get_running_loop()
        self._release_at = deadline
        self._release = loop.call_at(loop.time() + max(0.0, deadline - time.time()), self._due)

    def _due(self) -> None:
        self._release = None
        self._emit(self._merger.due(time.time()))
        self._arm_release()

    def _emit(self, lines: list[OutputLine]) -> None:
        """Show released lines and keep each, with its time and node, in ``output.jsonl``."""
        for t, node, line in lines:
            self.output.add(t, node, line)
            self.say(f"[{node}] {line}")

    def _flush_output(self) -> None:
        """The run is over: release every held line, stop keeping output."""
        if self._release is not None:
            self._release.cancel()
            self._release = None
        self._emit(self._merger.drain())
        self.output.close()

    def _exited(self, child: Child, code: int) -> None:
        """Record a process's end; one the run did not cause is a failure of its node."""
        stopped_by_us = self._stopping and (code == 0 or code in _STOP_SIGNALS)
        expected = child.signalled or stopped_by_us or (code == 0 and child.failed is None)
        if not expected and child.failed is None:
            child.failed = _exit_text(code, self.run_dir / f"{child.id}.stderr")
        if child.address is None:  # it never said READY: its start was not recorded yet
            self.record.add("start", child.id, pid=child.process.pid, **_restart(child))
        fields: dict[str, Any] = {"code": code, "expected": expected}
        if child.failed is not None:
            fields["error"] = child.failed
        self.record.add("exit", child.id, **fields)
        if not expected and not self._stopping and child.address is not None:
            self.say(f"! node {child.id} failed: {child.failed}")

    def _control(self, child: Child, kind: str, fields: dict[str, Any]) -> bool:
        """Act on one control message of ``child``; False when it cannot be one (a READY
        without an address, or a second READY of the same process: a line that only looks
        like control, written to file descriptor 1 around the node's control writer by a
        subprocess or ``os.write``), so that it is kept as output instead."""
        if kind == "READY":
            steps = fields.get("phases")
            steps = {**child.spawned, **(steps if isinstance(steps, dict) else {})}
            try:
                address = (str(fields["host"]), int(fields["port"]))
                relative = phases.relative(steps, self.epoch)
            except (KeyError, TypeError, ValueError):
                return False
            if child.ready.is_set():
                return False
            child.address = address
            incarnation = fields.get("incarnation")
            child.incarnation = incarnation if isinstance(incarnation, int) else None
            self.record.add(
                "start",
                child.id,
                pid=child.process.pid,
                incarnation=child.incarnation,
                **_restart(child),
                phases=relative,
                **({"cpu": fields["cpu"]} if isinstance(fields.get("cpu"), float) else {}),
            )
            child.ready.set()
        elif kind == "PEERS":
            child.knows_peers.set()
        elif kind == "STATS":
            child.stats = fields
        elif kind == "DONE":
            child.done = child.returned = True
            child.result = fields.get("result")
            self._changed.set()
        elif kind == "FAILED":
            child.done = True
            child.failed = first_line(str(fields.get("error")))
            if child.ready.is_set() and not self._stopping:
                self.say(f"! node {child.id} failed: {child.failed}")
            self._changed.set()
        elif kind == "DRAINED":
            if not self._drain_asked:
                return False
            child.drain_clean = fields.get("clean") is True
            child.drained.set()
        elif kind == "STOPPED":
            child.stats = fields
            child.stopped = True
        else:
            return False
        return True

    def _command(self, child: Child, **command: Any) -> None:
        stdin = child.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.write(command_line(**command))

    async def _introduce(self, children: list[Child]) -> None:
        """Wait for the READY of ``children``, give them the peer table, then say go.

        Two steps, so that no program sends before every node knows its peers (a
        datagram from a peer a node does not know yet is dropped). Each step may take
        :func:`ready_timeout` of the cluster's size.
        """
        timeout = ready_timeout(len(self.cluster.nodes))
        try:
            async with asyncio.timeout(timeout):
                for child in children:
                    await child.ready.wait()
        except TimeoutError:
            raise NetclockError(
                f"nodes did not report READY within {timeout:.0f} s; see {self.run_dir}/*.stderr"
            ) from None
        for child in children:
            if child.address is None:
                detail = child.failed or _tail(self.run_dir / f"{child.id}.stderr")
                raise NetclockError(f"node {child.id} could not start: {detail}")
        peers = {c.id: list(c.address) for c in self.children.values() if c.address}
        for child in children:
            self._command(child, cmd="start", peers=peers)
        try:
            async with asyncio.timeout(timeout):
                for child in children:
                    await child.knows_peers.wait()
        except TimeoutError:
            slow = [c.id for c in children if not c.knows_peers.is_set()]
            raise NetclockError(
                f"node(s) {', '.join(slow)} did not take the peer table within "
                f"{timeout:.0f} s; see {self.run_dir}/{slow[0]}.stderr"
            ) from None
        for child in children:
            self._command(child, cmd="go")

    async def run(self) -> RunResult:
        """Start, run and stop the cluster; always leaves no process behind.

        Ctrl-C (SIGINT) and SIGTERM stop every node cleanly and return a result whose
        ``stop_reason`` says so; a second one kills what is still running.
        """
        self._main = asyncio.current_task()
        caught = self._catch_signals()
        try:
            try:
                return await self._run()
            except asyncio.CancelledError:
                if self.stop_reason is None:
                    raise
                uncancel = getattr(self._main, "uncancel", None)
                if uncancel is not None:
                    uncancel()
                self._stopping = True
                await self._stop()
                return self._result()
        finally:
            try:
                await self._reap()
            finally:
                self._flush_output()
                loop = asyncio.get_running_loop()
                for sig in caught:
                    loop.remove_signal_handler(sig)
                drained = {
                    c.id: c.drain_clean for c in self.children.values() if c.drained.is_set()
                }
                self.record.add("stop", reason=self.stop_reason or "done", drained=drained)
                self.record.close()

    async def _run(self) -> RunResult:
        cluster = self.cluster
        for warning in (
            unhonoured_faults(cluster.faults, cluster.link)
            + unreached_actions(cluster)
            + unused_certificates(cluster)
        ):
            self.say(f"warning: {warning}")
        forks = await self._start_fork_server()
        try:
            if forks is not None:  # every request at once: the server forks them in a batch
                started = await asyncio.gather(
                    *(self._spawn(spec.id, forks=forks) for spec in self.cluster.nodes)
                )
                self.children.update((child.id, child) for child in started)
            else:
                for spec in self.cluster.nodes:
                    self.children[spec.id] = await self._spawn(spec.id)
        finally:
            if forks is not None:  # every node is the launcher's child now; restarts exec
                await forks.close()
        await self._introduce(list(self.children.values()))
        self._running = True
        self.started.set()
        self.say(self._started_line())
        start = asyncio.get_running_loop().time()
        self._tasks += [
            asyncio.ensure_future(self._timed_actions(start)),
            asyncio.ensure_future(self._progress()),
        ]
        if self.prompt:
            self._tasks.append(asyncio.ensure_future(self._prompt()))
            self.say(f"commands: {PROMPT_HELP}, help")
        deadline = time.monotonic() + self.cluster.duration
        unfinished: tuple[str, ...] = ()
        try:
            while not self._quit and (
                self._restarting
                or not all(c.done or c.finished.is_set() for c in self.children.values())
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.stop_reason = "duration"
                    unfinished = tuple(
                        c.id
                        for c in self.children.values()
                        if not (c.done or c.finished.is_set()) or c.id in self._restarting
                    )
                    self.say(
                        f"duration of {self.cluster.duration:g} s is over; stopping "
                        + (f"(unfinished: {', '.join(unfinished)})" if unfinished else "")
                    )
                    break
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        finally:
            self._stopping = True
            for task in self._tasks:
                task.cancel()
            if self._status:
                self.out.write("\r\033[K")
                self._status = ""
        await self._stop()
        return self._result(unfinished)

    def _result(self, unfinished: tuple[str, ...] = ()) -> RunResult:
        results = {c.id: c.result for c in self.children.values() if c.returned}
        with _open(self.run_dir / RESULTS, "w") as file:
            json.dump(results, file, indent=1, default=str)
        return RunResult(
            self.run_dir,
            {c.id: c.failed for c in self.children.values() if c.failed},
            {c.id: c.stats for c in self.children.values()},
            {c.id: c.process.returncode for c in self.children.values()},
            tuple(sorted(self._killed)),
            tuple(sorted(self._restarted)),
            unfinished,
            self.stop_reason or "done",
            results,
            self.cluster.log_events,
        )

    async def _stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask every node to drain, then (once all have, or after :data:`DRAIN_WAIT`) to
        stop; wait up to ``timeout`` for them to end."""
        self._stopping = True
        for child in self.children.values():
            if child.paused and child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGCONT)
                self.record.add("resume", child.id, by="stop")
                child.paused = False
        await self._drain()
        for child in self.children.values():
            self._command(child, cmd="stop")
        waits = [c.process.wait() for c in self.children.values()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), timeout)

    async def _drain(self) -> None:
        """Every running node stops its program and waits for its messages to the other
        running nodes to be acknowledged, while all of them still answer; done when each
        has said DRAINED or ended, or after :data:`DRAIN_WAIT`. Asked once per run (a
        second stop goes straight to ``stop``). A node ignores the nodes that are down and
        those a ``partition`` action cut it off from (the fault plan's own partitions are
        not known here: a pair cut by one drains until ``DRAIN_TIMEOUT``)."""
        alive = [c for c in self.children.values() if c.process.returncode is None]
        if not alive or self._drain_asked:
            return
        self._drain_asked = True
        down = {c.id for c in self.children.values() if c.process.returncode is not None}
        for child in alive:
            cut = {peer for pair in self._cut if child.id in pair for peer in pair} - {child.id}
            self._command(child, cmd="drain", down=sorted(down | cut))

        async def drained(child: Child) -> None:
            waits = [
                asyncio.ensure_future(child.drained.wait()),
                asyncio.ensure_future(child.finished.wait()),
            ]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()

        waits = [asyncio.ensure_future(drained(child)) for child in alive]
        _, late = await asyncio.wait(waits, timeout=DRAIN_WAIT)
        for wait in late:
            wait.cancel()

    async def _reap(self) -> None:
        for task in self._tasks:
            task.cancel()
        if any(c.process.returncode is None for c in self.children.values()):
            await asyncio.shield(self._stop())
        await self._signal_alive()
        if self._readers:  # the pipes close with the processes: read what is left
            await asyncio.wait(self._readers, timeout=STOP_TIMEOUT / 2)
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, *self._tasks, return_exceptions=True)
        finish_run(self.run_dir)  # the records of killed lives, rendered as text

    async def _signal_alive(self) -> None:
        """SIGTERM, then SIGKILL, whatever is still running."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = [c for c in self.children.values() if c.process.returncode is None]
            if not alive:
                return
            for child in alive:
                child.signalled = True
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(c.process.wait() for c in alive)), STOP_TIMEOUT / 2
                )


PROMPT_HELP = "kill|pause|resume|restart NODE, partition|heal A B, stop"
PROMPT_COMMANDS = (
    ("kill NODE", "crash the node's process (SIGKILL); it stays down"),
    ("pause NODE", "freeze the node's process (SIGSTOP) until resume"),
    ("resume NODE", "let a paused node run on (SIGCONT)"),
    (
        "restart NODE",
        f"kill the node, start it again {RESTART_AFTER:g} s later on its address and logs",
    ),
    ("partition A B", "drop everything between A and B, both ways"),
    ("heal A B", "end the partition between A and B"),
    ("stop", "stop every node cleanly and end the run (as Ctrl-C)"),
    ("help", "this list"),
)
"""The launcher prompt's commands and what each does (``help`` shows them)."""


def prompt_help(nodes: list[str]) -> str:
    """What ``help`` at the prompt prints: each command, what it does, and the nodes."""
    width = max(len(command) for command, _ in PROMPT_COMMANDS)
    rows = [f"  {command:<{width}}  {text}" for command, text in PROMPT_COMMANDS]
    return "\n".join(["commands:", *rows, f"nodes: {', '.join(nodes)}"])


def _stdin_is_a_terminal() -> bool:
    """True when standard input is a terminal this process may read: in the foreground
    (a background job reading its terminal would be stopped by SIGTTIN)."""
    try:
        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            return False
    except (AttributeError, ValueError, OSError):
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:  # not our controlling terminal: reading it cannot stop us
        return True


_STOP_SIGNALS = (-signal.SIGTERM, -signal.SIGINT)
"""Exit codes of a node that died of the run's own stop (a signal sent to the whole group)."""


def _printed(fields: dict[str, Any]) -> tuple[float, str]:
    """The time and text of an OUT message. A stamp later than now (or none) reads as now,
    so no line is held back longer than the window."""
    now, t, line = time.time(), fields.get("t"), fields.get("line")
    number = isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t)
    stamp = min(float(t), now) if number and isinstance(t, int | float) else now
    return stamp, line if isinstance(line, str) else str(line)


def _restart(child: Child) -> dict[str, Any]:
    return {"restart": True} if child.restart else {}


def _exit_text(code: int, stderr: Path) -> str:
    """What an unexpected exit says: its code or signal, and the last line of stderr."""
    if code < 0:
        try:
            what = f"killed by {signal.Signals(-code).name}, which the run did not send"
        except ValueError:
            what = f"killed by signal {-code}, which the run did not send"
    else:
        what = f"exited with code {code}"
    last = _tail(stderr, 1)
    return what if last == "(no output)" else f"{what}: {last}"


def _host_text(host: str) -> str:
    """A host as an address shows it: an IPv6 one in brackets."""
    return f"[{host}]" if ":" in host else host


def _open(path: Path, mode: str) -> IO[Any]:
    """Open a run-folder file (small, local: not worth a thread)."""
    return open(path, mode, encoding=None if "b" in mode else "utf-8")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return " | ".join(text[-lines:]) or "(no output)"


async def run_cluster(cluster: Cluster, run_dir: Path, out: TextIO = sys.stdout) -> RunResult:
    """Run ``cluster`` with its run folder at ``run_dir``."""
    seed = None if cluster.faults is None else cluster.faults.seed
    info = RunInfo(cluster.name, cluster.link, tuple(cluster.node_ids), seed, time.time())
    write_run_info(run_dir, info)
    return await Launcher(cluster, run_dir, out).run()
