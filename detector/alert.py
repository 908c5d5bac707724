"""The Alert contract: one document per token incident, the same on the CLI and in Elasticsearch.

Field names follow ECS where ECS has one (`@timestamp`, `user.name`, `source.ip`,
`user_agent.original`, `event.action`, `cloud.account.id`, `orchestrator.namespace`); the rest
lives under `tokenhawk.*`. `alert.id` is deterministic (a hash of the token and the incident's
first event), so a replay or a redelivery of the same incident produces the same id and sinks
update instead of duplicating. `tokenhawk.revision` grows each time an incident is extended.

Pydantic validates alerts at the edges (files written, documents sent), never per event.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def severity_for(score: float) -> str:
    """0–100 score → severity band."""
    if score >= 85:
        return "critical"
    if score >= 65:
        return "high"
    if score >= 40:
        return "medium"
    return "low"


def alert_id(source: str, tenant: str | None, token_id: str, first_event_id: str) -> str:
    """Deterministic id of an incident: the token plus the event that opened it."""
    key = "\x1f".join((source, tenant or "", token_id, first_event_id))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class AlertInfo(_Doc):
    id: str
    status: Literal["open", "closed"] = "open"


class TokenInfo(_Doc):
    id: str
    principal: str
    source: str
    kind: str | None = None


class Signal(_Doc):
    """One piece of evidence inside an incident."""

    kind: str  # e.g. "bound-token-ip-mismatch", "new-network", "forest"
    points: float  # contribution to the score before fusion
    technique: list[str] = Field(default_factory=list)
    reason: str
    ts: str  # when it was observed (RFC 3339)
    event_id: str | None = None


class Alert(_Doc):
    """The alert document. `to_doc()` gives the JSON form written to files and Elasticsearch."""

    alert: AlertInfo
    timestamp: str = Field(alias="@timestamp")
    first_seen: str
    last_seen: str
    token: TokenInfo
    score: float = Field(ge=0, le=100)
    severity: Severity
    reasons: list[str]
    technique: list[str]
    events: int = Field(ge=1)
    event_ids: list[str] = Field(description="a sample of the incident's event ids")
    user: dict[str, Any]
    source: dict[str, Any] | None = None
    user_agent: dict[str, Any] | None = None
    event: dict[str, Any]
    cloud: dict[str, Any] | None = None
    orchestrator: dict[str, Any] | None = None
    tokenhawk: dict[str, Any]

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


def example_alert() -> dict[str, Any]:
    """A realistic alert document (for sink and notifier tests and the docs)."""
    return {
        "alert": {"id": "5b0f6c1f0d9e4a7c8e2b3a4d5c6e7f80", "status": "open"},
        "@timestamp": "2026-11-11T03:14:07.120000Z",
        "first_seen": "2026-11-11T03:14:07.120000Z",
        "last_seen": "2026-11-11T03:21:44.903000Z",
        "token": {
            "id": "8d2f8f4e-3b8c-4a57-9f61-2f0c7d1e5a90",
            "principal": "system:serviceaccount:payments:api",
            "source": "k8s",
            "kind": "bound",
        },
        "score": 92.5,
        "severity": "critical",
        "reasons": [
            "bound token of pod payments/api-7d9f8-x2x4q used from 185.220.101.47; its pod's IP is 10.244.3.17",
            "source IP 185.220.101.47 is a public address never seen for system:serviceaccount:payments:api (it uses 10.244.0.0/16 cluster addresses)",
            "read secrets in 6 namespaces (kube-system, payments, monitoring, …); this account reads secrets only in payments",
        ],
        "technique": ["T1528", "T1550.001", "T1552.007"],
        "events": 41,
        "event_ids": ["0c1e9f1a-8a1b-4a3e-9f3e-1b2c3d4e5f60", "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f"],
        "user": {"name": "system:serviceaccount:payments:api"},
        "source": {"ip": "185.220.101.47"},
        "user_agent": {"original": "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"},
        "event": {"action": "list:secrets", "kind": "alert", "category": ["iam"], "module": "tokenhawk"},
        "cloud": None,
        "orchestrator": {"namespace": "payments", "cluster": {"name": "prod-eu-1"}, "type": "kubernetes"},
        "tokenhawk": {
            "revision": 3,
            "principal_type": "serviceaccount",
            "tenant": "prod-eu-1",
            "signals": [
                {
                    "kind": "bound-token-ip-mismatch",
                    "points": 70,
                    "technique": ["T1550.001"],
                    "reason": "bound token of pod payments/api-7d9f8-x2x4q used from 185.220.101.47; its pod's IP is 10.244.3.17",
                    "ts": "2026-11-11T03:14:07.120000Z",
                    "event_id": "0c1e9f1a-8a1b-4a3e-9f3e-1b2c3d4e5f60",
                }
            ],
            "lineage": None,
        },
    }
