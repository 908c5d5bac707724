"""One test per detection rule, on a small hand-built world (tests/detect_world.py).

Each test adds a handful of events after the 1-day learning period and checks the alert that
comes out: its kind of evidence, its severity band, and that its reason names the observed
value and the baseline it broke. The quiet world itself must raise nothing.
"""

from __future__ import annotations

import pytest

from detect_world import (
    APP, APP_UA, CTRL, CTRL_UA, DAY, HOUR, IAM_USER, MIN, ROLE, T0, World, aws, k8s, run,
)
from detector.alert import Alert
from detector.config import DetectorConfig, Suppression


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def kinds(alert: dict) -> set[str]:
    return {s["kind"] for s in alert["tokenhawk"]["signals"]}


def only_alert(alerts: list[dict]) -> dict:
    assert len(alerts) == 1, [(a["token"], a["reasons"]) for a in alerts]
    Alert.model_validate(alerts[0])
    return alerts[0]


def test_quiet_world_raises_nothing(world):
    detector, alerts = run(world.events)
    assert alerts == []
    assert detector.stats.scored_events > 0, "the second day must be scored, not only learned"


def test_bound_token_from_a_public_address(world):
    ts = T0 + DAY + 10 * HOUR + 7 * MIN
    jti = world.app_token_at(ts)
    attack = [k8s(ts + i * MIN, APP, jti, "list:secrets", ip="185.220.101.47", namespace=ns,
                  ua="kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819", pod=world.app_pod, pod_uid=world.app_uid)
              for i, ns in enumerate(["payments", "kube-system", "monitoring", "default"])]
    _, alerts = run(world.events + attack)
    alert = only_alert(alerts)
    assert alert["severity"] == "critical"
    assert alert["token"]["id"] == jti and alert["token"]["principal"] == APP
    assert {"bound-token-ip-mismatch", "k8s-token-outside-cluster", "new-user-agent", "secrets-across-namespaces"} <= kinds(alert)
    assert any("185.220.101.47" in r and world.app_ip in r for r in alert["reasons"])
    assert alert["source"]["ip"] == "185.220.101.47"
    assert "T1550.001" in alert["technique"] and "T1552.007" in alert["technique"]
    assert alert["events"] == 4


def test_bound_token_from_another_pod_is_lateral_movement(world):
    ts = T0 + DAY + 5 * HOUR + 3 * MIN
    jti = world.app_token_at(ts)
    attack = [k8s(ts, APP, jti, "get:configmaps", ip="10.244.7.33", ua=APP_UA, namespace="payments",
                  pod=world.app_pod, pod_uid=world.app_uid)]
    _, alerts = run(world.events + attack)
    alert = only_alert(alerts)
    # the strong fact leads; the forest and the never-seen pod network may add to it
    assert "bound-token-ip-mismatch" in kinds(alert)
    assert kinds(alert) <= {"bound-token-ip-mismatch", "unusual-activity-window", "new-network"}
    assert alert["severity"] in ("high", "critical")
    assert "10.244.7.33" in alert["reasons"][0] and "10.244.1.5" in alert["reasons"][0]


def test_token_of_a_deleted_pod(world):
    deleted_at = T0 + DAY + 3 * HOUR + 30 * MIN
    # the app pod is deleted; its traffic stops; 2 hours later its last token is replayed
    events = [e for e in world.events if not (e["principal"] == APP and e["ts"] > deleted_at)]
    events.append(k8s(deleted_at, "system:serviceaccount:kube-system:replicaset-controller", "rs-ctrl", "delete:pods",
                      ip="10.0.1.2", ua="kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/abc/system:serviceaccount:kube-system:replicaset-controller",
                      namespace="payments", resource="api-7d9f8-x2x4q", read_only=False))
    jti = world.app_token_at(deleted_at)
    events.append(k8s(deleted_at + 2 * HOUR, APP, jti, "get:secrets", ip=world.app_ip, ua=APP_UA,
                      namespace="payments", pod=world.app_pod, pod_uid=world.app_uid))
    _, alerts = run(events)
    alert = only_alert(alerts)
    assert "dead-pod-token" in kinds(alert)
    assert "deleted" in " ".join(alert["reasons"])


def test_superseded_token_replayed_after_rotation(world):
    ts = T0 + DAY + 8 * HOUR + 30 * MIN
    old_jti = world.app_token_at(ts - 3 * HOUR)
    replay = [k8s(ts, APP, old_jti, "get:configmaps", ip=world.app_ip, ua=APP_UA, namespace="payments",
                  pod=world.app_pod, pod_uid=world.app_uid)]
    _, alerts = run(world.events + replay)
    alert = only_alert(alerts)
    assert kinds(alert) - {"unusual-activity-window"} == {"superseded-token-replay"}
    assert alert["token"]["id"] == old_jti


