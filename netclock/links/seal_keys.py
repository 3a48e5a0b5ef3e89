"""Pair secrets of the ``sealed`` link, from the cluster's certificates (no extra secret).

A node's pair secret with a peer is the ECDH of its own certificate key with the public
key in the peer's certificate: both ends compute the same bytes, nobody else can. The
peer's certificate (``PEER.pem`` in the same ``cert_dir``) is checked as the TLS link
checks one: issued by the cluster CA, valid now, naming that peer of this cluster. Keys
must be EC (``p256``, the default of ``netclock certs init``, or ``p384``); Ed25519
certificates cannot do ECDH and are refused with the command that re-issues them.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from netclock.errors import AuthenticationError, ConfigError
from netclock.links.tls.certs import check_expiry, check_node_id, node_files, node_id_from_cert
from netclock.links.tls.contexts import check_node_files

__all__ = ["PairSecrets"]


def _dir_option(directory: Path) -> str:
    return "" if directory == Path("certs") else f" --dir {directory}"


class PairSecrets:
    """This node's certificate key and the cluster CA; :meth:`secret_for` gives pair secrets.

    Raises ConfigError (naming the command that fixes it) when a file is missing, expired,
    not issued by the CA, names another node or cluster, or holds a non-EC key.
    """

    def __init__(self, cert_dir: str | os.PathLike[str], node: str) -> None:
        self.directory = Path(cert_dir)
        self.node = node
        ca_path, files, self.cluster = check_node_files(cert_dir, node)
        self._ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
        own = self._certificate(node)
        reissue = f"`netclock certs add {node}{_dir_option(self.directory)} --force`"
        try:
            key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"{files.key} is not a usable key ({exc}); {reissue}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(
                f"the sealed link needs EC certificate keys (p256 or p384) for ECDH, and "
                f"{files.key} is not one; re-issue the cluster's certificates with `netclock "
                f"certs init --nodes ...{_dir_option(self.directory)} --force` (p256 is the "
                "default) or use link tls"
            )
        if key.public_key() != own.public_key():
            raise ConfigError(f"{files.key} is not the key of {files.cert}; {reissue}")
        self._key = key

    def _certificate(self, node: str) -> x509.Certificate:
        """``node``'s certificate, checked against the CA, the clock and its name."""
        files = node_files(self.directory, node)
        fix = f"`netclock certs add {node}{_dir_option(self.directory)} --force`"
        if not files.cert.is_file():
            raise ConfigError(f"{files.cert} is missing; create it with {fix}")
        check_expiry(files.cert)
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        try:
            cert.verify_directly_issued_by(self._ca)
        except (ValueError, TypeError, InvalidSignature):
            raise ConfigError(f"{files.cert} was not issued by the cluster CA; run {fix}") from None
        try:
            named = node_id_from_cert(cert)
        except AuthenticationError as exc:
            raise ConfigError(f"{files.cert} is not a netclock node certificate: {exc}") from None
        if named != (self.cluster, node):
            raise ConfigError(
                f"{files.cert} names node {named[1]!r} of cluster {named[0]!r}, not {node!r} "
                f"of {self.cluster!r}; run {fix}"
            )
        return cert

    def secret_for(self, peer: str) -> bytes:
        """The ECDH secret this node shares with ``peer`` (ConfigError if it cannot)."""
        public = self._certificate(check_node_id(peer)).public_key()
        fix = f"`netclock certs add {peer}{_dir_option(self.directory)} --force --key-type p256`"
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise ConfigError(f"{peer}'s certificate key is not EC; re-issue it with {fix}")
        if public.curve.name != self._key.curve.name:
            raise ConfigError(
                f"{peer}'s certificate key is on {public.curve.name}, ours on "
                f"{self._key.curve.name}; re-issue it with {fix}"
            )
        return self._key.exchange(ec.ECDH(), public)
