"""Each adversary behaviour against each link kind, on real sockets on 127.0.0.1.

Honest ``a`` sends to honest ``c``; ``m`` is a cluster member that lies (a normal Node plus
the toolkit). What each link promises must hold for the honest pair; what it does not
promise is shown happening. The refusals are counted and logged with the attack's name.

Impersonation: fairloss delivers it as from a; reliable delivers it too and then drops a's own
traffic as coming from an old incarnation; tls refuses it ("hello claims to be"). Replay of a
datagram captured on lo: fairloss delivers it again, reliable drops it as a duplicate; replayed
TLS bytes fail the handshake. Malformed envelopes: counted and dropped (tls: bad frame, the
connection closed). A clock claiming more of c: delivered, the claim never merged (c alone
knows c's events), so a lie about c spread by others never cuts c off. A clock naming a
stranger or holding too many entries: refused (before the ack on reliable and tls, the sender
told). A clock that jumps or goes back: delivered (not detectable). Wrong values,
equivocation, silence and reordering: delivered as sent on every link (the voter's business,
not the link's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from netclock import Node
from netclock.adversary import (
    FORGED_INCARNATION,
    MALFORMED,
    Equivocation,
    Forger,
    LoopbackCapture,
    RawTls,
    Shuffle,
    Silence,
    backwards,
    capture_unavailable,
    claims_more_of,
    frames,
    hello_envelope,
    jumped,
    segment_envelope,
    spoofing_unavailable,
    wrong_value,
)
from netclock.clock import VectorClock
from netclock.links.tls import certs
from netclock.wire.envelope import decode

pytestmark = pytest.mark.timeout(30)

STEP = 5.0
"""Longest any single network step may take before the test fails."""
UDP_KINDS = ("fairloss", "stubborn", "reliable")
ALL_KINDS = (*UDP_KINDS, "tls")
"""fairloss and stubborn carry DATA envelopes, reliable and tls segments."""


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("adversary") / "certs"
    certs.init_cluster(directory, ["a", "c", "m"], cluster="lab")
    return directory


class LogWatch(logging.Handler):
    """Collects every ``netclock`` record (debug included); a test awaits the lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._changed = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self._changed.set()

    def having(self, text: str) -> list[str]:
        return [line for line in self.lines if text in line]

    async def wait_for(self, text: str, count: int = 1) -> list[str]:
        """The lines containing ``text`` once there are ``count`` of them (STEP s at most)."""
        async with asyncio.timeout(STEP):
            while len(found := self.having(text)) < count:
                self._changed.clear()
                await self._changed.wait()
        return found


@pytest.fixture
def watch(capture_logs: Callable[[LogWatch, str], LogWatch]) -> LogWatch:
    return capture_logs(LogWatch(), "netclock")


@contextlib.asynccontextmanager
async def cluster(kind: str, cert_dir: Path) -> AsyncIterator[tuple[Node, Node, Node]]:
    """Started nodes a, c, m on ``kind`` links, each knowing the others."""
    options: dict[str, Any] = {"cert_dir": cert_dir} if kind == "tls" else {}
    async with contextlib.AsyncExitStack() as stack:
        started = [
            await stack.enter_async_context(
                Node(i, link=kind, close_timeout=1.0, inbox_size=256, **options)
            )
            for i in ("a", "c", "m")
        ]
        for node in started:
            for other in started:
                if other is not node:
                    node.add_peer(other.id, other.address)
        a, c, m = started
        yield a, c, m


async def honest(a: Node, c: Node, texts: list[str]) -> None:
    """``a`` sends ``texts``; ``c`` delivers each exactly once, in order, from ``a``."""
    for text in texts:
        await a.send(c.id, text)
    got = [await c.receive(STEP) for _ in texts]
    assert [(d.sender, d.payload) for d in got] == [(a.id, t) for t in texts]


