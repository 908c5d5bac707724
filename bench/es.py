#!/usr/bin/env python3
"""Bulk indexing speed into Elasticsearch: token events (docs/s) and alerts (idempotent writes/s).

    python bench/es.py [--events 200000] [--alerts 2000] [--es-url URL] [--events-file events.parquet]

Uses the local node of scripts/elasticsearch (started if needed, and stopped again if this script
started it) unless --es-url names another cluster. Each run writes into a fresh namespace of the
tokenhawk data streams and deletes it afterwards. Prints, for the same events:

  1. documents built and serialized per second without Elasticsearch (the Python side alone),
  2. events bulk-indexed per second with deterministic ids (the default: re-indexing is idempotent),
  3. events bulk-indexed per second with Elasticsearch's own ids (events.deterministic_ids=false),
  4. alerts written per second through AlertSink (realtime lookup + create), then redelivered
     (lookup + conditional update in place),

and each indexing rate as a ratio of (1) so figures compare across machines: below 1, Elasticsearch
is the bottleneck. Events come from --events-file (e.g. the events.parquet of `tokenhawk demo`) or
are synthesized (Kubernetes and AWS traffic of many tokens).
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
import pyarrow as pa  # noqa: E402

from detector.alert import example_alert  # noqa: E402
from detector.event_files import read_events  # noqa: E402
from detector.events import FIELDS, new_event, to_table  # noqa: E402
from detector.search import AlertSink, ElasticsearchConfig, EventSink, make_client  # noqa: E402
from detector.search.docs import event_actions  # noqa: E402
from detector.search.setup import client_call, setup  # noqa: E402

SCRIPT = REPO / "scripts" / "elasticsearch"


def synthetic_events(n: int, seed: int = 7) -> pa.Table:
    rng = random.Random(seed)
    t0 = 1_794_000_000_000_000
    rows = []
    for i in range(n):
        e = new_event()
        ts = t0 + i * 50_000  # 20 requests/s
        if rng.random() < 0.7:
            sa = rng.randrange(400)
            e.update(ts=ts, event_id=str(uuid.UUID(int=rng.getrandbits(128))), source="k8s", tenant="prod-eu-1",
                     principal=f"system:serviceaccount:ns{sa % 40}:app{sa}", principal_type="serviceaccount",
                     token_id=f"jti-{sa}-{i // 72_000}", token_kind="bound", bound_pod=f"ns{sa % 40}/app{sa}-7d9f8",
                     bound_pod_uid=f"uid-{sa}", bound_node=f"node-{sa % 12}", source_ip=f"10.244.{sa % 200}.{sa % 250 + 1}",
                     user_agent="app/1.4.2 (linux/amd64) kubernetes/abc123",
                     action=rng.choice(["get:configmaps", "list:pods", "get:secrets", "watch:endpoints", "update:leases"]),
                     resource=f"cfg-{sa % 7}", namespace=f"ns{sa % 40}", outcome="success", status_code=200, read_only=True,
                     origin=f"audit.log:{i}", stage="ResponseComplete")
        else:
            key = rng.randrange(150)
            failed = rng.random() < 0.02
            e.update(ts=ts, event_id=str(uuid.UUID(int=rng.getrandbits(128))), source="aws", tenant="111122223333",
                     principal=f"arn:aws:iam::111122223333:role/svc-{key}", principal_type="AssumedRole",
                     token_id=f"ASIA{key:016d}", token_kind="session", source_ip=f"3.120.{key % 250}.10",
                     user_agent="aws-sdk-go-v2/1.25.0 os/linux lang/go#1.22", region="eu-west-1",
                     action=rng.choice(["s3:GetObject", "dynamodb:PutItem", "sts:GetCallerIdentity", "kms:Decrypt"]),
                     resource=f"arn:aws:s3:::bucket-{key % 9}/obj", outcome="failure" if failed else "success",
                     error_code="AccessDenied" if failed else None, read_only=True, origin=f"trail.json:{i}")
        rows.append(e)
    return to_table(rows)


def local_node() -> tuple[str, bool]:
    status = subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True)
    if status.returncode == 0:
        return subprocess.run([str(SCRIPT), "url"], capture_output=True, text=True, check=True).stdout.strip(), False
    print("starting the local Elasticsearch node (scripts/elasticsearch start) …", file=sys.stderr)
    url = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return url, True


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f}/s ({seconds:.1f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="synthetic events (ignored with --events-file)")
    parser.add_argument("--events-file", type=Path, default=None)
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--es-url", default=None)
    parser.add_argument("--bulk-docs", type=int, default=2000)
    args = parser.parse_args()

    if args.events_file:
        table = pa.concat_tables(list(read_events(args.events_file)))
        what = f"{table.num_rows:,} events from {args.events_file}"
    else:
        table = synthetic_events(args.events)
        what = f"{table.num_rows:,} synthetic events (70% k8s, 30% aws; 400 service accounts, 150 roles)"
    url, started = (args.es_url, False) if args.es_url else local_node()
    ns = uuid.uuid4().hex[:8]
    spool = tempfile.mkdtemp(prefix="bench-es-spool-")
    cfg = ElasticsearchConfig(url=url, alerts_data_stream=f"logs-tokenhawk.alerts-bench{ns}",
                              events_data_stream=f"logs-tokenhawk.events-bench{ns}", spool_dir=spool,
                              bulk_max_docs=args.bulk_docs)
    auto = cfg.model_copy(update={"events_data_stream": f"logs-tokenhawk.events-benchauto{ns}",
                                  "events": cfg.events.model_copy(update={"deterministic_ids": False})})
    client = make_client(cfg)
    info = client.info()
    try:
        setup(client_call(client), cfg)
        setup(client_call(client), auto)
        print(f"Elasticsearch {info['version']['number']} at {url}; {what}; _bulk of {args.bulk_docs} docs, one client thread")

        t = time.perf_counter()
        columns = [table.column(name).to_pylist() for name in FIELDS]
        size = 0
        for doc_id, doc in event_actions((dict(zip(FIELDS, v)) for v in zip(*columns)), cfg):
            size += len(orjson.dumps({"create": {"_id": doc_id}})) + len(orjson.dumps(doc)) + 2
        build_s = time.perf_counter() - t
        n = table.num_rows
        print(f"1. build + serialize ECS documents (no ES)   : {rate(n, build_s)}, {size / n:.0f} bytes/doc")

        t = time.perf_counter()
        report = EventSink(client, cfg).send_table(table)
        ids_s = time.perf_counter() - t
        assert report.indexed == n, report.as_dict()
        print(f"2. events → ES, deterministic ids (default)  : {rate(n, ids_s)}  ratio to (1) {build_s / ids_s:.2f}")

        t = time.perf_counter()
        report = EventSink(client, auto).send_table(table)
        auto_s = time.perf_counter() - t
        assert report.indexed == n, report.as_dict()
        print(f"3. events → ES, Elasticsearch ids            : {rate(n, auto_s)}  ratio to (1) {build_s / auto_s:.2f}")

        alerts = []
        for i in range(args.alerts):
            a = example_alert()
            a["alert"]["id"] = f"bench-{ns}-{i:06d}"
            alerts.append(a)
        sink = AlertSink(client, cfg)
        t = time.perf_counter()
        for start in range(0, len(alerts), 500):
            report = sink.send(alerts[start:start + 500])
            assert report.created == len(alerts[start:start + 500]), report.as_dict()
        create_s = time.perf_counter() - t
        for a in alerts:
            a["tokenhawk"]["revision"] = 4
        t = time.perf_counter()
        for start in range(0, len(alerts), 500):
            report = sink.send(alerts[start:start + 500])
            assert report.updated == len(alerts[start:start + 500]), report.as_dict()
        update_s = time.perf_counter() - t
        sink.close()
        print(f"4. alerts → ES, new (lookup + create)        : {rate(len(alerts), create_s)}")
        print(f"   alerts → ES, next revision (update by id) : {rate(len(alerts), update_s)}")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory of this process: {peak_mb:,.0f} MB")
    finally:
        for stream in (cfg.alerts_data_stream, cfg.events_data_stream, auto.events_data_stream):
            client.options(ignore_status=404).indices.delete_data_stream(name=stream)
        client.close()
        if started:
            subprocess.run([str(SCRIPT), "stop"], capture_output=True)


if __name__ == "__main__":
    main()
