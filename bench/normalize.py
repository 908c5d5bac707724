#!/usr/bin/env python3
"""Normalize speed on a generated mixed corpus, against plain orjson.loads of the same bytes.

    python bench/normalize.py [--events 200000] [--corpus DIR]

Generates (or reuses) a labelled demo world sized to about --events events (K8s audit lines,
gzipped CloudTrail objects, GCP LogEntries, Azure diagnostic batches), loads every raw document
into memory (so disk and gzip are out of the measurement), then times on one core:
  1. plain `orjson.loads` of every document (the reference parse speed),
  2. tokenhawk's normalizer: parse + sniff + normalize + K8s stage dedup + Arrow table.
Prints events/s, MB/s, the ratio of the two, and the peak memory of the normalize step.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.events import rows_to_table  # noqa: E402
from detector.normalize import Normalizer, StageDeduper  # noqa: E402
from detector.normalize.reader import expand_inputs, read_documents  # noqa: E402


def corpus(directory: Path, events: int) -> Path:
    from detector.simulate import generate

    world = directory / "world"
    if not (world / "labels.json").exists():
        # scale 1.0 is about 250k events over 14 days; size the days to the request
        days = max(8, min(28, round(14 * events / 250_000)))
        print(f"generating {days} days of demo world into {world} …", file=sys.stderr)
        generate(world, days=days, seed=11, scale=1.0)
    return world


def load_documents(world: Path) -> list[tuple[bytes, str]]:
    paths = expand_inputs([str(p) for p in sorted(world.iterdir()) if p.is_dir()])
    return [(d.data, d.origin) for p in paths for d in read_documents(p)]


def best_of(runs: int, fn):
    best = None
    result = None
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--corpus", type=Path, default=Path("out/bench-corpus"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    docs = load_documents(corpus(args.corpus, args.events))
    total_bytes = sum(len(d) for d, _ in docs)

    def plain():
        loads = orjson.loads
        for data, _ in docs:
            loads(data)

    def normalize():
        # the steps of pipelines/ingest.ingest_files, on documents already in memory
        normalizer = Normalizer()
        dedup = StageDeduper(rows=True)
        tables = []
        for first in range(0, len(docs), 4096):  # blocks, as reader.read_blocks hands them over
            block = docs[first:first + 4096]
            start = 0
            while start < len(block):
                start = normalizer.feed_many(block, start, until_rows=20_000)
                if len(normalizer.ctx.rows) >= 20_000:
                    tables.append(rows_to_table(dedup.push(normalizer.take_rows())))
        tables.append(rows_to_table(dedup.push(normalizer.take_rows()) + dedup.flush()))
        return normalizer, sum(t.num_rows for t in tables)

    # interleaved (plain, normalize, plain, …): this machine's speed drifts by 1.5x over a
    # minute, and timing one side after the other would put the drift into the ratio
    plain_s = norm_s = None
    for _ in range(args.runs):
        p, _ = best_of(1, plain)
        n, (normalizer, rows) = best_of(1, normalize)
        plain_s = p if plain_s is None else min(plain_s, p)
        norm_s = n if norm_s is None else min(norm_s, n)
    records = sum(normalizer.ctx.emitted.values())

    tracemalloc.start()
    normalize()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    mb = total_bytes / 1e6
    print(f"corpus: {len(docs):,} documents, {mb:.1f} MB, {records:,} events ({rows:,} after stage dedup); "
          f"per source {dict(normalizer.ctx.emitted)}")
    print(f"plain orjson.loads : {records / plain_s:>10,.0f} events/s  {mb / plain_s:7.1f} MB/s")
    print(f"tokenhawk normalize: {records / norm_s:>10,.0f} events/s  {mb / norm_s:7.1f} MB/s  "
          f"(parse+sniff+normalize+dedup+Arrow)")
    print(f"ratio normalize / plain parse: {plain_s / norm_s:.2f} (target ≥ 0.50)")
    print(f"peak memory of the normalize step (tracemalloc): {peak / 1e6:.1f} MB "
          f"({peak / max(rows, 1):.0f} bytes per event held)")


if __name__ == "__main__":
    main()
