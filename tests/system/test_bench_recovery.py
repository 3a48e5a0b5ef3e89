"""The recovery measurement of ``netclock bench --scenario durable``, small: real processes,
a real kill -9, and every outstanding message back after the restart."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from netclock.tools.bench.recovery import format_recovery, recovery_bench

pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]


def test_recovery_after_kill_9_gets_every_outstanding_message_back(tmp_path: Path) -> None:
    progress = io.StringIO()
    report = asyncio.run(recovery_bench(300, 1, 60.0, progress, str(tmp_path)))
    assert report["status"] == "ok", report["reason"]
    assert report["sender"]["held"] == 300  # every unacknowledged message, to resend
    assert report["receiver"]["held"] == 300  # every unconsumed one, back in the inbox
    assert all(report[role]["recovery_s"] > 0 for role in ("sender", "receiver"))
    text = "\n".join(format_recovery(report))
    assert "sender killed with 300 outstanding" in text
    assert "receiver killed with 300 outstanding" in text
