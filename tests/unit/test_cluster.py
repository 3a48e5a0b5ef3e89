"""Cluster files: what they accept, and one clear sentence for each mistake."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from netclock.cluster.config import (
    load_cluster,
    load_program,
    parse_cluster,
    unhonoured_faults,
    unreached_actions,
    unused_certificates,
)
from netclock.errors import ConfigError
from netclock.faults.plan import FaultPlan

pytestmark = pytest.mark.timeout(10)

GOOD = """
name = "demo"
link = "fairloss"
duration = 5
program = "algo.py:main"
args = { rounds = 2 }

[faults]
seed = 3
loss = 0.25

[[node]]
id = "a"
args = { rounds = 5 }

[[node]]
id = "b"
address = "127.0.0.1:9100"

[[action]]
at = 1.5
do = "partition"
nodes = ["a", "b"]

[[action]]
at = 0.5
do = "pause"
node = "b"
"""


NODE_A = '[[node]]\nid = "a"\nprogram = "x.py:m"\n'


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "algo.py").write_text("async def main(node, rounds=1):\n    return rounds\n")
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_a_good_file_parses_with_defaults_and_per_node_args(tmp_path: Path) -> None:
    cluster = load_cluster(write(tmp_path, GOOD))
    assert cluster.name == "demo"
    assert cluster.link == "fairloss"
    assert cluster.node_ids == ["a", "b"]
    assert cluster.node("a").args == {"rounds": 5}
    assert cluster.node("b").args == {"rounds": 2}
    assert cluster.node("a").address == ("127.0.0.1", 0)
    assert cluster.node("b").address == ("127.0.0.1", 9100)
    assert cluster.faults is not None
    assert cluster.faults.loss == 0.25
    assert [(a.at, a.do, a.nodes) for a in cluster.actions] == [
        (0.5, "pause", ("b",)),
        (1.5, "partition", ("a", "b")),
    ]


def test_overrides_replace_top_level_keys(tmp_path: Path) -> None:
    cluster = load_cluster(write(tmp_path, GOOD), {"link": "reliable", "duration": 2.0})
    assert cluster.link == "reliable"
    assert cluster.duration == 2.0
    assert cluster.overrides == {"link": "reliable", "duration": 2.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('speed = 1\n[[node]]\nid = "a"\nprogram = "x.py:m"', "unknown key 'speed'"),
        (
            'linkk = "tls"\n[[node]]\nid = "a"\nprogram = "x.py:m"',
            "unknown key 'linkk' (did you mean 'link'?); allowed keys are",
        ),
        (
            '[[node]]\nidd = "a"\nprogram = "x.py:m"',
            "unknown key 'idd' in node[0] (did you mean 'id'?)",
        ),
        ('link = "tcp"\n[[node]]\nid = "a"\nprogram = "x.py:m"', "link must be one of"),
        ('duration = "long"\n[[node]]\nid = "a"\nprogram = "x.py:m"', "duration must be a number"),
        ("duration = true\n[[node]]\nid = 'a'\nprogram = 'x.py:m'", "duration must be a number"),
        ('name = "x"', "has no [[node]] tables"),
        ('[[node]]\nid = "a"', "node 'a' has no program"),
        ('[[node]]\nid = "a b"\nprogram = "x.py:m"', "node[0].id"),
        (
            '[[node]]\nid = "a"\nprogram = "x.py:m"\ncolour = 1',
            "unknown key 'colour' in node[0]; allowed",
        ),
        (
            '[[node]]\nid = "a"\nprogram = "x.py:m"\n[[node]]\nid = "a"\nprogram = "x.py:m"',
            "appears twice",
        ),
        ('[[node]]\nid = "a"\nprogram = "x.py:m"\naddress = "nowhere"', "must look like"),
        ('name = "my run/x"\n[[node]]\nid = "a"\nprogram = "x.py:m"', "without / or"),
        ('name = "../up"\n[[node]]\nid = "a"\nprogram = "x.py:m"', "without / or"),
        ('name = " "\n[[node]]\nid = "a"\nprogram = "x.py:m"', "names the run folder"),
        (
            '[[node]]\nid = "a"\nprogram = "x.py:m"\n[[action]]\nat = -1\ndo = "kill"\nnode = "a"',
            "action[0].at must be seconds after the start, >= 0, not -1",
        ),
        (
            '[[node]]\nid = "a"\nprogram = "x.py:m"\n[[action]]\nat = nan\ndo = "kill"\nnode = "a"',
            "action[0].at must be seconds after the start, >= 0, not nan",
        ),
        (
            '[[node]]\nid = "a"\nprogram = "x.py:m"\naddress = "127.0.0.1:70000"',
            "port 70000 is out of range",
        ),
        (
            '[[node]]\nid = "a"\nprogram = "x.py:m"\naddress = "127.0.0.1:65536"',
            "port 65536 is out of range",
        ),
        (
            NODE_A + '[[action]]\nat = 1\ndo = "explode"\nnode = "a"',
            "'explode' is not an action",
        ),
        (
            '[[node]]\nid = "a"\nprogram = "x.py:m"\n[[action]]\nat = 1\ndo = "kill"\nnode = "z"',
            "no node 'z'",
        ),
        (
            NODE_A + '[[action]]\nat = 1\ndo = "partition"\nnode = "a"',
            "partition names 2 node(s), not 1",
        ),
        ('[[node]]\nid = "a"\nprogram = "x.py:m"\n[[action]]\ndo = "kill"\nnode = "a"', "needs at"),
        ('compare_links = ["udp"]\n[[node]]\nid = "a"\nprogram = "x.py:m"', "compare_links"),
        ('[faults]\nloss = 2\n[[node]]\nid = "a"\nprogram = "x.py:m"', "loss"),
    ],
)
def test_each_mistake_is_one_sentence_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_cluster(write(tmp_path, text))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_and_malformed_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_cluster(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_cluster(write(tmp_path, "name = "))
    with pytest.raises(ConfigError, match="is a folder; give the cluster file in it"):
        load_cluster(tmp_path)
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_cluster(tmp_path / "binary.toml")


def test_programs_load_from_files_and_modules(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    (tmp_path / "sub").mkdir()
    assert load_program("algo.py:main", tmp_path).__name__ == "main"
    assert load_program("asyncio:sleep", tmp_path).__name__ == "sleep"
    for spec, message in [
        ("algo.py", "must look like"),
        ("missing.py:main", "does not exist"),
        ("sub/:main", "is a folder; name the .py file in it"),
        ("algo.py:nothing", "has no function 'nothing'"),
        ("no_such_module_xyz:main", "cannot import"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_program(spec, tmp_path)


def test_a_program_that_cannot_be_imported_is_one_sentence_naming_file_and_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "typo.py").write_text("x = 1\nasync def main(node)\n    pass\n")
    (tmp_path / "imports.py").write_text("import no_such_module_xyz\n")
    (tmp_path / "algo.py").write_text("async def main(node):\n    pass\n")
    for spec, message in [
        ("typo.py:main", r"cannot import .*typo\.py, line 2: SyntaxError: expected ':'"),
        ("imports.py:main", r"imports\.py, line 1: ModuleNotFoundError: No module named"),
        ("algo.py:mian", r"algo\.py has no function 'mian' \(it has main\)"),
    ]:
        with pytest.raises(ConfigError, match=message) as caught:
            load_program(spec, tmp_path)
        assert "\n" not in str(caught.value)


def test_parse_cluster_takes_an_already_read_table(tmp_path: Path) -> None:
    cluster = parse_cluster(
        {"node": [{"id": "a", "program": "x.py:m"}]}, base_dir=tmp_path, default_name="t"
    )
    assert cluster.name == "t"
    assert cluster.link == "reliable"


def test_faults_a_stream_cannot_honour_are_named_for_the_tls_link() -> None:
    plan = FaultPlan.from_dict(
        {"loss": 0.2, "delay": "2ms", "links": {"a->b": {"duplicate": 0.1}, "b->a": {"loss": 0}}}
    )
    warnings = unhonoured_faults(plan, "tls")
    assert [w.split(" ")[0] for w in warnings] == ["faults.loss", "faults.links.a->b.duplicate"]
    assert "ignored on the tls link" in warnings[0]
    assert unhonoured_faults(plan, "reliable") == []
    assert unhonoured_faults(FaultPlan.from_dict({"delay": "2ms"}), "tls") == []
    assert unhonoured_faults(None, "tls") == []


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ({"omission": {"zed": {"send": 0.1}}}, "faults.omission names node 'zed'"),
        ({"partitions": [{"between": ["a", "zed"]}]}, "faults.partitions names node 'zed'"),
        ({"links": {"a->zed": {"loss": 0.5}}}, "faults.links names node 'zed'"),
    ],
)
def test_a_fault_naming_a_node_the_cluster_lacks_is_refused(
    tmp_path: Path, faults: dict[str, Any], message: str
) -> None:
    data = {"program": "x.py:main", "node": [{"id": "a"}, {"id": "b"}], "faults": faults}
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_cluster(data, base_dir=tmp_path)


def test_omission_on_the_tls_link_is_refused_when_the_file_is_read(tmp_path: Path) -> None:
    data = {
        "link": "tls",
        "program": "x.py:main",
        "node": [{"id": "a"}, {"id": "b"}],
        "faults": {"omission": {"a": {"send": 0.1}}},
    }
    with pytest.raises(ConfigError, match="not possible on the tls link"):
        parse_cluster(data, base_dir=tmp_path)


def test_an_action_due_after_the_duration_is_a_warning(tmp_path: Path) -> None:
    text = (
        'duration = 2\n[[node]]\nid = "a"\nprogram = "x.py:m"\n'
        '[[action]]\nat = 1\ndo = "pause"\nnode = "a"\n'
        '[[action]]\nat = 50\ndo = "kill"\nnode = "a"\n'
    )
    cluster = load_cluster(write(tmp_path, text))
    assert unreached_actions(cluster) == [
        "action kill a at 50 s will not happen: the run's duration is 2 s"
    ]
    assert unreached_actions(load_cluster(write(tmp_path, text), {"duration": 60})) == []


def test_a_dotted_cluster_file_without_a_name_names_its_runs_without_the_dot(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".lab.toml"
    path.write_text('[[node]]\nid = "a"\nprogram = "x.py:m"\n')
    assert load_cluster(path).name == "lab"


@pytest.mark.parametrize(
    ("link", "warned"), [("reliable", True), ("tls", False), ("sealed", False)]
)
def test_certificates_on_a_link_without_them_are_a_warning(
    tmp_path: Path, link: str, warned: bool
) -> None:
    text = f'link = "{link}"\ncert_dir = "certs"\n[[node]]\nid = "a"\nprogram = "x.py:m"\n'
    expected = [
        f"cert_dir is ignored on the {link} link (only the sealed and tls links use certificates)"
    ]
    assert unused_certificates(load_cluster(write(tmp_path, text))) == (expected if warned else [])
