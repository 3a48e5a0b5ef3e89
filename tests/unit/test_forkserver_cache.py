"""The fork server's parsed cluster files: a forked node takes one only while it is current."""

from __future__ import annotations

import os
from pathlib import Path

from netclock.cluster.config import load_cluster
from netclock.cluster.forkserver import parsed_cluster, remember_cluster
from netclock.cluster.phases import relative

TEXT = 'name = "c"\nlink = "reliable"\nprogram = "p.py:main"\n[[node]]\nid = "a"\n'


def test_a_parsed_cluster_is_handed_out_for_the_same_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(TEXT)
    cluster = load_cluster(path, {})
    remember_cluster(path, "{}", cluster)
    assert parsed_cluster(str(path), "{}") is cluster
    assert parsed_cluster(str(path), None) is cluster  # no overrides is the same as {}
    assert parsed_cluster(str(path), '{"link": "tls"}') is None
    assert parsed_cluster(str(tmp_path / "other.toml"), "{}") is None


def test_a_changed_or_removed_file_is_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(TEXT)
    remember_cluster(path, "{}", load_cluster(path, {}))
    path.write_text(TEXT.replace('"c"', '"changed"'))
    os.utime(path, ns=(1, 1))
    assert parsed_cluster(path, "{}") is None
    path.unlink()
    assert parsed_cluster(path, "{}") is None


def test_start_phases_are_made_relative_and_garbage_is_dropped() -> None:
    steps: dict[str, object] = {"fork": 101.5, "main": "soon", "bound": True, "node": 102}
    assert relative(steps, 100.0) == {"fork": 1.5, "node": 2.0}
