"""One node of a cluster, run as its own OS process (``netclock node``).

Under a launcher (``--control``) the process speaks the control protocol of
:mod:`netclock.cluster.control`: it prints ``@netclock READY {...}`` with its real address
once bound, reads
``{"cmd": "start", "peers": {...}}`` from standard input, answers ``@netclock PEERS``
once it knows every peer, waits for ``{"cmd": "go"}`` (so no program sends before every
node can accept its datagrams), runs the node's program (each line it prints becomes an
``@netclock OUT`` line stamped with when it was printed: :mod:`netclock.cluster.output`), prints
``@netclock DONE`` when the program returns and ``@netclock STATS {...}`` now and then.
At the end of a run the launcher first sends ``{"cmd": "drain", "down": [ids]}``: the node
stops its program (if it still runs), waits up to ``DRAIN_TIMEOUT``
(:mod:`netclock.cluster.control`) for every message to a peer not ``down`` to be
acknowledged, prints ``@netclock DRAINED {"clean": bool}`` and
keeps answering its peers; then on ``{"cmd": "stop"}`` (or end of input: the launcher is
gone) it closes and prints ``@netclock STOPPED {...}``. Every node is still up while the
others drain, so the acknowledgements of a run's last messages are not lost to a peer that
had already closed. SIGTERM stops it the same way. A node that cannot
start (its program missing, or ``args`` its program does not take) or whose program
raises prints ``@netclock FAILED {"error": first line}``. Without ``--control`` it prints
no control line: it tells a person what it does in plain sentences on standard error
(:mod:`netclock.cluster.narrate`), and the peers'
addresses come from the cluster file, so the same command runs a node on another machine;
with ``rendezvous`` (``netclock node --rendezvous DIR``) they come from a shared folder
instead (:mod:`netclock.cluster.rendezvous`): nodes started independently, on any hosts,
meet there, start their programs together and stay up until every program is done.

With ``restart`` (``netclock node --restart``) the node continues an earlier life of its
id in the same run folder: it appends to its logs, and its clock's own entry continues
from the last value its event log holds (:func:`last_clock`).
"""

from __future__ import annotations

import asyncio
import inspect
import signal
import sys
import time
import traceback
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from netclock.cluster import phases
from netclock.cluster.config import DIFF_CLOCK_LINKS, Cluster, Program, load_program
from netclock.cluster.control import (
    DRAIN_TIMEOUT,
    CommandReader,
    ControlWriter,
    error_line,
    first_line,
)
from netclock.cluster.narrate import Narrator
from netclock.cluster.output import LineStamper
from netclock.cluster.rendezvous import RENDEZVOUS_TIMEOUT, advertised_host, finish, meet, ready
from netclock.errors import ConfigError, NetclockError
from netclock.links.base import Address
from netclock.node import Node
from netclock.observe.eventlog import EVENT_SUFFIX, iter_events
from netclock.observe.shiviz import parse_log
from netclock.sampling import DEFAULT_SAMPLE_PERIOD

STATS_PERIOD = 0.5
T = TypeVar("T")


def last_clock(event_log: Path | None, govector_log: Path | None, node_id: str) -> int:
    """The own clock entry of the last event ``node_id`` logged (0 if none), for a restart:
    from the event log, or from the GoVector log when the event log is off.

    A kill in mid-write can leave a cut last line (or a GoVector event without its text);
    it is cut off both files first, so the restarted life appends after complete events.
    """
    if event_log is not None:
        _cut_unfinished(event_log, 1)
    if govector_log is not None:
        _cut_unfinished(govector_log, 2)
    if event_log is not None:
        if not event_log.exists():
            return 0
        events = iter_events(event_log, [], strict=False)
        return max((e.clock.get(node_id, 0) for e in events if e.node == node_id), default=0)
    if govector_log is None or not govector_log.exists():
        return 0
    logged = parse_log(govector_log)
    return max((e.clock.get(node_id) for e in logged if e.host == node_id), default=0)


