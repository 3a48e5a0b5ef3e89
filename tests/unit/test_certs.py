"""Cluster certificates: files, modes, names, extensions, expiry, the certs CLI."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store
from hypothesis import given, settings
from hypothesis import strategies as st

from netclock import Node
from netclock.cli import certs as certs_cli
from netclock.clock import SHIVIZ_RESERVED_IDS, check_pid
from netclock.errors import AuthenticationError, ClockError, ConfigError, UsageError
from netclock.links.tls import certs

pytestmark = pytest.mark.timeout(30)

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def cluster_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder made by init_cluster for nodes a and b, shared read-only by this module."""
    directory = tmp_path_factory.mktemp("cluster") / "certs"
    certs.init_cluster(directory, ["a", "b"], cluster="lab", days=30, now=NOW)
    return directory


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def ext(
    cert: x509.Certificate, kind: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(kind)


# -- files --------------------------------------------------------------------------------------
def test_init_writes_a_ca_and_one_certificate_and_key_per_node(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "certs"
    paths = certs.init_cluster(directory, ["a", "b", "c"])
    assert directory.is_dir()
    assert paths.ca_cert == directory / "ca.pem"
    assert paths.ca_key == directory / "ca.key"
    assert sorted(paths.nodes) == ["a", "b", "c"]
    expected = {"ca.pem", "ca.key"} | {f"{n}.{e}" for n in "abc" for e in ("pem", "key")}
    assert {p.name for p in directory.iterdir()} == expected
    for files in paths.nodes.values():
        load(files.cert).verify_directly_issued_by(load(paths.ca_cert))


def test_private_keys_are_written_with_mode_0600(cluster_dir: Path) -> None:
    for name in ("ca", "a", "b"):
        mode = stat.S_IMODE((cluster_dir / f"{name}.key").stat().st_mode)
        assert mode == 0o600, f"{name}.key has mode {mode:o}"


def test_keys_are_unencrypted_p256_and_match_their_certificates(cluster_dir: Path) -> None:
    for name in ("ca", "a", "b"):
        key = serialization.load_pem_private_key(
            (cluster_dir / f"{name}.key").read_bytes(), password=None
        )
        public = load(cluster_dir / f"{name}.pem").public_key()
        assert key.public_key() == public
        assert public.curve.name == "secp256r1"  # type: ignore[union-attr]


def test_renewing_with_force_keeps_the_key_private(tmp_path: Path) -> None:
    certs.init_cluster(tmp_path, ["a"])
    (tmp_path / "a.key").chmod(0o644)
    certs.add_node(tmp_path, "a", force=True)
    assert stat.S_IMODE((tmp_path / "a.key").stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".*.tmp"))


# -- names and extensions -------------------------------------------------------------------------
def test_node_certificate_names_its_node_in_a_uri_san(cluster_dir: Path) -> None:
    cert = load(cluster_dir / "a.pem")
    san = ext(cert, x509.SubjectAlternativeName).value
    assert isinstance(san, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["netclock://lab/node/a"]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert certs.node_id_from_cert(cert) == ("lab", "a")


def test_node_certificate_carries_strict_x509_extensions(cluster_dir: Path) -> None:
    ca = load(cluster_dir / "ca.pem")
    cert = load(cluster_dir / "b.pem")
    basic = ext(cert, x509.BasicConstraints)
    assert basic.critical
    assert basic.value == x509.BasicConstraints(ca=False, path_length=None)
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical
    assert isinstance(usage.value, x509.KeyUsage)
    assert usage.value.digital_signature
    assert not usage.value.key_cert_sign
    eku = ext(cert, x509.ExtendedKeyUsage).value
    assert isinstance(eku, x509.ExtendedKeyUsage)
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    ski = ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    aki = ext(cert, x509.AuthorityKeyIdentifier).value
    ca_ski = ext(ca, x509.SubjectKeyIdentifier).value
    assert isinstance(aki, x509.AuthorityKeyIdentifier)
    assert isinstance(ca_ski, x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ca_ski.digest
    assert not ext(cert, x509.SubjectAlternativeName).critical


def test_ca_certificate_is_a_path_length_zero_signing_ca(cluster_dir: Path) -> None:
    ca = load(cluster_dir / "ca.pem")
    basic = ext(ca, x509.BasicConstraints)
    assert basic.critical
    assert basic.value == x509.BasicConstraints(ca=True, path_length=0)
    usage = ext(ca, x509.KeyUsage)
    assert usage.critical
    assert isinstance(usage.value, x509.KeyUsage)
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    ext(ca, x509.SubjectKeyIdentifier)
    ext(ca, x509.AuthorityKeyIdentifier)
    assert ca.issuer == ca.subject
    assert certs.cluster_of_ca(ca) == "lab"
    assert ca.not_valid_after_utc - NOW > dt.timedelta(days=3000)


def test_certificates_pass_rfc5280_path_validation_as_client_and_server(cluster_dir: Path) -> None:
    store = Store([load(cluster_dir / "ca.pem")])
    builder = PolicyBuilder().store(store).time(NOW)
    cert = load(cluster_dir / "a.pem")
    client = builder.build_client_verifier().verify(cert, [])
    assert x509.UniformResourceIdentifier("netclock://lab/node/a") in (client.subjects or [])
    for subject in (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))):
        chain = builder.build_server_verifier(subject).verify(cert, [])
        assert chain[0] == cert


# -- node ids ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad",
    [
        *[
            "",
            "a b",
            "tab\t",
            "a/b",
            "..",
            ".hidden",
            "ca",
            "x" * 65,
            "nul\x00",
            'quo"te',
            "back\\",
        ],
        *["a,b", "\U0001f600" * 63, "\u2028", "\x85"],
    ],
)
def test_bad_node_ids_are_rejected_before_anything_is_written(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        certs.init_cluster(tmp_path / "certs", ["ok", bad])
    assert not (tmp_path / "certs").exists()


@pytest.mark.parametrize("bad", ["", "a b", "a/b", "-lab", "lab.", "ünï", "x" * 65])
def test_bad_cluster_names_are_rejected(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        certs.init_cluster(tmp_path, ["a"], cluster=bad)


def test_duplicate_node_ids_and_bad_hosts_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="distinct"):
        certs.init_cluster(tmp_path, ["a", "a"])
    with pytest.raises(ConfigError, match="neither an IP address nor"):
        certs.init_cluster(tmp_path, ["a"], hosts=["bad host"])
    assert not list(tmp_path.iterdir())


def _tls_subset(node: str) -> bool:
    """The constraints check_node_id documents on top of a Node's own rule (check_pid)."""
    return (
        len(node.encode()) <= 64
        and "/" not in node
        and "," not in node
        and not node.startswith(".")
        and node != "ca"
    )


def _accepted(check: Any, node: str, error: type[Exception]) -> bool:
    try:
        check(node)
    except error:
        return False
    return True


EDGE_IDS = [
    "ca",
    "ca2",
    ".a",
    "a.",
    "a/b",
    "a,b",
    "x" * 64,
    "x" * 65,
    "\u00e9" * 32,
    "\u00e9" * 33,
    "\x85",
    "a b",
]


@settings(max_examples=300, deadline=None)
@given(node=st.text(max_size=70) | st.sampled_from(EDGE_IDS) | st.text("\U0001f600ab", max_size=70))
def test_certificates_accept_the_node_ids_of_a_node_within_the_documented_subset(node: str) -> None:
    """One rule for node ids: certs refuse all a Node refuses, plus what certificates need."""
    node_ok = _accepted(check_pid, node, ClockError)
    assert _accepted(certs.check_node_id, node, ConfigError) == (node_ok and _tls_subset(node))


@pytest.mark.parametrize("node", ["a b", 'q"', "back\\", "x" * 256, "a\u2028b", "a\x00b", "a\x85b"])
def test_certs_init_refuses_every_id_a_node_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], node: str
) -> None:
    with pytest.raises(UsageError, match="node id"):
        Node(node)
    assert certs_cli.main(["init", "--nodes", f"ok,{node}", "--dir", str(tmp_path / "c")]) == 2
    assert "node id" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_the_longest_node_id_in_utf8_still_gets_its_certificate(tmp_path: Path) -> None:
    longest = "\U0001f600" * 15 + "\u00e9ab"  # 64 bytes, the most a common name holds
    paths = certs.init_cluster(tmp_path, [longest])
    assert certs.node_id_from_cert(load(paths.nodes[longest].cert))[1] == longest
    with pytest.raises(ConfigError, match="more than 64 bytes in UTF-8"):
        certs.init_cluster(tmp_path, ["\u00e9" * 33], force=True)


