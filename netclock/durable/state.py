"""A node's own state in its data directory: incarnation and clock high-water mark.

The directory (created 0700 if missing) holds ``node.state``, a
:class:`~netclock.durable.log.RecordLog` of ``["node", id]``, ``["incarnation", n]`` and
``["clock", mark]`` records (the last of each wins), and ``lock``, held with ``flock``
while a process uses the directory (the kernel releases it when the process dies).

Guarantees:

- **Incarnation.** Each open picks ``max(stored + 1, time-based)`` and makes it durable
  (fsync; written to the OS only, without ``sync``) before returning, so an incarnation is
  never used twice, even if the wall clock goes backwards.
- **Clock.** ``mark`` is the highest value of the node's own clock entry it may have used.
  Values are reserved in blocks of :data:`CLOCK_BLOCK`: :meth:`NodeState.reserve` writes a
  new mark only when the own entry passes the old one (one small write per 1,000 events).
  A restart continues from ``mark + 1``, which never goes backwards, at the cost of a jump
  of up to :data:`CLOCK_BLOCK` in the own entry (a caller that knows the exact last value,
  from a crash-safe event log, passes it as ``clock_start`` instead).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import Any

from netclock.durable.log import LogCorrupt, RecordLog
from netclock.errors import ConfigError

CLOCK_BLOCK = 1000
"""How many values of the own clock entry one mark record reserves."""
STATE_FILE = "node.state"
LOCK_FILE = "lock"
_COMPACT_AFTER = 10_000
"""Mark records appended before the state file is rewritten to its three live records."""


def new_incarnation() -> int:
    """A fresh incarnation from the wall clock (microseconds since the epoch): grows across
    restarts of the same node id while the clock does (a data directory makes it certain)."""
    return time.time_ns() // 1000


class NodeState:
    """The durable identity of one node in one data directory; see the module docstring.

    :meth:`open` it once per process start; :attr:`incarnation` and :attr:`clock_start`
    are then this start's values. Call :meth:`reserve` before an own-clock value above
    :attr:`mark` is used, and :meth:`close` at the end.
    """

    def __init__(
        self,
        path: Path,
        node_id: str,
        log: RecordLog,
        lock_fd: int,
        incarnation: int,
        clock_start: int,
        mark: int,
    ) -> None:
        self.path = path
        self.node_id = node_id
        self._log = log
        self._lock_fd = lock_fd
        self.incarnation = incarnation
        self.clock_start = clock_start
        """The own clock entry this start begins at (its first event's value)."""
        self.mark = mark
        self._appended = 0

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        node_id: str,
        *,
        incarnation: int | None = None,
        clock_start: int | None = None,
        sync: bool = True,
    ) -> NodeState:
        """Open (creating it if missing) ``data_dir`` for ``node_id`` and begin a new start.

        ``incarnation`` (if given) must be above every incarnation stored; ``clock_start``
        (if given) must not be below a value this node surely used. Every problem is one
        :class:`~netclock.errors.ConfigError` naming the file and what to do. Without
        ``sync`` the start is written to the OS, not fsynced: it survives a kill of the
        process, not a crash of the machine (process durability).
        """
        path = Path(data_dir)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except FileExistsError:
            raise ConfigError(f"data directory {path} exists and is not a directory") from None
        except OSError as exc:
            raise ConfigError(f"cannot create data directory {path}: {exc.strerror}") from None
        if not path.is_dir():
            raise ConfigError(f"data directory {path} exists and is not a directory")
        lock_fd = _lock(path)
        try:
            return cls._begin(path, node_id, lock_fd, incarnation, clock_start, sync)
        except BaseException:
            os.close(lock_fd)
            raise

    @classmethod
    def _begin(
        cls,
        path: Path,
        node_id: str,
        lock_fd: int,
        incarnation: int | None,
        clock_start: int | None,
        sync: bool,
    ) -> NodeState:
        file = path / STATE_FILE
        try:
            log = RecordLog.open(file, sync=sync)
        except LogCorrupt as exc:
            raise ConfigError(f"{exc}; {_WHAT_TO_DO}") from None
        except OSError as exc:
            raise ConfigError(f"cannot open {file}: {exc.strerror}") from None
        try:
            stored = _read(file, log.recovered, node_id)
            if log.damage is not None and not log.damage.reason.startswith("torn"):
                raise ConfigError(f"{file}: {log.damage}; {_WHAT_TO_DO}")
            last = stored.get("incarnation", 0)
            if incarnation is None:
                incarnation = max(last + 1, new_incarnation())
            elif incarnation <= last:
                raise ConfigError(
                    f"incarnation {incarnation} is not above {last}, the last one this data "
                    f"directory ({path}) used; leave incarnation unset to get a fresh one"
                )
            mark = stored.get("clock", 0)
            # The last mark was written when the own entry reached mark - CLOCK_BLOCK + 1:
            # the lowest start above every value surely used is one more.
            floor = max(1, mark - CLOCK_BLOCK + 2)
            if clock_start is None:
                clock_start = mark + 1
            elif clock_start < (floor if mark else 1):
                raise ConfigError(
                    f"clock_start {clock_start} is below {floor}: node {node_id!r} already "
                    f"used that value of its clock (per {file}); leave clock_start unset"
                )
            mark = clock_start + CLOCK_BLOCK - 1
            log.compact(
                [["node", node_id], ["incarnation", incarnation], ["clock", mark]], sync=sync
            )
        except BaseException:
            log.close()
            raise
        return cls(path, node_id, log, lock_fd, incarnation, clock_start, mark)

    def reserve(self, value: int) -> None:
        """Make ``value`` of the own clock entry usable: if it passes :attr:`mark`, write a
        new mark (``value + CLOCK_BLOCK - 1``) to the OS before returning."""
        if value <= self.mark:
            return
        self.mark = value + CLOCK_BLOCK - 1
        self._log.append(["clock", self.mark])
        self._appended += 1
        if self._appended >= _COMPACT_AFTER:
            self._log.compact(
                [["node", self.node_id], ["incarnation", self.incarnation], ["clock", self.mark]]
            )
            self._appended = 0

    def close(self) -> None:
        """Release the file and the directory's lock (idempotent)."""
        self._log.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


_WHAT_TO_DO = (
    "move the file aside to start this node as a new incarnation with a fresh clock "
    "(its peers then treat it as a new process), or restore it from a copy"
)


def _read(file: Path, records: list[Any], node_id: str) -> dict[str, Any]:
    """The last value of each state record kind; a record of another shape is corruption."""
    out: dict[str, Any] = {}
    for record in records:
        if not (
            isinstance(record, list)
            and len(record) == 2
            and (
                (record[0] == "node" and isinstance(record[1], str))
                or (
                    record[0] in ("incarnation", "clock")
                    and isinstance(record[1], int)
                    and not isinstance(record[1], bool)
                    and record[1] >= 0
                )
            )
        ):
            raise ConfigError(f"{file}: unexpected record {record!r}; {_WHAT_TO_DO}")
        out[record[0]] = record[1]
    owner = out.get("node")
    if owner is not None and owner != node_id:
        raise ConfigError(
            f"data directory {file.parent} belongs to node {owner!r}, not {node_id!r}; "
            "give each node its own data directory"
        )
    return out


def _lock(path: Path) -> int:
    """Hold the directory's lock file; a second process on the same directory is refused."""
    file = path / LOCK_FILE
    try:
        fd = os.open(file, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot open {file}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise ConfigError(
            f"data directory {path} is in use by {holder}; "
            "one process at a time may use a data directory"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
    return fd
