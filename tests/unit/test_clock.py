"""Specification of VectorClock: the happened-before order, merge, tick, text and wire forms.

Hypothesis prints the falsifying example (and a reproduction blob) when a property fails.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.clock import (
    MAX_COUNTER,
    SHIVIZ_RESERVED_IDS,
    ClockScope,
    Ordering,
    VectorClock,
    check_clock_entries,
    check_pid,
    receive_all,
)
from netclock.errors import ClockError, NetclockError, WireError
from netclock.wire.envelope import Limits, decode
from netclock.wire.govector import decode_message

JS_MEMBERS = SHIVIZ_RESERVED_IDS

PROPERTY = settings(max_examples=150, deadline=None, print_blob=True)

# A small alphabet of ids and small counters make the interesting relations (<=, ==) common.
SMALL_PIDS = st.sampled_from(["a", "b", "c", "d"])
SMALL_COUNTERS = st.integers(min_value=0, max_value=3)


def _valid_pid_char(ch: str) -> bool:
    return not ch.isspace() and ch not in '"\\'


# Printable ids: no white space, quote, backslash, control, format character or lone surrogate.
PRINTABLE_PIDS = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Z"), blacklist_characters='"\\'
    ),
    min_size=1,
    max_size=12,
).filter(lambda pid: all(_valid_pid_char(ch) for ch in pid) and pid not in JS_MEMBERS)

COUNTERS = st.one_of(
    st.integers(min_value=0, max_value=10),
    st.integers(min_value=0, max_value=MAX_COUNTER),
    st.just(MAX_COUNTER),
)

small_clocks = st.dictionaries(SMALL_PIDS, SMALL_COUNTERS, max_size=4).map(VectorClock)
clocks = st.dictionaries(PRINTABLE_PIDS, COUNTERS, max_size=8).map(VectorClock)


def _le_by_definition(a: VectorClock, b: VectorClock) -> bool:
    return all(a[pid] <= b[pid] for pid in set(a) | set(b))


# -- the partial order -------------------------------------------------------------------------


@PROPERTY
@given(small_clocks, small_clocks)
def test_le_agrees_with_the_entrywise_definition(a: VectorClock, b: VectorClock) -> None:
    assert (a <= b) == _le_by_definition(a, b)
    assert (a >= b) == _le_by_definition(b, a)


@PROPERTY
@given(clocks)
def test_le_is_reflexive(a: VectorClock) -> None:
    copy = VectorClock(a.to_dict())
    for other in (a, copy):
        assert operator.le(a, other)
        assert operator.ge(a, other)
        assert not operator.lt(a, other)
        assert a.compare(other) is Ordering.EQUAL


@PROPERTY
@given(small_clocks, small_clocks)
def test_le_is_antisymmetric(a: VectorClock, b: VectorClock) -> None:
    if a <= b <= a:
        assert a == b
        assert hash(a) == hash(b)


@PROPERTY
@given(small_clocks, small_clocks, small_clocks)
def test_le_is_transitive_on_arbitrary_triples(
    a: VectorClock, b: VectorClock, c: VectorClock
) -> None:
    if a <= b <= c:
        assert a <= c
    if a < b < c:
        assert a < c


@PROPERTY
@given(small_clocks, small_clocks, small_clocks)
def test_le_is_transitive_on_growing_chains(a: VectorClock, x: VectorClock, y: VectorClock) -> None:
    b = a.merge(x)
    c = b.merge(y)
    assert a <= b <= c
    assert a <= c


@PROPERTY
@given(small_clocks, small_clocks)
def test_exactly_one_of_before_after_equal_concurrent(a: VectorClock, b: VectorClock) -> None:
    verdicts = [a < b, a > b, a == b, a.concurrent_with(b)]
    assert verdicts.count(True) == 1, verdicts


@PROPERTY
@given(small_clocks, small_clocks)
def test_compare_is_consistent_with_the_operators(a: VectorClock, b: VectorClock) -> None:
    order = a.compare(b)
    assert (order is Ordering.BEFORE) == (a < b) == a.happens_before(b)
    assert (order is Ordering.AFTER) == (a > b) == b.happens_before(a)
    assert (order is Ordering.EQUAL) == (a == b)
    assert (a == b) != (a != b)
    assert (order is Ordering.CONCURRENT) == a.concurrent_with(b) == b.concurrent_with(a)
    assert (order in (Ordering.BEFORE, Ordering.EQUAL)) == (a <= b)
    assert (order in (Ordering.AFTER, Ordering.EQUAL)) == (a >= b)


@PROPERTY
@given(small_clocks, small_clocks)
def test_compare_is_mirrored_when_the_arguments_swap(a: VectorClock, b: VectorClock) -> None:
    mirror = {
        Ordering.BEFORE: Ordering.AFTER,
        Ordering.AFTER: Ordering.BEFORE,
        Ordering.EQUAL: Ordering.EQUAL,
        Ordering.CONCURRENT: Ordering.CONCURRENT,
    }
    assert b.compare(a) is mirror[a.compare(b)]


def test_concurrent_clocks_are_neither_before_nor_after() -> None:
    a, b = VectorClock({"a": 1}), VectorClock({"b": 1})
    assert a.concurrent_with(b)
    for verdict in (a < b, a > b, a <= b, a >= b):
        assert not verdict
    assert a != b


# -- merge --------------------------------------------------------------------------------------


@PROPERTY
@given(clocks, clocks)
def test_merge_is_commutative(a: VectorClock, b: VectorClock) -> None:
    assert a.merge(b) == b.merge(a)


@PROPERTY
@given(clocks, clocks, clocks)
def test_merge_is_associative(a: VectorClock, b: VectorClock, c: VectorClock) -> None:
    assert a.merge(b).merge(c) == a.merge(b.merge(c))


@PROPERTY
@given(clocks)
def test_merge_is_idempotent(a: VectorClock) -> None:
    assert a.merge(a) == a
    assert a.merge(VectorClock()) == a


@PROPERTY
@given(clocks, clocks)
def test_merge_is_the_entrywise_maximum(a: VectorClock, b: VectorClock) -> None:
    m = a.merge(b)
    for pid in set(a) | set(b) | set(m):
        assert m[pid] == max(a[pid], b[pid])


@PROPERTY
@given(small_clocks, small_clocks, small_clocks)
def test_merge_is_the_least_upper_bound(a: VectorClock, b: VectorClock, c: VectorClock) -> None:
    m = a.merge(b)
    assert a <= m
    assert b <= m
    upper = c.merge(a).merge(b)  # any clock above both a and b
    assert m <= upper
    if a <= c and b <= c:
        assert m <= c


@PROPERTY
@given(clocks, clocks)
def test_merge_and_tick_leave_their_operands_unchanged(a: VectorClock, b: VectorClock) -> None:
    before_a, before_b = a.to_dict(), b.to_dict()
    a.merge(b)
    b.merge(a)
    if a.get("x") < MAX_COUNTER:
        a.tick("x")
    assert a.to_dict() == before_a
    assert b.to_dict() == before_b


# -- tick -------------------------------------------------------------------------------------


@PROPERTY
@given(clocks, st.one_of(SMALL_PIDS, PRINTABLE_PIDS))
def test_tick_strictly_increases_only_its_own_entry(a: VectorClock, pid: str) -> None:
    if a[pid] == MAX_COUNTER:
        with pytest.raises(ClockError):
            a.tick(pid)
        return
    t = a.tick(pid)
    assert a < t
    assert a.happens_before(t)
    assert t[pid] == a[pid] + 1
    assert all(t[other] == a[other] for other in set(a) | set(t) if other != pid)


def test_tick_past_the_largest_counter_raises() -> None:
    with pytest.raises(ClockError, match="2\\*\\*64-1"):
        VectorClock({"a": MAX_COUNTER}).tick("a")
    assert VectorClock({"a": MAX_COUNTER - 1}).tick("a")["a"] == MAX_COUNTER


@pytest.mark.parametrize("pid", ["", "a b", "\t", '"', "a\\b", 7, None])
def test_tick_rejects_an_invalid_process_id(pid: Any) -> None:
    with pytest.raises(ClockError):
        VectorClock().tick(pid)


# -- zero entries -----------------------------------------------------------------------------


# -- the receive rule ----------------------------------------------------------------------------


def _received_by_definition(pid: str, clock: VectorClock, message: VectorClock) -> VectorClock:
    """GoVector's rule as written: own entry + 1, the entry-wise max for every other one."""
    entries = {other: max(clock[other], message[other]) for other in set(clock) | set(message)}
    entries[pid] = clock[pid] + 1
    return VectorClock(entries)


