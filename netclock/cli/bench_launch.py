"""``python -m netclock.cli.bench_launch CLUSTER.toml [run options]``: ``netclock run`` for
``netclock bench --scenario scale``, which then prints the launcher's own peak RSS.

The last line on stderr is ``@netclock-launcher {"maxrss_kb": N}``: the peak RSS of this
process alone (its node processes are not counted; :func:`peak_rss_kib`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from netclock.cli.main import main
from netclock.tools.bench.scale import RSS_TAG
from netclock.tools.bench.worker import peak_rss_kib


def launch(argv: Sequence[str]) -> int:
    """``netclock run ARGV`` in this process, then its peak RSS on stderr (one JSON line)."""
    code = main(["run", *argv])
    print(RSS_TAG + json.dumps({"maxrss_kb": peak_rss_kib()}), file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(launch(sys.argv[1:]))
