"""A node's durable identity: incarnations never reused, the own clock entry never going back,
and every problem with the data directory one clear ConfigError."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from netclock import Node
from netclock.durable import CLOCK_BLOCK, NodeState
from netclock.durable import state as state_module
from netclock.errors import ConfigError, UsageError


def _restart(data_dir: Path, **options: int) -> NodeState:
    state = NodeState.open(data_dir, "a", **options)
    state.close()
    return state


def test_a_missing_data_directory_is_created_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "run" / "a"
    NodeState.open(data_dir, "a").close()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert (data_dir / "node.state").exists()


def test_each_start_takes_a_larger_incarnation(tmp_path: Path) -> None:
    seen = [_restart(tmp_path).incarnation for _ in range(5)]
    assert seen == sorted(set(seen))


def test_the_incarnation_grows_even_when_the_wall_clock_goes_backwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _restart(tmp_path).incarnation
    monkeypatch.setattr(state_module, "new_incarnation", lambda: 7)
    assert _restart(tmp_path).incarnation == first + 1
    assert _restart(tmp_path).incarnation == first + 2


def test_a_given_incarnation_already_used_is_refused(tmp_path: Path) -> None:
    used = _restart(tmp_path).incarnation
    with pytest.raises(ConfigError, match=f"incarnation {used} is not above {used}"):
        NodeState.open(tmp_path, "a", incarnation=used)
    assert _restart(tmp_path, incarnation=used + 5).incarnation == used + 5


def test_the_own_clock_entry_continues_above_every_value_used(tmp_path: Path) -> None:
    state = NodeState.open(tmp_path, "a")
    assert state.clock_start == 1
    for value in range(1, 2501):
        state.reserve(value)
    state.close()  # the kill -9 case: nothing more is written at the end
    again = NodeState.open(tmp_path, "a")
    assert 2500 < again.clock_start <= 2500 + CLOCK_BLOCK
    again.close()


def test_a_clock_start_from_the_exact_last_value_is_accepted_and_one_surely_used_is_not(
    tmp_path: Path,
) -> None:
    state = NodeState.open(tmp_path, "a")
    for value in range(1, 1501):
        state.reserve(value)
    state.close()
    assert _restart(tmp_path, clock_start=1501).clock_start == 1501
    with pytest.raises(ConfigError, match="already used that value"):
        NodeState.open(tmp_path, "a", clock_start=1)


def test_a_corrupt_state_file_is_one_error_naming_the_file_and_what_to_do(
    tmp_path: Path,
) -> None:
    _restart(tmp_path)
    file = tmp_path / "node.state"
    data = bytearray(file.read_bytes())
    data[12] ^= 0x01  # the first record's checksum
    file.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=r"node\.state.*checksum mismatch.*move the file aside"):
        NodeState.open(tmp_path, "a")


def test_a_foreign_state_file_is_refused_and_kept(tmp_path: Path) -> None:
    (tmp_path / "node.state").write_text("{}")
    with pytest.raises(ConfigError, match=r"not a netclock record log.*move the file aside"):
        NodeState.open(tmp_path, "a")
    assert (tmp_path / "node.state").read_text() == "{}"


def test_a_torn_last_record_is_dropped_and_the_start_goes_on(tmp_path: Path) -> None:
    state = NodeState.open(tmp_path, "a")
    state.reserve(CLOCK_BLOCK + 1)  # appends one mark record
    state.close()
    file = tmp_path / "node.state"
    file.write_bytes(file.read_bytes()[:-1])
    again = NodeState.open(tmp_path, "a")
    assert again.clock_start > 1
    again.close()


def test_another_nodes_data_directory_is_refused(tmp_path: Path) -> None:
    _restart(tmp_path)
    with pytest.raises(ConfigError, match="belongs to node 'a', not 'b'"):
        NodeState.open(tmp_path, "b")


def test_a_data_directory_in_use_is_refused(tmp_path: Path) -> None:
    state = NodeState.open(tmp_path, "a")
    try:
        with pytest.raises(ConfigError, match="in use by pid"):
            NodeState.open(tmp_path, "a")
    finally:
        state.close()
    _restart(tmp_path)  # released by close


def test_a_data_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        NodeState.open(tmp_path / "f", "a")


async def test_a_node_on_its_data_directory_restarts_as_a_new_incarnation_with_a_later_clock(
    tmp_path: Path,
) -> None:
    async with Node("a", data_dir=tmp_path) as node:
        first = node.incarnation
        for _ in range(1200):
            node.log_local_event("tick")
        used = node.clock["a"]
    async with Node("a", data_dir=tmp_path) as node:
        assert node.incarnation > first
        assert node.clock["a"] > used


async def test_clock_start_sets_the_own_entry_with_or_without_a_data_directory(
    tmp_path: Path,
) -> None:
    async with Node("a", clock_start=42) as node:
        assert node.clock["a"] == 42
    async with Node("a", data_dir=tmp_path, clock_start=42) as node:
        assert node.clock["a"] == 42
        assert node.log_local_event("x")["a"] == 43


def test_a_clock_start_below_one_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="clock_start must be an integer of at least 1"):
        Node("a", clock_start=0)


@pytest.mark.parametrize(("durability", "fsyncs"), [("process", False), ("machine", True)])
def test_a_start_fsyncs_its_data_directory_only_at_machine_durability(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durability: str, fsyncs: bool
) -> None:
    import os

    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    node = Node("a", data_dir=tmp_path / "a", durability=durability)
    assert bool(calls) is fsyncs
    state = NodeState.open(tmp_path / "b", "b", sync=fsyncs)
    state.close()
    again = NodeState.open(tmp_path / "b", "b", sync=fsyncs)
    assert again.incarnation > state.incarnation
    again.close()
    assert node.incarnation > 0
