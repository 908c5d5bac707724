"""Records on tokenhawk's topics: TokenEvents as JSON objects, alerts, dead letters.

An event travels as the JSON object of its `FIELDS` (measured in bench/stream.py against Arrow
IPC batches: JSON keeps a record readable by any consumer). By default one event per record,
keyed by its principal; with `kafka.events_per_record` > 1 a record holds a JSON array of up to
that many events of one partition, in time order (`encode_array`): kafka-python spends about
14 µs of pure Python per record it fetches, more than the detector spends on most events.

The detect processor decodes a record with msgspec straight into typed rows (`decode_row`,
`decode_rows`), falling back to the dict decoder for anything the typed decode refuses, so the
reasons for refusing an event stay those of `decode_event`, and one bad event in an array costs
only itself; the Arrow schema checks the rest for a whole batch at once, and only a batch that
fails is looked at row by row.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import msgspec
import orjson
import pyarrow as pa

from detector.events import FIELDS, SOURCES, rows_to_table
from detector.quarantine import RAW_CLIP_CHARS, raw_text
from detector.redact import clip

_FIELD_SET = frozenset(FIELDS)
_SOURCES = frozenset(SOURCES)

BAD_EVENT = "bad-event"


class BadRecord(ValueError):
    def __init__(self, reason: str, detail: str, raw: bytes | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail
        self.raw = raw  # the bad event's own text, when it was one element of an array


def encode_event(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def encode_array(encoded: list[bytes]) -> bytes:
    """Several events (each already `encode_event`-ed) as one record value: a JSON array."""
    return b"[" + b",".join(encoded) + b"]"


def decode_event(value: bytes | None) -> dict[str, Any]:
    """One record value → an event dict with every field; raises BadRecord."""
    if value is None:
        raise BadRecord(BAD_EVENT, "empty record value")
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadRecord(BAD_EVENT, f"not JSON: {exc}") from None
    if type(event) is not dict:
        raise BadRecord(BAD_EVENT, f"a JSON {type(event).__name__}, not an object")
    if event.keys() != _FIELD_SET:
        missing = [f for f in FIELDS if f not in event]
        if missing:
            raise BadRecord(BAD_EVENT, f"missing fields {missing[:5]}")
        event = {f: event[f] for f in FIELDS}  # extra fields (a newer producer) are dropped
    if type(event["ts"]) is not int:
        raise BadRecord(BAD_EVENT, f"ts is {type(event['ts']).__name__}, not integer microseconds")
    if event["source"] not in _SOURCES:
        raise BadRecord(BAD_EVENT, f"unknown source {str(event['source'])[:40]!r}")
    if not isinstance(event["principal"], str) or not isinstance(event["event_id"], str):
        raise BadRecord(BAD_EVENT, "principal and event_id must be strings")
    return event


def _row_struct() -> type:
    """A msgspec Struct of every field with the schema's Python type (a JSON int for `ts`, text
    or null for most): it decodes a well-formed record straight into typed values."""
    types = {"ts": int, "status_code": Optional[int], "read_only": Optional[bool],
             "source": str, "principal": str, "event_id": str}
    # unknown fields are refused here (and then dropped by decode_event), so that their text is
    # checked as orjson checks it: msgspec skips unknown values without validating them
    return msgspec.defstruct("EventRecord", [(name, types.get(name, Optional[str])) for name in FIELDS], gc=False,
                             forbid_unknown_fields=True)


_decode_struct = msgspec.json.Decoder(_row_struct()).decode
_astuple = msgspec.structs.astuple


def decode_row(value: bytes | None) -> tuple:
    """One record value → the event as a row (a tuple in FIELDS order); raises BadRecord.

    The typed decode is the fast path (about half the cost of a dict plus its checks, and the
    row needs no transpose into Arrow). Whatever it refuses goes through `decode_event`, so a
    bad record is refused with the same reason, and a record only the Arrow schema would
    refuse (an int32 out of range) is still set aside batch-wise by `rows_table`."""
    if value is not None:
        try:
            row = _astuple(_decode_struct(value))
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            pass
        else:
            if _typed_row_fits(row):
                return row
    event = decode_event(value)
    return tuple(event[name] for name in FIELDS)


def _typed_row_fits(row: tuple) -> bool:
    """A typed decode's row is accepted as decode_event would accept it: a known source, and
    integers within 64 bits (beyond them they are floats to orjson, so refused or set aside)."""
    return row[_SOURCE] in _SOURCES and _INT64_MIN <= row[0] < _INT64_END and (
        row[_STATUS] is None or _INT64_MIN <= row[_STATUS] < _INT64_END)


_decode_structs = msgspec.json.Decoder(list[_row_struct()]).decode


def decode_rows(value: bytes | None) -> list[tuple | BadRecord]:
    """One record value → its events as rows: one for an event object, each element of an array
    (`encode_array`). An event that cannot be decoded is a `BadRecord` in its place, so the
    others of its array go on; a value that is not JSON at all is one `BadRecord`."""
    if value is None or value[:1] != b"[":
        try:
            return [decode_row(value)]
        except BadRecord as bad:
            return [bad]
    try:
        rows = [_astuple(struct) for struct in _decode_structs(value)]
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
        pass
    else:
        if not rows:
            return [BadRecord(BAD_EVENT, "an empty array: no events")]
        if all(_typed_row_fits(row) for row in rows):
            return rows
    # one by one, so that each bad element is refused with decode_event's reason and costs only
    # itself: the array is split into the elements' texts, which are not parsed (an element that
    # orjson refuses, say a lone surrogate in a field, must not take its neighbours with it)
    try:
        elements = _split_array(value)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
        # msgspec checks string escapes even in texts it does not decode (a lone surrogate):
        # Python's json module accepts those, and re-encodes each element on its own
        try:
            elements = [json.dumps(element).encode() for element in json.loads(value)]
        except (ValueError, TypeError, RecursionError):
            return [BadRecord(BAD_EVENT, f"not a JSON array of events: {exc}")]
    if not elements:
        return [BadRecord(BAD_EVENT, "an empty array: no events")]
    out: list[tuple | BadRecord] = []
    for element in elements:
        text = bytes(element)
        try:
            out.append(decode_row(text))
        except BadRecord as bad:
            bad.raw = text
            out.append(bad)
    return out


_split_array = msgspec.json.Decoder(list[msgspec.Raw]).decode


_SOURCE, _STATUS = FIELDS.index("source"), FIELDS.index("status_code")
_INT64_MIN, _INT64_END = -(1 << 63), 1 << 63


_SCHEMA_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError)


def rows_table(rows: list[tuple]) -> tuple[pa.Table, list[tuple[int, str]]]:
    """Rows → Arrow table; rows the schema rejects come back as (index, reason detail).
    The whole batch at once; only a batch that fails is converted row by row."""
    try:
        return rows_to_table(rows), []
    except _SCHEMA_ERRORS:
        pass
    good, bad = [], []
    for i, row in enumerate(rows):
        try:
            rows_to_table([row])
            good.append(row)
        except _SCHEMA_ERRORS as exc:
            bad.append((i, f"field types do not fit the event schema: {exc}"[:300]))
    return rows_to_table(good), bad


def is_fact(event: dict[str, Any]) -> bool:
    """Events that concern another principal's credential (see DetectProcessor)."""
    return event["lineage_kind"] is not None or event["action"] == "delete:pods"


def encode_alert(alert: dict[str, Any]) -> bytes:
    return orjson.dumps(alert)


def dead_letter(raw: Any, reason: str, detail: str, origin: str, processor: str,
                source: str | None) -> tuple[bytes, list[tuple[str, bytes]]]:
    """A DLQ record: the raw text redacted and clipped as value (the full record stays at its
    origin offset for a replay), the reason and origin in headers."""
    value = clip(raw_text(raw), RAW_CLIP_CHARS).encode()
    headers = [
        ("reason", reason.encode()),
        ("detail", clip(detail, 500).encode()),
        ("origin", origin.encode()),
        ("processor", processor.encode()),
    ]
    if source:
        headers.append(("source", source.encode()))
    return value, headers
