"""Cluster certificates for the authenticated perfect link: one CA, one certificate per node.

A certificate folder holds ``ca.pem``/``ca.key`` (the cluster CA, the only trust anchor of the
``tls`` link) and ``NODE.pem``/``NODE.key`` per node. A node's identity is the URI in its
subjectAltName, ``netclock://<cluster>/node/<id>`` (the id percent-encoded); DNS and IP
entries name the addresses it listens on. Every certificate carries the extensions that
strict X.509 checking (``ssl.VERIFY_X509_STRICT``) demands, so it verifies under Python
3.13's defaults as well. Private keys are unencrypted PKCS#8 PEM files created with mode
0600; protect the folder as you would the keys.

Create a folder with :func:`init_cluster` (or ``netclock certs init --nodes a,b,c``), add a
node with :func:`add_node`, inspect with :func:`show`. :func:`make_ca` and
:func:`make_node_cert` build certificates in memory with any validity period, so tests can
make expired, not-yet-valid or foreign ones and store them with :func:`write_node_files`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias, get_args
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from netclock.clock import check_pid
from netclock.errors import AuthenticationError, ClockError, ConfigError

__all__ = [
    "DEFAULT_HOSTS",
    "CertInfo",
    "CertPaths",
    "KeyType",
    "NodeFiles",
    "PrivateKey",
    "add_node",
    "ca_files",
    "check_cluster_name",
    "cluster_of_ca",
    "check_expiry",
    "check_node_id",
    "init_cluster",
    "load_ca",
    "make_ca",
    "make_node_cert",
    "node_files",
    "node_id_from_cert",
    "node_uri",
    "show",
    "write_node_files",
]

log = logging.getLogger(__name__)

DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
"""The addresses a node certificate names unless told otherwise (loopback only)."""

KeyType = Literal["p256", "p384", "ed25519"]
PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

URI_SCHEME = "netclock"
CA_NAME = "ca"
_CA_MIN_DAYS = 3650
_BACKDATE = dt.timedelta(minutes=5)
"""Certificates start a little in the past so a peer whose clock lags slightly accepts them."""
_MAX_NAME = 64
"""A certificate's common name holds 64 bytes; node ids and cluster names obey the same cap."""
_CLUSTER_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._~-]*[A-Za-z0-9])?")
_URI_RE = re.compile(r"netclock://([^/?#]+)/node/([^/?#]+)")
_DNS_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


# -- names ----------------------------------------------------------------------------------
def check_node_id(node: object) -> str:
    """Return ``node`` if it can name a node of a TLS cluster, else raise ConfigError.

    Every id accepted here is one a Node accepts (:func:`netclock.clock.check_pid`, the one
    rule for node ids). A certificate folder takes the subset that also fits where the id
    goes: at most 64 bytes in UTF-8 (it is the certificate's common name, which
    ``cryptography`` caps at 64 bytes); no ``/`` and no leading ``.`` (it names the files
    ``NODE.pem`` and ``NODE.key``, which must stay visible in the folder); no ``,``
    (``netclock certs init --nodes a,b,c`` separates ids with commas); and not ``ca`` (the
    cluster CA's files). A Node on the ``tls`` link checks its own id here too, so it and
    ``netclock certs`` refuse the same ids.
    """
    try:
        check_pid(node)
    except ClockError as exc:
        raise ConfigError(f"bad node id: {exc}") from None
    assert isinstance(node, str)
    if len(node.encode()) > _MAX_NAME:
        why = "it takes more than 64 bytes in UTF-8, the most a certificate's common name holds"
    elif "/" in node or node.startswith("."):
        why = "it names files in the certificate folder, so no '/' and no leading '.'"
    elif "," in node:
        why = "`netclock certs init --nodes a,b,c` separates ids with commas"
    elif node == CA_NAME:
        why = "ca.pem and ca.key are the cluster CA's files"
    else:
        return node
    raise ConfigError(f"node id {node!r:.80} cannot name a TLS node: {why}")


def check_cluster_name(cluster: object) -> str:
    """Return ``cluster`` if it can be the host part of a node URI, else raise ConfigError."""
    if (
        not isinstance(cluster, str)
        or len(cluster) > _MAX_NAME
        or not _CLUSTER_RE.fullmatch(cluster)
    ):
        raise ConfigError(
            f"cluster name {cluster!r} must be 1-64 ASCII letters, digits, '.', '_', '~' or '-', "
            "starting and ending with a letter or digit"
        )
    return cluster


