"""TLS contexts for the authenticated perfect link: mutual TLS 1.3 inside one cluster.

Both contexts speak TLS 1.3 only, require and verify the peer's certificate against the
cluster CA (the only trust anchor) under strict X.509 rules, and present this node's
certificate. Host names are not checked: a peer is identified by the node id in its
certificate's ``netclock://CLUSTER/node/ID`` URI. After the handshake the link must call
:func:`peer_identity` on the connection's ``ssl_object`` to learn (and check) who is on
the other end; a verified certificate alone proves membership of the CA, not of this cluster.

With TLS 1.3 a client finishes its handshake before the server has judged the client's
certificate: a refused client learns it on its first read, not from the handshake.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from cryptography import x509

from netclock.errors import AuthenticationError, ConfigError, UsageError
from netclock.links.tls.certs import (
    NodeFiles,
    ca_files,
    check_expiry,
    check_node_id,
    cluster_of_ca,
    node_files,
    node_id_from_cert,
)

__all__ = [
    "ClusterContext",
    "check_node_files",
    "client_context",
    "peer_identity",
    "server_context",
]


class ClusterContext(ssl.SSLContext):
    """An ``ssl.SSLContext`` that knows the cluster and node it was built for."""

    cluster: str
    node: str


def _dir_option(directory: Path) -> str:
    return "" if directory == Path("certs") else f" --dir {directory}"


def _require(path: Path, command: str) -> None:
    if not path.is_file():
        raise ConfigError(f"{path} is missing; create it with `{command}`")


def check_node_files(cert_dir: str | os.PathLike[str], node: str) -> tuple[Path, NodeFiles, str]:
    """The CA certificate's path, ``node``'s files and the cluster name, once checked: the
    files exist, are valid now, and ``node``'s certificate names it in the CA's cluster.

    Raises ConfigError naming the command that fixes what is wrong.
    """
    directory = Path(cert_dir)
    check_node_id(node)
    ca_cert, _ = ca_files(directory)
    files = node_files(directory, node)
    d = _dir_option(directory)
    _require(ca_cert, f"netclock certs init --nodes {node},...{d}")
    _require(files.cert, f"netclock certs add {node}{d}")
    _require(files.key, f"netclock certs add {node}{d} --force")
    check_expiry(ca_cert)
    check_expiry(files.cert)
    try:
        ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
        own = x509.load_pem_x509_certificate(files.cert.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the certificates in {directory}: {exc}") from exc
    cluster = cluster_of_ca(ca)
    try:
        named = node_id_from_cert(own)
    except AuthenticationError as exc:
        raise ConfigError(f"{files.cert} is not a netclock node certificate: {exc}") from None
    if named != (cluster, node):
        raise ConfigError(
            f"{files.cert} names node {named[1]!r} of cluster {named[0]!r}, not {node!r} of "
            f"{cluster!r}; re-issue it with `netclock certs add {node}{d} --force`"
        )
    return ca_cert, files, cluster


def _context(cert_dir: str | os.PathLike[str], node: str, *, server: bool) -> ClusterContext:
    ca_cert, files, cluster = check_node_files(cert_dir, node)
    d = _dir_option(Path(cert_dir))
    ctx = ClusterContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.cluster = cluster
    ctx.node = node
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    if server:
        ctx.num_tickets = 0
    try:
        ctx.load_verify_locations(cafile=ca_cert)
    except ssl.SSLError as exc:
        raise ConfigError(f"{ca_cert} cannot be used as the cluster CA: {exc.reason}") from exc
    try:
        ctx.load_cert_chain(files.cert, files.key)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"{files.key} does not fit {files.cert} ({exc.reason}); re-issue both with "
            f"`netclock certs add {node}{d} --force`"
        ) from exc
    return ctx


def server_context(cert_dir: str | os.PathLike[str], node: str) -> ClusterContext:
    """A TLS 1.3 server context for ``node``: presents its certificate, requires the client's.

    Raises ConfigError when a file is missing, unreadable, expired or not yet valid, or the
    certificate names another node or cluster; the message names the command that fixes it.
    """
    return _context(cert_dir, node, server=True)


def client_context(cert_dir: str | os.PathLike[str], node: str) -> ClusterContext:
    """A TLS 1.3 client context for ``node``: presents its certificate, verifies the server's.

    Host names are not checked (``check_hostname`` is off): call :func:`peer_identity` after
    the handshake and compare the node id with the peer you meant to reach.
    Raises ConfigError like :func:`server_context`.
    """
    return _context(cert_dir, node, server=False)


def peer_identity(
    ssl_object: ssl.SSLObject | ssl.SSLSocket,
    *,
    expected: str | None = None,
) -> str:
    """The node id of the peer of a completed handshake made with one of these contexts.

    Reads the certificate the handshake verified and checks that it names a node of this
    context's cluster (and, if given, the ``expected`` node). Raises AuthenticationError
    otherwise; the caller must then close the connection without reading from it.
    """
    ctx = ssl_object.context
    if not isinstance(ctx, ClusterContext):
        raise UsageError("peer_identity needs a connection made with server_context/client_context")
    if ctx.verify_mode != ssl.CERT_REQUIRED:
        raise UsageError("peer_identity needs a context that verifies the peer's certificate")
    try:
        # The dict OpenSSL decoded (in C) from the verified certificate: about half the CPU
        # of parsing its DER again with ``cryptography`` (docs/tls.md, "Cost of a connection").
        decoded = ssl_object.getpeercert()
    except ValueError as exc:  # a name OpenSSL cannot decode (not UTF-8, no type prefix)
        raise AuthenticationError(f"the peer's certificate names cannot be read: {exc}") from None
    if not decoded:
        raise AuthenticationError("the peer presented no certificate")
    cluster, node = node_id_from_cert(decoded)
    if cluster != ctx.cluster:
        raise AuthenticationError(
            f"the peer is node {node!r} of cluster {cluster!r}, not of our cluster {ctx.cluster!r}"
        )
    if expected is not None and node != expected:
        raise AuthenticationError(f"the peer is node {node!r}, not the expected {expected!r}")
    return node
