"""The inventory as rows: one per credential (with its principal's rotation evidence), at a time.

`build(inventory, detector, as_of=None)` joins what the detector keeps per token (first/last
seen, events, kind, pod binding, lineage birth, addresses) with the inventory's aggregates and
derives what depends on the whole fleet or on the time of the report: networks outside the
cluster/cloud, interactive use from networks people work from, age and idleness, revocation,
replacement by a newer key, and per principal how often its credentials turn over.

Rows are plain dataclasses; `to_records` flattens them for CSV/JSON/Parquet and `COLUMNS`
names what a table can sort by.
"""

from __future__ import annotations

import ipaddress
import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable

from ..actions import classify
from ..events import us_to_iso
from ..netclass import ip_class
from .observer import (
    CAP_INTERACTIVE_NETS,
    CAP_NETS,
    CAP_PRIVILEGED,
    CAP_SCOPES,
    CAP_UAS,
    DAY_US,
    LONG_LIVED,
    Inventory,
    Rare,
    TokenUse,
)

SHORT_LIVED = frozenset({"bound", "session", "web-identity", "oauth"})
KIND_LABEL = {
    "bound": "bound K8s token", "legacy": "legacy K8s secret token", "x509": "client certificate",
    "session": "session key", "access-key": "long-term access key", "web-identity": "web-identity exchange",
    "sa-key": "service-account key", "oauth": "OAuth access tokens", "sp-secret": "SP client secret",
    "sp-cert": "SP certificate", "sp": "service principal (no key id)", "service": "cloud service",
    "user": "user credential",
}
_NO_RARE = Rare()
REPLACED_GRACE_US = DAY_US  # an old key may serve stragglers this long after its successor appears


@dataclass(slots=True)
class TokenRow:
    key: str
    source: str
    tenant: str | None
    principal: str
    principal_type: str | None
    machine: bool
    token_id: str
    kind: str | None
    status: str  # active | idle | dormant | revoked | replaced | superseded | ended
    first_seen: int
    last_seen: int
    last_ok: int | None
    days_active: int
    events: int
    failures: int
    denied: int
    parent: dict[str, Any] | None  # lineage: who issued it, through what, when (µs), from where
    created: int | None  # issuing observed in the logs
    age_days: float  # since creation if observed, else at least since the logs began
    age_known: bool
    idle_days: float
    logs_days: float  # how much history its source/tenant has in this inventory
    pod: str | None
    node: str | None
    ips: list[str]
    networks: list[str]
    networks_more: bool
    outside_networks: list[str]
    user_agents: list[str]
    user_agents_more: bool
    interactive_events: int
    human_networks: list[str]  # networks where it was driven by an interactive client and people work
    scopes: list[str]
    scopes_more: bool
    top_actions: list[tuple[str, int]]
    distinct_actions: int
    privileged_actions: list[str]
    max_hour_ips: int
    dormant_gaps: int
    longest_gap_days: float
    woke_at: int | None
    woke_ok: bool | None
    revoked_at: int | None = None
    revoked_by: str | None = None
    revoked_via: str | None = None
    replaced_by: str | None = None
    replaced_at: int | None = None
    superseded_at: int | None = None
    rotation: str = ""

    @property
    def long_lived(self) -> bool:
        return self.kind in LONG_LIVED

    @property
    def kind_label(self) -> str:
        return KIND_LABEL.get(self.kind or "", self.kind or "?")


@dataclass(slots=True)
class PrincipalRow:
    key: str
    source: str
    tenant: str | None
    principal: str
    principal_type: str | None
    machine: bool
    tokens: int
    kinds: dict[str, int]
    live_long_lived: list[str]  # token ids: not revoked, not replaced
    bound_median_minutes: float | None
    bound_per_day: float | None
    session_median_minutes: float | None
    rotations: list[dict[str, Any]] = field(default_factory=list)  # {old, new, at}
    revoked: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # long-lived keys whose creation was observed
    revoked_at: int | None = None  # the principal itself was deleted (K8s service account)
    rotation: str = ""


@dataclass
class InventoryReport:
    as_of: int
    tokens: list[TokenRow]
    principals: dict[str, PrincipalRow]
    skipped: int = 0  # inventory entries the detector holds no token state for

    def token(self, token_id: str) -> TokenRow | None:
        return next((r for r in self.tokens if r.token_id == token_id), None)


