"""``netclock bench``: netclock between two OS processes, beside a raw baseline from the same run.

Every scenario starts two children (``netclock bench-worker``, see
:mod:`netclock.tools.bench.worker` for what they say to each other), each bound to port 0 and
read back. Runs alternate baseline, netclock,
baseline, netclock, ... (``--runs`` of each, at least 5), and the report gives medians and
the median of the per-pair ratios: a shared machine swings by a third from one second to the
next, and a ratio between neighbouring runs holds better than any absolute figure.

Scenarios:

* ``one-way`` messages/s: raw asyncio UDP against the fair-loss link, the perfect link with
  no loss, and the perfect link with 10 % seeded loss in each direction; the fair-loss and
  perfect links also with the GoVector log on. The rate is what was delivered divided by
  (receiver's last delivery - sender's first send). Raw UDP and the fair-loss link may lose
  under overload, and the loss is reported; the perfect link must deliver every message
  exactly once, or the scenario fails.
* ``round-trip`` p50/p99 in µs: raw UDP echo against the fair-loss and perfect links
  (send, await the answer, one at a time, after a warm-up).
* ``tls``: the TLS link (``Node(..., link="tls", cert_dir=...)``) beside plain asyncio
  mutual-TLS 1.3 streams (``start_server`` / ``open_connection`` with the contexts of
  :mod:`netclock.links.tls.contexts` and the same certificates, frames of a 4-byte length and the
  payload, one ``writer.write`` per message, a drain every ``--yield-every``): one-way
  messages/s (both sides connect inside the timed span: the link dials on its first send, the
  baseline opens its connection; the TLS link must deliver every message exactly once), round
  trip p50/p99 (after the warm-up), and connection set-up: ``--setups`` times per run, after one
  untimed set-up, a fresh listener and a fresh dialer (for the link a fresh Node pair, for the
  baseline a fresh server and ``open_connection``), timed from just before the first send (or
  the connect) until the listening process's application has the first message, so TCP, TLS,
  the hellos and the first frame are all inside. The baseline's time until ``open_connection``
  returned is reported too. The certificates are made once per invocation in a temporary
  folder (:func:`netclock.certs.init_cluster`).
* ``sealed`` (only when asked for): the sealed link (the perfect link over UDP with every
  datagram sealed, ``Node(..., link="sealed", cert_dir=...)``) beside the plain perfect link,
  one-way messages/s and round trip p50/p99, with the same certificates as ``tls``.
* ``durable`` (only when asked for): the logged perfect link (``Node(data_dir=...)``) at
  each durability level beside the in-memory perfect link, one-way messages/s, with the
  receiver's records per fsync at machine level (both sides log: ``out`` and ``acked`` at
  the sender, ``in`` and ``consumed`` at the receiver, in a temporary folder); and the
  recovery time after ``kill -9`` with 100,000 outstanding messages beside a start on an
  empty data directory (:mod:`netclock.tools.bench.recovery`).
* ``logging`` (only when asked for): the perfect link with both logs on (GoVector and event
  log) beside the same link with logs off, one-way messages/s (and µs per message), with the
  two processes' clocks and with every message carrying a 32-entry clock.
* ``bounded-memory`` (only when asked for): a perfect-link sender whose peer is gone takes
  a million non-blocking sends, and a sender whose receiver never reads is blocked by
  backpressure; peak RSS before and after, in each process.

Every child is bounded by ``--timeout`` and killed on any
failure. Exit status: 0 when every scenario ran (a missed target is a finding, not an
error), 1 when one failed, 2 on bad options.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from netclock.cluster.control import command_line, parse_message
from netclock.errors import ConfigError, NetclockError
from netclock.links.base import PROMISES

SCENARIO_GROUPS = (
    "one-way", "round-trip", "tls", "sealed", "durable", "bounded-memory", "broadcast", "large",
    "peers", "logging", "scale", "manyproc",
)  # fmt: skip
DEFAULT_GROUPS = ("one-way", "round-trip", "tls")
BASELINES = {
    "udp": "raw UDP",
    "tls-stream": "plain mTLS streams",
    "tcp-stream": "raw TCP streams",
    "reliable": "in-memory perfect link",
}
"""The baselines, by worker kind, as the report names them."""
SETUP_WARMUP = 1
"""Untimed connection set-ups at the start of each run (first-use costs of a fresh process)."""
SETUP_METHOD = (
    "a fresh Node pair per set-up (baseline: a fresh server and open_connection), timed from "
    "just before the first send (baseline: the connect) until the listener's application has "
    "the first message"
)
MAX_SIZE = 8192
"""Largest payload: several fit one perfect-link batch, and one fits any UDP datagram."""
LOSSY_IDLE = 0.3
"""Quiet time after the sender finished that ends a stream which may lose messages."""
LOGGING_CLOCK_WIDTH = 32
"""Entries of the clocks in the logging scenario's wide-clock row (the issue's 32 processes):
its target, logs on at least 0.5x the rate of logs off, is "at most 2x the cost per message"."""
RELIABLE_IDLE = 5.0
"""Quiet time that ends a perfect-link stream (which must then have delivered everything)."""


class BenchError(NetclockError):
    """A benchmark run went wrong: a child failed, timed out, or a link broke its promise."""


# -- settings -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """What to measure and how often (``--quick`` shrinks everything for a smoke run)."""

    groups: tuple[str, ...] = DEFAULT_GROUPS
    count: int = 50_000
    size: int = 64
    runs: int = 5
    round_trips: int = 2_000
    warmup: int = 200
    loss: float = 0.1
    seed: int = 1
    attempts: int = 1_000_000
    stall_seconds: float = 3.0
    timeout: float = 60.0
    yield_every: int = 64
    setups: int = 50
    quick: bool = False
    cert_dir: str | None = None
    """The cluster certificates of the TLS scenarios (:func:`run_bench` makes them)."""
    broadcasts: int = 2_000
    """Broadcasts from each process in the broadcast scenario."""
    scale_link: str = "reliable"
    """The link of the scale scenario (``reliable`` or ``tls``)."""


def make_settings(
    *,
    scenario: Sequence[str] | None = None,
    count: int | None = None,
    size: int = 64,
    runs: int | None = None,
    round_trips: int | None = None,
    warmup: int | None = None,
    setups: int | None = None,
    loss: float = 0.1,
    seed: int = 1,
    attempts: int | None = None,
    stall_seconds: float | None = None,
    timeout: float | None = None,
    quick: bool = False,
    scale_link: str = "reliable",
) -> Settings:
    """Validated settings from ``netclock bench``'s options (None: the default, smaller when
    ``quick``); raises :class:`ConfigError` naming the option to fix."""
    chosen = scenario or list(DEFAULT_GROUPS)
    everything = "all" in chosen
    groups = tuple(g for g in SCENARIO_GROUPS if everything or g in chosen)

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else full)

    settings = Settings(
        groups=groups,
        count=pick(count, 50_000, 2_000),
        size=size,
        runs=pick(runs, 5, 1),
        round_trips=pick(round_trips, 2_000, 200),
        warmup=pick(warmup, 200, 20),
        loss=loss,
        seed=seed,
        attempts=pick(attempts, 1_000_000, 100_000),
        stall_seconds=pick(stall_seconds, 3.0, 0.5),
        setups=pick(setups, 50, 10),
        timeout=pick(timeout, 60.0, 30.0),
        quick=quick,
        broadcasts=pick(None, 2_000, 200),
        scale_link=scale_link,
    )
    if scale_link not in ("reliable", "tls"):
        raise ConfigError("--scale-link must be reliable or tls")
    if settings.runs < (1 if quick else 5):
        raise ConfigError("--runs must be at least 5 (alternating runs need it); use --quick")
    if not 1 <= settings.size <= MAX_SIZE:
        raise ConfigError(f"--size must be between 1 and {MAX_SIZE} bytes")
    for name in ("count", "round_trips", "attempts", "setups"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
    if settings.warmup < 0:
        raise ConfigError("--warmup must be 0 or more")
    if not 0.0 <= settings.loss < 1.0:
        raise ConfigError("--loss must be a probability from 0 up to (not including) 1")
    if settings.timeout <= 0 or settings.stall_seconds <= 0:
        raise ConfigError("--timeout and --stall-seconds must be positive")
    if settings.stall_seconds >= settings.timeout / 2:
        raise ConfigError("--stall-seconds must be under half of --timeout")
    return settings


# -- the machine ----------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """CPU model, cores, Python, uvloop and load: what a reader needs to weigh the figures."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        import uvloop

        loop = f"uvloop {getattr(uvloop, '__version__', '?')}"
    except ImportError:
        loop = "asyncio"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "uvloop": loop.startswith("uvloop"),
        "loop": loop,
        "platform": platform.platform(terse=True),
        "load_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


