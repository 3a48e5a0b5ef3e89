"""The viewer's charts and large runs in a real browser (headless Chromium).

Runs are written by :mod:`netclock.tools.synthetic` (the real event-log writer, no
processes). What is drawn is checked on the canvases' own pixels: a chart or diagram
that drew nothing is one colour.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_viz_browser import CATCH_ERRORS, CHROMIUM, _chromium

from netclock.cli.viz import main as viz_cli
from netclock.tools.synthetic import write_synthetic_run
from netclock.tools.viz import build_model, render_run

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason="Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)",
)

# Runs after the page's script: counts each canvas's pixels that differ from its corner
# (what was drawn), around the steps given, and reports them with timings into the DOM.
PROBE = """<script>
(function () {
  var out = {steps: {}, errors: window.__errors};
  function drawn(id) {
    var c = document.getElementById(id), g = c.getContext("2d");
    var d = g.getImageData(0, 0, c.width, c.height).data, n = 0;
    for (var i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - d[0]) + Math.abs(d[i + 1] - d[1]) + Math.abs(d[i + 2] - d[2]) > 60) n++;
    }
    return n;
  }
  function look(name, action) {
    var t = performance.now();
    try { action(); } catch (e) { out.errors.push(name + ": " + e); }
    var step = {ms: Math.round(performance.now() - t)};
    ["canvas", "c-msgs", "c-retx", "c-rtt", "c-inbox"].forEach(function (id) {
      step[id] = drawn(id);
    });
    out.steps[name] = step;
  }
  var v = window.netclockViz;
  out.viz = v;
  out.load = Math.round(performance.now());
  STEPS
  document.body.setAttribute("data-probe", JSON.stringify(out));
})();
</script>"""


def probe(page: str, steps: str, folder: Path) -> dict[str, Any]:
    """Open ``page`` in Chromium, run ``steps`` (JS calling ``look(name, fn)``), report."""
    page = page.replace("<head>", "<head>\n" + CATCH_ERRORS, 1)
    page = page.replace("</body>", PROBE.replace("STEPS", steps) + "\n</body>", 1)
    html_file = folder / "probe.html"
    html_file.write_text(page, encoding="utf-8")
    done = _chromium(
        ["--window-size=1400,900", "--dump-dom", html_file.as_uri()], folder / "profile"
    )
    found = re.search(r'data-probe="([^"]*)"', done.stdout)
    assert found is not None, f"the probe did not run; chromium: {done.stderr[-1500:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))  # type: ignore[no-any-return]


@needs_chromium
def test_charts_are_drawn_and_brushing_a_time_range_zooms_the_diagram(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path / "run", nodes=4, events=20_000, seed=3)
    page, summary = render_run(tmp_path / "run")
    report = probe(
        page,
        """look("open", function () {});
        look("brush", function () { v.brush(v.span * 0.4, v.span * 0.45); });
        look("clear", function () { v.brush(null, null); });""",
        tmp_path,
    )
    assert report["errors"] == []
    viz = report["viz"]
    assert viz["charts"] is True
    assert viz["samples"] > 0
    assert viz["events"] == summary["events"]
    opened, brushed = report["steps"]["open"], report["steps"]["brush"]
    for chart in ("c-msgs", "c-retx", "c-rtt", "c-inbox"):
        assert opened[chart] > 200, f"{chart} drew next to nothing: {opened}"
    assert opened["canvas"] > 5000, f"the diagram drew next to nothing: {opened}"
    assert brushed["c-msgs"] > opened["c-msgs"], "the brushed range is not shaded"
    assert brushed["canvas"] != opened["canvas"], "brushing changed nothing in the diagram"


@needs_chromium
def test_selecting_moves_the_charts_time_marker_and_clearing_removes_it(tmp_path: Path) -> None:
    # The charts are drawn once and copied aside; a selection puts the copy back and draws
    # its marker, so a marker left behind by the previous selection would stay counted.
    write_synthetic_run(tmp_path / "run", nodes=4, events=20_000, seed=5)
    page, _ = render_run(tmp_path / "run")
    report = probe(
        page,
        """look("open", function () {});
        look("early", function () { v.select(Math.floor(v.events * 0.2)); });
        look("late", function () { v.select(Math.floor(v.events * 0.8)); });
        look("clear", function () { v.select(-1); });
        look("brush", function () { v.brush(v.span * 0.4, v.span * 0.45); });""",
        tmp_path,
    )
    assert report["errors"] == []
    steps = report["steps"]
    for chart in ("c-msgs", "c-retx", "c-rtt", "c-inbox"):
        assert steps["early"][chart] > steps["open"][chart], f"{chart}: no marker: {steps}"
        assert steps["clear"][chart] == steps["open"][chart], f"{chart}: a marker stayed: {steps}"
    assert steps["brush"]["c-msgs"] > steps["clear"]["c-msgs"], "a later brush: no shade"


@needs_chromium
def test_a_run_without_wall_times_has_no_charts_and_no_errors(tmp_path: Path) -> None:
    lines = [
        {"node": "a", "inc": 1, "ev": "init", "clock": {"a": 1}, "link": "x", "promises": []},
        {"node": "a", "inc": 1, "ev": "local", "clock": {"a": 2}, "text": "hi"},
    ]
    (tmp_path / "a.events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    page, _ = render_run(tmp_path)
    report = probe(page, 'look("open", function () {});', tmp_path)
    assert report["errors"] == []
    assert report["viz"]["charts"] is False


@needs_chromium
def test_side_by_side_page_of_two_runs_draws_both_on_one_time_axis(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path / "lossy", nodes=2, events=3000, loss=0.3, seed=1)
    write_synthetic_run(tmp_path / "clean", nodes=2, events=6000, loss=0.0, seed=2)
    out = tmp_path / "pair.html"
    assert viz_cli([str(tmp_path / "lossy"), str(tmp_path / "clean"), "-o", str(out)]) == 0
    page = out.read_text(encoding="utf-8").replace("<head>", "<head>\n" + CATCH_ERRORS, 1)
    # once both frames report, brush a range in the first and read what the second shows
    page = page.replace(
        "</body>",
        """<script>
        var tries = 0;
        (function wait() {
          var pair = window.netclockPair;
          if (!pair && tries++ < 200) { setTimeout(wait, 10); return; }
          try { pair[0].brush(pair[0].span * 0.2, pair[0].span * 0.3); }
          catch (e) { window.__errors.push("pair: " + e); }
          var label = document.querySelectorAll("iframe")[1].contentDocument
            .getElementById("rangelabel").textContent;
          document.body.setAttribute("data-pair", JSON.stringify(
            {pair: pair, errors: window.__errors, label: label}));
        })();
        </script></body>""",
        1,
    )
    out.write_text(page, encoding="utf-8")
    done = _chromium(["--window-size=1600,900", "--dump-dom", out.as_uri()], tmp_path / "p")
    found = re.search(r'data-pair="([^"]*)"', done.stdout)
    assert found is not None, f"the pair page never reported; chromium: {done.stderr[-1500:]}"
    report = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert report["errors"] == []
    first, second = report["pair"]
    assert (first["events"], second["events"]) == (3000, 6000)
    assert first["lost"] > second["lost"]
    assert first["span"] == second["span"], "both runs share one time axis"
    assert "events from" in report["label"], "a range brushed in one run is brushed in both"


@needs_chromium
def test_samples_naming_odd_peers_are_charted_as_names(tmp_path: Path) -> None:
    init = {"ev": "init", "link": "reliable", "promises": [], "inc": 1, "node": "a"}
    lines = [{**init, "t": 1.0, "clock": {"a": 1}}]
    for i, peer in enumerate(["__proto__", "constructor", "<img src=x onerror=alert(1)>"]):
        row = [i, i, 0.001 * (i + 1), 0.05]
        lines.append({"t": 1.1 + i, "node": "a", "inc": 1, "ev": "sample", "clock": {"a": 1},
                      "inbox": i, "links": {peer: row, "toString": row}})  # fmt: skip
    (tmp_path / "a.events.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    page, _ = render_run(tmp_path)
    report = probe(page, 'look("open", function () {});', tmp_path)
    assert report["errors"] == []
    assert report["viz"]["samples"] == 3
    assert report["steps"]["open"]["c-rtt"] > 200, "the round trips are drawn"


ZOOM_OUT_AND_IN = """
look("fit", function () { document.getElementById("fit").click(); });
out.coarseAtFit = v.coarse();
look("select", function () { v.select(Math.floor(v.events / 2)); });
look("in", function () { document.getElementById("reset").click(); });
out.coarseAtOne = v.coarse();
"""


def assert_zoomed_out_and_in_draw(report: dict[str, Any], events: int) -> None:
    assert report["errors"] == []
    assert report["viz"]["events"] == events
    assert report["coarseAtFit"] is True, "the whole run is drawn as densities and flows"
    assert report["coarseAtOne"] is False, "at 1:1 every event is drawn"
    steps = report["steps"]
    for name in ("fit", "select", "in"):
        assert steps[name]["canvas"] > 20_000, f"{name}: the diagram drew next to nothing"
    assert steps["select"]["canvas"] != steps["fit"]["canvas"], "selecting changed nothing"


@pytest.mark.slow
@needs_chromium
def test_a_large_run_is_drawn_coarse_when_zoomed_out_and_in_full_at_1_to_1(
    tmp_path: Path,
) -> None:
    write_synthetic_run(tmp_path / "run", nodes=8, events=60_000, seed=11)
    page, _ = render_run(tmp_path / "run")
    report = probe(page, ZOOM_OUT_AND_IN, tmp_path)
    assert_zoomed_out_and_in_draw(report, 60_000)


@needs_chromium
def test_zoomed_out_densities_and_flows_count_every_event_and_message_once(
    tmp_path: Path,
) -> None:
    write_synthetic_run(tmp_path / "run", nodes=8, events=12_000, seed=14)
    page, _ = render_run(tmp_path / "run")
    report = probe(
        page,
        """document.getElementById("fit").click();
        out.coarse = v.coarse();
        out.plain = v.density();
        out.flows = [v.flows()];
        document.getElementById("zoomin").click();
        out.flows.push(v.flows());
        document.getElementById("fit").click();
        out.flows.push(v.flows());
        out.picks = [];
        [0, 1, Math.floor(v.events / 3), Math.floor(v.events / 2), v.events - 1].forEach(
          function (e) { v.select(e); out.picks.push([v.density(), v.causal()]); });""",
        tmp_path,
    )
    assert report["errors"] == []
    assert report["coarse"] is True
    events = report["viz"]["events"]
    assert report["plain"] == [events, 0, 0, 0]
    # every message is one flow's weight or a lost mark when the whole run is in view,
    # fewer when zoomed in, and the same again after: no count left from the view before
    fit, zoomed, again = report["flows"]
    assert sum(fit) == report["viz"]["arrows"]
    assert sum(zoomed) < sum(fit)
    assert again == fit
    for (plain, past, future, rest), (before, after) in report["picks"]:
        assert plain == 0
        assert past == before + 1, "the past layer holds the causal past and the event"
        assert future == after
        assert rest == events - before - after - 1


@needs_chromium
def test_sixty_four_processes_fit_the_window_and_filter_by_name(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path / "run", nodes=64, events=6000, seed=12)
    page, _ = render_run(tmp_path / "run")
    report = probe(
        page,
        """out.lanes = v.lanes();
        out.labels = v.labels();
        out.view = document.getElementById("scroller").clientWidth;
        look("all", function () {});
        look("filtered", function () { v.filter("n1, n2"); });
        out.filtered = v.lanes();
        v.filter("");
        var s = document.getElementById("scroller"), r = s.getBoundingClientRect();
        var name = {clientX: r.left + v.lanes()[0] / 2 + 16, clientY: r.top + 20, bubbles: true};
        s.dispatchEvent(new MouseEvent("click", name));
        out.collapsed = v.lanes();
        s.dispatchEvent(new MouseEvent("click", name));
        out.reopened = v.lanes();""",
        tmp_path,
    )
    assert report["errors"] == []
    assert all(w > 0 for w in report["lanes"])
    assert sum(report["lanes"]) <= report["view"], "64 lanes fit the window"
    # 16-px lanes are too narrow for "n10": names go on two rows and every one is whole
    assert report["labels"] == [f"n{i}" for i in range(64)]
    shown = [w > 0 for w in report["filtered"]]
    expected = [("1" in str(n)[:1] or "2" in str(n)[:1]) for n in range(64)]
    assert shown == expected, "only n1*, n2* are left"
    assert report["steps"]["filtered"]["canvas"] > 5000
    assert report["collapsed"][0] < report["lanes"][0], "a click on n0's name collapses its lane"
    assert report["collapsed"][1] >= report["lanes"][1], "the others take the room"
    assert report["reopened"] == report["lanes"], "a second click opens it again"


@needs_chromium
def test_long_numbered_names_keep_the_digits_that_tell_them_apart(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_synthetic_run(run, nodes=64, events=3000, seed=14)
    for path in run.iterdir():  # n0 .. n63 renamed replica0 .. replica63, in every file
        if path.is_file():
            text = re.sub(r'"n(\d+)"', r'"replica\1"', path.read_text())
            path.rename(path.with_name(re.sub(r"^n(\d+)", r"replica\1", path.name)))
            path.with_name(re.sub(r"^n(\d+)", r"replica\1", path.name)).write_text(text)
    page, _ = render_run(run)
    report = probe(page, "out.labels = v.labels();", tmp_path)
    assert report["errors"] == []
    labels = report["labels"]
    assert len(labels) == 64
    assert len(set(labels)) == 64, f"two lanes read the same: {labels}"
    assert all(label.endswith(str(i)) for i, label in enumerate(labels)), labels


@pytest.mark.slow
@pytest.mark.timeout(900)
@needs_chromium
def test_a_million_event_page_opens_and_draws_zoomed_out_and_in(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path / "run", nodes=8, events=1_000_000, seed=13)
    page, summary = render_run(tmp_path / "run")
    assert summary["events"] == 1_000_000
    report = probe(page, ZOOM_OUT_AND_IN, tmp_path)
    assert_zoomed_out_and_in_draw(report, 1_000_000)


def docs_screenshot(out: Path, folder: Path) -> None:
    """docs/viewer.png: the crash demo, run for real, with a time range around its crashes.

    ``python tests/integration/test_viz_charts_browser.py docs/viewer.png`` redraws it.
    """
    import subprocess
    import sys

    run = folder / "crash"
    subprocess.run(
        [sys.executable, "-m", "netclock", "demo", "crash", "--out", str(run)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    record = [json.loads(line) for line in (run / "faults.jsonl").read_text().splitlines()]
    kills = [x["at"] for x in record if x["do"] == "kill"]  # the charts count from the start
    page = (run / "viewer.html").read_text(encoding="utf-8")
    page = page.replace(
        "</body>",
        f"<script>window.netclockViz.brush({min(kills) - 0.15}, {max(kills) + 0.1});</script>"
        "</body>",
        1,
    )
    shown = folder / "shown.html"
    shown.write_text(page, encoding="utf-8")
    done = _chromium(
        [f"--screenshot={out.resolve()}", "--window-size=1400,900", shown.as_uri()],
        folder / "profile",
    )
    if not out.is_file():
        raise RuntimeError(f"chromium wrote no screenshot: {done.stderr[-2000:]}")


if __name__ == "__main__":
    import sys
    import tempfile

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/viewer.png")
    with tempfile.TemporaryDirectory() as tmp:
        docs_screenshot(target, Path(tmp))
    sys.stdout.write(f"wrote {target} ({target.stat().st_size} bytes)\n")


@needs_chromium
def test_message_ids_with_microsecond_incarnations_read_as_logged(tmp_path: Path) -> None:
    inc = 1_796_338_303_194_374  # what a cluster run's incarnations look like
    init = {"ev": "init", "link": "reliable", "promises": [], "inc": inc}
    lines = {
        "a": [{**init, "node": "a", "t": 1.0, "clock": {"a": 1}},
              {"node": "a", "inc": inc, "ev": "send", "t": 1.1, "clock": {"a": 2}, "to": "b",
               "id": ["a", inc, 7]}],
        "b": [{**init, "node": "b", "t": 1.0, "clock": {"b": 1}},
              {"node": "b", "inc": inc, "ev": "deliver", "t": 1.2, "clock": {"a": 2, "b": 2},
               "from": "a", "id": ["a", inc, 7], "msg_clock": {"a": 2}}],
    }  # fmt: skip
    for node, events in lines.items():
        body = "".join(json.dumps(x) + "\n" for x in events)
        (tmp_path / f"{node}.events.jsonl").write_text(body)
    page, _ = render_run(tmp_path)
    report = probe(
        page,
        """look("select", function () { v.select(1); });
        out.details = document.getElementById("details").textContent;""",
        tmp_path,
    )
    assert report["errors"] == []
    assert f"send a:{inc}:7 to b" in report["details"]
    assert f"incarnation: {inc}" in report["details"]


def _reach(start: int, edges: dict[int, list[int]]) -> int:
    """How many events ``edges`` lead to from ``start`` (``start`` aside)."""
    seen, todo = {start}, [start]
    while todo:
        for y in edges.get(todo.pop(), []):
            if y not in seen:
                seen.add(y)
                todo.append(y)
    return len(seen) - 1


@needs_chromium
def test_a_selected_events_causal_past_and_future_are_counted_as_happened_before(
    tmp_path: Path,
) -> None:
    write_synthetic_run(tmp_path / "run", nodes=4, events=1500, loss=0.1, duplicates=0.1, seed=14)
    model = build_model(tmp_path / "run")
    events = model["events"]
    before: dict[int, list[int]] = {}  # program order and messages, backwards and forwards
    after: dict[int, list[int]] = {}
    for x in events[1:]:
        i = x["index"]
        if events[i - 1]["process"] == x["process"]:
            before.setdefault(i, []).append(i - 1)
            after.setdefault(i - 1, []).append(i)
    for m in model["messages"]:
        for d in m["deliveries"]:
            before.setdefault(d, []).append(m["send"])
            after.setdefault(m["send"], []).append(d)
    chosen = [0, 17, len(events) // 3, len(events) // 2, len(events) - 1]
    page, _ = render_run(tmp_path / "run")
    steps = "out.details = [];\n" + "".join(
        f'v.select({e}); out.details.push(document.getElementById("details").textContent);\n'
        for e in chosen
    )
    report = probe(page, steps, tmp_path)
    assert report["errors"] == []
    for e, text in zip(chosen, report["details"], strict=True):
        past, future = _reach(e, before), _reach(e, after)
        assert past + future > 0, "the run has messages"
        assert f"causal past: {past} events" in text, f"event {e}"
        assert f"causal future: {future} events" in text, f"event {e}"
        assert f"concurrent: {len(events) - 1 - past - future} events" in text, f"event {e}"
