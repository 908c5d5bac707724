"""Raw audit-log documents → TokenEvents, with every bad record quarantined and counted.

    >>> n = Normalizer()
    >>> n.feed(b'{"kind": 0}', "example:1")
    >>> dict(n.ctx.quarantined)
    {'unknown-shape': 1}

`Normalizer.feed` never raises for a bad record. The same object serves file replay and the
Kafka processors: each hands it raw bytes plus an origin string. Events are collected as rows
(tuples in `events.FIELDS` order, see `RowContext`): `take_rows()` hands them over for
`StageDeduper(rows=True)` and `events.rows_to_table`, the file pipeline's path; `take()` hands
them over as event dicts.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import math
import zlib
from typing import Any, Callable, Sequence

import orjson

from ..events import TENANT
from .aws_fast import feed_records
from .base import (
    BAD_ENCODING,
    INTERNAL_ERROR,
    INVALID_JSON,
    OVERSIZED,
    Context,
    Rejected,
    RowContext,
    Skipped,
)
from .dedup import StageDeduper
from .k8s_fast import row_from_line
from .reader import GZIP_MAGIC
from .shapes import dispatch

DEFAULT_MAX_RECORD_BYTES = 4 << 20  # K8s caps audit events near 1.5 MB; 4 MiB leaves room
# how an API server writes each audit line (Go's field order puts TypeMeta first)
_K8S_EVENT_LINE = b'{"kind":"Event",'
# a CloudTrail log file is `{"Records":[...]}` (S3 delivery; pretty-printed copies have spaces)
_CLOUDTRAIL_RECORDS = b'"Records"'
QuarantineCallback = Callable[[str, str, str, Any], None]


class Normalizer:
    """Parses, sniffs and normalizes raw documents; collects events and counters in `ctx`."""

    def __init__(
        self,
        on_quarantine: QuarantineCallback | None = None,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ):
        self.ctx = RowContext(on_quarantine)
        self.max_record_bytes = max_record_bytes

    def feed(self, raw: bytes, origin: str) -> None:
        """Normalize one raw document (a line, a file, a Kafka message value)."""
        ctx = self.ctx
        ctx.records += 1
        ctx.origin = origin
        if len(raw) > self.max_record_bytes:
            ctx.reject(OVERSIZED, f"{len(raw)} bytes > limit {self.max_record_bytes}", raw)
            return
        if raw.startswith(_K8S_EVENT_LINE):
            row = row_from_line(raw, origin)
            if row is not None:  # the plain case; anything else takes the generic path below
                ctx.rows.append(row)  # ctx.emit_row(row), inlined: this runs for most documents
                ctx.emitted["k8s"] += 1
                return
        elif raw[:1] == b"{" and _CLOUDTRAIL_RECORDS in raw[:32] and feed_records(raw, ctx):
            return  # a CloudTrail log file; records the fast path declines took the generic path
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            try:
                doc = self._decode_wrapped(raw)
            except Rejected as wrapped:
                ctx.reject(wrapped.reason, wrapped.detail, raw)
                return
            if doc is None:
                ctx.reject(INVALID_JSON, str(exc), raw)
                return
        self.feed_document(doc, origin, raw)

    def feed_many(self, docs: Sequence[tuple[bytes, str]], start: int = 0, until_rows: int | None = None) -> int:
        """`feed` each (raw, origin) of docs[start:], in order; returns the index after the last fed.

        Stops after the document that brings the collected rows to `until_rows`, so a caller
        cuts batches exactly where feeding one document at a time would (a block of documents
        from `reader.read_blocks` may hold a batch boundary).
        """
        ctx = self.ctx
        feed = self.feed
        until = math.inf if until_rows is None else until_rows
        for index in range(start, len(docs)):
            data, origin = docs[index]
            feed(data, origin)
            if len(ctx.rows) >= until:
                return index + 1
        return len(docs)

    def feed_document(self, doc: Any, origin: str, raw: Any = None) -> None:
        """Normalize an already parsed document (raw is kept only for the quarantine file)."""
        ctx = self.ctx
        ctx.origin = origin
        try:
            dispatch(doc, ctx)
        except Rejected as exc:
            ctx.reject(exc.reason, exc.detail, raw if raw is not None else doc)
        except Skipped as exc:
            ctx.skip(exc.reason)
        except Exception as exc:  # noqa: BLE001 - nothing raises out of normalization
            ctx.reject(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", raw if raw is not None else doc)

    def _decode_wrapped(self, raw: bytes) -> Any:
        """Documents that arrive encoded: gzip bytes, or a base64 line of gzip (the `data` of a
        CloudWatch Logs subscription record on Kinesis, as EKS audit logs are shipped).

        Returns None when `raw` looks like (broken) JSON rather than an encoding.
        """
        data = raw.strip()
        if data[:1] in (b"{", b"["):
            return None
        try:
            if data[:2] != GZIP_MAGIC:
                data = base64.b64decode(data, validate=True)
            if data[:2] != GZIP_MAGIC:
                raise Rejected(BAD_ENCODING, "base64 text that does not hold gzip data")
            data = gzip.decompress(data)
            if len(data) > self.max_record_bytes * 16:
                raise Rejected(OVERSIZED, f"decompressed payload of {len(data)} bytes")
            return orjson.loads(data)
        except (binascii.Error, ValueError, OSError, EOFError, zlib.error) as exc:
            raise Rejected(BAD_ENCODING, f"neither JSON nor base64/gzip JSON ({exc})") from None

    def take(self) -> list[dict[str, Any]]:
        """Hand over the events collected so far as dicts (a new list starts)."""
        return self.ctx.take()

    def take_rows(self) -> list[tuple]:
        """Hand over the events collected so far as rows (a new list starts)."""
        return self.ctx.take_rows()

    def fill_tenant(self, tenant: str, since: int = 0) -> None:
        """Set `tenant` on the events collected from index `since` on whose log named none (a
        plain K8s audit log does not name its cluster)."""
        rows = self.ctx.rows
        for i in range(since, len(rows)):
            row = rows[i]
            if row[TENANT] is None:
                rows[i] = row[:TENANT] + (tenant,) + row[TENANT + 1:]


__all__ = ["Normalizer", "StageDeduper", "Context", "RowContext", "Rejected", "Skipped"]