def link_stats(node: Node) -> dict[str, Any]:
    stats = node.stats()["link"]
    assert isinstance(stats, dict)
    return stats


def session_stat(node: Node, name: str) -> int:
    """A counter summed over the link's sessions (``stats()['link']``'s flat form or per peer)."""
    stats = link_stats(node)
    if name in stats and isinstance(stats[name], int):
        return stats[name]
    total = 0
    for value in stats.values():
        if isinstance(value, dict) and isinstance(value.get(name), int):
            total += value[name]
    return total


# -- impersonation ------------------------------------------------------------------------------
needs_spoofing = pytest.mark.skipif(
    spoofing_unavailable() is not None, reason=spoofing_unavailable() or ""
)


@pytest.mark.parametrize("kind", UDP_KINDS)
async def test_impersonation_from_a_port_of_its_own_is_dropped_on_every_udp_link(
    kind: str, cert_dir: Path, watch: LogWatch
) -> None:
    """An off-path forger (or a stale process of an earlier run) cannot speak for a: its
    datagrams come from another address than a's, and are dropped and counted."""
    async with cluster(kind, cert_dir) as (a, c, _m):
        await honest(a, c, ["before"])
        forger = Forger("m")
        try:
            forger.impersonate("a", "c", c.address, "forged by m", link=kind)
            await watch.wait_for("c: dropped datagram from 'a' sent by")
            assert link_stats(c)["wrong_source"] == 1
            assert c.refused == 1
            await honest(a, c, ["still", "flows"])
            if kind != "stubborn":  # stubborn resends a's own: duplicates, as it may
                with pytest.raises(TimeoutError):
                    await c.receive(0.2)
        finally:
            forger.close()


@needs_spoofing
@pytest.mark.parametrize("kind", ["fairloss", "stubborn"])
async def test_spoofed_impersonation_over_fairloss_and_stubborn_is_delivered_as_from_the_victim(
    kind: str, cert_dir: Path
) -> None:
    """With a's source address (a raw socket, root) nothing tells the forgery apart."""
    async with cluster(kind, cert_dir) as (a, c, _m):
        forger = Forger("m")
        try:
            forged = forger.impersonate(
                "a", "c", c.address, "forged by m", link=kind, source=a.address
            )
            got = await c.receive(STEP)
            assert (got.sender, got.payload, got.id) == ("a", "forged by m", forged)
            await honest(a, c, ["still", "flows"])
        finally:
            forger.close()


@needs_spoofing
async def test_a_spoofed_new_incarnation_over_reliable_udp_is_challenged_and_not_believed(
    cert_dir: Path, watch: LogWatch
) -> None:
    """A spoofer claiming a newer incarnation of ``a`` from a's address is not believed:
    c asks a's address which incarnation it is, the real a answers with its own, and
    the forgery changes nothing (before: a's messages were dropped as stale from then on)."""
    async with cluster("reliable", cert_dir) as (a, c, _m):
        await honest(a, c, ["before"])  # a's first contact was confirmed the same way
        unconfirmed = session_stat(c, "unconfirmed")
        answered = session_stat(a, "challenges_answered")
        forger = Forger("m")
        try:
            forged = forger.impersonate(
                "a", "c", c.address, "forged by m", link="reliable", source=a.address
            )
            assert forged.incarnation == FORGED_INCARNATION
            await watch.wait_for("claim was false")
            await honest(a, c, ["after", "and more"])
            assert session_stat(c, "unconfirmed") == unconfirmed + 1
            assert session_stat(c, "stale_incarnation") == 0
            assert session_stat(a, "challenges_answered") == answered + 1
            with pytest.raises(TimeoutError):
                await c.receive(0.3)
        finally:
            forger.close()


