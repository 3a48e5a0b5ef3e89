"""The pure parts of the cluster API: a Python description written as a cluster file."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from netclock import ConfigError, FaultPlan, Node
from netclock.cluster.config import parse_cluster
from netclock.cluster.launcher import claim_run_dir, new_run_dir
from netclock.testing.cluster import cluster_toml


async def program(node: Node, rounds: int = 1) -> int:
    return rounds


def test_a_description_reads_back_as_the_same_cluster(tmp_path: Path) -> None:
    description = {
        "name": "two",
        "link": "fairloss",
        "duration": 2.5,
        "fifo": False,
        "program": "algo.py:main",
        "args": {"text": 'quote " and \\ and\nnewline', "many": [1, 2.5, True], "t": {"x": 1}},
        "faults": FaultPlan(seed=2**64 - 1, loss=0.25),
        "node": ["a", {"id": "b", "program": program, "args": {"rounds": 3}}],
    }
    text = cluster_toml(description, tmp_path)
    cluster = parse_cluster(tomllib.loads(text), base_dir=Path("/elsewhere"))
    assert cluster.name == "two"
    assert cluster.link == "fairloss"
    assert cluster.duration == 2.5
    assert cluster.fifo is False
    assert cluster.faults == FaultPlan(seed=2**64 - 1, loss=0.25)
    a, b = cluster.nodes
    assert a.program == f"{tmp_path.resolve() / 'algo.py'}:main"
    assert a.args == description["args"]
    assert b.program == f"{Path(__file__).resolve()}:program"
    assert b.args["rounds"] == 3


@pytest.mark.parametrize(
    ("program", "message"),
    [
        (lambda node: None, "async function defined at module level"),
        (print, "async function defined at module level"),
    ],
)
def test_a_program_a_node_process_cannot_import_is_refused(
    tmp_path: Path, program: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        cluster_toml({"program": program, "node": ["a"]}, tmp_path)


def test_a_nested_function_is_refused(tmp_path: Path) -> None:
    async def inner(node: Node) -> None:
        return None

    with pytest.raises(ConfigError, match="defined at module level"):
        cluster_toml({"program": inner, "node": ["a"]}, tmp_path)


@pytest.mark.parametrize(
    ("value", "message"),
    [(float("nan"), "finite number"), (object(), "string, number, boolean")],
)
def test_values_toml_cannot_hold_are_one_clear_error(
    tmp_path: Path, value: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        cluster_toml({"program": "a.py:f", "args": {"x": value}, "node": ["a"]}, tmp_path)


def test_a_run_folder_is_claimed_only_when_new_or_empty(tmp_path: Path) -> None:
    assert claim_run_dir(tmp_path / "new" / "run").is_dir()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert claim_run_dir(empty) == empty
    (empty / "faults.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError, match="already holds files"):
        claim_run_dir(empty)
    with pytest.raises(ConfigError, match="is a file"):
        claim_run_dir(empty / "faults.jsonl")


def test_a_run_folder_that_cannot_be_made_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(ConfigError, match=r"cannot create the run folder .*afile/run: "):
        claim_run_dir(tmp_path / "afile" / "run")
    with pytest.raises(ConfigError, match=r"cannot create a run folder under .*afile: "):
        new_run_dir("x", tmp_path / "afile")
