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
node), it answers ``{"pid": N}`` (or ``{"error": text}``), in order. The server ends when
the launcher's end of the socket closes.
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
from typing import IO, Any

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
        self._subreaper = False

    async def start(self, preload: list[str]) -> None:
        """Start the server and wait until it has imported everything; OSError if it cannot."""
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

    async def _answer(self) -> dict[str, Any]:
        assert self._sock is not None
        data = await asyncio.get_running_loop().sock_recv(self._sock, MAX_PACKET)
        if not data:
            raise OSError("the fork server ended")
        answer: dict[str, Any] = json.loads(data)
        return answer

    async def spawn(self, argv: list[str], stderr: int, limit: int) -> ForkedProcess:
        """Fork a node process running ``netclock ARGV`` with ``stderr`` as its fd 2."""
        if self._sock is None:
            raise OSError("the fork server is not running")
        loop = asyncio.get_running_loop()
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        async with self._lock:
            try:
                packet = json.dumps({"argv": argv}).encode()
                socket.send_fds(self._sock, [packet], [in_r, out_w, stderr])
            except OSError:
                os.close(in_w)
                os.close(out_r)
                raise
            finally:
                os.close(in_r)
                os.close(out_w)
            try:
                answer = await asyncio.wait_for(self._answer(), START_TIMEOUT)
            except BaseException:
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
