"""Where a hunt reads from: tokenhawk's output files, or Elasticsearch.

Both answer the same questions with the same shapes, so a notebook switches with one parameter:

- `alerts()` — every alert document (the Alert contract), highest severity and score first;
- `alert(alert_id=None, token=None)` — one of them (None: the highest-scoring);
- `events(start=, end=, limit=, **field=value)` — TokenEvents as a pandas DataFrame (the columns of
  `detector/events.py`, `ts` a UTC timestamp), filtered by equality on a few fields;
- `users_of(field, values)` — which principals and tokens used given IPs / user agents / actions;
- `investigator` — the `detector.search` investigator (token timeline, alerts of a principal,
  tokens seen from an IP), whose answers the notebooks also show.

Paths such as ``out/demo/events.parquet`` are looked up from the working directory and its
parents, so a notebook opened in ``notebooks/`` finds the demo outputs of the repository root.

    src = open_source("files", events="out/demo/events.parquet", alerts="out/demo/alerts.jsonl")
    src = open_source("es", es_url="http://127.0.0.1:9200")
    case_alert = src.alert()  # the highest-scoring alert
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from detector.alert import SEVERITY_RANK
from detector.event_files import read_events
from detector.events import FIELDS, SCHEMA, to_output, us_to_iso
from detector.search import EsInvestigator, FileInvestigator
from detector.search.config import ElasticsearchConfig
from detector.search.docs import alert_from_doc, event_from_doc

# TokenEvent field → the keyword field of the event documents in Elasticsearch (search/docs.py)
ES_EVENT_FIELDS = {
    "event_id": "event.id",
    "source": "tokenhawk.source",
    "tenant": "tokenhawk.tenant",
    "principal": "user.name",
    "principal_type": "tokenhawk.principal_type",
    "token_id": "tokenhawk.token.id",
    "token_kind": "tokenhawk.token.kind",
    "bound_pod": "tokenhawk.bound.pod",
    "source_ip": "source.ip",
    "user_agent": "user_agent.original",
    "action": "event.action",
    "namespace": "orchestrator.namespace",
    "outcome": "event.outcome",
    "lineage_kind": "tokenhawk.lineage.kind",
    "lineage_principal": "tokenhawk.lineage.principal",
    "lineage_token": "tokenhawk.lineage.token",
}
FILTERABLE = tuple(ES_EVENT_FIELDS)


def find_file(path: str | Path) -> Path:
    """`path` as given if it exists, else the first match relative to a parent of the working
    directory (a notebook runs in notebooks/, the demo writes to <repo>/out/demo)."""
    candidate = Path(path).expanduser()
    if candidate.exists():
        return candidate
    if not candidate.is_absolute():
        for parent in Path.cwd().resolve().parents:
            if (parent / candidate).exists():
                return parent / candidate
    raise FileNotFoundError(f"{path}: not found in {Path.cwd()} or its parents (run `tokenhawk demo` to make out/demo)")


def to_time(value: Any) -> pd.Timestamp:
    """An RFC 3339 string, datetime, pandas Timestamp or µs integer → a UTC pandas Timestamp."""
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return pd.Timestamp(value, unit="us", tz="UTC")
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def to_iso(value: Any) -> str | None:
    """The RFC 3339 form alerts and Elasticsearch use (microseconds, a Z), or None."""
    if value is None:
        return None
    return us_to_iso(int(to_time(value).value // 1000))


def events_frame(data: pa.Table | Iterable[dict[str, Any]]) -> pd.DataFrame:
    """An in-memory events table (int µs `ts`) or TokenEvent dicts (ISO `ts`) → DataFrame."""
    if isinstance(data, pa.Table):
        frame = to_output(data).to_pandas()
    else:
        rows = list(data)
        frame = pd.DataFrame(rows, columns=list(FIELDS)) if rows else pd.DataFrame(columns=list(FIELDS))
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    frame["ts"] = frame["ts"].astype("datetime64[us, UTC]")
    return frame.reset_index(drop=True)


def sort_alerts(alerts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Most urgent first: severity, then score, then the earliest."""
    return sorted(alerts, key=lambda a: (-SEVERITY_RANK[a["severity"]], -a["score"], a["first_seen"]))


