"""``netclock check`` on corrupted copies of a real run's event logs.

One pingpong run over the perfect link (real OS processes) is checked untouched, then
copies of its logs are corrupted by hand: a delivery repeated, a delivery of an id
nobody sent. Clocks are recomputed after each edit so that only the corruption under
test shows. The causal-order case is a minimal three-node log written by hand, since a
real run over a FIFO link cannot produce it on purpose.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    PROMISED_ON_RELIABLE,
    assert_run_folder,
    check_json,
    explain,
    netclock,
    read_events,
    restamp,
    write_events,
)

pytestmark = [pytest.mark.system, pytest.mark.timeout(40)]

Events = list[dict[str, Any]]


@pytest.fixture(scope="module")
def pingpong_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished ``netclock demo pingpong`` run folder (reliable link), checked OK."""
    run_dir = tmp_path_factory.mktemp("pingpong") / "run"
    proc = netclock("demo", "pingpong", "--out", str(run_dir), cwd=run_dir.parent)
    assert proc.returncode == 0, explain(proc)
    assert_run_folder(run_dir, ["client", "server"])
    return run_dir


def corrupt(
    source: Path, target: Path, node: str, edit: Callable[[Events], Events], link: str | None = None
) -> Path:
    """Copy the run folder ``source`` to ``target``, apply ``edit`` to ``node``'s events.

    ``node``'s clocks are recomputed after the edit. With ``link`` every ``init`` (and
    run.json) is rewritten to say that link kind with its textbook promises.
    """
    shutil.copytree(source, target)
    path = target / f"{node}.events.jsonl"
    write_events(path, restamp(edit(read_events(path))))
    if link is not None:
        promises = PROMISED_ON_RELIABLE if link == "reliable" else ["no_creation"]
        for file in target.glob("*.events.jsonl"):
            events = [
                {**e, "link": link, "promises": promises} if e["ev"] == "init" else e
                for e in read_events(file)
            ]
            write_events(file, events)
        info = json.loads((target / "run.json").read_text(encoding="utf-8"))
        (target / "run.json").write_text(json.dumps({**info, "link": link}), encoding="utf-8")
    return target


def repeat_delivery(events: Events) -> Events:
    """The node's first delivery, delivered a second time right after the first."""
    index = next(i for i, e in enumerate(events) if e["ev"] == "deliver")
    return [*events[: index + 1], dict(events[index]), *events[index + 1 :]]


def deliver_unsent(events: Events) -> Events:
    """A delivery, before the final stop, of an id its sender never sent (seq 99)."""
    real = next(e for e in events if e["ev"] == "deliver")
    sender, incarnation, _ = real["id"]
    forged = {**real, "id": [sender, incarnation, 99]}
    return [*events[:-1], forged, events[-1]]


def test_the_untouched_run_checks_ok(pingpong_run: Path) -> None:
    code, report = check_json(pingpong_run)
    assert code == 0, report["violated"]
    assert report["links"]["reliable"]["promises"] == PROMISED_ON_RELIABLE


@pytest.mark.parametrize("link", ["reliable", "fairloss"])
def test_restamping_alone_keeps_a_run_valid(pingpong_run: Path, tmp_path: Path, link: str) -> None:
    run = corrupt(pingpong_run, tmp_path / "same", "client", lambda events: events, link)
    code, report = check_json(run)
    assert code == 0, report
    assert report["properties"]["clock_sanity"]["status"] == "ok"


def test_pl2_a_repeated_delivery_over_reliable_exits_non_zero(
    pingpong_run: Path, tmp_path: Path
) -> None:
    run = corrupt(pingpong_run, tmp_path / "dup", "client", repeat_delivery)
    code, report = check_json(run)
    assert code == 1, report
    assert report["violated"] == ["no_duplication"], report["properties"]
    assert report["links"]["reliable"]["duplicated"] == 1
    assert report["properties"]["clock_sanity"]["status"] == "ok"
    text = netclock("check", str(run))
    assert text.returncode == 1, explain(text)
    assert "verdict: VIOLATED: no_duplication" in text.stdout, explain(text)


