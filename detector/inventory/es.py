"""The Elasticsearch inventory index: one document per credential and one per principal, replaced in
place at every emission (a state index, not a data stream: it holds the current inventory).

ECS where ECS has a name (`@timestamp` = the time of the view, `event.kind: state`,
`event.start/end` = first/last seen, `user.name`, `cloud.*`, `orchestrator.*`,
`user_agent.name`), the rest under `tokenhawk.*` with the same `tokenhawk.token.id/kind` and
`tokenhawk.source/tenant` as the event and alert streams, so one Kibana filter on a token id
spans events, alerts and its inventory entry. Findings ride on the document they are about
(`tokenhawk.findings.*`), so a dashboard can count credentials per finding kind and severity.

    index: tokenhawk-inventory (template `tokenhawk.inventory`, pattern `tokenhawk-inventory*`)
    _id:   blake2b("token|source|tenant|id") / blake2b("principal|source|tenant|name")
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any, Iterable, Iterator

from ..events import us_to_iso
from .findings import SEVERITIES, Finding
from .report import InventoryReport, PrincipalRow, TokenRow
from .snapshot import principal_record

INDEX = "tokenhawk-inventory"
TEMPLATE = "tokenhawk.inventory"
TEMPLATE_VERSION = 1
CLOUD_PROVIDERS = {"aws": "aws", "gcp": "gcp", "azure": "azure"}

KEYWORD = {"type": "keyword", "ignore_above": 1024}
TEXT = {"type": "text"}
DATE = {"type": "date"}
LONG = {"type": "long"}
FLOAT = {"type": "float"}
BOOL = {"type": "boolean"}
IP = {"type": "ip", "ignore_malformed": True}


def _obj(**props: Any) -> dict[str, Any]:
    return {"properties": props}


def mappings() -> dict[str, Any]:
    findings = _obj(kinds=KEYWORD, count=LONG, max_score=FLOAT, severity=KEYWORD, severity_rank=LONG,
                    ids=KEYWORD, titles=TEXT, evidence=TEXT, remediation=TEXT)
    return {
        "dynamic": False,
        "date_detection": False,
        "properties": {
            "@timestamp": DATE,
            "message": TEXT,
            "event": _obj(kind=KEYWORD, module=KEYWORD, dataset=KEYWORD, start=DATE, end=DATE),
            "user": _obj(name={"type": "keyword", "ignore_above": 1024, "fields": {"text": TEXT}}),
            "user_agent": _obj(name=KEYWORD),
            "source": _obj(ip=IP),
            "cloud": _obj(provider=KEYWORD, account=_obj(id=KEYWORD)),
            "orchestrator": _obj(type=KEYWORD, cluster=_obj(name=KEYWORD), namespace=KEYWORD),
            "tokenhawk": _obj(
                record=KEYWORD, source=KEYWORD, tenant=KEYWORD, principal_type=KEYWORD, machine=BOOL,
                token=_obj(id=KEYWORD, kind=KEYWORD, kind_label=KEYWORD, status=KEYWORD),
                inventory=_obj(
                    events=LONG, days_active=LONG, failures=LONG, denied=LONG, age_days=FLOAT, age_known=BOOL,
                    idle_days=FLOAT, issued_by=KEYWORD, issued_via=KEYWORD, issued_at=DATE, pod=KEYWORD,
                    node=KEYWORD, networks=KEYWORD, networks_count=LONG, outside_networks=KEYWORD,
                    outside_count=LONG, user_agents=KEYWORD, interactive_events=LONG, human_networks=KEYWORD,
                    scopes=KEYWORD, top_actions=KEYWORD, distinct_actions=LONG, privileged_actions=KEYWORD,
                    max_hour_ips=LONG, dormant_gaps=LONG, longest_gap_days=FLOAT, woke_at=DATE,
                    revoked_at=DATE, revoked_by=KEYWORD, replaced_by=KEYWORD, rotation=TEXT,
                    tokens=LONG, live_long_lived=KEYWORD, live_long_lived_count=LONG,
                    bound_median_minutes=FLOAT, session_median_minutes=FLOAT, rotations=LONG,
                ),
                findings=findings,
            ),
        },
    }


def index_template(index: str = INDEX) -> dict[str, Any]:
    """Body of `PUT _index_template/tokenhawk.inventory` (plain indices, not a data stream)."""
    return {
        "index_patterns": [f"{index}*"],
        "priority": 200,
        "template": {"settings": {"index": {"number_of_shards": 1, "auto_expand_replicas": "0-1",
                                            "refresh_interval": "5s"}},
                     "mappings": mappings()},
        "version": TEMPLATE_VERSION,
        "_meta": {"managed_by": "tokenhawk", "description": "tokenhawk credential inventory (current state)"},
    }


def ensure_index(client, index: str = INDEX) -> None:
    """Install the template and create the index if it is missing (idempotent)."""
    client.indices.put_index_template(name=TEMPLATE, **index_template(index))
    if not client.indices.exists(index=index):
        try:
            client.indices.create(index=index)
        except Exception as exc:  # created concurrently by another emitter
            if "resource_already_exists" not in str(exc):
                raise


def doc_id(record: str, key: str) -> str:
    return hashlib.blake2b(f"{record}|{key}".encode(), digest_size=16).hexdigest()


def _findings(findings: list[Finding]) -> dict[str, Any]:
    if not findings:
        return {"count": 0, "kinds": [], "max_score": 0.0}
    worst = max(findings, key=lambda f: f.score)
    return {
        "count": len(findings), "kinds": sorted({f.kind for f in findings}), "ids": [f.id for f in findings],
        "max_score": round(worst.score, 1), "severity": worst.severity,
        "severity_rank": SEVERITIES.index(worst.severity) + 1, "titles": [f.title for f in findings],
        "evidence": [e for f in findings for e in f.evidence], "remediation": [f.remediation for f in findings],
    }


def _where(source: str, tenant: str | None) -> dict[str, Any]:
    if source in CLOUD_PROVIDERS:
        cloud: dict[str, Any] = {"provider": CLOUD_PROVIDERS[source]}
        if tenant:
            cloud["account"] = {"id": tenant}
        return {"cloud": cloud}
    orchestrator: dict[str, Any] = {"type": "kubernetes"}
    if tenant:
        orchestrator["cluster"] = {"name": tenant}
    return {"orchestrator": orchestrator}


def token_doc(row: TokenRow, findings: list[Finding], as_of: int) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@timestamp": us_to_iso(as_of),
        "event": {"kind": "state", "module": "tokenhawk", "dataset": "tokenhawk.inventory",
                  "start": us_to_iso(row.first_seen), "end": us_to_iso(row.last_seen)},
        "user": {"name": row.principal},
        "message": (f"{row.kind_label} {row.token_id} of {row.principal}: {row.status}"
                    + (f"; {len(findings)} hygiene finding(s)" if findings else "")),
        **_where(row.source, row.tenant),
    }
    if row.source == "k8s" and row.scopes:
        doc["orchestrator"]["namespace"] = row.scopes
    if row.ips:
        doc["source"] = {"ip": row.ips}
    if row.user_agents:
        doc["user_agent"] = {"name": row.user_agents}
    inventory = {
        "events": row.events, "days_active": row.days_active, "failures": row.failures, "denied": row.denied,
        "age_days": round(row.age_days, 2), "age_known": row.age_known, "idle_days": round(row.idle_days, 2),
        "pod": row.pod, "node": row.node, "networks": row.networks, "networks_count": len(row.networks),
        "outside_networks": row.outside_networks, "outside_count": len(row.outside_networks),
        "user_agents": row.user_agents, "interactive_events": row.interactive_events,
        "human_networks": row.human_networks, "scopes": row.scopes,
        "top_actions": [a for a, _ in row.top_actions], "distinct_actions": row.distinct_actions,
        "privileged_actions": row.privileged_actions, "max_hour_ips": row.max_hour_ips,
        "dormant_gaps": row.dormant_gaps, "longest_gap_days": round(row.longest_gap_days, 2),
        "woke_at": us_to_iso(row.woke_at) if row.woke_at else None,
        "revoked_at": us_to_iso(row.revoked_at) if row.revoked_at else None, "revoked_by": row.revoked_by,
        "replaced_by": row.replaced_by, "rotation": row.rotation,
    }
    if row.parent:
        inventory.update(issued_by=row.parent["issued_by"], issued_via=row.parent["via"],
                         issued_at=us_to_iso(row.parent["issued_at"]))
    doc["tokenhawk"] = {
        "record": "token", "source": row.source, "tenant": row.tenant, "principal_type": row.principal_type,
        "machine": row.machine,
        "token": {"id": row.token_id, "kind": row.kind, "kind_label": row.kind_label, "status": row.status},
        "inventory": {k: v for k, v in inventory.items() if v is not None},
        "findings": _findings(findings),
    }
    return doc


def principal_doc(row: PrincipalRow, findings: list[Finding], as_of: int) -> dict[str, Any]:
    record = principal_record(row)
    inventory = {
        "tokens": row.tokens, "live_long_lived": row.live_long_lived, "live_long_lived_count": len(row.live_long_lived),
        "bound_median_minutes": record["bound_median_minutes"], "session_median_minutes": record["session_median_minutes"],
        "rotations": len(row.rotations), "rotation": row.rotation,
    }
    return {
        "@timestamp": us_to_iso(as_of),
        "event": {"kind": "state", "module": "tokenhawk", "dataset": "tokenhawk.inventory"},
        "user": {"name": row.principal},
        "message": f"{row.principal}: {row.tokens} credential(s); {row.rotation or 'no rotation evidence'}",
        **_where(row.source, row.tenant),
        "tokenhawk": {"record": "principal", "source": row.source, "tenant": row.tenant,
                      "principal_type": row.principal_type, "machine": row.machine,
                      "inventory": {k: v for k, v in inventory.items() if v is not None},
                      "findings": _findings(findings)},
    }


def actions(report: InventoryReport, findings: Iterable[Finding], index: str = INDEX) -> Iterator[dict[str, Any]]:
    """Bulk actions (for `elasticsearch.helpers.bulk`) that replace every inventory document."""
    per_token: dict[str, list[Finding]] = defaultdict(list)
    per_principal: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        key = f"{f.source}|{f.tenant or ''}|{f.token_id if f.token_id is not None else f.principal}"
        (per_token if f.token_id is not None else per_principal)[key].append(f)
    for row in report.tokens:
        yield {"_op_type": "index", "_index": index, "_id": doc_id("token", row.key),
               "_source": token_doc(row, per_token.get(row.key, []), report.as_of)}
    for key, prow in report.principals.items():
        yield {"_op_type": "index", "_index": index, "_id": doc_id("principal", key),
               "_source": principal_doc(prow, per_principal.get(key, []), report.as_of)}


def index_report(client, report: InventoryReport, findings: Iterable[Finding], index: str = INDEX,
                 chunk_size: int = 2000) -> tuple[int, list]:
    """Index the whole view; returns (documents indexed, errors) as `helpers.bulk` does."""
    from elasticsearch import helpers

    ensure_index(client, index)
    return helpers.bulk(client, actions(report, findings, index), chunk_size=chunk_size, raise_on_error=False)


# --- Kibana ---------------------------------------------------------------------------------------

INVENTORY_VIEW = "tokenhawk-inventory"
INVENTORY_SEARCH = "tokenhawk-inventory-findings"


def kibana_objects(index: str = INDEX) -> list[dict[str, Any]]:
    """Saved objects for the inventory, in the format of `detector.search.kibana` (same helpers, so
    the same Kibana versions import them): a data view, the findings list, and three Lens panels
    (findings by kind, credentials by kind and status, principals with the most live long-lived
    credentials) that a dashboard can place."""
    from detector.search.kibana import _count, _data_view, _lens, _metric, _search, _table, _terms, _xy

    view = _data_view(INVENTORY_VIEW, f"{index}*", "tokenhawk credential inventory")
    findings = _search(
        INVENTORY_SEARCH, "tokenhawk: credentials with hygiene findings", INVENTORY_VIEW,
        ["tokenhawk.findings.severity", "tokenhawk.findings.max_score", "tokenhawk.findings.kinds", "user.name",
         "tokenhawk.token.id", "tokenhawk.token.kind", "tokenhawk.token.status", "event.end", "message"],
        [["tokenhawk.findings.max_score", "desc"]],
        "Every credential (and principal) with a hygiene finding, worst first; expand a row for the evidence "
        "and the remediation.", query="tokenhawk.findings.count > 0")
    lenses = [
        _lens("tokenhawk-lens-inventory-findings", "Hygiene findings by kind", INVENTORY_VIEW, "lnsXY",
              {"kind": _terms("tokenhawk.findings.kinds", "Finding", 10, "n"), "n": _count("Credentials"),
               "sev": _terms("tokenhawk.findings.severity", "Severity", 4, "n")},
              ["kind", "sev", "n"], _xy("bar_horizontal_stacked", "kind", ["n"], "sev"),
              "Credentials per kind of hygiene finding, by severity."),
        _lens("tokenhawk-lens-inventory-kinds", "Credentials by kind and status", INVENTORY_VIEW, "lnsDatatable",
              {"kind": _terms("tokenhawk.token.kind", "Kind", 15, "n"),
               "status": _terms("tokenhawk.token.status", "Status", 8, "n"), "n": _count("Credentials"),
               "events": _metric("sum", "tokenhawk.inventory.events", "Requests")},
              ["kind", "status", "n", "events"], _table(["kind", "status", "n", "events"]),
              "The inventory at a glance: bound tokens, legacy tokens, keys and secrets, and their state.",
              kql='tokenhawk.record : "token"'),
        _lens("tokenhawk-lens-inventory-sprawl", "Live long-lived credentials per principal", INVENTORY_VIEW,
              "lnsDatatable",
              {"who": _terms("user.name", "Principal", 20, "live"),
               "live": _metric("max", "tokenhawk.inventory.live_long_lived_count", "Live long-lived"),
               "tokens": _metric("max", "tokenhawk.inventory.tokens", "Credentials seen")},
              ["who", "live", "tokens"], _table(["who", "live", "tokens"]),
              "Principals holding several standing keys or secrets (sprawl).", kql='tokenhawk.record : "principal"'),
    ]
    return [view, findings, *lenses]
