#!/usr/bin/env python3
"""The inventory of N credentials (default 100k): build time and memory per token.

    python bench/inventory.py [--tokens 100000] [--events-per-token 4]

Synthetic but shaped like a busy cluster: pods whose bound tokens rotate hourly (most of the
tokens), plus legacy secret tokens and AWS access keys used all along. On one core it reports
CPU seconds (process time, so a shared machine's load does not inflate them) for:
  1. the detector alone, and the detector with the inventory observer (the inventory's cost is
     the difference: it is built in the same pass);
  2. the report (one row per credential, rotation evidence) and the ranked hygiene findings;
  3. the state snapshot (JSON) and the stream view messages;
then replays again under tracemalloc to report retained Python memory per token: the detector's
own state, and what the inventory adds.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

import orjson
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.config import DetectorConfig  # noqa: E402
from detector.detect.engine import Detector  # noqa: E402
from detector.events import FIELDS, SCHEMA  # noqa: E402
from detector.inventory import Inventory, build, hygiene  # noqa: E402
from detector.inventory import snapshot  # noqa: E402

T0 = 1_793_577_600_000_000  # 2026-11-02T00:00:00Z
MIN = 60_000_000
HOUR = 60 * MIN
ACTIONS = ("get:configmaps", "get:secrets", "watch:configmaps", "update:leases", "list:pods", "get:services")


def synthetic(tokens: int, per_token: int) -> pa.Table:
    """Time-ordered events: `pods` pods × `hours` hourly bound tokens ≈ 98% of the tokens, the rest
    long-lived (legacy tokens and access keys) spread over the same hours."""
    long_lived = max(1, tokens // 50)
    bound = tokens - long_lived
    pods = max(1, min(2000, bound // 24))
    hours = -(-bound // pods)
    step = 60 // per_token
    cols: dict[str, list] = {name: [] for name in FIELDS}
    n = 0

    def add(ts, principal, ptype, token, kind, pod, uid, node, ip, ua, action, namespace, source="k8s", tenant="prod"):
        nonlocal n
        n += 1
        for name, value in (("ts", ts), ("event_id", f"e{n}"), ("source", source), ("tenant", tenant),
                            ("principal", principal), ("principal_type", ptype), ("token_id", token),
                            ("token_kind", kind), ("bound_pod", pod), ("bound_pod_uid", uid), ("bound_node", node),
                            ("source_ip", ip), ("user_agent", ua), ("action", action), ("namespace", namespace),
                            ("outcome", "success"), ("status_code", 200), ("read_only", True)):
            cols[name].append(value)
        for name in ("source_ip_raw", "resource", "region", "error_code", "acting_as", "lineage_kind",
                     "lineage_principal", "lineage_token", "origin", "stage"):
            cols[name].append(None)

    made = 0
    per_hour_long = -(-long_lived * per_token // hours)
    long_ids = [(f"secret:ns{i % 20}/sa{i}-token" if i % 2 else f"AKIABENCH{i:011d}") for i in range(long_lived)]
    for h in range(hours):
        for slot in range(per_token):
            minute = slot * step
            for p in range(pods):
                if h * pods + p >= bound:
                    break
                ns = f"ns{p % 20}"
                add(T0 + h * HOUR + minute * MIN + p * 1000, f"system:serviceaccount:{ns}:app{p % 100}",
                    "serviceaccount", f"jti-{p}-{h}", "bound", f"{ns}/app{p % 100}-{p}", f"uid-{p}",
                    f"node-{p % 50}", f"10.244.{p % 250}.{p // 250 + 2}", f"app{p % 100}/v1.4.2 (linux/amd64) kubernetes/abc",
                    ACTIONS[(p + slot) % len(ACTIONS)], ns)
            for j in range(per_hour_long):
                i = (h * per_hour_long + j) % long_lived
                token = long_ids[i]
                ts = T0 + h * HOUR + minute * MIN + 500_000 + j * 1000
                if token.startswith("AKIA"):
                    add(ts, f"arn:aws:iam::111122223333:user/svc{i}", "IAMUser", token, "access-key", None, None,
                        None, f"198.51.{i % 250}.20", "aws-sdk-go-v2/1.25.0 os/linux", "s3:GetObject", None,
                        source="aws", tenant="111122223333")
                else:
                    add(ts, f"system:serviceaccount:ns{i % 20}:sa{i}", "serviceaccount", token, "legacy", None, None,
                        None, f"10.244.{i % 250}.200", "python-requests/2.31.0", "list:pods", f"ns{i % 20}")
        made = min(bound, (h + 1) * pods)
    del made
    order = sorted(range(n), key=cols["ts"].__getitem__)
    return pa.table([pa.array([cols[f.name][i] for i in order], type=f.type) for f in SCHEMA], schema=SCHEMA)


def replay(events: pa.Table, with_inventory: bool, batch: int = 20_000):
    inventory = Inventory() if with_inventory else None
    detector = Detector(DetectorConfig(), observers=[inventory] if inventory else [])
    for offset in range(0, events.num_rows, batch):
        detector.process(events.slice(offset, batch))
    detector.flush()
    return detector, inventory


def cpu(fn, *args):
    gc.collect()
    t = time.process_time()
    result = fn(*args)
    return result, time.process_time() - t


def retained(fn) -> tuple[int, object]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = fn()
    gc.collect()
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return size, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--events-per-token", type=int, default=4)
    args = parser.parse_args()

    events, gen_s = cpu(synthetic, args.tokens, args.events_per_token)
    print(f"synthetic events: {events.num_rows:,} ({gen_s:.1f} s CPU to make)")
    (detector, _), alone_s = cpu(replay, events, False)
    del detector
    (detector, inventory), both_s = cpu(replay, events, True)
    tokens = len(inventory.tokens)
    print(f"credentials: {tokens:,} ({sum(1 for t in detector.tokens.values() if t.kind == 'bound'):,} bound), "
          f"principals: {len(detector.principals):,}")
    print(f"detector alone            : {alone_s:6.1f} s CPU ({events.num_rows / alone_s:,.0f} events/s)")
    print(f"detector + inventory      : {both_s:6.1f} s CPU ({events.num_rows / both_s:,.0f} events/s); "
          f"the inventory's share {both_s - alone_s:+.1f} s ({(both_s - alone_s) / both_s:.0%})")
    report, report_s = cpu(build, inventory, detector)
    found, hygiene_s = cpu(hygiene, report, inventory.config)
    print(f"report ({len(report.tokens):,} rows)     : {report_s:6.1f} s CPU")
    print(f"hygiene ({len(found):,} findings)  : {hygiene_s:6.1f} s CPU")
    state, state_s = cpu(lambda: orjson.dumps(snapshot.state(inventory, detector)))
    print(f"state snapshot            : {state_s:6.1f} s CPU, {len(state) / 1e6:.1f} MB JSON = {len(state) / tokens:,.0f} bytes/token")
    messages, view_s = cpu(lambda: sum(len(v) for _, v in snapshot.messages(inventory, detector, report=report)))
    print(f"stream view messages      : {view_s:6.1f} s CPU, {messages / 1e6:.1f} MB")
    print(f"inventory of {tokens:,} tokens end to end (inventory share of the replay + report + hygiene): "
          f"{both_s - alone_s + report_s + hygiene_s:.1f} s CPU")
    del detector, inventory, report, found, state
    gc.collect()

    det_bytes, _ = retained(lambda: replay(events, False))
    gc.collect()
    both_bytes, kept = retained(lambda: replay(events, True))
    det_only_tokens = len(kept[0].tokens)
    inv_bytes = both_bytes - det_bytes
    print(f"retained memory: detector {det_bytes / 1e6:.1f} MB = {det_bytes / det_only_tokens:,.0f} bytes/token; "
          f"with the inventory {both_bytes / 1e6:.1f} MB = {both_bytes / det_only_tokens:,.0f} bytes/token "
          f"(the inventory adds {inv_bytes / det_only_tokens:,.0f} bytes/token)")


if __name__ == "__main__":
    main()
