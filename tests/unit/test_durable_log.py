"""The record log on disk: recovery, truncation of a damaged tail, compaction, group commit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from netclock.durable import Durability, GroupCommit, LogCorrupt, RecordLog
from netclock.durable.records import MAGIC, encode_record


def test_records_appended_are_recovered_in_order(tmp_path: Path) -> None:
    log = RecordLog.open(tmp_path / "x.log")
    assert (log.recovered, log.damage) == ([], None)
    assert log.append(["a", 1]) == 1
    assert log.append_many([["b", b"\x00"], {"c": None}]) == 3
    log.close()
    again = RecordLog.open(tmp_path / "x.log")
    assert again.recovered == [["a", 1], ["b", b"\x00"], {"c": None}]
    assert again.damage is None
    again.close()


def test_a_torn_tail_is_reported_truncated_and_new_records_follow_the_valid_ones(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.log"
    log = RecordLog.open(path)
    log.append_many([1, 2, 3])
    log.close()
    whole = path.read_bytes()
    path.write_bytes(whole[:-1])  # the last record loses its last byte
    log = RecordLog.open(path)
    assert log.recovered == [1, 2]
    assert log.damage is not None
    assert log.damage.dropped == len(encode_record(b"\x03")) - 1
    assert "torn" in log.damage.reason
    log.append(4)
    log.close()
    assert RecordLog.open(path).recovered == [1, 2, 4]


def test_a_flipped_bit_in_the_last_record_drops_only_that_record(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    log = RecordLog.open(path)
    log.append_many(["keep", "keep too", "flipped"])
    log.close()
    data = bytearray(path.read_bytes())
    data[-2] ^= 0x10
    path.write_bytes(bytes(data))
    log = RecordLog.open(path)
    assert log.recovered == ["keep", "keep too"]
    assert log.damage is not None
    assert log.damage.reason == "checksum mismatch"
    assert path.stat().st_size == log.damage.offset
    log.close()


def test_a_foreign_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"hello, this is not a log\n")
    with pytest.raises(LogCorrupt, match="not a netclock record log"):
        RecordLog.open(path)
    assert path.read_bytes() == b"hello, this is not a log\n"


def test_a_checksummed_record_that_is_not_msgpack_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(MAGIC + encode_record(b"\xc1"))  # 0xc1 is never used by msgpack
    with pytest.raises(LogCorrupt, match="not msgpack"):
        RecordLog.open(path)


def test_compaction_bounds_the_size_by_the_live_records_not_by_history(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    log = RecordLog.open(path)
    for round_ in range(20):
        log.append_many([["msg", round_, i, b"x" * 100] for i in range(100)])
        log.compact([["msg", round_, 99, b"x" * 100]])
        assert log.size == path.stat().st_size < 200, f"round {round_}"
    assert log.position == 2000
    assert log.synced == 2000  # a compaction is fsynced
    log.append("after")
    log.close()
    assert RecordLog.open(path).recovered == [["msg", 19, 99, b"x" * 100], "after"]
    assert not (tmp_path / "x.log.tmp").exists()


def test_sync_covers_every_record_appended_before_it(tmp_path: Path) -> None:
    log = RecordLog.open(tmp_path / "x.log")
    position = log.append_many(range(10))
    assert log.needs_sync(position)
    assert log.sync() == 10
    assert not log.needs_sync(position)
    assert log.syncs == 1
    log.close()


async def test_group_commit_covers_many_waiters_with_few_fsyncs(tmp_path: Path) -> None:
    log = RecordLog.open(tmp_path / "x.log")
    seen: list[int] = []
    commit = GroupCommit(log, Durability.MACHINE, on_durable=seen.append)
    waits = []
    for i in range(200):
        waits.append(asyncio.ensure_future(commit.durable(log.append(i))))
        if i % 50 == 49:
            await asyncio.sleep(0)  # let a sync start while more records arrive
    await asyncio.wait_for(asyncio.gather(*waits), 10)
    assert commit.syncs <= 8, f"{commit.syncs} fsyncs for 200 records"
    assert commit.records_synced == 200
    assert seen[-1] == 200
    assert seen == sorted(seen)
    await commit.close()
    log.close()


async def test_process_level_never_waits_for_a_sync(tmp_path: Path) -> None:
    log = RecordLog.open(tmp_path / "x.log")
    commit = GroupCommit(log, Durability.PROCESS)
    assert commit.request(log.append("x"))
    await commit.durable(log.position)
    assert commit.syncs == 0
    log.close()


async def test_a_failed_fsync_fails_its_waiters_with_the_error(tmp_path: Path) -> None:
    log = RecordLog.open(tmp_path / "x.log")
    commit = GroupCommit(log)
    position = log.append("x")
    log.close()  # the descriptor is gone: the fsync handle cannot be made
    with pytest.raises(OSError, match="Bad file descriptor"):
        await asyncio.wait_for(commit.durable(position), 10)
    assert commit.error is not None
