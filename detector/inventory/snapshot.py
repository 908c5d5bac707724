"""The inventory as JSON documents, for stream mode and for files.

Two kinds of snapshot, for two purposes:

- **state** (`state(inventory, detector, keep)` / `restore_state(inventory, data)`): the observer's own
  aggregates, to travel with the detector's state snapshot on the compacted state topic so a
  partition's inventory moves with its baselines on rebalance (see `Inventory.to_dict`).
- **view** (`document(...)` and `messages(...)`): what a platform team reads — one record per
  credential with its findings, one per principal with its rotation evidence and principal-level
  findings. `messages` yields (key, value) pairs for a compacted topic: the key is stable
  (`token|source|tenant|id`, `principal|source|tenant|name`) so the topic keeps the latest
  version of each; with `since`, only what changed after that time is emitted (used since, or
  crossed a time threshold: idle a day, dormant, a key reaching `max_key_age`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterator

import orjson

from ..events import us_to_iso
from .findings import Finding, hygiene
from .observer import DAY_US, Inventory
from .report import InventoryReport, PrincipalRow, TokenRow, build, to_record

FORMAT = 1


def state(inventory: Inventory, detector, keep: Callable[[str], bool] | None = None) -> dict[str, Any]:
    return inventory.to_dict(detector, keep)


def restore_state(inventory: Inventory, data: dict[str, Any]) -> None:
    inventory.restore(data)


def principal_record(row: PrincipalRow) -> dict[str, Any]:
    return {
        "source": row.source, "tenant": row.tenant, "principal": row.principal, "principal_type": row.principal_type,
        "machine": row.machine, "tokens": row.tokens, "kinds": row.kinds, "live_long_lived": row.live_long_lived,
        "bound_median_minutes": None if row.bound_median_minutes is None else round(row.bound_median_minutes, 1),
        "bound_per_day": None if row.bound_per_day is None else round(row.bound_per_day, 1),
        "session_median_minutes": None if row.session_median_minutes is None else round(row.session_median_minutes, 1),
        "rotations": row.rotations, "revoked": row.revoked, "created": row.created, "rotation": row.rotation,
        "deleted_at": us_to_iso(row.revoked_at) if row.revoked_at else None,
    }


def document(inventory: Inventory, detector, *, as_of: int | None = None,
             keep: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """The whole inventory view in one JSON-safe document (files, HTTP, a one-shot dump)."""
    report = build(inventory, detector, as_of, keep=keep)
    findings = hygiene(report, inventory.config)
    by_severity: dict[str, int] = defaultdict(int)
    for f in findings:
        by_severity[f.severity] += 1
    return {
        "format": FORMAT, "kind": "tokenhawk.inventory", "as_of": us_to_iso(report.as_of),
        "summary": {"tokens": len(report.tokens), "principals": len(report.principals),
                    "long_lived": sum(1 for r in report.tokens if r.long_lived),
                    "findings": len(findings), "findings_by_severity": dict(by_severity)},
        "tokens": [to_record(r) for r in report.tokens],
        "principals": [principal_record(p) for p in report.principals.values()],
        "findings": [f.to_dict() for f in findings],
    }


def changed(row: TokenRow, since: int, as_of: int, inventory: Inventory) -> bool:
    """Did this credential's view change in (since, as_of]: used, revoked, or crossed a time threshold?"""
    if row.last_seen > since or (row.revoked_at or 0) > since:
        return True
    config = inventory.config
    for deadline in (row.last_seen + DAY_US, row.last_seen + inventory.dormant_us):
        if since < deadline <= as_of:
            return True
    born = row.created if row.created is not None else as_of - int(row.age_days * DAY_US)
    for threshold in (config.us("max_key_age"), config.us("min_rotation_evidence")):
        if since < born + threshold <= as_of:
            return True
    return False


def messages(inventory: Inventory, detector, *, as_of: int | None = None, since: int | None = None,
             keep: Callable[[str], bool] | None = None,
             report: InventoryReport | None = None) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs for a compacted topic: one per credential and one per principal."""
    report = report or build(inventory, detector, as_of, keep=keep)
    findings = hygiene(report, inventory.config)
    per_token: dict[str, list[Finding]] = defaultdict(list)
    per_principal: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if f.token_id is None:
            per_principal[f"{f.source}|{f.tenant or ''}|{f.principal}"].append(f)
        else:
            per_token[f"{f.source}|{f.tenant or ''}|{f.token_id}"].append(f)
    stamp = us_to_iso(report.as_of)
    touched: set[str] = set()
    for row in report.tokens:
        if since is not None and not changed(row, since, report.as_of, inventory):
            continue
        touched.add(f"{row.source}|{row.tenant or ''}|{row.principal}")
        value = {"format": FORMAT, "record": "token", "as_of": stamp, **to_record(row),
                 "findings": [f.to_dict() for f in per_token.get(row.key, ())]}
        yield f"token|{row.key}".encode(), orjson.dumps(value)
    for key, prow in report.principals.items():
        if since is not None and key not in touched:
            continue
        value = {"format": FORMAT, "record": "principal", "as_of": stamp, **principal_record(prow),
                 "findings": [f.to_dict() for f in per_principal.get(key, ())]}
        yield f"principal|{key}".encode(), orjson.dumps(value)
