"""The checker's detector properties on hand-written run folders (ground truth vs. logs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netclock.cluster.config import parse_cluster
from netclock.errors import ConfigError
from netclock.tools.check import Status, check_run, format_report, load_run
from netclock.tools.check_detectors import detector_table, summarize

T0 = 1_000_000.0


def write_run(
    folder: Path,
    detector: dict[str, Any],
    events: dict[str, list[tuple[float, str, dict[str, Any]]]],
    faults: list[dict[str, Any]],
) -> Path:
    """Each node's events as ``(t, ev, fields)``, after its init naming ``detector``."""
    folder.mkdir()
    for node, lines in events.items():
        init = {
            "t": T0,
            "node": node,
            "inc": 1,
            "ev": "init",
            "clock": {node: 1},
            "link": "reliable",
            "promises": [],
            "detector": detector,
        }
        rows = [init] + [
            {"t": T0 + t, "node": node, "inc": 1, "ev": ev, "clock": {node: 1}, **fields}
            for t, ev, fields in lines
        ]
        (folder / f"{node}.events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    record = [{"t": T0 + f["at"], **f} for f in faults]
    (folder / "faults.jsonl").write_text("".join(json.dumps(r) + "\n" for r in record))
    return folder


START = [{"at": 0.0, "do": "start", "node": n} for n in ("a", "b", "c")]
KILL_A = [
    {"at": 1.0, "do": "kill", "node": "a"},
    {"at": 1.0, "do": "exit", "node": "a", "code": -9},
]
SYNC_P = {"kind": "perfect", "period": 0.1, "timing": "synchronous", "delta": 0.02, "gst": None}
OMEGA = {"kind": "eventual_leader", "period": 0.1, "timing": "partial", "delta": 0.02, "gst": 2.0}


def statuses(folder: Path) -> dict[str, Status]:
    report = check_run(load_run(folder))
    return {p.name: p.status for p in report.properties if "strong" in p.name or "agree" in p.name}


def test_p_detecting_a_kill_holds_every_property(tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "r",
        SYNC_P,
        {
            "a": [],
            "b": [(1.15, "suspect", {"peer": "a", "timeout": 0.17})],
            "c": [(1.16, "suspect", {"peer": "a", "timeout": 0.17})],
        },
        START + KILL_A,
    )
    assert statuses(run) == {"strong_completeness": Status.OK, "strong_accuracy": Status.OK}
    summary = summarize(load_run(run))
    assert summary is not None
    assert summary.detection == {("b", "a"): pytest.approx(0.15), ("c", "a"): pytest.approx(0.16)}


def test_p_suspecting_a_live_node_under_synchrony_is_a_violation_unless_the_host_broke_it(
    tmp_path: Path,
) -> None:
    events: dict[str, list[tuple[float, str, dict[str, Any]]]] = {
        "a": [],
        "b": [(0.5, "suspect", {"peer": "c", "timeout": 0.17})],
        "c": [],
    }
    run = write_run(tmp_path / "bad", SYNC_P, events, START)
    assert statuses(run)["strong_accuracy"] is Status.VIOLATED
    assert "b suspected live c" in format_report(check_run(load_run(run)))
    events["c"] = [(0.6, "violation", {"what": "gap", "seen": 0.4, "bound": 0.05, "peer": None})]
    excused = write_run(tmp_path / "excused", SYNC_P, events, START)
    assert statuses(excused)["strong_accuracy"] is Status.DOES_NOT_HOLD  # reported, not blamed


def test_a_killed_node_nobody_suspects_breaks_strong_completeness(tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "r",
        SYNC_P,
        {"a": [], "b": [(1.2, "suspect", {"peer": "a", "timeout": 0.17})], "c": []},
        START + KILL_A,
    )
    assert statuses(run)["strong_completeness"] is Status.VIOLATED


def test_omega_restored_suspicions_and_one_leader_hold(tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "r",
        OMEGA,
        {
            "a": [],
            "b": [
                (0.1, "leader", {"peer": "a"}),
                (0.5, "suspect", {"peer": "c", "timeout": 0.2}),
                (0.7, "restore", {"peer": "c", "timeout": 0.4}),
                (1.2, "suspect", {"peer": "a", "timeout": 0.2}),
                (1.2, "leader", {"peer": "b"}),
            ],
            "c": [
                (1.3, "suspect", {"peer": "a", "timeout": 0.2}),
                (1.3, "leader", {"peer": "b"}),
            ],
        },
        START + KILL_A,
    )
    assert statuses(run) == {
        "strong_completeness": Status.OK,
        "eventual_strong_accuracy": Status.OK,
        "eventual_agreement": Status.OK,
    }
    summary = summarize(load_run(run))
    assert summary is not None
    assert summary.timeouts == {"b": 0.4, "c": 0.2}
    table = detector_table([("partial-Omega", summary)])
    assert "partial" in table
    assert "GST-1.50 s" in table  # the last mistake, 0.5 s after the start, GST at 2.0


def test_omega_disagreeing_at_the_end_is_a_violation(tmp_path: Path) -> None:
    run = write_run(
        tmp_path / "r",
        OMEGA,
        {
            "a": [(0.1, "leader", {"peer": "a"})],
            "b": [(0.1, "leader", {"peer": "a"})],
            "c": [(0.1, "leader", {"peer": "c"})],
        },
        START,
    )
    assert statuses(run)["eventual_agreement"] is Status.VIOLATED


def test_a_run_without_detectors_gets_no_detector_properties(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    folder.mkdir()
    line = {
        "t": T0,
        "node": "a",
        "inc": 1,
        "ev": "init",
        "clock": {"a": 1},
        "link": "fairloss",
        "promises": [],
    }
    (folder / "a.events.jsonl").write_text(json.dumps(line) + "\n")
    assert statuses(folder) == {}
    assert summarize(load_run(folder)) is None


def test_cluster_variants_are_checked_once_each(tmp_path: Path) -> None:
    base = {"name": "x", "program": "p.py:main", "node": [{"id": "a"}]}
    cluster = parse_cluster(
        {**base, "variant": [{"name": "sync-P", "detector": {"kind": "perfect"}}]},
        base_dir=tmp_path,
    )
    assert cluster.variants == (("sync-P", {"detector": {"kind": "perfect"}}),)
    for bad, message in [
        ([{"name": "a b"}], "variant\\[0\\].name must be a word"),
        ([{"name": "x"}, {"name": "x"}], "used twice"),
        (
            [{"name": "x", "detector": {"kind": "P"}}],
            r"variant\[0\]\.detector\.kind must be one of",
        ),
        ([{"name": "x", "faults": {"delay": {"kind": "synchronous"}}}], "delta is required"),
        ([{"name": "x", "seed": 1}], "unknown key 'seed' in variant\\[0\\]"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_cluster({**base, "variant": bad}, base_dir=tmp_path)


def test_a_detector_table_replaces_the_clusters_default_give_up(tmp_path: Path) -> None:
    base = {"name": "x", "program": "p.py:main", "node": [{"id": "a"}]}
    with_detector = parse_cluster({**base, "detector": {"kind": "perfect"}}, base_dir=tmp_path)
    assert with_detector.give_up_after is None
    assert with_detector.detector is not None
    assert parse_cluster(base, base_dir=tmp_path).give_up_after is not None
    explicit = parse_cluster(
        {**base, "detector": {"kind": "perfect"}, "give_up_after": 3}, base_dir=tmp_path
    )
    assert explicit.give_up_after == 3


def test_the_viewer_gets_each_suspicion_as_an_interval_on_the_suspecting_line(
    tmp_path: Path,
) -> None:
    from netclock.tools.viz import build_model, render_html

    run = write_run(
        tmp_path / "r",
        OMEGA,
        {
            "a": [],
            "b": [
                (0.5, "suspect", {"peer": "c", "timeout": 0.2}),
                (0.7, "restore", {"peer": "c", "timeout": 0.4}),
                (1.2, "suspect", {"peer": "a", "timeout": 0.2}),
            ],
            "c": [(0.9, "violation", {"what": "gap", "seen": 0.4, "bound": 0.05, "peer": None})],
        },
        START + KILL_A,
    )
    model = build_model(run)
    b = next(p for p in model["processes"] if p["id"] == "b")
    texts = [model["events"][s["start"]]["text"] for s in b["suspicions"]]
    assert texts == ["suspect c (timeout 0.200 s)", "suspect a (timeout 0.200 s)"]
    assert [s["end"] is None for s in b["suspicions"]] == [False, True]
    assert model["events"][b["suspicions"][0]["end"]]["text"] == "restore c (timeout 0.400 s)"
    c_texts = [e["text"] for e in model["events"] if e["process"] == "c"]
    assert "synchrony assumption violated by the host: gap 0.400 s" in c_texts
    assert "suspects" in render_html(model)
