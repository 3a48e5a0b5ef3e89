"""The sampler's timer keeps its period when a sample runs late (on uvloop too, whose
handle for a deadline already past has no ``when``)."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
import uvloop

from netclock.sampling import Sampler

pytestmark = pytest.mark.timeout(20)

PERIOD = 0.01
BUSY = 0.03


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_a_sample_that_overruns_its_period_does_not_stop_sampling(loop_factory) -> None:
    async def main() -> list[float]:
        enough = asyncio.Event()
        starts: list[float] = []

        def take() -> None:
            starts.append(time.monotonic())
            time.sleep(BUSY)  # a busy process: the next deadline is already past
            if len(starts) == 5:
                enough.set()

        sampler = Sampler(PERIOD, take)
        sampler.start()
        try:
            await asyncio.wait_for(enough.wait(), 10)
        finally:
            sampler.close()
        return starts

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        starts = runner.run(main())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # missed periods are skipped (a period after the late sample), not made up in a burst
    assert min(gaps) >= BUSY + PERIOD * 0.9, gaps
