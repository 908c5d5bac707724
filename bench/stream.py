#!/usr/bin/env python3
"""Kafka stream mode through the real broker: detect throughput per process, and produce→alert
latency at a steady rate.

    python bench/stream.py [--days 14] [--scale 1.0] [--partitions 3] [--rate 5000]
                           [--latency-seconds 30] [--bootstrap HOST:PORT]

Without --bootstrap the local broker of scripts/kafka is used (started if needed, and stopped
again if this script started it). The input is the labelled demo world (`detector.simulate`),
normalized once and cached under .bench/ (tests/detect_world.py's world, cloned across tenants,
if the generator is not available).

1. Throughput: every event is loaded into tokenhawk.events (+ facts) first, then ONE detect
   processor (this process) consumes them: poll, event-time alignment, Detector.process, alerts
   produced and acknowledged, state snapshots and commits. Printed: events/s over the whole
   run and over the scoring phase (after the learning period), next to the same detector fed
   the same events from memory with the same inventory observer (the ratio is the cost of
   Kafka), and the snapshot sizes.
2. Latency: a `tokenhawk stream detect` process is warmed up with the learning period, then
   events are produced at --rate events/s; a few probe events per second (a known bound token
   used from a public address) make alerts. Latency is the time from producing an alert's
   newest evidence event to reading the alert from tokenhawk.alerts: p50/p99 over the open
   alert documents that arrive during the paced phase. An incident's closing document (status
   "closed", sent once `incident_gap` of event time passed without new evidence: at this rate
   about a second of wall time after its last event) is timed apart, and with it included.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detector.config import DetectorConfig  # noqa: E402
from detector.detect.engine import Detector  # noqa: E402
from detector.events import from_output, to_output, to_table  # noqa: E402
from pipelines.stream.config import KafkaConfig, TopicsConfig  # noqa: E402

DAY_US = 86_400_000_000


# --- input --------------------------------------------------------------------------------------


def world_events(days: int, scale: float, cache: Path) -> pa.Table:
    path = cache / f"events-d{days}-s{scale}.parquet"
    if path.exists():
        return from_output(pq.read_table(path))
    cache.mkdir(parents=True, exist_ok=True)
    try:
        from detector.simulate import generate
    except ImportError:
        table = _detect_world_events(days, scale)
    else:
        from pipelines.replay import load_events

        world = cache / f"world-d{days}-s{scale}"
        print(f"generating a {days}-day demo world (scale {scale}) into {world} …", file=sys.stderr)
        generate(world, days=days, seed=11, scale=scale)
        table = load_events([str(world / s) for s in ("k8s", "aws", "gcp", "azure") if (world / s).exists()], quiet=True)
        shutil.rmtree(world, ignore_errors=True)
    pq.write_table(to_output(table), path)
    return table


def _detect_world_events(days: int, scale: float) -> pa.Table:
    sys.path.insert(0, str(ROOT / "tests"))
    from detect_world import World

    base = World(days=days).events
    events = []
    for k in range(max(1, round(40 * scale))):
        for e in base:
            events.append(dict(e, tenant=f"{e['tenant']}-{k}", event_id=f"{e['event_id']}-{k}"))
    events.sort(key=lambda e: e["ts"])
    return to_table(events)


# --- broker and topics -----------------------------------------------------------------------------


def broker(bootstrap: str | None) -> tuple[str, bool]:
    if bootstrap:
        return bootstrap, False
    script = ROOT / "scripts" / "kafka"
    status = subprocess.run([str(script), "status"], capture_output=True, text=True)
    if status.returncode == 0:
        return status.stdout.strip().splitlines()[-1], False
    started = subprocess.run([str(script), "start"], capture_output=True, text=True, check=True)
    return started.stdout.strip().splitlines()[-1], True


KAFKA_OVERRIDES: dict = {}  # from --kafka KEY=VALUE, for every config below


def kafka_config(bootstrap: str, partitions: int, **overrides) -> KafkaConfig:
    base = f"bench-{uuid.uuid4().hex[:8]}"
    topics = TopicsConfig(raw={"k8s": f"{base}.audit.k8s"}, events=f"{base}.events", facts=f"{base}.facts",
                          alerts=f"{base}.alerts", dlq=f"{base}.dlq", state=f"{base}.state")
    values = dict(bootstrap_servers=bootstrap, topics=topics, partitions=partitions, detect_group=f"{base}-detect",
                  normalize_group=f"{base}-normalize", metrics_port=None, session_timeout_ms=6000)
    values.update(overrides)
    values.update(KAFKA_OVERRIDES)
    return KafkaConfig(**values)


# --- 1. throughput ------------------------------------------------------------------------------


def throughput(events: pa.Table, bootstrap: str, partitions: int, detector_config: DetectorConfig,
               poll_records: int) -> dict:
    from pipelines.stream.detect import DetectProcessor
    from pipelines.stream.metrics import StreamMetrics
    from pipelines.stream.produce import produce_events
    from pipelines.stream.service import tune_gc
    from pipelines.stream.topics import ensure_topics

    config = kafka_config(bootstrap, partitions, max_poll_records=poll_records, snapshot_interval_s=10.0)
    ensure_topics(config)
    started = time.perf_counter()
    produce_events(config, [events])
    produce_s = time.perf_counter() - started

    processor = DetectProcessor(config, detector_config, StreamMetrics())
    tune_gc()  # as `tokenhawk stream` does
    learning_end = events.column("ts")[0].as_py() + detector_config.us("learning_period")
    marks = []  # (wall time, events processed, detector max_ts)
    first = None
    said = time.perf_counter()
    try:
        while processor.events < events.num_rows:
            processor.step(timeout_ms=200)
            if processor.events and first is None:
                first = time.perf_counter()
            marks.append((time.perf_counter(), processor.events, processor.detector.max_ts or 0))
            if marks[-1][0] - said > 10:
                said = marks[-1][0]
                print(f"  … {processor.events:,} events detected", file=sys.stderr)
        processor.finish()
        sizes = dict(processor.store.last_bytes)
    finally:
        processor.close()
    end = marks[-1][0]
    scoring = next(((t, n) for t, n, ts in marks if ts >= learning_end), None)
    out = {
        "events": events.num_rows,
        "produce_events_per_s": events.num_rows / produce_s,
        "stream_events_per_s": events.num_rows / (end - first),
        "alerts": processor.alerts,
        "snapshot_bytes_per_partition": sizes,
    }
    if scoring is not None and end > scoring[0]:
        out["stream_scoring_events_per_s"] = (events.num_rows - scoring[1]) / (end - scoring[0])

    out["consume_decode_events_per_s"] = _consume_only(config, events.num_rows)

    # the same detector on the same events from memory, batches of the same size, with the
    # token inventory riding along as in the stream process
    from detector.inventory import Inventory

    detector = Detector(detector_config, observers=[Inventory()])
    started = time.perf_counter()
    scoring_started = scoring_at = None
    for offset in range(0, events.num_rows, poll_records):
        chunk = events.slice(offset, poll_records)
        detector.process(chunk)
        if scoring_started is None and (detector.max_ts or 0) >= learning_end:
            scoring_started, scoring_at = time.perf_counter(), offset + chunk.num_rows
    detector.flush()
    elapsed = time.perf_counter() - started
    out["memory_events_per_s"] = events.num_rows / elapsed
    if scoring_started is not None:
        out["memory_scoring_events_per_s"] = (events.num_rows - scoring_at) / (time.perf_counter() - scoring_started)
    return out


def _consume_only(config: KafkaConfig, total: int) -> float:
    """The Kafka half alone: poll the events topic and decode every record, no detection."""
    from kafka import KafkaConsumer, TopicPartition

    from pipelines.stream.codec import decode_rows

    consumer = KafkaConsumer(**config.consumer_kwargs(None))
    tps = [TopicPartition(config.topics.events, p) for p in sorted(consumer.partitions_for_topic(config.topics.events))]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    n, started = 0, time.perf_counter()
    while n < total:
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                n += len(decode_rows(record.value))  # as the detect processor decodes (arrays too)
    elapsed = time.perf_counter() - started
    consumer.close()
    return n / elapsed


# --- 2. latency ---------------------------------------------------------------------------------


def latency(events: pa.Table, bootstrap: str, partitions: int, detector_config: DetectorConfig, rate: int,
            seconds: float, workdir: Path) -> dict:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    from pipelines.stream.normalize import EventPublisher
    from pipelines.stream.topics import ensure_topics

    config = kafka_config(bootstrap, partitions, snapshot_interval_s=5.0, max_poll_records=5000)
    ensure_topics(config)
    workdir.mkdir(parents=True, exist_ok=True)
    settings = workdir / "stream.yaml"
    settings.write_text(orjson.dumps({"kafka": config.model_dump(mode="json"),
                                      "detector": detector_config.model_dump(mode="json")}).decode())
    rows = events.to_pylist()
    warm = sum(1 for e in rows if e["ts"] < rows[0]["ts"] + detector_config.us("learning_period") + DAY_US // 4)
    producer = KafkaProducer(**config.producer_kwargs(linger_ms=2))
    publisher = EventPublisher(config, producer, processor="bench")
    publisher.publish(rows[:warm])
    producer.flush()

    log = open(workdir / "detect.log", "wb")
    metrics_port = _free_port()
    detect = subprocess.Popen([sys.executable, "-c", "from pipelines.cli import run; run()", "stream", "detect",
                               "--config", str(settings), "--metrics-port", str(metrics_port)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=log)
    sent: dict[str, float] = {}
    arrived: list[tuple[float, dict]] = []
    stop = threading.Event()

    def read_alerts():
        consumer = KafkaConsumer(config.topics.alerts, group_id=None, auto_offset_reset="earliest",
                                 fetch_max_wait_ms=20, **config.client_kwargs())
        while not stop.is_set():
            for batch in consumer.poll(timeout_ms=100).values():
                now = time.perf_counter()
                arrived.extend((now, orjson.loads(r.value)) for r in batch)
        consumer.close()

    reader = threading.Thread(target=read_alerts, daemon=True)
    try:
        group = KafkaConsumer(group_id=config.detect_group, enable_auto_commit=False, **config.client_kwargs())
        tps = [TopicPartition(config.topics.events, p) for p in range(partitions)]
        warm_records = sum(group.end_offsets(tps).values())  # offsets count records (arrays hold several events)
        deadline = time.monotonic() + 600
        while sum(group.committed(tp) or 0 for tp in tps) < warm_records:  # the learning period is in
            if detect.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the detect process did not warm up; see {workdir / 'detect.log'}")
            time.sleep(0.5)
        group.close()
        reader.start()
        probes = _probe_templates(rows[:warm])
        paced = rows[warm:warm + int(rate * seconds)]
        tick = 0.01
        per_tick = max(1, int(rate * tick))
        probe_every = max(1, int(rate / 5 / per_tick))  # about five probes per second
        begin = time.perf_counter()
        for i, start in enumerate(range(0, len(paced), per_tick)):
            chunk = paced[start:start + per_tick]
            if probes and i % probe_every == 0:
                # a fresh token of a known pod, used from a public address: a new incident each time
                template = probes[i % len(probes)]
                chunk = chunk + [dict(template, ts=chunk[-1]["ts"], event_id=f"probe-{i}", token_id=f"probe-jti-{i}",
                                      source_ip=f"198.51.100.{i % 250 + 1}")]
            now = time.perf_counter()
            for e in chunk:
                sent[e["event_id"]] = now
            publisher.publish(chunk)  # sent within linger_ms; no flush per tick
            wait = begin + (i + 1) * tick - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        producer.flush()
        paced_s = time.perf_counter() - begin
        scraped = _scrape(metrics_port)
        time.sleep(5)  # the last alerts
    finally:
        stop.set()
        detect.send_signal(signal.SIGTERM)
        try:
            detect.wait(timeout=60)
        except subprocess.TimeoutExpired:
            detect.kill()
        producer.close()
        log.close()
    samples, series, closing = [], [], []
    for when, alert in arrived:
        ids = [s.get("event_id") for s in alert["tokenhawk"]["signals"]] + alert.get("event_ids", [])
        times = [sent[i] for i in ids if i in sent]
        if not times:
            continue
        if alert["alert"].get("status") == "closed":
            # the incident's last document, sent once `incident_gap` of event time has passed
            # without new evidence: its wait is the detector's gap, not delivery
            closing.append(when - max(times))
            continue
        samples.append(when - max(times))
        series.append((max(times) - begin, when - max(times)))
    samples.sort()
    closing.sort()
    every = sorted(samples + closing)
    # by 5-second slice of the paced phase: a growing latency means the detector falls behind
    slices: dict[int, list[float]] = {}
    for at, value in series:
        slices.setdefault(int(at // 5) * 5, []).append(value)
    by_slice = {f"{k}s": round(max(v), 3) for k, v in sorted(slices.items())}

    def pct(q: float, values: list[float] = samples) -> float | None:
        return values[min(len(values) - 1, int(q * len(values)))] if values else None

    return {"rate_target": rate, "rate_achieved": len(paced) / paced_s, "seconds": paced_s,
            "lag_at_end": scraped.get("lag"), "detect_process": scraped,
            "alerts_measured": len(samples), "latency_p50_s": pct(0.50), "latency_p99_s": pct(0.99),
            "latency_max_s": samples[-1] if samples else None, "latency_max_by_5s": by_slice,
            "closing_documents": len(closing), "closing_p50_s": pct(0.50, closing),
            "all_documents_p50_s": pct(0.50, every), "all_documents_p99_s": pct(0.99, every)}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(port: int) -> dict:
    """From the detect process's /metrics: events not processed yet, batch sizes and times."""
    import urllib.request

    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return {}
    values: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        key = name.split("{", 1)[0]
        values[key] = values.get(key, 0.0) + float(value)
    batches = values.get("tokenhawk_stream_batch_seconds_count", 0.0)
    return {
        "lag": values.get("tokenhawk_stream_consumer_lag"),
        "batches": batches,
        "mean_batch_events": values.get("tokenhawk_stream_batch_records_sum", 0.0) / batches if batches else None,
        "mean_batch_seconds": values.get("tokenhawk_stream_batch_seconds_sum", 0.0) / batches if batches else None,
        "snapshot_seconds_mean": (values.get("tokenhawk_stream_snapshot_seconds_sum", 0.0)
                                  / max(values.get("tokenhawk_stream_snapshot_seconds_count", 0.0), 1.0)),
    }


