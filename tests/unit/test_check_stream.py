"""Specification of the checker's one-pass reading (netclock.tools.check_stream) on runs
written by the synthetic run writer, whose ground truth (messages sent, lost, delivered
twice, nodes killed) the verdicts must match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netclock.tools import check_stream
from netclock.tools.check import Report, check_run, format_report, load_run
from netclock.tools.check_stream import Ranked
from netclock.tools.synthetic import SyntheticRun, write_synthetic_run


def check(folder: Path) -> Report:
    return check_run(load_run(folder))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_match_the_writers_ground_truth_under_loss_and_duplicates(
    tmp_path: Path, seed: int
) -> None:
    run = write_synthetic_run(
        tmp_path, nodes=4, events=3000, link="reliable", loss=0.1, duplicates=0.1, seed=seed
    )
    report = check(tmp_path)
    total = report.links["reliable"]
    assert total.sent == run.messages, f"seed={seed}"
    assert total.lost == run.lost, f"seed={seed}"
    assert total.duplicated == run.duplicated, f"seed={seed}"
    assert total.delivered == run.messages - run.lost, f"seed={seed}"
    assert total.out_of_order == 0, f"seed={seed}"
    assert report.violated == ("no_duplication", "reliable_delivery"), f"seed={seed}"
    assert report.result("clock_sanity").count == 0, f"seed={seed}"


def test_messages_lost_to_a_kill_are_excused_by_the_fault_record(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, nodes=4, events=4000, link="reliable", loss=0.0, kills=1)
    report = check(tmp_path)
    total = report.links["reliable"]
    assert run.killed
    assert run.lost > 0
    assert total.lost == total.lost_crashed == run.lost
    assert report.ok, format_report(report)
    killed = [n for n in report.nodes if not n.correct]
    assert [n.node for n in killed] == list(run.killed)


def test_the_clock_spill_on_disk_gives_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_synthetic_run(tmp_path, nodes=5, events=3000, link="fairloss", loss=0.2, seed=4)
    in_memory = check(tmp_path).as_dict()
    monkeypatch.setattr(check_stream, "_SPILL_ITEMS", 50)
    run = load_run(tmp_path)
    assert run.links is not None
    assert run.links.clocks.file is not None, "the spill went to its file"
    assert check_run(run).as_dict() == in_memory
    assert check_run(run).as_dict() == in_memory, "checking twice gives the same report"


def _one_file_out_of_order(folder: Path, into: Path) -> None:
    """Every node's log in one events file, the nodes in reverse order."""
    files = sorted(folder.glob("*.events.jsonl"), reverse=True)
    into.mkdir()
    (into / "n0.events.jsonl").write_text("".join(f.read_text() for f in files))
    for name in ("run.json", "faults.jsonl"):
        (into / name).write_text((folder / name).read_text())


def test_logs_out_of_the_checkers_order_are_read_whole_with_the_same_verdict(
    tmp_path: Path,
) -> None:
    write_synthetic_run(tmp_path / "a", nodes=3, events=1500, loss=0.1, duplicates=0.1, seed=5)
    _one_file_out_of_order(tmp_path / "a", tmp_path / "b")
    apart, together = load_run(tmp_path / "a"), load_run(tmp_path / "b")
    assert apart.links is not None
    assert together.links is None
    a, b = check_run(apart).as_dict(), check_run(together).as_dict()
    for report in (a, b):
        del report["source"]  # and the examples quote other file:line places
        for found in report["properties"].values():
            del found["examples"]
    assert a == b


def test_a_run_read_from_files_still_gives_every_event_on_request(tmp_path: Path) -> None:
    run = write_synthetic_run(tmp_path, nodes=2, events=300, seed=6)
    loaded = load_run(tmp_path)
    events = [e for incs in loaded.nodes.values() for inc in incs for e in inc.events]
    samples = sum(1 for e in events if e.ev == "sample")
    assert len(events) - samples == run.events
    assert loaded.event_count == len(events)
    assert all(len(inc.held) < inc.size for incs in loaded.nodes.values() for inc in incs)