node_ids = st.text(min_size=1, max_size=20).filter(
    lambda s: (
        all(c not in s for c in ('"', "\\", "/", ","))
        and s == "".join(s.split())
        and not s.startswith(".")
        and s != "ca"
        and s not in SHIVIZ_RESERVED_IDS
        and s.isprintable()
        and len(s.encode()) <= 64
    )
)


@settings(max_examples=100, deadline=None)
@given(node=node_ids)
def test_node_uri_round_trips_every_valid_node_id(node: str) -> None:
    peer = {"subjectAltName": (("DNS", "localhost"), ("URI", certs.node_uri("lab", node)))}
    assert certs.node_id_from_cert(peer) == ("lab", node), node


def test_non_ascii_node_id_is_percent_encoded_in_its_certificate(tmp_path: Path) -> None:
    certs.init_cluster(tmp_path, ["zoë"])
    cert = load(tmp_path / "zoë.pem")
    san = ext(cert, x509.SubjectAlternativeName).value
    assert isinstance(san, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "netclock://netclock/node/zo%C3%AB"
    ]
    assert certs.node_id_from_cert(cert.public_bytes(serialization.Encoding.DER)) == (
        "netclock",
        "zoë",
    )


@pytest.mark.parametrize(
    "uris",
    [
        [],
        ["https://lab/node/a"],
        ["netclock://lab/node/a", "netclock://lab/node/b"],
        ["netclock://lab/a"],
        ["netclock://lab/node/"],
        ["netclock://lab/node/a/b"],
        ["netclock://lab/node/%61"],
        ["netclock://lab/node/%2Fetc"],
        ["netclock://lab/node/%ff"],
        ["netclock://l%20b/node/a"],
    ],
)
def test_node_id_from_cert_refuses_missing_or_malformed_uris(uris: list[str]) -> None:
    peer = {"subjectAltName": tuple(("URI", u) for u in uris)}
    with pytest.raises(AuthenticationError):
        certs.node_id_from_cert(peer)