@PROPERTY
@given(small_clocks, st.lists(small_clocks, max_size=6))
def test_receive_all_applies_the_rule_message_by_message_and_never_merges_a_false_claim(
    start: VectorClock, messages: list[VectorClock]
) -> None:
    false_claims: list[tuple[int, int]] = []
    clocks, refusal = receive_all("a", start, messages, false_claims)
    assert refusal is None
    expected: list[VectorClock] = []
    claims: list[tuple[int, int]] = []
    current = start
    for i, message in enumerate(messages):
        if message["a"] > current["a"]:  # knows of events "a" has not had: a lie, not merged
            claims.append((i, message["a"]))
        current = _received_by_definition("a", current, message)
        expected.append(current)
    assert clocks == expected
    assert false_claims == claims


@PROPERTY
@given(small_clocks, small_clocks)
def test_receive_is_the_rule_for_one_message(start: VectorClock, message: VectorClock) -> None:
    assert start.receive("a", message) == _received_by_definition("a", start, message)


def test_a_claim_about_the_receiver_is_contained_and_reported() -> None:
    start = VectorClock({"b": 1})
    messages = [VectorClock({"a": 1}), VectorClock({"b": 2**64 - 1, "c": 3}), VectorClock({"a": 2})]
    claims: list[tuple[int, int]] = []
    clocks, refusal = receive_all("b", start, messages, claims)
    assert refusal is None
    assert clocks == [
        VectorClock({"a": 1, "b": 2}),
        VectorClock({"a": 1, "b": 3, "c": 3}),
        VectorClock({"a": 2, "b": 4, "c": 3}),
    ]
    assert claims == [(1, 2**64 - 1)]


