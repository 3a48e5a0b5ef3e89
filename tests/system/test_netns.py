"""Several hosts, simulated honestly: each node in its own Linux network namespace.

The fixture makes a namespace per node with one interface (``eth0``, an end of a veth
pair, address 10.77.0.N/24) and a namespace holding a bridge the other ends are enslaved
to, so nodes talk over a real routed interface, never 127.0.0.1. Every name is unique to
the test run and everything is removed at teardown, also after a failure. Nodes are
started by hand inside their namespaces (``ip netns exec``) and meet through a rendezvous
folder; their cluster file binds each to its namespace's address. A token bucket
(``tc qdisc ... tbf``) on one node's interface shows the links on a slow path. Without root
or iproute2 the tests skip with one sentence.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import assert_checks_ok, assert_run_folder, explain, netclock

pytestmark = [
    pytest.mark.system,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are Linux's"),
]

DEMOS = Path(__file__).resolve().parents[2] / "demos"
NODES = ["p1", "p2", "p3"]
ROUNDS = 20
WAIT = 120.0
SLOW_PATH = "rate 16kbit burst 2kb latency 2s"
"""The token bucket on p1's interface: 2 kB/s once a 2 kB burst is spent."""
TRIP = re.compile(r"token home after (\d+) rounds: (\d+) hops in ([0-9.]+) s")


def _ip(*argv: str) -> None:
    proc = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(argv)}: {proc.stderr.strip()}")


@dataclass
class Hosts:
    """The namespaces of one test: ``spaces[i]`` is node i's, ``addresses[i]`` its address."""

    spaces: list[str]
    addresses: list[str]

    def exec(self, index: int, argv: list[str]) -> list[str]:
        """``argv`` to run inside node ``index``'s namespace."""
        return ["ip", "netns", "exec", self.spaces[index], *argv]


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    """One namespace per node on a shared bridge; removed at teardown whatever happened."""
    if os.geteuid() != 0:
        pytest.skip("the network-namespace tests need root (ip netns add)")
    if shutil.which("ip") is None or shutil.which("tc") is None:
        pytest.skip("the network-namespace tests need iproute2 (apt-get install iproute2)")
    tag = f"nc{os.getpid() % 10000:04d}{secrets.token_hex(2)}"
    bridge = f"{tag}b"
    spaces = [f"{tag}n{i}" for i in range(len(NODES))]
    made: list[str] = []
    try:
        for space in (bridge, *spaces):
            try:
                _ip("netns", "add", space)
            except RuntimeError as exc:
                pytest.skip(f"network namespaces cannot be made here ({exc})")
            made.append(space)
        _ip("-n", bridge, "link", "add", "br0", "type", "bridge")
        _ip("-n", bridge, "link", "set", "br0", "up")
        addresses = []
        for i, space in enumerate(spaces):
            inner, outer = f"{tag}a{i}", f"{tag}c{i}"
            _ip("link", "add", inner, "type", "veth", "peer", "name", outer)
            _ip("link", "set", inner, "netns", space)
            _ip("link", "set", outer, "netns", bridge)
            _ip("-n", bridge, "link", "set", outer, "master", "br0", "up")
            _ip("-n", space, "link", "set", inner, "name", "eth0")
            addresses.append(f"10.77.0.{i + 1}")
            _ip("-n", space, "addr", "add", f"{addresses[-1]}/24", "dev", "eth0")
            _ip("-n", space, "link", "set", "eth0", "up")
            _ip("-n", space, "link", "set", "lo", "up")
        yield Hosts(spaces, addresses)
    finally:
        for space in reversed(made):
            subprocess.run(
                ["ip", "netns", "del", space], capture_output=True, timeout=30, check=False
            )


def _cluster(tmp_path: Path, hosts: Hosts, link: str) -> Path:
    path = tmp_path / f"ring-{link}.toml"
    path.write_text(
        f'name = "nsring"\nlink = "{link}"\nduration = 90\n'
        f'program = "{DEMOS / "ring.py"}:main"\nargs = {{ rounds = {ROUNDS}, timeout = 3.0 }}\n'
        + "".join(
            f'[[node]]\nid = "{n}"\naddress = "{a}:0"\n'
            for n, a in zip(NODES, hosts.addresses, strict=True)
        ),
        encoding="utf-8",
    )
    return path


def _start(hosts: Hosts, index: int, cluster: Path, run: Path) -> subprocess.Popen[str]:
    """``netclock node --index INDEX`` in node ``index``'s namespace, meeting in ``run``."""
    argv = [sys.executable, "-m", "netclock", "node", str(cluster), "--index", str(index),
            "--rendezvous", str(run / "rendezvous"), "--run-dir", str(run)]  # fmt: skip
    return subprocess.Popen(
        hosts.exec(index, argv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _run_ring(tmp_path: Path, hosts: Hosts, link: str) -> float:
    """Run the ring across the namespaces, check its run folder; the seconds per round."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    cluster = _cluster(tmp_path, hosts, link)
    run = tmp_path / f"run-{link}"
    if link in ("tls", "sealed"):
        certs = netclock("certs", "init", "--from", str(cluster), "--dir", str(tmp_path / "certs"))
        assert certs.returncode == 0, explain(certs)
        text = cluster.read_text(encoding="utf-8")
        cluster.write_text(f'cert_dir = "{tmp_path / "certs"}"\n' + text, encoding="utf-8")
    procs = [_start(hosts, i, cluster, run) for i in range(len(NODES))]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=WAIT))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    for proc, (stdout, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, f"exit {proc.returncode}\n{stdout[-2000:]}\n{stderr[-2000:]}"
    trip = TRIP.search(outputs[0][0])
    assert trip is not None, outputs[0][0][-2000:]
    assert int(trip.group(1)) == ROUNDS
    for i, address in enumerate(hosts.addresses):
        events = (run / f"{NODES[i]}.events.jsonl").read_text(encoding="utf-8")
        assert events, f"{NODES[i]} logged nothing"
        record = (run / "rendezvous" / f"{NODES[i]}.address.json").read_text(encoding="utf-8")
        assert f'"host": "{address}"' in record
    assert_checks_ok(run)
    finished = netclock("slurm", str(cluster), "--finish", str(run))
    assert finished.returncode == 0, explain(finished)
    assert_run_folder(run, NODES)
    return float(trip.group(3)) / ROUNDS


@pytest.mark.parametrize("link", ["reliable", "sealed", "tls"])
def test_the_ring_passes_between_namespaces(tmp_path: Path, hosts: Hosts, link: str) -> None:
    per_round = _run_ring(tmp_path, hosts, link)
    print(f"ring over {link} between namespaces: {per_round * 1000:.1f} ms per round")


def test_a_rate_limited_interface_slows_the_ring_and_loses_nothing(
    tmp_path: Path, hosts: Hosts
) -> None:
    fast = _run_ring(tmp_path / "fast", hosts, "reliable")
    limit = hosts.exec(0, ["tc", "qdisc", "add", "dev", "eth0", "root", "tbf", *SLOW_PATH.split()])
    subprocess.run(limit, check=True, capture_output=True, timeout=30)
    slow = _run_ring(tmp_path / "slow", hosts, "reliable")
    print(
        f"ring over reliable between namespaces: {fast * 1000:.1f} ms per round, "
        f"{slow * 1000:.1f} ms with p1's interface at {SLOW_PATH}"
    )
    assert slow > fast, f"the token bucket did not slow the ring ({slow:.4f} <= {fast:.4f} s)"