# -- children -------------------------------------------------------------------------------------
class Child:
    """One worker process: tagged lines out, JSON commands in, killed if anything goes wrong."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self._stderr: deque[str] = deque(maxlen=8)
        self._stderr_task = asyncio.ensure_future(self._drain_stderr())

    async def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self._stderr.append(line.decode(errors="replace").rstrip())

    def _why(self) -> str:
        tail = " | ".join(self._stderr)
        return f" (stderr: {tail})" if tail else ""

    async def expect(self, tag: str, deadline: float) -> dict[str, Any]:
        """The fields of the next ``tag`` line; raises :class:`BenchError` on ERROR, EOF, time."""
        assert self.proc.stdout is not None
        while True:
            remaining = deadline - time.monotonic()
            try:
                raw = await asyncio.wait_for(self.proc.stdout.readline(), max(remaining, 0.001))
            except TimeoutError:
                raise BenchError(f"{self.name} did not say {tag} in time{self._why()}") from None
            if not raw:
                await asyncio.sleep(0)
                raise BenchError(f"{self.name} exited before {tag}{self._why()}")
            message = parse_message(raw.decode(errors="replace").rstrip("\r\n"))
            if message is None:
                continue
            kind, fields = message
            if kind == "ERROR":
                raise BenchError(f"{self.name}: {fields.get('error')}{self._why()}")
            if kind == tag:
                return fields

    def tell(self, command: dict[str, Any]) -> None:
        """Send one command line (a child that already left is not an error here)."""
        stdin = self.proc.stdin
        if stdin is not None and not stdin.is_closing():
            with contextlib.suppress(OSError):
                stdin.write(command_line(**command))

    async def finish(self, grace: float, kill: bool) -> int | None:
        """Close its input, give it ``grace`` seconds to exit (none when ``kill``), then kill."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        if not kill:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), grace)
        code = self.proc.returncode
        if code is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._stderr_task, 1.0)
        return code


