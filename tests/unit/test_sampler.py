"""The sampler's timer keeps its period when a sample runs late (on uvloop too, whose
handle for a deadline already past has no ``when``)."""

from __future__ import annotations

import asyncio
import time

import pytest
import uvloop

from netclock.sampling import Sampler

pytestmark = pytest.mark.timeout(20)


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_a_sample_that_overruns_its_period_does_not_stop_sampling(loop_factory) -> None:
    async def main() -> int:
        enough = asyncio.Event()
        taken = 0

        def take() -> None:
            nonlocal taken
            taken += 1
            time.sleep(0.03)  # a busy process: the next deadline is already past
            if taken == 5:
                enough.set()

        sampler = Sampler(0.01, take)
        sampler.start()
        try:
            await asyncio.wait_for(enough.wait(), 10)
        finally:
            sampler.close()
        return taken

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        assert runner.run(main()) == 5, "missed periods are skipped, not made up in a burst"
