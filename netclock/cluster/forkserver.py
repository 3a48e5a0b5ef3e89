"""A fork server: node processes that skip Python's start-up and netclock's imports.

Starting a node as ``python -m netclock node ...`` costs 0.1-0.2 s of CPU, most of it the
interpreter and the imports; 64 of them on two cores take seconds. The launcher instead
starts one *fork server* (:mod:`netclock.cli.forkserver`) that imports what a node needs
once (and loads the cluster's programs), then forks one child per node. Each
child is a real OS process of its own (its own pid, killed alone by ``kill -9``) that
runs exactly what ``netclock node`` runs, with the pipes and the stderr file the launcher
passed for it as its file descriptors 0, 1 and 2.

The server forks each node through a middle process that exits at once, and the launcher
is a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``) while it runs: the orphaned
node is adopted by the launcher, so it is the launcher's child as an exec'd node would
be, and the launcher waits for it (a pidfd) and reads its exit code itself.

The protocol, on a ``SOCK_SEQPACKET`` Unix socket pair (one JSON object per packet): the
server says ``{"ready": pid}`` once it has imported everything; then, for each
``{"argv": [...]}`` with three file descriptors attached (stdin, stdout, stderr of the new
node), it answers ``{"pid": N}`` (or ``{"error": text}``), in order. The launcher sends
every request without waiting for the answers, and the server forks the nodes of all the
requests waiting from one middle process: a start of many nodes is a tight loop of forks,
not a round trip per node. The server ends when the launcher's end of the socket closes.

The server parses each cluster file once (:func:`remember_cluster`); a node forked from it
takes that parsed form (:func:`parsed_cluster`) while the file is unchanged.
:class:`ForkServer` is the launcher's side; :class:`ForkedProcess` looks to the launcher
like the :class:`asyncio.subprocess.Process` it would otherwise have.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

from netclock.cluster.config import Cluster

MAX_PACKET = 1 << 16
"""Largest request or answer (a node's command line)."""
START_TIMEOUT = 30.0
"""Longest the server may take to say it is ready (it imports netclock once)."""


PR_SET_CHILD_SUBREAPER = 36
"""prctl(2) option: orphaned descendants are re-parented to this process."""


def supported() -> bool:
    """True where a fork server works: Linux with fork, SCM_RIGHTS, SOCK_SEQPACKET, pidfds."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "fork")
        and hasattr(os, "pidfd_open")
        and hasattr(socket, "send_fds")
        and hasattr(socket, "SOCK_SEQPACKET")
    )


def _set_subreaper(on: bool) -> bool:
    """Make this process a child subreaper (or stop); False where prctl refuses."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


_parsed: dict[tuple[str, str], tuple[tuple[int, int], Cluster]] = {}


def _cluster_key(path: str | Path, override: str | None) -> tuple[str, str]:
    overrides = json.loads(override) if override else {}
    return os.path.abspath(path), json.dumps(overrides, sort_keys=True)


def _stamp(path: str | Path) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


def remember_cluster(path: str | Path, override: str | None, cluster: Cluster) -> None:
    """Keep ``cluster``, parsed from ``path`` with ``override`` (JSON), for forked nodes."""
    _parsed[_cluster_key(path, override)] = (_stamp(path), cluster)


def parsed_cluster(path: str | Path, override: str | None) -> Cluster | None:
    """The cluster the fork server parsed from ``path`` with ``override``, if it did and the
    file has not changed since; None otherwise (parse it)."""
    try:
        stamp, cluster = _parsed[_cluster_key(path, override)]
        return cluster if _stamp(path) == stamp else None
    except (KeyError, OSError, ValueError):
        return None


# -- the launcher's side ---------------------------------------------------------------------
class ForkedProcess:
    """A node process forked by the server and adopted by the launcher, as the launcher
    sees it: what it uses of :class:`asyncio.subprocess.Process` (``pid``, ``returncode``,
    ``stdin``, ``stdout``, ``send_signal``, ``wait``)."""

    def __init__(
        self,
        pid: int,
        stdin: asyncio.WriteTransport,
        stdout: asyncio.StreamReader,
    ) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.returncode: int | None = None
        loop = asyncio.get_running_loop()
        self._ended: asyncio.Future[int] = loop.create_future()
        self._pidfd = os.pidfd_open(pid)
        loop.add_reader(self._pidfd, self._on_exit)

    def _on_exit(self) -> None:
        """The pidfd is readable: the process ended; reap it (it is our child)."""
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # not adopted (no subreaper): its code is unknown
            pid, status = self.pid, 0
        if pid == 0:
            return
        asyncio.get_running_loop().remove_reader(self._pidfd)
        os.close(self._pidfd)
        self.returncode = code = os.waitstatus_to_exitcode(status)
        self.stdin.close()
        self._ended.set_result(code)

    def send_signal(self, sig: int) -> None:
        """Signal the process; ProcessLookupError once it was reaped (as asyncio's does)."""
        if self.returncode is not None:
            raise ProcessLookupError(self.pid)
        signal.pidfd_send_signal(self._pidfd, sig)

    def kill(self) -> None:
        """SIGKILL the process."""
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        """Wait for the process to end; its return code."""
        return await asyncio.shield(self._ended)


class ForkServer:
    """The launcher's handle on one fork server process; :meth:`close` ends it.

    While it runs, the launcher is a child subreaper (nodes forked by the server become
    its children).
    """

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._sock: socket.socket | None = None
        self._lock = asyncio.Lock()
        self._waiting: list[asyncio.Future[dict[str, Any]]] = []
        """One future per request sent and not answered yet, oldest first."""
        self._reader: asyncio.Future[None] | None = None
        self._subreaper = False
        self.ready_at: float | None = None
        """When the server said it is ready (``time.time()``)."""

    async def start(self, preload: list[str]) -> None:
        """Start the server and wait until it has imported everything; OSError if it cannot.

        ``preload`` is pairs of a cluster file and its overrides (JSON): the server parses
        each once and imports its link and programs for every node it forks."""
        if not _set_subreaper(True):
            raise OSError("this process cannot become a child subreaper")
        self._subreaper = True
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = mine
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "netclock.cli.forkserver",
                str(theirs.fileno()),
                *preload,
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        finally:
            theirs.close()
        mine.setblocking(False)
        answer = await asyncio.wait_for(self._answer(), START_TIMEOUT)
        if "ready" not in answer:
            raise OSError(f"the fork server did not start: {answer}")
        self.ready_at = time.time()

    def _open_sock(self) -> socket.socket:
        """The socket to the server; OSError once :meth:`close` closed it (a stop can come
        while nodes are still being forked)."""
        if self._sock is None:
            raise OSError("the fork server was closed")
        return self._sock

    async def _answer(self) -> dict[str, Any]:
        data = await asyncio.get_running_loop().sock_recv(self._open_sock(), MAX_PACKET)
        if not data:
            raise OSError("the fork server ended")
        answer: dict[str, Any] = json.loads(data)
        return answer

    async def _send(self, packet: bytes, fds: list[int]) -> None:
        """Send one request with its descriptors, waiting while the socket is full."""
        loop = asyncio.get_running_loop()
        while True:
            sock = self._open_sock()
            try:
                socket.send_fds(sock, [packet], fds)
                return
            except BlockingIOError:
                writable = loop.create_future()
                loop.add_writer(sock, writable.set_result, None)
                try:
                    await writable
                finally:
                    loop.remove_writer(sock)

    async def _read_answers(self) -> None:
        """Hand each answer to the oldest request waiting, until none waits."""
        while self._waiting:
            try:
                answer = await asyncio.wait_for(self._answer(), START_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as exc:
                for waiter in self._waiting:
                    if not waiter.done():
                        waiter.set_exception(OSError(f"the fork server did not answer: {exc}"))
                self._waiting.clear()
                return
            if not self._waiting:  # closed meanwhile: close failed every waiter
                return
            waiter = self._waiting.pop(0)
            if not waiter.done():
                waiter.set_result(answer)

    async def spawn(self, argv: list[str], stderr: int, limit: int) -> ForkedProcess:
        """Fork a node process running ``netclock ARGV`` with ``stderr`` as its fd 2.

        Calls may overlap: each request is sent at once and answered in order."""
        if self._sock is None:
            raise OSError("the fork server is not running")
        loop = asyncio.get_running_loop()
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        answered: asyncio.Future[dict[str, Any]] = loop.create_future()
        try:
            async with self._lock:
                await self._send(json.dumps({"argv": argv}).encode(), [in_r, out_w, stderr])
                self._waiting.append(answered)
                if self._reader is None or self._reader.done():
                    self._reader = asyncio.ensure_future(self._read_answers())
        except BaseException:
            os.close(in_w)
            os.close(out_r)
            raise
        finally:
            os.close(in_r)
            os.close(out_w)
        try:
            answer = await answered
        except BaseException:
            answered.cancel()  # when this task was cancelled: a later failure has no reader
            os.close(in_w)
            os.close(out_r)
            raise
        if "pid" not in answer:
            os.close(in_w)
            os.close(out_r)
            raise OSError(str(answer.get("error", answer)))
        stdout = asyncio.StreamReader(limit=limit, loop=loop)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stdout), _pipe_end(out_r, "rb")
        )
        stdin, _ = await loop.connect_write_pipe(asyncio.Protocol, _pipe_end(in_w, "wb"))
        return ForkedProcess(int(answer["pid"]), stdin, stdout)

    async def close(self) -> None:
        """End the server (nodes still running are not touched); idempotent.

        The launcher stops being a subreaper: call it once every node was waited for.
        """
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        for waiter in self._waiting:  # their answers will not come
            if not waiter.done():
                waiter.set_exception(OSError("the fork server was closed"))
        self._waiting.clear()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._process is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._process.wait(), 5.0)
            if self._process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self._process.kill()
                await self._process.wait()
            self._process = None
        if self._subreaper:
            _set_subreaper(False)
            self._subreaper = False


def _pipe_end(fd: int, mode: str) -> IO[bytes]:
    """An unbuffered file object on one end of a pipe (for connect_read/write_pipe)."""
    return open(fd, mode, buffering=0)