def test_receive_past_the_largest_counter_is_refused() -> None:
    clocks, refusal = receive_all("b", VectorClock({"b": MAX_COUNTER}), [VectorClock({"a": 1})])
    assert (clocks, str(refusal)) == ([], "counter for 'b' would pass 2**64-1")


def test_missing_entries_count_as_zero() -> None:
    assert VectorClock({"a": 0}) == VectorClock()
    assert hash(VectorClock({"a": 0, "b": 0})) == hash(VectorClock())
    assert VectorClock({"a": 0, "b": 2}) == VectorClock({"b": 2})
    assert len(VectorClock({"a": 0})) == 0
    assert VectorClock({"a": 1})["zzz"] == 0
    assert VectorClock({"a": 1}).get("zzz") == 0
    assert VectorClock({"a": 0}).compare(VectorClock()) is Ordering.EQUAL
    assert VectorClock({"a": 0, "b": 1}).to_wire() == {"b": 1}
    assert VectorClock({"a": 0, "b": 1}).to_dict() == {"b": 1}


def test_clock_is_a_snapshot_of_the_mapping_it_was_built_from() -> None:
    source = {"a": 1}
    clock = VectorClock(source)
    source["a"] = 5
    clock.to_dict()["a"] = 9
    assert clock == VectorClock({"a": 1})


def test_to_wire_result_cannot_alter_the_clock() -> None:
    clock = VectorClock({"a": 1})
    wire_form = clock.to_wire()
    with contextlib.suppress(TypeError):
        wire_form["a"] = 99
    assert clock["a"] == 1


# -- text form (GoVector / ShiViz) --------------------------------------------------------------


def test_text_form_is_govector_with_sorted_keys() -> None:
    assert str(VectorClock({"b": 2, "a": 1})) == '{"a":1, "b":2}'
    assert str(VectorClock({"node-10": 3, "node-2": 1})) == '{"node-10":3, "node-2":1}'
    assert str(VectorClock({"a": MAX_COUNTER})) == '{"a":18446744073709551615}'


def test_text_form_of_the_empty_clock_is_braces() -> None:
    assert str(VectorClock()) == "{}"
    assert str(VectorClock({"a": 0})) == "{}"
    assert VectorClock.parse("{}") == VectorClock()


def test_repr_names_the_entries() -> None:
    assert repr(VectorClock({"b": 2, "a": 1})) == "VectorClock({'a': 1, 'b': 2})"


@PROPERTY
@given(clocks)
def test_parse_inverts_the_text_form(a: VectorClock) -> None:
    text = str(a)
    assert VectorClock.parse(text) == a
    keys = [pid for pid, _ in a.items()]
    assert keys == sorted(keys)


def test_ids_with_control_characters_are_refused_so_the_text_form_round_trips() -> None:
    with pytest.raises(ClockError):
        VectorClock({"a\x01": 1})


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a clock",
        "[1, 2]",
        '{"a":1.0}',
        '{"a":true}',
        '{"a":-1}',
        '{"a":"1"}',
        '{"a":18446744073709551616}',
        '{"":1}',
        '{"a b":1}',
        '{"a":1',
        "null",
    ],
)
def test_parse_rejects_text_that_is_not_a_clock(text: str) -> None:
    with pytest.raises(ClockError):
        VectorClock.parse(text)


def test_parse_rejects_deeply_nested_text_with_clock_error() -> None:
    with pytest.raises(ClockError):
        VectorClock.parse("[" * 100_000)