def _cut_unfinished(path: Path, lines_per_event: int) -> None:
    """Truncate ``path`` after its last complete event (``lines_per_event`` whole lines)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    keep = len(data)
    if not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
    if lines_per_event > 1:
        complete = data[:keep].count(b"\n")
        for _ in range(complete % lines_per_event):
            keep = data.rfind(b"\n", 0, keep - 1) + 1
    if keep != len(data):
        with open(path, "r+b") as file:
            file.truncate(keep)


def check_fixed_ports(cluster: Cluster, node_id: str) -> None:
    """ConfigError unless every peer of ``node_id`` has a fixed port in the file: a node
    started by hand (no launcher, no rendezvous) finds its peers there."""
    for spec in cluster.nodes:
        if spec.id != node_id and spec.address[1] == 0:
            raise ConfigError(
                f"node {spec.id!r} has port 0; give every node a fixed port to run "
                "nodes by hand, meet in a shared folder with --rendezvous DIR, or start "
                "the cluster with `netclock run`"
            )


DATA_DIRS = "data"
"""The run folder's subfolder holding one data directory per node (a restart recovers it)."""


def make_node(
    cluster: Cluster,
    node_id: str,
    run_dir: Path | None,
    epoch: float | None = None,
    *,
    address: Address | None = None,
    restart: bool = False,
) -> Node:
    """The Node for ``node_id`` as the cluster file describes it.

    ``address`` replaces the file's (a restart binds the port its earlier life had);
    ``restart`` continues the earlier life's logs and clock (:func:`last_clock`). With a run
    folder each node gets a data directory in it, ``data/<id>``, so a restart recovers its
    incarnation, clock and logged perfect link (a logged link is FIFO: a cluster with
    ``fifo = false`` on a reliable link runs without one).
    """
    spec = cluster.node(node_id)
    logged_link_ok = cluster.fifo or cluster.link not in ("reliable", "sealed", "tls")
    govector_log = run_dir / f"{node_id}.log" if run_dir and cluster.log_govector else None
    event_log = run_dir / f"{node_id}{EVENT_SUFFIX}" if run_dir and cluster.log_events else None
    clock_start = (
        last_clock(event_log, govector_log, node_id) + 1
        if restart and (event_log or govector_log)
        else None
    )
    return Node(
        node_id,
        link=cluster.link,
        address=spec.address if address is None else address,
        clock_start=clock_start,
        faults=cluster.faults,
        fault_epoch=epoch,
        fifo=cluster.fifo,
        give_up_after=cluster.give_up_after,
        detector=cluster.detector,
        inbox_size=cluster.inbox_size,
        inbox_bytes=cluster.inbox_bytes,
        cert_dir=cluster.cert_dir,
        govector_log=govector_log,
        event_log=event_log,
        data_dir=run_dir / DATA_DIRS / node_id if run_dir is not None and logged_link_ok else None,
        sample_period=DEFAULT_SAMPLE_PERIOD,
        link_options=(
            {"clock_encoding": "diff"}
            if cluster.clock_encoding == "diff" and cluster.link in DIFF_CLOCK_LINKS
            else None
        ),
    )


def _wants(command: dict[str, Any] | None, cmd: str) -> bool:
    """True when ``command`` is ``cmd`` (None, the launcher gone, is a stop)."""
    return (command or {"cmd": "stop"}).get("cmd") == cmd


@dataclass(frozen=True)
class NodeRun:
    """One node process to run: which node of which cluster, and how.

    ``run_dir`` holds its logs; ``control`` makes it speak to a launcher on stdio;
    ``epoch`` is when the run started (fault-plan schedules count from it); ``address``
    replaces the cluster file's (a restart binds the port its earlier life had);
    ``restart`` continues the earlier life's logs and clock (:func:`last_clock`);
    ``rendezvous`` is the shared folder where nodes without a launcher meet, each stage
    waited for at most ``rendezvous_timeout`` seconds. Without ``control`` the node speaks
    to a person (:class:`~netclock.cluster.narrate.Narrator`) instead.
    """

    cluster: Cluster
    node_id: str
    run_dir: Path | None = None
    control: bool = False
    epoch: float | None = None
    address: Address | None = None
    restart: bool = False
    rendezvous: Path | None = None
    rendezvous_timeout: float = RENDEZVOUS_TIMEOUT
    chosen_run_dir: bool = False
    """``run_dir`` was made for this process (no ``--run-dir`` given): say so on start."""


