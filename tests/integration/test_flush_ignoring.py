"""``Node.flush(ignoring=...)``, what a node does when a run ends (the launcher's drain):
wait until every message to the running peers is acknowledged, whatever is still owed by
a peer that is down. On real sockets on 127.0.0.1, every link kind with acknowledgements."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_remove_peer import NOBODY, RELIABLE, started

from netclock.links.tls import certs

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("flush-ignoring") / "certs"
    certs.init_cluster(directory, ["a", "b", "c"], cluster="lab")
    return directory


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", RELIABLE)
async def test_a_flush_ignoring_a_silent_peer_ends_when_the_others_acknowledged(
    kind: str, cert_dir: Path
) -> None:
    async with started(kind, cert_dir, "a", "b", give_up_after=60) as (a, b):
        a.add_peer("c", NOBODY)  # a peer that never acknowledges anything
        for i in range(20):
            await a.send("b", i)
            await a.send("c", i)
        await asyncio.wait_for(a.flush(ignoring={"c"}), 10)
        assert [(await b.receive(timeout=5)).payload for _ in range(20)] == list(range(20))
        assert a.link.unacked("b") == 0
        assert a.link.unacked("c") == 20
        everything = asyncio.ensure_future(a.flush())
        done, _ = await asyncio.wait([everything], timeout=0.3)
        assert not done, "a flush that ignores nobody waits for c"
        everything.cancel()
