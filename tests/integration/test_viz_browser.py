"""The viewer page in a real browser: headless Chromium draws it without a console error.

Skipped when /usr/bin/chromium is absent (Debian: ``apt-get install -y chromium``).
``python tests/integration/test_viz_browser.py out.png`` draws the example run;
docs/viewer.png comes from test_viz_charts_browser.py (a real demo run with charts).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from netclock.cli.viz import main as cli
from netclock.clock import VectorClock
from netclock.tools.viz import build_model, render_html

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=3000",
]

# Runs before the page's own script: keeps every error and console.error call.
CATCH_ERRORS = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
window.addEventListener("unhandledrejection", function (e) {
  window.__errors.push(String(e.reason));
});
(function () {
  var original = console.error;
  console.error = function () {
    window.__errors.push(Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  };
})();
</script>"""

# Runs after it: exercises selection, hover, zoom and scroll, then reports into the DOM.
EXERCISE = """<script>
try {
  var v = window.netclockViz;
  v.select(Math.floor(v.events / 2));
  document.getElementById("zoomin").click();
  document.getElementById("zoomout").click();
  document.getElementById("fit").click();
  document.getElementById("reset").click();
  var s = document.getElementById("scroller");
  s.scrollTop = 400;
  s.dispatchEvent(new MouseEvent("mousemove", {clientX: 300, clientY: 300, bubbles: true}));
  s.dispatchEvent(new WheelEvent("wheel",
    {deltaY: 100, ctrlKey: true, clientY: 300, bubbles: true, cancelable: true}));
  document.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape"}));
} catch (e) { window.__errors.push("exercise: " + e); }
document.body.setAttribute("data-errors", JSON.stringify(window.__errors));
</script>"""


class ExampleRun:
    """A small fair-loss cluster written as JSON-lines event logs, by the clock rules."""

    def __init__(self, nodes: list[str]) -> None:
        self.nodes = nodes
        self.clocks = {n: VectorClock() for n in nodes}
        self.lines: dict[str, list[dict[str, Any]]] = {n: [] for n in nodes}
        self.seq = dict.fromkeys(nodes, 0)
        self.t = 1_764_000_000.0

    def _record(self, node: str, ev: str, **fields: Any) -> None:
        self.t += 0.0007
        clock = self.clocks[node].to_dict()
        self.lines[node].append(
            {"t": self.t, "node": node, "inc": 1, "ev": ev, "clock": clock, **fields}
        )

    def init(self) -> None:
        for n in self.nodes:
            self.clocks[n] = self.clocks[n].tick(n)
            self._record(n, "init", link="fairloss", promises=["no_creation"])

    def local(self, node: str, text: str) -> None:
        self.clocks[node] = self.clocks[node].tick(node)
        self._record(node, "local", text=text)

    def send(self, node: str, to: str) -> tuple[str, str, list[Any], VectorClock]:
        self.clocks[node] = self.clocks[node].tick(node)
        self.seq[node] += 1
        msg_id: list[Any] = [node, 1, self.seq[node]]
        self._record(node, "send", to=to, id=msg_id)
        return node, to, msg_id, self.clocks[node]

    def deliver(self, message: tuple[str, str, list[Any], VectorClock]) -> None:
        sender, to, msg_id, clock = message
        self.clocks[to] = self.clocks[to].receive(to, clock)
        self._record(to, "deliver", id=msg_id, msg_clock=clock.to_dict(), **{"from": sender})

    def stop(self) -> None:
        for n in self.nodes:
            self._record(n, "stop", clean=True, stats={})

    def write(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        info = {"name": name, "link": "fairloss", "nodes": self.nodes, "seed": 42}
        (folder / "run.json").write_text(json.dumps(info))
        for n in self.nodes:
            body = "".join(json.dumps(line) + "\n" for line in self.lines[n])
            (folder / f"{n}.events.jsonl").write_text(body)


def example_run(folder: Path, seed: int = 42) -> dict[str, int]:
    """Seven rounds of propose/ack between a leader and three followers over a lossy link.

    42 messages, 2 of them lost and 1 delivered twice; returns the expected counts.
    """
    rng = random.Random(seed)
    nodes = ["leader", "f1", "f2", "f3"]
    run = ExampleRun(nodes)
    run.init()
    lost = {(2, "f2", "propose"), (5, "f3", "ack")}
    duplicate = (3, "f1", "propose")
    for k in range(1, 8):
        run.local("leader", f"propose value v{k}")
        proposals = [run.send("leader", f) for f in nodes[1:]]
        rng.shuffle(proposals)
        acks = []
        for message in proposals:
            follower = message[1]
            if (k, follower, "propose") in lost:
                continue
            run.deliver(message)
            if (k, follower, "propose") == duplicate:
                run.deliver(message)
            if rng.random() < 0.4:
                run.local(follower, f"store v{k}")
            acks.append(run.send(follower, "leader"))
        if (k, "f2", "propose") in lost:
            acks.append(run.send("f2", "leader"))  # f2 acks a timeout instead
        rng.shuffle(acks)
        for message in acks:
            if (k, message[0], "ack") not in lost:
                run.deliver(message)
        run.local("leader", f"commit v{k}")
    run.stop()
    run.write(folder, "propose-ack")
    return {"processes": 4, "messages": 42, "lost": 2}


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _instrumented(page: str) -> str:
    page = page.replace("<head>", "<head>\n" + CATCH_ERRORS, 1)
    return page.replace("</body>", EXERCISE + "\n</body>", 1)


def _load(html_file: Path, profile: Path) -> tuple[dict[str, Any], list[str]]:
    done = _chromium(["--dump-dom", html_file.as_uri()], profile)
    dom = done.stdout
    found = re.search(r'<body[^>]*data-errors="([^"]*)"', dom)
    assert found is not None, f"the exercise script did not run; chromium: {done.stderr[-1500:]}"
    errors = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    status = re.search(r'<output id="netclock-status"[^>]*>(.*?)</output>', dom, re.S)
    reported = status.group(1) if status is not None else ""
    assert reported, f"the page never reported; errors: {errors}"
    return json.loads(reported), errors


def screenshot(out: Path, folder: Path, profile: Path) -> None:
    """Draw the example run and save a 1200x800 screenshot of the viewer to ``out``."""
    example_run(folder)
    model = build_model(folder)
    page = folder / "viewer.html"
    page.write_text(render_html(model), encoding="utf-8")
    # Select f1's delivery of the second proposal, so its causal past and future show.
    chosen = [e for e in model["events"] if e["process"] == "f1" and e["kind"] == "deliver"][1]
    url = page.as_uri() + f"#e{chosen['index']}"
    done = _chromium([f"--screenshot={out.resolve()}", "--window-size=1200,800", url], profile)
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot: {done.stderr[-2000:]}")


needs_chromium = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason="Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)",
)


