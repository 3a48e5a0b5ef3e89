"""The launcher: one OS process per node, a control channel to each, a run folder.

``netclock run CLUSTER.toml`` starts every node with ``netclock node --control``, waits
for each READY line (never guesses ports, never sleeps), sends every node the peer
table and, once every node has it, the signal to go; it relays what the programs print,
applies live faults, and stops everything when the programs are done or the run's
duration is over (and on Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from netclock.cluster.config import Action, Cluster, parse_action
from netclock.cluster.control import command_line, parse_message
from netclock.errors import ConfigError, NetclockError
from netclock.observe.eventlog import RunInfo, write_run_info

READY_TIMEOUT = 20.0
LINE_LIMIT = 1 << 20
"""Longest line a node may print; a longer one is dropped, not fatal to the run."""
STOP_TIMEOUT = 10.0


@dataclass
class Child:
    """A node process and what the launcher knows about it."""

    id: str
    process: asyncio.subprocess.Process
    address: tuple[str, int] | None = None
    done: bool = False
    failed: str | None = None
    stopped: bool = False
    killed: bool = False
    paused: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    knows_peers: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class RunResult:
    """What a run left behind."""

    run_dir: Path
    failed: dict[str, str]
    stats: dict[str, dict[str, Any]]
    exit_codes: dict[str, int | None]
    killed: tuple[str, ...] = ()


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
        return run_dir
    raise ConfigError(f"cannot create a run folder under {root}")


class Launcher:
    """Runs a cluster; use :func:`run_cluster` unless you need the pieces."""

    def __init__(self, cluster: Cluster, run_dir: Path, out: TextIO = sys.stdout) -> None:
        self.cluster = cluster
        self.run_dir = run_dir
        self.out = out
        self.children: dict[str, Child] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._changed = asyncio.Event()
        self.epoch = time.time()
        self.interactive = bool(getattr(out, "isatty", lambda: False)())
        self._status = ""
        self._tasks: list[asyncio.Future[Any]] = []

    def say(self, text: str) -> None:
        """Print a line; on a terminal the status line is redrawn under it."""
        if self.interactive and self._status:
            self.out.write("\r\033[K" + text + "\n" + self._status)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    # -- live faults ------------------------------------------------------------------------
    def apply(self, action: Action) -> None:
        """Apply a fault now: signal a node's process, or partition/heal a pair."""
        children = [self.children[n] for n in action.nodes]
        if action.do in ("partition", "heal"):
            a, b = children
            self._command(a, cmd=action.do, peer=b.id)
            self._command(b, cmd=action.do, peer=a.id)
        else:
            child = children[0]
            if child.process.returncode is not None:
                return
            sig = {"kill": signal.SIGKILL, "pause": signal.SIGSTOP, "resume": signal.SIGCONT}
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(sig[action.do])
            child.killed = child.killed or action.do == "kill"
            child.paused = action.do == "pause"
        self.say(f"* {action.do} {' '.join(action.nodes)}")

    async def _timed_actions(self, start: float) -> None:
        loop = asyncio.get_running_loop()
        for action in self.cluster.actions:
            delay = start + action.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.apply(action)

    async def _prompt(self) -> None:
        """Read live commands typed at the terminal: ``kill a``, ``partition a b``..."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode(errors="replace"):
            words = line.split()
            if not words:
                continue
            if words[0] in ("stop", "quit"):
                self._quit = True
                self._changed.set()
                return
            try:
                self.apply(parse_action(words[0], words[1:], list(self.children)))
            except ConfigError as exc:
                self.say(f"? {exc} (kill|pause|resume NODE, partition|heal A B, stop)")

    # -- progress -------------------------------------------------------------------------------
    def progress_line(self) -> str:
        """Per node: messages sent, delivered and retransmitted, and its state."""
        parts = []
        for child in self.children.values():
            st = child.stats
            state = (
                " killed"
                if child.killed
                else " paused"
                if child.paused
                else " done"
                if child.done
                else ""
            )
            parts.append(
                f"{child.id}: sent {st.get('sent', 0)} deliv {st.get('delivered', 0)} "
                f"retx {st.get('retransmitted', 0)}{state}"
            )
        return " | ".join(parts)

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

    async def _spawn(self, node_id: str) -> Child:
        assert self.cluster.source is not None
        stderr = _open(self.run_dir / f"{node_id}.stderr", "wb")
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "netclock",
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
                str(self.cluster.source),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                limit=LINE_LIMIT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        finally:
            stderr.close()
        child = Child(node_id, process)
        self._readers.append(asyncio.ensure_future(self._read(child)))
        return child

    async def _read(self, child: Child) -> None:
        assert child.process.stdout is not None
        with _open(self.run_dir / f"{child.id}.out", "w") as output:
            while True:
                try:
                    raw = await child.process.stdout.readline()
                except ValueError:  # a line longer than LINE_LIMIT: skip it, keep reading
                    raw = b"[netclock: an over-long output line was dropped]\n"
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\n")
                message = parse_message(line)
                if message is not None:
                    self._control(child, *message)
                else:
                    output.write(line + "\n")
                    self.say(f"[{child.id}] {line}")
        await child.process.wait()
        child.finished.set()
        child.ready.set()
        child.knows_peers.set()
        self._changed.set()

    def _control(self, child: Child, kind: str, fields: dict[str, Any]) -> None:
        if kind == "READY":
            child.address = (fields["host"], int(fields["port"]))
            child.ready.set()
        elif kind == "PEERS":
            child.knows_peers.set()
        elif kind == "STATS":
            child.stats = fields
        elif kind == "DONE":
            child.done = True
            self._changed.set()
        elif kind == "FAILED":
            child.done = True
            child.failed = str(fields.get("error"))
            self._changed.set()
        elif kind == "STOPPED":
            child.stats = fields
            child.stopped = True

    def _command(self, child: Child, **command: Any) -> None:
        stdin = child.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.write(command_line(**command))

    async def run(self) -> RunResult:
        """Start, run and stop the cluster; always leaves no process behind."""
        try:
            return await self._run()
        finally:
            await self._reap()

    async def _run(self) -> RunResult:
        for spec in self.cluster.nodes:
            self.children[spec.id] = await self._spawn(spec.id)
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                for child in self.children.values():
                    await child.ready.wait()
        except TimeoutError:
            raise NetclockError(
                f"nodes did not report READY within {READY_TIMEOUT:.0f} s; "
                f"see {self.run_dir}/*.stderr"
            ) from None
        missing = [c.id for c in self.children.values() if c.address is None]
        if missing:
            detail = _tail(self.run_dir / f"{missing[0]}.stderr")
            raise NetclockError(f"node {missing[0]} exited before it was ready: {detail}")
        peers = {c.id: list(c.address) for c in self.children.values() if c.address}
        for child in self.children.values():
            self._command(child, cmd="start", peers=peers)
        # Two steps, so that no program sends before every node knows its peers
        # (a datagram from a peer a node does not know yet is dropped).
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                for child in self.children.values():
                    await child.knows_peers.wait()
        except TimeoutError:
            slow = [c.id for c in self.children.values() if not c.knows_peers.is_set()]
            raise NetclockError(
                f"node(s) {', '.join(slow)} did not take the peer table within "
                f"{READY_TIMEOUT:.0f} s; see {self.run_dir}/{slow[0]}.stderr"
            ) from None
        for child in self.children.values():
            self._command(child, cmd="go")
        self.say(
            "started "
            + ", ".join(
                f"{c.id}@{c.address[0]}:{c.address[1]}" for c in self.children.values() if c.address
            )
            + f" over {self.cluster.link}"
        )
        self._quit = False
        start = asyncio.get_running_loop().time()
        self._tasks = [
            asyncio.ensure_future(self._timed_actions(start)),
            asyncio.ensure_future(self._progress()),
        ]
        if self.interactive and sys.stdin.isatty():
            self._tasks.append(asyncio.ensure_future(self._prompt()))
            self.say("commands: kill|pause|resume NODE, partition|heal A B, stop")
        deadline = time.monotonic() + self.cluster.duration
        try:
            while not self._quit and not all(
                c.done or c.finished.is_set() for c in self.children.values()
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.say(f"duration of {self.cluster.duration:g} s is over; stopping")
                    break
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        finally:
            for task in self._tasks:
                task.cancel()
            if self._status:
                self.out.write("\r\033[K")
                self._status = ""
        await self._stop()
        return RunResult(
            self.run_dir,
            {c.id: c.failed for c in self.children.values() if c.failed},
            {c.id: c.stats for c in self.children.values()},
            {c.id: c.process.returncode for c in self.children.values()},
            tuple(c.id for c in self.children.values() if c.killed),
        )

    async def _stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask every node to drain and stop; wait up to ``timeout`` for them."""
        for child in self.children.values():
            if child.paused and child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGCONT)
                child.paused = False
            self._command(child, cmd="stop")
        waits = [c.process.wait() for c in self.children.values()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), timeout)

    async def _reap(self) -> None:
        if any(c.process.returncode is None for c in self.children.values()):
            await asyncio.shield(self._stop())
        await self._signal_alive()
        if self._readers:  # the pipes close with the processes: read what is left
            await asyncio.wait(self._readers, timeout=STOP_TIMEOUT / 2)
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)

    async def _signal_alive(self) -> None:
        """SIGTERM, then SIGKILL, whatever is still running."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            alive = [c for c in self.children.values() if c.process.returncode is None]
            if not alive:
                return
            for child in alive:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(sig)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(c.process.wait() for c in alive)), STOP_TIMEOUT / 2
                )


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