@contextlib.asynccontextmanager
async def children(settings: Settings, *specs: tuple[str, list[str]]) -> AsyncIterator[list[Child]]:
    """Start one worker per ``(role, options)``; on leaving, stop them all (kill on errors)."""
    started: list[Child] = []
    failed = True
    try:
        for role, options in specs:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "netclock",
                "bench-worker",
                role,
                *options,
                "--timeout",
                str(settings.timeout),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            started.append(Child(f"{role} ({options[1]})", proc))
        yield started
        failed = False
    finally:
        codes = [await child.finish(10.0, kill=failed) for child in started]
    if not failed:
        for child, code in zip(started, codes, strict=True):
            if code != 0:
                raise BenchError(f"{child.name} exited with status {code}{child._why()}")


async def _connect(pair: Sequence[Child], deadline: float) -> None:
    """READY from both, each told the other's address, ARMED from both."""
    first, second = await asyncio.gather(*(c.expect("READY", deadline) for c in pair))
    pair[0].tell({"peer": [second["host"], second["port"]]})
    pair[1].tell({"peer": [first["host"], first["port"]]})
    await asyncio.gather(*(c.expect("ARMED", deadline) for c in pair))


# -- single runs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One side of a comparison: which link (or baseline), with which faults and logging."""

    kind: str
    loss: float = 0.0
    govector: bool = False
    events: bool = False
    """The JSON-lines event log on."""
    clock_width: int = 0
    """Entries of the sender's clock (0: the two processes')."""
    durability: str = ""
    """A logged perfect link at this level (``process`` or ``machine``); empty: in memory."""

    @property
    def reliable(self) -> bool:
        """The perfect link over UDP."""
        return self.kind == "reliable"

    @property
    def exactly_once(self) -> bool:
        """The link promises every message exactly once: a run that breaks it fails."""
        return "no_duplication" in PROMISES.get(self.kind, ())

    @property
    def needs_certs(self) -> bool:
        return self.kind in ("tls", "tls-stream", "quic", "sealed")


def _kind(settings: Settings, variant: Variant) -> list[str]:
    """The worker options naming the kind (first, so children are named by it) and its certs."""
    options = ["--kind", variant.kind]
    if variant.needs_certs:
        if settings.cert_dir is None:
            raise BenchError(f"{variant.kind} needs certificates; run_bench makes them")
        options += ["--cert-dir", settings.cert_dir]
    return options


async def one_way_run(settings: Settings, variant: Variant) -> dict[str, Any]:
    """One sender process, one receiver process; messages/s as delivered / elapsed."""
    common = [
        *_kind(settings, variant),
        "--count",
        str(settings.count),
        "--size",
        str(settings.size),
        "--yield-every",
        str(settings.yield_every),
        "--idle",
        str(RELIABLE_IDLE if variant.exactly_once else LOSSY_IDLE),
    ]
    if variant.loss > 0:
        common += ["--loss", str(variant.loss), "--seed", str(settings.seed)]
    with tempfile.TemporaryDirectory(prefix="netclock-bench-") as tmp:
        rx_options, tx_options = list(common), list(common)
        if variant.govector:
            rx_options += ["--govector", str(Path(tmp) / "b.log")]
            tx_options += ["--govector", str(Path(tmp) / "a.log")]
        if variant.events:
            rx_options += ["--events", str(Path(tmp) / "b.events.jsonl")]
            tx_options += ["--events", str(Path(tmp) / "a.events.jsonl")]
        if variant.clock_width:  # the receiver admits the wide clock's ids
            rx_options += ["--clock-width", str(variant.clock_width)]
            tx_options += ["--clock-width", str(variant.clock_width)]
        if variant.durability:
            logged = ["--data-dir", tmp, "--durability", variant.durability]
            rx_options += logged
            tx_options += logged
        deadline = time.monotonic() + settings.timeout
        async with children(settings, ("receive", rx_options), ("send", tx_options)) as pair:
            receiver, sender = pair
            await _connect(pair, deadline)
            sender.tell({"cmd": "start"})
            sent = await sender.expect("RESULT", deadline)
            receiver.tell({"cmd": "done"})
            got = await receiver.expect("RESULT", deadline)
    count = settings.count
    unique = int(got["unique"])
    duplicates = int(got["duplicates"])
    if variant.exactly_once and (unique != count or duplicates):
        raise BenchError(
            f"the {variant.kind} link broke its promise: delivered {unique} of {count} distinct "
            f"messages with {duplicates} duplicate(s) (seed {settings.seed}, loss {variant.loss})"
        )
    elapsed = float(got["last_delivery"]) - float(sent["first_send"])
    if unique == 0 or elapsed <= 0:
        raise BenchError(f"{variant.kind}: nothing was delivered ({unique} of {count})")
    return {
        **_where_lost(sent.get("stats"), got.get("stats")),
        **_journal_figures(sent.get("stats"), got.get("stats")),
        "count": count,
        "delivered": int(got["delivered"]),
        "unique": unique,
        "duplicates": duplicates,
        "exactly_once": unique == count and duplicates == 0,
        "loss_pct": 100.0 * (count - unique) / count,
        "elapsed_s": elapsed,
        "rate": unique / elapsed,
        "sender_s": float(sent["last_send"]) - float(sent["first_send"]),
    }