def node_uri(cluster: str, node: str) -> str:
    """The subjectAltName URI that names ``node`` of ``cluster`` (the id percent-encoded)."""
    return (
        f"{URI_SCHEME}://{check_cluster_name(cluster)}/node/{quote(check_node_id(node), safe='')}"
    )


def _parse_uri(uri: str) -> tuple[str, str]:
    match = _URI_RE.fullmatch(uri)
    if match is None:
        raise AuthenticationError(f"certificate URI {uri!r:.100} is not netclock://CLUSTER/node/ID")
    cluster, encoded = match.groups()
    try:
        node = unquote(encoded, errors="strict")
        check_cluster_name(cluster)
        check_node_id(node)
    except (UnicodeDecodeError, ConfigError) as exc:
        raise AuthenticationError(f"certificate URI {uri!r:.100} names no valid node") from exc
    if quote(node, safe="") != encoded:
        raise AuthenticationError(f"certificate URI {uri!r:.100} is not in canonical form")
    return cluster, node


def node_id_from_cert(cert: x509.Certificate | Mapping[str, Any] | bytes) -> tuple[str, str]:
    """The ``(cluster, node)`` a certificate names in its ``netclock://`` URI.

    ``cert`` is a parsed certificate, DER bytes, or the dict of ``SSLSocket.getpeercert()``.
    This reads the name only: the caller must already know the certificate was verified
    against the cluster CA (as a TLS handshake with CERT_REQUIRED does). Raises
    AuthenticationError when there is no netclock URI, more than one, or a malformed one.
    """
    if isinstance(cert, bytes | bytearray | memoryview):
        try:
            cert = x509.load_der_x509_certificate(bytes(cert))
        except ValueError as exc:
            raise AuthenticationError("the peer's certificate is not valid DER") from exc
    if isinstance(cert, x509.Certificate):
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            raise AuthenticationError("certificate has no subjectAltName naming a node") from None
        except ValueError as exc:
            raise AuthenticationError(f"certificate extensions are malformed: {exc}") from exc
        uris = list(san.get_values_for_type(x509.UniformResourceIdentifier))
    else:
        entries = cert.get("subjectAltName", ())
        uris = [str(value) for kind, value in entries if kind == "URI"]
    ours = [uri for uri in uris if uri.lower().startswith(f"{URI_SCHEME}:")]
    if not ours:
        raise AuthenticationError("certificate has no netclock://CLUSTER/node/ID URI")
    if len(ours) > 1:
        raise AuthenticationError(f"certificate names {len(ours)} netclock nodes; it must name one")
    return _parse_uri(ours[0])


# -- building certificates -------------------------------------------------------------------
def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ConfigError(f"key type {key_type!r} is not one of {', '.join(get_args(KeyType))}")


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    return hashes.SHA384() if key.curve.key_size > 256 else hashes.SHA256()


def _general_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
            continue
        except ValueError:
            pass
        labels = host.rstrip(".").split(".")
        if not host.isascii() or not all(_DNS_LABEL_RE.fullmatch(label) for label in labels):
            raise ConfigError(f"host {host!r} is neither an IP address nor an ASCII DNS name")
        names.append(x509.DNSName(host.rstrip(".").lower()))
    return names


