"""Investigation queries: a token's timeline, the alerts of a principal, the tokens seen from an IP.

Two backends answer the same questions with the same result shapes:

- `EsInvestigator` over the data streams in Elasticsearch (what the SOC has in production);
- `FileInvestigator` over `events.parquet` and `alerts.jsonl` (the output of `tokenhawk demo`,
  `normalize` and `detect`), for notebooks and laptops without a cluster.

Timeline rows are TokenEvent dicts (`detector/events.py` field names) with `ts` as an RFC 3339
string; alerts are Alert contract documents. `tokenhawk investigate` and the notebooks call these
and never build queries of their own.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from elasticsearch import Elasticsearch, NotFoundError

from detector.alert import SEVERITY_RANK
from detector.event_files import read_events
from detector.events import FIELDS, SCHEMA, us_to_iso

from .config import ElasticsearchConfig, stream_pattern
from .docs import alert_from_doc, event_from_doc

PAGE = 1000


@dataclass
class TokenSighting:
    """One token seen from an address: how often, when, doing what, and how many alerts it has."""

    token_id: str
    principal: str | None
    source: str | None
    tenant: str | None
    events: int
    first_seen: str
    last_seen: str
    actions: list[str] = field(default_factory=list)
    alerts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Investigator(Protocol):
    def token_timeline(self, token_id: str, *, start: str | None = None, end: str | None = None,
                       limit: int = 10_000) -> list[dict[str, Any]]: ...

    def alerts_for_token(self, token_id: str) -> list[dict[str, Any]]: ...

    def alerts_for_principal(self, principal: str, *, start: str | None = None, end: str | None = None,
                             min_severity: str = "low", limit: int = 1000) -> list[dict[str, Any]]: ...

    def tokens_from_ip(self, address: str, *, start: str | None = None, end: str | None = None,
                       limit: int = 100) -> list[TokenSighting]: ...


def _network(address: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """'1.2.3.4' or '10.0.0.0/8' → a network (a single address is a /32 or /128)."""
    try:
        return ipaddress.ip_network(address.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{address!r} is not an IP address or CIDR range like 10.0.0.0/8") from None


def _sort_alerts(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(alerts, key=lambda a: (-SEVERITY_RANK[a["severity"]], -a["score"], a["first_seen"]))


# --- Elasticsearch ---------------------------------------------------------------------------------

class EsInvestigator:
    def __init__(self, client: Elasticsearch, config: ElasticsearchConfig, *, all_namespaces: bool = True):
        self.client = client
        if all_namespaces:  # every namespace of each stream (…-default, …-prod): an analyst searches them all
            self.events = stream_pattern(config.events_data_stream)
            self.alerts = stream_pattern(config.alerts_data_stream)
        else:
            self.events, self.alerts = config.events_data_stream, config.alerts_data_stream

    @staticmethod
    def _range(start: str | None, end: str | None, field_name: str = "@timestamp") -> list[dict[str, Any]]:
        if not start and not end:
            return []
        bounds = {k: v for k, v in (("gte", start), ("lte", end)) if v}
        return [{"range": {field_name: bounds}}]

    def _search_all(self, index: str, query: dict[str, Any], sort: list[Any], limit: int) -> list[dict[str, Any]]:
        """Every hit up to `limit`, paged with a point in time and search_after (no 10k window limit)."""
        try:
            pit = self.client.open_point_in_time(index=index, keep_alive="1m", ignore_unavailable=True)["id"]
        except NotFoundError:
            return []
        hits: list[dict[str, Any]] = []
        after = None
        try:
            while len(hits) < limit:
                body: dict[str, Any] = {"query": query, "sort": sort, "size": min(PAGE, limit - len(hits)),
                                        "pit": {"id": pit, "keep_alive": "1m"}, "track_total_hits": False}
                if after is not None:
                    body["search_after"] = after
                resp = self.client.search(**body)
                page = resp["hits"]["hits"]
                hits.extend(page)
                pit = resp.get("pit_id", pit)
                if len(page) < body["size"]:
                    break
                after = page[-1]["sort"]
        finally:
            self.client.close_point_in_time(id=pit)
        return hits

    def token_timeline(self, token_id: str, *, start: str | None = None, end: str | None = None,
                       limit: int = 10_000) -> list[dict[str, Any]]:
        query = {"bool": {"filter": [{"term": {"tokenhawk.token.id": token_id}}, *self._range(start, end)]}}
        hits = self._search_all(self.events, query, [{"@timestamp": "asc"}], limit)
        return [event_from_doc(h["_source"]) for h in hits]

    def alerts_for_token(self, token_id: str) -> list[dict[str, Any]]:
        query = {"bool": {"filter": [{"term": {"token.id": token_id}}]}}
        hits = self._search_all(self.alerts, query, [{"first_seen": "asc"}], 10_000)
        return [alert_from_doc(h["_source"]) for h in hits]

    def alerts_for_principal(self, principal: str, *, start: str | None = None, end: str | None = None,
                             min_severity: str = "low", limit: int = 1000) -> list[dict[str, Any]]:
        severities = [s for s, rank in SEVERITY_RANK.items() if rank >= SEVERITY_RANK[min_severity]]
        query = {"bool": {"filter": [
            {"term": {"token.principal": principal}},
            {"terms": {"severity": severities}},
            *self._range(start, end, "last_seen"),
        ]}}
        hits = self._search_all(self.alerts, query, [{"score": "desc"}, {"first_seen": "asc"}], limit)
        return _sort_alerts([alert_from_doc(h["_source"]) for h in hits])

    def tokens_from_ip(self, address: str, *, start: str | None = None, end: str | None = None,
                       limit: int = 100) -> list[TokenSighting]:
        net = _network(address)
        ip_filter = {"term": {"source.ip": str(net) if net.num_addresses > 1 else str(net.network_address)}}
        body = {
            "size": 0,
            "query": {"bool": {"filter": [ip_filter, *self._range(start, end)]}},
            "aggs": {"tokens": {
                "terms": {"field": "tokenhawk.token.id", "size": limit, "order": {"last": "desc"}},
                "aggs": {
                    "first": {"min": {"field": "@timestamp"}},
                    "last": {"max": {"field": "@timestamp"}},
                    "principal": {"terms": {"field": "user.name", "size": 1}},
                    "source": {"terms": {"field": "tokenhawk.source", "size": 1}},
                    "tenant": {"terms": {"field": "tokenhawk.tenant", "size": 1}},
                    "actions": {"terms": {"field": "event.action", "size": 5}},
                },
            }},
        }
        try:
            resp = self.client.search(index=self.events, ignore_unavailable=True, **body)
        except NotFoundError:
            return []
        sightings = []
        for b in resp.get("aggregations", {}).get("tokens", {}).get("buckets", []):
            def top(name: str) -> str | None:
                buckets = b[name]["buckets"]
                return buckets[0]["key"] if buckets else None
            sightings.append(TokenSighting(
                token_id=b["key"], principal=top("principal"), source=top("source"), tenant=top("tenant"),
                events=b["doc_count"], first_seen=us_to_iso(int(b["first"]["value"] * 1000)),
                last_seen=us_to_iso(int(b["last"]["value"] * 1000)),
                actions=[a["key"] for a in b["actions"]["buckets"]],
            ))
        if sightings:
            counts = self._alert_counts([s.token_id for s in sightings])
            for s in sightings:
                s.alerts = counts.get(s.token_id, 0)
        return sightings

    def _alert_counts(self, token_ids: list[str]) -> dict[str, int]:
        try:
            resp = self.client.search(index=self.alerts, ignore_unavailable=True, size=0,
                                      query={"terms": {"token.id": token_ids}},
                                      aggs={"t": {"terms": {"field": "token.id", "size": len(token_ids)}}})
        except NotFoundError:
            return {}
        return {b["key"]: b["doc_count"] for b in resp.get("aggregations", {}).get("t", {}).get("buckets", [])}


# --- files -----------------------------------------------------------------------------------------

class FileInvestigator:
    """The same questions over an events table (in-memory schema) and a list of alert documents."""

    def __init__(self, events: pa.Table | None = None, alerts: Iterable[dict[str, Any]] | None = None):
        self.events = events if events is not None else SCHEMA.empty_table()
        self.alerts = list(alerts or [])

    @classmethod
    def from_files(cls, events: str | Path | None = None, alerts: str | Path | None = None) -> "FileInvestigator":
        table = pa.concat_tables(list(read_events(events))) if events else None
        docs = []
        if alerts:
            with open(alerts, "rb") as handle:
                docs = [orjson.loads(line) for line in handle if line.strip()]
        return cls(table, docs)

    @staticmethod
    def _rows(table: pa.Table) -> list[dict[str, Any]]:
        columns = [table.column(name).to_pylist() for name in FIELDS]
        rows = [dict(zip(FIELDS, values)) for values in zip(*columns)]
        for row in rows:
            row["ts"] = us_to_iso(row["ts"])
        return rows

    def _time_mask(self, table: pa.Table, start: str | None, end: str | None) -> pa.Table:
        from datetime import datetime

        def us(text: str) -> int:
            return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)
        if start:
            table = table.filter(pc.greater_equal(table.column("ts"), us(start)))
        if end:
            table = table.filter(pc.less_equal(table.column("ts"), us(end)))
        return table

    def token_timeline(self, token_id: str, *, start: str | None = None, end: str | None = None,
                       limit: int = 10_000) -> list[dict[str, Any]]:
        table = self.events.filter(pc.equal(self.events.column("token_id"), token_id))
        table = self._time_mask(table, start, end).sort_by("ts").slice(0, limit)
        return self._rows(table)

    def alerts_for_token(self, token_id: str) -> list[dict[str, Any]]:
        return sorted((a for a in self.alerts if a["token"]["id"] == token_id), key=lambda a: a["first_seen"])

    def alerts_for_principal(self, principal: str, *, start: str | None = None, end: str | None = None,
                             min_severity: str = "low", limit: int = 1000) -> list[dict[str, Any]]:
        floor = SEVERITY_RANK[min_severity]
        found = [a for a in self.alerts if a["token"]["principal"] == principal
                 and SEVERITY_RANK[a["severity"]] >= floor
                 and (not start or a["last_seen"] >= start) and (not end or a["last_seen"] <= end)]
        return _sort_alerts(found)[:limit]

    def tokens_from_ip(self, address: str, *, start: str | None = None, end: str | None = None,
                       limit: int = 100) -> list[TokenSighting]:
        net = _network(address)
        col = self.events.column("source_ip")
        candidates = [ip for ip in pc.unique(col).to_pylist() if ip is not None]
        matching = []
        for ip in candidates:
            try:
                if ipaddress.ip_address(ip) in net:
                    matching.append(ip)
            except ValueError:
                continue
        if not matching:
            return []
        table = self.events.filter(pc.is_in(col, value_set=pa.array(matching, pa.string())))
        table = self._time_mask(table, start, end)
        groups: dict[str, dict[str, Any]] = {}
        for row in table.select(["ts", "token_id", "principal", "source", "tenant", "action"]).to_pylist():
            g = groups.setdefault(row["token_id"], {"rows": 0, "first": row["ts"], "last": row["ts"], "principal": {},
                                                    "source": row["source"], "tenant": row["tenant"], "actions": {}})
            g["rows"] += 1
            g["first"], g["last"] = min(g["first"], row["ts"]), max(g["last"], row["ts"])
            g["principal"][row["principal"]] = g["principal"].get(row["principal"], 0) + 1
            g["actions"][row["action"]] = g["actions"].get(row["action"], 0) + 1
        alert_counts: dict[str, int] = {}
        for a in self.alerts:
            alert_counts[a["token"]["id"]] = alert_counts.get(a["token"]["id"], 0) + 1
        out = [
            TokenSighting(
                token_id=token, principal=max(g["principal"], key=g["principal"].get), source=g["source"],
                tenant=g["tenant"], events=g["rows"], first_seen=us_to_iso(g["first"]), last_seen=us_to_iso(g["last"]),
                actions=[a for a, _ in sorted(g["actions"].items(), key=lambda kv: (-kv[1], kv[0] or ""))[:5]],
                alerts=alert_counts.get(token, 0),
            )
            for token, g in groups.items()
        ]
        return sorted(out, key=lambda s: s.last_seen, reverse=True)[:limit]