def _journal_figures(sender: Any, receiver: Any) -> dict[str, Any]:
    """A logged link's records and fsyncs on each side (what group commit achieved)."""
    out: dict[str, Any] = {}
    for side, stats in (("sender", sender), ("receiver", receiver)):
        journal = stats.get("journal") if isinstance(stats, dict) else None
        if isinstance(journal, dict):
            out[f"{side}_records"] = journal.get("records")
            out[f"{side}_fsyncs"] = journal.get("fsyncs")
            out[f"{side}_records_per_fsync"] = journal.get("records_per_fsync")
    return out


def _where_lost(sender: Any, receiver: Any) -> dict[str, Any]:
    """Datagrams the kernel dropped and messages a full inbox dropped (netclock runs only)."""
    if not isinstance(sender, dict) or not isinstance(receiver, dict):
        return {}
    tx, rx = sender.get("link", {}), receiver.get("link", {})
    out: dict[str, Any] = {
        "datagrams_sent": tx.get("datagrams_sent"),
        "datagrams_received": rx.get("datagrams_received"),
    }
    if "inbox_full" in rx:
        out["dropped_inbox_full"] = rx["inbox_full"]
    if "retransmitted" in tx:
        out["retransmitted"] = tx["retransmitted"]
    return out


async def round_trip_run(settings: Settings, variant: Variant) -> dict[str, Any]:
    """One pinging process, one echoing process; p50/p99 of sequential round trips in µs."""
    options = [*_kind(settings, variant), "--size", str(max(8, settings.size)), "--idle", "2.0"]
    ping_options = [*options, "--count", str(settings.round_trips)]
    ping_options += ["--warmup", str(settings.warmup)]
    deadline = time.monotonic() + settings.timeout
    async with children(settings, ("echo", options), ("ping", ping_options)) as pair:
        _, pinger = pair
        await _connect(pair, deadline)
        pinger.tell({"cmd": "start"})
        result = await pinger.expect("RESULT", deadline)
    return {
        "round_trips": int(result["round_trips"]),
        "p50_us": float(result["p50_us"]),
        "p99_us": float(result["p99_us"]),
        "mean_us": float(result["mean_us"]),
    }


def _nearest_rank(sorted_samples: Sequence[float], fraction: float) -> float:
    index = max(0, min(len(sorted_samples) - 1, round(fraction * len(sorted_samples)) - 1))
    return sorted_samples[index]


async def setup_run(settings: Settings, variant: Variant) -> dict[str, Any]:
    """``settings.setups`` connection set-ups (after :data:`SETUP_WARMUP` untimed), in ms.

    Each set-up is one cycle of the ``accept`` and ``dial`` workers: fresh endpoints, READY,
    addresses, ARMED, start; the time is the listener's first delivery minus the dialer's
    start (one monotonic clock for both processes on Linux).
    """
    total = settings.setups + SETUP_WARMUP
    options = [*_kind(settings, variant), "--count", str(total), "--size", str(settings.size)]
    samples: list[float] = []
    connects: list[float] = []
    deadline = time.monotonic() + settings.timeout
    async with children(settings, ("accept", options), ("dial", options)) as pair:
        listener, dialer = pair
        for index in range(total):
            await _connect(pair, deadline)
            dialer.tell({"cmd": "start"})
            sent, got = await asyncio.gather(
                dialer.expect("SENT", deadline), listener.expect("GOT", deadline)
            )
            if index < SETUP_WARMUP:
                continue
            samples.append(1000.0 * (float(got["at"]) - float(sent["start"])))
            if "connected" in sent:
                connects.append(1000.0 * (float(sent["connected"]) - float(sent["start"])))
        await asyncio.gather(*(child.expect("RESULT", deadline) for child in pair))
    if min(samples) <= 0:
        raise BenchError(f"{variant.kind}: a set-up took no time; the clocks disagree")
    samples.sort()
    connects.sort()
    result: dict[str, Any] = {
        "setups": len(samples),
        "p50_ms": _nearest_rank(samples, 0.5),
        "p90_ms": _nearest_rank(samples, 0.9),
        "max_ms": samples[-1],
        "samples_ms": [round(x, 4) for x in samples],
    }
    if connects:
        result["connect_p50_ms"] = _nearest_rank(connects, 0.5)
    return result