def _check_period(not_before: dt.datetime, not_after: dt.datetime) -> None:
    if not_before.tzinfo is None or not_after.tzinfo is None:
        raise ConfigError("certificate validity times must be timezone-aware (use UTC)")
    if not_after <= not_before:
        raise ConfigError("a certificate's not_after must come after its not_before")


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    *,
    ca: bool,
) -> x509.CertificateBuilder:
    """What a CA and a node certificate share: names, key, period, and the critical
    BasicConstraints and KeyUsage (a CA signs certificates; a node signs handshakes)."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def make_ca(
    cluster: str = "netclock",
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    key_type: KeyType = "p256",
) -> tuple[x509.Certificate, PrivateKey]:
    """A new self-signed cluster CA (path length 0: it signs node certificates only)."""
    check_cluster_name(cluster)
    _check_period(not_before, not_after)
    key = _new_key(key_type)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{cluster} CA"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        _builder(name, name, key, not_before, not_after, ca=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    return builder.sign(key, _hash_for(key)), key


def make_node_cert(
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    node: str,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    cluster: str | None = None,
    hosts: Iterable[str] = DEFAULT_HOSTS,
    key_type: KeyType = "p256",
) -> tuple[x509.Certificate, PrivateKey]:
    """A new key and a certificate for ``node`` signed by ``ca_cert``/``ca_key``.

    ``cluster`` defaults to the CA's. Any period is accepted, including one already over or
    not yet begun: this is also how tests build deliberately bad certificates.
    """
    check_node_id(node)
    cluster = check_cluster_name(cluster if cluster is not None else cluster_of_ca(ca_cert))
    _check_period(not_before, not_after)
    key = _new_key(key_type)
    try:
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
    except x509.ExtensionNotFound:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster),
            x509.NameAttribute(NameOID.COMMON_NAME, node),
        ]
    )
    san = [x509.UniformResourceIdentifier(node_uri(cluster, node)), *_general_names(hosts)]
    builder = (
        _builder(subject, ca_cert.subject, key, not_before, not_after, ca=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(aki, critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
    )
    return builder.sign(ca_key, _hash_for(ca_key)), key


def cluster_of_ca(ca_cert: x509.Certificate) -> str:
    """The cluster name a netclock CA carries in its subject's organisation attribute."""
    orgs = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if len(orgs) != 1 or not isinstance(orgs[0].value, str):
        raise ConfigError("the CA certificate names no cluster (one O= attribute expected)")
    return check_cluster_name(orgs[0].value)


# -- files -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeFiles:
    """Where one node's certificate and private key live."""

    node: str
    cert: Path
    key: Path


@dataclass(frozen=True)
class CertPaths:
    """The files :func:`init_cluster` wrote: the CA's and each node's."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    nodes: Mapping[str, NodeFiles]


@dataclass(frozen=True)
class CertInfo:
    """What :func:`show` reports about one certificate.

    ``node`` is None when the certificate names no netclock node (the CA, or a stranger);
    ``days_left`` is negative once it has expired.
    """

    path: Path
    subject: str
    node: str | None
    cluster: str | None
    is_ca: bool
    not_before: dt.datetime
    not_after: dt.datetime
    days_left: int


def ca_files(directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The paths of the CA certificate and key in ``directory`` (they may not exist)."""
    d = Path(directory)
    return d / f"{CA_NAME}.pem", d / f"{CA_NAME}.key"


def node_files(directory: str | os.PathLike[str], node: str) -> NodeFiles:
    """The paths of ``node``'s certificate and key in ``directory`` (they may not exist)."""
    d = Path(directory)
    check_node_id(node)
    return NodeFiles(node, d / f"{node}.pem", d / f"{node}.key")


def _dir_option(directory: Path) -> str:
    return "" if directory == Path("certs") else f" --dir {directory}"


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a fresh file created with ``mode``, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _make_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create certificate folder {directory}: {exc.strerror}") from exc


def _refuse_existing(paths: Iterable[Path], advice: str) -> None:
    for path in paths:
        if path.exists():
            raise ConfigError(f"{path} already exists; {advice}")


