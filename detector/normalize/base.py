"""What every log-family normalizer shares: the context it reports to and small field parsers.

A normalizer is a function `handler(record, ctx) -> None` that calls `ctx.emit(event)` for each
TokenEvent it makes. For a record it cannot use it raises `Rejected(reason, detail)` (or calls
`ctx.reject` for one bad sub-record inside an envelope and carries on); for a record that is
valid but not an audit record it raises `Skipped(reason)`. Any other exception is caught by the
dispatcher and quarantined as `internal-error`, so nothing ever raises out of normalization.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable

from ..events import SOURCE, event_of, row_of

# Quarantine reasons are stable codes (they are metric labels and file fields); the detail
# text says where and what was expected.
INVALID_JSON = "invalid-json"
NOT_AN_OBJECT = "not-an-object"
UNKNOWN_SHAPE = "unknown-shape"
MISSING_FIELD = "missing-field"
BAD_TIMESTAMP = "bad-timestamp"
BAD_FIELD = "bad-field"
OVERSIZED = "oversized"
BAD_ENCODING = "bad-encoding"
INTERNAL_ERROR = "internal-error"


class Rejected(Exception):
    """The record cannot become an event; it goes to quarantine with this reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Skipped(Exception):
    """The record is fine but is not an audit record of a credential's use (counted, not quarantined)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Context:
    """Collects what normalization produced: events, quarantined records and counters.

    `origin` is where the record being handled came from; handlers that unwrap envelopes pass
    `sub_origin(i)` for the i-th inner record so a quarantined item points at its exact place.
    This one keeps the events as dicts (`events`), for tests and small callers; the Normalizer
    uses `RowContext`, which keeps them as rows.
    """

    def __init__(self, on_quarantine: Callable[[str, str, str, Any], None] | None = None):
        self._start(on_quarantine)
        self.events: list[dict[str, Any]] = []

    def _start(self, on_quarantine: Callable[[str, str, str, Any], None] | None) -> None:
        self.emitted: Counter[str] = Counter()  # per source
        self.quarantined: Counter[str] = Counter()  # per reason
        self.skipped: Counter[str] = Counter()  # per reason
        self.records = 0  # raw documents seen
        self.origin = ""
        self._on_quarantine = on_quarantine
        self.emit = self._emit

    def _emit(self, event: dict[str, Any]) -> None:
        if event["origin"] is None:
            event["origin"] = self.origin
        self.events.append(event)
        self.emitted[event["source"]] += 1

    def reject(self, reason: str, detail: str, raw: Any, origin: str | None = None) -> None:
        self.quarantined[reason] += 1
        if self._on_quarantine is not None:
            self._on_quarantine(reason, detail, origin or self.origin, raw)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def sub_origin(self, index: int) -> str:
        return f"{self.origin}#{index}"

    def take(self) -> list[dict[str, Any]]:
        """Hand over the events collected so far and start a new list."""
        events, self.events = self.events, []
        return events


class RowContext(Context):
    """A Context that keeps each event as a row: a tuple of its values in `events.FIELDS` order.

    Handlers still emit dicts (turned into a row at once: every handler emits an event last,
    after its final store); the typed fast paths build rows themselves and call `emit_row`.
    Rows are what the file pipeline dedups and turns into Arrow tables (`rows_to_table`, no
    transpose in Python); `take()` still hands over dicts, for tests and small callers.
    """

    def __init__(self, on_quarantine: Callable[[str, str, str, Any], None] | None = None):
        self._start(on_quarantine)
        self.rows: list[tuple] = []

    def _emit(self, event: dict[str, Any]) -> None:
        if event["origin"] is None:
            event["origin"] = self.origin
        self.rows.append(row_of(event))
        self.emitted[event["source"]] += 1

    def emit_row(self, row: tuple) -> None:
        """Collect a row built by a fast path (its origin already in place)."""
        self.rows.append(row)
        self.emitted[row[SOURCE]] += 1

    @property
    def events(self) -> list[dict[str, Any]]:  # type: ignore[override]
        """The events collected so far, as new dicts (a copy: changing them changes nothing)."""
        return [event_of(row) for row in self.rows]

    def take(self) -> list[dict[str, Any]]:
        """Hand over the events collected so far, as dicts, and start a new list."""
        return [event_of(row) for row in self.take_rows()]

    def take_rows(self) -> list[tuple]:
        """Hand over the rows collected so far and start a new list."""
        rows, self.rows = self.rows, []
        return rows


def handle_one(handler: Callable[[Any, "Context"], None], item: Any, ctx: "Context") -> None:
    """Run a handler on one record: Rejected → quarantined with its reason, Skipped → counted,
    anything else → quarantined as internal-error. Nothing raises out of normalization."""
    try:
        handler(item, ctx)
    except Rejected as exc:
        ctx.reject(exc.reason, exc.detail, item)
    except Skipped as exc:
        ctx.skip(exc.reason)
    except Exception as exc:  # noqa: BLE001 - one bad record must not stop the others
        ctx.reject(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", item)


# --- field parsers -------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_ts(value: Any, field: str = "timestamp") -> int:
    """ISO 8601 / RFC 3339 text (or epoch seconds/millis) → microseconds since the epoch, UTC.

    Naive times are taken as UTC (CloudTrail and K8s always log UTC). Raises Rejected.
    """
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            dt = _parse_ts_slow(value)
            if dt is None:
                raise Rejected(BAD_TIMESTAMP, f"{field}={value[:64]!r} is not an ISO 8601 time") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        delta = dt - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # Seconds, milliseconds or microseconds since the epoch, told apart by magnitude;
        # anything outside years 1970–2200 (or inf/NaN) is not a time a log could hold.
        if not 0 <= value < 7.3e15:
            raise Rejected(BAD_TIMESTAMP, f"{field}={value!r} is not a plausible epoch time")
        if value > 1e14:
            return int(value)
        if value > 1e11:
            return int(value * 1_000)
        return int(value * 1_000_000)
    if value is None:
        raise Rejected(MISSING_FIELD, f"{field} is missing")
    raise Rejected(BAD_TIMESTAMP, f"{field} has type {type(value).__name__}, expected text")


def _parse_ts_slow(value: str) -> datetime | None:
    """Forms fromisoformat refuses: more than 6 fractional digits with odd offsets, a lowercase
    't'/'z', '+0000' offsets, a space before the zone."""
    text = value.strip().replace("t", "T").replace("z", "Z")
    if text.endswith(" UTC"):
        text = text[:-4] + "Z"
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]
    if "." in text:
        head, _, frac = text.partition(".")
        digits = len(frac) - len(frac.lstrip("0123456789"))
        text = head + "." + frac[: min(digits, 6)] + frac[digits:] if digits else head + frac
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


@lru_cache(maxsize=65_536)
def normalize_ip(value: str | None) -> tuple[str | None, str | None]:
    """A logged client address → (canonical IP or None, the raw text when it is not an IP).

    Handles what real logs hold: IPv6 (compressed to canonical form), IPv4-mapped IPv6, a port
    suffix ("1.2.3.4:443", "[::1]:443"), dotted quads with leading zeros ("035.249.253.232",
    which Python's parser refuses), and service names ("ec2.amazonaws.com", "AWS Internal").
    """
    if not value:
        return None, None
    text = value.strip()
    candidate = text
    if candidate.startswith("["):  # [v6]:port
        candidate = candidate[1 : candidate.find("]")] if "]" in candidate else candidate[1:]
    elif candidate.count(":") == 1 and "." in candidate:  # v4:port
        candidate = candidate.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        parts = candidate.split(".")
        if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):
            octets = [int(p) for p in parts]
            if all(o <= 255 for o in octets):
                return ".".join(map(str, octets)), None
        return None, text
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped), None
    return str(ip), None


def first(mapping: Any, *keys: str) -> Any:
    """The first present, non-empty value among `keys` of a dict (None if `mapping` is not one)."""
    if not isinstance(mapping, dict):
        return None
    for key in keys:
        value = mapping.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def dig(mapping: Any, *path: str) -> Any:
    """mapping[p0][p1]… or None when any step is missing or not a dict."""
    for key in path:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def require(mapping: dict, path: str) -> Any:
    """The value at a dotted path, or Rejected(missing-field) naming that path."""
    value = dig(mapping, *path.split("."))
    if value in (None, ""):
        raise Rejected(MISSING_FIELD, f"{path} is missing")
    return value


def optional_text(value: Any, field: str) -> str | None:
    """An optional text field: None or "" → None, numbers as text, anything else is Rejected."""
    if value.__class__ is str:
        return value or None
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise Rejected(BAD_FIELD, f"{field} has type {type(value).__name__}, expected text")


def as_text(value: Any, field: str) -> str:
    """A field that must be text; numbers are accepted as text, anything else is Rejected."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise Rejected(BAD_FIELD, f"{field} has type {type(value).__name__}, expected text")