def test_node_id_from_cert_refuses_garbage_der_and_certs_without_san() -> None:
    with pytest.raises(AuthenticationError):
        certs.node_id_from_cert(b"\x30\x03junk")
    ca, _ = certs.make_ca("lab", not_before=NOW - DAY, not_after=NOW + DAY)
    with pytest.raises(AuthenticationError, match="subjectAltName"):
        certs.node_id_from_cert(ca)


# -- show, add, overwrite --------------------------------------------------------------------
def test_show_lists_the_ca_first_then_every_node(cluster_dir: Path) -> None:
    infos = certs.show(cluster_dir)
    assert [(i.node, i.cluster, i.is_ca) for i in infos] == [
        (None, "lab", True),
        ("a", "lab", False),
        ("b", "lab", False),
    ]
    assert infos[1].subject == "CN=a,O=lab"
    assert infos[1].days_left in (29, 30)
    assert infos[1].not_before < NOW < infos[1].not_after


def test_show_of_a_missing_folder_names_the_init_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="netclock certs init"):
        certs.show(tmp_path / "nowhere")


def test_add_node_issues_a_certificate_from_the_existing_ca(tmp_path: Path) -> None:
    certs.init_cluster(tmp_path, ["a"], cluster="lab")
    files = certs.add_node(tmp_path, "late", hosts=["node7.example", "10.0.0.7"])
    cert = load(files.cert)
    cert.verify_directly_issued_by(load(tmp_path / "ca.pem"))
    assert certs.node_id_from_cert(cert) == ("lab", "late")
    san = ext(cert, x509.SubjectAlternativeName).value
    assert isinstance(san, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.DNSName) == ["node7.example"]
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert [i.node for i in certs.show(tmp_path)] == [None, "a", "late"]


