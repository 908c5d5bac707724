"""Fleet hunting: every token seen, and the ones that are a liability.

`inventory(events, alerts)` turns a TokenEvents frame into one row per credential (one columnar
pass: derived columns are computed once per distinct IP / user agent / action). The hunts read
that inventory (and, for permissions, the events):

- `dormant_tokens` — long-lived credentials silent for days: idle now, or woken up after a silence;
- `long_lived_in_use` — legacy K8s secret tokens, long-term cloud keys, exported SA keys, SP
  secrets still in use, with how long they have been seen;
- `many_networks` — one credential used from many networks (a shared or copied secret);
- `risky_in_use` — machine identities exercising risky permissions (secrets, RBAC, token minting,
  exec, credential creation, audit tampering…), per principal with the tokens that did it;
- `interactive_use` — machine identities driven by interactive clients (kubectl, curl, browsers);
- `sprawl` — per namespace (K8s) or account/project (cloud): principals, live and long-lived tokens;
- `findings` — all of the above as one ranked table, each with its evidence and a remediation.

`detector/inventory` (the `tokenhawk inventory`/`hygiene` verbs) had not landed when these were
written, so the inventory here is computed from events; the detector's `observers` hook is where
a stateful inventory plugs in.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from detector.actions import CATEGORY_LABEL, classify
from detector.config import parse_duration
from detector.detect.engine import LONG_LIVED, is_machine
from detector.netclass import ip_class, network_of, wide_network_of
from detector.useragent import is_interactive, ua_family

from .sources import to_time

KEY = ["source", "tenant", "token_id"]

REMEDIATION = {
    "legacy": "migrate the workload to bound service-account tokens (projected volume or TokenRequest) and delete the token Secret",
    "access-key": "replace the IAM user key with a role session (IRSA, instance/task roles, SSO); until then rotate it and alert on age",
    "sa-key": "stop exporting keys: use workload identity federation or short-lived impersonation, then delete the key",
    "sp-secret": "switch to a managed identity or federated credential; otherwise shorten the secret's lifetime and rotate it",
    "sp-cert": "switch to a managed identity or federated credential; otherwise shorten the certificate's lifetime",
    "x509": "client certificates cannot be revoked: move the client to service-account tokens",
}
DEFAULT_REMEDIATION = "confirm the owner, rotate the credential and shorten its lifetime"


def _factor(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for null) and the distinct values they index."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _recode(codes: np.ndarray, uniques: np.ndarray, fn) -> tuple[np.ndarray, np.ndarray]:
    """Codes of `fn(value)` per event, calling `fn` once per distinct value (null stays -1)."""
    derived = pd.Series([fn(u) for u in uniques], dtype=object)
    sub, sub_uniques = _factor(derived)
    lookup = np.append(sub, -1)  # index -1 (null) → -1
    return lookup[codes], sub_uniques


class _Codes:
    """Every event's token group and derived attributes as integer arrays (one pass per column;
    classify/network/user-agent parsing once per distinct value), so the inventory is numpy work."""

    def __init__(self, events: pd.DataFrame):
        self.n = len(events)
        parts = [_factor(events[c].fillna("") if c == "tenant" else events[c]) for c in KEY]
        combined = np.zeros(self.n, dtype=np.int64)
        for codes, uniques in parts:
            combined = combined * (len(uniques) + 1) + codes + 1
        self.gid, _ = _factor(pd.Series(combined))
        self.groups = int(self.gid.max()) + 1 if self.n else 0
        _, self.first_row = np.unique(self.gid, return_index=True)
        self.ts = events["ts"].astype("int64").to_numpy()  # µs
        ip, ip_u = _factor(events["source_ip"])
        self.net = _recode(ip, ip_u, network_of)
        self.wide = _recode(ip, ip_u, wide_network_of)
        public = np.array([ip_class(v) == "public" for v in ip_u] + [False], dtype=bool)
        self.public_ip = np.where(public[ip], ip, -1)
        self.ip = (ip, ip_u)
        ua, ua_u = _factor(events["user_agent"])
        self.client = _recode(ua, ua_u, ua_family)
        interactive = np.array([is_interactive(f) for f in self.client[1]] + [False], dtype=bool)
        self.interactive = interactive[self.client[0]]
        act, act_u = _factor(events["action"])
        self.action = (act, act_u)
        infos = [classify(a) for a in act_u]
        self.category = _recode(act, act_u, lambda a: classify(a).category)
        self.sensitivity = np.array([i.sensitivity for i in infos] + [0], dtype=np.int64)[act]
        self.namespace = _factor(events["namespace"])
        self.failed = (events["outcome"] == "failure").to_numpy(dtype=bool)
        self.day = self.ts // 86_400_000_000

    # per group -----------------------------------------------------------------------------------

    def count(self, mask: np.ndarray | None = None) -> np.ndarray:
        gid = self.gid if mask is None else self.gid[mask]
        return np.bincount(gid, minlength=self.groups)

    def _pairs(self, codes: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        keep = codes >= 0 if mask is None else (codes >= 0) & mask
        width = int(codes.max()) + 2 if len(codes) else 1
        return np.unique(self.gid[keep] * width + codes[keep]), width

    def distinct(self, codes: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        pairs, width = self._pairs(codes, mask)
        return np.bincount(pairs // width, minlength=self.groups)

    def distinct_lists(self, coded: tuple[np.ndarray, np.ndarray], mask: np.ndarray | None = None) -> list[list]:
        codes, uniques = coded
        pairs, width = self._pairs(codes, mask)
        out: list[list] = [[] for _ in range(self.groups)]
        for g, c in zip((pairs // width).tolist(), (pairs % width).tolist()):
            out[g].append(uniques[c])
        return [sorted(v) for v in out]

    def top(self, coded: tuple[np.ndarray, np.ndarray], n: int) -> list[list]:
        codes, uniques = coded
        keep = codes >= 0
        width = int(codes.max()) + 2 if len(codes) else 1
        pairs, counts = np.unique(self.gid[keep] * width + codes[keep], return_counts=True)
        groups = pairs // width
        order = np.lexsort((-counts, groups))
        out: list[list] = [[] for _ in range(self.groups)]
        for g, c in zip(groups[order].tolist(), (pairs[order] % width).tolist()):
            if len(out[g]) < n:
                out[g].append(uniques[c])
        return out

    def longest_gap(self) -> tuple[np.ndarray, np.ndarray]:
        """Per group: the longest silence between two uses (µs, 0 if used once) and when it ended."""
        order = np.lexsort((self.ts, self.gid))
        g, t = self.gid[order], self.ts[order]
        gap = np.diff(t)
        same = g[1:] == g[:-1]
        longest = np.zeros(self.groups, dtype=np.int64)
        woke = np.full(self.groups, np.iinfo(np.int64).min, dtype=np.int64)
        if same.any():
            gg, gaps, ends = g[1:][same], gap[same], t[1:][same]
            by = np.lexsort((gaps, gg))
            last = np.append(gg[by][1:] != gg[by][:-1], True)
            longest[gg[by][last]] = gaps[by][last]
            woke[gg[by][last]] = ends[by][last]
        return longest, woke

    def per_group(self, values: np.ndarray, how: str) -> np.ndarray:
        frame = pd.DataFrame({"g": self.gid, "v": values})
        return frame.groupby("g")["v"].agg(how).reindex(range(self.groups)).to_numpy()


def _machine(frame: pd.DataFrame) -> pd.Series:
    """`is_machine` per row, evaluated once per distinct identity."""
    cols = ["source", "principal", "principal_type", "token_kind"]
    ids = frame[cols].drop_duplicates()
    flags = [is_machine(s, p, t if isinstance(t, str) else None, k if isinstance(k, str) else None)
             for s, p, t, k in ids.itertuples(index=False)]
    lookup = ids.assign(_machine=flags)
    return frame[cols].merge(lookup, on=cols, how="left")["_machine"].fillna(False).astype(bool).set_axis(frame.index)


def inventory(events: pd.DataFrame, alerts: Iterable[dict[str, Any]] = ()) -> pd.DataFrame:
    """One row per credential (source, tenant, token id) with what it is and how it was used."""
    columns = ["source", "tenant", "token_id", "principal", "principal_type", "token_kind", "machine",
               "first_seen", "last_seen", "age_days", "events", "active_days", "longest_silence_days",
               "woke_at", "ips", "networks", "wide_networks", "public_ips", "clients", "interactive_clients",
               "actions", "namespaces", "top_actions", "risky_categories", "failures", "issued_by", "issued_via",
               "alerts", "max_score"]
    if events.empty:
        return pd.DataFrame(columns=columns)
    events = events.reset_index(drop=True)
    c = _Codes(events)
    first = events.iloc[c.first_row]
    inv = pd.DataFrame({name: first[name].to_numpy() for name in
                        ("source", "tenant", "token_id", "principal", "principal_type", "token_kind")})
    day = pd.Timedelta(days=1)
    inv["first_seen"] = pd.to_datetime(c.per_group(c.ts, "min"), unit="us", utc=True)
    inv["last_seen"] = pd.to_datetime(c.per_group(c.ts, "max"), unit="us", utc=True)
    inv["age_days"] = (inv["last_seen"] - inv["first_seen"]) / day
    inv["events"] = c.count()
    inv["active_days"] = c.distinct(c.day)
    longest, woke = c.longest_gap()
    inv["longest_silence_days"] = longest / 86_400_000_000
    inv["woke_at"] = pd.to_datetime(np.where(longest > 0, woke, np.iinfo(np.int64).min), unit="us", utc=True)
    inv.loc[longest == 0, "woke_at"] = pd.NaT
    inv["ips"] = c.distinct(c.ip[0])
    inv["networks"] = c.distinct(c.net[0])
    inv["wide_networks"] = c.distinct(c.wide[0])
    inv["public_ips"] = c.distinct(c.public_ip)
    inv["clients"] = c.distinct_lists(c.client)
    inv["interactive_clients"] = c.distinct_lists(c.client, c.interactive)
    inv["actions"] = c.distinct(c.action[0])
    inv["namespaces"] = c.distinct(c.namespace[0])
    inv["top_actions"] = c.top(c.action, 3)
    inv["risky_categories"] = c.distinct_lists(c.category, (c.sensitivity >= 2) & ~c.failed)
    inv["failures"] = c.count(c.failed)
    inv["machine"] = _machine(inv)
    # lineage: who issued each credential (the issuing event names the child token)
    births: dict[tuple, tuple] = {}
    issued = events[(events["lineage_kind"] == "issued") & events["lineage_token"].notna() & ~c.failed]
    for source, tenant, child, issuer, via in issued[["source", "tenant", "lineage_token", "principal", "action"]] \
            .itertuples(index=False):
        births.setdefault((source, tenant if isinstance(tenant, str) else None, child), (issuer, via))
    found = [births.get((s, t if isinstance(t, str) else None, k), (None, None))
             for s, t, k in zip(inv["source"], inv["tenant"], inv["token_id"])]
    inv["issued_by"] = [f[0] for f in found]
    inv["issued_via"] = [f[1] for f in found]
    alert_counts: dict[str, int] = {}
    scores: dict[str, float] = {}
    for a in alerts:
        token = a["token"]["id"]
        alert_counts[token] = alert_counts.get(token, 0) + 1
        scores[token] = max(scores.get(token, 0.0), a["score"])
    inv["alerts"] = inv["token_id"].map(alert_counts).fillna(0).astype(int)
    inv["max_score"] = inv["token_id"].map(scores)
    return inv[columns].sort_values(["source", "principal", "first_seen"]).reset_index(drop=True)


def data_end(inv: pd.DataFrame) -> pd.Timestamp:
    """'Now' for a hunt over recorded data: the last use of any token."""
    return inv["last_seen"].max()


def _days(us: str) -> float:
    return parse_duration(us) / 86_400_000_000


def long_lived(inv: pd.DataFrame) -> pd.DataFrame:
    """The inventory's long-lived credentials (legacy tokens, access keys, SA keys, SP secrets…)."""
    return inv[inv["token_kind"].isin(LONG_LIVED)]