# -- scenarios ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """The issue's goal: ``op`` is ``">="`` or ``"<="``; ``unit`` ``"x"`` is a ratio to the
    baseline, ``"ms"`` an absolute netclock p50 (the set-up time)."""

    op: str
    value: float
    unit: str = "x"

    def met(self, figure: float) -> bool:
        return figure >= self.value if self.op == ">=" else figure <= self.value

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}{'x' if self.unit == 'x' else ' ' + self.unit}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "value": self.value,
            "unit": self.unit,
            "ratio": self.value if self.unit == "x" else None,
            "text": str(self),
        }


@dataclass(frozen=True)
class Scenario:
    """A netclock variant measured against a baseline, with its target if the issue set one.

    ``group`` is the ``--scenario`` name that selects it; ``measure`` (``"one-way"``,
    ``"round-trip"`` or ``"set-up"``) what is measured, by default the group's name.
    """

    key: str
    title: str
    group: str
    variant: Variant
    target: Target | None = None
    baseline: Variant = field(default_factory=lambda: Variant("udp"))
    measure: str = ""
    baseline_title: str = ""
    """The baseline's name in the report, when not its kind's (:data:`BASELINES`)."""

    @property
    def measurement(self) -> str:
        return self.measure or self.group


def scenarios(settings: Settings) -> list[Scenario]:
    """The comparisons of the chosen groups, in the order they run and print."""
    out: list[Scenario] = []
    if "one-way" in settings.groups:
        loss = f"{settings.loss:.0%}"
        out += [
            Scenario("one-way/fairloss", "one-way fair-loss", "one-way", Variant("fairloss"),
                     Target(">=", 0.6)),
            Scenario("one-way/fairloss+govector", "one-way fair-loss, GoVector log", "one-way",
                     Variant("fairloss", govector=True)),
            Scenario("one-way/reliable", "one-way perfect link", "one-way", Variant("reliable"),
                     Target(">=", 1.0)),
            Scenario("one-way/reliable+govector", "one-way perfect link, GoVector log",
                     "one-way", Variant("reliable", govector=True)),
            Scenario("one-way/reliable+loss", f"one-way perfect link, {loss} loss each way",
                     "one-way", Variant("reliable", loss=settings.loss), Target(">=", 0.5)),
        ]  # fmt: skip
    if "round-trip" in settings.groups:
        out += [
            Scenario("round-trip/fairloss", "round trip fair-loss", "round-trip",
                     Variant("fairloss"), Target("<=", 1.3)),
            Scenario("round-trip/reliable", "round trip perfect link", "round-trip",
                     Variant("reliable"), Target("<=", 1.5)),
        ]  # fmt: skip
    if "tls" in settings.groups:
        tls, stream = Variant("tls"), Variant("tls-stream")
        out += [
            Scenario("tls/one-way", "one-way TLS link", "tls", tls, Target(">=", 0.8), stream,
                     "one-way"),
            Scenario("tls/round-trip", "round trip TLS link", "tls", tls, Target("<=", 1.3),
                     stream, "round-trip"),
            Scenario("tls/set-up", "connection set-up TLS link", "tls", tls,
                     Target("<=", 10.0, "ms"), stream, "set-up"),
        ]  # fmt: skip
    if "sealed" in settings.groups:
        sealed, plain = Variant("sealed"), Variant("reliable")
        out += [
            Scenario("sealed/one-way", "one-way sealed link", "sealed", sealed, Target(">=", 0.7),
                     plain, "one-way"),
            Scenario("sealed/round-trip", "round trip sealed link", "sealed", sealed,
                     Target("<=", 1.4), plain, "round-trip"),
        ]  # fmt: skip
    if "durable" in settings.groups:
        memory = Variant("reliable")
        out += [
            Scenario("durable/process", "one-way logged perfect link, process level", "durable",
                     Variant("reliable", durability="process"), Target(">=", 0.7), memory,
                     "one-way"),
            Scenario("durable/machine", "one-way logged perfect link, machine level", "durable",
                     Variant("reliable", durability="machine"), None, memory, "one-way"),
        ]  # fmt: skip
    if "logging" in settings.groups:
        wide = LOGGING_CLOCK_WIDTH
        out += [
            Scenario("logging/reliable", "one-way perfect link, both logs on", "logging",
                     Variant("reliable", govector=True, events=True), Target(">=", 0.8),
                     Variant("reliable"), "one-way", "the same link, logs off"),
            Scenario(f"logging/reliable-{wide}", f"one-way perfect link, {wide}-entry clocks, "
                     "both logs on", "logging",
                     Variant("reliable", govector=True, events=True, clock_width=wide),
                     Target(">=", 0.5), Variant("reliable", clock_width=wide), "one-way",
                     "the same link, logs off"),
        ]  # fmt: skip
    return out


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _medians(
    pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]], **fields: str
) -> dict[str, Any]:
    """``netclock_<name>`` and ``baseline_<name>``: the median of each side's ``fields[name]``."""
    out: dict[str, Any] = {}
    for side, index in (("netclock", 1), ("baseline", 0)):
        for name, key in fields.items():
            out[f"{side}_{name}"] = _median([pair[index][key] for pair in pairs])
    return out


def scenario_head(sc: Scenario) -> dict[str, Any]:
    """What a scenario's report says before any run: names, link, baseline and target."""
    return {
        "key": sc.key,
        "title": sc.title,
        "group": sc.group,
        "measure": sc.measurement,
        "link": sc.variant.kind,
        "baseline_name": sc.baseline_title or BASELINES[sc.baseline.kind],
        "loss": sc.variant.loss,
        "govector_log": sc.variant.govector,
        "event_log": sc.variant.events,
        "clock_width": sc.variant.clock_width or 2,
        "target": None if sc.target is None else sc.target.as_dict(),
        "status": "ok",
        "reason": None,
    }


