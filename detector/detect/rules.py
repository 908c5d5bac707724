"""The evidence tokenhawk recognizes: each function turns one observed fact into a Signal.

Points are what one piece of evidence is worth on its own (0–100); an incident fuses the signals
of a token as 100·(1 − Π(1 − pᵢ/100)) over distinct kinds, so independent evidence compounds
while repeating the same fact does not. The alert threshold is 50: a single *strong* fact (a bound
token away from its pod, a dead pod's token, a machine identity granting itself cluster-admin)
alerts alone; weaker novelty (a new network, a new client program, a new sensitive action) alerts
only in combination. Every reason sentence states the observed value and the baseline it broke.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..actions import CATEGORY_LABEL, ActionInfo

STRONG_POINTS = 55  # a signal this strong alerts without waiting for population context

# Kinds whose value can become "new for everyone at once" (a fleet change, not an attack);
# they are checked against the population before an incident made only of them alerts.
NOVELTY_KINDS = frozenset({"new-network", "new-user-agent", "new-action", "new-namespace", "unusual-hour"})


@dataclass
class Signal:
    kind: str
    points: float
    techniques: tuple[str, ...]
    reason: str
    ts: int = 0
    event_id: str | None = None
    shift_key: str | None = None  # the novel value, for population-shift checks

    @property
    def strong(self) -> bool:
        return self.points >= STRONG_POINTS


def _few(values, limit: int = 3) -> str:
    values = sorted(v for v in values if v)
    if not values:
        return "none"
    text = ", ".join(values[:limit])
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")


# --- token facts --------------------------------------------------------------------------------

def bound_token_ip_mismatch(pod: str, ip: str, pod_ip: str, public: bool) -> Signal:
    where = "a public address" if public else "another address"
    return Signal(
        "bound-token-ip-mismatch", 85 if public else 75, ("T1550.001", "T1528"),
        f"bound token of pod {pod} used from {ip} ({where}); its pod's IP is {pod_ip}",
    )


def dead_pod_token(pod: str, deleted_at: str, minutes: float) -> Signal:
    return Signal(
        "dead-pod-token", 75, ("T1550.001", "T1528"),
        f"token of pod {pod} used {minutes:.0f} min after the pod was deleted ({deleted_at}); a deleted pod's token should be dead",
    )


def superseded_token(pod: str, minutes: float) -> Signal:
    return Signal(
        "superseded-token-replay", 60, ("T1550.001", "T1528"),
        f"token of pod {pod} used {minutes:.0f} min after the pod moved on to a newer token; the kubelet rotated it out",
    )


def dormant_token(kind: str | None, days: float, last_seen: str) -> Signal:
    return Signal(
        "dormant-token", 30, ("T1078.004",),
        f"{kind or 'long-lived'} credential used after {days:.1f} days of silence (last use {last_seen})",
    )


def fresh_credential(issuer: str, via: str, minutes: float) -> Signal:
    return Signal(
        "fresh-credential-elsewhere", 30, ("T1098.001",),
        f"credential created {minutes:.0f} min earlier by {issuer} ({via}) and now used from a network its owner never used",
    )


def minted_by_other(issuer: str) -> Signal:
    return Signal(
        "token-minted-by-other", 35, ("T1528",),
        f"token minted by {issuer}, not by a kubelet or by the account itself",
    )


# --- network ------------------------------------------------------------------------------------

def external_k8s(ip: str, principal: str, usual: list[str], legacy: bool) -> Signal:
    what = "legacy secret-based token" if legacy else "service-account token"
    return Signal(
        "k8s-token-outside-cluster", 65 if legacy else 60, ("T1078", "T1550.001"),
        f"{what} of {principal} used from public address {ip}; it is only ever used from inside the cluster ({_few(usual)})",
        shift_key=ip,
    )


def new_network(ip: str, cls: str, block: str, usual: list[str], points: float) -> Signal:
    return Signal(
        "new-network", points, ("T1078.004",),
        f"source IP {ip} ({cls}) is in {block}, a network never seen for this principal; usual networks: {_few(usual)}",
        shift_key=block,
    )


# --- behaviour ----------------------------------------------------------------------------------

def new_user_agent(family: str, user_agent: str, usual: list[str], interactive: bool, varied: bool) -> Signal:
    points = 10 if varied else (35 if interactive else 25)
    hands_on = " (an interactive tool)" if interactive else ""
    return Signal(
        "new-user-agent", points, ("T1078",),
        f"client program {family}{hands_on} never used by this principal (agent {user_agent[:80]!r}); it uses {_few(usual)}",
        shift_key=family,
    )


def new_action(action: str, info: ActionInfo, known_to_peers: bool, namespace: str | None,
               other_principal: str | None, writer: bool = False) -> Signal:
    category = info.category
    if category is None:
        points = 5 if known_to_peers else (8 if info.recon else 10)
        techniques = info.techniques
        kind = "new-action"
    else:
        points = {
            "rbac-change": 55,
            "token-mint": 55 if other_principal else 20,
            "exec": 55 if namespace == "kube-system" else 40,
            "perm-enum": 30,
            "credential-create": 35,
            "identity-create": 40 if not action.startswith("create:") else 15,
            "priv-change": 45,
            "defense-evasion": 60,
            "secret-read": 20,
            "secret-write": 15,
            "workload-create": 15,
        }.get(category, 15)
        if category == "rbac-change" and writer and (namespace or action.startswith(("patch:", "update:"))) \
                and not action.startswith(("bind:", "escalate:")):
            # a deployer that already writes workloads creating a namespaced Role for an app it
            # ships, or patching a role's rules, is routine GitOps; creating cluster-wide bindings
            # and bind/escalate stay strong
            points = 30
        if known_to_peers:
            points = min(points, 25)
        techniques = info.techniques
        kind = f"new-{category}"
    where = f" in namespace {namespace}" if namespace else ""
    target = f" for {other_principal}" if other_principal else ""
    label = CATEGORY_LABEL.get(category, "action") if category else "action"
    peers = "its peers do it" if known_to_peers else "no peer does it either"
    return Signal(
        kind, points, techniques,
        f"{label} {action}{target}{where} never done by this principal before ({peers})",
        shift_key=action,
    )


def sensitive_elsewhere(action: str, info: ActionInfo, namespace: str | None, usual: list[str]) -> Signal:
    points = 55 if namespace == "kube-system" and info.category in ("exec", "secret-read", "token-mint", "rbac-change") else 30
    label = CATEGORY_LABEL.get(info.category or "", "sensitive action")
    return Signal(
        f"new-{info.category}-scope", points, info.techniques,
        f"{label} {action} in namespace {namespace or '(cluster-wide)'}, where this principal never did it "
        f"(it does it only in {_few([u if u != 'None' else '(cluster-wide)' for u in usual])})",
        shift_key=f"{action}|{namespace}",
    )


def new_namespace(namespace: str, usual: list[str]) -> Signal:
    return Signal(
        "new-namespace", 10, ("T1613",),
        f"touched namespace {namespace} for the first time; it works in {_few(usual)}",
        shift_key=namespace,
    )


def secrets_across_namespaces(namespaces: list[str], usual: list[str]) -> Signal:
    everywhere = "*" in namespaces
    count = len(namespaces)
    points = min(75, 55 + 5 * max(0, count - 3)) if not everywhere else 60
    scope = "all namespaces at once" if everywhere else f"{count} namespaces ({_few(namespaces, 4)})"
    return Signal(
        "secrets-across-namespaces", points, ("T1552.007",),
        f"read secrets in {scope} within 30 minutes; this principal reads secrets only in {_few(usual)}",
    )


def authz_failure_burst(count: int, learned: int) -> Signal:
    return Signal(
        "authorization-failure-burst", min(55, 35 + 2 * (count - 5)), ("T1069", "T1087.004"),
        f"{count} different requests denied (403/AccessDenied) within 10 minutes; "
        f"its whole baseline holds {learned} denied requests",
    )


def recon_burst(actions: list[str]) -> Signal:
    return Signal(
        "discovery-burst", min(65, 45 + 3 * (len(actions) - 4)), ("T1580", "T1087.004", "T1526"),
        f"{len(actions)} discovery calls never made by this principal within 15 minutes ({_few(actions, 5)})",
    )


def impersonation(acting_as: str) -> Signal:
    return Signal(
        "new-impersonation", 45, ("T1078", "T1134"),
        f"impersonated {acting_as}, which this principal never did before",
        shift_key=f"impersonate:{acting_as}",
    )


def unusual_hour(hour: int, active_hours: int) -> Signal:
    return Signal(
        "unusual-hour", 12, ("T1078",),
        f"active at {hour:02d}:00 UTC, an hour of the day it was never active in (it is active in {active_hours} of 24 hours)",
        shift_key=f"hour:{hour}",
    )


WINDOW_SIGNAL = "unusual-activity-window"  # the isolation forest's signal


def forest_window(anomaly: float, threshold: float, window_start: str, details: list[str]) -> Signal:
    points = min(30.0, 15.0 + 300.0 * max(0.0, anomaly - threshold))
    return Signal(
        WINDOW_SIGNAL, round(points, 1), ("T1078",),
        f"5-minute window from {window_start} is more unusual than 99.9% of this population's history"
        + (f": {'; '.join(details)}" if details else ""),
    )