def long_lived_events(events: pd.DataFrame) -> pd.DataFrame:
    """The requests made with long-lived credentials."""
    return events[events["token_kind"].isin(LONG_LIVED)]


_FINDING_COLUMNS = ["finding", "rank", "source", "principal", "token_id", "token_kind", "evidence", "remediation"]


def dormant_tokens(inv: pd.DataFrame, after: str = "5d", now: Any = None) -> pd.DataFrame:
    """Long-lived credentials idle for `after` or more: still idle at `now` (it still works if it
    wakes, so revoke it), or woken up after such a silence (who used it, and why then?)."""
    now = data_end(inv) if now is None else to_time(now)
    threshold = _days(after)
    ll = long_lived(inv)
    rows = []
    for r in ll.itertuples():
        idle = (now - r.last_seen) / pd.Timedelta(days=1)
        if idle >= threshold:
            rows.append({"finding": "dormant now", "rank": 60 + min(idle, 30), "idle_days": round(idle, 1), "row": r,
                         "evidence": f"not used for {idle:.1f} days (last use {r.last_seen:%Y-%m-%d %H:%M}); it still works if it wakes",
                         "remediation": "revoke or delete it if nothing needs it; otherwise document its owner and schedule"})
        if r.longest_silence_days >= threshold:
            rows.append({"finding": "woke after dormancy", "rank": 80 + min(r.longest_silence_days, 15) + 5 * (r.alerts > 0),
                         "idle_days": round(r.longest_silence_days, 1), "row": r,
                         "evidence": f"silent {r.longest_silence_days:.1f} days, then used again on {r.woke_at:%Y-%m-%d %H:%M}"
                                     f" ({r.alerts} alert(s)); {r.networks} network(s), clients {', '.join(r.clients) or 'none'}",
                         "remediation": "confirm the owner made that use; rotate it, and retire keys only used in rare bursts"})
    return _findings(rows, extra=["idle_days"])