async def run_scenario(settings: Settings, sc: Scenario, progress: TextIO) -> dict[str, Any]:
    """``settings.runs`` alternating baseline/netclock pairs, summarised as medians."""
    report = scenario_head(sc)
    baseline_name = report["baseline_name"]
    runs = {"one-way": one_way_run, "round-trip": round_trip_run, "set-up": setup_run}
    run = runs[sc.measurement]
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    try:
        for index in range(settings.runs):
            base = await run(settings, sc.baseline)
            _progress(progress, sc, index, settings.runs, baseline_name, base)
            mine = await run(settings, sc.variant)
            _progress(progress, sc, index, settings.runs, "netclock", mine)
            pairs.append((base, mine))
    except BenchError as exc:
        report.update(status="failed", reason=str(exc))
        print(f"  {sc.title}: FAILED: {exc}", file=progress, flush=True)
        return report
    report["baseline"] = [b for b, _ in pairs]
    report["netclock"] = [n for _, n in pairs]
    if sc.measurement == "one-way":
        report["metric"] = "msgs/s"
        ratios = [n["rate"] / b["rate"] for b, n in pairs]
        report["summary"] = {
            **_medians(pairs, rate="rate", delivered="unique", loss_pct="loss_pct"),
            "ratio": _median(ratios),
            "ratios": ratios,
        }
        report["summary"]["netclock_us_per_msg"] = 1e6 / report["summary"]["netclock_rate"]
        report["summary"]["baseline_us_per_msg"] = 1e6 / report["summary"]["baseline_rate"]
        if sc.variant.exactly_once:
            report["exactly_once"] = all(n["exactly_once"] for _, n in pairs)
        for side in ("sender", "receiver"):
            per_fsync = [n.get(f"{side}_records_per_fsync") for _, n in pairs]
            if all(isinstance(x, (int, float)) for x in per_fsync):
                figures = [float(x) for x in per_fsync if x is not None]
                report["summary"][f"{side}_records_per_fsync"] = _median(figures)
    elif sc.measurement == "set-up":
        report["metric"] = "ms"
        report["method"] = SETUP_METHOD
        ratios = [n["p50_ms"] / b["p50_ms"] for b, n in pairs]
        report["summary"] = {
            **_medians(pairs, p50_ms="p50_ms", max_ms="max_ms"),
            "baseline_connect_p50_ms": _median([b["connect_p50_ms"] for b, _ in pairs]),
            "ratio": _median(ratios),
            "ratios": ratios,
        }
    else:
        report["metric"] = "µs"
        ratios = [n["p50_us"] / b["p50_us"] for b, n in pairs]
        report["summary"] = {
            **_medians(pairs, p50_us="p50_us", p99_us="p99_us"),
            "ratio": _median(ratios),
            "ratios": ratios,
            "p99_ratio": _median([n["p99_us"] / b["p99_us"] for b, n in pairs]),
        }
    if sc.target is not None:
        summary = report["summary"]
        figure = summary["ratio"] if sc.target.unit == "x" else summary["netclock_p50_ms"]
        report["target_met"] = None if settings.quick else sc.target.met(figure)
    return report


def _progress(
    out: TextIO, sc: Scenario, index: int, runs: int, side: str, result: dict[str, Any]
) -> None:
    if "rate" in result:
        figure = (
            f"{result['rate']:,.0f} msgs/s, {result['unique']:,} of {result['count']:,} "
            f"delivered ({result['loss_pct']:.1f}% lost, {result['duplicates']} duplicates)"
        )
        if result.get("datagrams_sent") is not None:
            figure += (
                f"; datagrams {result['datagrams_sent']:,} sent, "
                f"{result['datagrams_received']:,} received"
            )
        if result.get("dropped_inbox_full"):
            figure += f", {result['dropped_inbox_full']:,} dropped at a full inbox"
    elif "p50_ms" in result:
        figure = (
            f"{result['setups']} set-ups, p50 {result['p50_ms']:.2f} ms, "
            f"max {result['max_ms']:.2f} ms"
        )
        if "connect_p50_ms" in result:
            figure += f" (open_connection p50 {result['connect_p50_ms']:.2f} ms)"
    else:
        figure = f"p50 {result['p50_us']:.0f} µs, p99 {result['p99_us']:.0f} µs"
    print(f"  [{index + 1}/{runs}] {sc.title}: {side} {figure}", file=out, flush=True)


