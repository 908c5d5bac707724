"""Triage of one alert: what the token did, what its principal normally does, and who is related.

`open_case` gathers the evidence once (the token's timeline through the investigator, the
principal's events around the incident); the other functions turn a `Case` into tables:

- `baseline_vs_observed(case)` — for each signal of the alert, the value observed during the
  incident next to what the principal (or the token itself) did before, and which values are new;
- `pivot(case, field)` — the incident's IPs, user agents, actions or namespaces, each with how often
  the principal used it before;
- `fleet_pivot(source, case, field)` — who else in the fleet used the incident's new values;
  `ip_sightings(source, case)` — every token seen from the incident's suspicious addresses;
- `related_credentials(source, case)` — credentials linked through lineage (who issued this token,
  what it issued or was exchanged for) and the principal's other tokens live at the same time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from detector.actions import CATEGORY_LABEL, classify
from detector.config import parse_duration
from detector.detect.engine import Detector
from detector.netclass import ip_class, network_of
from detector.useragent import ua_family

from .sources import HuntSource, present, to_time

PIVOT_FIELDS = ("source_ip", "user_agent", "action", "namespace")
WINDOW = "5min"


@dataclass
class Case:
    """The evidence around one alert (frames of TokenEvents, `ts` UTC timestamps)."""

    alert: dict[str, Any]
    timeline: pd.DataFrame  # every event of the alert's token
    principal_events: pd.DataFrame  # the principal's events from `lookback` before to `after` the incident
    flagged: set[str] = field(default_factory=set)  # event ids the alert cites

    @property
    def token(self) -> str:
        return self.alert["token"]["id"]

    @property
    def principal(self) -> str:
        return self.alert["token"]["principal"]

    @property
    def first_seen(self) -> pd.Timestamp:
        return to_time(self.alert["first_seen"])

    @property
    def last_seen(self) -> pd.Timestamp:
        return to_time(self.alert["last_seen"])

    @property
    def history(self) -> pd.DataFrame:
        """The principal's events (all its tokens) before the incident: its baseline."""
        return self.principal_events[self.principal_events["ts"] < self.first_seen]

    @property
    def incident(self) -> pd.DataFrame:
        """The alert's token from its incident's first to last evidence."""
        t = self.timeline
        return t[(t["ts"] >= self.first_seen) & (t["ts"] <= self.last_seen)]

    @property
    def token_before(self) -> pd.DataFrame:
        return self.timeline[self.timeline["ts"] < self.first_seen]


def open_case(source: HuntSource, alert: dict[str, Any] | None = None, *, alert_id: str | None = None,
              token: str | None = None, lookback: str = "14d", after: str = "6h") -> Case:
    """Gather one alert's evidence (None for both ids: the highest-scoring alert)."""
    alert = alert if alert is not None else source.alert(alert_id, token)
    first, last = to_time(alert["first_seen"]), to_time(alert["last_seen"])
    start = first - pd.Timedelta(microseconds=parse_duration(lookback))
    end = last + pd.Timedelta(microseconds=parse_duration(after))
    timeline = source.token_timeline(alert["token"]["id"])
    # baselines are per source (the same name can be a K8s service account and an IRSA web identity)
    principal_events = source.events(principal=alert["token"]["principal"], source=alert["token"]["source"],
                                     start=start, end=end)
    signals = (alert.get("tokenhawk") or {}).get("signals") or []
    flagged = set(alert.get("event_ids") or []) | {s["event_id"] for s in signals if s.get("event_id")}
    return Case(alert, timeline, principal_events, flagged)


# --- the alert itself ------------------------------------------------------------------------------

