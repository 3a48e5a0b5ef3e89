"""Majority voting over replicas' answers: the trusted voter of triple modular redundancy.

A sans-IO core (no asyncio, no sockets, explicit ``now``). A :class:`Ballot` collects the
answers to one request from ``n`` named replicas and decides a value once ``n // 2 + 1``
*distinct* replicas gave it; a :class:`Voter` keeps one ballot per open request under one
timeout. With ``n = 2f + 1`` replicas of which at most ``f`` lie, the decided value is
always the honest one.

What the voter guarantees, whatever the replicas send:

* **A replica counts once.** Its first answer to a request is its vote; anything it sends
  later for the same request never adds a vote (a different later answer marks it as
  having contradicted itself: it is listed in ``disagreed``).
* **Identity comes from the caller.** ``answer(replica, ...)`` takes the replica's id from
  the link's *authenticated* sender (a TLS link's certificate), never from the payload: a
  voter fed from an unauthenticated link (UDP) counts whoever a forged envelope claims to be.
* **No majority, no decision.** When no value can reach a majority any more, or the timeout
  passes first, the result is :class:`NoMajority`, never a guess.
* **Colluding liars win.** The voter cannot tell: when a majority of replicas agree on a
  wrong value it decides that value and lists the honest ones in ``disagreed``.

Answers from ids that are not replicas are ignored and counted in ``Ballot.strangers``.
Values are compared with ``==`` (msgpack payloads such as lists need not be hashable).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from netclock.errors import UsageError

__all__ = ["Ballot", "Decided", "NoMajority", "Outcome", "Voter", "majority"]


def majority(n: int) -> int:
    """How many of ``n`` replicas make a majority: ``n // 2 + 1``."""
    return n // 2 + 1


