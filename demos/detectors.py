"""Failure detectors under the three timing models: who is suspected, when, and who leads.

Every node runs the detector of its variant (detectors.toml: P or Ω, which is ◇P plus a
leader) and does nothing else but watch: it prints each suspect, restore and leader event
as it happens (times since the node's start), and at the end its suspects, its leader,
the timeouts ◇P reached and the heartbeat traffic it sent per peer. The launcher kills the
first leader, a, for good (crash-stop) and pauses d (SIGSTOP, then SIGCONT): a timing
fault, not a crash. The table at the end of ``netclock demo detectors`` sets the variants
side by side.
"""

from __future__ import annotations

import asyncio
from typing import Any

from netclock import Node
from netclock.detectors import Leader, Restore, Suspect, SynchronyViolated


async def main(node: Node, run_for: float = 6.0) -> dict[str, Any]:
    """Watch the detector for ``run_for`` seconds; return what it concluded."""
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def watch() -> None:
        async for ev in node.detector_events():
            t = loop.time() - start
            if isinstance(ev, Suspect):
                print(f"{t:6.2f} s  {node.id} suspects {ev.peer} (timeout {ev.timeout:.3f} s)")
            elif isinstance(ev, Restore):
                print(f"{t:6.2f} s  {node.id} restores {ev.peer}, timeout now {ev.timeout:.3f} s")
            elif isinstance(ev, Leader):
                print(f"{t:6.2f} s  {node.id} trusts {ev.peer} as leader")
            elif isinstance(ev, SynchronyViolated):
                print(
                    f"{t:6.2f} s  {node.id}: synchrony assumption violated by the host "
                    f"({ev.what} {ev.seen:.3f} s > {ev.bound:.3f} s)"
                )

    watcher = asyncio.ensure_future(watch())
    await asyncio.sleep(run_for)
    watcher.cancel()
    detector = node.detector
    assert detector is not None, "detectors.toml gives every node a [detector]"
    stats = detector.stats()
    elapsed = loop.time() - start
    peers = max(len(node.peers), 1)
    rate = stats["heartbeats_sent"] / peers / elapsed
    print(
        f"{node.id}: suspects {sorted(node.suspected) or 'nobody'}, leader {node.leader}, "
        f"max timeout {max(detector.timeouts.values(), default=0):.3f} s, "
        f"{rate:.1f} heartbeats/s per peer, largest delay seen {stats['max_delay'] * 1000:.1f} ms, "
        f"largest scheduling gap {stats['max_gap'] * 1000:.1f} ms"
    )
    return {"suspected": sorted(node.suspected), "leader": node.leader, "heartbeat_rate": rate}
