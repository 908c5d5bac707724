#!/usr/bin/env python3
"""End-to-end detection speed from files (normalize + detect) and memory per tracked token.

    python bench/detect.py [--scale 2.0] [--days 14] [--corpus DIR]

Generates (or reuses) a labelled demo world, then on one core:
  1. normalize: raw files → time-ordered events (the `tokenhawk detect` ingest path),
  2. detect: the file replay through `Detector.process` in 20k-event batches,
and prints events/s for each and end to end, then replays again under tracemalloc to report
the detector's retained Python memory per tracked token (pyarrow buffers are not counted:
they hold the input events, not the learned state).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.detect.engine import Detector  # noqa: E402
from pipelines.replay import load_events, replay  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=2.0)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--corpus", type=Path, default=None)
    args = parser.parse_args()
    corpus = args.corpus or Path(f"out/bench-detect-{args.days}d-x{args.scale:g}")
    world = corpus / "world"
    if not (world / "labels.json").exists():
        from detector.simulate import generate

        print(f"generating {args.days} days at scale {args.scale} into {world} …", file=sys.stderr)
        generate(world, days=args.days, seed=7, scale=args.scale)
    inputs = [str(p) for p in sorted(world.iterdir()) if p.is_dir()]
    raw_mb = sum(p.stat().st_size for p in world.rglob("*") if p.is_file()) / 1e6

    gc.collect()
    t, cpu = time.perf_counter(), time.process_time()
    events = load_events(inputs, quiet=True)
    normalize_s, normalize_cpu = time.perf_counter() - t, time.process_time() - cpu

    gc.collect()
    detector = Detector()
    t, cpu = time.perf_counter(), time.process_time()
    result = replay(events, detector, quiet=True)
    detect_s, detect_cpu = time.perf_counter() - t, time.process_time() - cpu
    n = events.num_rows
    print(f"corpus: {raw_mb:.1f} MB of raw files, {n:,} events, {len(detector.tokens):,} tokens, "
          f"{len(detector.principals):,} principals, {len(result.alerts)} alerts")
    # wall time, and the process's CPU time beside it: on a shared machine the second is the
    # steadier of the two (other work steals wall time, not CPU time)
    print("                                                  events/s (wall)   events/s (CPU)")
    print(f"normalize (read, parse, sniff, map, dedup, sort): {n / normalize_s:>9,.0f} ({normalize_s:4.1f} s)"
          f"   {n / normalize_cpu:>9,.0f} ({normalize_cpu:4.1f} s)")
    print(f"detect (baselines, rules, windows, forest)      : {n / detect_s:>9,.0f} ({detect_s:4.1f} s)"
          f"   {n / detect_cpu:>9,.0f} ({detect_cpu:4.1f} s)")
    print(f"end to end from files                           : {n / (normalize_s + detect_s):>9,.0f}"
          f"            {n / (normalize_cpu + detect_cpu):>9,.0f}")

    del detector, result
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    detector = Detector()
    replay(events, detector, quiet=True)
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    tokens = len(detector.tokens)
    print(f"detector state retained: {retained / 1e6:.1f} MB = {retained / tokens:,.0f} bytes per tracked token "
          f"(all state: tokens, principals, peers, pods, incidents, open windows); peak during replay {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
