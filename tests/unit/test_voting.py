"""The voter (netclock.voting): a majority of distinct replicas, never a replica twice."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock.errors import UsageError
from netclock.voting import Ballot, Decided, NoMajority, Voter, majority

RIGHT = "right"


def _replicas(n: int) -> list[str]:
    return [f"r{i}" for i in range(n)]


def test_majority_of_three_is_two_and_of_five_is_three() -> None:
    assert (majority(1), majority(3), majority(4), majority(5)) == (1, 2, 3, 3)


def test_two_of_three_decide_and_the_third_is_named() -> None:
    ballot = Ballot(7, ["a", "b", "c"], deadline=10.0)
    assert ballot.answer("a", 42, 0.0) is None
    decided = ballot.answer("b", 42, 0.1)
    assert decided is not None
    assert decided.value == 42
    assert decided.votes == ("a", "b")
    assert not ballot.closed
    ballot.answer("c", 41, 0.2)
    assert ballot.outcome == Decided(7, 42, ("a", "b"), {"c": 41}, ())
    assert "c said 41" in str(ballot.outcome)


def test_a_replica_that_repeats_itself_is_counted_once() -> None:
    ballot = Ballot(1, ["a", "b", "c"], deadline=10.0)
    for _ in range(5):
        assert ballot.answer("a", 99, 0.0) is None
    assert ballot.decision is None
    assert ballot.on_timer(10.0) == NoMajority(
        1, ballot.outcome.reason if ballot.outcome else "", {"a": 99}, ("b", "c")
    )


def test_a_replica_that_contradicts_itself_is_listed_as_disagreeing() -> None:
    ballot = Ballot(1, ["a", "b", "c"], deadline=10.0)
    ballot.answer("a", 1, 0.0)
    ballot.answer("a", 2, 0.0)
    ballot.answer("b", 1, 0.0)
    ballot.answer("c", 1, 0.0)
    assert isinstance(ballot.outcome, Decided)
    assert ballot.outcome.votes == ("a", "b", "c")
    assert ballot.outcome.disagreed == {"a": 1}


def test_strangers_are_ignored_and_counted() -> None:
    ballot = Ballot(1, ["a", "b", "c"], deadline=10.0)
    ballot.answer("mallory", 5, 0.0)
    ballot.answer("eve", 5, 0.0)
    assert ballot.decision is None
    assert ballot.strangers == 2


def test_a_split_closes_with_no_majority_before_the_deadline() -> None:
    ballot = Ballot("q", ["a", "b", "c"], deadline=10.0)
    ballot.answer("a", 1, 0.0)
    ballot.answer("b", 2, 0.0)
    ballot.answer("c", 3, 0.0)
    assert isinstance(ballot.outcome, NoMajority)
    assert "split" in ballot.outcome.reason
    assert "2 of 3 needed" in ballot.outcome.reason


def test_silence_times_out_with_no_majority_and_names_the_silent() -> None:
    ballot = Ballot("q", ["a", "b", "c"], deadline=1.0)
    ballot.answer("a", 1, 0.0)
    assert ballot.on_timer(0.5) is None
    outcome = ballot.on_timer(1.0)
    assert isinstance(outcome, NoMajority)
    assert outcome.silent == ("b", "c")
    assert "timed out" in outcome.reason
    assert ballot.answer("b", 1, 1.1) is None
    assert ballot.outcome is outcome


def test_an_answer_after_the_deadline_does_not_count() -> None:
    ballot = Ballot("q", ["a", "b", "c"], deadline=1.0)
    ballot.answer("a", 1, 0.0)
    assert ballot.answer("b", 1, 1.0) is None
    assert isinstance(ballot.outcome, NoMajority)


def test_unhashable_values_are_compared_by_equality() -> None:
    ballot = Ballot("q", ["a", "b", "c"], deadline=1.0)
    ballot.answer("a", [1, {"x": 2}], 0.0)
    assert ballot.answer("b", [1, {"x": 2}], 0.0) is not None


def test_voter_replays_of_closed_requests_are_unexpected() -> None:
    voter = Voter(["a", "b", "c"], timeout=1.0)
    voter.open(1, 0.0)
    voter.answer("a", 1, "x", 0.0)
    assert voter.answer("b", 1, "x", 0.0) == []  # decided, c still due
    (outcome,) = voter.answer("c", 1, "x", 0.1)
    assert isinstance(outcome, Decided)
    assert voter.pending == 0
    assert voter.answer("c", 1, "y", 0.2) == []
    assert voter.unexpected == 1


def test_voter_ignores_request_ids_a_liar_made_unhashable() -> None:
    voter = Voter(["a", "b", "c"], timeout=1.0)
    voter.open(1, 0.0)
    assert voter.answer("c", [1], "x", 0.0) == []
    assert voter.answer("c", {"req": 1}, "x", 0.0) == []
    assert voter.unexpected == 2
    assert voter.pending == 1


def test_voter_times_out_ballots_in_deadline_order() -> None:
    voter = Voter(["a", "b", "c"], timeout=1.0)
    voter.open(1, 0.0)
    voter.open(2, 0.5)
    assert voter.next_deadline() == 1.0
    assert [o.request for o in voter.on_timer(1.0)] == [1]
    assert voter.next_deadline() == 1.5
    with pytest.raises(UsageError, match="already open"):
        voter.open(2, 1.0)


def test_voter_rejects_nonsense_configuration() -> None:
    with pytest.raises(UsageError, match="positive"):
        Voter(["a"], timeout=0)
    with pytest.raises(UsageError, match="at least one replica"):
        Voter([], timeout=1)


# -- properties -------------------------------------------------------------------------------
_values = st.one_of(st.integers(-3, 3), st.sampled_from([RIGHT, "wrong", "other"]))


@st.composite
def _answers(draw: st.DrawFn, n: int) -> list[tuple[str, Any]]:
    """Arbitrary answers (repeats, strangers, contradictions) to one ballot of ``n``."""
    ids = [*_replicas(n), "stranger"]
    return draw(st.lists(st.tuples(st.sampled_from(ids), _values), max_size=4 * n))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3).flatmap(lambda f: st.tuples(st.just(2 * f + 1), _answers(2 * f + 1))))
def test_never_counts_a_replica_twice(case: tuple[int, list[tuple[str, Any]]]) -> None:
    n, answers = case
    ballot = Ballot(0, _replicas(n), deadline=100.0)
    for replica, value in answers:
        ballot.answer(replica, value, 0.0)
    ballot.on_timer(100.0)
    outcome = ballot.outcome
    assert outcome is not None
    if isinstance(outcome, Decided):
        assert len(set(outcome.votes)) == len(outcome.votes) >= majority(n)
        assert set(outcome.votes) <= set(_replicas(n))
        firsts: dict[str, Any] = {}
        for replica, value in answers:
            firsts.setdefault(replica, value)
        assert all(firsts[r] == outcome.value for r in outcome.votes)


@st.composite
def _honest_and_liars(draw: st.DrawFn) -> tuple[int, set[str], list[tuple[str, Any]]]:
    """``2f+1`` replicas, at most ``f`` liars answering anything any number of times, every
    honest replica answering RIGHT once, all in an arbitrary order."""
    f = draw(st.integers(1, 3))
    n = 2 * f + 1
    replicas = _replicas(n)
    liars = set(draw(st.lists(st.sampled_from(replicas), max_size=f, unique=True)))
    answers = [(r, RIGHT) for r in replicas if r not in liars]
    for liar in liars:
        answers += [(liar, v) for v in draw(st.lists(_values, max_size=3))]
    return n, liars, draw(st.permutations(answers))


@settings(max_examples=80, deadline=None)
@given(_honest_and_liars())
def test_decides_the_right_value_whenever_at_most_f_of_2f_plus_1_lie(
    case: tuple[int, set[str], list[tuple[str, Any]]],
) -> None:
    n, liars, answers = case
    ballot = Ballot(0, _replicas(n), deadline=100.0)
    for replica, value in answers:
        ballot.answer(replica, value, 0.0)
    ballot.on_timer(100.0)
    assert isinstance(ballot.outcome, Decided), ballot.outcome
    assert ballot.outcome.value == RIGHT
    honest = set(_replicas(n)) - liars
    assert honest <= set(ballot.outcome.votes)
    assert set(ballot.outcome.disagreed) <= liars


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.data())
def test_no_decision_never_a_wrong_one_when_more_than_f_lie_and_disagree(
    f: int, data: st.DataObject
) -> None:
    n = 2 * f + 1
    replicas = _replicas(n)
    k = data.draw(st.integers(f + 1, n), label="liars")
    liars = replicas[:k]
    answers = [(r, RIGHT) for r in replicas[k:]]
    answers += [(liar, f"lie-{i}") for i, liar in enumerate(liars)]  # pairwise different
    ballot = Ballot(0, replicas, deadline=100.0)
    for replica, value in data.draw(st.permutations(answers), label="order"):
        ballot.answer(replica, value, 0.0)
    ballot.on_timer(100.0)
    assert isinstance(ballot.outcome, NoMajority), ballot.outcome
    assert set(ballot.outcome.answers) <= set(replicas)  # it may close once hopeless


@settings(max_examples=30, deadline=None)
@given(st.permutations([("r0", RIGHT), ("r1", "wrong"), ("r2", "wrong")]))
def test_two_colluding_liars_of_three_win_and_the_honest_replica_is_reported(
    answers: list[tuple[str, Any]],
) -> None:
    """The voter cannot tell: two liars agreeing on one wrong value *are* the majority.
    It decides their value and reports the one honest replica as the one that disagreed."""
    ballot = Ballot(0, _replicas(3), deadline=100.0)
    for replica, value in answers:
        ballot.answer(replica, value, 0.0)
    assert ballot.outcome == Decided(0, "wrong", ballot.outcome.votes, {"r0": RIGHT}, ())
    assert set(ballot.outcome.votes) == {"r1", "r2"}
