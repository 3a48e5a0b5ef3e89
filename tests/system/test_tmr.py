"""The tmr demo as a user runs it: ``netclock demo tmr``, four OS processes, one voter.

Over tls every request on which one replica lies is voted right and the liar named; two
liars are not masked. Over fairloss the impersonating liar votes twice and wins, and the
checker, judging against the liar's own record of what it forged, says so.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from helpers import check_json, explain, netclock

pytestmark = [
    pytest.mark.system,
    pytest.mark.slow,
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform == "win32", reason="netclock runs on POSIX systems"),
]

ONE_LIAR = range(2, 9)


def _lines(stdout: str) -> dict[int, str]:
    found = re.findall(r"^\[voter\] request +(\d+) (.*)$", stdout, re.MULTILINE)
    return {int(n): text for n, text in found}


def test_tmr_over_tls_masks_one_liar_of_each_kind_and_names_it(tmp_path: Path) -> None:
    run_dir = tmp_path / "tmr"
    proc = netclock("demo", "tmr", "--out", str(run_dir), cwd=tmp_path)
    assert proc.returncode == 0, explain(proc)
    lines = _lines(proc.stdout)
    assert sorted(lines) == list(range(1, 11)), explain(proc)
    for req in ONE_LIAR:
        assert lines[req].endswith("-> right, liar named"), lines[req]
        assert "r3 said" in lines[req] or "r3 was silent" in lines[req], lines[req]
    assert lines[1].endswith("-> right"), lines[1]
    assert "WRONG" in lines[9]
    assert "honest r1 blamed" in lines[9]
    assert lines[10].endswith("NO DECISION"), lines[10]
    assert "7 of 7 voted values right, the liar named in 7" in proc.stdout
    assert "2 of 3 no longer masks two liars" in proc.stdout
    assert "[r3] r3: speaking as r1 over tls: refused" in proc.stdout
    code, report = check_json(run_dir)
    assert code == 0, report


def test_tmr_over_fairloss_lets_an_impersonator_vote_twice_and_the_checker_sees_it(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "tmr-udp"
    proc = netclock("demo", "tmr", "--link", "fairloss", "--out", str(run_dir), cwd=tmp_path)
    lines = _lines(proc.stdout)
    assert "WRONG" in lines[8], explain(proc)
    decided = re.search(r"request 8: \S+ by ([^;]+)", lines[8])  # the forged vote counts as r1's
    assert decided is not None, lines[8]
    assert sorted(decided.group(1).split(", ")) == ["r1", "r3"], lines[8]
    assert "the voter needs authenticated links" in proc.stdout
    code, report = check_json(run_dir)
    authenticity = report["properties"]["authenticity"]
    assert authenticity["count"] >= 1, authenticity
    assert any("forged by r3" in e for e in authenticity["examples"]), authenticity
    assert code == 1, "fairloss promises no creation: a forged message breaks it"
    assert proc.returncode == 1, explain(proc)
    roles = {n["node"]: n["role"] for n in report["nodes"]}
    assert roles == {"voter": "", "r1": "", "r2": "Byzantine", "r3": "Byzantine"}, roles