def overview(case: Case) -> pd.DataFrame:
    """The alert in one two-column table (what a ticket would start with)."""
    a, inc = case.alert, case.incident
    lineage = (a.get("tokenhawk") or {}).get("lineage") or {}
    rows = [
        ("alert", a["alert"]["id"]),
        ("severity / score", f"{a['severity']} / {a['score']:.1f}"),
        ("principal", case.principal),
        ("token", f"{case.token} ({a['token'].get('kind')}, {a['token']['source']})"),
        ("tenant", (a.get("tokenhawk") or {}).get("tenant") or "—"),
        ("incident", f"{a['first_seen'][:19]} → {a['last_seen'][:19]} UTC ({a['events']} suspicious requests)"),
        ("ATT&CK", ", ".join(a.get("technique") or [])),
        ("token seen", _span(case.timeline)),
        ("principal's history", f"{len(case.history):,} requests by {case.history['token_id'].nunique():,} tokens"
                                f" since {_fmt_time(case.history['ts'].min())}" if len(case.history) else "none"),
        ("incident addresses", _top(inc["source_ip"])),
        ("incident clients", _top(inc["user_agent"], 3)),
        ("issued by", f"{lineage.get('issued_by')} via {lineage.get('via')} at {lineage.get('issued_at')}"
                      if lineage else "no lineage known"),
    ]
    return pd.DataFrame(rows, columns=["field", "value"])


def signals(alert: dict[str, Any]) -> pd.DataFrame:
    """The alert's evidence, strongest first: kind, points, techniques, when, the reason sentence."""
    rows = [{
        "kind": s["kind"], "points": s["points"], "technique": ", ".join(s.get("technique") or []),
        "ts": to_time(s["ts"]), "event_id": s.get("event_id"), "reason": s["reason"],
    } for s in (alert.get("tokenhawk") or {}).get("signals") or []]
    return pd.DataFrame(rows, columns=["kind", "points", "technique", "ts", "event_id", "reason"])


def principal_alerts(source: HuntSource, case: Case) -> pd.DataFrame:
    """The principal's other alerts (the investigator's answer), most urgent first."""
    rows = [{"alert_id": a["alert"]["id"], "severity": a["severity"], "score": a["score"], "token_id": a["token"]["id"],
             "first_seen": to_time(a["first_seen"]), "last_seen": to_time(a["last_seen"]),
             "first_reason": (a.get("reasons") or [""])[0]}
            for a in source.investigator.alerts_for_principal(case.principal) if a["alert"]["id"] != case.alert["alert"]["id"]]
    return pd.DataFrame(rows, columns=["alert_id", "severity", "score", "token_id", "first_seen", "last_seen", "first_reason"])


# --- baseline vs observed --------------------------------------------------------------------------

# signal kind → (what it is about, whose past it is compared with)
DIMENSIONS: dict[str, tuple[str, str]] = {
    "bound-token-ip-mismatch": ("source IP", "token"),
    "k8s-token-outside-cluster": ("network", "principal"),
    "new-network": ("network", "principal"),
    "fresh-credential-elsewhere": ("network", "principal"),
    "new-user-agent": ("client program", "principal"),
    "new-namespace": ("namespace", "principal"),
    "secrets-across-namespaces": ("secret namespaces", "principal"),
    "unusual-hour": ("hour of day (UTC)", "principal"),
    "authorization-failure-burst": ("denied requests", "principal"),
    "discovery-burst": ("discovery calls", "principal"),
    "new-impersonation": ("acting as", "principal"),
    "dormant-token": ("silence before use", "token"),
    "dead-pod-token": ("pod", "token"),
    "superseded-token-replay": ("pod", "token"),
    "token-minted-by-other": ("issuer", "principal"),
    "unusual-activity-window": ("requests per 5 minutes", "principal"),
}


def dimension_of(kind: str) -> tuple[str, str]:
    """(dimension, "principal" | "token") of a signal kind; `new-<category>` compares the actions
    of that category.

    >>> dimension_of("bound-token-ip-mismatch"), dimension_of("new-credential-create")
    (('source IP', 'token'), ('credential-create actions', 'principal'))
    """
    if kind in DIMENSIONS:
        return DIMENSIONS[kind]
    if kind.endswith("-scope"):
        return "sensitive action scope", "principal"
    category = kind[len("new-"):] if kind.startswith("new-") else ""
    if category in CATEGORY_LABEL:
        return f"{category} actions", "principal"
    return "action", "principal"


def _denied(frame: pd.DataFrame) -> pd.Series:
    """The detector's own test of a refused request (401/403, AccessDenied, PERMISSION_DENIED…)."""
    cols = frame[["outcome", "status_code", "error_code"]].astype(object)
    rows = cols.where(cols.notna(), None).to_dict("records")
    return pd.Series([Detector._is_authz_failure(r) for r in rows], index=frame.index, dtype=bool)