# -- wire form --------------------------------------------------------------------------------


@PROPERTY
@given(clocks)
def test_wire_form_round_trips(a: VectorClock) -> None:
    wire_form = a.to_wire()
    assert type(wire_form) is dict
    assert all(value > 0 for value in wire_form.values())
    assert VectorClock.from_wire(dict(wire_form)) == a


@pytest.mark.parametrize("value", [[("a", 1)], "a", 1, None, ()])
def test_from_wire_rejects_anything_but_a_map(value: Any) -> None:
    with pytest.raises(ClockError):
        VectorClock.from_wire(value)


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pid",
    ["", " ", "a b", " a", "a\t", "\n", "a\rb", "\u00a0", "\u2028", "\u3000", '"', 'a"b', "a\\b"],
)
def test_rejects_ids_that_are_empty_or_hold_white_space_quote_or_backslash(pid: str) -> None:
    with pytest.raises(ClockError):
        VectorClock({pid: 1})
    with pytest.raises(ClockError):
        check_pid(pid)


@pytest.mark.parametrize("pid", ["a\ufeff", "\ufeffa", "a\u200bb", "x\u2060"])
def test_rejects_ids_with_invisible_characters(pid: str) -> None:
    with pytest.raises(ClockError, match="invisible"):
        check_pid(pid)


@pytest.mark.parametrize("pid", sorted(JS_MEMBERS))
def test_rejects_ids_shiviz_cannot_show_as_hosts(pid: str) -> None:
    with pytest.raises(ClockError, match="ShiViz"):
        check_pid(pid)
    with pytest.raises(ClockError):
        VectorClock({pid: 1})


def test_a_clock_is_a_read_only_mapping() -> None:
    clock = VectorClock({"b": 2, "a": 1})
    assert isinstance(clock, Mapping)
    assert dict(clock) == {"a": 1, "b": 2}
    assert clock.keys() == {"a", "b"}
    assert sorted(clock.values()) == [1, 2]
    assert clock.keys() & VectorClock({"b": 1}).keys() == {"b"}
    assert "a" in clock
    assert "z" not in clock
    assert clock["z"] == 0
    assert not hasattr(clock, "__setitem__")


@pytest.mark.parametrize("pid", [1, 1.5, b"a", None, ("a",), True])
def test_rejects_ids_that_are_not_str(pid: Any) -> None:
    with pytest.raises(ClockError, match="str"):
        VectorClock({pid: 1})


@pytest.mark.parametrize("value", [-1, -(2**64), 2**64, 2**64 + 1, 2**100])
def test_rejects_counters_outside_uint64(value: int) -> None:
    with pytest.raises(ClockError, match="outside"):
        VectorClock({"a": value})


@pytest.mark.parametrize("value", [True, False, 1.0, 0.0, "1", None, Fraction(1), [1]])
def test_rejects_counters_that_are_not_int(value: Any) -> None:
    with pytest.raises(ClockError, match="int"):
        VectorClock({"a": value})


@pytest.mark.parametrize("value", [[("a", 1)], "a", 1, {("a", 1)}, object()])
def test_rejects_input_that_is_not_a_mapping(value: Any) -> None:
    with pytest.raises(ClockError, match="mapping"):
        VectorClock(value)


def test_accepts_any_mapping_and_the_extreme_counters() -> None:
    class Frozen(Mapping[str, int]):
        def __init__(self, data: dict[str, int]) -> None:
            self._data = data

        def __getitem__(self, key: str) -> int:
            return self._data[key]

        def __iter__(self) -> Any:
            return iter(self._data)

        def __len__(self) -> int:
            return len(self._data)

    clock = VectorClock(Frozen({"a": MAX_COUNTER, "b": 0, "c": 1}))
    assert clock.to_dict() == {"a": MAX_COUNTER, "c": 1}


def test_clock_error_is_a_value_error_and_a_netclock_error() -> None:
    with pytest.raises(ValueError, match="process id") as info:
        VectorClock({"": 1})
    assert isinstance(info.value, NetclockError)
    assert isinstance(info.value, ClockError)


def test_ordering_against_a_non_clock_raises_type_error() -> None:
    with pytest.raises(TypeError):
        _ = VectorClock() < 1  # type: ignore[operator]


def test_equality_with_a_non_clock_is_false() -> None:
    assert VectorClock() != {}
    assert VectorClock({"a": 1}) != {"a": 1}


# -- the course example -------------------------------------------------------------------------


