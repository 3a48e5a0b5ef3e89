"""A test certificate authority: one cluster CA, node certificates issued on demand."""

from __future__ import annotations

from pathlib import Path

from netclock.links.tls.certs import CA_NAME, add_node, init_cluster, node_files

__all__ = ["TestCA"]


class TestCA:
    """A cluster CA in ``directory``, made on first use; :meth:`issue` adds node certificates.

    The folder is a ``cert_dir`` for the ``tls`` and ``sealed`` links: ``ca.pem`` plus
    ``NODE.pem`` and ``NODE.key`` per node issued. Node ids are shared by every user of the
    CA: issuing an id twice keeps the first certificate.
    """

    __test__ = False  # not a test class, whatever pytest's naming rules say

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def issue(self, *nodes: str) -> Path:
        """Make sure each of ``nodes`` has a certificate; returns the certificate folder."""
        if not (self.directory / f"{CA_NAME}.pem").is_file():
            init_cluster(self.directory, list(nodes))  # ConfigError when no node is named
        for node in nodes:
            if not node_files(self.directory, node).cert.is_file():
                add_node(self.directory, node)
        return self.directory