def test_a_changed_clock_on_a_delivery_is_a_creation(tmp_path: Path) -> None:
    write_synthetic_run(tmp_path, nodes=2, events=200, link="reliable", loss=0.0, seed=7)
    path = tmp_path / "n1.events.jsonl"
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if '"ev": "deliver"' in line)
    entry = json.loads(lines[at])
    assert "msg_clock" in entry, "a full message clock on the first delivery"
    entry["msg_clock"] = {k: v + 5 for k, v in entry["msg_clock"].items()}
    lines[at] = json.dumps(entry)
    path.write_text("\n".join(lines) + "\n")
    report = check(tmp_path)
    created = report.result("no_creation")
    assert created.count == 1
    assert "carries a clock its send did not have" in created.examples[0]


def test_ranked_examples_are_the_earliest_whatever_order_they_come_in() -> None:
    found = Ranked()
    for rank in (9, 4, 7, 1, 8, 2):
        found.add(f"at {rank}", (0, rank))
    assert found.count == 6
    assert found.examples == ["at 1", "at 2", "at 4"]


def test_writer_counts_add_up(tmp_path: Path) -> None:
    run: SyntheticRun = write_synthetic_run(tmp_path, nodes=3, events=1000, seed=8)
    lines = [
        json.loads(line)
        for path in tmp_path.glob("*.events.jsonl")
        for line in path.read_text().splitlines()
    ]
    kinds = [entry["ev"] for entry in lines if entry["ev"] != "sample"]
    assert len(kinds) == run.events
    assert kinds.count("send") == run.messages


def test_far_off_sequence_numbers_are_matched_without_arrays_that_large(tmp_path: Path) -> None:
    far = 1 << 62
    init = {"t": 1.0, "inc": 1, "ev": "init", "link": "reliable",
            "promises": ["no_creation", "no_duplication", "reliable_delivery"]}  # fmt: skip
    a = [
        {**init, "node": "a", "clock": {"a": 1}},
        {"t": 1.1, "node": "a", "inc": 1, "ev": "send", "clock": {"a": 2}, "to": "b",
         "id": ["a", 1, far]},
        {"t": 1.3, "node": "a", "inc": 1, "ev": "stop", "clock": {"a": 2}, "clean": True,
         "stats": {}},
    ]  # fmt: skip
    b = [{**init, "node": "b", "clock": {"b": 1}}]
    for n, seq in enumerate((far, far, 10**11), start=2):
        b.append(
            {"t": 1.2, "node": "b", "inc": 1, "ev": "deliver", "clock": {"a": 2, "b": n},
             "from": "a", "id": ["a", 1, seq], "msg_clock": {"a": 2}}
        )  # fmt: skip
    b.append({"t": 1.3, "node": "b", "inc": 1, "ev": "stop", "clock": {"a": 2, "b": 4},
              "clean": True, "stats": {}})  # fmt: skip
    for name, lines in (("a", a), ("b", b)):
        text = "".join(json.dumps(line) + "\n" for line in lines)
        (tmp_path / f"{name}.events.jsonl").write_text(text)
    run = load_run(tmp_path)
    total = check_run(run).links["reliable"]
    assert (total.sent, total.delivered, total.duplicated, total.created) == (1, 1, 1, 1)
    assert run.links is not None
    assert all(len(s.marks) < 1024 for s in run.links.sends.values())


def test_clock_counters_up_to_2_64_minus_1_fit_the_spill_in_memory_and_on_disk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A liar's clock may hold any counter the wire allows (the poison demo's 2**64-1)."""
    monkeypatch.setattr(check_stream, "_SPILL_ITEMS", 4)
    spill = check_stream._Spill()
    records = [[1, 0, 2**64 - 1], [2, 0, 1, 2**63, 5], [1, 3, 7]]
    for record in records:
        spill.append(record)
    assert spill.file is not None
    back = [list(block[i : i + 1 + 2 * block[i]]) for block, i in spill.records()]
    spill.close()
    assert back == records
