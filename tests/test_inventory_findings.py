"""Hygiene findings on hand-built events: one scenario per kind of finding, and its near miss.

Every test replays events through a real `Detector` with the inventory as its observer (the
way `tokenhawk inventory` and the stream build it), then reads the report and the findings.
"""

from __future__ import annotations

import sys

from detect_world import DAY, HOUR, MIN, T0, aws, k8s
from detector.config import DetectorConfig
from detector.detect.engine import Detector
from detector.events import to_table
from detector.inventory import Inventory, InventoryConfig, build, hygiene
from detector.inventory.findings import KINDS, rank

SA = "system:serviceaccount:reports:exporter"
USER = "arn:aws:iam::111122223333:user/etl"
ADMIN = "arn:aws:iam::111122223333:role/AWSReservedSSO_AdministratorAccess_0123456789abcdef"
ACCOUNT = "111122223333"
CLI = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/s3.cp"
SDK = "aws-sdk-go-v2/1.25.0 os/linux lang/go#1.22 md/GOOS#linux"
PY = "python-requests/2.31.0"
APP = "exporter/v1.4.2 (linux/amd64) kubernetes/abc123"
OFFICE = "91.203.220.16"
ONPREM = "194.8.71.12"
NAT = "52.2.243.39"


def run(events: list[dict], **config) -> tuple[Inventory, Detector, object, list]:
    inventory = Inventory(InventoryConfig(**config))
    detector = Detector(DetectorConfig(learning_period="1d", min_training_windows=50), observers=[inventory])
    table = to_table(sorted(events, key=lambda e: e["ts"]))
    for offset in range(0, table.num_rows, 5000):
        detector.process(table.slice(offset, 5000))
    detector.flush()
    report = build(inventory, detector)
    return inventory, detector, report, hygiene(report, inventory.config)


def kinds_of(findings, token_id: str | None = None, principal: str | None = None) -> set[str]:
    return {f.kind for f in findings if (token_id is None or f.token_id == token_id)
            and (principal is None or f.principal == principal)}


def key_use(day: int, key: str = "AKIATESTETL000000001", *, ip: str = ONPREM, ua: str = SDK, hour: int = 3,
            action: str = "s3:GetObject", **extra) -> dict:
    return aws(T0 + day * DAY + hour * HOUR, USER, key, action, ip=ip, ua=ua, ptype="IAMUser", kind="access-key",
               resource="arn:aws:s3:::etl-staging/in/a.csv", **extra)


def legacy_use(day: int, minute: int = 0, *, ip: str = "10.244.1.7", ua: str = PY, token: str = "secret:reports/exporter-token-x1",
               action: str = "list:pods") -> dict:
    return k8s(T0 + day * DAY + 6 * HOUR + minute * MIN, SA, token, action, ip=ip, ua=ua, namespace="reports")


def daily_key(days: range, **kw) -> list[dict]:
    return [key_use(d, **kw) for d in days]


# --- legacy K8s tokens ---------------------------------------------------------------------------

def test_legacy_token_in_use_inside_the_cluster():
    _, _, report, findings = run([legacy_use(d, m) for d in range(4) for m in range(0, 60, 10)])
    token = "secret:reports/exporter-token-x1"
    assert kinds_of(findings, token) == {"legacy-k8s-token"}
    finding = next(f for f in findings if f.token_id == token)
    assert "never expires" in finding.evidence[0] and "24 requests on 4 days" in finding.evidence[0]
    assert "delete secret reports/exporter-token-x1" in finding.remediation
    assert report.token(token).status == "active" and report.token(token).outside_networks == []


def test_legacy_token_used_from_outside_scores_higher_and_is_also_used_outside():
    events = [legacy_use(d, m) for d in range(4) for m in range(0, 60, 10)]
    events.append(legacy_use(3, 30, ip="185.220.101.47", ua="kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"))
    _, _, _, findings = run(events)
    token = "secret:reports/exporter-token-x1"
    assert kinds_of(findings, token) == {"legacy-k8s-token", "used-outside"}
    legacy = next(f for f in findings if f.kind == "legacy-k8s-token")
    assert legacy.score >= 75 and any("185.220.101.0/24" in e for e in legacy.evidence)