@dataclass(frozen=True, slots=True)
class Decided:
    """A value given by a majority of distinct replicas.

    ``votes`` are the replicas that gave ``value`` (as their first answer); ``disagreed``
    maps each replica that answered something else (or contradicted itself) to its first
    answer; ``silent`` are the replicas that had not answered when the ballot closed.
    """

    request: Any
    value: Any
    votes: tuple[str, ...]
    disagreed: Mapping[str, Any] = field(default_factory=dict)
    silent: tuple[str, ...] = ()

    @property
    def decided(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"request {self.request!r}: {self.value!r} by {', '.join(self.votes)}" + _blame(
            self.disagreed, self.silent
        )


@dataclass(frozen=True, slots=True)
class NoMajority:
    """No value had a majority when the ballot closed; ``reason`` says why in one sentence.

    ``answers`` maps each replica that answered to its first answer.
    """

    request: Any
    reason: str
    answers: Mapping[str, Any] = field(default_factory=dict)
    silent: tuple[str, ...] = ()

    @property
    def decided(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"request {self.request!r}: no majority ({self.reason})"


Outcome = Decided | NoMajority


def _blame(disagreed: Mapping[str, Any], silent: tuple[str, ...]) -> str:
    parts = [f"{r} said {v!r}" for r, v in disagreed.items()]
    parts += [f"{r} was silent" for r in silent]
    return f"; {'; '.join(parts)}" if parts else ""


class Ballot:
    """The answers to one request from a fixed set of replicas (see the module docstring).

    Feed it with :meth:`answer`; it decides as soon as a value has a majority
    (:attr:`decision`). It *closes* when every replica has answered, when no value can reach
    a majority any more, or at ``deadline`` (call :meth:`on_timer`); :attr:`outcome` is then
    final and names who disagreed and who stayed silent.
    """

    __slots__ = (
        "_contradicted",
        "_first",
        "_values",
        "_winners",
        "deadline",
        "decision",
        "outcome",
        "replicas",
        "request",
        "strangers",
    )

    def __init__(self, request: Any, replicas: Iterable[str], deadline: float) -> None:
        self.request = request
        self.replicas: tuple[str, ...] = tuple(dict.fromkeys(replicas))
        if not self.replicas:
            raise UsageError("a ballot needs at least one replica")
        self.deadline = deadline
        self._first: dict[str, Any] = {}
        """Each replica's first answer: its one vote."""
        self._values: list[tuple[Any, list[str]]] = []
        """Distinct values in order of arrival, each with the replicas that voted for it."""
        self._contradicted: set[str] = set()
        self._winners: list[str] = []
        """The replicas that voted for the decided value (it grows until the close)."""
        self.strangers = 0
        """Answers from ids that are not replicas of this ballot."""
        self.decision: Decided | None = None
        """The majority value as soon as it has one (who disagreed is final only at close)."""
        self.outcome: Outcome | None = None
        """The final result, once the ballot is closed."""

    @property
    def closed(self) -> bool:
        return self.outcome is not None

    def answer(self, replica: str, value: Any, now: float) -> Decided | None:
        """``replica`` (an authenticated id) answered ``value``; returns the decision when
        this answer makes it, else None. Answers after the close change nothing."""
        if self.outcome is not None:
            return None
        if now >= self.deadline:
            self._close()
            return None
        if replica not in self.replicas:
            self.strangers += 1
            return None
        if replica in self._first:
            if value != self._first[replica]:
                self._contradicted.add(replica)
            return None
        self._first[replica] = value
        for known, voters in self._values:
            if known == value:
                voters.append(replica)
                break
        else:
            voters = [replica]
            self._values.append((value, voters))
        made = None
        if self.decision is None and len(voters) >= majority(len(self.replicas)):
            self._winners = voters
            self.decision = made = Decided(self.request, value, tuple(voters))
        if len(self._first) == len(self.replicas) or self._hopeless():
            self._close()
        return made

    def on_timer(self, now: float) -> Outcome | None:
        """Close the ballot if ``now`` is past its deadline; the outcome if it closed now."""
        if self.outcome is None and now >= self.deadline:
            return self._close()
        return None

    def _hopeless(self) -> bool:
        """No value can reach a majority with the replicas still to answer."""
        if self.decision is not None:
            return False
        missing = len(self.replicas) - len(self._first)
        best = max((len(v) for _, v in self._values), default=0)
        return best + missing < majority(len(self.replicas))

    def _close(self) -> Outcome:
        silent = tuple(r for r in self.replicas if r not in self._first)
        decision = self.decision
        if decision is not None:
            votes = tuple(self._winners)
            honest = set(votes) - self._contradicted
            disagreed = {r: v for r, v in self._first.items() if r not in honest}
            self.outcome = Decided(self.request, decision.value, votes, disagreed, silent)
        else:
            if (self._first and len(self._first) == len(self.replicas)) or self._hopeless():
                reason = "the answers split, no value can reach a majority"
            else:
                reason = "timed out before a majority formed"
            need = majority(len(self.replicas))
            self.outcome = NoMajority(
                self.request,
                f"{reason} ({need} of {len(self.replicas)} needed)",
                dict(self._first),
                silent,
            )
        return self.outcome


class Voter:
    """Ballots for many requests to the same replicas, each closing ``timeout`` s after it opens.

    :meth:`open` a request before (or when) asking the replicas; feed every answer to
    :meth:`answer` with the link's authenticated sender; call :meth:`on_timer` at
    :meth:`next_deadline`. Each closed ballot's outcome is returned exactly once, by
    :meth:`answer` or :meth:`on_timer`. Answers to a request that is not open (never opened,
    or already closed: a replay of an old answer; or not even hashable) are ignored and
    counted in :attr:`unexpected`.
    """

    def __init__(self, replicas: Iterable[str], timeout: float) -> None:
        self.replicas = tuple(dict.fromkeys(replicas))
        if not self.replicas:
            raise UsageError("a voter needs at least one replica")
        if not timeout > 0:
            raise UsageError(f"the voting timeout must be positive, not {timeout!r}")
        self.timeout = timeout
        self._open: dict[Any, Ballot] = {}
        self.unexpected = 0
        """Answers to requests that were not open."""

    def open(self, request: Any, now: float) -> Ballot:
        """Start the ballot of ``request`` (a hashable id); raises UsageError if it is open."""
        if request in self._open:
            raise UsageError(f"request {request!r} is already open")
        ballot = self._open[request] = Ballot(request, self.replicas, now + self.timeout)
        return ballot

    def answer(self, replica: str, request: Any, value: Any, now: float) -> list[Outcome]:
        """One answer; returns the outcomes of the ballots that closed (expired ones too)."""
        closed = self.on_timer(now)
        try:
            ballot = self._open.get(request)
        except TypeError:  # an unhashable request id (a list from a liar) is no open request
            ballot = None
        if ballot is None:
            self.unexpected += 1
            return closed
        ballot.answer(replica, value, now)
        if ballot.outcome is not None:
            del self._open[request]
            closed.append(ballot.outcome)
        return closed

    def on_timer(self, now: float) -> list[Outcome]:
        """Close every ballot whose deadline has passed; returns their outcomes."""
        out: list[Outcome] = []
        for request in [r for r, b in self._open.items() if b.deadline <= now]:
            outcome = self._open.pop(request).on_timer(now)
            assert outcome is not None
            out.append(outcome)
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` must next be called (None: no ballot is open)."""
        return min((b.deadline for b in self._open.values()), default=None)

    @property
    def pending(self) -> int:
        """How many ballots are open."""
        return len(self._open)