def write_node_files(
    directory: str | os.PathLike[str],
    node: str,
    cert: x509.Certificate,
    key: PrivateKey,
    *,
    force: bool = False,
) -> NodeFiles:
    """Store ``node``'s certificate (mode 0644) and key (mode 0600) in ``directory``.

    Each file is written to a new temporary file and renamed into place, so a key is never
    readable by others, not even for a moment. Raises ConfigError if either file exists
    and ``force`` is false.
    """
    d = Path(directory)
    files = node_files(d, node)
    if not force:
        _refuse_existing(
            (files.cert, files.key),
            f"run `netclock certs add {node}{_dir_option(d)} --force` to re-issue it",
        )
    _make_dir(d)
    try:
        _write_atomically(files.key, _key_pem(key), 0o600)
        _write_atomically(files.cert, _cert_pem(cert), 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot write {node}'s files in {d}: {exc.strerror}") from exc
    return files


def _read_cert(path: Path, advice: str) -> x509.Certificate:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing; {advice}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ConfigError(f"{path} is not a PEM certificate; {advice}") from None


def load_ca(directory: str | os.PathLike[str]) -> tuple[x509.Certificate, PrivateKey]:
    """The cluster CA's certificate and key from ``directory``; ConfigError if unusable."""
    d = Path(directory)
    cert_path, key_path = ca_files(d)
    advice = f"create the cluster CA with `netclock certs init --nodes a,b,c{_dir_option(d)}`"
    cert = _read_cert(cert_path, advice)
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"{key_path} is missing; {advice}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {key_path}: {exc.strerror}") from exc
    except (ValueError, TypeError):
        raise ConfigError(f"{key_path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ConfigError(f"{key_path} holds a {type(key).__name__}; netclock uses EC or Ed25519")
    if key.public_key() != cert.public_key():
        raise ConfigError(f"{key_path} is not the key of {cert_path}")
    return cert, key


def _now(now: dt.datetime | None) -> dt.datetime:
    return dt.datetime.now(dt.UTC) if now is None else now


def _check_days(days: int) -> None:
    if type(days) is not int or days < 1:
        raise ConfigError(f"days must be a whole number of at least 1, not {days!r}")


def init_cluster(
    directory: str | os.PathLike[str],
    nodes: Sequence[str],
    *,
    cluster: str = "netclock",
    days: int = 365,
    hosts: Iterable[str] = DEFAULT_HOSTS,
    force: bool = False,
    ca_days: int | None = None,
    key_type: KeyType = "p256",
    now: dt.datetime | None = None,
) -> CertPaths:
    """Create a cluster CA and a certificate for every node in ``directory``.

    Node certificates are valid ``days`` days; the CA ``ca_days`` (default: the longer of
    ``days`` and ten years), so nodes can be re-issued with :func:`add_node` without a new
    CA. Raises ConfigError, writing nothing, when a target file exists and ``force`` is
    false. With ``force`` the CA is replaced: certificates of nodes not listed in ``nodes``
    no longer verify and must be re-issued.
    """
    d = Path(directory)
    check_cluster_name(cluster)
    _check_days(days)
    if ca_days is None:
        ca_days = max(days, _CA_MIN_DAYS)
    _check_days(ca_days)
    names = [check_node_id(n) for n in nodes]
    if not names:
        raise ConfigError("name at least one node (for example --nodes a,b,c)")
    if len(set(names)) != len(names):
        raise ConfigError(f"node ids must be distinct, got {', '.join(names)}")
    host_list = list(hosts)
    _general_names(host_list)
    ca_cert_path, ca_key_path = ca_files(d)
    if not force:
        _refuse_existing(
            (ca_cert_path, ca_key_path),
            "pass --force to replace the cluster CA and the listed nodes' certificates",
        )
        for name in names:
            _refuse_existing(
                (node_files(d, name).cert, node_files(d, name).key),
                "pass --force to replace it",
            )
    start = _now(now) - _BACKDATE
    ca_cert, ca_key = make_ca(
        cluster,
        not_before=start,
        not_after=start + dt.timedelta(days=ca_days),
        key_type=key_type,
    )
    _make_dir(d)
    try:
        _write_atomically(ca_key_path, _key_pem(ca_key), 0o600)
        _write_atomically(ca_cert_path, _cert_pem(ca_cert), 0o644)
    except OSError as exc:
        raise ConfigError(f"cannot write the cluster CA in {d}: {exc.strerror}") from exc
    written: dict[str, NodeFiles] = {}
    for name in names:
        cert, key = make_node_cert(
            ca_cert,
            ca_key,
            name,
            not_before=start,
            not_after=start + dt.timedelta(days=days),
            cluster=cluster,
            hosts=host_list,
            key_type=key_type,
        )
        written[name] = write_node_files(d, name, cert, key, force=True)
    if force:
        _warn_stale(d, set(names), ca_cert)
    return CertPaths(d, ca_cert_path, ca_key_path, written)


def _warn_stale(directory: Path, fresh: set[str], ca_cert: x509.Certificate) -> None:
    for path in sorted(directory.glob("*.pem")):
        if path.stem in fresh or path.stem == CA_NAME:
            continue
        try:
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            cert.verify_directly_issued_by(ca_cert)
        except (OSError, ValueError, TypeError, InvalidSignature):
            log.warning(
                "%s was not issued by the new cluster CA; re-issue it with "
                "`netclock certs add %s%s --force`",
                path,
                path.stem,
                _dir_option(directory),
            )


def add_node(
    directory: str | os.PathLike[str],
    name: str,
    *,
    days: int = 365,
    hosts: Iterable[str] = DEFAULT_HOSTS,
    force: bool = False,
    key_type: KeyType = "p256",
    now: dt.datetime | None = None,
) -> NodeFiles:
    """Issue a certificate for node ``name`` with the CA already in ``directory``.

    The certificate never outlives the CA (its end is clamped, with a warning). Raises
    ConfigError when the CA is missing or unusable, or when the node's files exist and
    ``force`` is false (with ``force`` this is how a node's certificate is renewed).
    """
    d = Path(directory)
    check_node_id(name)
    _check_days(days)
    files = node_files(d, name)
    if not force:
        _refuse_existing(
            (files.cert, files.key),
            f"run `netclock certs add {name}{_dir_option(d)} --force` to re-issue it",
        )
    ca_cert, ca_key = load_ca(d)
    moment = _now(now)
    start = moment - _BACKDATE
    end = start + dt.timedelta(days=days)
    ca_end = ca_cert.not_valid_after_utc
    if ca_end <= moment:
        raise ConfigError(
            f"the cluster CA {ca_files(d)[0]} expired on {ca_end:%Y-%m-%d}; create a new one "
            f"with `netclock certs init --nodes ...{_dir_option(d)} --force`"
        )
    if end > ca_end:
        log.warning("%s's certificate ends with the cluster CA on %s", name, f"{ca_end:%Y-%m-%d}")
        end = ca_end
    cert, key = make_node_cert(
        ca_cert, ca_key, name, not_before=start, not_after=end, hosts=hosts, key_type=key_type
    )
    return write_node_files(d, name, cert, key, force=True)


# -- inspection ------------------------------------------------------------------------------
def _info(path: Path, cert: x509.Certificate, now: dt.datetime) -> CertInfo:
    not_after = cert.not_valid_after_utc
    node: str | None
    cluster: str | None
    try:
        cluster, node = node_id_from_cert(cert)
    except AuthenticationError:
        node = None
        try:
            cluster = cluster_of_ca(cert)
        except ConfigError:
            cluster = None
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = basic.ca
    except (x509.ExtensionNotFound, ValueError):
        is_ca = False
    return CertInfo(
        path=path,
        subject=cert.subject.rfc4514_string(),
        node=node,
        cluster=cluster,
        is_ca=is_ca,
        not_before=cert.not_valid_before_utc,
        not_after=not_after,
        days_left=(not_after - now) // dt.timedelta(days=1),
    )


def show(directory: str | os.PathLike[str], *, now: dt.datetime | None = None) -> list[CertInfo]:
    """Every certificate in ``directory``, the CA first, then nodes by id.

    ``days_left`` is negative once a certificate has expired. Raises ConfigError when the
    folder does not exist or a ``.pem`` file in it is not a certificate.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(
            f"certificate folder {d} does not exist; create it with "
            f"`netclock certs init --nodes a,b,c{_dir_option(d)}`"
        )
    moment = _now(now)
    infos = [
        _info(path, _read_cert(path, "remove it or re-issue it"), moment)
        for path in sorted(d.glob("*.pem"))
    ]
    infos.sort(key=lambda i: (not i.is_ca, i.node or "", str(i.path)))
    return infos


def check_expiry(
    cert_path: str | os.PathLike[str],
    warn_days: int = 14,
    *,
    now: dt.datetime | None = None,
) -> CertInfo:
    """Check that the certificate at ``cert_path`` is valid now; return what it says.

    Logs a warning when it expires within ``warn_days``; raises ConfigError (saying which
    command renews it) when it has expired or is not valid yet.
    """
    path = Path(cert_path)
    moment = _now(now)
    info = _info(path, _read_cert(path, "create it with `netclock certs init`"), moment)
    d = _dir_option(path.parent)
    renew = (
        f"`netclock certs add {info.node}{d} --force`"
        if info.node is not None
        else f"`netclock certs init --nodes ...{d} --force`"
    )
    if info.not_after <= moment:
        raise ConfigError(
            f"certificate {path} expired on {info.not_after:%Y-%m-%d}; run {renew} to renew"
        )
    if info.not_before > moment:
        raise ConfigError(
            f"certificate {path} is not valid before {info.not_before:%Y-%m-%d %H:%M} UTC; "
            f"check this machine's clock or run {renew} to re-issue it"
        )
    if info.not_after - moment <= dt.timedelta(days=warn_days):
        log.warning(
            "certificate %s expires on %s (in %d days); run %s to renew",
            path,
            f"{info.not_after:%Y-%m-%d}",
            max(info.days_left, 0),
            renew,
        )
    return info
