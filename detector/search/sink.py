"""Bulk sinks into Elasticsearch: alerts (idempotent by id, spooled through outages) and events.

How alerts stay idempotent in a data stream
-------------------------------------------
Data streams are append-only: a write to the stream name must be `op_type=create`, and `create`
with an `_id` that already exists in the *current* backing index fails with 409, while after a
rollover it would silently add a second copy in the new backing index. Updating a document is
allowed only in the backing index that holds it, and only with `if_seq_no`/`if_primary_term`
(optimistic concurrency). So every alert batch is written as

1. look up the ids in every backing index of `logs-tokenhawk.alerts-default` with a realtime
   `_mget` (no refresh needed, sees documents written a millisecond ago);
2. ids found: `index` into *that* backing index with its `if_seq_no`/`if_primary_term` — unless
   the stored `tokenhawk.revision` is newer, in which case the delivery is stale and skipped;
3. ids not found: `create` into the data stream with `_id = alert.id`;
4. a 409 (someone wrote the same id in between) repeats the lookup for those ids.

Result: exactly one document per `alert.id`, updated in place as the incident grows, an older
revision never overwrites a newer one, and the alerts still live in the data stream the Kibana
objects and the ILM policy expect. (Kibana's own alerts-as-data framework writes alerts in data
streams the same way.) The one unavoidable gap, two writers racing on the same new id across a
rollover, needs two sinks owning the same alert; alerts are keyed by id in Kafka, so one
consumer owns each.

Outages
-------
Alerts are written to the on-disk spool (`spool.py`) before each attempt and removed only when
acknowledged. A failed `_bulk` (connection refused, timeout, 429, 5xx, even 401) is retried with
exponential backoff for `outage_wait_seconds`; then the alerts stay spooled, `send` returns,
and the next `send`/`flush` (after the backoff) delivers them. Nothing is dropped; documents
Elasticsearch rejects for good go to the spool's dead table with the reason.

Events are not spooled (they are the bulk of the volume and live in Parquet/Kafka anyway, and
re-indexing a file is idempotent with deterministic ids): `EventSink` retries with backoff and
then raises `EsUnavailable` with what it managed, for the caller to decide.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import orjson
import pyarrow as pa
from elasticsearch import ApiError, Elasticsearch
from pydantic import ValidationError

from detector.alert import Alert
from detector.events import FIELDS

from .client import RETRYABLE_STATUS, Backoff, EsUnavailable, SearchError, describe, is_transient
from .config import ElasticsearchConfig
from .docs import EventSelector, alert_doc, alert_revision, data_stream_fields, event_actions
from .spool import AlertSpool, SpooledAlert, SpoolFull

log = logging.getLogger(__name__)


class _Transient(Exception):
    """A whole request, or some of its items, failed in a way a later attempt may fix."""


@dataclass
class AlertReport:
    received: int = 0
    invalid: int = 0
    spooled: int = 0  # accepted into the spool (write-ahead)
    created: int = 0
    updated: int = 0
    stale: int = 0  # an older revision than the stored one: skipped
    dead: int = 0
    pending: int = 0  # still in the spool after this call
    attempts_failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        return self.created + self.updated

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("received", "invalid", "spooled", "created", "updated", "stale",
                                              "dead", "pending", "attempts_failed")} | {"errors": self.errors[:20]}


@dataclass
class EventReport:
    rows: int = 0
    indexed: int = 0
    duplicates: int = 0
    rejected: int = 0
    retried: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "indexed": self.indexed, "duplicates": self.duplicates, "rejected": self.rejected,
                "retried": self.retried, "skipped": dict(self.skipped), "errors": self.errors[:20]}


def _ndjson(ops: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> bytes:
    return b"".join(orjson.dumps(action) + b"\n" + orjson.dumps(doc) + b"\n" for action, doc in ops)


def _bulk(client: Elasticsearch, body: bytes) -> list[dict[str, Any]]:
    """POST one _bulk body; its items (action result dicts). Whole-request failures raise."""
    try:
        resp = client.bulk(operations=body, filter_path="errors,items.*.status,items.*._index,"
                                                        "items.*._id,items.*.result,items.*.error")
    except ApiError as exc:
        raise _Transient(describe(exc)) from exc
    except Exception as exc:  # connection refused, timeout, TLS: the cluster is not there
        if is_transient(exc):
            raise _Transient(describe(exc)) from exc
        raise
    return [next(iter(item.values())) for item in resp.get("items", [])]


def _item_error(result: dict[str, Any]) -> str:
    err = result.get("error")
    if isinstance(err, dict):
        return f"{result.get('status')} {err.get('type')}: {err.get('reason')}"
    return f"{result.get('status')} {err}"


class AlertSink:
    """Deliver alerts to the alerts data stream: idempotent by `alert.id`, spooled through outages.

    >>> # sink = AlertSink(make_client(cfg), cfg); sink.send(alerts); ...; sink.close()
    """

    def __init__(self, client: Elasticsearch, config: ElasticsearchConfig, *, spool: AlertSpool | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 validate: bool = True):
        self.client, self.config = client, config
        self.stream = config.alerts_data_stream
        self.stream_fields = data_stream_fields(self.stream)
        self.spool = spool if spool is not None else AlertSpool(
            config.spool_dir, max_alerts=config.spool_max_alerts, max_bytes=config.spool_max_bytes)
        self.sleep, self.clock, self.validate = sleep, clock, validate
        self.backoff = Backoff(config.backoff_initial_seconds, config.backoff_max_seconds)
        self._retry_at = 0.0  # after a failed flush, sends only spool until then

    # --- public ----------------------------------------------------------------------------------

    def send(self, alerts: Iterable[dict[str, Any]]) -> AlertReport:
        """Spool the alerts, then deliver whatever is pending (bounded by `outage_wait_seconds`).

        Raises SpoolFull (nothing of this batch stored) only when the spool is at its bound even
        after an attempt to drain it.
        """
        report = AlertReport()
        rows = []
        for alert in alerts:
            report.received += 1
            if self.validate:
                try:
                    Alert.model_validate(alert)
                except ValidationError as exc:
                    report.invalid += 1
                    aid = (alert.get("alert") or {}).get("id") if isinstance(alert, dict) else None
                    report.errors.append(f"invalid alert {aid}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
                    continue
            rows.append((alert["alert"]["id"], alert_revision(alert), alert))
        try:
            self.spool.put(rows)
        except SpoolFull:
            self.flush(report=report, force=True)
            self.spool.put(rows)  # still full: SpoolFull goes to the caller with nothing stored
        report.spooled = len(rows)
        self.flush(report=report)
        return report

    def flush(self, *, wait_seconds: float | None = None, report: AlertReport | None = None,
              force: bool = False) -> AlertReport:
        """Deliver pending alerts until the spool is empty or retries exceed `wait_seconds`.

        While a previous failure's backoff runs, returns at once (unless `force`), so a stream
        processor can call it every micro-batch without stalling on a dead cluster.
        """
        report = report if report is not None else AlertReport()
        now = self.clock()
        if not force and now < self._retry_at:
            report.pending = self.spool.pending_count()
            return report
        budget = self.config.outage_wait_seconds if wait_seconds is None else wait_seconds
        deadline = now + budget
        while True:
            batch = self.spool.batch(self.config.bulk_max_docs)
            if not batch:
                self.backoff.reset()
                self._retry_at = 0.0
                break
            try:
                self._deliver(batch, report)
                self.backoff.reset()
            except _Transient as exc:
                report.attempts_failed += 1
                message = f"Elasticsearch unavailable: {exc}"
                if not report.errors or report.errors[-1] != message:
                    report.errors.append(message)
                delay = self.backoff.next()
                if self.clock() + delay > deadline:
                    self._retry_at = self.clock() + delay
                    log.warning("alerts stay spooled (%d pending) after %s; next attempt in %.1f s",
                                self.spool.pending_count(), exc, delay)
                    break
                self.sleep(delay)
        report.pending = self.spool.pending_count()
        return report

    def close(self, wait_seconds: float = 0.0) -> AlertReport:
        """A last delivery attempt (bounded), then close the spool; pending alerts stay on disk."""
        report = self.flush(wait_seconds=wait_seconds, force=True) if self.spool.pending_count() else AlertReport()
        self.spool.close()
        return report

    # --- one batch -------------------------------------------------------------------------------

    def _deliver(self, batch: list[SpooledAlert], report: AlertReport) -> None:
        todo = list(batch)
        transient: list[SpooledAlert] = []
        for _ in range(4):  # 409s: someone wrote the same id between our lookup and our write
            existing = self._lookup([item.id for item in todo])
            ops, sent, done = [], [], []
            for item in todo:
                found = existing.get(item.id)
                doc = alert_doc(item.doc, self.stream_fields)
                if found is None:
                    ops.append(({"create": {"_index": self.stream, "_id": item.id}}, doc))
                elif item.revision < found["revision"]:
                    report.stale += 1
                    done.append(item)
                    continue
                else:
                    ops.append(({"index": {"_index": found["index"], "_id": item.id, "if_seq_no": found["seq_no"],
                                           "if_primary_term": found["primary_term"]}}, doc))
                sent.append(item)
            self.spool.done(done)
            done = []
            if not ops:
                todo = []
                break
            results = _bulk(self.client, _ndjson(ops))
            conflicts = []
            for item, result in zip(sent, results):
                status = int(result.get("status", 0))
                if 200 <= status < 300:
                    if result.get("result") == "created":
                        report.created += 1
                    else:
                        report.updated += 1
                    done.append(item)
                elif status == 409:
                    conflicts.append(item)
                elif status in RETRYABLE_STATUS:
                    transient.append(item)
                else:
                    reason = _item_error(result)
                    self.spool.dead(item, reason)
                    report.dead += 1
                    report.errors.append(f"alert {item.id} rejected by Elasticsearch: {reason}")
                    log.error("alert %s rejected by Elasticsearch: %s", item.id, reason)
            self.spool.done(done)
            todo = conflicts
            if not todo:
                break
        transient.extend(todo)
        if transient:
            self.spool.failed(transient, "retryable bulk item failure")
            raise _Transient(f"{len(transient)} alerts got a retryable answer (429/5xx/409)")

    def _lookup(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Where each id already lives: {id: {index, seq_no, primary_term, revision}} (realtime)."""
        try:
            resp = self.client.options(ignore_status=404).indices.get_data_stream(name=self.stream)
            streams = resp.get("data_streams") or []
            backing = [i["index_name"] for s in streams for i in s.get("indices", [])]
        except ApiError as exc:
            raise _Transient(describe(exc)) from exc
        except Exception as exc:
            if is_transient(exc):
                raise _Transient(describe(exc)) from exc
            raise
        found: dict[str, dict[str, Any]] = {}
        if not backing or not ids:
            return found
        docs = [{"_index": index, "_id": i, "_source": ["tokenhawk.revision"]} for index in backing for i in ids]
        for start in range(0, len(docs), 5000):
            try:
                resp = self.client.mget(docs=docs[start:start + 5000])
            except ApiError as exc:
                raise _Transient(describe(exc)) from exc
            except Exception as exc:
                if is_transient(exc):
                    raise _Transient(describe(exc)) from exc
                raise
            for doc in resp["docs"]:
                if not doc.get("found"):
                    continue  # not there, or the index was deleted by ILM meanwhile
                revision = int(((doc.get("_source") or {}).get("tokenhawk") or {}).get("revision") or 0)
                prev = found.get(doc["_id"])
                # a duplicate from an old race: update the newest copy
                if prev is None or doc["_index"] > prev["index"]:
                    found[doc["_id"]] = {"index": doc["_index"], "seq_no": doc["_seq_no"],
                                         "primary_term": doc["_primary_term"], "revision": revision}
        return found