# --- networks --------------------------------------------------------------------------------------

@lru_cache(maxsize=65_536)
def _net_public(net: str) -> bool:
    return ip_class(net.split("/", 1)[0]) == "public"


def _in_cidrs(net: str, cidrs: tuple) -> bool:
    if not cidrs:
        return False
    try:
        network = ipaddress.ip_network(net, strict=False)
    except ValueError:
        return False
    return any(network.version == c.version and network.subnet_of(c) for c in cidrs)


# --- building -------------------------------------------------------------------------------------

def build(inventory: Inventory, detector, as_of: int | None = None, *,
          keep: Callable[[str], bool] | None = None) -> InventoryReport:
    """Rows for every credential the inventory has seen, as of `as_of` (µs; default: the newest
    event); `keep(principal_key)` limits them to some principals (a stream partition's)."""
    if as_of is None:
        as_of = inventory.max_ts
        if detector.max_ts is not None:
            as_of = max(as_of, detector.max_ts)
    names = inventory.names
    home = set(inventory.home_nets)
    human = set(inventory.human_nets)
    cidrs = tuple(ipaddress.ip_network(c, strict=False) for c in inventory.config.home_networks)

    def outside(source: str, nets: list[str]) -> list[str]:
        out = []
        for net in nets:
            if not _net_public(net):
                continue
            if source != "k8s" and (net in home or _in_cidrs(net, cidrs)):
                continue
            if source == "k8s" and _in_cidrs(net, cidrs):
                continue
            out.append(net)
        return out

    by_principal: dict[str, list[TokenRow]] = defaultdict(list)
    rows: list[TokenRow] = []
    skipped = 0
    for key, state in detector.tokens.items():
        if keep is not None and not keep(state.principal):
            continue
        use = inventory.use_of(state, key)
        p = detector.principals.get(state.principal)
        if use is None or p is None:
            skipped += 1  # seen before the inventory was attached
            continue
        row = _row(key, use, state, p, inventory, names, as_of, outside, human)
        rows.append(row)
        by_principal[state.principal].append(row)

    principals = {}
    for pkey, members in by_principal.items():
        p = detector.principals[pkey]
        principals[pkey] = _principal_row(pkey, p, members, inventory, as_of)
    return InventoryReport(as_of, rows, principals, skipped)


def _row(key: str, use: TokenUse, state, p, inventory: Inventory, names: list[str], as_of: int, outside,
         human: set[str]) -> TokenRow:
    source = p.source
    where = f"{source}|{p.tenant or ''}"
    start = inventory.starts.get(where, state.first_seen)
    parent = None
    created = None
    if state.parent is not None:
        via, issuer, issuer_token, born, ip = state.parent
        parent = {"issued_by": issuer, "via": via, "issued_at": born, "issuer_token": issuer_token,
                  "issuer_ip": ip}
        created = born
    rare = use.rare or _NO_RARE
    nets, nets_more = inventory.decode(use.nets, CAP_NETS)
    uas, uas_more = inventory.decode(use.uas, CAP_UAS)
    scopes, scopes_more = inventory.decode(use.scopes, CAP_SCOPES)
    privileged, _ = inventory.decode(use.privileged, CAP_PRIVILEGED)
    interactive_nets, _ = inventory.decode(rare.interactive_nets, CAP_INTERACTIVE_NETS)
    actions = sorted(((names[c], n) for c, n in use.action_counts(state.events).items()), key=lambda x: (-x[1], x[0]))
    last_ok = use.last_ok(state.last_seen)
    age_known = created is not None
    age_us = as_of - (created if age_known else min(start, state.first_seen))
    revoked = inventory.revoked.get(key)
    if revoked is None:
        revoked = inventory.revoked_principals.get(p.key)
    # a key used successfully after its "revocation" was re-activated (UpdateAccessKey Active)
    if revoked is not None and last_ok is not None and last_ok > revoked[0]:
        revoked = None
    row = TokenRow(
        key=key, source=source, tenant=p.tenant, principal=p.principal, principal_type=p.principal_type,
        machine=p.machine, token_id=key[len(where) + 1:], kind=state.kind, status="active",
        first_seen=state.first_seen, last_seen=state.last_seen, last_ok=last_ok, days_active=use.days,
        events=state.events, failures=rare.fails, denied=rare.denied, parent=parent, created=created,
        age_days=age_us / DAY_US, age_known=age_known, idle_days=max(0, as_of - state.last_seen) / DAY_US,
        logs_days=max(0, as_of - start) / DAY_US, pod=state.pod, node=state.node, ips=list(state.ips),
        networks=nets, networks_more=nets_more, outside_networks=outside(source, nets),
        user_agents=uas, user_agents_more=uas_more,
        interactive_events=rare.interactive, human_networks=[n for n in interactive_nets if n in human],
        scopes=scopes, scopes_more=scopes_more, top_actions=actions[:5],
        distinct_actions=len(actions), privileged_actions=privileged,
        max_hour_ips=use.max_hour_ips, dormant_gaps=rare.gaps, longest_gap_days=rare.max_gap / DAY_US,
        woke_at=rare.woke_at, woke_ok=rare.woke_ok, superseded_at=state.superseded_at,
    )
    if revoked is not None:
        row.revoked_at, row.revoked_by, row.revoked_via = revoked
    return row


