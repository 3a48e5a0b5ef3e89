"""Post-run processing at 10,000 to 1,000,000 events: the checker's time and memory, the
viewer's page size, time to make it, time to open and use it.

Run: ``python benchmarks/viz_scale.py [--sizes 10000 100000 1000000] [--runs 3]
[--nodes 8]``. Each run folder is written by :mod:`netclock.tools.synthetic` (the real
event-log writer, ``--nodes`` processes, no cluster). For each size it prints, as medians
over ``--runs``:

- ``check``: seconds for ``check_run(load_run(folder))``, beside the raw baseline of
  decoding every line of the same event logs with ``json.loads``, and the peak RSS of that
  process (its own ``VmHWM``);
- ``render``: seconds for :func:`~netclock.tools.viz.render_run`, beside the same baseline
  (the ratio is what the viewer costs over merely reading the logs), its peak RSS and its
  CPU time per event (both lines: the whole child process's work);
- ``page``: the page's size, beside the event logs' size;
- in headless Chromium (``/usr/bin/chromium``): milliseconds from navigation to a ready
  page (``load``), beside an empty page's; and the time of Fit, selecting the middle event
  (the first selection: its clock is rebuilt from the page's nearest checkpoint), selecting
  the last event, the fifth step of zooming in from Fit (``zoom x7.6``, still drawn coarse at
  a million events), panning half a view there, zooming in to 1:1 and clearing (each
  includes its redraw).

Figures from a machine shared with other work vary by a factor of two or more; the
ratios hold better.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
STEPS = """<script>
(function () {
  var out = {load: performance.now()}, v = window.netclockViz, t;
  function timed(name, action) {
    t = performance.now(); action(); out[name] = performance.now() - t;
  }
  timed("fit", function () { document.getElementById("fit").click(); });
  timed("select", function () { v.select(Math.floor(v.events / 2)); });
  timed("select last", function () { v.select(v.events - 1); });
  var zoomIn = document.getElementById("zoomin"), view = document.getElementById("scroller");
  for (var z = 0; z < 4; z++) zoomIn.click();
  timed("zoom x7.6", function () { zoomIn.click(); });
  timed("pan", function () { v.scroll(view.scrollTop + view.clientHeight / 2); });
  timed("zoom in", function () { document.getElementById("reset").click(); });
  timed("clear", function () { v.select(-1); });
  document.body.setAttribute("data-timing", JSON.stringify(out));
})();
</script>"""
EMPTY = (
    "<!DOCTYPE html><html><body>"
    + STEPS.split("(function", 1)[0]
    + (
        '(function () { document.body.setAttribute("data-timing", '
        "JSON.stringify({load: performance.now()})); })();</script></body></html>"
    )
)

RENDER = """
import json, sys, time
from pathlib import Path
folder = Path(sys.argv[1])
t = time.perf_counter()
for f in sorted(folder.glob("*.events.jsonl")):
    with f.open() as lines:
        for line in lines:
            json.loads(line)
raw = time.perf_counter() - t
t, cpu = time.perf_counter(), time.process_time()
if sys.argv[2] == "check":
    from netclock.tools.check import check_run, load_run
    check_run(load_run(folder))
else:
    from netclock.tools.viz import write_run
    write_run(folder, sys.argv[2])
made, cpu = time.perf_counter() - t, time.process_time() - cpu
status = Path("/proc/self/status").read_text().splitlines()
rss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
print(json.dumps({"raw": raw, "render": made, "cpu": cpu, "rss": rss}))
"""


def _browse(page: Path, profile: Path) -> dict[str, float]:
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--window-size=1400,900", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    found = re.search(r'data-timing="([^"]*)"', done.stdout)
    if found is None:
        raise RuntimeError(f"{page}: no timing; chromium: {done.stderr[-800:]}")
    return json.loads(found.group(1).replace("&quot;", '"'))  # type: ignore[no-any-return]


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def measure(size: int, runs: int, tmp: Path, nodes: int = 8) -> None:
    from netclock.tools.synthetic import write_synthetic_run

    folder = tmp / f"run{size}"
    write_synthetic_run(folder, nodes=nodes, events=size, seed=size)
    logs = sum(f.stat().st_size for f in folder.glob("*.events.jsonl"))
    page = tmp / f"page{size}.html"
    print(f"\n{size:,} events, {nodes} processes")
    for what, target in (("check", "check"), ("render", str(page))):
        made = []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", RENDER, str(folder), target],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            made.append(json.loads(out.stdout))
        raw, render = _median(made, "raw"), _median(made, "render")
        per_event = _median(made, "cpu") / size * 1e6
        print(f"  {what:10s}  {render:8.2f} s   json.loads of the logs {raw:6.2f} s   "
              f"ratio {render / raw:5.1f}   peak RSS {_median(made, 'rss'):6.0f} MB   "
              f"CPU {per_event:5.1f} us/event")  # fmt: skip
    print(f"  page        {page.stat().st_size / 1e6:8.2f} MB  event logs {logs / 1e6:9.2f} MB"
          f"   ratio {page.stat().st_size / logs:5.2f}")  # fmt: skip
    if not CHROMIUM.is_file():
        print("  (no /usr/bin/chromium: browser figures skipped)")
        return
    timed = tmp / "timed.html"
    timed.write_text(page.read_text().replace("</body>", STEPS + "</body>", 1))
    empty = tmp / "empty.html"
    empty.write_text(EMPTY)
    seen = [_browse(timed, tmp / "profile") for _ in range(runs)]
    blank = [_browse(empty, tmp / "profile") for _ in range(runs)]
    base = _median(blank, "load")
    print(f"  load        {_median(seen, 'load'):8.0f} ms  empty page {base:8.0f} ms"
          f"   ratio {_median(seen, 'load') / max(base, 1):5.1f}")  # fmt: skip
    for step in ("fit", "select", "select last", "zoom x7.6", "pan", "zoom in", "clear"):
        print(f"  {step:10s}  {_median(seen, step):8.0f} ms")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            measure(size, args.runs, Path(tmp), args.nodes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
