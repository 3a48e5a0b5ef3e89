"""One node of the crash-recovery system test (tests/system/test_crash_recovery.py).

``python crash_recovery_worker.py ROLE ID PORT PEER PEER_PORT DATA_DIR COUNT PACE LEVEL LINK
[CERTS]`` (LEVEL: the durability, ``process`` or ``machine``)

- ``send``: sends messages ``0..COUNT-1`` to PEER, resuming after a restart where the
  logged link's stream stands (``next_seq``), then flushes and prints ``DONE``.
- ``receive``: consumes COUNT messages from PEER. Before asking for the next message it
  appends the payload to ``DATA_DIR/consumed`` (its own crash-safe record, one
  ``os.write``); a message flagged ``redelivered`` that the file already holds is skipped
  (the one the crash caught between that write and the ask). Prints ``got N`` as it goes
  and ``DONE`` at the end.

Both print ``READY`` once started, and pause ``PACE`` seconds every 20 messages (a load
shape, so that kills land mid-stream; nothing waits on it). The test kills them with
SIGKILL at any moment.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from consume_once import consume_exactly_once

from netclock import Node


async def main() -> None:
    role, me, port, peer, peer_port, data_dir, count_text, pace_text, level, link = sys.argv[1:11]
    count, pace = int(count_text), float(pace_text)
    extra = {"cert_dir": sys.argv[11]} if link == "tls" else {}
    node = Node(
        me,
        link=link,
        address=("127.0.0.1", int(port)),
        peers={peer: ("127.0.0.1", int(peer_port))},
        data_dir=data_dir,
        durability=level,
        **extra,  # type: ignore[arg-type]
    )
    async with node:
        print("READY", node.incarnation, flush=True)
        if role == "send":
            i = node.next_seq(peer) - 1
            while i < count:
                await node.send(peer, i)
                i += 1
                if i % 20 == 0:
                    print("sent", i, flush=True)
                    await asyncio.sleep(pace)
            await node.flush()
            print("DONE", flush=True)
            await asyncio.Event().wait()  # stay up: acks owed may still be asked for
        await consume_exactly_once(node, Path(data_dir) / "consumed", count, pace)
        print("DONE", flush=True)
        await asyncio.Event().wait()


asyncio.run(main())