def test_rbac_escalation_to_cluster_admin(world):
    ts = T0 + DAY + 6 * HOUR + 2 * MIN
    jti = world.app_token_at(ts)
    events = world.events + [k8s(ts, APP, jti, "create:clusterrolebindings", ip=world.app_ip, ua=APP_UA,
                                 resource="pwn-admin", pod=world.app_pod, pod_uid=world.app_uid, read_only=False)]
    _, alerts = run(events)
    alert = only_alert(alerts)
    assert "new-rbac-change" in kinds(alert)
    assert "T1098" in alert["technique"]
    assert alert["score"] >= 50


def test_minting_tokens_for_another_account(world):
    ts = T0 + DAY + 6 * HOUR + 2 * MIN
    jti = world.app_token_at(ts)
    events = world.events + [k8s(ts, APP, jti, "create:serviceaccounts/token", ip=world.app_ip, ua=APP_UA,
                                 namespace="kube-system", resource="clusterrole-aggregation-controller",
                                 pod=world.app_pod, pod_uid=world.app_uid, read_only=False,
                                 lineage_kind="issued", lineage_principal="system:serviceaccount:kube-system:clusterrole-aggregation-controller",
                                 lineage_token="minted-jti-1")]
    _, alerts = run(events)
    alert = only_alert(alerts)
    assert "new-token-mint" in kinds(alert)
    assert "clusterrole-aggregation-controller" in alert["reasons"][0]


def test_minted_token_is_linked_to_its_issuer_without_a_tenant(world):
    """A plain K8s audit file names no cluster (tenant null): the TokenRequest's minted JTI must
    still find its issuer when the minted token is first used (keys once differed: "None" vs "")."""
    ts = T0 + DAY + 6 * HOUR + 2 * MIN
    minted_for = "system:serviceaccount:kube-system:clusterrole-aggregation-controller"
    mint = k8s(ts, APP, world.app_token_at(ts), "create:serviceaccounts/token", ip=world.app_ip, ua=APP_UA,
               namespace="kube-system", resource="clusterrole-aggregation-controller", read_only=False,
               lineage_kind="issued", lineage_principal=minted_for, lineage_token="minted-jti-2")
    use = k8s(ts + MIN, minted_for, "minted-jti-2", "list:secrets", ip="203.0.113.9", ua=CTRL_UA,
              namespace="kube-system")
    detector, _ = run([dict(e, tenant=None) for e in world.events + [mint, use]])
    parent = detector.tokens["k8s||minted-jti-2"].parent
    assert parent is not None and parent[1] == APP and parent[0] == "create:serviceaccounts/token"
    assert "k8s||minted-jti-2" not in detector.births


def test_exec_into_kube_system(world):
    ts = T0 + DAY + 9 * HOUR + 2 * MIN
    jti = world.app_token_at(ts)
    events = world.events + [k8s(ts, APP, jti, "create:pods/exec", ip=world.app_ip, ua=APP_UA, namespace="kube-system",
                                 resource="etcd-master", pod=world.app_pod, pod_uid=world.app_uid, read_only=False)]
    _, alerts = run(events)
    alert = only_alert(alerts)
    assert "new-exec" in kinds(alert) and "T1609" in alert["technique"]


def test_permission_enumeration_and_denied_burst(world):
    ts = T0 + DAY + 11 * HOUR + 1 * MIN
    jti = world.app_token_at(ts)
    probe = [k8s(ts, APP, jti, "create:selfsubjectrulesreviews", ip=world.app_ip, ua=APP_UA, namespace="payments",
                 pod=world.app_pod, pod_uid=world.app_uid, read_only=False)]
    for i, resource in enumerate(["nodes", "secrets", "pods", "clusterroles", "deployments", "daemonsets", "serviceaccounts"]):
        probe.append(k8s(ts + (i + 1) * 20_000_000, APP, jti, f"list:{resource}", ip=world.app_ip, ua=APP_UA,
                         namespace="kube-system", pod=world.app_pod, pod_uid=world.app_uid,
                         outcome="failure", status_code=403, error_code="Forbidden"))
    _, alerts = run(world.events + probe)
    alert = only_alert(alerts)
    assert {"new-perm-enum", "authorization-failure-burst"} <= kinds(alert)


