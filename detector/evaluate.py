"""Score alerts against a labelled world: recall, precision, F1, false incidents per 1000 token-days.

A malicious scenario counts as caught when an alert names one of its tokens (or its principal)
and overlaps its time span; the time to detect is from the scenario's start to the alert's first
evidence. An alert that matches no malicious scenario is a false incident; if it overlaps a
labelled benign change it is also counted against that change ("no alert on benign changes").
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

MATCH_SLACK_US = 60 * 60_000_000  # an alert up to an hour after a scenario ends still belongs to it


def _us(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)


@dataclass
class ScenarioResult:
    id: str
    kind: str
    malicious: bool
    caught: bool
    alerts: list[str] = field(default_factory=list)
    minutes_to_detect: float | None = None
    max_severity: str | None = None


@dataclass
class Evaluation:
    scenarios: list[ScenarioResult]
    alerts: int
    true_alerts: int
    false_alerts: int
    token_days: int
    false_alert_ids: list[str]

    @property
    def malicious(self) -> list[ScenarioResult]:
        return [s for s in self.scenarios if s.malicious]

    @property
    def benign(self) -> list[ScenarioResult]:
        return [s for s in self.scenarios if not s.malicious]

    @property
    def recall(self) -> float:
        m = self.malicious
        return sum(s.caught for s in m) / len(m) if m else 1.0

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_per_1000_token_days(self) -> float:
        return 1000.0 * self.false_alerts / self.token_days if self.token_days else 0.0

    def by_kind(self) -> dict[str, dict[str, Any]]:
        kinds: dict[str, dict[str, Any]] = defaultdict(lambda: {"scenarios": 0, "caught": 0, "malicious": True})
        for s in self.scenarios:
            row = kinds[s.kind]
            row["scenarios"] += 1
            row["caught"] += int(s.caught)
            row["malicious"] = s.malicious
        return dict(kinds)

    def as_dict(self) -> dict[str, Any]:
        return {
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "f1": round(self.f1, 4),
            "alerts": self.alerts,
            "true_alerts": self.true_alerts,
            "false_alerts": self.false_alerts,
            "token_days": self.token_days,
            "false_incidents_per_1000_token_days": round(self.false_per_1000_token_days, 3),
            "benign_changes_alerted": sum(1 for s in self.benign if s.caught),
            "scenarios": [s.__dict__ for s in self.scenarios],
        }


def load_labels(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _matches(alert: dict, scenario: dict) -> bool:
    token = alert["token"]
    source = scenario.get("source")
    if source and token["source"] != source:
        return False
    tokens = set(scenario.get("token_ids") or [])
    principals = set(scenario.get("principals") or []) | ({scenario["principal"]} if scenario.get("principal") else set())
    if not (token["id"] in tokens or "*" in principals or token["principal"] in principals):
        return False
    start, end = _us(scenario["start"]), _us(scenario["end"]) + MATCH_SLACK_US
    return _us(alert["first_seen"]) <= end and _us(alert["last_seen"]) >= start


def evaluate(alerts: list[dict], labels: dict[str, Any], token_days: int) -> Evaluation:
    scenarios = labels["scenarios"]
    severity_rank = {"low": 0, "medium": 1, "high": 2, "critical": 3}
    results = []
    alert_is_true: dict[str, bool] = {a["alert"]["id"]: False for a in alerts}
    # malicious scenarios first: an alert that catches an attack is not also a benign false alarm
    malicious_hits = {a["alert"]["id"] for s in scenarios if s.get("malicious", True) for a in alerts if _matches(a, s)}
    for scenario in scenarios:
        malicious = bool(scenario.get("malicious", True))
        matched = [a for a in alerts if _matches(a, scenario) and (malicious or a["alert"]["id"] not in malicious_hits)]
        result = ScenarioResult(scenario["id"], scenario.get("kind", scenario["id"]), malicious, bool(matched),
                                [a["alert"]["id"] for a in matched])
        if matched:
            first = min(_us(a["first_seen"]) for a in matched)
            result.minutes_to_detect = round(max(0, first - _us(scenario["start"])) / 60e6, 1)
            result.max_severity = max((a["severity"] for a in matched), key=severity_rank.__getitem__)
            if malicious:
                for a in matched:
                    alert_is_true[a["alert"]["id"]] = True
        results.append(result)
    false_ids = [aid for aid, ok in alert_is_true.items() if not ok]
    true_count = sum(alert_is_true.values())
    return Evaluation(results, len(alerts), true_count, len(false_ids), token_days, false_ids)


def count_token_days(events) -> int:
    """Distinct (token, UTC day) pairs in an events table: the exposure false alarms are normed by."""
    import pyarrow.compute as pc

    day = pc.divide(events.column("ts"), 86_400_000_000)
    keys = pc.binary_join_element_wise(
        events.column("source"), events.column("token_id"), pc.cast(day, "string"), "|"
    )
    return len(pc.unique(keys))
