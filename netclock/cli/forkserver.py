"""``python -m netclock.cli.forkserver FD [CLUSTER.toml ...]``: the fork server's process.

It imports what ``netclock node`` runs once (and each cluster's programs), then forks one
child per request of the launcher on socket ``FD``; each child runs ``netclock ARGV`` as
``python -m netclock`` would. The protocol and the launcher's side are in
:mod:`netclock.cluster.forkserver`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import sys

from netclock.cli.main import main
from netclock.cluster.config import load_cluster, load_program
from netclock.cluster.forkserver import MAX_PACKET


def serve(fd: int, preload: list[str]) -> int:
    """The fork server's main loop on socket ``fd``; returns when the launcher is gone."""
    sock = socket.socket(fileno=fd)
    sock.setblocking(True)
    _preload(preload)
    gc.freeze()  # what was imported stays shared: the children's collections never touch it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher decides when nodes stop
    sock.send(json.dumps({"ready": os.getpid()}).encode())
    while _take(sock, (sock.fileno(),)):
        pass
    return 0


def _preload(clusters: list[str]) -> None:
    """Import what a node runs, and each cluster's programs, once for every child."""
    for path in clusters:
        with contextlib.suppress(Exception):  # a child reports any problem properly
            cluster = load_cluster(path)
            for program in {n.program for n in cluster.nodes}:
                if not program.partition(":")[0].endswith(".py"):
                    load_program(program, cluster.base_dir)


def _take(sock: socket.socket, own: tuple[int, ...]) -> bool:
    """Serve one request; False once the launcher is gone."""
    try:
        data, fds, _, _ = socket.recv_fds(sock, MAX_PACKET, 3)
    except OSError:
        return False
    if not data:
        for fd in fds:
            os.close(fd)
        return False
    try:
        request = json.loads(data)
        argv = [str(word) for word in request["argv"]]
        if len(fds) != 3:
            raise ValueError(f"expected 3 file descriptors, got {len(fds)}")
    except (ValueError, KeyError, TypeError) as exc:
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"error": f"bad request: {exc}"}).encode())
        return True
    answer: dict[str, object]
    try:
        answer = {"pid": _fork_orphan(argv, fds, own)}
    except (OSError, ValueError) as exc:
        answer = {"error": f"cannot fork a node process: {exc}"}
    for fd in fds:
        os.close(fd)
    sock.send(json.dumps(answer).encode())
    return True


def _fork_orphan(argv: list[str], fds: list[int], own: tuple[int, ...]) -> int:
    """Fork the node through a short-lived middle process, so that the node is orphaned at
    once and adopted by the launcher (a child subreaper): it becomes the launcher's child,
    which waits for it and reads its exit code as for any child. Returns the node's pid."""
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(r)
        try:
            node = os.fork()
        except OSError:
            os._exit(1)
        if node == 0:
            os.close(w)
            _child(argv, fds, own)  # never returns
        os.write(w, str(node).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(middle, 0)
    return int(answer)


def _child(argv: list[str], fds: list[int], own: tuple[int, ...]) -> None:
    """In the forked child: become the node process ``netclock ARGV`` on the given fds."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        sys.argv = ["netclock", *argv]  # as `python -m netclock ARGV` would have it
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in (*fds, *own):
            with contextlib.suppress(OSError):
                os.close(fd)
        code = main(argv)
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
