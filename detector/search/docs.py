"""ECS documents for Elasticsearch: token events and alerts, and the way back.

An event document carries only allow-listed TokenEvent fields (`detector/events.py`), renamed to
ECS where ECS has a name:

| TokenEvent | document |
|---|---|
| ts | `@timestamp` |
| event_id, action, outcome | `event.id`, `event.action`, `event.outcome` |
| principal, acting_as | `user.name`, `user.effective.name` |
| source_ip, source_ip_raw | `source.ip` (ip type), `source.address` |
| user_agent | `user_agent.original` |
| status_code, error_code | `http.response.status_code`, `error.code` |
| tenant, region (cloud) | `cloud.provider`, `cloud.account.id`, `cloud.region` |
| tenant, namespace, resource (k8s) | `orchestrator.type`, `orchestrator.cluster.name`, `orchestrator.namespace`, `orchestrator.resource.type/name` |
| everything else | `tokenhawk.*` (`tokenhawk.token.id`, `tokenhawk.token.kind`, `tokenhawk.bound.pod`, ...) |

An alert document is the Alert contract document unchanged (so `alert.id:…` links from the
notifiers and `jq` over alerts.jsonl keep working) plus ECS mirrors for Kibana and Elastic
Security: `event.start/end` (first/last seen), `event.risk_score` (score), `event.severity`
(1–4), `threat.technique.id`/`threat.technique.subtechnique.id` (ATT&CK), `message` (the first
reason), `tokenhawk.token.*` (the same token fields as events, for one drill-down over both).
`alert_from_doc` strips the mirrors again.

Free-text values (user agent, error code, resource) pass a last secret scrub: normalizers never
copy a credential, and this makes sure one that slipped into, say, a user agent is not indexed.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Iterator

from detector.alert import SEVERITY_RANK
from detector.events import FIELDS, us_to_iso
from detector.redact import redact_text

from .config import ElasticsearchConfig, stream_parts
from .templates import ECS_VERSION

CLOUD_PROVIDERS = {"aws": "aws", "gcp": "gcp", "azure": "azure"}
_SECRET_HINTS = ("eyJ", "earer", "EARER", '"', "token=", "secret=", "password=")


def _clean(value: Any) -> Any:
    """Redact secret-looking parts of free text (fast path: no hint of one, no regex)."""
    if isinstance(value, str) and any(hint in value for hint in _SECRET_HINTS):
        return redact_text(value)
    return value


def data_stream_fields(stream: str) -> dict[str, str]:
    kind, dataset, namespace = stream_parts(stream)
    return {"type": kind, "dataset": dataset, "namespace": namespace}


def event_doc_id(event: dict[str, Any]) -> str:
    """Deterministic `_id` of an event: re-indexing the same file updates nothing and duplicates nothing."""
    key = "\x1f".join((event.get("source") or "", event.get("tenant") or "", event.get("event_id") or ""))
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def event_doc(e: dict[str, Any], stream: dict[str, str] | None = None) -> dict[str, Any]:
    """One TokenEvent row (as a dict with int µs `ts`) → its ECS document."""
    source = e.get("source")
    event: dict[str, Any] = {"kind": "event", "module": "tokenhawk", "dataset": (stream or {}).get("dataset", "tokenhawk.events")}
    if e.get("event_id") is not None:
        event["id"] = e["event_id"]
    if e.get("action") is not None:
        event["action"] = e["action"]
    if e.get("outcome") is not None:
        event["outcome"] = e["outcome"]
    doc: dict[str, Any] = {"@timestamp": us_to_iso(e["ts"]), "event": event}
    if stream:
        doc["data_stream"] = stream
    user: dict[str, Any] = {}
    if e.get("principal") is not None:
        user["name"] = e["principal"]
    if e.get("acting_as") is not None:
        user["effective"] = {"name": e["acting_as"]}
    if user:
        doc["user"] = user
    src: dict[str, Any] = {}
    if e.get("source_ip") is not None:
        src["ip"] = e["source_ip"]
        src["address"] = e["source_ip"]
    elif e.get("source_ip_raw") is not None:
        src["address"] = _clean(e["source_ip_raw"])
    if src:
        doc["source"] = src
    if e.get("user_agent") is not None:
        doc["user_agent"] = {"original": _clean(e["user_agent"])}
    if e.get("status_code") is not None:
        doc["http"] = {"response": {"status_code": e["status_code"]}}
    if e.get("error_code") is not None:
        doc["error"] = {"code": _clean(e["error_code"])}
    resource = _clean(e.get("resource"))
    if source in CLOUD_PROVIDERS:
        cloud: dict[str, Any] = {"provider": CLOUD_PROVIDERS[source]}
        if e.get("tenant") is not None:
            cloud["account"] = {"id": e["tenant"]}
        if e.get("region") is not None:
            cloud["region"] = e["region"]
        doc["cloud"] = cloud
    elif source == "k8s":
        orch: dict[str, Any] = {"type": "kubernetes"}
        if e.get("tenant") is not None:
            orch["cluster"] = {"name": e["tenant"]}
        if e.get("namespace") is not None:
            orch["namespace"] = e["namespace"]
        action = e.get("action") or ""
        if ":" in action:
            res: dict[str, Any] = {"type": action.split(":", 1)[1].split("/", 1)[0]}
            if resource is not None:
                res["name"] = resource
            orch["resource"] = res
        doc["orchestrator"] = orch
    th: dict[str, Any] = {"source": source, "token": {"id": e.get("token_id"), "kind": e.get("token_kind")}}
    for name in ("tenant", "principal_type", "read_only", "origin", "stage"):
        if e.get(name) is not None:
            th[name] = e[name]
    if resource is not None:
        th["resource"] = resource
    if e.get("bound_pod") is not None or e.get("bound_node") is not None:
        th["bound"] = {k: v for k, v in (("pod", e.get("bound_pod")), ("pod_uid", e.get("bound_pod_uid")),
                                          ("node", e.get("bound_node"))) if v is not None}
    if e.get("lineage_kind") is not None:
        th["lineage"] = {k: v for k, v in (("kind", e["lineage_kind"]), ("principal", e.get("lineage_principal")),
                                            ("token", e.get("lineage_token"))) if v is not None}
    doc["tokenhawk"] = th
    return doc


def event_from_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `event_doc`: an ECS event document → a TokenEvent dict (ts as an ISO string)."""
    g = _getter(doc)
    source = g("tokenhawk.source")
    e = dict.fromkeys(FIELDS)
    e.update(
        ts=doc.get("@timestamp"), event_id=g("event.id"), source=source,
        tenant=g("tokenhawk.tenant"), principal=g("user.name"), principal_type=g("tokenhawk.principal_type"),
        token_id=g("tokenhawk.token.id"), token_kind=g("tokenhawk.token.kind"),
        bound_pod=g("tokenhawk.bound.pod"), bound_pod_uid=g("tokenhawk.bound.pod_uid"), bound_node=g("tokenhawk.bound.node"),
        source_ip=g("source.ip"), source_ip_raw=None if g("source.ip") else g("source.address"),
        user_agent=g("user_agent.original"), action=g("event.action"), resource=g("tokenhawk.resource"),
        namespace=g("orchestrator.namespace"), region=g("cloud.region"), outcome=g("event.outcome"),
        status_code=g("http.response.status_code"), error_code=g("error.code"), read_only=g("tokenhawk.read_only"),
        acting_as=g("user.effective.name"), lineage_kind=g("tokenhawk.lineage.kind"),
        lineage_principal=g("tokenhawk.lineage.principal"), lineage_token=g("tokenhawk.lineage.token"),
        origin=g("tokenhawk.origin"), stage=g("tokenhawk.stage"),
    )
    return e


