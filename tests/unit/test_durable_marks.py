"""Consumed-up-to marks in a shared mapping (netclock/durable/marks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netclock.durable.linklog import IN
from netclock.durable.log import Durability
from netclock.durable.marks import (
    HEADER,
    SIZE,
    SLOT,
    SLOTS,
    ConsumedMarks,
    MarksCorrupt,
    store,
)
from netclock.links.journal import MARKS, LinkJournal


def test_marks_survive_the_process_and_the_highest_wins(tmp_path: Path) -> None:
    marks = ConsumedMarks.open(tmp_path / "m")
    assert marks.recovered == {}
    for seq in range(1, 8):
        assert marks.mark("a", 3, seq)
    assert marks.mark("b", 1, 40)
    marks.close()  # no flush, no msync: the stores are the file's pages
    again = ConsumedMarks.open(tmp_path / "m")
    assert again.recovered == {("a", 3): 7, ("b", 1): 40}
    again.reset()
    again.close()
    assert ConsumedMarks.open(tmp_path / "m").recovered == {}


def test_a_slots_store_and_mark_alternate_its_copies(tmp_path: Path) -> None:
    marks = ConsumedMarks.open(tmp_path / "m")
    slot = marks.slot("a", 3)
    assert slot is not None
    store(marks.area, slot, 1)  # copy 0
    assert marks.mark("a", 3, 2)  # copy 1: store and mark alternate on one slot
    store(marks.area, slot, 3)  # copy 0 again
    marks.close()
    path = tmp_path / "m"
    assert ConsumedMarks.open(path).recovered == {("a", 3): 3}
    data = bytearray(path.read_bytes())
    data[HEADER + 96 + 8] ^= 0xFF  # copy 0 (3) torn: copy 1 (2) is the mark before it
    path.write_bytes(bytes(data))
    again = ConsumedMarks.open(path)
    assert again.recovered == {("a", 3): 2}
    assert again.slot("x" * 100, 1) is None  # an id too long for a slot: log a record
    again.close()


def test_the_journals_inlined_store_and_mark_alternate_the_copies(tmp_path: Path) -> None:
    """consumed_next (the node's per-message path, marks.store inlined) and consumed_all
    (several consumers, through mark) share the slot's copies: a torn last store leaves
    the mark before it, never an older one."""
    journal = LinkJournal.open(tmp_path, 1, Durability.PROCESS)
    pending = journal.state.inbound.setdefault(("a", 9), {})
    for seq in (1, 2, 3):
        pending[seq] = [IN, "a", 9, seq, {"a": seq}, seq]
    deliveries = [("a", seq, None, None, 9, seq) for seq in (1, 2, 3)]
    journal.consumed_next(deliveries[0])  # copy 0
    journal.consumed_all([deliveries[1]], in_order=True)  # copy 1
    journal.consumed_next(deliveries[2])  # copy 0
    assert journal.state.inbound[("a", 9)] == {}
    journal.close()
    path = tmp_path / MARKS
    assert ConsumedMarks.open(path).recovered == {("a", 9): 3}
    data = bytearray(path.read_bytes())
    data[HEADER + 96 + 8] ^= 0xFF  # the store of 3 torn
    path.write_bytes(bytes(data))
    assert ConsumedMarks.open(path).recovered == {("a", 9): 2}


def test_a_torn_store_leaves_the_mark_before_it(tmp_path: Path) -> None:
    marks = ConsumedMarks.open(tmp_path / "m")
    for seq in (10, 11, 12):  # copies: 10 -> 0, 11 -> 1, 12 -> 0
        marks.mark("a", 1, seq)
    marks.close()
    path = tmp_path / "m"
    data = bytearray(path.read_bytes())
    data[HEADER + 96 + 8] ^= 0xFF  # copy 0 (holding 12) torn: its check no longer matches
    path.write_bytes(bytes(data))
    assert ConsumedMarks.open(path).recovered == {("a", 1): 11}


def test_a_slot_torn_while_claimed_is_ignored(tmp_path: Path) -> None:
    marks = ConsumedMarks.open(tmp_path / "m")
    marks.mark("a", 1, 5)
    marks.close()
    path = tmp_path / "m"
    data = bytearray(path.read_bytes())
    data[HEADER + 9] ^= 0x01  # the id: the slot's checksum fails
    path.write_bytes(bytes(data))
    assert ConsumedMarks.open(path).recovered == {}


def test_without_a_free_slot_or_with_a_long_id_the_caller_logs_a_record(tmp_path: Path) -> None:
    marks = ConsumedMarks.open(tmp_path / "m")
    assert not marks.mark("x" * 100, 1, 1)
    for n in range(SLOTS):
        assert marks.mark(f"p{n}", 1, 1)
    assert not marks.mark("one-more", 1, 1)
    assert marks.mark("p0", 1, 2)  # a claimed stream keeps its slot
    marks.close()


@pytest.mark.parametrize("content", [b"x" * SIZE, b"short"])
def test_a_file_that_is_not_a_marks_file_is_refused(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "m").write_bytes(content)
    with pytest.raises(MarksCorrupt):
        ConsumedMarks.open(tmp_path / "m")
    assert (tmp_path / "m").read_bytes() == content  # left as it was


def test_slots_fit_the_file() -> None:
    assert HEADER + SLOT * SLOTS == SIZE
