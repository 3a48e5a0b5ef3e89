"""One node of the crash-point system test (tests/system/test_crash_points.py).

``python crashpoint_worker.py ROLE ID PORT PEER PEER_PORT RUN_DIR COUNT RESTART GATE``

Each life logs events and GoVector lines to ``RUN_DIR/ID.*`` (a restart appends and
continues its clock from the last event it logged) and keeps its data directory in
``RUN_DIR/data/ID``. ``NETCLOCK_CRASH_AT`` in the environment may kill it at a crash point.

- ``send``: sends ``0..COUNT-1`` to PEER (resuming where the logged link's stream stands),
  waiting until each 20 are acknowledged, prints ``DONE``.
- ``receive``: with GATE ``1``, waits for a ``go`` line on stdin first (so every message is
  delivered and acknowledged before it consumes any). Before asking for the next message
  it appends the payload to ``RUN_DIR/consumed`` (its own crash-safe record); a message
  flagged ``redelivered`` the file already holds is skipped. Prints ``got N`` as it goes,
  then ``DONE redelivered R skipped S``.

Both print ``READY`` once started and stop cleanly at a ``stop`` line on stdin.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from consume_once import consume_exactly_once

from netclock import Node
from netclock.cluster.process import last_clock


async def _line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def main() -> None:
    role, me, port, peer, peer_port, run_text, count_text, restart, gate = sys.argv[1:10]
    run, count = Path(run_text), int(count_text)
    events, govector = run / f"{me}.events.jsonl", run / f"{me}.log"
    node = Node(
        me,
        address=("127.0.0.1", int(port)),
        peers={peer: ("127.0.0.1", int(peer_port))},
        data_dir=run / "data" / me,
        event_log=events,
        govector_log=govector,
        clock_start=last_clock(events, govector, me) + 1 if restart == "1" else None,
    )
    async with node:
        print("READY", node.incarnation, flush=True)
        if role == "send":
            i = node.next_seq(peer) - 1
            while i < count:
                await node.send(peer, i)
                i += 1
                if i % 20 == 0:
                    await node.flush()  # one segment per 20 messages: crash points count them
            await node.flush()
            print("DONE", flush=True)
        else:
            if gate == "1":
                assert (await _line()).strip() == "go"
            redelivered, skipped = await consume_exactly_once(node, run / "consumed", count)
            print("DONE redelivered", redelivered, "skipped", skipped, flush=True)
        while (await _line()).strip() != "stop":
            pass


asyncio.run(main())
