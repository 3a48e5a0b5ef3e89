"""Throughput of the record log at each durability level, and recovery time.

Run: ``python benchmarks/durable.py [--records 100000] [--runs 5] [--dir PATH]``. Each
record is what the logged perfect link will write per message (kind, peer, incarnation,
seq, a 3-entry clock, a 64-byte payload). Figures:

- process level: records/s appended one ``os.write`` each, and in batches of 64 (one write
  per datagram's worth), beside raw ``os.write`` of the same bytes already encoded (medians
  of ``--runs`` interleaved runs);
- machine level: records/s under :class:`~netclock.durable.GroupCommit` when records arrive
  in batches of 1, 16, 64 and 256 with at most 4,096 waiting for durability (a send
  window), with the records each fsync covered; beside one fsync per record;
- recovery: seconds to open a log of ``--records`` records (scan, checksums, msgpack).

The log lives in ``--dir`` (default: a temporary folder under the current one, since /tmp
may be a RAM disk where fsync costs nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack

from netclock.durable import Durability, GroupCommit, RecordLog, encode_record

PAYLOAD = bytes(range(64))
CLOCK = {"a": 123_456, "b": 98_765, "c": 4_321}
WINDOW = 4096


def _record(seq: int) -> list[Any]:
    return ["msg", "b", 1_700_000_000_000_000, seq, CLOCK, PAYLOAD]


def _fresh(folder: Path, name: str) -> RecordLog:
    path = folder / name
    path.unlink(missing_ok=True)
    return RecordLog.open(path)


def process_level(folder: Path, count: int, runs: int) -> dict[str, float]:
    """Median records/s over ``runs`` interleaved runs: raw os.write of pre-encoded records,
    append one by one, append_many in batches of 64."""
    records = [_record(i) for i in range(count)]
    blobs = [encode_record(msgpack.packb(r, use_bin_type=True)) for r in records]

    def raw(log: RecordLog) -> None:
        fd = log.fileno()
        for blob in blobs:
            os.write(fd, blob)

    def one(log: RecordLog) -> None:
        for record in records:
            log.append(record)

    def many(log: RecordLog) -> None:
        for i in range(0, count, 64):
            log.append_many(records[i : i + 64])

    variants = {"raw os.write": raw, "append": one, "append_many(64)": many}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, write in variants.items():
            log = _fresh(folder, "process.log")
            start = time.perf_counter()
            write(log)
            samples[name].append(count / (time.perf_counter() - start))
            log.close()
    return {name: statistics.median(rates) for name, rates in samples.items()}


async def machine_level(folder: Path, count: int, batch: int) -> tuple[float, float]:
    """(records/s, records per fsync) with group commit, records arriving ``batch`` at once."""
    log = _fresh(folder, f"gc{batch}.log")
    commit = GroupCommit(log, Durability.MACHINE)
    start = time.perf_counter()
    seq = 0
    while seq < count:
        position = log.append_many(_record(seq + i) for i in range(batch))
        seq += batch
        if not commit.request(position) and position - log.synced >= WINDOW:
            await commit.durable(position - WINDOW + batch)
        else:
            await asyncio.sleep(0)  # the loop turns, as between datagrams
    await commit.durable(log.position)
    elapsed = time.perf_counter() - start
    await commit.close()
    log.close()
    return seq / elapsed, commit.records_synced / max(1, commit.syncs)


def fsync_each(folder: Path, count: int) -> float:
    """Records/s with one fsync per record (what group commit avoids)."""
    log = _fresh(folder, "each.log")
    start = time.perf_counter()
    for i in range(count):
        log.append(_record(i))
        log.sync()
    rate = count / (time.perf_counter() - start)
    log.close()
    return rate


def recovery(folder: Path, count: int) -> tuple[float, int]:
    """(seconds to open a log of ``count`` records, its size in bytes)."""
    log = _fresh(folder, "recover.log")
    for i in range(0, count, 256):
        log.append_many(_record(j) for j in range(i, min(count, i + 256)))
    log.close()
    start = time.perf_counter()
    again = RecordLog.open(folder / "recover.log")
    elapsed = time.perf_counter() - start
    assert len(again.recovered) == count
    again.close()
    return elapsed, again.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records per figure")
    parser.add_argument("--runs", type=int, default=5, help="runs per process-level figure")
    parser.add_argument("--dir", type=Path, default=None, help="where the logs are written")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir or Path.cwd(), prefix="durable-") as tmp:
        folder = Path(tmp)
        count = args.records
        print(f"process level ({count} records, 64-byte payloads):")
        rates = process_level(folder, count, args.runs)
        for name, rate in rates.items():
            ratio = rate / rates["raw os.write"]
            print(f"  {name:<16} {rate:>12,.0f} records/s  {ratio:.2f}x raw")
        print("machine level (group commit, window 4,096):")
        each = fsync_each(folder, min(count, 2000))
        print(f"  {'fsync per record':<16} {each:>12,.0f} records/s  1 record per fsync")
        for batch in (1, 16, 64, 256):
            rate, per_sync = asyncio.run(machine_level(folder, count, batch))
            figures = f"{rate:>12,.0f} records/s  {per_sync:,.0f} records per fsync"
            print(f"  batch {batch:<10} {figures}")
        seconds, size = recovery(folder, count)
        print(f"recovery: {count:,} records ({size / 1e6:.1f} MB) in {seconds:.3f} s")


if __name__ == "__main__":
    main()
