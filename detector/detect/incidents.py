"""Token incidents: the signals of one token over one stretch of time, fused into one alert.

An incident opens with a token's first signal and absorbs later ones until the token is quiet for
`gap_us`; its alert id is fixed by the event that opened it, so the same incident always has the
same id (file replay, stream, redelivery). Each time its evidence changes it gets a new revision.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..alert import alert_id, severity_for
from ..events import us_to_iso
from .rules import NOVELTY_KINDS, WINDOW_SIGNAL, Signal

EVENT_ID_SAMPLE = 10
CLOUD_PROVIDERS = {"aws": "aws", "gcp": "gcp", "azure": "azure"}


FAMILY_BONUS = 15.0  # how much more than its strongest member one family of evidence may weigh


def family(kind: str) -> str:
    """Signals that restate one fact count as one piece of evidence: every "never done this
    action before" (new-action, new-rbac-change, new-exec, …) is the same kind of fact."""
    return "new-action" if kind.startswith("new-") and kind not in ("new-network", "new-user-agent", "new-namespace",
                                                                       "new-impersonation") else kind


def fuse(points: list[float], kinds: list[str] | None = None) -> float:
    """Independent evidence compounds: 100·(1 − Π(1 − p/100)) over families of evidence; inside a
    family the same formula applies but capped at the strongest member + FAMILY_BONUS."""
    groups: dict[str, list[float]] = {}
    for i, p in enumerate(points):
        groups.setdefault(family(kinds[i]) if kinds else str(i), []).append(min(max(p, 0.0), 100.0))
    remaining = 1.0
    for members in groups.values():
        inside = 1.0
        for p in members:
            inside *= 1.0 - p / 100.0
        combined = min(100.0 * (1.0 - inside), max(members) + FAMILY_BONUS)
        remaining *= 1.0 - combined / 100.0
    return round(100.0 * (1.0 - remaining), 1)


