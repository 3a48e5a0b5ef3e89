"""The shared-folder rendezvous: atomic records, waiting, who never showed up, bad files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from netclock.cli.node import node_by_index
from netclock.cluster.config import load_cluster
from netclock.cluster.rendezvous import (
    advertised_host,
    finish,
    meet,
    publish,
    read_stage,
    ready,
    stage_file,
    wait_stage,
)
from netclock.errors import ConfigError

pytestmark = pytest.mark.timeout(30)


def test_publish_is_whole_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    publish(tmp_path, "a", "address", host="10.0.0.1", port=9000)
    assert [p.name for p in tmp_path.iterdir()] == ["a.address.json"]
    record = read_stage(tmp_path, "address", ["a"])["a"]
    assert (record["host"], record["port"], record["stage"]) == ("10.0.0.1", 9000, "address")


def test_any_node_id_is_a_safe_file_name(tmp_path: Path) -> None:
    publish(tmp_path, "../x/y", "peers")
    assert stage_file(tmp_path, "../x/y", "peers").parent == tmp_path
    assert list(read_stage(tmp_path, "peers", ["../x/y"])) == ["../x/y"]


def test_unknown_stage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stage 'nope'"):
        publish(tmp_path, "a", "nope")


def test_timeout_names_every_node_that_never_showed_up(tmp_path: Path) -> None:
    publish(tmp_path, "a", "address", host="10.0.0.1", port=9000)
    with pytest.raises(ConfigError, match=r"b, c never reached stage 'address' within 0.2 s"):
        asyncio.run(wait_stage(tmp_path, "address", ["a", "b", "c"], 0.2))


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[1, 2]",
        '{"id": "someone-else", "host": "10.0.0.2", "port": 1}',
        '{"id": "b", "host": "0.0.0.0", "port": 9000}',
        '{"id": "b", "host": "10.0.0.2", "port": 70000}',
        '{"id": "b", "host": "10.0.0.2", "port": true}',
        '{"id": "b", "port": 9000}',
    ],
)
def test_a_bad_record_counts_as_missing(tmp_path: Path, content: str) -> None:
    stage_file(tmp_path, "b", "address").write_text(content, encoding="utf-8")
    assert read_stage(tmp_path, "address", ["b"]) == {}
    with pytest.raises(ConfigError, match="b never reached"):
        asyncio.run(wait_stage(tmp_path, "address", ["b"], 0.05))


def test_nodes_meet_and_learn_each_others_addresses(tmp_path: Path) -> None:
    ids = ["a", "b", "c"]
    bound = {"a": ("127.0.0.1", 9001), "b": ("10.1.2.3", 9002), "c": ("::1", 9003)}

    async def one(node: str) -> dict[str, tuple[str, int]]:
        peers = await meet(tmp_path, node, bound[node], ids, 10.0, incarnation=7)
        await ready(tmp_path, node, ids, 10.0)
        return peers

    async def all_three() -> list[dict[str, tuple[str, int]]]:
        return list(await asyncio.gather(*(one(n) for n in ids)))

    for node, peers in zip(ids, asyncio.run(all_three()), strict=True):
        assert peers == {n: bound[n] for n in ids if n != node}
    record = json.loads(stage_file(tmp_path, "b", "address").read_text(encoding="utf-8"))
    assert record["incarnation"] == 7
    assert record["hostname"]
    assert record["pid"] > 0


def test_a_late_node_is_waited_for(tmp_path: Path) -> None:
    async def scenario() -> dict[str, tuple[str, int]]:
        waiting = asyncio.ensure_future(meet(tmp_path, "a", ("127.0.0.1", 1), ["a", "b"], 10.0))
        await asyncio.sleep(0)  # let "a" publish and start polling before "b" shows up
        assert not waiting.done()
        publish(tmp_path, "b", "address", host="127.0.0.2", port=2)
        return await waiting

    assert asyncio.run(scenario()) == {"b": ("127.0.0.2", 2)}


def test_finish_reports_nodes_not_done_without_raising(tmp_path: Path) -> None:
    assert asyncio.run(finish(tmp_path, "a", ["a", "b"], 0.05)) is False
    publish(tmp_path, "b", "done")
    assert asyncio.run(finish(tmp_path, "a", ["a", "b"], 1.0)) is True


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::"])
def test_a_wildcard_is_never_published(wildcard: str) -> None:
    host = advertised_host(wildcard)
    assert host not in ("0.0.0.0", "::", "")


def test_a_concrete_host_is_published_as_it_is() -> None:
    assert advertised_host("10.9.8.7") == "10.9.8.7"
    assert advertised_host("node17.cluster") == "node17.cluster"


def _cluster(tmp_path: Path) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(
        'name = "c"\nprogram = "p.py:main"\n'
        + "".join(f'[[node]]\nid = "{n}"\n' for n in ("x", "y", "z")),
        encoding="utf-8",
    )
    (tmp_path / "p.py").write_text("async def main(node):\n    pass\n", encoding="utf-8")
    return path


def test_index_names_the_node_at_that_position(tmp_path: Path) -> None:
    cluster = load_cluster(_cluster(tmp_path))
    assert [node_by_index(cluster, str(i), {}) for i in range(3)] == ["x", "y", "z"]


def test_index_slurm_reads_the_task_index(tmp_path: Path) -> None:
    cluster = load_cluster(_cluster(tmp_path))
    assert node_by_index(cluster, "slurm", {"SLURM_PROCID": "2"}) == "z"
    assert node_by_index(cluster, "slurm", {"SLURM_ARRAY_TASK_ID": "1"}) == "y"
    assert node_by_index(cluster, "slurm", {"SLURM_PROCID": "0", "SLURM_ARRAY_TASK_ID": "2"}) == "x"


@pytest.mark.parametrize("index", ["3", "-1", "one", ""])
def test_index_out_of_range_is_one_clear_sentence(tmp_path: Path, index: str) -> None:
    cluster = load_cluster(_cluster(tmp_path))
    with pytest.raises(ConfigError, match="must be a number from 0 to 2"):
        node_by_index(cluster, index, {})


def test_index_slurm_outside_slurm_says_what_to_do(tmp_path: Path) -> None:
    cluster = load_cluster(_cluster(tmp_path))
    with pytest.raises(ConfigError, match="needs SLURM_PROCID or SLURM_ARRAY_TASK_ID"):
        node_by_index(cluster, "slurm", {})
