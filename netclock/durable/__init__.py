"""Durable state in a node's data directory: record logs, group commit, node identity.

- :mod:`~netclock.durable.records`: the record format (length + CRC-32 + msgpack payload),
  pure encode and scan functions.
- :class:`RecordLog`: an append-only file of records; recovery keeps the valid prefix and
  reports what it dropped; compaction rewrites it atomically with the live records only.
- :class:`GroupCommit`: machine-level durability from asyncio, one fsync for many records.
- :class:`NodeState`: a node's incarnation and clock high-water mark across restarts.
- :mod:`~netclock.durable.linklog`: the logged perfect link's records (sans-IO);
  :mod:`~netclock.durable.marks`: consumed-up-to marks in a shared mapping;
  :mod:`~netclock.durable.crashpoint`: test-only crash points (``NETCLOCK_CRASH_AT``).

See docs/durability.md.
"""

from netclock.durable.commit import GroupCommit
from netclock.durable.log import Durability, LogCorrupt, RecordLog
from netclock.durable.records import Damage, Scan, encode_record, scan
from netclock.durable.state import CLOCK_BLOCK, NodeState

__all__ = [
    "CLOCK_BLOCK",
    "Damage",
    "Durability",
    "GroupCommit",
    "LogCorrupt",
    "NodeState",
    "RecordLog",
    "Scan",
    "encode_record",
    "scan",
]
