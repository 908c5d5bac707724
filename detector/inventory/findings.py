"""Hygiene findings: which credentials are a liability, why (evidence), and what to do (remediation).

One function per kind of finding, each taking an inventory row (or a principal's summary) and
the report context, returning a `Finding` or None. `hygiene(report)` runs them all and ranks
the findings by score (0–100), highest first. Unlike alerts, findings are about the credential's
standing — long-lived, dormant, shared, used from outside, handled by people — not about one
suspicious moment; the detector's alerts cover the moments.

| kind | applies to | says |
|---|---|---|
| `legacy-k8s-token` | secret-based K8s tokens in use | migrate to bound tokens, delete the secret |
| `long-lived-key` | cloud keys older than `max_key_age`, or never seen rotating | rotate, or replace with federation |
| `dormant-token` | long-lived credentials silent for `dormant_after` that woke (and worked), or are silent now | disable it |
| `shared-token` | long-lived credentials used by several programs / from several addresses at once / from many networks | one credential per workload |
| `human-use` | machine credentials driven by interactive clients from networks people work from, or by a browser | people use their own identity |
| `used-outside` | long-lived credentials used from outside the cluster / the organisation's cloud egress | federation / short-lived tokens |
| `stale-bound-token` | bound tokens used long after they were minted | upgrade the client so it reloads its token |
| `credential-sprawl` | principals with several live long-lived credentials | keep one, revoke the rest |
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..events import us_to_iso
from .observer import DAY_US, HOUR_US
from .report import InventoryReport, PrincipalRow, TokenRow

SEVERITIES = ("low", "medium", "high", "critical")
KINDS = ("legacy-k8s-token", "long-lived-key", "dormant-token", "shared-token", "human-use", "used-outside",
         "stale-bound-token", "credential-sprawl")
CLOUD_KEYS = frozenset({"access-key", "sa-key", "sp-secret", "sp-cert"})


def severity_of(score: float) -> str:
    if score >= 80:
        return "critical"
    if score >= 60:
        return "high"
    if score >= 40:
        return "medium"
    return "low"


@dataclass
class Finding:
    kind: str
    title: str
    score: float
    source: str
    tenant: str | None
    principal: str
    token_id: str | None  # None: about the principal as a whole
    token_kind: str | None
    evidence: list[str]
    remediation: str
    first_seen: int | None = None
    last_seen: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # machine-readable evidence

    @property
    def severity(self) -> str:
        return severity_of(self.score)

    @property
    def id(self) -> str:
        key = "\x1f".join((self.kind, self.source, self.tenant or "", self.principal, self.token_id or ""))
        return hashlib.blake2b(key.encode(), digest_size=10).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = self.id
        data["severity"] = self.severity
        data["score"] = round(self.score, 1)
        data["first_seen"] = us_to_iso(self.first_seen) if self.first_seen else None
        data["last_seen"] = us_to_iso(self.last_seen) if self.last_seen else None
        return data


@dataclass
class Context:
    """What the finding functions need besides the row: thresholds and the report's time."""

    as_of: int
    max_key_age_us: int
    dormant_us: int
    min_rotation_evidence_us: int
    stale_bound_us: int
    shared_min_programs: int
    shared_min_hour_ips: int
    shared_min_networks: int
    sprawl_min_live: int
    principals: dict[str, PrincipalRow]

    @classmethod
    def of(cls, report: InventoryReport, config) -> "Context":
        return cls(
            as_of=report.as_of, max_key_age_us=config.us("max_key_age"), dormant_us=config.us("dormant_after"),
            min_rotation_evidence_us=config.us("min_rotation_evidence"), stale_bound_us=config.us("stale_bound_after"),
            shared_min_programs=config.shared_min_programs, shared_min_hour_ips=config.shared_min_hour_ips,
            shared_min_networks=config.shared_min_networks, sprawl_min_live=config.sprawl_min_live,
            principals=report.principals,
        )


def _finding(kind: str, title: str, score: float, row: TokenRow, evidence: list[str], remediation: str,
             **facts: Any) -> Finding:
    return Finding(kind, title, min(100.0, score), row.source, row.tenant, row.principal, row.token_id, row.kind,
                   evidence, remediation, row.first_seen, row.last_seen, facts)


def _day(ts: int | None) -> str:
    return us_to_iso(ts)[:10] if ts else "?"


def _span(row: TokenRow) -> str:
    return f"{row.events:,} requests on {row.days_active} day{'s' if row.days_active != 1 else ''} " \
           f"({_day(row.first_seen)} – {_day(row.last_seen)})"


