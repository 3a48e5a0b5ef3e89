"""``netclock bench-worker ROLE --kind KIND [options]``: one child of ``netclock bench``.

Not listed in ``netclock --help``: :mod:`netclock.tools.bench.runner` starts these
processes and speaks to them (see :mod:`netclock.tools.bench.worker`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from netclock.tools.bench.worker import KINDS, ROLES, WorkerOptions, run


def build_parser() -> argparse.ArgumentParser:
    """Options of one worker process (the runner builds these command lines).

    An option left out is left out of the namespace too: :class:`WorkerOptions` has the
    defaults.
    """
    p = argparse.ArgumentParser(prog="netclock bench-worker", argument_default=argparse.SUPPRESS)
    p.add_argument("role", choices=ROLES)
    p.add_argument("--kind", choices=KINDS, required=True)
    p.add_argument("--count", type=int)
    p.add_argument("--size", type=int)
    p.add_argument("--warmup", type=int)
    p.add_argument("--loss", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--govector", help="write a GoVector log to this file")
    p.add_argument("--events", help="write a JSON-lines event log to this file")
    p.add_argument("--clock-width", type=int, help="entries of the sender's clock (default 2)")
    p.add_argument("--cert-dir", help="the cluster's certificates (--kind tls and tls-stream)")
    p.add_argument("--inbox", type=int)
    p.add_argument("--yield-every", type=int)
    p.add_argument("--idle", type=float, help="quiet time that ends a lossy stream")
    p.add_argument("--duration", type=float)
    p.add_argument("--timeout", type=float, help="the longest this process lives")
    p.add_argument("--node", help="this process's node id (role broadcast)")
    p.add_argument("--bkind", help="broadcast kind, or p2p (role broadcast)")
    p.add_argument("--rounds", type=int, help="paced broadcasts (role broadcast)")
    p.add_argument("--data-dir", help="parent of the node's data directory (a logged link)")
    p.add_argument("--durability", choices=("process", "machine"))
    p.add_argument("--stall", action="store_true", help="never read the inbox (mem-victim)")
    return p


def main(argv: Sequence[str]) -> int:
    """Run one worker; returns its exit code."""
    return run(WorkerOptions(**vars(build_parser().parse_args(list(argv)))))
