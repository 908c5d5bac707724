"""Fleet hunting: every credential seen, and the ones that are a liability.

Built on `detector.inventory` (the same inventory and hygiene findings as `tokenhawk inventory`
and `tokenhawk hygiene`): `build(events)` replays the events through a Detector with the
inventory observer (`replay.py`), then turns the report and the ranked findings into frames.
The hunts are views of that:

- `dormant_tokens` — long-lived credentials silent for `dormant_after`: idle now, or woken up;
- `long_lived_in_use` — legacy K8s secret tokens, long-term cloud keys, SA keys, SP secrets still
  live, with their age, rotation evidence and findings;
- `many_networks` — one credential used from many networks (a shared or copied secret);
- `risky_in_use` — machine identities whose credentials exercised privileged actions (secret reads,
  RBAC changes, token minting, exec, credential creation, audit tampering…);
- `interactive_use` — machine identities driven by interactive clients (kubectl, curl, browsers);
- `sprawl` — per namespace (K8s) or account/project (cloud): principals and credentials by status;
  `live_credentials` — principals holding several live long-lived credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import pandas as pd

from detector.actions import CATEGORY_LABEL, classify
from detector.config import DetectorConfig
from detector.inventory import Inventory, InventoryConfig, InventoryReport, build as build_report, hygiene
from detector.inventory.observer import LONG_LIVED
from detector.inventory.report import to_records

from .replay import replay

LIVE_STATUSES = frozenset({"active", "idle", "dormant"})  # not revoked, replaced, superseded or ended


@dataclass
class Fleet:
    """The inventory of a replay, as frames (times are UTC timestamps)."""

    report: InventoryReport
    inventory: Inventory
    tokens: pd.DataFrame  # one row per credential (`detector.inventory.report.COLUMNS` + a few)
    principals: pd.DataFrame  # one row per identity: credentials, kinds, rotation
    findings: pd.DataFrame  # hygiene findings, highest score first


def scope_of(source: str, tenant: Any, principal: str) -> str:
    """Where a credential lives: its K8s namespace for a service account, else its account/project.

    >>> scope_of("k8s", "prod", "system:serviceaccount:shop:web"), scope_of("aws", "1111", "arn:aws:iam::1111:user/ci")
    ('k8s ns/shop', 'aws 1111')
    """
    if source == "k8s":
        parts = principal.split(":")
        if principal.startswith("system:serviceaccount:") and len(parts) >= 4:
            return f"k8s ns/{parts[2]}"
        return "k8s (cluster identities)"
    return f"{source} {tenant}" if isinstance(tenant, str) and tenant else source


def is_control_plane(source: str, principal: str) -> bool:
    """Kubelets, kube-controller-manager and other `system:` users mint and read by design."""
    return source == "k8s" and principal.startswith("system:") and not principal.startswith("system:serviceaccount:")


def _times(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def build(events: Any, alerts: Iterable[dict[str, Any]] = (), *, config: DetectorConfig | None = None,
          inventory_config: InventoryConfig | None = None, dormant_after: str | None = None) -> Fleet:
    """Replay `events` (a frame from `sources` or an Arrow table) with the inventory observer and
    return the fleet's credentials, identities and ranked hygiene findings."""
    inv_config = inventory_config or InventoryConfig()
    if dormant_after:
        inv_config = inv_config.model_copy(update={"dormant_after": dormant_after})
    run = replay(events, config, inventory=inv_config)
    report = build_report(run.inventory, run.detector)
    tokens = pd.DataFrame(to_records(report.tokens))
    if tokens.empty:
        tokens = pd.DataFrame(columns=["source", "tenant", "principal", "token_id", "kind", "status", "first_seen",
                                       "last_seen", "woke_at", "revoked_at", "networks"])
    tokens = _times(tokens, ["first_seen", "last_seen", "woke_at", "revoked_at"])
    tokens["long_lived"] = tokens["kind"].isin(LONG_LIVED)
    tokens["live"] = tokens["status"].isin(LIVE_STATUSES)
    tokens["network_count"] = tokens["networks"].map(lambda ns: sum(1 for n in ns if n != "…"))
    tokens["scope"] = [scope_of(s, t, p) for s, t, p in zip(tokens["source"], tokens["tenant"], tokens["principal"])]
    counts: dict[str, int] = {}
    for a in alerts:
        counts[a["token"]["id"]] = counts.get(a["token"]["id"], 0) + 1
    tokens["alerts"] = tokens["token_id"].map(counts).fillna(0).astype(int)
    principals = pd.DataFrame([{
        "source": p.source, "tenant": p.tenant, "principal": p.principal, "principal_type": p.principal_type,
        "machine": p.machine, "credentials": p.tokens, "kinds": p.kinds, "live_long_lived": p.live_long_lived,
        "rotations": len(p.rotations), "revoked": len(p.revoked), "rotation": p.rotation,
    } for p in report.principals.values()])
    return Fleet(report, run.inventory, tokens, principals, findings_frame(hygiene(report, run.inventory.config)))


