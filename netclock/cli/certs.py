"""``netclock certs init|add|show``: the cluster's CA and node certificates.

``init --from CLUSTER.toml`` issues a certificate for every node of a cluster file, naming
in each (as IP or DNS subject alternative names) the hosts the file gives its nodes, beside
``--hosts`` (loopback by default).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn, get_args

from netclock.cli.exits import EXIT_USAGE
from netclock.errors import ConfigError, NetclockError
from netclock.links.tls.certs import DEFAULT_HOSTS, CertInfo, KeyType, add_node, init_cluster, show


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``netclock certs``."""
    parser = _Parser(prog="netclock certs", description="Create and inspect cluster certificates.")
    sub = parser.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=_Parser
    )

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dir", default="certs", help="certificate folder (default: certs)")

    def issuing(p: argparse.ArgumentParser) -> None:
        p.add_argument("--days", type=int, default=365, help="node certificate lifetime")
        p.add_argument(
            "--hosts",
            default=",".join(DEFAULT_HOSTS),
            help="comma-separated DNS names and IP addresses the nodes listen on",
        )
        p.add_argument("--key-type", choices=get_args(KeyType), default="p256")
        p.add_argument("--force", action="store_true", help="replace existing files")

    init = sub.add_parser("init", help="create a cluster CA and node certificates")
    which = init.add_mutually_exclusive_group(required=True)
    which.add_argument("--nodes", help="comma-separated node ids: a,b,c")
    which.add_argument(
        "--from", dest="cluster_file", help="a cluster file: its nodes, and its hosts as names"
    )
    init.add_argument("--cluster", default="netclock", help="cluster name (default: netclock)")
    common(init)
    issuing(init)
    add = sub.add_parser("add", help="issue (or with --force renew) one node's certificate")
    add.add_argument("name")
    common(add)
    issuing(add)
    show_p = sub.add_parser("show", help="list the certificates and when they expire")
    common(show_p)
    return parser


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def cluster_nodes_and_hosts(path: str, hosts: Sequence[str]) -> tuple[list[str], list[str]]:
    """The node ids of a cluster file, and ``hosts`` with every host its nodes are bound to.

    A wildcard bind names no host (the certificate cannot know which address a peer will
    use; pass them with ``--hosts``).
    """
    from netclock.cluster.config import load_cluster

    cluster = load_cluster(path)
    named = [n.address[0] for n in cluster.nodes if n.address[0] not in WILDCARD_HOSTS]
    return cluster.node_ids, list(dict.fromkeys([*hosts, *named]))


def _table(infos: Sequence[CertInfo]) -> str:
    rows = [("NODE", "CLUSTER", "SUBJECT", "EXPIRES", "DAYS LEFT")]
    for i in infos:
        left = "expired" if i.days_left < 0 else str(i.days_left)
        rows.append(
            (
                "(CA)" if i.is_ca else (i.node or "?"),
                i.cluster or "?",
                i.subject,
                f"{i.not_after:%Y-%m-%d %H:%M} UTC",
                left,
            )
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def main(argv: Sequence[str]) -> int:
    """``netclock certs init|add|show``; returns the exit code (2 after a one-line error)."""
    try:
        args = build_parser().parse_args(list(argv))
        if args.action == "init":
            nodes, hosts = _split(args.nodes or ""), _split(args.hosts)
            if args.cluster_file:
                nodes, hosts = cluster_nodes_and_hosts(args.cluster_file, hosts)
            paths = init_cluster(
                args.dir,
                nodes,
                cluster=args.cluster,
                days=args.days,
                hosts=hosts,
                force=args.force,
                key_type=args.key_type,
            )
            count = len(paths.nodes)
            print(f"wrote the {args.cluster} CA and {count} node certificates in {args.dir}")
        elif args.action == "add":
            files = add_node(
                args.dir,
                args.name,
                days=args.days,
                hosts=_split(args.hosts),
                force=args.force,
                key_type=args.key_type,
            )
            print(f"wrote {files.cert} and {files.key}")
        else:
            print(_table(show(args.dir)))
    except NetclockError as exc:
        print(f"netclock certs: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0
