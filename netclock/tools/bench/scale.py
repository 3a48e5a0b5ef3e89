"""``netclock bench --scenario scale``: many processes on one machine, all-to-all.

For each size of :data:`SIZES` the bench writes a cluster file (``n`` nodes, the program
:func:`netclock.tools.bench.scale_program.all_to_all`, the perfect link or ``--link tls``)
and runs it with ``netclock run`` in a child process, as a user would: the launcher, one
OS process per node, then merge, check and viewer. Every figure comes from what the run
leaves behind, not from the system's own view of itself:

* start-up: from the launcher's epoch to the last node's READY (the ``start`` records of
  ``faults.jsonl``, written by the launcher as each READY arrives); each node's CPU
  seconds up to its READY (median), and where the starts went (``start_phases``: the
  median and last time of each step, :mod:`netclock.cluster.phases`);
* delivered msgs/s: all messages / (last delivery anywhere - first send anywhere), one
  ``time.time()`` for every process of one machine;
* span: first send anywhere to last delivery anywhere (with one message per pair,
  ``--count 1``, how long connecting every pair and carrying its messages takes);
* CPU per message and per pair: the nodes' CPU seconds (``time.process_time()`` around
  the program) over all messages, and over the ``n(n-1)/2`` pairs (on the TLS link first
  contact is a handshake per pair);
* spurious retransmissions: nothing is lost on loopback without a fault plan, so every
  retransmission is spurious (% of messages); datagrams (TLS: frames) per message, and
  those carrying messages (every datagram but pure acks, incarnation challenges and their
  answers) per message, beside how many messages each pair carries each way: the control
  datagrams of a pair are a fixed cost (first contact is a challenge and its answer), so
  with few messages a pair they dominate while messages still share datagrams;
* post-run processing: the launcher's wall time after its ``stop`` record (merge, check,
  viewer) as a share of its whole wall time; the launcher's peak RSS (``ru_maxrss`` of
  that process alone, printed by :mod:`netclock.cli.bench_launch` when it ends).

The baseline of the figures is the same bench on an earlier commit; the raw figure beside
start-up is the start of ``n`` bare ``python -c pass`` processes in the same run.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from netclock.tools.bench.runner import BenchError, Settings

SIZES = (4, 16, 32, 64)
QUICK_SIZES = (4, 16)
RSS_TAG = "@netclock-launcher "
PROGRAM = "netclock.tools.bench.scale_program:all_to_all"


def cluster_text(
    n: int,
    per_peer: int,
    link: str,
    duration: float,
    extra: Sequence[str] = (),
    burst: int = 0,
) -> str:
    """The cluster file of one size: nodes ``p01`` .. ``pNN`` all-to-all (``extra``: more
    top-level lines, such as ``clock_encoding = "diff"``; ``burst``: the program's)."""
    lines = [
        f'name = "scale-{n}"',
        f'link = "{link}"',
        f"duration = {duration}",
        f'program = "{PROGRAM}"',
        f"args = {{ per_peer = {per_peer}, size = 16{f', burst = {burst}' if burst else ''} }}",
        *extra,
    ]
    width = len(str(n))
    for i in range(1, n + 1):
        lines += ["", "[[node]]", f'id = "p{i:0{width}d}"']
    return "\n".join(lines) + "\n"


def tls_lines(timeout: float) -> tuple[str, ...]:
    """The TLS runs' extra cluster lines: a pair is given the whole run to connect.

    All pairs connect at once at first contact (``n(n-1)/2`` handshakes of about 1.7 ms of
    CPU each), and on a loaded machine that can take longer than the cluster default
    ``give_up_after`` (5 s): the message would be handed back and the program, which waits
    for every message, would never end. The bench measures how long it takes instead.
    """
    return (f"give_up_after = {timeout}",)


def per_peer_count(n: int, total: int) -> int:
    """Messages each node sends each peer so that the run carries about ``total``."""
    return max(1, total // (n * (n - 1)))


async def bare_start(n: int) -> float:
    """Seconds to start and end ``n`` bare ``python -c pass`` processes at once."""
    start = time.monotonic()
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", "pass") for _ in range(n)]
    await asyncio.gather(*(p.wait() for p in procs))
    return time.monotonic() - start


async def one_size(
    n: int,
    settings: Settings,
    link: str,
    folder: Path,
    extra: Sequence[str] = (),
    burst: int = 0,
) -> dict[str, Any]:
    """Run the cluster of ``n`` processes once (``extra``, ``burst``: as
    :func:`cluster_text` takes them); its figures."""
    per_peer = per_peer_count(n, settings.count)
    cluster = folder / f"scale-{n}.toml"
    if link == "tls":
        extra = (*extra, *tls_lines(settings.timeout))
    cluster.write_text(cluster_text(n, per_peer, link, settings.timeout, extra, burst))
    run_dir = folder / f"run-{n}"
    began = time.time()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "netclock.cli.bench_launch",
        str(cluster),
        "--out",
        str(run_dir),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), settings.timeout * 3)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise BenchError(f"the run of {n} processes took over {settings.timeout * 3:g} s") from None
    ended = time.time()
    tail = err.decode(errors="replace").strip().splitlines()
    launcher = next((json.loads(x[len(RSS_TAG) :]) for x in tail if x.startswith(RSS_TAG)), None)
    if proc.returncode != 0 or launcher is None:
        raise BenchError(
            f"the run of {n} processes exited {proc.returncode}: {' | '.join(tail[-3:])}"
        )
    return figures(n, run_dir, began, ended, launcher, await bare_start(n))