def _probe_templates(rows: list[dict]) -> list[dict]:
    """Recent bound-token events of service accounts: replayed from a public address they alert."""
    seen: dict[str, dict] = {}
    for e in reversed(rows[-50_000:]):
        if e["source"] == "k8s" and e["token_kind"] == "bound" and e["principal"].startswith("system:serviceaccount:") \
                and e["principal"] not in seen:
            seen[e["principal"]] = e
    return list(seen.values())[:20]


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--poll-records", type=int, default=10_000)
    parser.add_argument("--learning-period", default="2d")
    parser.add_argument("--rate", type=int, default=5000, help="events/s for the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--cache", type=Path, default=ROOT / ".bench")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--kafka", action="append", default=[], metavar="KEY=VALUE",
                        help="a kafka setting for both phases (YAML value), e.g. snapshot_in_background=false")
    args = parser.parse_args()
    import yaml

    for item in args.kafka:
        key, _, value = item.partition("=")
        KAFKA_OVERRIDES[key] = yaml.safe_load(value)

    events = world_events(args.days, args.scale, args.cache)
    detector_config = DetectorConfig(learning_period=args.learning_period)
    bootstrap, started = broker(args.bootstrap)
    print(f"{events.num_rows:,} events ({args.days} days, scale {args.scale}); broker {bootstrap}; "
          f"{args.partitions} partitions; {os.cpu_count()} CPUs", file=sys.stderr)
    results: dict = {}
    try:
        if not args.skip_throughput:
            results["throughput"] = t = throughput(events, bootstrap, args.partitions, detector_config, args.poll_records)
            print(f"throughput, one detect process: {t['stream_events_per_s']:,.0f} events/s over the whole run"
                  + (f", {t['stream_scoring_events_per_s']:,.0f} events/s once scoring" if 'stream_scoring_events_per_s' in t else "")
                  + f"; the same detector from memory: {t['memory_events_per_s']:,.0f}"
                  + (f" / {t['memory_scoring_events_per_s']:,.0f}" if 'memory_scoring_events_per_s' in t else "")
                  + f" events/s (stream ÷ memory = {t['stream_events_per_s'] / t['memory_events_per_s']:.2f}); "
                  f"Kafka alone (poll + decode): {t['consume_decode_events_per_s']:,.0f} events/s; "
                  f"loading the topic: {t['produce_events_per_s']:,.0f} events/s")
            print(f"snapshot records (bytes, zlib JSON): {t['snapshot_bytes_per_partition']}")
        if not args.skip_latency:
            results["latency"] = lat = latency(events, bootstrap, args.partitions, detector_config, args.rate,
                                               args.latency_seconds, args.cache / "latency")
            fmt = lambda v: "n/a" if v is None else f"{v:.3f} s"  # noqa: E731
            print(f"latency at {lat['rate_achieved']:,.0f} events/s for {lat['seconds']:.0f} s: "
                  f"p50 {fmt(lat['latency_p50_s'])}, p99 {fmt(lat['latency_p99_s'])}, max {fmt(lat['latency_max_s'])} "
                  f"over {lat['alerts_measured']} open alert documents; {lat['lag_at_end']} events not yet processed "
                  f"when the paced phase ended; counting the {lat['closing_documents']} closing documents too "
                  f"(sent when an incident's gap of event time has passed): p50 {fmt(lat['all_documents_p50_s'])}, "
                  f"p99 {fmt(lat['all_documents_p99_s'])}")
    finally:
        if started:
            subprocess.run([str(ROOT / "scripts" / "kafka"), "stop"], capture_output=True)
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


if __name__ == "__main__":
    main()