def test_stolen_irsa_session_key_doing_recon(world):
    ts = T0 + DAY + 14 * HOUR + 20 * MIN
    key = world.irsa_keys[(ts - T0) // HOUR]
    cli = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/sts.get-caller-identity"
    recon = ["sts:GetCallerIdentity", "s3:ListBuckets", "iam:ListRoles", "iam:ListUsers", "iam:ListAttachedRolePolicies",
             "ec2:DescribeInstances"]
    attack = [aws(ts + i * MIN, ROLE, key, action, ip="203.0.113.66", ua=cli) for i, action in enumerate(recon)]
    _, alerts = run(world.events + attack)
    alert = only_alert(alerts)
    assert alert["token"]["id"] == key
    assert {"new-network", "new-user-agent", "discovery-burst"} <= kinds(alert)
    assert alert["tokenhawk"]["lineage"]["issued_by"] == APP
    assert alert["tokenhawk"]["lineage"]["via"] == "sts:AssumeRoleWithWebIdentity"
    assert alert["cloud"] == {"provider": "aws", "account": {"id": "111122223333"}}


def test_dormant_key_wakes_up_and_creates_a_key():
    world = World(days=8)
    ts = world.end + 30 * MIN
    # the backup key is used nightly at 02:00; make it go silent for 6 days, then wake from elsewhere
    events = [e for e in world.events if not (e["token_id"] == "AKIATESTBACKUP000001" and e["ts"] > T0 + DAY + 3 * HOUR)]
    for i, action in enumerate(["sts:GetCallerIdentity", "iam:CreateAccessKey", "iam:CreateUser"]):
        events.append(aws(ts + i * MIN, IAM_USER, "AKIATESTBACKUP000001", action, ip="45.134.26.1", ptype="IAMUser",
                          kind="access-key", read_only=False))
    _, alerts = run(events)
    alert = only_alert(alerts)
    assert {"dormant-token", "new-network", "new-credential-create"} <= kinds(alert)
    assert alert["severity"] in ("high", "critical")


def test_client_upgrade_is_not_novel(world):
    # every controller moves from v1.14.4 to v1.15.0 on day 2: the family is unchanged
    events = [dict(e, user_agent=CTRL_UA.replace("v1.14.4", "v1.15.0")) if e["principal"] == CTRL and e["ts"] > T0 + DAY + HOUR
              else e for e in world.events]
    _, alerts = run(events)
    assert alerts == []


def test_suppression_drops_matching_signals(world):
    ts = T0 + DAY + 5 * HOUR + 3 * MIN
    jti = world.app_token_at(ts)
    attack = [k8s(ts, APP, jti, "get:configmaps", ip="10.244.7.33", ua=APP_UA, namespace="payments",
                  pod=world.app_pod, pod_uid=world.app_uid)]
    config = DetectorConfig(learning_period="1d", min_training_windows=50, suppressions=[
        Suppression(reason="proxy sidecar re-sends requests", principal="system:serviceaccount:payments:*", cidr="10.244.7.0/24")])
    detector, alerts = run(world.events + attack, config)
    assert alerts == []
    assert detector.stats.suppressed["bound-token-ip-mismatch"] == 1


def test_expired_suppression_no_longer_applies(world):
    ts = T0 + DAY + 5 * HOUR + 3 * MIN
    jti = world.app_token_at(ts)
    attack = [k8s(ts, APP, jti, "get:configmaps", ip="10.244.7.33", ua=APP_UA, namespace="payments",
                  pod=world.app_pod, pod_uid=world.app_uid)]
    config = DetectorConfig(learning_period="1d", min_training_windows=50, suppressions=[
        Suppression(reason="expired", cidr="10.244.7.0/24", expires="2026-11-02T12:00:00Z")])
    _, alerts = run(world.events + attack, config)
    assert len(alerts) == 1


def test_no_alert_during_learning(world):
    ts = T0 + 5 * HOUR + 3 * MIN
    jti = world.app_token_at(ts)
    attack = [k8s(ts, APP, jti, "get:configmaps", ip="185.220.101.47", ua=APP_UA, namespace="payments",
                  pod=world.app_pod, pod_uid=world.app_uid)]
    _, alerts = run(world.events + attack)
    assert alerts == []


def test_alert_ids_are_deterministic_and_revisions_grow(world):
    ts = T0 + DAY + 10 * HOUR + 7 * MIN
    jti = world.app_token_at(ts)
    attack = [k8s(ts + i * MIN, APP, jti, "list:secrets", ip="185.220.101.47", namespace=ns,
                  ua="kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819", pod=world.app_pod, pod_uid=world.app_uid)
              for i, ns in enumerate(["payments", "kube-system", "monitoring", "default"])]
    _, first = run(world.events + attack)
    _, second = run(world.events + attack)
    assert [a["alert"]["id"] for a in first] == [a["alert"]["id"] for a in second]
    assert first[0]["tokenhawk"]["revision"] >= 2  # opened, then extended by the secrets burst


def test_anomalies_do_not_teach_the_baseline(world):
    ts = T0 + DAY + 10 * HOUR + 7 * MIN
    jti = world.app_token_at(ts)
    attack = [k8s(ts + i * MIN, APP, jti, "get:configmaps", ip="185.220.101.47", namespace="payments",
                  ua="kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819", pod=world.app_pod, pod_uid=world.app_uid)
              for i in range(5)]
    detector, _ = run(world.events + attack)
    baseline = detector.principals[f"k8s|prod|{APP}"]
    assert "kubectl" not in baseline.uas
    assert not baseline.public
    assert all(not n.startswith("185.220.") for n in baseline.nets)