def long_lived_in_use(inv: pd.DataFrame, min_age_days: float = 0.0) -> pd.DataFrame:
    """Legacy K8s secret tokens, long-term cloud keys, exported SA keys and SP secrets seen in use."""
    rows = []
    for r in long_lived(inv).itertuples():
        if r.age_days < min_age_days:
            continue
        legacy = r.token_kind == "legacy"
        rows.append({
            "finding": "legacy long-lived K8s token" if legacy else f"long-lived {r.token_kind} in use",
            "rank": (70 if legacy else 55) + min(r.age_days, 20) + 5 * (r.public_ips > 0), "row": r,
            "age_days": round(r.age_days, 1),
            "evidence": f"used on {r.active_days} day(s) over {r.age_days:.1f} days seen ({r.events:,} requests, "
                        f"{r.networks} network(s){', public addresses' if r.public_ips else ''})",
            "remediation": REMEDIATION.get(r.token_kind, DEFAULT_REMEDIATION),
        })
    return _findings(rows, extra=["age_days"])


def many_networks(inv: pd.DataFrame, min_networks: int = 3, machine_only: bool = True) -> pd.DataFrame:
    """One credential used from `min_networks` or more /24 networks: a shared or copied secret
    (bound tokens and role sessions normally stay on one workload's network)."""
    cand = inv[inv["networks"] >= min_networks]
    if machine_only:
        cand = cand[cand["machine"]]
    rows = [{
        "finding": "used from many networks", "rank": 50 + 3 * min(r.networks, 10) + 10 * (r.public_ips > 0), "row": r,
        "networks_used": r.networks,
        "evidence": f"{r.networks} /24 networks in {r.wide_networks} /16 blocks ({r.ips} addresses, {r.public_ips} public)",
        "remediation": "give each workload its own credential; if the token was copied, rotate it",
    } for r in cand.itertuples()]
    return _findings(rows, extra=["networks_used"])


