"""Cost of the netclock envelope codec per message, beside raw msgpack of the payload alone.

Run: ``python benchmarks/codec.py [--iterations 50000] [--runs 7]``. Each figure is the
median over ``--runs`` runs of ``--iterations`` encode+decode round trips, in microseconds
per message; the ratio divides by the raw baseline measured in the same process, which
holds better than absolute figures on a shared machine. Decoding uses one
:class:`~netclock.wire.envelope.Decoder` across iterations, as a link does (each process id
checked once); the "first sight" rows decode with a fresh one each time, so every id is
checked on every message (what :func:`~netclock.wire.envelope.decode` costs).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import msgpack

from netclock.clock import VectorClock
from netclock.wire.envelope import (
    Decoder,
    decode,
    encode_data,
    encode_segment_packed,
    pack_message,
)

PAYLOAD = bytes(range(64))


def _clock(entries: int) -> VectorClock:
    return VectorClock({f"node-{i}": 1000 + 7 * i for i in range(entries)})


def _time_per_call(func: Callable[[], Any], iterations: int, runs: int) -> float:
    """Median over ``runs`` of the mean time of one ``func()`` call, in microseconds."""
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(runs):
            loop = range(iterations)
            start = time.perf_counter_ns()
            for _ in loop:
                func()
            samples.append((time.perf_counter_ns() - start) / iterations / 1000)
    finally:
        if gc_was_enabled:
            gc.enable()
    return statistics.median(samples)


def _scenarios(payload: bytes) -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    """(name, encode, encode+decode) for the baseline and each envelope shape."""
    packb, unpackb = msgpack.packb, msgpack.unpackb
    raw = packb(payload, use_bin_type=True)
    rows: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        (
            "raw msgpack, payload alone",
            lambda: packb(payload, use_bin_type=True),
            lambda: unpackb(packb(payload, use_bin_type=True), raw=False),
        )
    ]
    assert unpackb(raw, raw=False) == payload
    link_decode = Decoder().decode
    for entries in (3, 32):
        clock = _clock(entries)

        def enc(clock: VectorClock = clock) -> bytes:
            return encode_data("node-0", 1_700_000_000_000_000, "node-1", 12345, clock, payload)

        def round_trip(enc: Callable[[], bytes] = enc) -> Any:
            return link_decode(enc())

        def first_sight(enc: Callable[[], bytes] = enc) -> Any:
            return decode(enc())

        rows.append((f"DATA, {entries}-entry clock", enc, round_trip))
        rows.append((f"DATA, {entries}-entry, first sight", enc, first_sight))
    for entries in (3, 32):
        clock = _clock(entries)

        def enc_seg(clock: VectorClock = clock) -> bytes:
            packed = [pack_message(12345, clock, payload)]
            return encode_segment_packed("node-0", 1_700_000_000_000_000, "node-1", 1, None, packed)

        def round_trip_seg(enc: Callable[[], bytes] = enc_seg) -> Any:
            return link_decode(enc())

        rows.append((f"SEGMENT of 1, {entries}-entry clock", enc_seg, round_trip_seg))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=50_000, help="round trips per run")
    parser.add_argument("--runs", type=int, default=7, help="runs; the median is reported")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.runs < 1:
        parser.error("--iterations and --runs must be positive")

    rows = _scenarios(PAYLOAD)
    results = []
    for name, enc, round_trip in rows:
        encode_us = _time_per_call(enc, args.iterations, args.runs)
        total_us = _time_per_call(round_trip, args.iterations, args.runs)
        size = len(enc())
        results.append((name, size, encode_us, total_us))

    baseline = results[0][3]
    print(
        f"{len(PAYLOAD)}-byte bin payload; median of {args.runs} runs x {args.iterations} "
        f"iterations; Python {sys.version.split()[0]}, msgpack {msgpack.version}"
    )
    header = f"{'scenario':<32} {'bytes':>6} {'encode µs':>10} {'enc+dec µs':>11} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, size, encode_us, total_us in results:
        ratio = total_us / baseline
        print(f"{name:<32} {size:>6} {encode_us:>10.2f} {total_us:>11.2f} {ratio:>6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