def figures(
    n: int, run_dir: Path, began: float, ended: float, launcher: dict[str, Any], bare: float
) -> dict[str, Any]:
    """The figures of one run from its folder (``faults.jsonl``, ``results.json``)."""
    records = [json.loads(x) for x in (run_dir / "faults.jsonl").read_text().splitlines()]
    started = [r for r in records if r["do"] == "start"]
    starts = [r["at"] for r in started]
    stop = next(r["t"] for r in records if r["do"] == "stop")
    results: dict[str, dict[str, Any]] = json.loads((run_dir / "results.json").read_text())
    if len(results) != n or len(starts) != n:
        raise BenchError(f"the run of {n} processes left {len(results)} results of {n}")
    messages = sum(r["delivered"] for r in results.values())
    span = max(r["last_delivery"] for r in results.values()) - min(
        r["first_send"] for r in results.values()
    )
    retransmitted = sum(r["retransmitted"] for r in results.values())
    pairs = n * (n - 1) // 2
    wall = ended - began
    return {
        "processes": n,
        "messages": messages,
        "startup_s": round(max(starts), 3),
        "bare_startup_s": round(bare, 3),
        "start_cpu_ms": _median_ms([r["cpu"] for r in started if "cpu" in r]),
        "start_phases": start_phases(started),
        "msgs_per_s": round(messages / span) if span > 0 else None,
        "span_s": round(span, 3),
        "cpu_us_per_msg": round(1e6 * sum(r["cpu"] for r in results.values()) / messages, 1),
        "cpu_ms_per_pair": round(1e3 * sum(r["cpu"] for r in results.values()) / pairs, 2),
        "spurious_retx_pct": round(100 * retransmitted / messages, 2),
        "retransmitted": retransmitted,
        "timeouts": _total(results, "timeouts"),
        "fast_retransmits": _total(results, "fast_retransmits"),
        "datagrams_per_msg": round(_total(results, "datagrams_sent") / messages, 3),
        "messages_per_pair": messages // (n * (n - 1)),
        "carrying_datagrams_per_msg": round(
            (_total(results, "datagrams_sent") - _total(results, "control_datagrams", 0))
            / messages,
            3,
        ),
        "dials": sum(r["dials"] for r in results.values()),
        "connections_replaced": sum(r["connections_replaced"] for r in results.values()),
        "post_run_s": round(ended - stop, 2),
        "post_run_share": round((ended - stop) / wall, 3),
        "wall_s": round(wall, 2),
        "launcher_peak_rss_mb": round(launcher["maxrss_kb"] / 1024, 1),
    }


def start_phases(started: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each step of the nodes' starts (``phases`` of the ``start`` records, and ``ready``:
    when the launcher read READY): its median and latest time, seconds since the run's
    start, in the order of the medians."""
    steps: dict[str, list[float]] = {"ready": [r["at"] for r in started]}
    for record in started:
        for step, at in record.get("phases", {}).items():
            steps.setdefault(step, []).append(at)
    rows = {
        step: {"median": round(statistics.median(ats), 3), "last": round(max(ats), 3)}
        for step, ats in steps.items()
    }
    return dict(sorted(rows.items(), key=lambda item: item[1]["median"]))


def _median_ms(values: list[float]) -> float | None:
    return round(1000 * statistics.median(values), 1) if values else None


def _total(results: dict[str, dict[str, Any]], key: str, default: float | None = None) -> float:
    return float(sum(r[key] if default is None else r.get(key, default) for r in results.values()))


async def scale_bench(
    settings: Settings, progress: TextIO, link: str = "reliable"
) -> dict[str, Any]:
    """Every size once, smallest first; a failed size ends the scenario (status failed)."""
    sizes = QUICK_SIZES if settings.quick else SIZES
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="netclock-scale-") as tmp:
        for n in sizes:
            progress.write(f"scale: {n} processes over {link} ...\n")
            progress.flush()
            try:
                rows.append(await one_size(n, settings, link, Path(tmp)))
            except BenchError as exc:
                return {"status": "failed", "error": str(exc), "link": link, "rows": rows}
    return {"status": "ok", "link": link, "rows": rows}


COLUMNS = (
    ("processes", "n"),
    ("startup_s", "start s"),
    ("bare_startup_s", "bare s"),
    ("start_cpu_ms", "start CPU ms"),
    ("msgs_per_s", "msgs/s"),
    ("span_s", "span s"),
    ("cpu_us_per_msg", "CPU µs/msg"),
    ("cpu_ms_per_pair", "CPU ms/pair"),
    ("spurious_retx_pct", "spurious %"),
    ("datagrams_per_msg", "dgrams/msg"),
    ("messages_per_pair", "msgs/pair"),
    ("carrying_datagrams_per_msg", "carrying/msg"),
    ("post_run_share", "post-run"),
    ("wall_s", "wall s"),
    ("launcher_peak_rss_mb", "launcher MB"),
)


def format_scale(report: dict[str, Any]) -> list[str]:
    """The scale scenario as table lines."""
    lines = ["", f"scale: all-to-all over {report['link']}, one run per size"]
    if report["status"] != "ok":
        lines.append(f"  FAILED: {report['error']}")
    head = [title for _, title in COLUMNS]
    cells = [[str(row.get(key)) for key, _ in COLUMNS] for row in report["rows"]]
    widths = [max(len(x) for x in column) for column in zip(head, *cells, strict=True)]
    for line in (head, *cells):
        lines.append("  " + "  ".join(x.rjust(w) for x, w in zip(line, widths, strict=True)))
    for row in report["rows"]:
        steps = row.get("start_phases") or {}
        if steps:
            lines.append(
                f"  start of {row['processes']} (s since the launcher began, median/last): "
                + " · ".join(f"{k} {v['median']}/{v['last']}" for k, v in steps.items())
            )
    return lines