def test_add_node_refuses_existing_files_unless_forced(tmp_path: Path) -> None:
    certs.init_cluster(tmp_path, ["a"])
    before = load(tmp_path / "a.pem")
    with pytest.raises(ConfigError, match=r"netclock certs add a --dir .* --force"):
        certs.add_node(tmp_path, "a")
    assert load(tmp_path / "a.pem") == before
    certs.add_node(tmp_path, "a", force=True)
    assert load(tmp_path / "a.pem").serial_number != before.serial_number


def test_add_node_without_a_ca_names_the_init_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="netclock certs init"):
        certs.add_node(tmp_path, "a")


def test_add_node_never_outlives_the_ca(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    certs.init_cluster(tmp_path, ["a"], days=10, ca_days=20)
    with caplog.at_level(logging.WARNING, logger="netclock.links.tls.certs"):
        files = certs.add_node(tmp_path, "b", days=400)
    assert load(files.cert).not_valid_after_utc == load(tmp_path / "ca.pem").not_valid_after_utc
    assert "ends with the cluster CA" in caplog.text


def test_init_never_overwrites_an_existing_ca_without_force(tmp_path: Path) -> None:
    certs.init_cluster(tmp_path, ["a"])
    ca_before = (tmp_path / "ca.pem").read_bytes()
    key_before = (tmp_path / "ca.key").read_bytes()
    with pytest.raises(ConfigError, match=r"ca\.pem already exists; pass --force"):
        certs.init_cluster(tmp_path, ["b"])
    assert (tmp_path / "ca.pem").read_bytes() == ca_before
    assert (tmp_path / "ca.key").read_bytes() == key_before
    assert not (tmp_path / "b.pem").exists()


def test_init_with_force_replaces_the_ca_and_warns_about_stale_nodes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    certs.init_cluster(tmp_path, ["a", "b"])
    old_ca = load(tmp_path / "ca.pem")
    with caplog.at_level(logging.WARNING, logger="netclock.links.tls.certs"):
        certs.init_cluster(tmp_path, ["a"], force=True)
    new_ca = load(tmp_path / "ca.pem")
    assert new_ca.public_key() != old_ca.public_key()
    load(tmp_path / "a.pem").verify_directly_issued_by(new_ca)
    assert "b.pem was not issued by the new cluster CA" in caplog.text


# -- deliberately bad certificates and expiry ---------------------------------------------------
def test_make_node_cert_builds_foreign_expired_and_future_certificates(cluster_dir: Path) -> None:
    ca_cert, ca_key = certs.load_ca(cluster_dir)
    other_ca, other_key = certs.make_ca("lab", not_before=NOW - DAY, not_after=NOW + DAY)
    foreign, _ = certs.make_node_cert(
        other_ca, other_key, "a", not_before=NOW - DAY, not_after=NOW + DAY
    )
    with pytest.raises(InvalidSignature):
        foreign.verify_directly_issued_by(ca_cert)
    expired, _ = certs.make_node_cert(
        ca_cert, ca_key, "a", not_before=NOW - 10 * DAY, not_after=NOW - DAY
    )
    assert expired.not_valid_after_utc < NOW
    future, _ = certs.make_node_cert(
        ca_cert, ca_key, "a", not_before=NOW + DAY, not_after=NOW + 10 * DAY
    )
    assert future.not_valid_before_utc > NOW
    with pytest.raises(ConfigError):
        certs.make_node_cert(ca_cert, ca_key, "a", not_before=NOW, not_after=NOW - DAY)


def store_bad(directory: Path, node: str, start: dt.datetime, end: dt.datetime) -> Path:
    certs.init_cluster(directory, ["x"])
    ca_cert, ca_key = certs.load_ca(directory)
    cert, key = certs.make_node_cert(ca_cert, ca_key, node, not_before=start, not_after=end)
    return certs.write_node_files(directory, node, cert, key).cert


def test_check_expiry_warns_when_expiry_is_within_warn_days(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = store_bad(tmp_path, "a", NOW - DAY, NOW + 5 * DAY)
    with caplog.at_level(logging.WARNING, logger="netclock.links.tls.certs"):
        info = certs.check_expiry(path, warn_days=14)
    assert info.node == "a"
    assert f"certificate {path} expires on" in caplog.text
    assert "netclock certs add a" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="netclock.links.tls.certs"):
        certs.check_expiry(path, warn_days=2)
    assert not caplog.records


def test_check_expiry_of_an_expired_certificate_names_the_renew_command(tmp_path: Path) -> None:
    end = NOW - DAY
    path = store_bad(tmp_path, "a", NOW - 10 * DAY, end)
    with pytest.raises(ConfigError) as info:
        certs.check_expiry(path)
    assert str(info.value) == (
        f"certificate {path} expired on {end:%Y-%m-%d}; "
        f"run `netclock certs add a --dir {tmp_path} --force` to renew"
    )


def test_check_expiry_of_a_not_yet_valid_certificate_is_a_config_error(tmp_path: Path) -> None:
    path = store_bad(tmp_path, "a", NOW + DAY, NOW + 10 * DAY)
    with pytest.raises(ConfigError, match=r"is not valid before .* check this machine's clock"):
        certs.check_expiry(path)


def test_show_reports_negative_days_left_for_expired_certificates(tmp_path: Path) -> None:
    store_bad(tmp_path, "old", NOW - 10 * DAY, NOW - 3 * DAY)
    old = next(i for i in certs.show(tmp_path) if i.node == "old")
    assert old.days_left < 0


@pytest.mark.parametrize("key_type", ["p384", "ed25519"])
def test_other_key_types_issue_verifiable_certificates(tmp_path: Path, key_type: str) -> None:
    certs.init_cluster(tmp_path, ["a"], key_type=key_type)  # type: ignore[arg-type]
    load(tmp_path / "a.pem").verify_directly_issued_by(load(tmp_path / "ca.pem"))


# -- command line ---------------------------------------------------------------------------
def test_cli_init_show_and_add(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = str(tmp_path / "certs")
    argv = ["init", "--nodes", "a,b", "--dir", directory, "--cluster", "lab", "--days", "9"]
    assert certs_cli.main(argv) == 0
    assert certs_cli.main(["add", "c", "--dir", directory]) == 0
    capsys.readouterr()
    assert certs_cli.main(["show", "--dir", directory]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NODE", "CLUSTER", "SUBJECT", "EXPIRES", "DAYS", "LEFT"]
    assert [line.split()[0] for line in lines[1:]] == ["(CA)", "a", "b", "c"]
    assert lines[2].split()[1] == "lab"
    assert lines[2].split()[-1] in ("8", "9")


@pytest.mark.parametrize(
    "argv",
    [
        ["init", "--nodes", "a"],
        ["init", "--nodes", "a b"],
        ["init", "--nodes", "a", "--days", "0"],
        ["init"],
        ["add"],
        ["frobnicate"],
        [],
    ],
)
def test_cli_errors_are_one_sentence_and_exit_code_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    certs.init_cluster(tmp_path / "certs", ["a"])
    capsys.readouterr()
    assert certs_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("netclock certs: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_cli_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert certs_cli.main(["--help"]) == 0
    assert "init" in capsys.readouterr().out