@needs_chromium
def test_viewer_draws_example_run_without_console_errors(tmp_path: Path) -> None:
    expected = example_run(tmp_path / "run")
    out = tmp_path / "viewer.html"
    assert cli([str(tmp_path / "run"), "-o", str(out)]) == 0
    instrumented = tmp_path / "instrumented.html"
    instrumented.write_text(_instrumented(out.read_text(encoding="utf-8")), encoding="utf-8")
    viz, errors = _load(instrumented, tmp_path / "profile")
    assert errors == []
    assert viz["ready"] is True
    assert viz["processes"] == expected["processes"]
    assert viz["messages"] == expected["messages"]
    assert viz["lost"] == expected["lost"]


@needs_chromium
def test_viewer_draws_hostile_text_as_text(tmp_path: Path) -> None:
    lines = [
        {"t": 0, "node": "a", "inc": 1, "ev": "init", "clock": {"a": 1}},
        {
            "t": 1,
            "node": "a",
            "inc": 1,
            "ev": "local",
            "clock": {"a": 2},
            "text": '</script><script>document.title="pwned"</script><img src=x onerror=alert(1)>',
        },
    ]
    (tmp_path / "a.events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    page = _instrumented(render_html(build_model(tmp_path)))
    page = page.replace(
        "</body>",
        '<script>document.body.setAttribute("data-title", document.title);</script></body>',
    )
    (tmp_path / "v.html").write_text(page, encoding="utf-8")
    done = _chromium(["--dump-dom", (tmp_path / "v.html").as_uri()], tmp_path / "profile")
    assert 'data-title="pwned"' not in done.stdout
    assert '"processes":1' in done.stdout.replace("&quot;", '"')


@needs_chromium
def test_screenshot_of_example_run_is_a_png(tmp_path: Path) -> None:
    out = tmp_path / "viewer.png"
    screenshot(out, tmp_path / "run", tmp_path / "profile")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < out.stat().st_size < 300_000


if __name__ == "__main__":
    import tempfile

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/viewer.png")
    with tempfile.TemporaryDirectory() as tmp:
        screenshot(target, Path(tmp) / "run", Path(tmp) / "profile")
    sys.stdout.write(f"wrote {target} ({target.stat().st_size} bytes)\n")
