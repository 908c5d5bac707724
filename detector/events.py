"""The TokenEvent contract: one normalized row per request, kept columnar.

Normalizers build events as plain dicts holding *every* field of `FIELDS` (start from
`new_event()`); the normalizer keeps each as a *row*, a tuple of the values in `FIELDS`
order (`row_of`), and the typed fast paths build rows directly. A tuple is a fifth of a
dict's memory, is built in one step, and a list of them becomes an Arrow table in C (as
one struct array, `rows_to_table`), with no transpose in Python. Per-event model
validation would cost more than the JSON parse itself (see ../shared/notes/performance.md):
the Arrow schema below is the validation, and `to_table`/`rows_to_table` fail loudly if a
normalizer puts a wrong type in a column.

Secrets never enter an event: the fields are an allow-list, and no normalizer copies
request or response bodies.
"""

from __future__ import annotations

import gc
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any, Iterable

import pyarrow as pa

SOURCES = ("k8s", "aws", "gcp", "azure")

# (name, arrow type, meaning). The order is the column order everywhere.
_SCHEMA_SPEC: list[tuple[str, pa.DataType, str]] = [
    ("ts", pa.int64(), "request time, microseconds since the epoch, UTC"),
    ("event_id", pa.string(), "dedup key: auditID / eventID / insertId / record id"),
    ("source", pa.string(), "k8s | aws | gcp | azure"),
    ("tenant", pa.string(), "cluster / account / project / tenant id"),
    ("principal", pa.string(), "identity the credential belongs to"),
    ("principal_type", pa.string(), "serviceaccount, user, node, IAMUser, AssumedRole, serviceAccount, servicePrincipal, ..."),
    ("token_id", pa.string(), "one credential of the principal (JTI, access key id, key id, ...)"),
    ("token_kind", pa.string(), "bound | legacy | x509 | session | access-key | web-identity | sa-key | oauth | sp-secret | sp-cert | ..."),
    ("bound_pod", pa.string(), "K8s: pod the bound token is tied to"),
    ("bound_pod_uid", pa.string(), "K8s: uid of that pod"),
    ("bound_node", pa.string(), "K8s: node of that pod"),
    ("source_ip", pa.string(), "normalized client IP, or null"),
    ("source_ip_raw", pa.string(), "the raw client address when it is not an IP (e.g. ec2.amazonaws.com)"),
    ("user_agent", pa.string(), "client user agent as logged"),
    ("action", pa.string(), "K8s verb:resource[/subresource]; cloud service:operation"),
    ("resource", pa.string(), "object acted on (name or ARN / resource path)"),
    ("namespace", pa.string(), "K8s namespace of the object"),
    ("region", pa.string(), "cloud region / location"),
    ("outcome", pa.string(), "success | failure"),
    ("status_code", pa.int32(), "HTTP-ish status code where the log has one"),
    ("error_code", pa.string(), "error code / reason text on failure"),
    ("read_only", pa.bool_(), "the request only reads"),
    ("acting_as", pa.string(), "identity the caller impersonated (K8s impersonation)"),
    ("lineage_kind", pa.string(), "issued | impersonating | delegated-by | exchanged-from"),
    ("lineage_principal", pa.string(), "principal on the other side of the link"),
    ("lineage_token", pa.string(), "token on the other side of the link"),
    ("origin", pa.string(), "where the raw record came from: file:line[#n] or topic/partition/offset"),
    ("stage", pa.string(), "K8s audit stage; used to collapse stage duplicates"),
]

FIELDS: tuple[str, ...] = tuple(name for name, _, _ in _SCHEMA_SPEC)
SCHEMA = pa.schema([pa.field(name, typ) for name, typ, _ in _SCHEMA_SPEC])
# Parquet/JSONL outputs carry a real timestamp column; in memory `ts` stays int64 µs.
OUTPUT_SCHEMA = SCHEMA.set(0, pa.field("ts", pa.timestamp("us", tz="UTC")))
DESCRIPTIONS: dict[str, str] = {name: doc for name, _, doc in _SCHEMA_SPEC}

_TEMPLATE: dict[str, Any] = dict.fromkeys(FIELDS)
# one row (FIELDS order) of an event dict, in C
row_of = itemgetter(*FIELDS)
# a list of rows converts to Arrow as one struct array: the transpose happens in C
_ROW_TYPE = pa.struct(list(SCHEMA))
# positions in a row, for code that reads a few fields of many rows
TS, EVENT_ID, SOURCE, TENANT, ORIGIN, STAGE = (FIELDS.index(f) for f in ("ts", "event_id", "source", "tenant", "origin", "stage"))


def new_event() -> dict[str, Any]:
    """A fresh event dict with every field present and null."""
    return _TEMPLATE.copy()


def event_of(row: tuple) -> dict[str, Any]:
    """The event dict of a row (the inverse of `row_of`)."""
    return dict(zip(FIELDS, row))


def rows_to_table(rows: list[tuple]) -> pa.Table:
    """Rows (tuples in FIELDS order) → an Arrow table of `SCHEMA` (the in-memory form)."""
    if not rows:
        return SCHEMA.empty_table()
    return pa.Table.from_struct_array(pa.array(rows, type=_ROW_TYPE))


def to_table(events: Iterable[dict[str, Any]]) -> pa.Table:
    """Event dicts → an Arrow table of `SCHEMA` (the in-memory form)."""
    # Making the rows allocates a tuple per event and frees them at once; it makes no reference
    # cycles, so the cyclic garbage collector is paused: otherwise its passes over every live
    # object (all the events held) cost more than the conversion itself.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return rows_to_table([row_of(e) for e in events])
    finally:
        if collecting:
            gc.enable()


def to_output(table: pa.Table) -> pa.Table:
    """The in-memory table with `ts` as a UTC timestamp column, for Parquet and JSONL files."""
    return table.set_column(0, OUTPUT_SCHEMA.field("ts"), table.column("ts").cast(OUTPUT_SCHEMA.field("ts").type))


def from_output(table: pa.Table) -> pa.Table:
    """Inverse of `to_output`: accept files written by `normalize` (timestamp or int ts)."""
    missing = [f for f in FIELDS if f not in table.column_names]
    if missing:
        raise ValueError(f"not a tokenhawk events table: missing columns {missing}")
    table = table.select(list(FIELDS))
    ts = table.column("ts")
    if pa.types.is_timestamp(ts.type):
        ts = ts.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return table.set_column(0, SCHEMA.field("ts"), ts).cast(SCHEMA)


def us_to_datetime(ts_us: int) -> datetime:
    return datetime.fromtimestamp(ts_us / 1_000_000, tz=timezone.utc)


def us_to_iso(ts_us: int) -> str:
    """RFC 3339 with microseconds and a Z, the form alerts and Elasticsearch use."""
    return us_to_datetime(ts_us).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
