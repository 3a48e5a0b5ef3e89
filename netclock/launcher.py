"""The launcher: one OS process per node, a control channel to each, a run folder.

``netclock run CLUSTER.toml`` starts every node with ``netclock node --control``, waits
for each READY line (never guesses ports, never sleeps), sends every node the peer
table, relays what the programs print, stops everything when the programs are done or
the run's duration is over (and on Ctrl-C), then writes the merged ShiViz log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from netclock.cluster import Cluster
from netclock.errors import ConfigError, NetclockError
from netclock.runtime import TAG

READY_TIMEOUT = 20.0
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
    stats: dict[str, Any] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class RunResult:
    """What a run left behind."""

    run_dir: Path
    failed: dict[str, str]
    stats: dict[str, dict[str, Any]]
    exit_codes: dict[str, int | None]


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

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

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
                raw = await child.process.stdout.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line.startswith(TAG):
                    self._control(child, line[len(TAG) :])
                else:
                    output.write(line + "\n")
                    self.say(f"[{child.id}] {line}")
        await child.process.wait()
        child.finished.set()
        child.ready.set()
        self._changed.set()

    def _control(self, child: Child, line: str) -> None:
        kind, _, body = line.partition(" ")
        try:
            fields = json.loads(body) if body else {}
        except ValueError:
            fields = {}
        if kind == "READY":
            child.address = (fields["host"], int(fields["port"]))
            child.ready.set()
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
            stdin.write((json.dumps(command) + "\n").encode())

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
        self.say(
            "started "
            + ", ".join(
                f"{c.id}@{c.address[0]}:{c.address[1]}" for c in self.children.values() if c.address
            )
            + f" over {self.cluster.link}"
        )
        deadline = time.monotonic() + self.cluster.duration
        while not all(c.done or c.finished.is_set() for c in self.children.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.say(f"duration of {self.cluster.duration:g} s is over; stopping")
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        await self._stop()
        return RunResult(
            self.run_dir,
            {c.id: c.failed for c in self.children.values() if c.failed},
            {c.id: c.stats for c in self.children.values()},
            {c.id: c.process.returncode for c in self.children.values()},
        )

    async def _stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask every node to drain and stop; wait up to ``timeout`` for them."""
        for child in self.children.values():
            self._command(child, cmd="stop")
        waits = [c.process.wait() for c in self.children.values()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), timeout)

    async def _reap(self) -> None:
        if any(c.process.returncode is None for c in self.children.values()):
            await asyncio.shield(self._stop())
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
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "name": cluster.name,
                "link": cluster.link,
                "nodes": cluster.node_ids,
                "seed": None if cluster.faults is None else cluster.faults.seed,
                "started": time.time(),
            },
            indent=2,
        )
    )
    return await Launcher(cluster, run_dir, out).run()