# -- bounded memory -------------------------------------------------------------------------------
async def bounded_memory(settings: Settings, progress: TextIO) -> dict[str, Any]:
    """A sender whose peer is gone, and a sender whose receiver stopped reading."""
    report: dict[str, Any] = {"status": "ok", "reason": None}
    size = ["--size", str(settings.size)]
    try:
        deadline = time.monotonic() + settings.timeout
        gone_options = ["--kind", "reliable", "--count", str(settings.attempts), *size]
        async with children(settings, ("gone", gone_options)) as (gone,):
            await gone.expect("READY", deadline)
            report["peer_gone"] = await gone.expect("RESULT", deadline)
        print("  bounded memory: peer gone measured", file=progress, flush=True)
        deadline = time.monotonic() + settings.timeout
        stall = ["--kind", "reliable", *size, "--duration", str(settings.stall_seconds)]
        async with children(settings, ("stall-receive", stall), ("stall-send", stall)) as pair:
            receiver, sender = pair
            await _connect(pair, deadline)
            sender.tell({"cmd": "start"})
            report["stalled_sender"] = await sender.expect("RESULT", deadline)
            receiver.tell({"cmd": "stop"})
            report["stalled_receiver"] = await receiver.expect("RESULT", deadline)
        print("  bounded memory: stalled receiver measured", file=progress, flush=True)
        from netclock.tools.bench.memory import memory_budgets

        report["budgets"] = await memory_budgets(
            settings.stall_seconds + 2.0, settings.timeout, progress
        )
        if report["budgets"]["status"] != "ok":
            report.update(status="failed", reason=report["budgets"]["reason"])
    except BenchError as exc:
        report.update(status="failed", reason=str(exc))
    return report


@contextlib.contextmanager
def cluster_certs(settings: Settings) -> Iterator[tuple[Settings, str | None]]:
    """``settings`` with a certificate folder for nodes "a" and "b" when a chosen scenario runs
    over TLS, made once in a temporary folder removed on leaving; also why making it failed."""
    wanted = any(sc.baseline.needs_certs or sc.variant.needs_certs for sc in scenarios(settings))
    wanted = wanted or "large" in settings.groups or "peers" in settings.groups
    if not wanted:
        yield settings, None
        return
    from netclock.links.tls.certs import init_cluster

    with tempfile.TemporaryDirectory(prefix="netclock-bench-certs-") as tmp:
        folder = Path(tmp) / "certs"
        try:
            init_cluster(folder, ["a", "b"], cluster="bench")
        except (NetclockError, OSError) as exc:
            yield settings, f"cannot make the certificates: {exc}"
            return
        yield replace(settings, cert_dir=str(folder)), None