@needs_spoofing
async def test_a_spoofed_injection_with_the_victims_own_incarnation_gets_through(
    cert_dir: Path,
) -> None:
    """What an unauthenticated link cannot stop (docs/byzantine.md): a spoofer who knows
    a's incarnation (it travels in clear: on-path, or a capture on lo) speaks as a; the
    real message with the forged one's sequence number is then a duplicate."""
    async with cluster("reliable", cert_dir) as (a, c, _m):
        await honest(a, c, ["before"])
        forger = Forger("m")
        try:
            for text in ("a duplicate of seq 1", "forged by m"):  # seqs 1 and 2
                forger.impersonate(
                    "a", "c", c.address, text, link="reliable", source=a.address,
                    incarnation=a.incarnation,
                )  # fmt: skip
            got = await c.receive(STEP)
            assert (got.sender, got.payload, got.seq) == ("a", "forged by m", 2)
            await a.send("c", "lost: seq 2 is a duplicate now")
            await a.send("c", "third")
            assert (await c.receive(STEP)).payload == "third"
            assert session_stat(c, "duplicates") >= 2
        finally:
            forger.close()


async def test_impersonation_over_tls_is_refused_and_logged(
    cert_dir: Path, watch: LogWatch
) -> None:
    async with cluster("tls", cert_dir) as (a, c, _m):
        await honest(a, c, ["before"])
        forged = segment_envelope("a", "c", ["forged by m"], incarnation=7)
        async with await RawTls.connect(c.address, cert_dir, "m") as conn:
            conn.write(frames([hello_envelope("a", "c", incarnation=7), forged]))
            assert await conn.refused(STEP)
        assert any("'m'" in line for line in watch.having("hello claims to be 'a'"))
        # With m's own hello, a segment claiming a is a bad frame.
        async with await RawTls.connect(c.address, cert_dir, "m") as conn:
            conn.write(frames([hello_envelope("m", "c", incarnation=7), forged]))
            assert await conn.refused(STEP)
        assert watch.having("does not match the hello")
        assert link_stats(c)["connections_refused"] >= 1
        assert link_stats(c)["bad_frames"] >= 1
        assert c.refused == 2
        await honest(a, c, ["after"])


# -- replay -------------------------------------------------------------------------------------
needs_capture = pytest.mark.skipif(
    capture_unavailable() is not None, reason=capture_unavailable() or ""
)


@needs_capture
@pytest.mark.parametrize("kind", UDP_KINDS)
async def test_replay_of_a_captured_datagram(kind: str, cert_dir: Path) -> None:
    """fairloss and stubborn: the replayed message is delivered again (finite duplication is
    allowed); reliable: it is a duplicate and dropped, ``a``'s message delivered exactly once."""
    async with cluster(kind, cert_dir) as (a, c, _m):
        async with LoopbackCapture([c.address[1]]) as capture:
            await honest(a, c, ["pay 100"])
            packet = await capture.wait_for(
                lambda p: p.dst[1] == c.address[1] and b"pay 100" in p.payload, STEP
            )
        forger = Forger("m")
        try:
            forger.replay(packet.payload, c.address)  # from its own port: dropped
            for _ in range(3):
                forger.replay(packet.payload, c.address, source=packet.src)
            if kind != "reliable":
                again = [await c.receive(STEP) for _ in range(3)]
                assert {(d.sender, d.payload) for d in again} == {("a", "pay 100")}
            else:
                # The replays left before a's next message, on loopback's one queue.
                await honest(a, c, ["after"])
                assert session_stat(c, "duplicates") >= 3
                assert c.delivered == 2
        finally:
            forger.close()


@needs_capture
async def test_replay_of_captured_tls_bytes_is_refused(cert_dir: Path, watch: LogWatch) -> None:
    async with cluster("tls", cert_dir) as (a, c, _m):
        async with LoopbackCapture([c.address[1]]) as capture:
            await honest(a, c, ["pay 100"])
            await a.flush()
        sent = b"".join(
            p.payload for p in capture.packets if p.dst[1] == c.address[1] and p.payload
        )
        assert sent, "the capture saw a's bytes to c"
        assert b"pay 100" not in sent, "TLS carries ciphertext only"
        reader, writer = await asyncio.open_connection(*c.address)
        writer.write(sent)
        async with asyncio.timeout(STEP):
            while await reader.read(65536):
                pass
        writer.close()
        await watch.wait_for("refused a TLS connection")
        await honest(a, c, ["after"])
        assert c.delivered == 2