def findings_frame(findings: list) -> pd.DataFrame:
    """`detector.inventory.findings.Finding`s as a table: evidence sentences joined, times parsed."""
    columns = ["severity", "score", "kind", "title", "source", "principal", "token_id", "token_kind", "evidence",
               "remediation", "first_seen", "last_seen", "id"]
    rows = []
    for f in findings:
        d = f.to_dict()
        d["evidence"] = " · ".join(d["evidence"])
        rows.append(d)
    frame = pd.DataFrame(rows, columns=columns)
    return _times(frame, ["first_seen", "last_seen"])


def findings_of(fleet: Fleet, *kinds: str) -> pd.DataFrame:
    """The findings of some kinds (`detector.inventory.findings.KINDS`)."""
    return fleet.findings[fleet.findings["kind"].isin(kinds)].reset_index(drop=True)


def _with_findings(rows: pd.DataFrame, fleet: Fleet, kinds: Iterable[str]) -> pd.DataFrame:
    """Rows of tokens plus the titles and best score of their findings of `kinds`."""
    found = fleet.findings[fleet.findings["kind"].isin(list(kinds)) & fleet.findings["token_id"].notna()]
    per_token = found.groupby("token_id").agg(findings=("kind", lambda s: sorted(set(s))), finding_score=("score", "max"))
    rows = rows.join(per_token, on="token_id")
    rows["findings"] = rows["findings"].map(lambda v: v if isinstance(v, list) else [])
    return rows


def kinds_summary(fleet: Fleet) -> pd.DataFrame:
    """Credentials, identities, requests and live credentials per source and kind."""
    t = fleet.tokens
    out = t.groupby(["source", "kind"]).agg(tokens=("token_id", "size"), principals=("principal", "nunique"),
                                            events=("events", "sum"), live=("live", "sum"),
                                            alerts=("alerts", "sum")).reset_index()
    out["long_lived"] = out["kind"].isin(LONG_LIVED)
    out["label"] = out["source"] + " " + out["kind"] + np.where(out["long_lived"], " (long-lived)", "")
    return out.sort_values(["source", "events"], ascending=[True, False]).reset_index(drop=True)


def dormant_tokens(fleet: Fleet) -> pd.DataFrame:
    """Long-lived credentials that are dormant now, or woke after a dormancy (`dormant_after`)."""
    t = fleet.tokens
    rows = t[t["long_lived"] & ((t["status"] == "dormant") | (t["dormant_gaps"] > 0))]
    rows = rows[["source", "principal", "token_id", "kind", "status", "idle_days", "longest_gap_days", "woke_at",
                 "last_seen", "events", "alerts"]]
    rows = _with_findings(rows, fleet, ["dormant-token"])
    return rows.sort_values(["finding_score", "longest_gap_days"], ascending=False, na_position="last").reset_index(drop=True)


def long_lived_in_use(fleet: Fleet) -> pd.DataFrame:
    """Live long-lived credentials: age, use, networks outside, rotation evidence, findings."""
    t = fleet.tokens
    rows = t[t["long_lived"] & t["live"]]
    rows = rows[["source", "principal", "token_id", "kind", "status", "age_days", "age_known", "days_active", "events",
                 "network_count", "outside_networks", "issued_by", "rotation", "alerts"]]
    rows = _with_findings(rows, fleet, ["legacy-k8s-token", "long-lived-key", "used-outside", "dormant-token"])
    return rows.sort_values(["finding_score", "age_days"], ascending=False, na_position="last").reset_index(drop=True)


def many_networks(fleet: Fleet, min_networks: int = 3, machine_only: bool = True) -> pd.DataFrame:
    """Credentials used from `min_networks` or more /24 networks (bound tokens and role sessions
    normally stay on one workload's network), with the busiest hour's address count."""
    t = fleet.tokens
    rows = t[(t["network_count"] >= min_networks) & (t["machine"] | (not machine_only))]
    rows = rows[["source", "principal", "token_id", "kind", "status", "network_count", "outside_networks",
                 "max_hour_ips", "user_agents", "events", "alerts"]]
    rows = _with_findings(rows, fleet, ["shared-token", "used-outside"])
    return rows.sort_values(["network_count", "events"], ascending=False).reset_index(drop=True)