class EventSink:
    """Bulk-index token events into the events data stream, with the volume knobs and retries."""

    def __init__(self, client: Elasticsearch, config: ElasticsearchConfig, *,
                 sleep: Callable[[float], None] = time.sleep):
        self.client, self.config, self.sleep = client, config, sleep
        self.selector = EventSelector(config)
        self.stream = config.events_data_stream

    def send_table(self, table: pa.Table, report: EventReport | None = None,
                   on_progress: Callable[[int], None] | None = None) -> EventReport:
        """Index an events table (in-memory schema, int64 µs `ts`), converted to rows a slice at a time."""
        def rows() -> Iterator[dict[str, Any]]:
            for offset in range(0, table.num_rows, 10_000):
                part = table.slice(offset, 10_000)
                columns = [part.column(name).to_pylist() for name in FIELDS]
                for values in zip(*columns):
                    yield dict(zip(FIELDS, values))
        return self.send(rows(), report=report, on_progress=on_progress)

    def send(self, rows: Iterable[dict[str, Any]], report: EventReport | None = None,
             on_progress: Callable[[int], None] | None = None) -> EventReport:
        report = report if report is not None else EventReport()
        if not self.config.events.enabled:
            return report
        counted = _Counting(rows)
        base = report.rows  # a report may add up several calls (one per file batch)
        for chunk in self._chunks(event_actions(counted, self.config, self.selector)):
            self._index(chunk, report)
            if on_progress is not None:
                on_progress(base + counted.n - report.rows)
            report.rows = base + counted.n
        if on_progress is not None and base + counted.n > report.rows:
            on_progress(base + counted.n - report.rows)
        report.rows = base + counted.n
        report.skipped = {k: v for k, v in self.selector.skipped.items() if v}
        return report

    def _chunks(self, actions: Iterator[tuple[str | None, dict[str, Any]]]) -> Iterator[list[bytes]]:
        chunk: list[bytes] = []
        size = 0
        for doc_id, doc in actions:
            action = {"create": {"_id": doc_id}} if doc_id else {"create": {}}
            line = orjson.dumps(action) + b"\n" + orjson.dumps(doc) + b"\n"
            if chunk and (len(chunk) >= self.config.bulk_max_docs or size + len(line) > self.config.bulk_max_bytes):
                yield chunk
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            yield chunk

    def _index(self, lines: list[bytes], report: EventReport) -> None:
        backoff = Backoff(self.config.backoff_initial_seconds, self.config.backoff_max_seconds)
        pending = lines
        attempt = 0
        while True:
            try:
                results = self._bulk_events(b"".join(pending))
                retry = []
                reasons: Counter[str] = Counter()
                for line, result in zip(pending, results):
                    status = int(result.get("status", 0))
                    if 200 <= status < 300:
                        report.indexed += 1
                    elif status == 409:
                        report.duplicates += 1
                    elif status in RETRYABLE_STATUS:
                        retry.append(line)
                    else:
                        report.rejected += 1
                        reasons[_item_error(result)] += 1
                for reason, n in reasons.items():
                    if len(report.errors) < 20:
                        report.errors.append(f"{n} events rejected: {reason}")
                if not retry:
                    return
                pending = retry
                problem = f"{len(retry)} events got 429/5xx"
            except _Transient as exc:
                problem = str(exc)
            attempt += 1
            report.retried += len(pending)
            if attempt > self.config.max_retries:
                raise EsUnavailable(
                    f"Elasticsearch unavailable after {attempt} attempts ({problem}); {report.indexed:,} events "
                    f"indexed before; indexing the same input again is safe (deterministic ids)"
                )
            self.sleep(backoff.next())

    def _bulk_events(self, body: bytes) -> list[dict[str, Any]]:
        try:
            resp = self.client.bulk(operations=body, index=self.stream,
                                    filter_path="errors,items.*.status,items.*.error")
        except ApiError as exc:
            if exc.meta.status in RETRYABLE_STATUS:
                raise _Transient(describe(exc)) from exc
            raise SearchError(f"bulk indexing into {self.stream} failed: {describe(exc)}") from exc
        except Exception as exc:
            if is_transient(exc):
                raise _Transient(describe(exc)) from exc
            raise
        return [next(iter(item.values())) for item in resp.get("items", [])]


class _Counting:
    """Counts rows as they are pulled through a generator pipeline."""

    def __init__(self, rows: Iterable[dict[str, Any]]):
        self.rows, self.n = iter(rows), 0

    def __iter__(self) -> "_Counting":
        return self

    def __next__(self) -> dict[str, Any]:
        row = next(self.rows)
        self.n += 1
        return row