def values_of(frame: pd.DataFrame, dimension: str) -> pd.Series:
    """Per event, the value a dimension looks at (null where it does not apply)."""
    if frame.empty:
        return pd.Series([], dtype=object)
    if dimension == "source IP":
        return frame["source_ip"]
    if dimension == "network":
        return frame["source_ip"].map(lambda ip: f"{network_of(ip)} ({ip_class(ip)})" if isinstance(ip, str) else None)
    if dimension == "client program":
        return frame["user_agent"].map(lambda ua: ua_family(ua) if isinstance(ua, str) else None)
    if dimension == "namespace":
        return frame["namespace"]
    if dimension == "acting as":
        return frame["acting_as"]
    if dimension == "hour of day (UTC)":
        return frame["ts"].dt.hour.map(lambda h: f"{h:02d}:00")
    if dimension == "secret namespaces":
        secret = frame["action"].map(lambda a: classify(a).category == "secret-read") & (frame["outcome"] != "failure")
        return frame["namespace"].fillna("(all namespaces)").where(secret)
    if dimension == "sensitive action scope":
        sensitive = frame["action"].map(lambda a: classify(a).sensitivity >= 2)
        scope = frame["action"] + " in " + frame["namespace"].fillna("(cluster-wide)")
        return scope.where(sensitive)
    if dimension == "denied requests":
        return frame["action"].where(_denied(frame))
    if dimension == "discovery calls":
        return frame["action"].where(frame["action"].map(lambda a: classify(a).recon))
    if dimension.endswith(" actions"):
        category = dimension[: -len(" actions")]
        return frame["action"].where(frame["action"].map(lambda a: classify(a).category == category))
    return frame["action"]


def _top(values: pd.Series, n: int = 5, mark: Iterable[str] = ()) -> str:
    counts = Counter(v for v in values.dropna())
    if not counts:
        return "none"
    marked = set(mark)
    shown = [f"{'★ ' if v in marked else ''}{v} ({c:,})" for v, c in counts.most_common(n)]
    more = len(counts) - n
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _fmt_time(ts: Any) -> str:
    return "—" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M")