def test_deleted_legacy_secret_is_revoked_not_a_finding():
    events = [legacy_use(d, m) for d in range(3) for m in range(0, 60, 10)]
    events.append(k8s(T0 + 3 * DAY, "system:serviceaccount:kube-system:cleanup", "jti-cleanup", "delete:secrets",
                      ip="10.244.2.2", ua=PY, namespace="reports", resource="exporter-token-x1",
                      pod="kube-system/cleanup-1", pod_uid="uid-cleanup", read_only=False))
    _, _, report, findings = run(events)
    row = report.token("secret:reports/exporter-token-x1")
    assert row.status == "revoked" and row.revoked_via == "delete:secrets"
    assert kinds_of(findings, row.token_id) == set()


# --- long-lived keys -----------------------------------------------------------------------------

def test_key_never_seen_rotating_over_ten_days():
    _, _, report, findings = run(daily_key(range(10)))
    assert kinds_of(findings, "AKIATESTETL000000001") >= {"long-lived-key"}
    finding = next(f for f in findings if f.kind == "long-lived-key")
    assert "not in the" in finding.evidence[0] and "no key of" in finding.evidence[0]
    assert "IAM Roles Anywhere" in finding.remediation
    assert report.token("AKIATESTETL000000001").rotation.startswith("no rotation")


def test_key_older_than_max_age_says_so():
    _, _, _, findings = run(daily_key(range(10)), max_key_age="7d")
    finding = next(f for f in findings if f.kind == "long-lived-key")
    assert "older than 7 days" in finding.evidence[0]


def test_short_history_is_no_evidence_of_never_rotating():
    _, _, _, findings = run(daily_key(range(3)))
    assert "long-lived-key" not in kinds_of(findings)


def test_rotated_key_is_replaced_and_the_new_one_is_young():
    old, new = "AKIATESTETL000000001", "AKIATESTETL000000002"
    events = daily_key(range(8), key=old)
    events.append(aws(T0 + 8 * DAY, ADMIN, "ASIAADMINSESSION0001", "iam:CreateAccessKey", ip=OFFICE, ua=CLI,
                      resource="etl", read_only=False, lineage_kind="issued", lineage_principal=USER, lineage_token=new))
    events += daily_key(range(8, 11), key=new, hour=4)
    _, _, report, findings = run(events)
    assert report.token(old).status == "replaced" and report.token(old).replaced_by == new
    assert report.token(new).age_known and report.token(new).age_days < 3
    assert "long-lived-key" not in kinds_of(findings)
    assert "credential-sprawl" not in kinds_of(findings)
    assert f"{old} replaced by {new}" in report.token(new).rotation


# --- dormant credentials ---------------------------------------------------------------------------

def test_dormant_key_that_wakes_up_and_works():
    events = daily_key(range(2)) + [key_use(9, action="iam:CreateAccessKey", read_only=False)]
    events += daily_key(range(10, 12))
    _, _, report, findings = run(events)
    finding = next(f for f in findings if f.kind == "dormant-token")
    assert "unused for 8.0 days" in finding.evidence[0] and "still worked" in finding.evidence[0]
    assert finding.facts["woke_at"].startswith("2026-11-11")
    assert any("iam:CreateAccessKey" in e for e in finding.evidence)
    assert report.token("AKIATESTETL000000001").dormant_gaps == 1


def test_key_silent_now_is_dormant():
    events = daily_key(range(3)) + [aws(T0 + 10 * DAY, "arn:aws:iam::111122223333:role/app", "ASIAOTHER00000000001",
                                        "s3:GetObject", ip=NAT)]
    _, _, report, findings = run(events)
    finding = next(f for f in findings if f.kind == "dormant-token")
    assert "no use for 7.9 days (last 2026-11-04)" in finding.evidence[0]
    assert report.token("AKIATESTETL000000001").status == "dormant"


