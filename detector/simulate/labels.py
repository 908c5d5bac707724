"""Ground truth: what was injected into a world, as `labels.json` records it.

Token ids and principals are spelled exactly as the normalizer derives them (DESIGN.md's
identity table), so an evaluation can match alerts to scenarios by token or principal and time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .timefmt import iso_micro


@dataclass
class Label:
    id: str
    kind: str
    malicious: bool
    source: str | None  # k8s | aws | gcp | azure; None when a change spans sources (see details)
    principal: str | None
    principals: list[str]
    token_ids: list[str]
    start: int  # µs
    end: int
    description: str
    techniques: list[str] = field(default_factory=list)
    events: int = 0  # requests the scenario itself produced
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "malicious": self.malicious, "source": self.source,
            "principal": self.principal, "principals": self.principals, "token_ids": self.token_ids,
            "start": iso_micro(self.start), "end": iso_micro(self.end), "description": self.description,
            "techniques": self.techniques,
        }
        if self.malicious:
            doc["events"] = self.events
        if self.details:
            doc["details"] = self.details
        return doc
