"""The plugin as a user's pytest run sees it (pytester): reports, replay, clean teardown."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]
pytestmark = [pytest.mark.system, pytest.mark.timeout(120)]

QUIET = ("-o", "asyncio_default_fixture_loop_scope=function")
"""The user's pytest-asyncio setting (unset, it warns)."""

USER_TESTS = """
import json
from pathlib import Path

import pytest

from netclock import Node

OUT = Path(__file__).parent


async def sender(node: Node, count: int = 40) -> int:
    for i in range(count):
        await node.send("b", i)
    return count


async def receiver(node: Node) -> list[int]:
    got = []
    while True:
        try:
            got.append((await node.receive(timeout=2.0)).payload)
        except TimeoutError:
            return got


async def idle(node: Node) -> None:
    await node.receive()


def save(name, value):
    (OUT / name).write_text(json.dumps(value))


@pytest.mark.asyncio
async def test_lossy_link_delivers_everything(netclock_cluster, netclock_faults):
    run = await netclock_cluster(
        {
            "link": "fairloss",
            "node": [{"id": "a", "program": sender}, {"id": "b", "program": receiver}],
        },
        faults=netclock_faults(loss=0.3),
    )
    result = await run.wait()
    save("received.json", result.returned["b"])
    assert result.returned["b"] == list(range(40))


@pytest.mark.asyncio
async def test_fails_while_the_nodes_run(netclock_cluster):
    run = await netclock_cluster({"program": idle, "node": ["a", "b", "c"]})
    save("running.json", [[h.pid, h.address[1]] for h in run.nodes.values()])
    assert False, "deliberately failing with three nodes running"
"""


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def run_user_tests(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, Any]:
    result = pytester.runpytest("-p", "no:cacheprovider", *QUIET, *args)
    received = json.loads((pytester.path / "received.json").read_text(encoding="utf-8"))
    return result, received


@pytest.mark.slow
def test_a_failing_test_leaves_nothing_running_and_reports_seed_and_run_folder(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result, received = run_user_tests(pytester)
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert len(received) < 40, "a loss of 0.3 lost nothing of 40: the plan was not applied"
    running = json.loads((pytester.path / "running.json").read_text(encoding="utf-8"))
    assert len(running) == 3
    assert [pid for pid, _ in running if alive(pid)] == []
    assert [port for _, port in running if not port_is_free(port)] == []
    seeds = re.findall(r"fault seed (\d+) \(replay: pytest --netclock-seed (\d+) (\S+)\)", text)
    assert len(seeds) == 1, text  # the test without faults has no seed to report
    [(seed, replay, nodeid)] = seeds
    assert seed == replay
    assert nodeid == "test_user.py::test_lossy_link_delivers_everything"
    folders = re.findall(r"run folder (\S+) \(viewer: (\S+)\)", text)
    assert len(folders) == 2, text
    for folder, viewer in folders:
        assert Path(folder, "faults.jsonl").is_file()
        assert viewer == str(Path(folder, "viewer.html"))
    assert "- netclock -" in text  # its own report section


@pytest.mark.slow
def test_the_reported_seed_replays_the_same_fates(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    first, received = run_user_tests(pytester, "-k", "lossy")
    first.assert_outcomes(failed=1)
    seed = re.findall(r"fault seed (\d+) \(replay", first.stdout.str())[0]
    again, replayed = run_user_tests(pytester, "-k", "lossy", "--netclock-seed", seed)
    again.assert_outcomes(failed=1)
    assert replayed == received, f"seed {seed} lost other messages the second time"
    assert f"fault seed {seed} (replay" in again.stdout.str()
    other, differs = run_user_tests(pytester, "-k", "lossy", "--netclock-seed", str(int(seed) + 1))
    other.assert_outcomes(failed=1)
    assert differs != received, "another seed lost exactly the same messages"


def test_auto_mode_and_an_explicit_plugin_import_work_too(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["netclock.testing.plugin"]')
    pytester.makepyfile(
        test_auto="""
        from netclock.testing import assert_exactly_once

        async def test_nodes(netclock_nodes, tmp_path):
            a, b = await netclock_nodes("a", "b", log_dir=tmp_path)
            await a.send("b", 1)
            assert (await b.receive(timeout=10)).payload == 1
            await a.flush()
            await a.close()
            await b.close()
            assert_exactly_once(tmp_path)

        def test_seed(netclock_seed, netclock_faults):
            assert netclock_faults().seed == netclock_seed == 99
        """
    )
    result = pytester.runpytest(
        "-p", "no:cacheprovider", *QUIET, "-o", "asyncio_mode=auto", "--netclock-seed", "99"
    )
    result.assert_outcomes(passed=2)


def test_a_bad_seed_is_one_clear_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest("--netclock-seed", "minus one")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--netclock-seed must be an integer between 0 and 2**64-1" in result.stderr.str()


@pytest.mark.slow
def test_a_test_that_times_out_stops_its_nodes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_hangs="""
        import json
        from pathlib import Path

        import pytest

        from netclock import Node


        async def idle(node: Node) -> None:
            await node.receive()


        @pytest.mark.timeout(3)
        @pytest.mark.asyncio
        async def test_hangs(netclock_cluster):
            run = await netclock_cluster({"program": idle, "node": ["a", "b"], "duration": 60})
            pids = [h.pid for h in run.nodes.values()]
            (Path(__file__).parent / "pids.json").write_text(json.dumps(pids))
            await run.wait()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", *QUIET)
    result.assert_outcomes(failed=1)
    assert "Timeout" in result.stdout.str()
    pids = json.loads((pytester.path / "pids.json").read_text(encoding="utf-8"))
    assert len(pids) == 2
    assert [pid for pid in pids if alive(pid)] == []
