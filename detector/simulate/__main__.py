"""python -m detector.simulate OUT_DIR [--days N] [--seed S] [--scale X]"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from .generate import DEFAULT_START, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.simulate", description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--start", default=DEFAULT_START.strftime("%Y-%m-%d"), help="first day (UTC), YYYY-MM-DD")
    args = parser.parse_args(argv)
    start = datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=timezone.utc)

    def progress(done: int, total: int) -> None:
        print(f"\rday {done}/{total}", end="", file=sys.stderr, flush=True)

    summary = generate(args.out_dir, days=args.days, seed=args.seed, scale=args.scale, start=start, progress=progress)
    print(file=sys.stderr)
    print(f"wrote {summary.total_events:,} events in {summary.seconds:.1f} s to {summary.out_dir}")
    for source in ("k8s", "aws", "gcp", "azure"):
        print(f"  {source:6} {summary.events[source]:>9,} events  {summary.records[source]:>9,} records  "
              f"{len(summary.paths[source]):>5} files")
    print(f"  tokens used: {summary.tokens_total:,}   token-days: {summary.token_days:,}")
    for s in summary.scenarios:
        flag = "malicious" if s["malicious"] else "benign   "
        print(f"  {flag} {s['id']:<32} {s['start'][:16]}  {s['principal'] or '-'}")
    print(f"labels: {summary.labels_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
