"""PagerDuty Events API v2 events (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/).

`dedup_key` is the alert id, so every revision of an incident lands on the same PagerDuty alert:
a later `trigger` updates it instead of paging again, and `resolve` closes it.
"""

from __future__ import annotations

from typing import Any, Optional

from .view import AlertView, attack_url

MAX_SUMMARY = 1024
# tokenhawk severity → PagerDuty's (critical, error, warning, info)
PD_SEVERITY = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}
CLIENT = "tokenhawk"


def summary(alert: AlertView) -> str:
    prefix = f"[{alert.severity}] {alert.principal}: "
    text = prefix + alert.what
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"


def custom_details(alert: AlertView) -> dict[str, Any]:
    details: dict[str, Any] = {
        "alert_id": alert.id,
        "revision": alert.revision,
        "status": alert.status,
        "severity": alert.severity,
        "score": alert.score,
        "principal": alert.principal,
        "token_id": alert.token_id,
        "token_kind": alert.token_kind,
        "token_source": alert.source,
        "tenant": alert.tenant,
        "namespace": alert.namespace,
        "reasons": alert.reasons,
        "technique": alert.technique,
        "events": alert.events,
        "event_ids": alert.doc.get("event_ids", []),
        "first_seen": alert.first_seen,
        "last_seen": alert.last_seen,
        "source_ip": alert.source_ip,
        "user_agent": alert.user_agent,
        "action": alert.action,
    }
    return {k: v for k, v in details.items() if v is not None}


def build_trigger(alert: AlertView, routing_key: str, *, kibana_url: Optional[str] = None) -> dict[str, Any]:
    """A `trigger` event; sending it again for a later revision updates the same PagerDuty alert."""
    link = alert.kibana_link(kibana_url)
    links = [{"href": link, "text": "Kibana drill-down"}] if link else []
    links += [{"href": attack_url(t), "text": f"MITRE ATT&CK {t}"} for t in alert.technique]
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.id,
        "payload": {
            "summary": summary(alert),
            "source": f"{alert.source}:{alert.tenant}" if alert.tenant else alert.source,
            "severity": PD_SEVERITY[alert.severity],
            "timestamp": alert.timestamp,
            "component": alert.principal,
            "group": alert.namespace or alert.tenant or alert.source,
            "class": "token-misuse",
            "custom_details": custom_details(alert),
        },
        "client": CLIENT,
        "links": links,
    }
    if link:
        event["client_url"] = link
    return event


def build_resolve(alert: AlertView, routing_key: str) -> dict[str, Any]:
    return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": alert.id}