def test_key_refused_after_its_silence_does_not_count_as_working():
    events = daily_key(range(2)) + [key_use(9, outcome="failure", error_code="InvalidClientTokenId", status_code=403)]
    events += [aws(T0 + 9 * DAY + 5 * HOUR, "arn:aws:iam::111122223333:role/app", "ASIAOTHER00000000001",
                   "s3:GetObject", ip=NAT)]
    _, _, report, findings = run(events)
    row = report.token("AKIATESTETL000000001")
    assert row.woke_at is not None and row.woke_ok is False
    assert not any("still worked" in e for f in findings for e in f.evidence)


def test_bound_tokens_are_never_dormant():
    events = [k8s(T0 + d * DAY, SA, "jti-1", "get:configmaps", ip="10.244.1.9", ua=PY, namespace="reports",
                  pod="reports/exporter-1", pod_uid="uid-1") for d in (0, 9)]
    _, _, _, findings = run(events)
    assert "dormant-token" not in kinds_of(findings)


# --- shared credentials ----------------------------------------------------------------------------

def test_one_token_used_by_several_programs_is_shared():
    events = [legacy_use(d, m, ua=ua) for d in range(2) for m, ua in
              ((0, PY), (10, "grafana/10.2.3"), (20, "prometheus/2.48.1"), (30, PY))]
    _, _, _, findings = run(events)
    finding = next(f for f in findings if f.kind == "shared-token")
    assert "3 different client programs" in finding.evidence[0]


def test_one_token_from_four_addresses_in_an_hour_is_shared():
    events = [legacy_use(0, m, ip=f"10.244.{m // 10}.9") for m in range(0, 40, 10)]
    _, _, report, findings = run(events)
    assert report.token("secret:reports/exporter-token-x1").max_hour_ips == 4
    assert "shared-token" in kinds_of(findings)


def test_a_rollout_overlap_is_not_sharing():
    events = [legacy_use(0, m, ip=("10.244.1.9" if m < 30 else "10.244.2.9")) for m in range(0, 60, 5)]
    _, _, _, findings = run(events)
    assert "shared-token" not in kinds_of(findings)


# --- human use of machine credentials --------------------------------------------------------------

def test_machine_key_driven_by_a_cli_from_the_office_is_human_use():
    events = [aws(T0 + d * DAY + 10 * HOUR, ADMIN, f"ASIAADMIN{d:011d}", "ec2:DescribeInstances", ip=OFFICE, ua=CLI)
              for d in range(3)]
    events += daily_key(range(3))
    events.append(key_use(2, ip="91.203.220.44", ua=CLI, hour=11))
    _, _, report, findings = run(events)
    assert report.token("AKIATESTETL000000001").human_networks == ["91.203.220.0/24"]
    finding = next(f for f in findings if f.kind == "human-use")
    assert "aws-cli" in finding.evidence[0] and "91.203.220.0/24" in finding.evidence[1]


def test_cli_from_a_ci_runner_is_not_human_use():
    events = [aws(T0 + d * DAY + 10 * HOUR, ADMIN, f"ASIAADMIN{d:011d}", "ec2:DescribeInstances", ip=OFFICE, ua=CLI)
              for d in range(3)]
    events += daily_key(range(3), ip="20.57.144.209", ua=CLI)
    _, _, _, findings = run(events)
    assert "human-use" not in kinds_of(findings)


def test_browser_on_a_service_account_token_is_human_use_anywhere():
    events = [legacy_use(0, m) for m in range(0, 30, 10)]
    events.append(legacy_use(0, 40, ip="10.244.1.7",
                             ua="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"))
    _, _, _, findings = run(events)
    finding = next(f for f in findings if f.kind == "human-use")
    assert "web browser" in " ".join(finding.evidence)


# --- use from outside --------------------------------------------------------------------------------

def test_key_used_from_outside_the_organisations_cloud_egress():
    events = []
    for d in range(3):  # IRSA exchanges from the cluster's NAT teach the inventory its home network
        events.append(aws(T0 + d * DAY, "system:serviceaccount:payments:api", "web-identity:system:serviceaccount:payments:api",
                          "sts:AssumeRoleWithWebIdentity", ip=NAT, ptype="WebIdentityUser", kind="web-identity"))
    events += daily_key(range(3), ip=ONPREM)
    events += daily_key(range(3), key="AKIATESTETL000000009", ip="52.2.243.40", hour=5)
    _, _, report, findings = run(events)
    assert report.token("AKIATESTETL000000001").outside_networks == ["194.8.71.0/24"]
    assert report.token("AKIATESTETL000000009").outside_networks == []
    assert kinds_of(findings, "AKIATESTETL000000001") >= {"used-outside"}
    assert "used-outside" not in kinds_of(findings, "AKIATESTETL000000009")


