"""Relayed output: lines stamped where printed, merged by time at the launcher (sans-IO)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.cluster.output import LineStamper, OutputMerger


def test_a_stamper_sends_each_complete_line_with_the_time_it_was_written() -> None:
    sent: list[tuple[float, str]] = []
    now = [10.0]
    out = LineStamper(lambda t, line: sent.append((t, line)), clock=lambda: now[0])
    print("one", file=out)
    out.write("two, in ")
    now[0] = 11.0
    out.write("pieces\nthree\nunfinished")
    assert sent == [(10.0, "one"), (11.0, "two, in pieces"), (11.0, "three")]
    now[0] = 12.0
    out.close()
    assert sent[-1] == (12.0, "unfinished")
    out.close()
    assert len(sent) == 4


def test_bytes_written_to_the_stampers_buffer_become_lines_too() -> None:
    sent: list[tuple[float, str]] = []
    out = LineStamper(lambda t, line: sent.append((t, line)), clock=lambda: 1.0)
    out.buffer.write("é\n".encode()[:1])  # half a character: held until the rest comes
    out.buffer.write("é\n".encode()[1:] + b"\xff\n")
    assert sent == [(1.0, "é"), (1.0, "\ufffd")]


def test_a_merger_holds_each_line_back_for_its_window_then_releases_by_time() -> None:
    merger = OutputMerger(hold_back=0.25)
    merger.add(1.10, "b", "second")  # b's pipe was read first
    merger.add(1.00, "a", "first")
    assert merger.next_deadline() == 1.25
    assert merger.due(1.24) == []
    assert merger.due(1.25) == [(1.00, "a", "first")]
    assert merger.due(2.0) == [(1.10, "b", "second")]
    assert merger.next_deadline() is None


def test_lines_with_equal_stamps_keep_the_order_they_came_in() -> None:
    merger = OutputMerger(hold_back=0.1)
    for text in ("x", "y", "z"):
        merger.add(5.0, "a", text)
    assert [line for _, _, line in merger.drain()] == ["x", "y", "z"]
    assert len(merger) == 0


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 100), st.floats(0, 0.49), st.sampled_from("abc")), max_size=40)
)
def test_lines_that_arrive_within_the_window_are_released_once_in_time_order(
    lines: list[tuple[float, float, str]],
) -> None:
    merger = OutputMerger(hold_back=0.5)
    released = []
    arrivals = sorted((t + delay, t, node, str(i)) for i, (t, delay, node) in enumerate(lines))
    for arrived, t, node, text in arrivals:
        released += merger.due(arrived)
        merger.add(t, node, text)
    released += merger.drain()
    assert sorted(line for _, _, line in released) == sorted(str(i) for i in range(len(lines)))
    assert [t for t, _, _ in released] == sorted(t for t, _, _ in lines)
