"""Triage helpers on the hand-built world of detect_world.py with two incidents: the app's bound
token used from a Tor exit node (reading secrets across namespaces with kubectl), and an IRSA
session key of the payments role doing discovery and creating an access key from a new network."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from detect_world import APP, DAY, HOUR, MIN, ROLE, T0, World, aws, k8s, run
from detector.events import to_table
from detector.hunt import triage
from detector.hunt.sources import FileSource

TOR = "185.220.101.47"
KUBECTL = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"
NEW_NET = "203.0.113.9"


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    w = World()
    ts = T0 + DAY + 10 * HOUR + 7 * MIN
    stolen = w.app_token_at(ts)
    attack = [k8s(ts + i * MIN, APP, stolen, "list:secrets", ip=TOR, namespace=ns, ua=KUBECTL,
                  pod=w.app_pod, pod_uid=w.app_uid)
              for i, ns in enumerate(["payments", "kube-system", "monitoring", "default"])]
    ts2 = T0 + DAY + 14 * HOUR + 3 * MIN
    key = w.irsa_keys[(ts2 - T0) // HOUR]
    attack += [aws(ts2 + i * MIN, ROLE, key, action, ip=NEW_NET, ua="aws-cli/2.15.0 Python/3.11.6")
               for i, action in enumerate(["sts:GetCallerIdentity", "iam:ListUsers", "iam:ListRoles", "s3:ListBuckets",
                                           "ec2:DescribeInstances", "iam:CreateAccessKey"])]
    events = sorted(w.events + attack, key=lambda e: e["ts"])
    _, alerts = run(events)
    source = FileSource(to_table(events), alerts)
    by_token = {a["token"]["id"]: a for a in alerts}
    assert set(by_token) == {stolen, key}, [a["reasons"] for a in alerts]
    return {"source": source, "stolen": stolen, "key": key, "world": w,
            "app": triage.open_case(source, by_token[stolen]), "role": triage.open_case(source, by_token[key])}


def test_open_case_gathers_token_and_principal(world) -> None:
    case = world["app"]
    assert case.token == world["stolen"] and case.principal == APP
    assert (case.timeline["token_id"] == world["stolen"]).all() and case.timeline["ts"].is_monotonic_increasing
    assert set(case.principal_events["principal"]) == {APP}
    assert set(case.principal_events["source"]) == {"k8s"}, "the IRSA web identity of the same name is another baseline"
    assert (case.history["ts"] < case.first_seen).all() and len(case.history) > 500
    assert (case.incident["ts"] >= case.first_seen).all() and (case.incident["ts"] <= case.last_seen).all()
    assert case.flagged and case.flagged <= set(case.timeline["event_id"])


def test_default_case_is_the_highest_scoring_alert(world) -> None:
    source = world["source"]
    best = max(source.alerts(), key=lambda a: a["score"])
    assert triage.open_case(source).alert["alert"]["id"] == best["alert"]["id"]
    assert triage.open_case(source, token=world["key"]).token == world["key"]


def _row(table: pd.DataFrame, signal: str) -> pd.Series:
    rows = table[table["signal"] == signal]
    assert len(rows) == 1, (signal, list(table["signal"]))
    return rows.iloc[0]


def test_baseline_vs_observed_names_what_was_new(world) -> None:
    table = triage.baseline_vs_observed(world["app"], world["source"])
    assert list(table["signal"]) == [s["kind"] for s in world["app"].alert["tokenhawk"]["signals"]]
    ip = _row(table, "bound-token-ip-mismatch")
    assert ip["dimension"] == "source IP" and ip["compared with"] == "token"
    assert ip["new"] == [TOR] and f"★ {TOR} (4)" in ip["observed"]
    assert world["world"].app_ip in ip["baseline"], "the token's own pod address is its baseline"
    network = _row(table, "k8s-token-outside-cluster")
    assert network["new"] == ["185.220.101.0/24 (public)"] and "10.244.1.0/24 (private)" in network["baseline"]
    secrets = _row(table, "secrets-across-namespaces")
    assert secrets["new"] == ["default", "kube-system", "monitoring"] and secrets["baseline"] == "payments (410)"
    client = _row(table, "new-user-agent")
    assert client["new"] == ["kubectl"] and "api-server" in client["baseline"]


def test_category_signals_compare_their_own_actions(world) -> None:
    table = triage.baseline_vs_observed(world["role"], world["source"])
    created = _row(table, "new-credential-create")
    assert created["dimension"] == "credential-create actions"
    assert created["new"] == ["iam:CreateAccessKey"] and created["baseline"] == "none"
    discovery = _row(table, "discovery-burst")
    assert set(discovery["new"]) == {"sts:GetCallerIdentity", "iam:ListUsers", "iam:ListRoles", "s3:ListBuckets",
                                     "ec2:DescribeInstances"}
    assert _row(table, "new-network")["new"] == ["203.0.113.0/24 (public)"]


def test_dimension_of_every_rule_kind() -> None:
    assert triage.dimension_of("dormant-token") == ("silence before use", "token")
    assert triage.dimension_of("new-exec-scope") == ("sensitive action scope", "principal")
    assert triage.dimension_of("new-rbac-change") == ("rbac-change actions", "principal")
    assert triage.dimension_of("new-action") == ("action", "principal")


def test_silence_rate_and_pod_rows() -> None:
    """Token facts the generic comparison cannot express: silence, rate, pod."""
    ts = pd.to_datetime([0, 60, 120, 10 * 86400, 10 * 86400 + 1], unit="s", utc=True)
    timeline = pd.DataFrame({"ts": ts, "event_id": list("abcde"), "token_id": "t", "source_ip": "10.0.0.1",
                             "bound_pod": "ns/pod", "action": "get:pods"})
    alert = {"alert": {"id": "x"}, "token": {"id": "t", "principal": "p", "source": "k8s"},
             "first_seen": ts[3].isoformat(), "last_seen": ts[4].isoformat(),
             "tokenhawk": {"signals": [{"kind": "dormant-token", "points": 30, "reason": "r"},
                                       {"kind": "unusual-activity-window", "points": 20, "reason": "r"},
                                       {"kind": "dead-pod-token", "points": 75, "reason": "r"}]}}
    case = triage.Case(alert, timeline, timeline.assign(principal="p"))
    table = triage.baseline_vs_observed(case)
    silence = _row(table, "dormant-token")
    assert silence["observed"].startswith("10.0 days silent") and "longest 0.0 days" in silence["baseline"]
    rate = _row(table, "unusual-activity-window")
    assert rate["observed"] == "up to 2 requests in 5 minutes" and "median" in rate["baseline"]
    pod = _row(table, "dead-pod-token")
    assert "ns/pod" in pod["observed"] and "10.0.0.1" in pod["baseline"] and pod["new"] == []


def test_pivots_flag_new_values_first(world) -> None:
    case = world["app"]
    ips = triage.pivot(case, "source_ip")
    assert list(ips.columns) == ["source_ip", "incident events", "flagged", "history events", "first use",
                                 "last use before", "new"]
    assert ips.iloc[0]["source_ip"] == TOR and ips.iloc[0]["new"] and ips.iloc[0]["flagged"] == 4
    assert not ips.set_index("source_ip").loc[world["world"].app_ip, "new"]
    namespaces = triage.pivot(case, "namespace")
    assert set(namespaces.loc[namespaces["new"], "namespace"]) == {"kube-system", "monitoring", "default"}
    assert set(triage.pivots(case)) == set(triage.PIVOT_FIELDS)
    assert triage.suspicious_ips(case)[0] == TOR


def test_who_else_used_the_address(world) -> None:
    source, case = world["source"], world["app"]
    assert triage.ip_sightings(source, case).empty, "no other token came from the Tor exit node"
    assert triage.fleet_pivot(source, case, "source_ip").empty
    users = source.users_of("source_ip", [world["world"].app_ip, world["world"].other_ip])
    assert set(users["principal"]) == {APP, "system:serviceaccount:kube-system:cert-manager"}


def test_related_credentials_follow_lineage(world) -> None:
    related = triage.related_credentials(world["source"], world["role"])
    parent = related[related["relation"] == "parent"]
    assert list(parent["token_id"]) == ["web-identity:system:serviceaccount:payments:api"]
    assert parent.iloc[0]["via"] == "sts:AssumeRoleWithWebIdentity" and parent.iloc[0]["principal"] == APP
    siblings = related[related["relation"] == "sibling"]
    assert len(siblings) >= 1 and (siblings["principal"] == ROLE).all()
    # from the parent's side, the key is one of the children it issued
    web_identity = world["source"].events(token_id="web-identity:system:serviceaccount:payments:api")
    alert = dict(world["role"].alert, token={"id": "web-identity:system:serviceaccount:payments:api",
                                              "principal": APP, "source": "aws"})
    case = triage.Case(alert, web_identity, web_identity)
    children = triage.related_credentials(world["source"], case, max_children=100)
    assert world["key"] in set(children.loc[children["relation"] == "child", "token_id"])
    assert children.set_index("token_id").loc[world["key"], "alerts"] == 1


def test_principal_alerts_and_overview(world) -> None:
    assert triage.principal_alerts(world["source"], world["app"]).empty
    overview = triage.overview(world["role"]).set_index("field")["value"]
    assert "sts:AssumeRoleWithWebIdentity" in overview["issued by"]
    assert overview["principal"] == ROLE


def test_hour_of_week_and_activity(world) -> None:
    case = world["app"]
    grid = triage.hour_of_week(case.history)
    assert grid.shape == (7, 24) and grid.sum() == len(case.history)
    assert grid[0].sum() > 0  # T0 (2026-11-02) is a Monday
    assert np.array_equal(triage.hour_of_week(case.history.head(0)), np.zeros((7, 24)))
    act = triage.activity(case)
    assert list(act.columns) == ["principal", "token", "cited by the alert"]
    assert act["cited by the alert"].sum() == len(case.timeline[case.timeline["event_id"].isin(case.flagged)])
