"""The three memory attacks of issue 15 in real processes, with the default byte budgets and
60 kB payloads: each victim's peak RSS stays under its budget (a generous bound: the
figures are in ``netclock bench --scenario bounded-memory``), honest traffic beside the
spoofer arrives exactly once, in order, and the stalled consumer's senders end up waiting.
"""

from __future__ import annotations

import io

import pytest

from netclock.tools.bench.memory import HONEST, memory_budgets

MIB = 1 << 20


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_dead_peers_a_stalled_consumer_and_a_spoofer_stay_under_their_budgets() -> None:
    progress = io.StringIO()
    report = await memory_budgets(4.0, 120.0, progress)
    assert report["status"] == "ok", report["reason"]
    for key, budget in report["budgets"].items():
        row = report[key]
        grown = (row["peak_rss_kib"] - row["rss_start_kib"]) * 1024
        assert grown <= 1.5 * budget + 32 * MIB, (key, grown / MIB, budget / MIB)
    spoofer = report["spoofer"]
    assert spoofer["honest_received"] == HONEST
    assert spoofer["honest_in_order_once"]
    assert spoofer["link"]["beyond_bytes"] > 0
    assert report["stalled_consumer"]["attacker"]["blocked_for_s"] > 0.5
    assert report["dead_peers"]["send_held_bytes"] <= report["budgets"]["dead_peers"] + MIB