class Incident:
    __slots__ = (
        "token_key", "source", "tenant", "token_id", "token_kind", "principal", "principal_type",
        "first_ts", "last_ts", "first_event_id", "signals", "events", "event_ids", "ips", "uas",
        "actions", "namespaces", "revision", "emitted_fingerprint", "status", "lineage", "seen_ts",
    )

    def __init__(self, token_key: str, event: dict[str, Any], lineage: dict[str, Any] | None):
        self.token_key = token_key
        self.source = event["source"]
        self.tenant = event["tenant"]
        self.token_id = event["token_id"]
        self.token_kind = event["token_kind"]
        self.principal = event["principal"]
        self.principal_type = event["principal_type"]
        self.first_ts = event["ts"]
        self.last_ts = event["ts"]
        self.first_event_id = event["event_id"]
        self.signals: dict[str, Signal] = {}  # strongest signal per kind
        self.events = 0
        self.event_ids: list[str] = []
        self.ips: Counter[str] = Counter()
        self.uas: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        self.namespaces: Counter[str] = Counter()
        self.revision = 0
        self.emitted_fingerprint: tuple = ()  # what the last emitted alert showed
        self.status = "open"
        self.lineage = lineage
        # the last event of the token while this incident was open (signals or not): its
        # window may add the forest's signal, so the incident ends only once that window closed
        self.seen_ts = event["ts"]

    @property
    def id(self) -> str:
        return alert_id(self.source, self.tenant, self.token_id, self.first_event_id)

    def add(self, event: dict[str, Any], signals: list[Signal]) -> None:
        """Record one suspicious event and its signals."""
        self.last_ts = max(self.last_ts, event["ts"])
        self.events += 1
        if len(self.event_ids) < EVENT_ID_SAMPLE:
            self.event_ids.append(event["event_id"])
        for counter, value in ((self.ips, event["source_ip"]), (self.uas, event["user_agent"]),
                               (self.actions, event["action"]), (self.namespaces, event["namespace"])):
            if value:
                counter[value] += 1
        for signal in signals:
            self.add_signal(signal)

    def add_signal(self, signal: Signal, extends: bool = True) -> None:
        """Keep the strongest signal per kind; the revision counts changes of evidence, so it is
        the same however the events were batched. A signal that arrives when a window closes
        (`extends=False`) does not move the incident's last activity: when windows close depends
        on batching, and last activity decides when the incident ends."""
        held = self.signals.get(signal.kind)
        if held is None or signal.points > held.points:
            self.signals[signal.kind] = signal
            self.revision += 1
        if extends:
            self.last_ts = max(self.last_ts, signal.ts)

    def event_score(self) -> float:
        """The fused score of the events' own evidence (forest signals left out)."""
        live = [s for s in self.signals.values() if s.kind != WINDOW_SIGNAL]
        return fuse([s.points for s in live], [s.kind for s in live])

    def score(self, shifted: set[str] | None = None) -> float:
        """Fused score; novelty signals whose value changed for much of the fleet count for nothing."""
        live = self.live_signals(shifted)
        return fuse([s.points for s in live], [s.kind for s in live])

    def live_signals(self, shifted: set[str] | None = None) -> list[Signal]:
        return [
            s for s in self.signals.values()
            if not (shifted and s.kind in NOVELTY_KINDS and s.shift_key is not None and s.shift_key in shifted)
        ]

    @property
    def emitted(self) -> bool:
        return bool(self.emitted_fingerprint)

    def strong(self) -> bool:
        return any(s.strong for s in self.signals.values())

    def fingerprint(self, shifted: set[str] | None) -> tuple:
        return tuple(sorted((s.kind, s.points) for s in self.live_signals(shifted))) + (self.status,)

    def to_alert(self, shifted: set[str] | None = None) -> dict[str, Any]:
        """The alert document (DESIGN.md's Alert contract)."""
        signals = sorted(self.live_signals(shifted), key=lambda s: (-s.points, s.ts))
        score = fuse([s.points for s in signals], [s.kind for s in signals])
        techniques = sorted({t for s in signals for t in s.techniques})
        top_ip = self.ips.most_common(1)[0][0] if self.ips else None
        top_ua = self.uas.most_common(1)[0][0] if self.uas else None
        top_action = self.actions.most_common(1)[0][0] if self.actions else None
        top_ns = self.namespaces.most_common(1)[0][0] if self.namespaces else None
        doc: dict[str, Any] = {
            "alert": {"id": self.id, "status": self.status},
            "@timestamp": us_to_iso(self.first_ts),
            "first_seen": us_to_iso(self.first_ts),
            "last_seen": us_to_iso(self.last_ts),
            "token": {"id": self.token_id, "principal": self.principal, "source": self.source, "kind": self.token_kind},
            "score": score,
            "severity": severity_for(score),
            "reasons": [s.reason for s in signals],
            "technique": techniques,
            "events": max(self.events, 1),
            "event_ids": list(self.event_ids),
            "user": {"name": self.principal},
            "event": {"action": top_action, "kind": "alert", "category": ["iam"], "module": "tokenhawk"},
            "tokenhawk": {
                "revision": self.revision,
                "tenant": self.tenant,
                "principal_type": self.principal_type,
                "signals": [
                    {"kind": s.kind, "points": s.points, "technique": list(s.techniques), "reason": s.reason,
                     "ts": us_to_iso(s.ts), "event_id": s.event_id}
                    for s in signals
                ],
                "source_ips": [ip for ip, _ in self.ips.most_common(5)],
                "actions": [a for a, _ in self.actions.most_common(10)],
                "lineage": self.lineage,
            },
        }
        if top_ip:
            doc["source"] = {"ip": top_ip}
        if top_ua:
            doc["user_agent"] = {"original": top_ua}
        if self.source in CLOUD_PROVIDERS:
            doc["cloud"] = {"provider": CLOUD_PROVIDERS[self.source], "account": {"id": self.tenant}}
        else:
            orchestrator: dict[str, Any] = {"type": "kubernetes"}
            if self.tenant:
                orchestrator["cluster"] = {"name": self.tenant}
            if top_ns:
                orchestrator["namespace"] = top_ns
            doc["orchestrator"] = orchestrator
        return doc
