"""A cluster run's reliable links give up on a silent peer by default, after a bound."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netclock.cluster.config import GIVE_UP_AFTER, parse_cluster
from netclock.errors import ConfigError

NODES: dict[str, Any] = {"node": [{"id": "a", "program": "p.py:main"}]}


def test_cluster_runs_give_up_after_the_default_bound(tmp_path: Path) -> None:
    assert parse_cluster(NODES, base_dir=tmp_path).give_up_after == GIVE_UP_AFTER == 5.0


def test_the_cluster_file_sets_the_bound(tmp_path: Path) -> None:
    cluster = parse_cluster({**NODES, "give_up_after": 1}, base_dir=tmp_path)
    assert cluster.give_up_after == 1.0


@pytest.mark.parametrize("value", [0, -1.5])
def test_a_bound_that_is_not_positive_is_one_sentence(tmp_path: Path, value: float) -> None:
    with pytest.raises(ConfigError, match=r"^give_up_after must be a positive number of seconds$"):
        parse_cluster({**NODES, "give_up_after": value}, base_dir=tmp_path)
