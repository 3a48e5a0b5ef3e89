"""``nodes = N`` in a cluster file (``--nodes N`` on the command line): a cluster of any
size from a few ``[[node]]`` tables, and one clear sentence for each mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netclock.cluster.config import load_cluster, parse_cluster
from netclock.cluster.node_count import MAX_NODES, natural_order, node_range
from netclock.errors import ConfigError

pytestmark = pytest.mark.timeout(10)


def _cluster(tmp_path: Path, data: dict[str, Any]) -> Any:
    return parse_cluster({"program": "algo.py:main", **data}, base_dir=tmp_path)


def test_without_node_tables_the_nodes_are_numbered_as_the_demos_name_them(
    tmp_path: Path,
) -> None:
    cluster = _cluster(tmp_path, {"nodes": 12})
    assert cluster.node_ids == [f"n{i}" for i in range(1, 13)]
    assert all(n.address == ("127.0.0.1", 0) for n in cluster.nodes)


def test_the_last_table_is_copied_on_with_its_numbering(tmp_path: Path) -> None:
    tables = [
        {"id": "n1", "args": {"role": "origin"}},
        {"id": "n2", "program": "other.py:main", "args": {"k": 2}, "address": "127.0.0.2:9002"},
    ]
    cluster = _cluster(tmp_path, {"nodes": 5, "node": tables})
    assert cluster.node_ids == ["n1", "n2", "n3", "n4", "n5"]
    n1, n2, n5 = cluster.node("n1"), cluster.node("n2"), cluster.node("n5")
    assert n1.args == {"role": "origin"}
    assert (n5.program, n5.args) == ("other.py:main", {"k": 2})
    assert n2.address == ("127.0.0.2", 9002)
    assert n5.address == ("127.0.0.2", 0), "a copy cannot have its table's fixed port"
    padded = _cluster(tmp_path, {"nodes": 12, "node": [{"id": "p01"}]})
    assert padded.node_ids == [f"p{i:02d}" for i in range(1, 13)]


def test_fewer_nodes_than_tables_keeps_the_first(tmp_path: Path) -> None:
    tables = [{"id": name} for name in ("a", "b", "c")]
    assert _cluster(tmp_path, {"nodes": 2, "node": tables}).node_ids == ["a", "b"]
    actions = [{"at": 1.0, "do": "kill", "node": "c"}]
    with pytest.raises(ConfigError, match="no node 'c'"):
        _cluster(tmp_path, {"nodes": 2, "node": tables, "action": actions})


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"nodes": 0}, f"nodes (or --nodes) must be a whole number from 1 to {MAX_NODES}, not 0"),
        ({"nodes": MAX_NODES + 1}, f"from 1 to {MAX_NODES}, not {MAX_NODES + 1}"),
        ({"nodes": True}, "nodes must be"),
        ({"nodes": "32"}, "nodes must be"),
        ({"nodes": 3, "node": [{"id": "n1", "address": 5}]}, "node[0].address must be a string"),
        ({"nodes": 3, "node": [{"id": 5}]}, "node[0].id must be a string"),
        ({"nodes": 3, "node": [{"address": "127.0.0.1:0"}]}, "node[0] has no id"),
        (
            {"nodes": 4, "node": [{"id": "server"}]},
            "nodes = 4 (or --nodes 4) numbers on from the last [[node]] id, and 'server' does "
            "not end in a number: this cluster names its nodes, so run it with the nodes it "
            "lists (or name them like n1)",
        ),
        ({"nodes": 4, "node": [{"id": "n1"}, {"id": "n2"}, {"id": "n3x"}]}, "'n3x' does not"),
        (
            {"nodes": 4, "node": [{"id": "n1"}, {"id": "n3"}, {"id": "n2"}]},
            "nodes = 4 numbers on from the last [[node]] id 'n2' and reaches 'n3', which a "
            "[[node]] table already has; list the tables in numbering order",
        ),
    ],
)
def test_each_mistake_is_one_sentence(tmp_path: Path, data: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _cluster(tmp_path, data)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_command_line_count_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('program = "algo.py:main"\nnodes = 4\n[[node]]\nid = "n1"\n', encoding="utf-8")
    assert load_cluster(path).node_ids == ["n1", "n2", "n3", "n4"]
    assert len(load_cluster(path, {"nodes": 40}).node_ids) == 40


def test_a_range_of_names_is_one_only_when_they_are_numbered_alike() -> None:
    assert node_range([f"n{i}" for i in range(1, 21)]) == "n1 .. n20"
    assert node_range(["r1", "r2", "r3", "voter"]) == "r1, r2, ..., voter"
    assert node_range(["b", "a"]) == "a, b"


def test_natural_order_puts_n9_before_n10() -> None:
    assert sorted(["n10", "n9", "n1", "p02", "a"], key=natural_order) == [
        "a",
        "n1",
        "n9",
        "n10",
        "p02",
    ]