# -- malformed envelopes --------------------------------------------------------------------
@pytest.mark.parametrize("kind", UDP_KINDS)
async def test_malformed_datagrams_are_counted_logged_and_dropped(
    kind: str, cert_dir: Path, watch: LogWatch
) -> None:
    async with cluster(kind, cert_dir) as (a, c, _m):
        forger = Forger("m")
        try:
            for data in MALFORMED.values():
                forger.send_raw(data, c.address)
            await watch.wait_for("c: dropped datagram from", len(MALFORMED))
            assert link_stats(c)["bad_datagrams"] == len(MALFORMED)
            assert c.refused == len(MALFORMED)
            await honest(a, c, ["still", "flows"])
            assert c.delivered == 2
        finally:
            forger.close()


async def test_malformed_frames_close_the_connection_over_tls(
    cert_dir: Path, watch: LogWatch
) -> None:
    async with cluster("tls", cert_dir) as (a, c, _m):
        for data in MALFORMED.values():
            async with await RawTls.connect(c.address, cert_dir, "m") as conn:
                conn.write(frames([hello_envelope("m", "c"), data]))
                assert await conn.refused(STEP)
        assert link_stats(c)["bad_frames"] == len(MALFORMED)
        assert len(watch.having("bad frame from")) == len(MALFORMED)
        await honest(a, c, ["still", "flows"])


def test_every_malformed_envelope_fails_to_decode() -> None:
    for name, data in MALFORMED.items():
        with pytest.raises(Exception) as info:  # noqa: PT011 - the type is checked below
            decode(data)
        assert type(info.value).__name__ == "WireError", name


# -- lying clocks ------------------------------------------------------------------------------
def _send_as_m(m: Node, to: str, clock: VectorClock, text: str) -> None:
    """``m``, a member, sends ``text`` stamped with ``clock`` on its own link (its own socket
    and certificate): a lie no link can tell from the truth before the receiver reads it."""
    m.link.send(to, clock, text)


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_a_clock_claiming_more_of_the_receiver_is_delivered_without_the_claim(
    kind: str, cert_dir: Path, watch: LogWatch
) -> None:
    """c alone knows c's events: a claim of more is never merged, and never a reason to
    refuse the message (a restarted c meets such claims honestly)."""
    async with cluster(kind, cert_dir) as (a, c, m):
        await honest(a, c, ["before"])
        lie = claims_more_of(VectorClock({"m": 1}), "c", by=c.clock.get("c") + 5)
        _send_as_m(m, "c", lie, "I saw your future")
        got = await c.receive(STEP)
        assert (got.sender, got.payload) == ("m", "I saw your future")
        await watch.wait_for("more than this node has done; not merged")
        assert (c.stats()["false_claims"], c.dropped) == (1, 0)
        await honest(a, c, ["after"])
        assert c.clock.get("c") < lie.get("c")


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_clock_poisoning_of_a_third_party_is_contained(kind: str, cert_dir: Path) -> None:
    """m tells a that c is at 2**64-1. a believes it (it cannot know better) and passes the
    claim on with every message to c; c, the one authority on its own entry, never merges
    it: all 100 of a's messages arrive, exactly once and in order, and a's flush is honest."""
    async with cluster(kind, cert_dir) as (a, c, m):
        _send_as_m(m, "a", VectorClock({"m": 1, "c": 2**64 - 1}), "c is done")
        assert (await a.receive(STEP)).payload == "c is done"
        assert a.clock.get("c") == 2**64 - 1, "a merged the lie: it is m's word against no one's"
        texts = [f"m{i}" for i in range(100)]
        await honest(a, c, texts)
        await a.flush()
        assert a.failures() == []
        assert c.stats()["false_claims"] == 100
        assert c.clock.get("c") == 100
        assert c.dropped == 0


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_a_bloated_clock_is_refused_and_the_victim_keeps_sending(
    kind: str, cert_dir: Path
) -> None:
    """A 1,000-entry clock (65 kB) from m never enters a's clock: refused (before the ack on
    a reliable link: m gets it back as a failure with a's reason), so a's own messages keep
    their size and all 100 arrive."""
    async with cluster(kind, cert_dir) as (a, c, m):
        bloat = VectorClock({f"p{i:03}": 2**63 for i in range(1000)} | {"m": 1})
        _send_as_m(m, "a", bloat, "remember us all")
        await honest(m, a, ["honest from m"])  # m's next message comes after the bloated one
        await m.flush()  # a's ack: a's link has reported the refusal by now
        assert set(a.clock) == {"a", "m"}
        assert a.refused == 1
        if kind in ("reliable", "tls"):
            (failure,) = m.failures()
            assert failure.payload == "remember us all"
            assert "1001 entries, more than the limit of 256" in failure.reason
        await honest(a, c, [f"m{i}" for i in range(100)])


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_a_clock_naming_a_stranger_is_refused(kind: str, cert_dir: Path) -> None:
    async with cluster(kind, cert_dir) as (a, c, m):
        _send_as_m(m, "c", VectorClock({"m": 1, "mallory": 9}), "meet my friend")
        await honest(m, c, ["honest from m"])
        await m.flush()
        assert "mallory" not in c.clock
        assert c.refused == 1
        await honest(a, c, ["after"])