def interactive_use(inv: pd.DataFrame) -> pd.DataFrame:
    """Machine identities driven by interactive clients (kubectl, curl, browsers, cloud CLIs), one
    row per principal (bound tokens rotate hourly: the principal is what an analyst follows up)."""
    cand = inv[inv["machine"] & inv["interactive_clients"].map(len).gt(0)]
    rows = []
    for (source, principal), g in cand.groupby(["source", "principal"], sort=False):
        interactive = sorted({c for cs in g["interactive_clients"] for c in cs})
        clients = sorted({c for cs in g["clients"] for c in cs})
        r = g.sort_values("last_seen").iloc[-1]
        public = int(g["public_ips"].sum())
        alerted = int(g["alerts"].sum())
        rows.append({
            "finding": "human-looking use of a machine identity",
            "rank": 55 + 10 * (public > 0) + 5 * (alerted > 0) + 5 * (r["token_kind"] in LONG_LIVED), "row": r,
            "tokens": len(g),
            "evidence": f"{', '.join(interactive)} among its clients ({', '.join(clients)}) on {len(g)} token(s), "
                        f"{g['events'].sum():,} requests{', from public addresses' if public else ''}",
            "remediation": "people should use their own identity; check who ran these commands and rotate the credential",
        })
    return _findings(rows, extra=["tokens"])


