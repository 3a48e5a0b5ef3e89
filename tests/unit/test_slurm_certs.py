"""``netclock certs init --from CLUSTER.toml``: certificates naming a cluster file's hosts."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509

from netclock.cli import certs as certs_cli

pytestmark = pytest.mark.timeout(30)

CLUSTER = """name = "hosts"
program = "p.py:main"
[[node]]
id = "a"
address = "10.77.0.1:0"
[[node]]
id = "b"
address = "node2.lab:9000"
[[node]]
id = "c"
address = "0.0.0.0:0"
"""


def _sans(path: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return set(san.get_values_for_type(x509.DNSName)), ips


@pytest.fixture
def cluster_file(tmp_path: Path) -> Path:
    (tmp_path / "p.py").write_text("async def main(node):\n    pass\n", encoding="utf-8")
    path = tmp_path / "hosts.toml"
    path.write_text(CLUSTER, encoding="utf-8")
    return path


def test_every_node_certificate_names_the_cluster_files_hosts(
    tmp_path: Path, cluster_file: Path
) -> None:
    out = tmp_path / "certs"
    assert certs_cli.main(["init", "--from", str(cluster_file), "--dir", str(out)]) == 0
    for node in ("a", "b", "c"):
        dns, ips = _sans(out / f"{node}.pem")
        assert {"localhost", "node2.lab"} <= dns
        assert {"127.0.0.1", "10.77.0.1", str(ipaddress.ip_address("::1"))} <= ips
        assert "0.0.0.0" not in ips


def test_hosts_given_are_kept_beside_the_files(tmp_path: Path, cluster_file: Path) -> None:
    out = tmp_path / "certs"
    argv = ["init", "--from", str(cluster_file), "--dir", str(out), "--hosts", "10.9.9.9"]
    assert certs_cli.main(argv) == 0
    dns, ips = _sans(out / "a.pem")
    assert ips == {"10.9.9.9", "10.77.0.1"}
    assert dns == {"node2.lab"}


def test_nodes_or_a_cluster_file_but_not_both(
    tmp_path: Path, cluster_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["init", "--from", str(cluster_file), "--nodes", "a", "--dir", str(tmp_path / "x")]
    assert certs_cli.main(argv) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert certs_cli.main(["init", "--dir", str(tmp_path / "y")]) == 2
    assert "--nodes --from is required" in capsys.readouterr().err


def test_a_missing_cluster_file_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert certs_cli.main(["init", "--from", str(tmp_path / "no.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "does not exist" in err
