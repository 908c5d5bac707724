"""A read-only view of an alert document for the message builders.

Alerts arrive as the JSON documents of `detector.alert` (nested objects, or dotted keys as the
contract allows); `normalize_alert_doc` validates one at the edge and returns the nested form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote

from pydantic import ValidationError

from detector.alert import SEVERITY_RANK, Alert
from detector.errors import TokenhawkError


class InvalidAlert(TokenhawkError):
    """An alert document that does not follow the Alert contract."""


def _undot(doc: dict[str, Any]) -> dict[str, Any]:
    """{"alert.id": x} → {"alert": {"id": x}}; `@timestamp` and nested objects are kept as they are."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            value = _undot(value)
        if "." in key and not key.startswith("@"):
            head, *rest = key.split(".")
            node = out
            for part in [head, *rest[:-1]]:
                node = node.setdefault(part, {})
            if isinstance(node.get(rest[-1]), dict) and isinstance(value, dict):
                node[rest[-1]].update(value)
            else:
                node[rest[-1]] = value
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


def normalize_alert_doc(doc: Any) -> dict[str, Any]:
    """Validate an alert (an `Alert`, or its document) and return its nested JSON document."""
    if isinstance(doc, Alert):
        return doc.to_doc()
    if not isinstance(doc, dict):
        raise InvalidAlert(f"an alert must be a JSON object, got {type(doc).__name__}")
    try:
        return Alert.model_validate(_undot(doc)).to_doc()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidAlert(f"not an alert document ({problems})") from None


def attack_url(technique: str) -> str:
    """T1550.001 → https://attack.mitre.org/techniques/T1550/001/"""
    return "https://attack.mitre.org/techniques/" + technique.replace(".", "/") + "/"


@dataclass(frozen=True)
class AlertView:
    doc: dict[str, Any]

    @property
    def id(self) -> str:
        return self.doc["alert"]["id"]

    @property
    def status(self) -> str:
        return self.doc["alert"].get("status", "open")

    @property
    def revision(self) -> int:
        return int((self.doc.get("tokenhawk") or {}).get("revision") or 1)

    @property
    def severity(self) -> str:
        return self.doc["severity"]

    @property
    def severity_rank(self) -> int:
        return SEVERITY_RANK[self.severity]

    @property
    def score(self) -> float:
        return float(self.doc["score"])

    @property
    def principal(self) -> str:
        return self.doc["token"]["principal"]

    @property
    def token_id(self) -> str:
        return self.doc["token"]["id"]

    @property
    def source(self) -> str:
        return self.doc["token"]["source"]

    @property
    def token_kind(self) -> Optional[str]:
        return self.doc["token"].get("kind")

    @property
    def tenant(self) -> Optional[str]:
        th = self.doc.get("tokenhawk") or {}
        cloud = self.doc.get("cloud") or {}
        account = (cloud.get("account") or {}).get("id") if isinstance(cloud.get("account"), dict) else None
        cluster = ((self.doc.get("orchestrator") or {}).get("cluster") or {}).get("name")
        return th.get("tenant") or account or cluster

    @property
    def namespace(self) -> Optional[str]:
        return (self.doc.get("orchestrator") or {}).get("namespace")

    @property
    def source_ip(self) -> Optional[str]:
        return (self.doc.get("source") or {}).get("ip")

    @property
    def user_agent(self) -> Optional[str]:
        return (self.doc.get("user_agent") or {}).get("original")

    @property
    def action(self) -> Optional[str]:
        return (self.doc.get("event") or {}).get("action")

    @property
    def reasons(self) -> list[str]:
        return list(self.doc.get("reasons") or [])

    @property
    def technique(self) -> list[str]:
        return list(self.doc.get("technique") or [])

    @property
    def events(self) -> int:
        return int(self.doc.get("events") or 0)

    @property
    def first_seen(self) -> str:
        return self.doc["first_seen"]

    @property
    def last_seen(self) -> str:
        return self.doc["last_seen"]

    @property
    def timestamp(self) -> str:
        return self.doc["@timestamp"]

    @property
    def what(self) -> str:
        """One line of what happened: the first reason, else the action."""
        if self.reasons:
            return self.reasons[0]
        return f"unusual use ({self.action})" if self.action else "unusual use of the token"

    def where(self) -> str:
        """`k8s prod-eu-1/payments`: source, tenant and namespace where known."""
        place = "/".join(p for p in (self.tenant, self.namespace) if p)
        return f"{self.source} {place}" if place else self.source

    def kibana_link(self, template: Optional[str]) -> Optional[str]:
        if not template:
            return None
        values = {
            "alert_id": self.id,
            "token_id": self.token_id,
            "principal": self.principal,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
        }
        try:
            return template.format(**{k: quote(str(v), safe="") for k, v in values.items()})
        except (KeyError, IndexError, ValueError):
            return template  # a template with braces we do not fill: use it as a plain link