def is_control_plane(source: str, principal: str) -> bool:
    """Kubelets, kube-controller-manager and other `system:` users mint and read by design."""
    return source == "k8s" and principal.startswith("system:") and not principal.startswith("system:serviceaccount:")


def risky_in_use(events: pd.DataFrame, min_sensitivity: int = 2, machine_only: bool = True,
                 include_control_plane: bool = False) -> pd.DataFrame:
    """Machine identities exercising risky permissions (secret reads, RBAC changes, token minting,
    exec, credential creation, audit tampering…): one row per principal and category with how
    many of its tokens did it, which kinds, the actions, namespaces, requests and first/last use
    (successful requests only). The K8s control plane (kubelets minting pod tokens) is left out
    unless `include_control_plane`."""
    columns = ["source", "principal", "category", "label", "sensitivity", "tokens", "token_kinds", "example_token",
               "actions", "namespaces", "events", "first_use", "last_use"]
    if events.empty:
        return pd.DataFrame(columns=columns)
    actions = events["action"]
    info = {a: classify(a) for a in actions.dropna().unique()}
    sensitivity = actions.map({a: i.sensitivity for a, i in info.items()}).fillna(0).astype(int)
    frame = events.assign(sensitivity=sensitivity)
    frame = frame[(frame["sensitivity"] >= min_sensitivity) & (frame["outcome"] != "failure")]
    frame = frame.assign(category=frame["action"].map({a: i.category for a, i in info.items()}))
    if machine_only and len(frame):
        frame = frame[_machine(frame)]
    if not include_control_plane and len(frame):
        principals = frame[["source", "principal"]].drop_duplicates()
        plane = {(s, p) for s, p in principals.itertuples(index=False) if is_control_plane(s, p)}
        frame = frame[[(s, p) not in plane for s, p in zip(frame["source"], frame["principal"])]]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    keys = ["source", "principal", "category"]
    def distinct(values: pd.Series) -> list:
        return sorted(set(values.dropna()))

    out = frame.groupby(keys).agg(
        sensitivity=("sensitivity", "max"), tokens=("token_id", "nunique"), example_token=("token_id", "last"),
        events=("event_id", "size"), first_use=("ts", "min"), last_use=("ts", "max"),
        token_kinds=("token_kind", distinct), actions=("action", distinct), namespaces=("namespace", distinct),
    ).reset_index()
    out["label"] = out["category"].map(lambda c: CATEGORY_LABEL.get(c, c))
    out = out.sort_values(["sensitivity", "events"], ascending=[False, False])
    return out[columns].reset_index(drop=True)


def risky_matrix(risky: pd.DataFrame, top: int = 15) -> pd.DataFrame:
    """`risky_in_use` as principals × kinds of permission (requests), the busiest principals first."""
    if risky.empty:
        return pd.DataFrame()
    table = risky.pivot_table(index="principal", columns="label", values="events", aggfunc="sum", fill_value=0)
    return table.loc[table.sum(axis=1).sort_values(ascending=False).index[:top]]


def scope_of(source: str, tenant: str | None, principal: str) -> str:
    """Where a credential lives: its K8s namespace for a service account, else its account/project."""
    if source == "k8s":
        parts = principal.split(":")
        if principal.startswith("system:serviceaccount:") and len(parts) >= 4:
            return f"k8s ns/{parts[2]}"
        return "k8s (cluster identities)"
    return f"{source} {tenant}" if tenant else source


