"""Instructions per message of each side of a one-way stream (callgrind), two OS processes.

Run: ``python benchmarks/side_instructions.py [--kinds reliable,logged] [--counts 2000,6000]``.
Needs ``valgrind``. Runs ``benchmarks/sides.py`` under callgrind (the sender and the
receiver are forked children, each counted on its own) at two message counts; the
difference of each side's instruction totals divided by the difference of the counts is
what one message costs that side in user space, start-up cancelled out. ``logged`` is the
logged perfect link at process level (a fresh data directory per side), ``reliable`` the
in-memory perfect link: the same program apart from the data directory. On a shared 2-core
machine the wall-clock rate swings by 2x between runs; these counts move by a few percent
(the batching of a stream still depends on timing), so they tell whether a change to a
side's per-message path helped. Kernel work (system calls) is not counted.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

SIDES = Path(__file__).with_name("sides.py")


def totals(kind: str, count: int) -> tuple[int, int]:
    """Instructions of the sender and of the receiver for one run of ``count`` messages."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={folder}/cg.%p",
            sys.executable,
            str(SIDES),
            "--kind",
            kind,
            "--count",
            str(count),
            "--idle",
            "60",
        ]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{kind}: callgrind failed:\n{proc.stderr[-2000:]}")
        found: dict[int, int] = {}
        for path in Path(folder).glob("cg.*"):
            text = path.read_text(errors="replace")
            pid = re.search(r"^pid: (\d+)", text, re.M)
            total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if pid is not None and total is not None:
                found[int(pid.group(1))] = int(total.group(1))
        if len(found) != 3:
            raise SystemExit(f"{kind}: expected 3 processes under callgrind, found {len(found)}")
        _parent, sender, receiver = (found[pid] for pid in sorted(found))  # forked in this order
        return sender, receiver


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kinds", default="reliable,logged")
    p.add_argument("--counts", default="2000,6000", help="two message counts, low,high")
    args = p.parse_args()
    low, high = (int(c) for c in args.counts.split(","))
    for kind in args.kinds.split(","):
        (s0, r0), (s1, r1) = totals(kind, low), totals(kind, high)
        n = high - low
        print(
            f"{kind:9s} instructions per message: sender {(s1 - s0) / n:8,.0f}, "
            f"receiver {(r1 - r0) / n:8,.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
