"""Recovery time of the logged perfect link after kill -9 with many outstanding messages.

Run: ``python benchmarks/lpl_recovery.py [--messages 100000] [--runs 3] [--dir PATH]``.
The measurement is :mod:`netclock.tools.bench.recovery` (what ``netclock bench --scenario
durable`` prints after its throughput lines); this script runs it alone, with its own
message count, run count and folder (``--dir``: the file system to measure on).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from netclock.tools.bench.recovery import MESSAGES, format_recovery, recovery_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    args = parser.parse_args()
    report = asyncio.run(recovery_bench(args.messages, args.runs, 300.0, sys.stderr, str(args.dir)))
    print("\n".join(format_recovery(report)).strip())
    sys.exit(0 if report["status"] == "ok" else 1)


if __name__ == "__main__":
    main()