# -- the whole bench ------------------------------------------------------------------------------
async def run_bench(settings: Settings, progress: TextIO) -> dict[str, Any]:
    """Every chosen scenario in turn; the report :func:`format_table` prints."""
    report: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "count": settings.count,
            "size": settings.size,
            "runs": settings.runs,
            "round_trips": settings.round_trips,
            "warmup": settings.warmup,
            "loss": settings.loss,
            "seed": settings.seed,
            "setups": settings.setups,
            "setup_warmup": SETUP_WARMUP,
            "quick": settings.quick,
            "groups": list(settings.groups),
        },
        "scenarios": [],
    }
    with cluster_certs(settings) as (certified, cert_problem):
        for sc in scenarios(certified):
            if cert_problem is not None and (sc.variant.needs_certs or sc.baseline.needs_certs):
                failed = {**scenario_head(sc), "status": "failed", "reason": cert_problem}
                report["scenarios"].append(failed)
                continue
            report["scenarios"].append(await run_scenario(certified, sc, progress))
        for group in ("large", "peers"):
            if group in settings.groups:
                report[group] = await _extra_group(group, certified, progress, cert_problem)
    if "durable" in settings.groups:
        from netclock.tools.bench.recovery import MESSAGES, recovery_bench

        count, runs = (MESSAGES // 10, 1) if settings.quick else (MESSAGES, 3)
        report["recovery"] = await recovery_bench(count, runs, settings.timeout * 5, progress)
    if "bounded-memory" in settings.groups:
        report["bounded_memory"] = await bounded_memory(settings, progress)
    if "broadcast" in settings.groups:
        from netclock.tools.bench.broadcast import broadcast_bench  # it imports this module

        report["broadcast"] = await broadcast_bench(settings, progress)
    if "scale" in settings.groups:
        from netclock.tools.bench.scale import scale_bench

        report["scale"] = await scale_bench(settings, progress, settings.scale_link)
    if "manyproc" in settings.groups:
        from netclock.tools.bench.manyproc import manyproc_bench

        report["manyproc"] = await manyproc_bench(settings, progress)
    report["machine"]["load_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    failures = [s for s in report["scenarios"] if s["status"] == "failed"]
    if report.get("bounded_memory", {}).get("status") == "failed":
        failures.append(report["bounded_memory"])
    for group in ("recovery", "broadcast", "large", "peers", "scale", "manyproc"):
        if report.get(group, {}).get("status") == "failed":
            failures.append(report[group])
    report["ok"] = not failures
    return report


async def _extra_group(
    group: str, settings: Settings, progress: TextIO, cert_problem: str | None
) -> dict[str, Any]:
    """The report of the ``large`` or ``peers`` group (their modules import this one)."""
    if cert_problem is not None:
        return {"status": "failed", "reason": cert_problem, "rows": []}
    if group == "large":
        from netclock.tools.bench.large import large_bench

        return await large_bench(settings, progress)
    from netclock.tools.bench.peers import peers_bench

    return await peers_bench(settings, progress)


def _cell(summary: dict[str, Any], side: str, metric: str) -> str:
    if metric == "msgs/s":
        rate, lost = summary[f"{side}_rate"], summary[f"{side}_loss_pct"]
        return f"{rate:>10,.0f} msgs/s {lost:4.1f}% lost ({1e6 / rate:5.1f} µs/msg)"
    if metric == "ms":
        figure = f"p50 {summary[f'{side}_p50_ms']:5.2f} ms, max {summary[f'{side}_max_ms']:5.2f} ms"
        connect = summary.get(f"{side}_connect_p50_ms")
        return figure if connect is None else f"{figure} (connect p50 {connect:.2f} ms)"
    return f"p50 {summary[f'{side}_p50_us']:6.0f} p99 {summary[f'{side}_p99_us']:6.0f} µs"


def format_table(report: dict[str, Any]) -> str:
    """The report as plain text: machine, one row per scenario, then bounded memory."""
    m, s = report["machine"], report["settings"]
    load = m.get("load_at_start")
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, {m['python']}, "
        f"uvloop {'yes' if m['uvloop'] else 'no'}"
        + (f", load {load[0]:.2f} at start" if load else ""),
        f"{s['size']}-byte payloads, {s['count']:,} messages one way, {s['round_trips']:,} "
        f"round trips after {s['warmup']} warm-up; {s['runs']} alternating run(s) each; "
        "medians, ratio = median of per-pair ratios",
    ]
    if "tls" in s["groups"]:
        lines.append(
            f"{s['setups']} connection set-ups per run after {s['setup_warmup']} untimed; "
            "certificates made once for this run"
        )
    lines.append("")
    rows = [("scenario", "netclock", "baseline", "", "ratio", "target", "")]
    for sc in report["scenarios"]:
        target = sc["target"]
        target_text = "" if target is None else target["text"]
        name = sc["baseline_name"]
        if sc["status"] != "ok":
            rows.append((sc["title"], sc["status"].upper(), name, "", "", target_text, ""))
            continue
        summary = sc["summary"]
        ratio = f"{summary['ratio']:.2f}x"
        if sc["metric"] == "µs":
            ratio += f" (p99 {summary['p99_ratio']:.2f}x)"
        met = "" if target is None else ("met" if sc["target_met"] else "MISSED")
        if target is not None and sc["target_met"] is None:
            met = "not judged (a --quick smoke run)"
        if sc.get("exactly_once"):
            met = (met + ", " if met else "") + "exactly once"
        if "receiver_records_per_fsync" in summary:
            met += f", {summary['receiver_records_per_fsync']:.0f} records/fsync (receiver)"
        rows.append(
            (
                sc["title"],
                _cell(summary, "netclock", sc["metric"]),
                name,
                _cell(summary, "baseline", sc["metric"]),
                ratio,
                target_text,
                met,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows if report["scenarios"] else ():
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for sc in report["scenarios"]:
        if sc["status"] != "ok":
            lines.append(f"{sc['title']}: {sc['status']}: {sc['reason']}")
        elif sc.get("method"):
            lines.append(f"{sc['title']}: {sc['method']}")
    if "recovery" in report:
        from netclock.tools.bench.recovery import format_recovery

        lines += format_recovery(report["recovery"])
    memory = report.get("bounded_memory")
    if memory is not None:
        lines += ["", "bounded memory (perfect link, peak RSS in MiB):"]
        if memory["status"] != "ok":
            lines.append(f"  {memory['status']}: {memory['reason']}")
        else:
            gone, tx, rx = memory["peer_gone"], memory["stalled_sender"], memory["stalled_receiver"]
            lines.append(
                f"  peer gone: {gone['attempts']:,} send_nowait attempts, {gone['accepted']:,} "
                f"accepted, {gone['refused_window_full']:,} WindowFull; peak RSS "
                f"{_mib(gone['peak_rss_before_kib'])} -> {_mib(gone['peak_rss_after_kib'])}"
            )
            blocked = "blocked (backpressure)" if tx["blocked_at_end"] else "NOT blocked"
            lines.append(
                f"  receiver stopped reading: sender {blocked} after {tx['accepted']:,} messages, "
                f"for the last {tx['blocked_for_s']:.2f} of {tx['duration_s']:g} s; peak RSS "
                f"sender {_mib(tx['peak_rss_before_kib'])} -> {_mib(tx['peak_rss_after_kib'])}, "
                f"receiver {_mib(rx['peak_rss_before_kib'])} -> {_mib(rx['peak_rss_after_kib'])}"
            )
            from netclock.tools.bench.memory import format_budgets

            lines += format_budgets(memory["budgets"])
    if "broadcast" in report:
        from netclock.tools.bench.broadcast import format_broadcast

        lines += format_broadcast(report["broadcast"], s["runs"])
    if "large" in report:
        from netclock.tools.bench.large import format_large

        lines += format_large(report["large"], s["runs"])
    if "peers" in report:
        from netclock.tools.bench.peers import format_peers

        lines += format_peers(report["peers"], s["runs"])
    if "scale" in report:
        from netclock.tools.bench.scale import format_scale

        lines += format_scale(report["scale"])
    if "manyproc" in report:
        from netclock.tools.bench.manyproc import format_manyproc

        lines += format_manyproc(report["manyproc"])
    end = m.get("load_at_end")
    if load and end and max(load[0], end[0]) > 0.5 * (m["cores"] or 1):
        lines += ["", f"note: the machine was busy (load {load[0]:.2f} -> {end[0]:.2f}); "
                  "re-measure when it is quiet"]  # fmt: skip
    return "\n".join(lines)


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"
