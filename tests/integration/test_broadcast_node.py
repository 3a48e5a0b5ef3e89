"""Broadcast through real Nodes on loopback: every kind, over the perfect link and TLS."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from netclock import FaultPlan, Node, UsageError
from netclock.adversary import SpoofingUdp, spoofing_unavailable
from netclock.broadcast.frame import ECHO, MARK, READY, SEND, BMessage, Kind, encode
from netclock.clock import VectorClock
from netclock.links.tls import certs
from netclock.node import BroadcastDelivery
from netclock.observe.eventlog import read_events
from netclock.tools.check import Status, check_run, format_report, load_run
from netclock.tools.check_broadcast import PROMISES, record_byzantine
from netclock.wire.envelope import encode_data

pytestmark = pytest.mark.timeout(60)

KINDS = [k.value for k in Kind]


async def take(node: Node, count: int, timeout: float = 20.0) -> list[BroadcastDelivery]:
    """The next ``count`` deliveries of ``node`` (all broadcasts)."""
    got = []
    async with asyncio.timeout(timeout):
        for _ in range(count):
            msg = await node.receive()
            assert isinstance(msg, BroadcastDelivery), msg
            got.append(msg)
    return got


async def nothing_more(node: Node, quiet: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        await node.receive(timeout=quiet)


@pytest.mark.parametrize("kind", KINDS)
async def test_every_kind_reaches_every_node_once_one_send_and_one_deliver_event_each(
    tmp_path: Path, kind: str
) -> None:
    async with AsyncExitStack() as stack:
        nodes = await logged(stack, tmp_path, "a", "b", "c", "d")
        await _every_kind(nodes, kind, tmp_path)
    report = check_run(load_run(tmp_path))
    assert report.ok, format_report(report)
    mine = [p for p in report.properties if p.name.startswith(kind + "/")]
    assert {p.name.split("/")[1] for p in mine if p.promised} == set(PROMISES[kind])
    assert all(p.status in (Status.OK, Status.HOLDS) for p in mine), format_report(report)


async def logged(stack: AsyncExitStack, folder: Path, *ids: str, **options: Any) -> list[Node]:
    """Connected nodes on port 0, each with its event log in ``folder``."""
    nodes = [
        await stack.enter_async_context(Node(i, event_log=folder / f"{i}.events.jsonl", **options))
        for i in ids
    ]
    for node in nodes:
        for other in nodes:
            if other is not node:
                node.add_peer(other.id, other.address)
    return nodes


async def _every_kind(nodes: list[Node], kind: str, tmp_path: Path) -> None:
    senders = nodes[1:]
    count = 15
    for i in range(count):
        for node in senders:
            mid = await node.broadcast({"n": i, "from": node.id}, kind=kind)
            assert mid == (node.id, node.incarnation, i + 1)
    for node in nodes:
        got = await take(node, count * len(senders))
        assert Counter((m.sender, m.seq) for m in got) == Counter(
            (s.id, i + 1) for s in senders for i in range(count)
        ), node.id
        assert {m.kind for m in got} == {kind}
        assert all(m.payload == {"n": m.seq - 1, "from": m.sender} for m in got)
        await nothing_more(node)
    for node in nodes:
        await node.close()
        events = read_events(tmp_path / f"{node.id}.events.jsonl", [])
        kinds = Counter(e.ev for e in events if e.ev in ("send", "deliver", "bcast", "bdeliver"))
        mine = count if node in senders else 0
        assert kinds == Counter(bcast=mine, bdeliver=count * len(senders)), node.id


async def test_the_inbox_tells_a_broadcast_from_a_point_to_point_message(make_nodes: Any) -> None:
    a, b = await make_nodes("a", "b")
    await a.send("b", "direct")
    await a.broadcast("to all", kind="reliable")
    first, second = await b.receive(timeout=5), await b.receive(timeout=5)
    assert not isinstance(first, BroadcastDelivery)
    assert first.payload == "direct"
    assert isinstance(second, BroadcastDelivery)
    assert (second.kind, second.sender) == ("reliable", "a")
    assert second.id == (a.id, a.incarnation, 1)
    assert "kind='reliable'" in repr(second)


async def test_causal_broadcast_holds_a_reply_until_its_question_arrives(
    tmp_path: Path,
) -> None:
    """a's question is cut off from c; b answers it; c gets b's relay of the question
    before the answer (same link, in order), never the answer first."""
    async with AsyncExitStack() as stack:
        a, b, c = await logged(stack, tmp_path, "a", "b", "c")
        a.partition("c")
        await a.broadcast("question", kind="causal")
        assert [m.payload for m in await take(a, 1) + await take(b, 1)] == ["question"] * 2
        await b.broadcast("answer", kind="causal")
        got = [m.payload for m in await take(c, 2)]
        assert got == ["question", "answer"]
        a.heal("c")
        await take(a, 1)
        await take(b, 1)
        await nothing_more(c)
    report = check_run(load_run(tmp_path))
    assert report.result("causal/causal_order").status is Status.OK, format_report(report)


async def test_best_effort_shows_the_answer_before_the_question_and_the_checker_says_so(
    tmp_path: Path,
) -> None:
    async with AsyncExitStack() as stack:
        a, b, c = await logged(stack, tmp_path, "a", "b", "c")
        a.partition("c")
        await a.broadcast("question")
        assert [m.payload for m in await take(a, 1) + await take(b, 1)] == ["question"] * 2
        await b.broadcast("answer")
        assert (await c.receive(timeout=5)).payload == "answer"
        a.heal("c")
        assert (await c.receive(timeout=10)).payload == "question"  # the link resends it late
        await take(a, 1)
        await take(b, 1)
    report = check_run(load_run(tmp_path))
    assert report.ok, format_report(report)
    causal = report.result("best-effort/causal_order")
    assert causal.status is Status.DOES_NOT_HOLD
    assert "c:" in causal.examples[0]
    assert "delivered b:" in causal.examples[0]


async def test_a_list_payload_with_the_broadcast_mark_cannot_be_sent_point_to_point(
    make_nodes: Any,
) -> None:
    a, b = await make_nodes("a", "b")
    with pytest.raises(UsageError, match="reserved"):
        await a.send("b", [MARK, 1, 2])
    await a.send("b", ["not", "a", "mark"])
    assert (await b.receive(timeout=5)).payload == ["not", "a", "mark"]


async def test_malformed_broadcast_frames_are_counted_and_dropped(make_nodes: Any) -> None:
    a, b = await make_nodes("a", "b")
    clock = VectorClock({"a": 1})
    for garbage in ([MARK], [MARK, 99, "a", 1, 1, None, "x"], [MARK, 2, "a", -1, 1, None, 0]):
        a.link.send("b", clock, garbage)
    forged = BMessage(Kind.BEST_EFFORT, "z", 1, 1, clock, "claims to be z")
    a.link.send("b", clock, encode(forged))  # best-effort: only the origin may send it
    await a.broadcast("fine")
    assert (await b.receive(timeout=5)).payload == "fine"
    assert b.stats()["broadcast"]["bad"] == 4


async def test_relays_wait_for_a_full_send_window_and_all_arrive(make_nodes: Any) -> None:
    nodes = await make_nodes("a", "b", "c", link_options={"send_window": 4})
    count = 200
    for i in range(count):
        await nodes[0].broadcast(i, kind="reliable")
    for node in nodes:
        assert [m.payload for m in await take(node, count)] == list(range(count))
    await asyncio.gather(*(node.flush() for node in nodes))  # the last acks, before closing


async def test_an_unknown_kind_is_one_clear_sentence(make_nodes: Any) -> None:
    (a,) = await make_nodes("a")
    with pytest.raises(UsageError, match="broadcast kind 'atomic' is not one of"):
        await a.broadcast("x", kind="atomic")


async def test_a_lone_node_delivers_its_own_broadcast(make_nodes: Any) -> None:
    (a,) = await make_nodes("a")
    for kind in KINDS:
        await a.broadcast(kind, kind=kind)
    assert [m.payload for m in await take(a, len(KINDS))] == KINDS


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("bcast-tls") / "certs"
    certs.init_cluster(directory, ["a", "b", "c", "d"], cluster="lab")
    return directory


async def test_bracha_over_tls_correct_nodes_agree_on_an_equivocating_origins_value(
    make_nodes: Any, cert_dir: Path
) -> None:
    """a sends SEND "A" to b and "B" to c and d, ECHO "B" to all and READY "A" to b only:
    b, c and d all deliver B (c, d and a's echoes are a quorum), never A."""
    a, b, c, d = await make_nodes("a", "b", "c", "d", link="tls", cert_dir=cert_dir)
    clock = VectorClock({"a": 1})

    def lie(peer: str, value: str, phase: int) -> None:
        msg = BMessage(Kind.BYZANTINE, "a", a.incarnation, 1, clock, value, phase)
        a.link.send(peer, clock, encode(msg))

    for peer, value in (("b", "A"), ("c", "B"), ("d", "B")):
        lie(peer, value, SEND)
    for peer in ("b", "c", "d"):
        lie(peer, "B", ECHO)
    lie("b", "A", READY)
    await b.broadcast("honest", kind="byzantine")
    got = {n.id: [m.payload for m in await take(n, 2)] for n in (b, c, d)}
    assert {n: sorted(v) for n, v in got.items()} == {n: ["B", "honest"] for n in "bcd"}


@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow)])
async def test_causal_order_over_a_lossy_link_without_fifo_the_buffer_fills_and_empties(
    tmp_path: Path, seed: int
) -> None:
    """Retransmissions reorder a non-FIFO perfect link: messages arrive before their causal
    past, wait, and still come out in causal order (the checker agrees)."""
    plan = FaultPlan(seed=seed, loss=0.1, reorder=0.2)
    count = 80
    async with AsyncExitStack() as stack:
        nodes = await logged(stack, tmp_path, "a", "b", "c", "d", fifo=False, faults=plan)

        async def send(node: Node) -> None:
            for i in range(count):
                await node.broadcast([node.id, i], kind="causal")
                if i % 16 == 0:
                    await asyncio.sleep(0)

        takers = [asyncio.ensure_future(take(n, count * 4, timeout=40)) for n in nodes]
        await asyncio.gather(*(send(n) for n in nodes))
        await asyncio.gather(*takers)
        # every ack in while all are up: a node closed first would leave the others waiting
        # out close_timeout for acks of what it delivered but whose acks the plan dropped
        await asyncio.wait_for(asyncio.gather(*(n.flush() for n in nodes)), 20)
        stats = [n.stats()["broadcast"]["causal"] for n in nodes]
        assert max(s["peak"] for s in stats) > 0, f"nothing arrived early (seed {seed})"
        assert all(s["buffered"] == 0 and s["outstanding"] == 0 for s in stats), stats
    report = check_run(load_run(tmp_path))
    assert report.ok, f"seed {seed}\n{format_report(report)}"
    assert report.result("causal/causal_order").status is Status.OK