def test_fll2_a_repeated_delivery_over_fairloss_is_only_reported(
    pingpong_run: Path, tmp_path: Path
) -> None:
    run = corrupt(pingpong_run, tmp_path / "dup-fl", "client", repeat_delivery, "fairloss")
    code, report = check_json(run)
    assert code == 0, report["violated"]
    duplication = report["properties"]["no_duplication"]
    assert (duplication["promised"], duplication["status"], duplication["count"]) == (
        False,
        "does not hold",
        1,
    )


@pytest.mark.parametrize("link", ["reliable", "fairloss"])
def test_no_creation_a_delivery_of_an_unsent_id_exits_non_zero(
    pingpong_run: Path, tmp_path: Path, link: str
) -> None:
    run = corrupt(pingpong_run, tmp_path / "created", "client", deliver_unsent, link)
    code, report = check_json(run)
    assert code == 1, report
    assert report["violated"] == ["no_creation"], report["properties"]
    assert report["links"][link]["created"] == 1
    assert report["properties"]["no_creation"]["examples"], report["properties"]
    assert "was never sent" in report["properties"]["no_creation"]["examples"][0]


# -- causal order, by hand ------------------------------------------------------------------------
def _causal_log(folder: Path, overtaken: bool) -> Path:
    """a sends m1 to c, then m2 to b; b delivers m2 and sends m3 to c.

    ``send(m1) -> send(m3)``, so c must deliver m1 before m3; with ``overtaken`` it
    delivers m3 first. Links are per sender FIFO and nothing is lost or repeated, so
    causal order is the only property that changes.
    """
    folder.mkdir()
    promises = {"link": "reliable", "promises": PROMISED_ON_RELIABLE}

    def ev(node: str, kind: str, **fields: Any) -> dict[str, Any]:
        return {"t": 0.0, "node": node, "inc": 1, "ev": kind, "clock": {}, **fields}

    m1 = ev("a", "send", to="c", id=["a", 1, 1])
    m2 = ev("a", "send", to="b", id=["a", 1, 1])
    a = restamp([ev("a", "init", **promises), m1, m2, ev("a", "stop", clean=True)])
    m2_clock = a[2]["clock"]
    b = restamp(
        [
            ev("b", "init", **promises),
            ev("b", "deliver", id=["a", 1, 1], msg_clock=m2_clock, **{"from": "a"}),
            ev("b", "send", to="c", id=["b", 1, 1]),
            ev("b", "stop", clean=True),
        ]
    )
    got_m1 = ev("c", "deliver", id=["a", 1, 1], msg_clock=a[1]["clock"], **{"from": "a"})
    got_m3 = ev("c", "deliver", id=["b", 1, 1], msg_clock=b[2]["clock"], **{"from": "b"})
    deliveries = [got_m3, got_m1] if overtaken else [got_m1, got_m3]
    c = restamp([ev("c", "init", **promises), *deliveries, ev("c", "stop", clean=True)])
    for name, events in (("a", a), ("b", b), ("c", c)):
        write_events(folder / f"{name}.events.jsonl", events)
    run_json = {"name": "causal", "link": "reliable", "nodes": ["a", "b", "c"], "seed": None}
    (folder / "run.json").write_text(json.dumps(run_json), encoding="utf-8")
    return folder


def test_causal_order_holds_in_the_hand_built_log(tmp_path: Path) -> None:
    code, report = check_json(_causal_log(tmp_path / "in-order", overtaken=False))
    assert code == 0, report["violated"]
    assert report["properties"]["causal_order"]["status"] == "holds"
    assert report["links"]["reliable"]["delivered"] == 3


def test_a_causal_violation_is_reported_as_information(tmp_path: Path) -> None:
    run = _causal_log(tmp_path / "overtaken", overtaken=True)
    code, report = check_json(run)
    causal = report["properties"]["causal_order"]
    assert (causal["promised"], causal["status"], causal["count"]) == (False, "does not hold", 1)
    assert "c delivered b:1:1 before a:1:1" in causal["examples"][0], causal
    for name in [*PROMISED_ON_RELIABLE, "clock_sanity"]:
        assert report["properties"][name]["status"] == "ok", report["properties"]
    assert code == 0, "causal order is never promised, so it alone must not fail the check"
    text = netclock("check", str(run))
    assert "causal_order" in text.stdout, explain(text)
    assert "does not hold: 1 delivery overtook a causally earlier message" in text.stdout