def risky_in_use(fleet: Fleet, include_control_plane: bool = False) -> pd.DataFrame:
    """Machine identities whose credentials used privileged actions (successful requests of
    sensitivity ≥ 2: secrets, RBAC, token minting, exec, credential creation, audit tampering),
    one row per principal and kind of permission. The K8s control plane (kubelets minting pod
    tokens) is left out unless `include_control_plane`."""
    columns = ["source", "principal", "label", "category", "tokens", "token_kinds", "actions", "scopes", "last_use"]
    t = fleet.tokens
    t = t[t["machine"] & t["privileged_actions"].map(len).gt(0)]
    if not include_control_plane:
        t = t[[not is_control_plane(s, p) for s, p in zip(t["source"], t["principal"])]]
    rows = [{"source": r.source, "principal": r.principal, "category": classify(action).category or "other",
             "token_id": r.token_id, "kind": r.kind, "action": action, "scopes": [s for s in r.scopes if s != "…"],
             "last_seen": r.last_seen}
            for r in t.itertuples() for action in r.privileged_actions]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    out = frame.groupby(["source", "principal", "category"]).agg(
        tokens=("token_id", "nunique"), token_kinds=("kind", lambda s: sorted(set(s))),
        actions=("action", lambda s: sorted(set(s))), scopes=("scopes", lambda s: sorted({x for xs in s for x in xs})),
        last_use=("last_seen", "max"),
    ).reset_index()
    out["label"] = out["category"].map(lambda c: CATEGORY_LABEL.get(c, c))
    out["sensitivity"] = out["actions"].map(lambda acts: max(classify(a).sensitivity for a in acts))
    out = out.sort_values(["sensitivity", "tokens"], ascending=False)
    return out[columns].reset_index(drop=True)


def risky_matrix(risky: pd.DataFrame, top: int = 15) -> pd.DataFrame:
    """`risky_in_use` as principals × kinds of permission (credentials that used it)."""
    if risky.empty:
        return pd.DataFrame()
    table = risky.pivot_table(index="principal", columns="label", values="tokens", aggfunc="sum", fill_value=0)
    return table.loc[table.sum(axis=1).sort_values(ascending=False).index[:top]]


def interactive_use(fleet: Fleet) -> pd.DataFrame:
    """Machine identities driven by interactive clients, one row per principal (bound tokens
    rotate hourly: the identity is what an analyst follows up), with the human-use findings."""
    columns = ["source", "principal", "tokens", "kinds", "interactive_events", "user_agents", "human_networks",
               "outside_networks", "alerts", "findings"]
    t = fleet.tokens
    t = t[t["machine"] & (t["interactive_events"] > 0)]
    if t.empty:
        return pd.DataFrame(columns=columns)

    def union(values: pd.Series) -> list:
        return sorted({v for vs in values for v in vs if v != "…"})

    out = t.groupby(["source", "principal"]).agg(
        tokens=("token_id", "size"), kinds=("kind", lambda s: sorted(set(s))),
        interactive_events=("interactive_events", "sum"), user_agents=("user_agents", union),
        human_networks=("human_networks", union), outside_networks=("outside_networks", union), alerts=("alerts", "sum"),
    ).reset_index()
    human = fleet.findings[fleet.findings["kind"] == "human-use"]
    titled = human.groupby("principal")["title"].agg(lambda s: sorted(set(s)))
    out["findings"] = out["principal"].map(titled).map(lambda v: v if isinstance(v, list) else [])
    out["_flagged"] = out["findings"].map(len)
    out = out.sort_values(["_flagged", "interactive_events"], ascending=False)
    return out[columns].reset_index(drop=True)


def sprawl(fleet: Fleet) -> pd.DataFrame:
    """Per namespace (K8s service accounts) or account/project (cloud): identities, credentials
    seen, live now, live long-lived, and how many were retired (superseded/ended/replaced/revoked)."""
    columns = ["scope", "principals", "tokens", "live", "long_lived_live", "retired", "max_live_per_principal", "kinds"]
    t = fleet.tokens
    if t.empty:
        return pd.DataFrame(columns=columns)
    t = t.assign(long_live=t["long_lived"] & t["live"])
    per_principal = t[t["live"]].groupby(["scope", "principal"]).size().groupby("scope").max()
    out = t.groupby("scope").agg(
        principals=("principal", "nunique"), tokens=("token_id", "size"), live=("live", "sum"),
        long_lived_live=("long_live", "sum"),
        kinds=("kind", lambda s: ", ".join(f"{k} {n}" for k, n in s.value_counts().items())),
    )
    out["retired"] = out["tokens"] - out["live"]
    out["max_live_per_principal"] = per_principal.reindex(out.index).fillna(0).astype(int)
    out = out.reset_index().sort_values(["live", "tokens"], ascending=False)
    return out[columns].reset_index(drop=True)


def live_credentials(fleet: Fleet, min_credentials: int = 2) -> pd.DataFrame:
    """Identities holding `min_credentials` or more live long-lived credentials (the inventory's
    credential-sprawl), with their rotation evidence."""
    p = fleet.principals
    if p.empty:
        return p
    rows = p[p["live_long_lived"].map(len) >= min_credentials]
    return rows.sort_values("credentials", ascending=False).reset_index(drop=True)


def long_lived_events(events: pd.DataFrame) -> pd.DataFrame:
    """The requests made with long-lived credentials."""
    return events[events["token_kind"].isin(LONG_LIVED)]