def _list(values: list[str], more: bool = False, limit: int = 4) -> str:
    shown = ", ".join(values[:limit])
    extra = len(values) - limit
    if extra > 0 or more:
        shown += f" and {extra if extra > 0 else 'more'}{'+' if more and extra > 0 else ''} more"
    return shown


def _live(row: TokenRow) -> bool:
    return row.status not in ("revoked", "replaced")


def _sa_parts(principal: str) -> tuple[str, str]:
    parts = principal.split(":")
    return (parts[2], parts[3]) if len(parts) >= 4 else ("?", principal)


# --- one function per kind -------------------------------------------------------------------------

def legacy_k8s_token(row: TokenRow, ctx: Context) -> Finding | None:
    if row.kind != "legacy" or not _live(row):
        return None
    namespace, name = _sa_parts(row.principal)
    secret = row.token_id[len("secret:"):] if row.token_id.startswith("secret:") else None
    evidence = [f"secret-based token {secret or row.token_id} of {row.principal} was used for {_span(row)}; "
                "it never expires and is not bound to a pod"]
    score = 60.0
    if row.outside_networks:
        evidence.append(f"used from outside the cluster: {_list(row.outside_networks)}")
        score += 15
    if row.privileged_actions:
        evidence.append(f"privileged actions with it: {_list(row.privileged_actions)}")
        score += 10
    delete = f"then delete secret {secret} so the token stops working" if secret else \
        "then delete the token's secret so it stops working"
    remediation = (f"Move {namespace}/{name} to projected, auto-rotating bound tokens (a projected "
                   "serviceAccountToken volume, or `kubectl create token --duration` for jobs outside the cluster), "
                   f"{delete}.")
    return _finding("legacy-k8s-token", "legacy secret-based service-account token in use", score, row, evidence,
                    remediation, secret=secret, outside_networks=row.outside_networks)


def long_lived_key(row: TokenRow, ctx: Context) -> Finding | None:
    if row.kind not in CLOUD_KEYS or not _live(row):
        return None
    max_age_days = ctx.max_key_age_us / DAY_US
    prow = _principal(ctx, row)
    rotated = prow is not None and bool(prow.rotations or prow.revoked)
    evidence = []
    score = 45.0
    if row.age_known and row.age_days >= max_age_days:
        evidence.append(f"created {_day(row.created)} ({row.age_days:.0f} days ago), older than {max_age_days:.0f} days")
        score += 15
    elif not row.age_known and row.age_days >= max_age_days:
        evidence.append(f"in use since the logs begin {row.age_days:.0f} days ago, so older than {max_age_days:.0f} days")
        score += 15
    elif not row.age_known and not rotated and row.logs_days * DAY_US >= ctx.min_rotation_evidence_us:
        evidence.append(f"its creation is not in the {row.logs_days:.0f} days of logs (so it is at least that old) "
                        f"and no key of {row.principal} was rotated in that time")
    else:
        return None
    evidence.append(f"used for {_span(row)}")
    if row.outside_networks:
        score += 5
    if row.privileged_actions:
        evidence.append(f"privileged actions with it: {_list(row.privileged_actions)}")
        score += 10
    return _finding("long-lived-key", f"{row.kind_label} never rotated", score, row, evidence,
                    _key_remediation(row, max_age_days), age_days=round(row.age_days, 1), age_known=row.age_known)


def _principal(ctx: Context, row: TokenRow) -> PrincipalRow | None:
    where = f"{row.source}|{row.tenant or ''}|{row.principal}"
    return ctx.principals.get(where)


def _key_remediation(row: TokenRow, max_age_days: float) -> str:
    if row.source == "aws":
        return (f"Replace the access key of {row.principal} with temporary credentials (an IAM role: IRSA or an "
                "instance role in AWS, IAM Roles Anywhere on premises, OIDC federation for CI); until then rotate it "
                f"at least every {max_age_days:.0f} days (create a second key, switch, deactivate and delete "
                f"{row.token_id}).")
    if row.source == "gcp":
        return (f"Replace key {row.token_id} of {row.principal} with workload identity federation or an attached "
                "service account, then delete the key (and enforce iam.disableServiceAccountKeyCreation); until then "
                f"rotate it at least every {max_age_days:.0f} days.")
    return (f"Replace the client secret of application {row.principal} with a managed identity or a federated "
            f"credential; until then give secrets an expiry of at most {max_age_days:.0f} days and rotate them.")