def sprawl(inv: pd.DataFrame, live: str = "1d", now: Any = None) -> pd.DataFrame:
    """Per namespace (K8s) or account/project (cloud): principals, tokens, tokens live in the last
    `live`, long-lived tokens, and the most live credentials one principal holds."""
    columns = ["scope", "principals", "tokens", "live_tokens", "long_lived", "long_lived_live",
               "max_live_per_principal", "kinds"]
    if inv.empty:
        return pd.DataFrame(columns=columns)
    now = data_end(inv) if now is None else to_time(now)
    since = now - pd.Timedelta(microseconds=parse_duration(live))
    frame = inv.assign(scope=[scope_of(s, t, p) for s, t, p in zip(inv["source"], inv["tenant"], inv["principal"])],
                       is_live=inv["last_seen"] >= since, is_long=inv["token_kind"].isin(LONG_LIVED))
    frame = frame.assign(live_long=frame["is_live"] & frame["is_long"])
    per_principal = frame[frame["is_live"]].groupby(["scope", "principal"]).size().groupby("scope").max()
    out = frame.groupby("scope").agg(
        principals=("principal", "nunique"), tokens=("token_id", "size"), live_tokens=("is_live", "sum"),
        long_lived=("is_long", "sum"), long_lived_live=("live_long", "sum"),
        kinds=("token_kind", lambda s: ", ".join(f"{k} {n}" for k, n in s.value_counts().items())),
    )
    out["max_live_per_principal"] = per_principal.reindex(out.index).fillna(0).astype(int)
    out = out.reset_index().sort_values(["live_tokens", "tokens"], ascending=False)
    return out[columns].reset_index(drop=True)


def live_credentials(inv: pd.DataFrame, live: str = "1d", now: Any = None, min_credentials: int = 3) -> pd.DataFrame:
    """Principals holding `min_credentials` or more credentials used within `live` of `now`
    (bound K8s tokens excluded: they rotate hourly by design)."""
    now = data_end(inv) if now is None else to_time(now)
    since = now - pd.Timedelta(microseconds=parse_duration(live))
    frame = inv[(inv["last_seen"] >= since) & (inv["token_kind"] != "bound")]
    out = frame.groupby(["source", "principal"]).agg(
        credentials=("token_id", "nunique"), kinds=("token_kind", lambda s: sorted(set(s))),
        events=("events", "sum"),
    ).reset_index()
    return out[out["credentials"] >= min_credentials].sort_values("credentials", ascending=False).reset_index(drop=True)


def _findings(rows: list[dict[str, Any]], extra: Iterable[str] = ()) -> pd.DataFrame:
    extra = list(extra)
    out = []
    for f in rows:
        r = f.pop("row")
        r = r._asdict() if hasattr(r, "_asdict") else dict(r)
        out.append({"finding": f["finding"], "rank": round(float(f["rank"]), 1), "source": r["source"],
                    "principal": r["principal"], "token_id": r["token_id"], "token_kind": r["token_kind"],
                    **{k: f[k] for k in extra}, "evidence": f["evidence"], "remediation": f["remediation"]})
    columns = _FINDING_COLUMNS[:6] + extra + _FINDING_COLUMNS[6:]
    frame = pd.DataFrame(out, columns=columns)
    return frame.sort_values("rank", ascending=False).reset_index(drop=True)


def findings(inv: pd.DataFrame, *, dormant_after: str = "5d", min_networks: int = 3, now: Any = None) -> pd.DataFrame:
    """Every hygiene finding in one table, highest rank first (rank ~0–100: how urgent)."""
    parts = [dormant_tokens(inv, dormant_after, now), long_lived_in_use(inv), many_networks(inv, min_networks),
             interactive_use(inv)]
    parts = [p[_FINDING_COLUMNS] for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=_FINDING_COLUMNS)
    return pd.concat(parts, ignore_index=True).sort_values("rank", ascending=False).reset_index(drop=True)


def kinds_summary(inv: pd.DataFrame) -> pd.DataFrame:
    """Tokens, principals and requests per source and kind of credential."""
    out = inv.groupby(["source", "token_kind"]).agg(tokens=("token_id", "size"), principals=("principal", "nunique"),
                                                    events=("events", "sum"), alerts=("alerts", "sum")).reset_index()
    out["long_lived"] = out["token_kind"].isin(LONG_LIVED)
    out["label"] = out["source"] + " " + out["token_kind"] + np.where(out["long_lived"], " (long-lived)", "")
    return out.sort_values(["source", "events"], ascending=[True, False]).reset_index(drop=True)
