"""Specification of the GoVector/ShiViz log: writing, parsing, ShiViz's rules, merging."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import VectorClock
from netclock.errors import ConfigError, UsageError
from netclock.observe.shiviz import (
    SHIVIZ_REGEX,
    EventLogWriter,
    LogEvent,
    format_event,
    merge_logs,
    parse_log,
    validate_shiviz,
)

PROPERTY = settings(max_examples=40, deadline=None, print_blob=True)

# ShiViz's regex in Python syntax; JavaScript's "." also stops at "\r", "\u2028", "\u2029".
SHIVIZ_PY = re.compile(
    SHIVIZ_REGEX.replace("(?<", "(?P<").replace(".", "[^\n\r\u2028\u2029]"),
)


def V(**entries: int) -> VectorClock:
    return VectorClock(entries)


def events(*triples: tuple[str, VectorClock, str]) -> list[LogEvent]:
    return [LogEvent(host, clock, text, i) for i, (host, clock, text) in enumerate(triples)]


def write_log(path: Path, triples: list[tuple[str, VectorClock, str]]) -> Path:
    with EventLogWriter(path) as writer:
        for host, clock, text in triples:
            writer.write(host, clock, text)
    return path


def simulate(seed: int, hosts: int, steps: int) -> dict[str, list[tuple[str, VectorClock, str]]]:
    """A random execution with GoVector's rules: each host's log, keyed by host."""
    rng = random.Random(seed)
    names = [f"p{i}" for i in range(hosts)]
    clocks = {name: VectorClock({name: 1}) for name in names}
    logs = {name: [(name, clocks[name], "Initialization Complete")] for name in names}
    in_flight: list[tuple[str, VectorClock]] = []
    for step in range(steps):
        name = rng.choice(names)
        action = rng.random()
        if action < 0.4:
            clocks[name] = clocks[name].tick(name)
            in_flight.append((rng.choice(names), clocks[name]))
            text = f"send {step}"
        elif action < 0.8 and in_flight:
            name, msg_clock = in_flight.pop(rng.randrange(len(in_flight)))
            clocks[name] = clocks[name].receive(name, msg_clock)
            text = f"receive {step}"
        else:
            clocks[name] = clocks[name].tick(name)
            text = f"local {step}"
        logs[name].append((name, clocks[name], text))
    return logs


# -- writing -------------------------------------------------------------------------------------


def test_writer_writes_govector_two_line_format_with_sorted_keys(tmp_path: Path) -> None:
    path = write_log(
        tmp_path / "b.log",
        [("b", V(b=1), "Initialization Complete"), ("b", V(b=2, a=1), "got it")],
    )
    assert path.read_text() == ('b {"b":1}\nInitialization Complete\nb {"a":1, "b":2}\ngot it\n')


def test_writer_replaces_line_breaks_in_event_text_so_two_lines_hold(tmp_path: Path) -> None:
    path = write_log(tmp_path / "a.log", [("a", V(a=1), "one\ntwo\r\nthree\u2028four")])
    assert path.read_text(encoding="utf-8") == 'a {"a":1}\none two  three four\n'
    assert len(SHIVIZ_PY.findall(path.read_text(encoding="utf-8"))) == 1


def test_writer_output_is_matched_by_shiviz_regex_event_by_event(tmp_path: Path) -> None:
    triples = [("a", V(a=i), f"event {i}") for i in range(1, 6)]
    text = write_log(tmp_path / "a.log", triples).read_text()
    matches = [(m["host"], m["clock"], m["event"]) for m in SHIVIZ_PY.finditer(text)]
    assert matches == [(h, str(c), t) for h, c, t in triples]


def test_writer_buffers_until_flush(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    writer = EventLogWriter(path)
    writer.write("a", V(a=1), "x")
    assert path.read_text() == ""
    writer.flush()
    assert path.read_text() == 'a {"a":1}\nx\n'
    writer.close()


def test_writer_flushes_by_itself_past_64_kib(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    with EventLogWriter(path) as writer:
        for i in range(1, 200):
            writer.write("a", V(a=i), "x" * 1000)
        assert 64 * 1024 <= path.stat().st_size < 200 * 1000
    assert len(parse_log(path)) == 199


def test_writer_close_is_idempotent_and_refuses_later_writes(tmp_path: Path) -> None:
    writer = EventLogWriter(tmp_path / "a.log")
    writer.write("a", V(a=1), "x")
    writer.close()
    writer.close()
    assert (tmp_path / "a.log").read_text() == 'a {"a":1}\nx\n'
    with pytest.raises(UsageError, match="closed"):
        writer.write("a", V(a=2), "y")


@pytest.mark.parametrize("where", ["missing/dir/a.log", "."])
def test_writer_unwritable_path_is_config_error_at_construction(tmp_path: Path, where: str) -> None:
    with pytest.raises(ConfigError, match="cannot write the GoVector log"):
        EventLogWriter(tmp_path / where)


def test_writer_refuses_host_with_white_space(tmp_path: Path) -> None:
    with EventLogWriter(tmp_path / "a.log") as writer, pytest.raises(ValueError, match="white"):
        writer.write("a b", V(a=1), "x")


# -- parsing -------------------------------------------------------------------------------------


def test_parse_log_reads_back_what_the_writer_wrote(tmp_path: Path) -> None:
    triples = [("a", V(a=1), "init"), ("a", V(a=2, b=7), ""), ("a", V(a=3), "café ✓")]
    parsed = parse_log(write_log(tmp_path / "a.log", triples))
    assert parsed == events(*triples)


def test_parse_log_accepts_text_and_skips_regex_header_and_blank_lines() -> None:
    text = f'{SHIVIZ_REGEX}\n\na {{"a":1}}\ninit\n\n\nb {{"b":1}}\nhello\r\n'
    assert parse_log(text) == events(("a", V(a=1), "init"), ("b", V(b=1), "hello"))


def test_parse_log_of_empty_text_is_no_events() -> None:
    assert parse_log("") == []


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ('a {"a":1}\ninit\nnot a clock line\nx\n', 3, "expected 'host"),
        ('a {"a":1}\ninit\na {"a":}\nx\n', 3, "not a clock"),
        ('a {"a":1}\ninit\na {"a":' + "[" * 10**5 + "]" * 10**5 + "}\nx\n", 3, "not a clock"),
        ('a {"a":1}\ninit\na {"a":-1}\nx\n', 3, "outside"),
        ('a {"a":1.5}\ninit\n', 1, "must be an int"),
    ],
)
def test_parse_log_malformed_line_names_file_and_line(
    tmp_path: Path, text: str, line: int, what: str
) -> None:
    path = tmp_path / "bad.log"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"bad\.log, line {line}: .*{re.escape(what)}") as info:
        parse_log(path)
    assert len(str(info.value)) < 500, "one sentence, not the line quoted whole"


@pytest.mark.parametrize(
    ("text", "texts"),
    [
        ('a {"a":1}\ninit\na {"a":2}\n', ["init"]),  # cut after the clock line
        ('a {"a":1}\ninit\na {"a":', ["init"]),  # cut inside the clock line
        ('a {"a":1}\ninit\na {"a":2}\nsen', ["init", "sen"]),  # cut inside the event text
    ],
)
def test_parse_log_reads_a_log_cut_by_a_kill_up_to_its_last_whole_clock_line(
    tmp_path: Path, text: str, texts: list[str]
) -> None:
    path = tmp_path / "killed.log"
    path.write_text(text)
    events = parse_log(path)
    assert [e.event for e in events] == texts
    assert validate_shiviz(events) == []


def test_parse_log_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the log"):
        parse_log(tmp_path / "nope.log")


# -- ShiViz's rules ------------------------------------------------------------------------------


def test_validate_accepts_a_send_and_receive() -> None:
    log = events(
        ("a", V(a=1), "init"),
        ("b", V(b=1), "init"),
        ("a", V(a=2), "send"),
        ("b", V(a=2, b=2), "receive"),
    )
    assert validate_shiviz(log) == []


def test_validate_catches_a_skipped_counter() -> None:
    log = events(("a", V(a=1), "init"), ("a", V(a=3), "skipped"))
    [problem] = validate_shiviz(log)
    assert "goes from 1 to 3" in problem


def test_validate_catches_a_first_entry_other_than_1() -> None:
    [problem] = validate_shiviz(events(("a", V(a=2), "init")))
    assert "first event of 'a' has own entry 2, it must be 1" in problem


def test_validate_catches_a_missing_own_entry() -> None:
    [problem] = validate_shiviz(events(("a", V(b=0), "init")))
    assert "own entry 0" in problem


def test_validate_catches_knowledge_of_the_future() -> None:
    log = events(("a", V(a=1), "init"), ("b", V(b=1), "init"), ("b", V(a=2, b=2), "rx"))
    [problem] = validate_shiviz(log)
    assert "knows a:2 but 'a' logged only 1 event(s)" in problem


def test_validate_catches_a_host_that_never_logged() -> None:
    [problem] = validate_shiviz(events(("b", V(b=1, ghost=1), "init")))
    assert "'ghost' logged only 0" in problem


def test_validate_refuses_an_empty_log() -> None:
    assert validate_shiviz([]) == ["the log has no events; ShiViz needs at least one"]


# -- merging -------------------------------------------------------------------------------------


def test_merge_starts_with_regex_line_and_blank_line_then_events(tmp_path: Path) -> None:
    logs = simulate(seed=1, hosts=3, steps=30)
    paths = [write_log(tmp_path / f"{h}.log", t) for h, t in logs.items()]
    assert merge_logs(paths, tmp_path / "merged.log") == []
    text = (tmp_path / "merged.log").read_text()
    assert text.startswith(SHIVIZ_REGEX + "\n\n")
    assert text.split("\n")[0] == SHIVIZ_REGEX
    body = text[len(SHIVIZ_REGEX) + 2 :]
    assert len(SHIVIZ_PY.findall(body)) == sum(len(t) for t in logs.values())


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), hosts=st.integers(1, 4), steps=st.integers(0, 40))
def test_merge_keeps_host_order_puts_causes_first_and_validates(
    tmp_path_factory: pytest.TempPathFactory, seed: int, hosts: int, steps: int
) -> None:
    folder = tmp_path_factory.mktemp("merge")
    logs = simulate(seed, hosts, steps)
    paths = [write_log(folder / f"{h}.log", t) for h, t in logs.items()]
    problems = merge_logs(reversed(paths), folder / "merged.log")
    assert problems == [], f"seed={seed}"
    merged = parse_log(folder / "merged.log")
    assert validate_shiviz(merged) == [], f"seed={seed}"
    for host, triples in logs.items():
        mine = [(e.host, e.clock, e.event) for e in merged if e.host == host]
        assert mine == triples, f"seed={seed}: {host}'s events out of order"
    for i, later in enumerate(merged):
        for earlier in merged[:i]:
            assert not later.clock.happens_before(earlier.clock), f"seed={seed}"


def test_merge_refuses_one_host_with_two_histories(tmp_path: Path) -> None:
    one = write_log(tmp_path / "one.log", [("a", V(a=1), "init")])
    two = write_log(tmp_path / "two.log", [("a", V(a=1), "init"), ("a", V(a=2), "x")])
    with pytest.raises(ConfigError, match=r"host 'a' has different events in .*one\.log and"):
        merge_logs([one, two], tmp_path / "merged.log")


def test_merge_keeps_a_repeated_identical_history_once(tmp_path: Path) -> None:
    logs = simulate(seed=7, hosts=2, steps=10)
    paths = [write_log(tmp_path / f"{h}.log", t) for h, t in logs.items()]
    assert merge_logs(paths, tmp_path / "first.log") == []
    assert merge_logs([*paths, tmp_path / "first.log"], tmp_path / "again.log") == []
    assert (tmp_path / "again.log").read_text() == (tmp_path / "first.log").read_text()


def test_merge_writes_file_and_reports_problems_of_invalid_logs(tmp_path: Path) -> None:
    bad = write_log(tmp_path / "a.log", [("a", V(a=1), "init"), ("a", V(a=5), "jump")])
    [problem] = merge_logs([bad], tmp_path / "merged.log")
    assert "goes from 1 to 5" in problem
    assert len(parse_log(tmp_path / "merged.log")) == 2


def test_merge_to_unwritable_path_is_config_error(tmp_path: Path) -> None:
    log = write_log(tmp_path / "a.log", [("a", V(a=1), "init")])
    with pytest.raises(ConfigError, match="cannot write the merged log"):
        merge_logs([log], tmp_path / "no" / "merged.log")


def test_format_event_is_govector_text() -> None:
    assert format_event("s", V(s=3, c=2), "rx") == 's {"c":2, "s":3}\nrx\n'


def test_a_merge_that_meets_a_bad_clock_further_on_leaves_no_half_merged_file(
    tmp_path: Path,
) -> None:
    good = tmp_path / "a.log"
    good.write_text('a {"a":1}\ninit\na {"a":2}\nsend\n')
    bad = tmp_path / "b.log"
    bad.write_text('b {"b":1}\ninit\nb {"b":"two"}\nsend\n')
    out = tmp_path / "merged.log"
    with pytest.raises(ConfigError, match=r"b\.log, line 3"):
        merge_logs([good, bad], out)
    assert not out.exists()
