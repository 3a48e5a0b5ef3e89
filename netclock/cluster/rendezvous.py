"""Rendezvous through a shared folder: nodes started independently learn each other's addresses.

Nodes started by SLURM, by hand or by any process manager have no launcher to tell them
where their peers are. Each node instead writes small files into one folder that all of
them can read (a run folder on a shared filesystem, as HPC clusters have), in three
stages, and waits until every node of the cluster has reached the same stage:

1. ``address``: the address it is bound to (a wildcard bind publishes the address of the
   interface that routes outwards, :func:`advertised_host`), its host name and pid;
2. ``peers``: it knows every peer's address, so a datagram sent to it is no longer
   dropped as from an unknown peer (the launcher's "go" step, without a launcher);
3. ``done``: its program has returned; a node keeps its link open until every node is
   done (or the run's duration is over), so late messages still find their receivers.

Every file is written whole under a temporary name and renamed into place, so a reader
sees a complete file or none, also over NFS. A stage that not every node reaches in time
raises one :class:`ConfigError` naming the nodes that never showed up. A file that is not
what this module writes (garbage in the folder) is counted, logged at debug level and
treated as missing. The folder must be fresh for each run: a file left by an earlier
run would be read as this run's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from netclock.errors import ConfigError
from netclock.links.base import Address

log = logging.getLogger(__name__)

STAGES = ("address", "peers", "done")
"""The stages every node passes, in order (see the module docstring)."""
RENDEZVOUS_TIMEOUT = 60.0
"""Default seconds a node waits for the others to reach a stage before it gives up."""
_POLL_FIRST = 0.01
_POLL_MOST = 0.25
_WILDCARDS = {"0.0.0.0": socket.AF_INET, "": socket.AF_INET, "::": socket.AF_INET6}
# Documentation addresses (RFC 5737, RFC 3849): connecting a UDP socket to one sends nothing
# and makes the kernel choose the interface of the route outwards.
_PROBE = {socket.AF_INET: "192.0.2.1", socket.AF_INET6: "2001:db8::1"}


def advertised_host(host: str) -> str:
    """The host others should use to reach a socket bound to ``host``.

    A concrete host is returned as it is. A wildcard (``0.0.0.0``, ``::``) becomes the
    address of the interface the default route leaves through, or else the address this
    machine's name resolves to, or else loopback: a wildcard is never published, since a
    peer on another host cannot send to it.
    """
    family = _WILDCARDS.get(host)
    if family is None:
        return host
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((_PROBE[family], 9))
            return str(probe.getsockname()[0])
    except OSError:
        pass
    try:
        return str(socket.getaddrinfo(socket.gethostname(), None, family)[0][4][0])
    except (OSError, IndexError):
        return "127.0.0.1" if family == socket.AF_INET else "::1"


def stage_file(folder: Path, node_id: str, stage: str) -> Path:
    """Where ``node_id`` records reaching ``stage`` (the id quoted: any node id is a safe name)."""
    return folder / f"{quote(node_id, safe='')}.{stage}.json"


def publish(folder: Path, node_id: str, stage: str, **fields: Any) -> None:
    """Record atomically that ``node_id`` reached ``stage``, with ``fields`` (JSON values)."""
    if stage not in STAGES:
        raise ConfigError(f"rendezvous stage {stage!r} is not one of {', '.join(STAGES)}")
    folder.mkdir(parents=True, exist_ok=True)
    final = stage_file(folder, node_id, stage)
    temporary = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    record = {"id": node_id, "stage": stage, "t": time.time(), **fields}
    temporary.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(temporary, final)


def read_stage(folder: Path, stage: str, node_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What each node of ``node_ids`` published for ``stage`` so far (absent ones left out)."""
    found: dict[str, dict[str, Any]] = {}
    for node_id in node_ids:
        path = stage_file(folder, node_id, stage)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            log.debug("rendezvous: ignored unreadable %s: %s", path, exc)
            continue
        if not isinstance(record, dict) or record.get("id") != node_id:
            log.debug("rendezvous: ignored %s: not a record of %r", path, node_id)
            continue
        if stage == "address" and _address(record) is None:
            log.debug("rendezvous: ignored %s: no valid host and port", path)
            continue
        found[node_id] = record
    return found


def _address(record: dict[str, Any]) -> Address | None:
    host, port = record.get("host"), record.get("port")
    if not isinstance(host, str) or not host or host in _WILDCARDS:
        return None
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        return None
    return (host, port)


async def wait_stage(
    folder: Path, stage: str, node_ids: Sequence[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """Wait until every node of ``node_ids`` has published ``stage``; their records.

    Polls the folder (a shared filesystem offers no portable change notification), first
    often, then at most every quarter second. Raises :class:`ConfigError` naming the nodes
    missing after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    pause = _POLL_FIRST
    while True:
        found = read_stage(folder, stage, node_ids)
        missing = [n for n in node_ids if n not in found]
        if not missing:
            return found
        if time.monotonic() >= deadline:
            raise ConfigError(
                f"rendezvous in {folder}: {', '.join(missing)} never reached stage "
                f"{stage!r} within {timeout:g} s; start every node of the cluster with the "
                "same --rendezvous folder (or allow more time with --rendezvous-timeout)"
            )
        await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, _POLL_MOST)


async def meet(
    folder: Path,
    node_id: str,
    address: Address,
    node_ids: Sequence[str],
    timeout: float = RENDEZVOUS_TIMEOUT,
    **fields: Any,
) -> dict[str, Address]:
    """Publish ``address``, learn every other node's; returns them by node id.

    ``address`` is where this node is bound (a wildcard is published as
    :func:`advertised_host`); the address record also names the host, the pid and the
    SLURM job (None outside SLURM), with ``fields`` (the incarnation). Call :func:`ready`
    once the peers are added to the node.
    """
    host, port = address
    publish(
        folder,
        node_id,
        "address",
        host=advertised_host(host),
        port=port,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        slurm_job=os.environ.get("SLURM_JOB_ID"),
        **fields,
    )
    records = await wait_stage(folder, "address", node_ids, timeout)
    out: dict[str, Address] = {}
    for peer, record in records.items():
        peer_address = _address(record)
        if peer != node_id and peer_address is not None:
            out[peer] = peer_address
    return out


async def ready(folder: Path, node_id: str, node_ids: Sequence[str], timeout: float) -> None:
    """Say this node knows its peers; return once every node does (then programs may send)."""
    publish(folder, node_id, "peers")
    await wait_stage(folder, "peers", node_ids, timeout)


async def finish(folder: Path, node_id: str, node_ids: Sequence[str], timeout: float) -> bool:
    """Say this node's program is done; wait up to ``timeout`` s for every node's.

    Returns False when some node was not done in time (the caller stops anyway: a run's
    duration bounds it).
    """
    publish(folder, node_id, "done")
    try:
        await wait_stage(folder, "done", node_ids, timeout)
    except ConfigError as exc:
        log.warning("%s", exc)
        return False
    return True
