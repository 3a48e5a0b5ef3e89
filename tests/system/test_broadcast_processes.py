"""Broadcast among real OS processes (``netclock run``), judged by ``netclock check``.

Five processes broadcast under 20% loss and reordering over the perfect link; a sender
killed mid-broadcast under reliable broadcast leaves all-or-none delivery among the
survivors; Bracha with four processes over TLS, one of them equivocating.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_run_folder, check_json, explain, netclock, run_seed

pytestmark = [pytest.mark.system]

PROGRAMS = '''
import asyncio
import time

from netclock.broadcast.frame import ECHO, SEND, BMessage, Kind, encode


async def chatter(node, kind="causal", count=100, pace=0.0):
    """Broadcast ``count`` messages while taking everyone's; end with all of them."""
    group = len(node.peers) + 1
    got = 0

    async def take():
        nonlocal got
        async for msg in node:
            got += 1
            if got == count * group:
                return

    taking = asyncio.ensure_future(take())
    for i in range(count):
        await node.broadcast(i, kind=kind)
        if pace:
            await asyncio.sleep(pace)
    await asyncio.wait_for(taking, 120)
    print(f"{node.id} delivered {got}", flush=True)


async def listener(node, quiet=3.0, want=0):
    """Take deliveries until ``quiet`` seconds pass without one (after ``want`` arrived)."""
    got = 0
    while True:
        try:
            await node.receive(timeout=quiet if got >= want else 60)
        except TimeoutError:
            break
        got += 1
    print(f"{node.id} delivered {got}", flush=True)


async def streamer(node, kind="reliable", pace=0.002):
    """Broadcast until killed."""
    i = 0
    while True:
        i += 1
        await node.broadcast(i, kind=kind)
        await asyncio.sleep(pace)


async def honest(node, quiet=2.0):
    """One Byzantine reliable broadcast, then deliver until quiet."""
    await node.broadcast(f"honest {node.id}", kind="byzantine")
    await listener(node, quiet, want=3)


async def equivocator(node):
    """Send value A to b and B to c and d as the same broadcast, and echo both ways."""
    for peer in node.peers:
        value = "A" if peer == "b" else "B"
        for phase in (SEND, ECHO):
            msg = BMessage(Kind.BYZANTINE, node.id, node.incarnation, 1, node.clock, value, phase)
            node.link.send(peer, node.clock, encode(msg))
    await node.flush()
    await listener(node, 2.0, want=3)