@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_a_jumping_or_backward_clock_is_not_detectable_and_is_delivered(
    kind: str, cert_dir: Path
) -> None:
    """Only the receiver's own entry can be checked: a lie about the liar's own events
    is delivered and spreads (what no link promises to catch)."""
    async with cluster(kind, cert_dir) as (_a, c, m):
        lie = jumped(backwards(VectorClock({"m": 5, "a": 3}), "a", by=2), "m")
        _send_as_m(m, "c", lie, "a thousand events ago")
        got = await c.receive(STEP)
        assert (got.sender, got.payload) == ("m", "a thousand events ago")
        assert c.clock.get("m") == 1_000_005
        assert c.dropped == 0


# -- lies no link can see ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ALL_KINDS)
async def test_wrong_values_equivocation_silence_and_reordering_are_delivered_as_sent(
    kind: str, cert_dir: Path
) -> None:
    async with cluster(kind, cert_dir) as (a, c, m):
        equivocation = Equivocation()
        await m.send("a", {"req": 1, "value": equivocation.answer("a", 42)})
        await m.send("c", {"req": 1, "value": equivocation.answer("c", 42)})
        to_a, to_c = (await a.receive(STEP)).payload, (await c.receive(STEP)).payload
        assert to_a["value"] != to_c["value"]
        assert 42 not in (to_a["value"], to_c["value"])
        assert wrong_value(42) != 42

        silence = Silence(m, ["a"])
        assert await silence.send("a", "never") is None
        assert await silence.send("c", "heard") is not None
        assert (await c.receive(STEP)).payload == "heard"
        assert silence.withheld == 1

        shuffle = Shuffle(m, seed=3, max_delay=0.05)
        for i in range(8):
            shuffle.send("c", i)
        await shuffle.drain()
        got = [(await c.receive(STEP)).payload for _ in range(8)]
        assert sorted(got) == list(range(8))
        assert got != list(range(8)), "seed 3 reorders them"
        heard_by_a = []  # a stubborn link keeps delivering m's first message to a again
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                while True:
                    heard_by_a.append((await a.receive()).payload)
        assert "never" not in heard_by_a


