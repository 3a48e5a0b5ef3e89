"""``python -m netclock.cli.forkserver FD [CLUSTER.toml OVERRIDES ...]``: the fork server's process.

It imports what ``netclock node`` runs once (and each cluster's programs), then forks one
child per request of the launcher on socket ``FD``; each child runs ``netclock ARGV`` as
``python -m netclock`` would. The protocol and the launcher's side are in
:mod:`netclock.cluster.forkserver`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys

from netclock.cli.main import build_parser, main
from netclock.cluster import phases
from netclock.cluster.config import load_cluster, load_program
from netclock.cluster.forkserver import (
    MAX_PACKET,
    remember_cluster,
)

BATCH = 64
"""Most requests served by one middle process (it holds three descriptors of each)."""
PRELOAD = ("uvloop", "concurrent.futures.thread", "netclock.links.perfect")
"""Modules a node imports on its way to READY that ``netclock node`` does not import."""
LINK_MODULES = {
    "tls": ("ssl", "netclock.links.tls.link"),
    "sealed": ("netclock.links.sealed",),
    "fairloss": ("netclock.links.fairloss",),
    "stubborn": ("netclock.links.stubborn",),
}
"""What a node of each link kind imports besides :data:`PRELOAD`."""
_parser: argparse.ArgumentParser | None = None
"""The command line's parser, built by the server for every child."""


def serve(fd: int, preload: list[str]) -> int:
    """The fork server's main loop on socket ``fd``; returns when the launcher is gone."""
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)
    _preload(preload)
    global _parser
    _parser = build_parser()  # once, not in every node
    gc.freeze()  # what was imported stays shared: the children's collections never touch it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher decides when nodes stop
    try:
        sock.send(json.dumps({"ready": os.getpid()}).encode())
        while _take(sock, (sock.fileno(),)):
            pass
    except ConnectionError:  # the launcher closed its end: it is stopping
        pass
    return 0


def _preload(args: list[str]) -> None:
    """Import what a node runs, each cluster's link and programs, and keep each cluster file
    parsed for the children (``args``: pairs of a path and its overrides as JSON)."""
    for module in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    for path, override in zip(args[::2], args[1::2], strict=False):
        with contextlib.suppress(Exception):  # a child reports any problem properly
            overrides = json.loads(override) if override else None
            cluster = load_cluster(path, overrides)
            remember_cluster(path, override, cluster)
            for module in LINK_MODULES.get(cluster.link, ()):
                importlib.import_module(module)
            for program in {n.program for n in cluster.nodes}:
                if not program.partition(":")[0].endswith(".py"):
                    load_program(program, cluster.base_dir)


def _take(sock: socket.socket, own: tuple[int, ...]) -> bool:
    """Serve every request waiting (at least one) with one middle process; False once the
    launcher is gone."""
    requests: list[tuple[list[str], list[int]] | str] = []
    gone = False
    while len(requests) < BATCH:
        if requests and not select.select([sock], [], [], 0)[0]:
            break  # (recv_fds ignores MSG_DONTWAIT before Python 3.12)
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_PACKET, 3)
        except OSError:
            gone = True
            break
        if not data:
            _close(fds)
            gone = True
            break
        try:
            request = json.loads(data)
            argv = [str(word) for word in request["argv"]]
            if len(fds) != 3:
                raise ValueError(f"expected 3 file descriptors, got {len(fds)}")
        except (ValueError, KeyError, TypeError) as exc:
            _close(fds)
            requests.append(f"bad request: {exc}")
            continue
        requests.append((argv, fds))
    batch = [r for r in requests if not isinstance(r, str)]
    try:
        pids: list[int | str] = _fork_orphans(batch, own) if batch else []
    except (OSError, ValueError) as exc:
        pids = [f"cannot fork a node process: {exc}"] * len(batch)
    for _, fds in batch:
        _close(fds)
    forked = iter(pids)
    for request in requests:
        outcome = request if isinstance(request, str) else next(forked)
        answer = {"error": outcome} if isinstance(outcome, str) else {"pid": outcome}
        sock.send(json.dumps(answer).encode())
    return not gone


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _fork_orphans(
    batch: list[tuple[list[str], list[int]]], own: tuple[int, ...]
) -> list[int | str]:
    """Fork one node per request of ``batch`` through one short-lived middle process, so
    that each node is orphaned at once and adopted by the launcher (a child subreaper): it
    becomes the launcher's child, which waits for it and reads its exit code as for any
    child. The nodes wait until the middle has forked them all (so that its forks do not
    compete with their starts for the CPU). Returns each node's pid (or why it could not
    be forked), in order."""
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(r)
        every = tuple(fd for _, fds in batch for fd in fds)
        gate_r, gate_w = os.pipe()
        pids: list[int | str] = []
        for argv, fds in batch:
            try:
                node = os.fork()
            except OSError as exc:
                pids.append(f"cannot fork a node process: {exc}")
                continue
            if node == 0:
                os.close(gate_w)
                os.read(gate_r, 1)  # until the middle is gone: forks run without contention
                os.close(gate_r)
                _child(argv, fds, (*own, *every, w))  # never returns
            pids.append(node)
        os.write(w, json.dumps(pids).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(middle, 0)
    pids = json.loads(answer) if answer else []
    if len(pids) != len(batch):
        raise ValueError("the middle process ended before forking every node")
    return [p if isinstance(p, str) else int(p) for p in pids]


def _child(argv: list[str], fds: list[int], own: tuple[int, ...]) -> None:
    """In the forked child: become the node process ``netclock ARGV`` on the given fds."""
    phases.reset()
    phases.mark("fork")
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        sys.argv = ["netclock", *argv]  # as `python -m netclock ARGV` would have it
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in (*fds, *own):
            with contextlib.suppress(OSError):
                os.close(fd)
        code = main(argv, _parser)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]), sys.argv[2:]))