async def run_node(run: NodeRun) -> int:
    """Run one node to completion; returns the process exit code.

    A node that cannot start raises its :class:`NetclockError` after reporting it (FAILED).
    """
    out: ControlWriter | Narrator
    stamper: LineStamper | None = None
    saved_stdout = sys.stdout
    if run.control:
        out = control = ControlWriter.for_stdout()
        # Each line the program prints reaches the launcher stamped with when it was printed.
        stamper = LineStamper(lambda t, line: control.send("OUT", t=t, line=line))
        sys.stdout = stamper
    else:
        out = Narrator(run.node_id, run.cluster.link)
        if run.run_dir is not None and (run.cluster.log_events or run.cluster.log_govector):
            out.logs_in(run.run_dir, run.chosen_run_dir)
    try:
        prepared = _prepare(run)
        return await _run_node(run.cluster, run.node_id, prepared, run.control, out, run)
    except NetclockError as exc:
        if run.control:  # by hand, the command line says it once
            out.send("FAILED", error=first_line(str(exc)))
        raise
    finally:
        if stamper is not None:
            sys.stdout = saved_stdout
            stamper.close()
        out.close()


def _prepare(run: NodeRun) -> tuple[Node, Program]:
    """The node and its program, or ConfigError when the program cannot be called."""
    spec = run.cluster.node(run.node_id)
    program = load_program(spec.program, run.cluster.base_dir)
    try:
        inspect.signature(program).bind(None, **spec.args)
    except TypeError as exc:
        raise ConfigError(
            f"program {spec.program} of node {run.node_id!r} cannot take args "
            f"{dict(spec.args)!r} ({exc})"
        ) from None
    node = make_node(
        run.cluster, run.node_id, run.run_dir, run.epoch, address=run.address, restart=run.restart
    )
    phases.mark("node")
    return node, program


async def _run_node(
    cluster: Cluster,
    node_id: str,
    prepared: tuple[Node, Program],
    control: bool,
    out: ControlWriter | Narrator,
    run: NodeRun | None = None,
) -> int:
    spec = cluster.node(node_id)
    node, program = prepared
    commands = CommandReader()
    await node.start()
    if control:
        await commands.start()
        # SIGTERM (a cancelled job, `timeout`) stops the node as the launcher's stop does.
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGTERM, commands.push, {"cmd": "stop"}
        )
    phases.mark("bound")
    host, port = node.address
    host = advertised_host(host)
    start = {"phases": phases.marks(), "cpu": round(time.process_time(), 4)} if control else {}
    out.send("READY", id=node_id, host=host, port=port, incarnation=node.incarnation, **start)
    meeting = None if control or run is None or run.rendezvous is None else run.rendezvous
    timeout = RENDEZVOUS_TIMEOUT if run is None else run.rendezvous_timeout
    if control:
        command = await commands.get()
        if not _wants(command, "start"):
            commands.close()
            await node.close()
            return 0
        assert command is not None
        peers = command.get("peers", {})
    elif meeting is not None:
        peers = await _closing_on_error(
            node,
            meet(
                meeting,
                node_id,
                node.address,
                cluster.node_ids,
                timeout,
                incarnation=node.incarnation,
            ),
        )
    else:
        check_fixed_ports(cluster, node_id)
        peers = {n.id: n.address for n in cluster.nodes}
    for peer_id, address in peers.items():
        if peer_id != node_id:
            node.add_peer(peer_id, (address[0], int(address[1])))
    if meeting is not None:
        await _closing_on_error(node, ready(meeting, node_id, cluster.node_ids, timeout))
    # By hand, Ctrl-C and SIGTERM stop the program and close the node (its logs complete).
    caught = () if control else _stop_on_signals(commands)
    out.send("PEERS", peers=sorted(node.peers))
    if control and not _wants(await commands.get(), "go"):
        commands.close()
        await node.close()
        return 0

    exit_code = 0
    started = time.monotonic()
    task = asyncio.ensure_future(program(node, **spec.args))
    stopper = asyncio.ensure_future(commands.get())
    drainer: asyncio.Future[bool] | None = None
    try:
        while True:
            waiting: set[asyncio.Future[Any]] = {
                f for f in (task, stopper, drainer) if f is not None
            }
            done, _ = await asyncio.wait(
                waiting, timeout=STATS_PERIOD, return_when=asyncio.FIRST_COMPLETED
            )
            if control:
                out.send("STATS", **node.stats())
            if drainer is not None and drainer in done:
                out.send("DRAINED", clean=drainer.result())
                drainer = None
            if task in done:
                exc = task.exception()
                if exc is not None:
                    traceback.print_exception(exc, file=sys.stderr)
                    out.send("FAILED", error=error_line(exc))
                    exit_code = 1
                else:
                    out.send("DONE", result=task.result())
                task = None  # type: ignore[assignment]
                if meeting is not None:
                    left = cluster.duration - (time.monotonic() - started)
                    await finish(meeting, node_id, cluster.node_ids, max(left, 0.0))
                if not control:
                    break
            if stopper is not None and stopper in done:
                command = stopper.result()
                if _wants(command, "stop"):
                    if command is not None and isinstance(command.get("signal"), int):
                        exit_code = 128 + command["signal"]
                        if isinstance(out, Narrator):
                            name = command.get("name")
                            out.say(f"node {node_id} got {name}: stopping its program")
                    break
                assert command is not None
                if _wants(command, "drain") and drainer is None:
                    if task is not None:  # a program still running ends here, unreported
                        task.add_done_callback(_retrieved)
                        task.cancel()
                        task = None  # type: ignore[assignment]
                    down = command.get("down")
                    drainer = asyncio.ensure_future(
                        _drain(node, down if isinstance(down, list) else [])
                    )
                else:
                    _apply(node, command)
                stopper = asyncio.ensure_future(commands.get())
    finally:
        for pending in (task, stopper, drainer):
            if pending is not None and not pending.done():
                pending.cancel()
        loop = asyncio.get_running_loop()
        for sig in caught:
            loop.remove_signal_handler(sig)
        commands.close()
        await node.close()
    out.send("STOPPED", **node.stats())
    return exit_code


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Take a stopped program's outcome, so that asyncio does not log it as unretrieved."""
    if not task.cancelled():
        task.exception()


