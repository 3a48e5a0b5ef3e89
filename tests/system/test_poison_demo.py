"""The poison demo as a user runs it: ``netclock demo poison``, four OS processes.

mallory, a member, stamps messages with lying clocks (a huge entry for carol told to alice,
a huge entry of its own told to bob, a 1,000-entry clock and a claim about carol's future
told to carol). The honest three still exchange every message exactly once and in order;
carol ignores every claim about herself, refuses the bloated clock before its ack (mallory
is told why), and the checker, judging against mallory's own record, says so.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from helpers import check_json, explain, netclock

pytestmark = [
    pytest.mark.system,
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform == "win32", reason="netclock runs on POSIX systems"),
]


@pytest.mark.parametrize(
    "link",
    ["reliable", *(pytest.param(k, marks=pytest.mark.slow) for k in ("sealed", "tls"))],
)
def test_honest_processes_talk_on_through_a_members_lying_clocks(tmp_path: Path, link: str) -> None:
    run_dir = tmp_path / link
    proc = netclock("demo", "poison", "--link", link, "--out", str(run_dir), cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    out = proc.stdout
    for node in ("alice", "bob", "carol"):
        assert f"[{node}] {node}: " in out, explain(proc)
        line = re.search(rf"^\[{node}\] {node}: \d+ from .*$", out, re.MULTILINE)
        assert line is not None, out
        assert "every message exactly once and in order" in line[0], out
    assert "carol at 18446744073709551615" in out, "alice merged the lie about carol"
    claims = re.search(
        r"\[carol\] carol: my own entry (\d+); false claims about me ignored: (\d+); "
        r"refused: (\d+)",
        out,
    )
    assert claims is not None, out
    assert int(claims[1]) < 2**62, claims[0]
    assert int(claims[2]) >= 51, claims[0]
    assert int(claims[3]) == 1, claims[0]
    assert "[mallory] mallory: carol refused" in out
    assert "more than the limit of 256" in out
    code, report = check_json(run_dir)
    assert code == 0, report
    roles = {n["node"]: n["role"] for n in report["nodes"]}
    assert roles == {"alice": "", "bob": "", "carol": "", "mallory": "Byzantine"}
    notes = " | ".join(report["notes"])
    assert "carol refused 1 input(s)" in notes
    assert "claimed more of carol than it had done" in notes