def test_configured_home_networks_are_not_outside():
    _, _, report, findings = run(daily_key(range(3), ip=ONPREM), home_networks=["194.8.0.0/16"])
    assert report.token("AKIATESTETL000000001").outside_networks == []
    assert "used-outside" not in kinds_of(findings)


# --- stale bound tokens and sprawl ------------------------------------------------------------------

def test_bound_token_used_for_thirty_hours_is_stale():
    events = [k8s(T0 + h * HOUR, SA, "jti-stale", "get:configmaps", ip="10.244.1.9", ua=PY, namespace="reports",
                  pod="reports/exporter-1", pod_uid="uid-1") for h in range(31)]
    events += [k8s(T0 + h * HOUR + MIN, SA, f"jti-fresh-{h}", "get:configmaps", ip="10.244.1.10", ua=PY,
                   namespace="reports", pod="reports/exporter-2", pod_uid="uid-2") for h in range(31)]
    _, _, _, findings = run(events)
    assert kinds_of(findings) == {"stale-bound-token"}
    finding = next(f for f in findings if f.kind == "stale-bound-token")
    assert finding.token_id == "jti-stale" and "30 hours" in finding.evidence[0]


def test_two_live_keys_of_one_user_are_sprawl():
    events = daily_key(range(6)) + daily_key(range(2, 6), key="AKIATESTETL000000002", hour=5)
    _, _, report, findings = run(events)
    sprawl = next(f for f in findings if f.kind == "credential-sprawl")
    assert sprawl.token_id is None and sprawl.principal == USER
    assert sorted(sprawl.facts["live"]) == ["AKIATESTETL000000001", "AKIATESTETL000000002"]


# --- ranking and bookkeeping ------------------------------------------------------------------------

def test_findings_are_ranked_by_score_and_every_kind_is_known():
    events = [legacy_use(d, m) for d in range(4) for m in range(0, 60, 10)]
    events += daily_key(range(2)) + daily_key(range(9, 11))
    _, _, _, findings = run(events)
    assert [f.score for f in findings] == sorted((f.score for f in findings), reverse=True)
    assert rank(list(reversed(findings))) == findings
    assert {f.kind for f in findings} <= set(KINDS)
    assert all(f.remediation.endswith(".") and f.evidence for f in findings)
    assert len({f.id for f in findings}) == len(findings)


def test_inventory_is_kept_in_the_detectors_pass():
    events = [legacy_use(d, m) for d in range(2) for m in range(0, 60, 10)] + daily_key(range(2))
    inventory, detector, report, _ = run(events)
    assert inventory.events == detector.stats.events == len(events)
    assert set(map(id, inventory.tokens)) == set(map(id, detector.tokens.values()))
    row = report.token("secret:reports/exporter-token-x1")
    assert row.events == detector.tokens[row.key].events == 12 and row.days_active == 2
    assert row.top_actions == [("list:pods", 12)] and row.scopes == ["reports"]


def test_inventory_adds_little_per_bound_token():
    events = [k8s(T0 + h * HOUR + m * MIN, SA, f"jti-{h}", a, ip="10.244.1.9", ua=APP, namespace="reports",
                  pod="reports/exporter-1", pod_uid="uid-1") for h in range(8) for m in range(0, 60, 5)
              for a in ("get:configmaps", "get:secrets")]
    inventory, detector, _, _ = run(events)
    use = inventory.use_of(detector.tokens["k8s|prod|jti-5"], "k8s|prod|jti-5")
    size = sys.getsizeof(use) + sum(sys.getsizeof(getattr(use, s)) for s in use.__slots__
                                    if isinstance(getattr(use, s), (list, dict)))
    assert use.rare is None and use.nets.__class__ is int  # one network: no list
    assert size < 500, size