async def test_over_udp_one_liar_impersonating_two_makes_bracha_deliver_at_one_only(
    tmp_path: Path,
) -> None:
    """What breaks without authenticated links: m forges READYs "from" b and c to d, with
    b's and c's source addresses (a spoofing raw socket: UDP has nothing else to tell them
    apart), so d counts three readies (> 2f) and delivers m's value while b and c never do:
    agreement (totality) is violated, and the checker says so."""
    if spoofing_unavailable() is not None:
        pytest.skip(spoofing_unavailable() or "")
    async with AsyncExitStack() as stack:
        b, c, d, m = await logged(stack, tmp_path, "b", "c", "d", "m", link="fairloss")
        clock = VectorClock({"m": 1})
        ready = encode(BMessage(Kind.BYZANTINE, "m", m.incarnation, 1, clock, "X", READY))
        spoofer = SpoofingUdp()
        try:
            for seq, node in enumerate((b, c, m), start=1000):
                data = encode_data(node.id, node.incarnation, "d", seq, clock, ready)
                spoofer.send(data, node.address, d.address)
            got = await d.receive(timeout=5)
        finally:
            spoofer.close()
        assert (got.sender, got.payload) == ("m", "X")
        for node in (b, c):
            await nothing_more(node)
    record_byzantine(tmp_path, "m")
    report = check_run(load_run(tmp_path))
    assert report.result("byzantine/agreement").status is Status.VIOLATED
