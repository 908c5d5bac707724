"""File ingestion: inputs → raw documents → normalized, de-duplicated event tables.

The same `Normalizer` and `StageDeduper` serve the Kafka processors; this module only adds the
file side (paths, progress, batching), so `normalize` and `detect` share one path from bytes to
events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections import Counter
from typing import Callable, Iterator

import pyarrow as pa

from detector.events import SCHEMA, SOURCE, TENANT, rows_to_table
from detector.normalize import Normalizer, StageDeduper
from detector.normalize.reader import expand_inputs, read_blocks, total_bytes

from .progress import bar

BATCH_EVENTS = 20_000


@dataclass
class IngestStats:
    """What an ingest run saw, for the end-of-run summary and for metrics."""

    files: int = 0
    records: int = 0
    events: Counter = field(default_factory=Counter)  # per source (after stage dedup)
    quarantined: Counter = field(default_factory=Counter)  # per reason
    skipped: Counter = field(default_factory=Counter)  # per reason
    stage_duplicates: int = 0

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "records": self.records,
            "events": dict(sorted(self.events.items())),
            "events_total": sum(self.events.values()),
            "quarantined": dict(sorted(self.quarantined.items())),
            "quarantined_total": sum(self.quarantined.values()),
            "skipped": dict(sorted(self.skipped.items())),
            "stage_duplicates": self.stage_duplicates,
        }


def ingest_files(
    inputs: list[str],
    *,
    on_quarantine: Callable | None = None,
    stats: IngestStats | None = None,
    quiet: bool = False,
    tenant: str | None = None,
    batch_events: int = BATCH_EVENTS,
) -> Iterator[pa.Table]:
    """Yield event tables of about `batch_events` rows, in input order (not time order).

    `tenant` fills events whose log carries no tenant (a plain K8s audit file does not name its
    cluster). Raises InputError before reading anything if an input does not exist.
    """
    paths = expand_inputs(inputs)
    stats = stats if stats is not None else IngestStats()
    normalizer = Normalizer(on_quarantine=on_quarantine)
    dedup = StageDeduper(rows=True)
    ctx = normalizer.ctx

    def finish(rows: list[tuple]) -> pa.Table:
        # rows, not dicts, all the way (see detector/events.py); tenant and counts per column
        table = rows_to_table(rows)
        if tenant is not None:
            table = table.set_column(TENANT, SCHEMA.field(TENANT), table.column(TENANT).fill_null(tenant))
        for item in table.column(SOURCE).value_counts().to_pylist():
            stats.events[item["values"]] += item["counts"]
        return table

    with bar("normalizing", total_bytes(paths), quiet=quiet, unit="bytes") as progress:
        for path in paths:
            stats.files += 1
            progress.describe(f"normalizing {path if len(path) < 40 else '…' + path[-39:]}")
            for block in read_blocks(path, on_bytes=progress.advance):
                start = 0
                while start < len(block):  # a block may hold the end of a batch
                    start = normalizer.feed_many(block, start, until_rows=batch_events)
                    if len(ctx.rows) >= batch_events:
                        yield finish(dedup.push(normalizer.take_rows()))
        tail = dedup.push(normalizer.take_rows()) + dedup.flush()
        if tail:
            yield finish(tail)
    stats.records += ctx.records
    stats.quarantined.update(ctx.quarantined)
    stats.skipped.update(ctx.skipped)
    stats.stage_duplicates += dedup.duplicates