def test_course_example_client_server_round_trip() -> None:
    # Each process starts with its initial event.
    client = VectorClock().tick("C")
    server = VectorClock().tick("S")
    assert client == VectorClock({"C": 1})
    assert server == VectorClock({"S": 1})
    assert client.concurrent_with(server)

    # The client sends: tick, and the message carries the new clock.
    client = client.tick("C")
    request = client
    assert request == VectorClock({"C": 2})

    # The server receives: own entry + 1, then the entry-wise max (order does not matter here).
    server_before = server
    server = server.tick("S").merge(request)
    assert server == VectorClock({"C": 2, "S": 2})
    assert server == server_before.merge(request).tick("S")
    assert request.happens_before(server)
    assert server_before.happens_before(server)

    # The server replies; the client receives.
    server = server.tick("S")
    reply = server
    assert reply == VectorClock({"C": 2, "S": 3})
    client = client.tick("C").merge(reply)
    assert client == VectorClock({"C": 3, "S": 3})
    assert str(client) == '{"C":3, "S":3}'

    # Happened-before follows the message chain; a local event on the server after the
    # reply is concurrent with the client's receive.
    assert request < reply < client
    server_local = server.tick("S")
    assert server_local == VectorClock({"C": 2, "S": 4})
    assert server_local.concurrent_with(client)


# -- one validator for every clock from outside -----------------------------------------------

BAD_CLOCKS = [
    ("a", None, "a clock is a mapping of process id to counter, not str"),
    ([["a", 1]], None, "a clock is a mapping of process id to counter, not list"),
    ({1: 1}, None, "process id must be a str, not int"),
    (
        {"a b": 1},
        None,
        "process id 'a b' must be 1 to 255 characters, with no white space, control character, "
        "quote, backslash or invisible character",
    ),
    ({"a": 1.0}, None, "counter for 'a' must be an int, not float"),
    ({"a": True}, None, "counter for 'a' must be an int, not bool"),
    ({"a": 1, "b": -1}, None, "counter for 'b' is -1, outside 0..2**64-1"),
    ({"a": 1, "b": 1, "c": 1}, 2, "clock has 3 entries, more than the limit of 2"),
]


@pytest.mark.parametrize(("value", "max_entries", "message"), BAD_CLOCKS, ids=repr)
def test_every_clock_reader_refuses_with_the_validators_message(
    value: Any, max_entries: int | None, message: str
) -> None:
    """The Node's clocks, the envelope and the GoVector codec give one sentence per fault."""
    with pytest.raises(ClockError) as info:
        check_clock_entries(value, max_entries)
    assert str(info.value) == message
    with pytest.raises(ClockError) as info:
        VectorClock.from_wire(value, max_entries)
    assert str(info.value) == message
    limits = Limits() if max_entries is None else Limits(max_clock_entries=max_entries)
    data = msgpack.packb([1, 1, "a", 7, "b", 1, value, None], use_bin_type=True)
    with pytest.raises(WireError) as wire_info:
        decode(data, limits)
    assert str(wire_info.value) == f"bad clock: {message}"
    govector = b"".join(msgpack.packb(v, use_bin_type=True) for v in ("a", None, value))
    with pytest.raises(WireError) as wire_info:
        decode_message(govector, limits)
    assert str(wire_info.value) == f"bad clock: {message}"


def test_counter_above_uint64_is_refused_with_its_value() -> None:
    with pytest.raises(ClockError, match=r"^counter for 'a' is 18446744073709551616, outside"):
        check_clock_entries({"a": 2**64})


def test_validator_returns_the_dict_itself_when_it_has_no_zero_counter() -> None:
    entries = {"a": 1, "b": MAX_COUNTER}
    assert check_clock_entries(entries) is entries
    with_zero = {"a": 1, "b": 0}
    assert check_clock_entries(with_zero) == {"a": 1}
    assert with_zero == {"a": 1, "b": 0}
    assert check_clock_entries({}, max_entries=0) == {}


def test_clocks_from_the_validator_never_share_the_callers_dict() -> None:
    entries = {"a": 1}
    for clock in (VectorClock(entries), VectorClock.from_wire(entries)):
        entries["a"] = 5
        assert clock["a"] == 1
        entries["a"] = 1


@PROPERTY
@given(st.lists(small_clocks, max_size=8), st.sets(st.sampled_from("abcdz"), max_size=5))
def test_a_scope_admits_a_batch_exactly_when_it_admits_each_clock(
    clocks: list[VectorClock], members: set[str]
) -> None:
    for most in (1, 2, 5):
        scope = ClockScope(set(members), most)
        each = all(scope.admits(clock) for clock in clocks)
        assert scope.admits_all(clocks) == each
        assert all((scope.violation(c) is None) == scope.admits(c) for c in clocks)