'''

FIVE = """
name = "broadcast-five"
link = "reliable"
duration = {duration}
program = "bcast.py:chatter"
args = {{ kind = "{kind}", count = {count} }}
[faults]
seed = {seed}
loss = 0.2
reorder = 0.2
{nodes}
"""


def _nodes(*ids: str, program: str | None = None) -> str:
    extra = f'\nprogram = "bcast.py:{program}"' if program else ""
    return "".join(f'\n[[node]]\nid = "{i}"{extra}\n' for i in ids)


def _run(tmp_path: Path, cluster: str, timeout: float) -> tuple[Path, Any]:
    (tmp_path / "bcast.py").write_text(PROGRAMS)
    (tmp_path / "c.toml").write_text(cluster)
    run = tmp_path / "run"
    done = netclock("run", str(tmp_path / "c.toml"), "--out", str(run), timeout=timeout)
    return run, done


def _promised_ok(run: Path, kind: str, done: Any) -> dict[str, Any]:
    code, report = check_json(run)
    seed = run_seed(run)
    mine = {name: p for name, p in report["properties"].items() if name.startswith(f"{kind}/")}
    assert mine, f"no {kind} properties reported (seed {seed})\n{explain(done)}"
    bad = {name: p for name, p in mine.items() if p["promised"] and p["status"] != "ok"}
    assert not bad, f"seed {seed}: {json.dumps(bad, indent=1)}\n{explain(done)}"
    assert code == 0, f"seed {seed}: {report['violated']}\n{explain(done)}"
    return mine


def five(tmp_path: Path, kind: str, count: int, seed: int, timeout: float) -> dict[str, Any]:
    cluster = FIVE.format(
        duration=int(timeout) - 10,
        kind=kind,
        count=count,
        seed=seed,
        nodes=_nodes("a", "b", "c", "d", "e"),
    )
    run, done = _run(tmp_path, cluster, timeout)
    assert done.returncode == 0, explain(done, seed)
    for node in "abcde":
        assert f"{node} delivered {count * 5}" in done.stdout, explain(done, seed)
    return _promised_ok(run, kind, done)


@pytest.mark.slow
@pytest.mark.timeout(100)
@pytest.mark.parametrize("kind", ["causal", pytest.param("uniform", marks=pytest.mark.slow)])
def test_five_processes_30_broadcasts_each_under_20pct_loss_and_reordering(
    tmp_path: Path, kind: str
) -> None:
    found = five(tmp_path, kind, 30, seed=11, timeout=80)
    assert found[f"{kind}/agreement"]["status"] == "ok"


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_five_processes_1000_causal_broadcasts_each_under_20pct_loss_and_reordering(
    tmp_path: Path,
) -> None:
    found = five(tmp_path, "causal", 1000, seed=12, timeout=380)
    assert found["causal/causal_order"]["status"] == "ok"


KILLED = """
name = "broadcast-killed"
link = "reliable"
duration = 40
give_up_after = 1
[[node]]
id = "a"
program = "bcast.py:streamer"
args = {{ kind = "{kind}" }}
{survivors}
[[action]]
at = 1.5
do = "kill"
node = "a"
"""


@pytest.mark.timeout(80)
@pytest.mark.parametrize("kind", ["reliable", pytest.param("uniform", marks=pytest.mark.slow)])
def test_a_sender_killed_mid_broadcast_leaves_all_or_none_delivery_among_survivors(
    tmp_path: Path, kind: str
) -> None:
    cluster = KILLED.format(kind=kind, survivors=_nodes("b", "c", "d", program="listener"))
    run, done = _run(tmp_path, cluster, 70)
    assert "* kill a" in done.stdout, explain(done)
    found = _promised_ok(run, kind, done)
    assert found[f"{kind}/agreement"]["status"] == "ok"
    assert found[f"{kind}/no_creation"]["status"] == "ok"
    if kind == "uniform":  # what the dead sender delivered itself, the survivors deliver too
        assert found["uniform/uniform_agreement"]["status"] == "ok"
    counts = {n: int(done.stdout.split(f"{n} delivered ")[1].split()[0]) for n in "bcd"}
    assert len(set(counts.values())) == 1, f"survivors disagree: {counts}\n{explain(done)}"
    assert counts["b"] > 0, explain(done)


BRACHA = """
name = "bracha"
link = "tls"
duration = 40
[[node]]
id = "z"
program = "bcast.py:equivocator"
{honest}
"""


@pytest.mark.slow
@pytest.mark.timeout(80)
def test_bracha_four_processes_over_tls_one_equivocating_sender_correct_ones_agree(
    tmp_path: Path,
) -> None:
    cluster = BRACHA.format(honest=_nodes("b", "c", "d", program="honest"))
    run, done = _run(tmp_path, cluster, 70)
    assert done.returncode in (0, 1), explain(done)
    # the ground truth of who lied, recorded by who made it lie: this test
    (run / "byzantine.json").write_text(json.dumps({"nodes": ["z"]}))
    found = _promised_ok(run, "byzantine", done)
    assert found["byzantine/consistency"]["status"] == "ok"
    delivered: dict[str, list[str]] = {}
    for node in "bcd":
        events = [json.loads(x) for x in (run / f"{node}.events.jsonl").read_text().splitlines()]
        delivered[node] = sorted(
            e["id"][0] + ":" + e.get("digest", "") for e in events if e["ev"] == "bdeliver"
        )
    assert delivered["b"] == delivered["c"] == delivered["d"], delivered
    assert len(delivered["b"]) == 4, f"z's value B is delivered by all: {delivered}"


@pytest.mark.slow
@pytest.mark.timeout(80)
def test_chat_demo_causal_never_shows_an_answer_first_best_effort_does_bracha_agrees(
    tmp_path: Path,
) -> None:
    run = tmp_path / "chat"
    done = netclock("demo", "chat", "--out", str(run), cwd=tmp_path, timeout=70)
    seed = run_seed(run)
    assert done.returncode == 0, explain(done, seed)
    lines = done.stdout.splitlines()
    early = [x for x in lines if "an answer before the question" in x]
    assert early, explain(done, seed)
    assert all("best-effort" in x for x in early), explain(done, seed)
    assert_run_folder(run, ["alice", "bob", "carol", "mallory"])
    _, report = check_json(run)
    props = report["properties"]
    assert props["causal/causal_order"]["status"] == "ok"
    assert props["best-effort/causal_order"]["status"] == "does not hold"
    assert props["byzantine/consistency"]["status"] == "ok"
    said = {x.split("from mallory ")[1] for x in lines if "from mallory" in x}
    assert len(said) == 1, f"alice, bob and carol disagree on mallory's value: {said}"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_bench_broadcast_scenario_reports_each_kind_beside_n_minus_1_sends(tmp_path: Path) -> None:
    done = netclock(
        "bench", "--quick", "--scenario", "broadcast", "--json", cwd=tmp_path, timeout=110
    )
    assert done.returncode == 0, explain(done)
    report = json.loads(done.stdout)["broadcast"]
    assert report["status"] == "ok", report
    summary = report["summary"]
    assert list(summary) == ["p2p", "best-effort", "reliable", "causal", "causal/unordered"]
    for variant, figures in summary.items():
        assert figures["rate"] > 0, variant
        assert 0 < figures["p50_ms"] <= figures["p99_ms"], variant
    assert summary["causal"]["causal_peak"] == 0  # FIFO links carry the causal past ahead