def _getter(doc: dict[str, Any]):
    def get(path: str) -> Any:
        node: Any = doc
        for part in path.split("."):
            if not isinstance(node, dict):
                return None
            node = node.get(part)
        return node
    return get


# --- alerts --------------------------------------------------------------------------------------

_ALERT_EVENT_EXTRAS = ("dataset", "start", "end", "risk_score", "severity")


def alert_doc(alert: dict[str, Any], stream: dict[str, str] | None = None) -> dict[str, Any]:
    """The Alert contract document plus its ECS mirrors (see the module docstring)."""
    doc = dict(alert)
    event = dict(doc.get("event") or {})
    event.update(
        kind="alert", module="tokenhawk", dataset=(stream or {}).get("dataset", "tokenhawk.alerts"),
        start=alert["first_seen"], end=alert["last_seen"], risk_score=alert["score"],
        severity=SEVERITY_RANK[alert["severity"]] + 1,
    )
    doc["event"] = event
    techniques = list(alert.get("technique") or [])
    if techniques:
        doc["threat"] = {
            "framework": "MITRE ATT&CK",
            "technique": {
                "id": sorted({t.split(".", 1)[0] for t in techniques}),
                **({"subtechnique": {"id": sub}} if (sub := sorted(t for t in techniques if "." in t)) else {}),
            },
        }
    reasons = alert.get("reasons") or []
    doc["message"] = reasons[0] if reasons else f"{alert['severity']} token alert for {alert['token']['principal']}"
    th = dict(doc.get("tokenhawk") or {})
    th["source"] = alert["token"]["source"]
    th["token"] = {"id": alert["token"]["id"], "kind": alert["token"].get("kind")}
    doc["tokenhawk"] = th
    doc["ecs"] = {"version": ECS_VERSION}
    if stream:
        doc["data_stream"] = stream
    return doc