def dormant_token(row: TokenRow, ctx: Context) -> Finding | None:
    if not row.long_lived or not _live(row):
        return None
    evidence = []
    score = 0.0
    woke = row.woke_at is not None and row.longest_gap_days * DAY_US >= ctx.dormant_us and row.woke_ok
    if woke:
        quiet_since = row.woke_at - int(row.longest_gap_days * DAY_US)
        evidence.append(f"unused for {row.longest_gap_days:.1f} days ({_day(quiet_since)} – {_day(row.woke_at)}), "
                        "then it still worked when it woke up")
        score = 60.0
        if row.dormant_gaps >= 2:
            evidence.append(f"it went quiet like that {row.dormant_gaps} times: it serves a job that runs rarely")
            score -= 15
    idle_us = ctx.as_of - row.last_seen
    if idle_us >= ctx.dormant_us:
        evidence.append(f"no use for {idle_us / DAY_US:.1f} days (last {_day(row.last_seen)}); nothing in the logs shows "
                        "it was disabled, so it still works")
        score = max(score, 45.0) + (5 if woke else 0)
    if not evidence:
        return None
    if row.privileged_actions:
        evidence.append(f"it can do privileged things: {_list(row.privileged_actions)}")
        score += 10
    if row.kind == "legacy":
        what = f"delete the token's secret ({row.token_id})"
    elif row.source == "aws":
        what = f"deactivate access key {row.token_id} (then delete it)"
    elif row.source == "gcp":
        what = f"disable service-account key {row.token_id} (then delete it)"
    else:
        what = f"remove credential {row.token_id} from the application"
    remediation = (f"If nothing needs it any more, {what}; a job that runs rarely should get short-lived credentials "
                   "when it runs rather than a standing key.")
    return _finding("dormant-token", "dormant long-lived credential", score, row, evidence, remediation,
                    longest_gap_days=round(row.longest_gap_days, 1), idle_days=round(idle_us / DAY_US, 1),
                    woke_at=us_to_iso(row.woke_at) if woke else None)


def shared_token(row: TokenRow, ctx: Context) -> Finding | None:
    if not row.long_lived or not _live(row):
        return None
    evidence = []
    programs = len(row.user_agents) + (1 if row.user_agents_more else 0)
    if programs >= ctx.shared_min_programs:
        evidence.append(f"used by {programs}{'+' if row.user_agents_more else ''} different client programs: "
                        f"{_list(row.user_agents, row.user_agents_more)}")
    if row.max_hour_ips >= ctx.shared_min_hour_ips:
        evidence.append(f"used from {row.max_hour_ips}{'+' if row.max_hour_ips >= 8 else ''} addresses within one hour")
    networks = len(row.networks)
    if networks >= ctx.shared_min_networks:
        evidence.append(f"used from {networks}{'+' if row.networks_more else ''} networks: "
                        f"{_list(row.networks, row.networks_more)}")
    if not evidence:
        return None
    score = 40.0 + 5 * (len(evidence) - 1) + (10 if row.privileged_actions else 0)
    return _finding("shared-token", "one credential shared by several workloads", score, row, evidence,
                    "Give each workload its own credential (or better, its own short-lived identity), so that use "
                    "can be attributed and one leak revoked without breaking the others.",
                    programs=row.user_agents, max_hour_ips=row.max_hour_ips, networks=networks)


def human_use(row: TokenRow, ctx: Context) -> Finding | None:
    if not row.machine or row.interactive_events == 0:
        return None
    browser = "browser" in row.user_agents
    if not row.human_networks and not browser:
        return None
    interactive = [u for u in row.user_agents if u in ("kubectl", "browser", "curl", "aws-cli", "gcloud", "k9s",
                                                        "lens", "helm", "httpie", "postman", "wget", "azure-cli",
                                                        "azurecli", "powershell", "google-cloud-sdk", "oc")]
    evidence = [f"{row.interactive_events:,} requests from interactive clients ({_list(interactive or row.user_agents)})"]
    if row.human_networks:
        evidence.append(f"from networks where people work: {_list(row.human_networks)}")
    if browser:
        evidence.append("one of them is a web browser")
    score = 60.0 + (10 if row.human_networks and browser else 0) + (10 if row.privileged_actions else 0)
    return _finding("human-use", "machine credential used by a person", score, row, evidence,
                    f"People should act with their own identity (SSO, short-lived), not with {row.principal}'s "
                    "credential; rotate this credential, since it has been copied out of its workload, and find "
                    "out who uses it and why.", human_networks=row.human_networks, browser=browser)