def _span(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "no events"
    return f"{len(frame):,} requests, {_fmt_time(frame['ts'].min())} → {_fmt_time(frame['ts'].max())} UTC"


def _days(delta: pd.Timedelta) -> str:
    return f"{delta / pd.Timedelta(days=1):.1f} days"


def _compare(observed: pd.DataFrame, baseline: pd.DataFrame, dimension: str) -> tuple[str, str, list[str]]:
    seen = values_of(observed, dimension)
    before = values_of(baseline, dimension)
    new = sorted(set(seen.dropna()) - set(before.dropna()))
    return _top(seen, mark=new), _top(before), new


def _silence(case: Case) -> tuple[str, str, list[str]]:
    before, inc = case.token_before, case.incident
    if before.empty or inc.empty:
        return "no earlier use of this token in the data", "—", []
    gap = inc["ts"].min() - before["ts"].max()
    gaps = before["ts"].sort_values().diff().dropna()
    usual = (f"median gap {_days(gaps.median())}, longest {_days(gaps.max())} over {len(before):,} earlier uses"
             if len(gaps) else "a single earlier use")
    return f"{_days(gap)} silent (last use {_fmt_time(before['ts'].max())})", usual, [_days(gap)]


def _pod(case: Case) -> tuple[str, str, list[str]]:
    t = case.timeline
    pod = next((p for p in t["bound_pod"].dropna()), None)
    pod_ip = next((ip for ip in t.sort_values("ts")["source_ip"].dropna()), None)
    inc_ips = set(case.incident["source_ip"].dropna())
    newer = case.principal_events[(case.principal_events["bound_pod"] == pod) & (case.principal_events["token_id"] != case.token)]
    newer = newer[newer["ts"] > t["ts"].min()] if len(t) else newer
    observed = f"token of pod {pod} used from {', '.join(sorted(inc_ips)) or 'no address'} during the incident"
    baseline = (f"the pod's own IP {pod_ip}; the pod used {newer['token_id'].nunique()} newer token(s), "
                f"the last at {_fmt_time(newer['ts'].max())}" if len(newer) else f"the pod's own IP {pod_ip}")
    return observed, baseline, sorted(inc_ips - {pod_ip})


def _issuer(case: Case, source: HuntSource | None) -> tuple[str, str, list[str]]:
    lineage = (case.alert.get("tokenhawk") or {}).get("lineage") or {}
    observed = f"{lineage.get('issued_by')} via {lineage.get('via')}" if lineage else "unknown issuer"
    if source is None:
        return observed, "—", []
    births = source.events(lineage_principal=case.principal, lineage_kind="issued", end=case.first_seen)
    births = births[births["lineage_token"] != case.token]
    usual = _top(births["principal"], 3) if len(births) else "no earlier issuance seen"
    new = [lineage["issued_by"]] if lineage.get("issued_by") and lineage["issued_by"] not in set(births["principal"]) else []
    return observed, usual, new


def _rate(case: Case) -> tuple[str, str, list[str]]:
    inc = case.incident
    observed = int(inc.groupby(inc["ts"].dt.floor(WINDOW)).size().max()) if len(inc) else 0
    hist = case.history
    if hist.empty:
        return f"up to {observed} requests in 5 minutes", "no history", []
    per_window = hist.groupby([hist["token_id"], hist["ts"].dt.floor(WINDOW)]).size()
    p50, p99 = np.percentile(per_window, [50, 99])
    new = [str(observed)] if observed > p99 else []
    return f"up to {observed} requests in 5 minutes", f"median {p50:.0f}, p99 {p99:.0f} per token and 5 minutes", new


def baseline_vs_observed(case: Case, source: HuntSource | None = None) -> pd.DataFrame:
    """One row per signal of the alert: dimension, observed value, baseline, new values, reason.

    Observed values marked ★ were never seen in the baseline. The baseline is the principal's
    history before the incident (all its tokens), or the token's own past for token facts (its
    pod's address, its silence). `source` lets the issuer row look up who usually issues this
    principal's credentials."""
    rows = []
    for s in (case.alert.get("tokenhawk") or {}).get("signals") or []:
        dimension, whose = dimension_of(s["kind"])
        if dimension == "silence before use":
            observed, baseline, new = _silence(case)
        elif dimension == "pod":
            observed, baseline, new = _pod(case)
        elif dimension == "issuer":
            observed, baseline, new = _issuer(case, source)
        elif dimension == "requests per 5 minutes":
            observed, baseline, new = _rate(case)
        else:
            past = case.token_before if whose == "token" else case.history
            if whose == "token" and past.empty:  # a token stolen at birth: its first use is its pod's
                past = case.timeline.head(1)
            observed, baseline, new = _compare(case.incident, past, dimension)
        rows.append({"signal": s["kind"], "points": s["points"], "dimension": dimension, "compared with": whose,
                     "observed": observed, "baseline": baseline, "new": new, "reason": s["reason"]})
    return pd.DataFrame(rows, columns=["signal", "points", "dimension", "compared with", "observed", "baseline",
                                       "new", "reason"])


# --- pivots ----------------------------------------------------------------------------------------

def pivot(case: Case, field_name: str, n: int = 15) -> pd.DataFrame:
    """The incident's values of one field (source_ip, user_agent, action, namespace…) with how the
    principal used each before: events then, first/last use, and whether it is new."""
    inc, hist = case.incident, case.history
    if inc.empty:
        return pd.DataFrame(columns=[field_name, "incident events", "flagged", "history events", "first use",
                                     "last use before", "new"])
    flagged = inc["event_id"].isin(case.flagged)
    now = inc.groupby(field_name, dropna=True).agg(incident_events=("event_id", "size"))
    now["flagged"] = inc[flagged].groupby(field_name).size()
    before = hist.groupby(field_name, dropna=True).agg(history_events=("event_id", "size"), first_use=("ts", "min"),
                                                       last_use=("ts", "max"))
    out = now.join(before, how="left").reset_index()
    out["flagged"] = out["flagged"].fillna(0).astype(int)
    out["history_events"] = out["history_events"].fillna(0).astype(int)
    out["new"] = out["history_events"] == 0
    out = out.sort_values(["new", "flagged", "incident_events"], ascending=False).head(n)
    return out.rename(columns={"incident_events": "incident events", "history_events": "history events",
                               "first_use": "first use", "last_use": "last use before"}).reset_index(drop=True)


def pivots(case: Case, fields: Iterable[str] = PIVOT_FIELDS, n: int = 15) -> dict[str, pd.DataFrame]:
    return {f: pivot(case, f, n) for f in fields}


def suspicious_ips(case: Case) -> list[str]:
    """The incident's addresses worth a pivot: the alert's own, then new ones, then public ones."""
    table = pivot(case, "source_ip", n=1000)
    flagged_ips = list((case.alert.get("tokenhawk") or {}).get("source_ips") or [])
    new = list(table.loc[table["new"], "source_ip"]) if len(table) else []
    public = [ip for ip in (table["source_ip"] if len(table) else []) if ip_class(ip) == "public"]
    return list(dict.fromkeys(flagged_ips + new + public))


def ip_sightings(source: HuntSource, case: Case, max_ips: int = 5) -> pd.DataFrame:
    """Every other token seen from the incident's suspicious addresses (the investigator's answer)."""
    frames = []
    for ip in suspicious_ips(case)[:max_ips]:
        seen = source.tokens_from_ip(ip, limit=50)
        seen = seen[seen["token_id"] != case.token]
        if len(seen):
            frames.append(seen.assign(address=ip))
    if not frames:
        return pd.DataFrame(columns=["address", "token_id", "principal", "source", "events", "first_seen", "last_seen",
                                     "actions", "alerts"])
    out = pd.concat(frames, ignore_index=True)
    return out[["address"] + [c for c in out.columns if c != "address"]]


def fleet_pivot(source: HuntSource, case: Case, field_name: str, only_new: bool = True) -> pd.DataFrame:
    """Who else (other principals, fleet-wide) used the incident's values of a field — by default
    only the values new to this principal: a new address shared with other identities is a lead."""
    table = pivot(case, field_name, n=1000)
    if table.empty:
        return source.users_of(field_name, [])
    values = table.loc[table["new"], field_name] if only_new else table[field_name]
    users = source.users_of(field_name, list(values)[:50])
    return users[users["principal"] != case.principal].reset_index(drop=True)


# --- lineage ---------------------------------------------------------------------------------------

_RELATED_COLUMNS = ["relation", "depth", "token_id", "principal", "link", "via", "linked_at", "links", "events",
                    "first_seen", "last_seen", "alerts"]


def _links(source: HuntSource, token: str, limit: int) -> list[dict[str, Any]]:
    """Direct lineage links of one token, as (relation, token, principal, link, via, ts) rows."""
    rows: list[dict[str, Any]] = []
    issued_it = source.events(lineage_token=token, lineage_kind="issued", limit=limit)
    for r in issued_it.itertuples():
        rows.append(dict(relation="parent", token_id=r.token_id, principal=r.principal, link="issued it",
                         via=r.action, ts=r.ts))
    own = source.events(token_id=token, lineage_kind=["issued", "exchanged-from", "delegated-by"], limit=limit)
    for r in own.itertuples():
        if r.lineage_kind == "issued":
            rows.append(dict(relation="child", token_id=r.lineage_token, principal=r.lineage_principal,
                             link="issued by it", via=r.action, ts=r.ts))
        else:
            rows.append(dict(relation="parent", token_id=r.lineage_token, principal=r.lineage_principal,
                             link=r.lineage_kind, via=r.action, ts=r.ts))
    derived = source.events(lineage_token=token, lineage_kind=["exchanged-from", "delegated-by"], limit=limit)
    for r in derived.itertuples():
        rows.append(dict(relation="child", token_id=r.token_id, principal=r.principal, link=r.lineage_kind,
                         via=r.action, ts=r.ts))
    for r in rows:
        r["token_id"] = r["token_id"] if present(r["token_id"]) else None
        r["principal"] = r["principal"] if present(r["principal"]) else None
    return rows


def related_credentials(source: HuntSource, case: Case, depth: int = 2, siblings_within: str = "1h",
                        limit: int = 5000, max_children: int = 50) -> pd.DataFrame:
    """Credentials linked to the alert's token: ancestors (who issued it, what it was exchanged
    from) up to `depth` links, what it issued or was exchanged for, and its principal's other
    tokens live within `siblings_within` of the incident. Each with its use and alert count."""
    found: list[dict[str, Any]] = []
    lineage = (case.alert.get("tokenhawk") or {}).get("lineage") or {}
    frontier = [(case.token, 0, "parent"), (case.token, 0, "child")]
    visited = {case.token}
    while frontier:
        token, level, direction = frontier.pop(0)
        if level >= depth:
            continue
        links = [r for r in _links(source, token, limit) if r["relation"] == direction]
        grouped: dict[tuple, dict[str, Any]] = {}
        for r in links:
            key = (r["token_id"], r["principal"])
            g = grouped.setdefault(key, dict(r, links=0, depth=level + 1,
                                             relation=direction if level == 0 else f"{direction} ×{level + 1}"))
            g["links"] += 1
            g["ts"] = min(g["ts"], r["ts"])
        for g in sorted(grouped.values(), key=lambda g: g["ts"])[:max_children]:
            found.append(g)
            if present(g["token_id"]) and g["token_id"] not in visited:
                visited.add(g["token_id"])
                frontier.append((g["token_id"], level + 1, direction))
    if lineage.get("issuer_token") and not any(f["token_id"] == lineage["issuer_token"] for f in found):
        found.append(dict(relation="parent", depth=1, token_id=lineage["issuer_token"], principal=lineage.get("issued_by"),
                          link="issued it", via=lineage.get("via"), ts=to_time(lineage["issued_at"]), links=1))
    for f in found:
        f["linked_at"] = f.pop("ts")
    # siblings: the principal's other credentials in use around the incident
    pad = pd.Timedelta(microseconds=parse_duration(siblings_within))
    around = case.principal_events[(case.principal_events["ts"] >= case.first_seen - pad)
                                   & (case.principal_events["ts"] <= case.last_seen + pad)
                                   & (case.principal_events["token_id"] != case.token)]
    for token, g in around.groupby("token_id"):
        if token in visited:
            continue
        found.append(dict(relation="sibling", depth=1, token_id=token, principal=case.principal,
                          link=f"same principal ({g['token_kind'].iloc[0]})",
                          via=next(iter(g["bound_pod"].dropna()), None), linked_at=g["ts"].min(), links=len(g)))
    out = pd.DataFrame(found, columns=[c for c in _RELATED_COLUMNS if c not in ("events", "first_seen", "last_seen", "alerts")])
    if out.empty:
        return pd.DataFrame(columns=_RELATED_COLUMNS)
    use = source.events(token_id=list(out["token_id"].dropna().unique()))
    stats = use.groupby("token_id").agg(events=("event_id", "size"), first_seen=("ts", "min"), last_seen=("ts", "max"))
    out = out.join(stats, on="token_id")
    alert_counts = Counter(a["token"]["id"] for a in source.alerts())
    out["alerts"] = out["token_id"].map(lambda t: alert_counts.get(t, 0))
    out["events"] = out["events"].fillna(0).astype(int)
    order = {"parent": 0, "child": 1, "sibling": 2}
    out["_o"] = out["relation"].map(lambda r: order.get(r.split(" ")[0], 3))
    out = out.sort_values(["_o", "depth", "alerts", "linked_at"], ascending=[True, True, False, True])
    return out.drop(columns="_o").reset_index(drop=True)[_RELATED_COLUMNS]


# --- shapes the plots use --------------------------------------------------------------------------

def hour_of_week(frame: pd.DataFrame) -> np.ndarray:
    """7×24 request counts (rows Monday…Sunday, columns UTC hours)."""
    grid = np.zeros((7, 24), dtype=np.int64)
    if len(frame):
        ts = frame["ts"]
        np.add.at(grid, (ts.dt.day_of_week.to_numpy(), ts.dt.hour.to_numpy()), 1)
    return grid


def activity(case: Case, freq: str = "1h") -> pd.DataFrame:
    """Requests per period of the alert's token and of its whole principal around the incident."""
    p = case.principal_events
    principal = p.groupby(p["ts"].dt.floor(freq)).size().rename("principal")
    t = case.timeline
    token = t.groupby(t["ts"].dt.floor(freq)).size().rename("token")
    flagged = t[t["event_id"].isin(case.flagged)]
    evidence = flagged.groupby(flagged["ts"].dt.floor(freq)).size().rename("cited by the alert")
    return pd.concat([principal, token, evidence], axis=1).fillna(0).astype(int).sort_index()
