"""Omission faults in a cluster file, end to end: the launcher's nodes omit what the plan
says, and the checker marks the faulty node and counts its omissions apart from loss."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import check_json, explain, netclock

from netclock.cli.demo import demos_dir

pytestmark = [
    pytest.mark.system,
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform == "win32", reason="netclock runs on POSIX systems"),
]


@pytest.mark.slow
@pytest.mark.parametrize("link", ["fairloss", "reliable"])
def test_an_omission_node_is_marked_and_its_omissions_counted_apart(
    tmp_path: Path, link: str
) -> None:
    cluster = tmp_path / "omission.toml"
    cluster.write_text(
        f"""
name = "omission"
link = "{link}"
duration = 30
program = "{demos_dir() / "lossy.py"}:main"
args = {{ count = 100, quiet = 0.5 }}
[faults]
seed = 5
omission = {{ a = {{ send = 0.3, receive = 0.2 }} }}
[[node]]
id = "a"
[[node]]
id = "b"
""",
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    proc = netclock("run", str(cluster), "--out", str(run_dir), cwd=tmp_path)
    assert proc.returncode == 0, explain(proc, 5)
    code, report = check_json(run_dir)
    assert code == 0, report
    roles = {n["node"]: n["role"] for n in report["nodes"]}
    assert roles == {"a": "omission", "b": ""}, roles
    (note,) = [n for n in report["notes"] if n.startswith("a has omission faults")]
    assert "datagram(s) omitted on send (to b:" in note, note
    pair = next(p for p in report["pairs"] if p["sender"] == "a")
    if link == "reliable":
        assert pair["lost"] == 0, "the perfect link masks omissions by retransmission"
    else:
        assert pair["lost"] > 0, "over fairloss a's omitted sends are never delivered"