def used_outside(row: TokenRow, ctx: Context) -> Finding | None:
    if not row.long_lived or not _live(row) or not row.outside_networks:
        return None
    where = "the cluster" if row.source == "k8s" else "your cloud (the egress its workloads use)"
    count = len(row.outside_networks)
    evidence = [f"used from {count}{'+' if row.networks_more else ''} network{'s' if count != 1 else ''} outside "
                f"{where}: {_list(row.outside_networks, row.networks_more)}"]
    score = 40.0 + (5 if count >= 5 else 0) + (10 if row.privileged_actions else 0)
    if row.source == "k8s":
        remediation = ("A cluster credential used from outside should be short-lived: issue it per job with "
                       "`kubectl create token --duration` (or OIDC federation for CI), and keep the API server "
                       "reachable only from where it must be.")
    elif row.source == "aws":
        remediation = ("Use temporary credentials where the client runs (OIDC federation for CI, IAM Roles Anywhere "
                       "on premises) instead of a long-term key; meanwhile restrict the key's policy with an "
                       "aws:SourceIp condition.")
    elif row.source == "gcp":
        remediation = ("Use workload identity federation where the client runs instead of an exported key; "
                       "meanwhile limit where it can be used (VPC Service Controls / access levels).")
    else:
        remediation = ("Use a federated credential (workload identity federation) where the client runs instead "
                       "of a client secret; meanwhile restrict sign-ins with Conditional Access for workload identities.")
    return _finding("used-outside", "long-lived credential used from outside", score, row, evidence, remediation,
                    outside_networks=row.outside_networks)


def stale_bound_token(row: TokenRow, ctx: Context) -> Finding | None:
    if row.kind != "bound" or row.last_seen < ctx.as_of - 7 * DAY_US:
        return None
    minted = row.created if row.created is not None else row.first_seen
    used_for = row.last_seen - minted
    if used_for < ctx.stale_bound_us:
        return None
    pod = f" of pod {row.pod}" if row.pod else ""
    evidence = [f"bound token{pod} still used {used_for / HOUR_US:.0f} hours after it was "
                f"{'minted' if row.created is not None else 'first used'} ({_day(minted)} – {_day(row.last_seen)}); "
                "the kubelet refreshes tokens about hourly, so its client never re-reads the token file"]
    if row.rotation:
        evidence.append(f"its principal: {row.rotation}")
    return _finding("stale-bound-token", "bound token never refreshed by its client", 35.0, row, evidence,
                    "Upgrade the client library (client-go ≥ v0.15, the official Python/Java clients of 2020 or later) "
                    "so it reloads the projected token; clusters that stop extending legacy clients' token expiry "
                    "will otherwise break it after an hour.", hours=round(used_for / HOUR_US, 1))


def credential_sprawl(row: PrincipalRow, tokens: dict[str, TokenRow], ctx: Context) -> Finding | None:
    live = row.live_long_lived
    if len(live) < ctx.sprawl_min_live:
        return None
    members = [tokens[f"{row.source}|{row.tenant or ''}|{t}"] for t in live if f"{row.source}|{row.tenant or ''}|{t}" in tokens]
    described = [f"{t.token_id} ({t.kind_label}, last used {_day(t.last_seen)})" for t in members]
    evidence = [f"{len(live)} live long-lived credentials: {_list(described, limit=6)}"]
    created = [t.token_id for t in members if t.age_known]
    if created:
        evidence.append(f"created during the logs: {_list(created)}")
    score = 35.0 + 5 * (len(live) - ctx.sprawl_min_live) + (10 if created else 0)
    return Finding("credential-sprawl", "several live credentials for one identity", min(100.0, score), row.source,
                   row.tenant, row.principal, None, None, evidence,
                   f"Keep one credential per workload for {row.principal} and revoke the others; check who created "
                   "the newer ones and why.", min((t.first_seen for t in members), default=None),
                   max((t.last_seen for t in members), default=None), {"live": live})


TOKEN_CHECKS: tuple[Callable[[TokenRow, Context], Finding | None], ...] = (
    legacy_k8s_token, long_lived_key, dormant_token, shared_token, human_use, used_outside, stale_bound_token,
)


def hygiene(report: InventoryReport, config) -> list[Finding]:
    """Every finding of the report, ranked: highest score first, then by kind, principal, token."""
    ctx = Context.of(report, config)
    findings: list[Finding] = []
    for row in report.tokens:
        for check in TOKEN_CHECKS:
            finding = check(row, ctx)
            if finding is not None:
                findings.append(finding)
    tokens = {r.key: r for r in report.tokens}
    for prow in report.principals.values():
        finding = credential_sprawl(prow, tokens, ctx)
        if finding is not None:
            findings.append(finding)
    return rank(findings)


def rank(findings: list[Finding]) -> list[Finding]:
    order = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(findings, key=lambda f: (-f.score, order.get(f.kind, 99), f.principal, f.token_id or ""))