# -- omission faults (a process model of the fault plan) ---------------------------------------
def _omission_plan(send: float, receive: float) -> Any:
    from netclock import FaultPlan
    from netclock.faults.omission import Omission

    return FaultPlan(seed=11, omission={"m": Omission(send=send, receive=receive)})


async def test_send_omission_over_fairloss_is_counted_apart_from_loss(cert_dir: Path) -> None:
    plan = _omission_plan(0.4, 0.0)
    async with (
        Node("c", link="fairloss", faults=plan, close_timeout=1.0) as c,
        Node("m", link="fairloss", faults=plan, close_timeout=1.0) as m,
    ):
        c.add_peer("m", m.address)
        m.add_peer("c", c.address)
        for i in range(200):
            await m.send("c", i)
        faults = dict(link_stats(m)["faults"]["c"])
        omitted = faults["omitted"]
        assert 50 <= omitted <= 110
        assert faults["dropped"] == 0
        got: list[Any] = []
        while "end" not in got:  # the end marker may be omitted too: resent until it is not
            await m.send("c", "end")
            with contextlib.suppress(TimeoutError):
                while "end" not in got:
                    got.append((await c.receive(0.5)).payload)
        assert len([p for p in got if p != "end"]) == 200 - omitted


async def test_omission_on_the_reliable_link_is_masked_by_retransmission(
    cert_dir: Path,
) -> None:
    plan = _omission_plan(0.3, 0.3)
    async with (
        Node("c", link="reliable", faults=plan, close_timeout=2.0) as c,
        Node("m", link="reliable", faults=plan, close_timeout=2.0) as m,
    ):
        c.add_peer("m", m.address)
        m.add_peer("c", c.address)
        got = []
        for i in range(100):  # one at a time: one datagram each way per message
            await m.send("c", i)
            got.append((await c.receive(STEP)).payload)
        assert got == list(range(100))
        assert link_stats(m)["faults"]["c"]["omitted"] > 0
        await m.flush()
        assert link_stats(m)["receive_omitted"] > 0
        assert link_stats(c)["receive_omitted"] == 0


def test_omission_on_the_tls_link_is_a_config_error(cert_dir: Path) -> None:
    from netclock.errors import ConfigError

    with pytest.raises(ConfigError, match="omission faults act on datagrams"):
        Node("m", link="tls", cert_dir=cert_dir, faults=_omission_plan(0.1, 0.0))


async def test_refusals_are_refused_events_in_the_receivers_log(
    cert_dir: Path, tmp_path: Path, watch: LogWatch
) -> None:
    """What the link refuses reaches the event log with its reason; the checker lists it."""
    from netclock.observe.eventlog import read_events
    from netclock.tools.check import check_run, load_run

    options: dict[str, Any] = {"cert_dir": cert_dir, "close_timeout": 1.0}
    async with (
        Node("c", link="tls", event_log=tmp_path / "c.events.jsonl", **options) as c,
        Node("a", link="tls", event_log=tmp_path / "a.events.jsonl", **options) as a,
    ):
        c.add_peer("a", a.address)
        c.add_peer("m", ("127.0.0.1", 9))
        a.add_peer("c", c.address)
        async with await RawTls.connect(c.address, cert_dir, "m") as conn:
            conn.write(frames([hello_envelope("a", "c", incarnation=7)]))
            assert await conn.refused(STEP)
        await honest(a, c, ["after"])
    refused = [e for e in read_events(tmp_path / "c.events.jsonl", []) if e.ev == "refused"]
    assert len(refused) == 1
    assert refused[0].peer == "m"
    assert "hello claims to be 'a'" in refused[0].text
    report = check_run(load_run(tmp_path))
    assert report.ok
    assert any(n.startswith("c refused 1 input(s) at its link (e.g. from m:") for n in report.notes)