async def _drain(node: Node, down: list[Any]) -> bool:
    """Wait up to ``DRAIN_TIMEOUT`` until every message to a peer not in ``down`` is
    acknowledged; whether they all were."""
    try:
        await asyncio.wait_for(
            node.flush(ignoring={p for p in down if isinstance(p, str)}), DRAIN_TIMEOUT
        )
    except TimeoutError:
        return False
    return True


def _stop_on_signals(commands: CommandReader) -> tuple[signal.Signals, ...]:
    """Make SIGINT and SIGTERM queue a stop (with the signal) on ``commands``; returns the
    signals handled (none where the loop cannot handle signals)."""
    loop = asyncio.get_running_loop()
    caught = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        stop = {"cmd": "stop", "signal": int(sig), "name": sig.name}
        try:
            loop.add_signal_handler(sig, commands.push, stop)
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        caught.append(sig)
    return tuple(caught)


async def _closing_on_error(node: Node, step: Coroutine[Any, Any, T]) -> T:
    """Await ``step``; if it raises (a rendezvous timed out), close ``node`` first."""
    try:
        return await step
    except BaseException:
        await node.close()
        raise


def _apply(node: Node, command: dict[str, Any]) -> None:
    """A live command from the launcher (partition or heal a peer)."""
    peer = command.get("peer")
    if not isinstance(peer, str) or peer not in node.peers:
        return
    if command.get("cmd") == "partition":
        node.partition(peer)
    elif command.get("cmd") == "heal":
        node.heal(peer)


def main_node(run: NodeRun) -> int:
    """Entry point of ``netclock node``: run under uvloop when it is installed."""
    if run.control:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher decides when we stop
    if run.run_dir is not None:
        run.run_dir.mkdir(parents=True, exist_ok=True)
    return int(run_async(run_node(run)))


def run_async(coro: Any) -> Any:
    """Run ``coro`` under uvloop when available, plain asyncio otherwise (programs only)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
