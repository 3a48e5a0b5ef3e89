"""Link options: one typed object per link kind; a wrong option is one clear ConfigError."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from typing import Any

import pytest

from netclock import (
    ConfigError,
    FairLossOptions,
    Node,
    PerfectLinkOptions,
    StubbornOptions,
    TlsOptions,
    UsageError,
)
from netclock.links.options import OPTIONS, link_options

pytestmark = pytest.mark.timeout(30)


def test_an_option_the_link_kind_does_not_have_names_itself_and_what_is_allowed() -> None:
    with pytest.raises(ConfigError) as info:
        Node("a", link="fairloss", link_options={"period": 0.1})
    assert str(info.value) == "'period' is not an option of the fairloss link; it takes none"
    with pytest.raises(ConfigError, match="'ack_delay' is not an option of the stubborn link; "):
        Node("a", link="stubborn", link_options={"ack_delay": 0.1})
    with pytest.raises(ConfigError, match=r"it takes send_window, ack_delay, .*rto_max$"):
        Node("a", link="reliable", link_options={"period": 0.1})


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("stubborn", {"period": "fast"}, "option 'period' of the stubborn link must be a finite"),
        ("reliable", {"ack_delay": float("nan")}, "'ack_delay' of the reliable link must be a fin"),
        ("reliable", {"rto_max": float("inf")}, "'rto_max' of the reliable link must be a finite"),
        ("tls", {"backoff": (0.1, float("inf"))}, "'backoff' of the tls link must be a pair"),
        ("stubborn", {"remember": 1.5}, "'remember' of the stubborn link must be an integer"),
        ("reliable", {"send_window": True}, "'send_window' of the reliable link must be an int"),
        ("reliable", {"max_datagram": "big"}, "must be an integer or None, not 'big'"),
        ("tls", {"backoff": [1]}, "'backoff' of the tls link must be a pair of finite numbers"),
    ],
)
def test_a_value_of_the_wrong_type_is_one_config_error(
    kind: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        link_options(kind, options)


def test_a_mapping_becomes_the_typed_options_object() -> None:
    assert link_options("stubborn", {"period": 1, "remember": 5}) == StubbornOptions(1.0, 5)
    assert link_options("tls", {"backoff": [0.01, 1]}).backoff == (0.01, 1.0)  # type: ignore[union-attr]
    assert link_options("reliable", {"max_datagram": None}) == PerfectLinkOptions()
    assert link_options("fairloss", None) == FairLossOptions()


def test_an_options_object_of_another_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match="reliable link must be PerfectLinkOptions or a mapping"):
        Node("a", link="reliable", link_options=StubbornOptions())


def test_an_unknown_link_kind_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="link 'carrier-pigeon' is not one of fairloss, stubborn"):
        Node("a", link="carrier-pigeon")


def test_options_are_frozen() -> None:
    options = PerfectLinkOptions()
    with pytest.raises(FrozenInstanceError):
        options.send_window = 3  # type: ignore[misc]


def test_an_out_of_range_value_fails_when_the_node_is_made() -> None:
    with pytest.raises(ConfigError, match="send_window must be at least 1"):
        Node("a", link="reliable", link_options={"send_window": 0})
    with pytest.raises(ConfigError, match="rto_min"):
        Node("a", link="reliable", link_options=PerfectLinkOptions(rto_min=2.0, rto_max=1.0))


def test_the_udp_perfect_link_takes_the_session_options_the_tls_link_takes() -> None:
    shared = {f.name for f in fields(TlsOptions)} & {f.name for f in fields(PerfectLinkOptions)}
    assert shared >= {"send_window", "ack_delay", "unreachable_after"}
    options = PerfectLinkOptions(
        send_window=8, ack_delay=0.01, unreachable_after=0.5, rto_initial=0.2, rto_min=0.1
    )
    node = Node("a", link="reliable", link_options=options, peers={"b": "127.0.0.1:9"})
    session = node.link.sessions["b"]  # type: ignore[attr-defined]
    assert (session.send_window, session.ack_delay, session.unreachable_after) == (8, 0.01, 0.5)
    assert (session.rtt.rto, session.rtt.minimum) == (0.2, 0.1)


def test_the_stubborn_options_reach_the_stubborn_link() -> None:
    node = Node("a", link="stubborn", link_options={"period": 0.05, "remember": 7})
    link: Any = node.link
    assert link.period == 0.05
    assert link._sent.maxlen == 7


@pytest.mark.parametrize("kind", ["fairloss", "stubborn", "reliable"])
def test_every_option_of_a_udp_link_kind_is_accepted_by_name(kind: str) -> None:
    defaults = OPTIONS[kind]()
    as_mapping = {f.name: getattr(defaults, f.name) for f in fields(defaults)}
    assert link_options(kind, as_mapping) == defaults
    Node("a", link=kind, link_options=as_mapping)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"period": 0}, "period must be a positive number of seconds, not 0.0"),
        ({"period": -1}, "period must be a positive number of seconds, not -1.0"),
        ({"remember": 0}, "remember must be at least 1 message, not 0"),
    ],
)
def test_a_stubborn_link_that_would_resend_without_pause_is_refused(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Node("a", link="stubborn", link_options=options)