def _median_minutes(rows: list[TokenRow]) -> float | None:
    if not rows:
        return None
    return statistics.median(r.last_seen - r.first_seen for r in rows) / 60e6


def _principal_row(pkey: str, p, members: list[TokenRow], inventory: Inventory, as_of: int) -> PrincipalRow:
    kinds = Counter(r.kind or "?" for r in members)
    bound = [r for r in members if r.kind == "bound"]
    sessions = [r for r in members if r.kind == "session"]
    row = PrincipalRow(
        key=pkey, source=p.source, tenant=p.tenant, principal=p.principal, principal_type=p.principal_type,
        machine=p.machine, tokens=len(members), kinds=dict(sorted(kinds.items())), live_long_lived=[],
        bound_median_minutes=_median_minutes(bound),
        bound_per_day=(len(bound) / max(1, len({r.first_seen // DAY_US for r in bound}))) if bound else None,
        session_median_minutes=_median_minutes(sessions),
    )
    gone = inventory.revoked_principals.get(pkey)
    if gone is not None:
        row.revoked_at = gone[0]
    # long-lived keys: a newer key of the same kind that took over while the old one went quiet
    long_lived = sorted((r for r in members if r.long_lived), key=lambda r: r.first_seen)
    for i, old in enumerate(long_lived):
        for new in long_lived[i + 1:]:
            if new.kind == old.kind and new.first_seen > old.first_seen and new.last_seen > old.last_seen \
                    and old.last_seen <= new.first_seen + REPLACED_GRACE_US:
                old.replaced_by, old.replaced_at = new.token_id, new.first_seen
                row.rotations.append({"old": old.token_id, "new": new.token_id, "at": us_to_iso(new.first_seen)})
                break
        if old.revoked_at is not None:
            row.revoked.append(old.token_id)
        if old.created is not None and classify(old.parent["via"] if old.parent else None).category == "credential-create":
            row.created.append(old.token_id)
    for r in members:
        r.status = _status(r, inventory)
        if r.long_lived and r.status not in ("revoked", "replaced"):
            row.live_long_lived.append(r.token_id)
    row.rotation = _rotation_sentence(row, long_lived, members)
    for r in members:
        r.rotation = row.rotation
    return row


def _status(r: TokenRow, inventory: Inventory) -> str:
    if r.revoked_at is not None:
        return "revoked"
    if r.replaced_by is not None:
        return "replaced"
    if r.superseded_at is not None:
        return "superseded"
    idle_us = r.idle_days * DAY_US
    if r.kind in SHORT_LIVED or not r.long_lived:
        return "ended" if idle_us > DAY_US else "active"
    if idle_us >= inventory.dormant_us:
        return "dormant"
    return "idle" if idle_us > DAY_US else "active"


def _rotation_sentence(row: PrincipalRow, long_lived: list[TokenRow], members: list[TokenRow]) -> str:
    parts = []
    if row.bound_median_minutes is not None:
        parts.append(f"bound tokens are used for a median {_duration(row.bound_median_minutes)} "
                     f"(about {row.bound_per_day:.0f} a day)")
    if row.session_median_minutes is not None:
        sessions = sum(1 for r in members if r.kind == "session")
        parts.append(f"{sessions} session keys, each used for a median {_duration(row.session_median_minutes)}")
    for rot in row.rotations:
        parts.append(f"key {rot['old']} replaced by {rot['new']} on {rot['at'][:10]}")
    for token_id in row.revoked:
        parts.append(f"{token_id} revoked")
    if long_lived and not row.rotations and not row.revoked:
        days = max(r.logs_days for r in long_lived)
        parts.append(f"no rotation of its long-lived credentials seen in {days:.0f} days of logs")
    return "; ".join(parts)


def _duration(minutes: float) -> str:
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


# --- flat records for files and tables --------------------------------------------------------------

COLUMNS = (
    "source", "tenant", "principal", "principal_type", "machine", "token_id", "kind", "status", "first_seen",
    "last_seen", "days_active", "events", "failures", "denied", "age_days", "age_known", "idle_days", "issued_by",
    "issued_via", "pod", "node", "networks", "outside_networks", "user_agents", "interactive_events",
    "human_networks", "scopes", "top_actions", "distinct_actions", "privileged_actions", "max_hour_ips",
    "dormant_gaps", "longest_gap_days", "woke_at", "revoked_at", "revoked_by", "replaced_by", "rotation",
)
_LIST_COLUMNS = ("networks", "outside_networks", "user_agents", "human_networks", "scopes", "top_actions",
                 "privileged_actions")


def to_record(row: TokenRow) -> dict[str, Any]:
    """One flat, JSON-safe dict per token (times as ISO strings, lists kept as lists)."""
    return {
        "source": row.source, "tenant": row.tenant, "principal": row.principal, "principal_type": row.principal_type,
        "machine": row.machine, "token_id": row.token_id, "kind": row.kind, "status": row.status,
        "first_seen": us_to_iso(row.first_seen), "last_seen": us_to_iso(row.last_seen), "days_active": row.days_active,
        "events": row.events, "failures": row.failures, "denied": row.denied, "age_days": round(row.age_days, 2),
        "age_known": row.age_known, "idle_days": round(row.idle_days, 2),
        "issued_by": row.parent["issued_by"] if row.parent else None,
        "issued_via": row.parent["via"] if row.parent else None, "pod": row.pod, "node": row.node,
        "networks": row.networks + (["…"] if row.networks_more else []), "outside_networks": row.outside_networks,
        "user_agents": row.user_agents + (["…"] if row.user_agents_more else []),
        "interactive_events": row.interactive_events, "human_networks": row.human_networks,
        "scopes": row.scopes + (["…"] if row.scopes_more else []),
        "top_actions": [f"{a} ×{n}" for a, n in row.top_actions], "distinct_actions": row.distinct_actions,
        "privileged_actions": row.privileged_actions, "max_hour_ips": row.max_hour_ips,
        "dormant_gaps": row.dormant_gaps, "longest_gap_days": round(row.longest_gap_days, 2),
        "woke_at": us_to_iso(row.woke_at) if row.woke_at else None,
        "revoked_at": us_to_iso(row.revoked_at) if row.revoked_at else None, "revoked_by": row.revoked_by,
        "replaced_by": row.replaced_by, "rotation": row.rotation,
    }


def to_records(rows: Iterable[TokenRow]) -> list[dict[str, Any]]:
    return [to_record(r) for r in rows]


def sort_rows(rows: list[TokenRow], column: str) -> list[TokenRow]:
    """Sort by a COLUMNS name; a leading '-' sorts descending. Missing values sort last."""
    descending = column.startswith("-")
    name = column.lstrip("-+")
    if name not in COLUMNS:
        raise ValueError(f"cannot sort by {name!r}; columns are: {', '.join(COLUMNS)}")

    def value(row: TokenRow):
        if name in ("issued_by", "issued_via"):
            v = (row.parent or {}).get("issued_by" if name == "issued_by" else "via")
        elif name in _LIST_COLUMNS:
            v = len(getattr(row, name))
        else:
            v = getattr(row, name)
        return v

    present = [r for r in rows if value(r) is not None]
    missing = [r for r in rows if value(r) is None]
    present.sort(key=value, reverse=descending)
    return present + missing


def row_dict(row: TokenRow) -> dict[str, Any]:
    """Every field of the row (times in µs), for snapshots and Elasticsearch documents."""
    return asdict(row)