def alert_from_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `alert_doc`: the Alert contract document back from an Elasticsearch document."""
    alert = {k: v for k, v in doc.items() if k not in ("threat", "message", "ecs", "data_stream")}
    alert["event"] = {k: v for k, v in (doc.get("event") or {}).items() if k not in _ALERT_EVENT_EXTRAS}
    th = {k: v for k, v in (doc.get("tokenhawk") or {}).items() if k not in ("source", "token")}
    alert["tokenhawk"] = th
    return alert


def alert_revision(alert: dict[str, Any]) -> int:
    return int((alert.get("tokenhawk") or {}).get("revision") or 0)


# --- which events are indexed --------------------------------------------------------------------

class EventSelector:
    """The events volume knobs (`elasticsearch.events`): exclusion, sampling, per-token cap.

    Decisions are deterministic (hash of the event id; minutes of event time), so a replay of the
    same file indexes the same events. Counts of what was left out are kept in `skipped`.
    """

    def __init__(self, config: ElasticsearchConfig):
        import fnmatch
        import re

        ev = config.events
        self.keep_failures = ev.keep_failures
        self.threshold = int(ev.sample_rate * 2**64) if ev.sample_rate < 1 else None
        self.exclude = re.compile("|".join(fnmatch.translate(p) for p in ev.exclude_actions)) if ev.exclude_actions else None
        self.cap = ev.max_per_token_per_minute
        self._minute: int | None = None
        self._counts: dict[str, int] = {}
        self.skipped = {"excluded": 0, "sampled_out": 0, "over_token_cap": 0}

    def keep(self, e: dict[str, Any]) -> bool:
        if self.keep_failures and e.get("outcome") == "failure":
            return True
        if self.exclude is not None and self.exclude.match(e.get("action") or ""):
            self.skipped["excluded"] += 1
            return False
        if self.threshold is not None:
            digest = hashlib.blake2b((e.get("event_id") or "").encode(), digest_size=8).digest()
            if int.from_bytes(digest, "big") >= self.threshold:
                self.skipped["sampled_out"] += 1
                return False
        if self.cap is not None:
            minute = e["ts"] // 60_000_000
            if minute != self._minute:  # events arrive in time order; old minutes are done
                self._minute, self._counts = minute, {}
            token = f"{e.get('source')}|{e.get('tenant')}|{e.get('token_id')}"
            seen = self._counts.get(token, 0)
            if seen >= self.cap:
                self.skipped["over_token_cap"] += 1
                return False
            self._counts[token] = seen + 1
        return True


def event_actions(rows: Iterable[dict[str, Any]], config: ElasticsearchConfig,
                  selector: EventSelector | None = None) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(_id or None, document) for every selected event row."""
    stream = data_stream_fields(config.events_data_stream)
    with_ids = config.events.deterministic_ids
    for e in rows:
        if selector is not None and not selector.keep(e):
            continue
        yield (event_doc_id(e) if with_ids else None), event_doc(e, stream)
