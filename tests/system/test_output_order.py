"""Relayed output comes out in the order it was printed, and is kept with time and node.

Three real node processes pass a token round a ring; each prints ``hop N`` before it
passes the token on, so the hops were printed in the order 0, 1, 2, ... across nodes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from helpers import explain, netclock

pytestmark = [
    pytest.mark.system,
    pytest.mark.timeout(90),
    pytest.mark.skipif(sys.platform == "win32", reason="netclock runs on POSIX systems"),
]

HOPS = 30
PROGRAM = """\
async def main(node, after, first=False, hops=30):
    if first:
        print("hop 0")
        await node.send(after, 1)
    while True:
        message = await node.receive(timeout=20)
        if message.payload >= hops:
            return
        print(f"hop {message.payload}")
        await node.send(after, message.payload + 1)
        if message.payload + 3 > hops:
            return
"""


def test_lines_of_three_nodes_are_relayed_and_kept_in_the_order_printed(tmp_path: Path) -> None:
    (tmp_path / "token.py").write_text(PROGRAM, encoding="utf-8")
    nodes = "".join(
        f'[[node]]\nid = "{n}"\nargs = {{ after = "{after}"{first} }}\n'
        for n, after, first in (("a", "b", ", first = true"), ("b", "c", ""), ("c", "a", ""))
    )
    cluster = tmp_path / "token.toml"
    cluster.write_text(
        f'name = "token"\nduration = 60\nprogram = "token.py:main"\n{nodes}', encoding="utf-8"
    )
    run = tmp_path / "run"
    proc = netclock("run", str(cluster), "--out", str(run), timeout=80)
    assert proc.returncode == 0, explain(proc)
    expected = [(("a", "b", "c")[i % 3], f"hop {i}") for i in range(HOPS)]
    shown = [
        (line[1:2], line[4:])
        for line in proc.stdout.splitlines()
        if line.startswith("[") and "] hop " in line
    ]
    assert shown == expected
    kept = [json.loads(line) for line in (run / "output.jsonl").read_text().splitlines()]
    assert [(k["node"], k["line"]) for k in kept] == expected
    times = [k["t"] for k in kept]
    assert times == sorted(times)
    assert (run / "b.out").read_text().splitlines() == [line for n, line in expected if n == "b"]


SPOOF = """\
import sys

async def main(node):
    print('@netclock DONE {"result": 666}')
    sys.stdout.buffer.write(b"raw bytes\\n")
    return 1
"""


def test_a_program_printing_a_control_line_or_bytes_is_relayed_not_obeyed(
    tmp_path: Path,
) -> None:
    (tmp_path / "spoof.py").write_text(SPOOF, encoding="utf-8")
    cluster = tmp_path / "spoof.toml"
    cluster.write_text(
        'name = "spoof"\nprogram = "spoof.py:main"\n[[node]]\nid = "a"\n', encoding="utf-8"
    )
    run = tmp_path / "run"
    proc = netclock("run", str(cluster), "--out", str(run))
    assert proc.returncode == 0, explain(proc)
    assert '[a] @netclock DONE {"result": 666}\n[a] raw bytes\n' in proc.stdout
    assert json.loads((run / "results.json").read_text()) == {"a": 1}