def present(value: Any) -> bool:
    """Not None and not a pandas/numpy missing value (NaN, NaT, pd.NA)."""
    if value is None:
        return False
    try:
        return not bool(pd.isna(value))
    except (TypeError, ValueError):  # list-likes
        return True


def _as_list(value: Any) -> list[Any]:
    values = list(value) if isinstance(value, (list, tuple, set, frozenset, pd.Series)) else [value]
    return [v for v in values if present(v)]


def _check_filters(filters: dict[str, Any]) -> None:
    unknown = sorted(set(filters) - set(FILTERABLE))
    if unknown:
        raise ValueError(f"cannot filter events on {unknown}; filterable fields: {', '.join(FILTERABLE)}")


class HuntSource:
    """What every source offers (see the module doc)."""

    name = "source"
    investigator: Any

    def alerts(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def events(self, *, start: Any = None, end: Any = None, limit: int | None = None, **filters: Any) -> pd.DataFrame:
        raise NotImplementedError

    def alert(self, alert_id: str | None = None, token: str | None = None) -> dict[str, Any]:
        """The alert with this id; else the highest-scoring alert of `token`; else the highest-scoring."""
        alerts = self.alerts()
        if alert_id:
            for a in alerts:
                if a["alert"]["id"] == alert_id:
                    return a
            raise LookupError(f"no alert {alert_id} in {self.describe()}")
        if token:
            alerts = [a for a in alerts if a["token"]["id"] == token]
            if not alerts:
                raise LookupError(f"no alert for token {token} in {self.describe()}")
        if not alerts:
            raise LookupError(f"{self.describe()} holds no alert")
        return max(alerts, key=lambda a: (a["score"], SEVERITY_RANK[a["severity"]]))

    def alerts_frame(self) -> pd.DataFrame:
        """One row per alert: the fields a table of alerts shows."""
        rows = [{
            "alert_id": a["alert"]["id"], "severity": a["severity"], "score": a["score"],
            "source": a["token"]["source"], "kind": a["token"].get("kind"), "principal": a["token"]["principal"],
            "token_id": a["token"]["id"], "first_seen": to_time(a["first_seen"]), "last_seen": to_time(a["last_seen"]),
            "events": a["events"], "signals": len((a.get("tokenhawk") or {}).get("signals") or []),
            "technique": ", ".join(a.get("technique") or []), "first_reason": (a.get("reasons") or [""])[0],
        } for a in self.alerts()]
        return pd.DataFrame(rows)

    def token_timeline(self, token: str, *, start: Any = None, end: Any = None, limit: int = 10_000) -> pd.DataFrame:
        return events_frame(self.investigator.token_timeline(token, start=to_iso(start), end=to_iso(end), limit=limit))

    def tokens_from_ip(self, address: str, *, start: Any = None, end: Any = None, limit: int = 100) -> pd.DataFrame:
        """Every token seen from an address or CIDR range (the investigator's sightings)."""
        sightings = self.investigator.tokens_from_ip(address, start=to_iso(start), end=to_iso(end), limit=limit)
        columns = ["token_id", "principal", "source", "tenant", "events", "first_seen", "last_seen", "actions", "alerts"]
        return pd.DataFrame([s.as_dict() for s in sightings], columns=columns)

    def users_of(self, field: str, values: Iterable[str], *, start: Any = None, end: Any = None,
                 limit: int = 50) -> pd.DataFrame:
        """Which principals used these values of `field` (source_ip, user_agent, action, namespace…):
        one row per (value, principal) with its tokens, events and first/last use."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.name


_USERS_COLUMNS = ["value", "principal", "source", "tokens", "events", "first_seen", "last_seen"]


class FileSource(HuntSource):
    """Events from a Parquet/JSONL file of `tokenhawk normalize`/`demo`, alerts from alerts.jsonl."""

    name = "files"

    def __init__(self, events: pa.Table | None = None, alerts: Iterable[dict[str, Any]] | None = None,
                 origin: str = "memory"):
        self.table = events if events is not None else SCHEMA.empty_table()
        self._alerts = sort_alerts(alerts or [])
        self.investigator = FileInvestigator(self.table, self._alerts)
        self.origin = origin
        self._frame: pd.DataFrame | None = None

    @classmethod
    def from_files(cls, events: str | Path | None = None, alerts: str | Path | None = None) -> "FileSource":
        table = None
        if events:
            events = find_file(events)
            table = pa.concat_tables(list(read_events(events))).sort_by("ts")
        docs: list[dict[str, Any]] = []
        if alerts:
            alerts = find_file(alerts)
            with open(alerts, "rb") as handle:
                docs = [orjson.loads(line) for line in handle if line.strip()]
        return cls(table, docs, origin=f"{events} + {alerts}")

    def alerts(self) -> list[dict[str, Any]]:
        return list(self._alerts)

    def events(self, *, start: Any = None, end: Any = None, limit: int | None = None, **filters: Any) -> pd.DataFrame:
        _check_filters(filters)
        if not filters and start is None and end is None:
            if self._frame is None:  # the whole fleet is asked for repeatedly: convert once
                self._frame = events_frame(self.table)
            frame = self._frame
            return frame.head(limit).copy() if limit is not None else frame.copy()
        table = self.table
        for name, value in filters.items():
            values = _as_list(value)
            table = table.filter(pc.is_in(table.column(name), value_set=pa.array(values, pa.string())))
        if start is not None:
            table = table.filter(pc.greater_equal(table.column("ts"), int(to_time(start).value // 1000)))
        if end is not None:
            table = table.filter(pc.less_equal(table.column("ts"), int(to_time(end).value // 1000)))
        if limit is not None:
            table = table.slice(0, limit)
        return events_frame(table)

    def users_of(self, field: str, values: Iterable[str], *, start: Any = None, end: Any = None,
                 limit: int = 50) -> pd.DataFrame:
        values = _as_list(values)
        if not values:
            return pd.DataFrame(columns=_USERS_COLUMNS)
        frame = self.events(start=start, end=end, **{field: values})
        if frame.empty:
            return pd.DataFrame(columns=_USERS_COLUMNS)
        grouped = frame.groupby([field, "principal"], sort=False).agg(
            source=("source", "first"), tokens=("token_id", "nunique"), events=("event_id", "size"),
            first_seen=("ts", "min"), last_seen=("ts", "max"),
        ).reset_index().rename(columns={field: "value"})
        grouped = grouped.sort_values(["value", "events"], ascending=[True, False])
        return grouped.groupby("value", sort=False).head(limit).reset_index(drop=True)[_USERS_COLUMNS]

    def describe(self) -> str:
        return f"files {self.origin}"


class EsSource(HuntSource):
    """The same questions over the tokenhawk data streams in Elasticsearch (detector.search)."""

    name = "es"

    def __init__(self, client: Any, config: ElasticsearchConfig, *, all_namespaces: bool = True,
                 max_events: int = 2_000_000):
        self.client, self.config = client, config
        self.investigator = EsInvestigator(client, config, all_namespaces=all_namespaces)
        self.max_events = max_events
        self._alerts: list[dict[str, Any]] | None = None

    def alerts(self) -> list[dict[str, Any]]:
        if self._alerts is None:
            # the investigator's point-in-time pager: every hit, no 10k window
            hits = self.investigator._search_all(self.investigator.alerts, {"match_all": {}},
                                                 [{"score": "desc"}, {"first_seen": "asc"}], 100_000)
            self._alerts = sort_alerts(alert_from_doc(h["_source"]) for h in hits)
        return list(self._alerts)

    def _query(self, start: Any, end: Any, filters: dict[str, Any]) -> dict[str, Any]:
        _check_filters(filters)
        clauses: list[dict[str, Any]] = []
        for name, value in filters.items():
            values = _as_list(value)
            clauses.append({"terms": {ES_EVENT_FIELDS[name]: values}})
        bounds = {k: to_iso(v) for k, v in (("gte", start), ("lte", end)) if v is not None}
        if bounds:
            clauses.append({"range": {"@timestamp": bounds}})
        return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}

    def events(self, *, start: Any = None, end: Any = None, limit: int | None = None, **filters: Any) -> pd.DataFrame:
        query = self._query(start, end, filters)
        hits = self.investigator._search_all(self.investigator.events, query, [{"@timestamp": "asc"}],
                                             limit if limit is not None else self.max_events)
        return events_frame(event_from_doc(h["_source"]) for h in hits)

    def users_of(self, field: str, values: Iterable[str], *, start: Any = None, end: Any = None,
                 limit: int = 50) -> pd.DataFrame:
        values = _as_list(values)
        if not values:
            return pd.DataFrame(columns=_USERS_COLUMNS)
        es_field = ES_EVENT_FIELDS[field]
        body = {
            "size": 0,
            "query": self._query(start, end, {field: values}),
            "aggs": {"value": {"terms": {"field": es_field, "size": len(values)}, "aggs": {
                "principal": {"terms": {"field": "user.name", "size": limit}, "aggs": {
                    "source": {"terms": {"field": "tokenhawk.source", "size": 1}},
                    "tokens": {"cardinality": {"field": "tokenhawk.token.id"}},
                    "first": {"min": {"field": "@timestamp"}},
                    "last": {"max": {"field": "@timestamp"}},
                }},
            }}},
        }
        resp = self.client.search(index=self.investigator.events, ignore_unavailable=True, **body)
        rows = []
        for v in resp.get("aggregations", {}).get("value", {}).get("buckets", []):
            for p in v["principal"]["buckets"]:
                sources = p["source"]["buckets"]
                rows.append({
                    "value": v["key"], "principal": p["key"], "source": sources[0]["key"] if sources else None,
                    "tokens": p["tokens"]["value"], "events": p["doc_count"],
                    "first_seen": to_time(int(p["first"]["value"] * 1000)),
                    "last_seen": to_time(int(p["last"]["value"] * 1000)),
                })
        frame = pd.DataFrame(rows, columns=_USERS_COLUMNS)
        return frame.sort_values(["value", "events"], ascending=[True, False]).reset_index(drop=True)

    def describe(self) -> str:
        return f"Elasticsearch {self.investigator.events} + {self.investigator.alerts}"


def open_source(source: str = "files", *, events: str | Path | None = None, alerts: str | Path | None = None,
                es_url: str | None = None, es_alerts: str | None = None, es_events: str | None = None,
                config: ElasticsearchConfig | None = None) -> HuntSource:
    """The notebooks' one entry point: ``source="files"`` (events + alerts paths) or ``"es"``
    (`es_url`, optionally other data stream names, or a whole `ElasticsearchConfig`)."""
    if source == "files":
        if not events and not alerts:
            raise ValueError("source='files' needs events= and/or alerts= paths")
        return FileSource.from_files(events, alerts)
    if source in ("es", "elasticsearch"):
        from detector.search import make_client

        overrides: dict[str, Any] = {}
        if es_url:
            overrides["url"] = [es_url]
        if es_alerts:
            overrides["alerts_data_stream"] = es_alerts
        if es_events:
            overrides["events_data_stream"] = es_events
        cfg = (config or ElasticsearchConfig()).model_copy(update=overrides)
        # named data streams are searched exactly; the defaults across every namespace (…-default, …-prod)
        return EsSource(make_client(cfg), cfg, all_namespaces=not (es_alerts or es_events))
    raise ValueError(f"source must be 'files' or 'es', not {source!r}")

