"""``netclock bench --scenario durable``, recovery: a logged perfect link's restart after
``kill -9`` with many outstanding messages (also ``benchmarks/lpl_recovery.py``).

Two cases, each in real processes killed with SIGKILL:

- **sender**: node ``a`` queues the messages to a peer that never answers (a bound UDP
  socket nobody reads), with a send window that holds them all; it is killed, and a new
  process opens the same data directory: recovery is ``Node(...)`` plus ``start()`` (read
  and check ``link.log``, restore the session with every message to resend);
- **receiver**: node ``b`` takes the messages into an inbox large enough to hold them and
  consumes none; it is killed; recovery also puts them all back in the inbox, flagged as
  redeliveries.

The baseline, in the same run: the same ``Node(...)`` plus ``start()`` on an empty data
directory (the fixed cost of a start). Medians over the runs. A child is
``python -m netclock.tools.bench.recovery ROLE DATA_DIR COUNT PEER_PORT``.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

MESSAGES = 100_000
"""Outstanding messages at the kill (the issue's figure); ``--quick`` takes a tenth."""
ROLES = ("sender", "receiver")


async def child(role: str, data: str, count: int, peer_port: int) -> None:
    """One child process: ``fill-sender``/``fill-receiver`` (prints ``FILLED``, then waits to
    be killed) or ``recover-sender``/``recover-receiver`` (prints ``RECOVERED seconds held``)."""
    from netclock.node import Node

    big = {"send_window": count + 16}
    if role == "fill-sender":
        async with Node(
            "a", data_dir=data, peers={"b": ("127.0.0.1", peer_port)}, link_options=big
        ) as a:
            for i in range(count):
                a.send_nowait("b", i)
            await asyncio.sleep(0)  # the loop iteration ends: the out records are written
            print("FILLED", flush=True)
            await asyncio.Event().wait()
    if role == "fill-receiver":
        async with (
            Node("b", data_dir=data, inbox_size=count + 16) as b,
            Node("a", peers={"b": b.address}, link_options=big) as a,
        ):
            b.add_peer("a", a.address)
            for i in range(count):
                a.send_nowait("b", i)
            await a.flush()  # acked: every message is in b's link.log
            print("FILLED", flush=True)
            await asyncio.Event().wait()
    me, peer = ("a", "b") if role == "recover-sender" else ("b", "a")
    began = time.perf_counter()
    node = Node(
        me,
        data_dir=data,
        peers={peer: ("127.0.0.1", peer_port)},
        inbox_size=count + 16,
        link_options=big,
    )
    await node.start()
    took = time.perf_counter() - began
    held = node.stats()["inbox"] if me == "b" else node.link.unacked("b")  # type: ignore[attr-defined]
    print(f"RECOVERED {took:.6f} {held}", flush=True)
    await node.close()


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "netclock.tools.bench.recovery",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def _line(proc: asyncio.subprocess.Process, prefix: str, timeout: float) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(timeout):
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                raise RuntimeError(f"a recovery child ended (code {await proc.wait()})")
            if raw.startswith(prefix.encode()):
                return raw.decode()


async def _recover(
    role: str, data: Path, count: int, port: int, timeout: float
) -> tuple[float, int]:
    proc = await _spawn(f"recover-{role}", str(data), str(count), str(port))
    try:
        _, took, held = (await _line(proc, "RECOVERED", timeout)).split()
        await asyncio.wait_for(proc.wait(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return float(took), int(held)


async def one_run(
    role: str, root: Path, count: int, port: int, timeout: float
) -> tuple[float, float, int]:
    """Fill, kill -9, recover; then a start on an empty directory: (recovery s, empty s, held)."""
    data = Path(tempfile.mkdtemp(dir=root))
    proc = await _spawn(f"fill-{role}", str(data / "node"), str(count), str(port))
    try:
        await _line(proc, "FILLED", timeout)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    took, held = await _recover(role, data / "node", count, port, timeout)
    empty, _ = await _recover(role, data / "empty", count, port, timeout)
    return took, empty, held


async def recovery_bench(
    count: int, runs: int, timeout: float, progress: TextIO, where: str | None = None
) -> dict[str, Any]:
    """Both cases, ``runs`` times each; medians (see the module docstring)."""
    report: dict[str, Any] = {"status": "ok", "reason": None, "messages": count, "runs": runs}
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    try:
        with tempfile.TemporaryDirectory(dir=where, prefix="netclock-recovery-") as tmp:
            for role in ROLES:
                results = [
                    await one_run(role, Path(tmp), count, port, timeout) for _ in range(runs)
                ]
                report[role] = {
                    "recovery_s": statistics.median(r[0] for r in results),
                    "empty_s": statistics.median(r[1] for r in results),
                    "held": results[-1][2],
                }
                print(f"  recovery after kill -9: {role} measured", file=progress, flush=True)
    except (RuntimeError, TimeoutError, OSError) as exc:
        report.update(status="failed", reason=f"recovery: {exc}")
    finally:
        silent.close()
    return report


def format_recovery(report: dict[str, Any]) -> list[str]:
    """The table lines of :func:`recovery_bench`'s report."""
    lines = ["", f"recovery after kill -9 (logged perfect link, medians of {report['runs']}):"]
    if report["status"] != "ok":
        return [*lines, f"  {report['status']}: {report['reason']}"]
    what = {"sender": "unacknowledged", "receiver": "delivered, unconsumed (redelivered)"}
    for role in ROLES:
        r = report[role]
        lines.append(
            f"  {role} killed with {report['messages']:,} outstanding: {r['recovery_s']:.3f} s "
            f"({r['held']:,} {what[role]}); empty data directory {r['empty_s']:.3f} s"
        )
    return lines


if __name__ == "__main__":
    asyncio.run(child(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
