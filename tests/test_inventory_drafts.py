"""Least-privilege drafts from hand-built use, and the three verbs on a small events file."""

from __future__ import annotations

import csv
import io
import json

import orjson
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from detect_world import DAY, HOUR, MIN, T0, aws, event, k8s
from detector.event_files import EventWriter
from detector.events import to_table
from detector.inventory.cloud_policy import aws_policy, azure_action, azure_role, gcp_permission, gcp_role, iam_actions
from detector.inventory.k8s_rbac import api_group, rbac_documents
from detector.inventory.least_privilege import collect, drafts_for, render_json, render_yaml
from pipelines.cli import app

runner = CliRunner()
SA = "system:serviceaccount:shop:cart"
PY = "python-requests/2.31.0"


def _rbac(uses, resource_names=False):
    documents, notes = rbac_documents(SA, uses, resource_names=resource_names, annotations={})
    return {(d["kind"], d["metadata"].get("namespace")): d for d in documents}, notes


# --- Kubernetes ------------------------------------------------------------------------------------

def test_namespaced_use_is_a_role_and_cluster_wide_use_a_cluster_role():
    docs, notes = _rbac([("shop", "get:configmaps", ["cart"]), ("shop", "watch:configmaps", None),
                         ("shop", "update:leases", ["cart-leader"]), (None, "list:nodes", None),
                         (None, "get:/healthz", None), (None, "list:pods", None)])
    role = docs[("Role", "shop")]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "watch"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["update"]},
    ]
    cluster = docs[("ClusterRole", None)]
    assert cluster["rules"] == [
        {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["list"]},
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
    ]
    binding = docs[("RoleBinding", "shop")]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "cart", "namespace": "shop"}]
    assert any("ClusterRole" in n for n in notes)


def test_resource_names_restrict_only_nameable_verbs():
    docs, _ = _rbac([("shop", "get:secrets", ["cart-db"]), ("shop", "update:secrets", ["cart-db"]),
                     ("shop", "list:secrets", None), ("shop", "get:configmaps", None)], resource_names=True)
    assert docs[("Role", "shop")]["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "update"], "resourceNames": ["cart-db"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]},
    ]


def test_unknown_api_group_is_a_wildcard_with_a_note():
    docs, notes = _rbac([("shop", "list:widgets", None)])
    assert docs[("Role", "shop")]["rules"][0]["apiGroups"] == ["*"]
    assert any("widgets" in n for n in notes)
    assert api_group("deployments/scale") == "apps" and api_group("certificates") == "cert-manager.io"


# --- clouds ----------------------------------------------------------------------------------------

def test_aws_policy_maps_event_names_and_groups_by_resource():
    policy, notes = aws_policy([
        ("s3:GetObject", ["arn:aws:s3:::b/*"]), ("s3:HeadObject", ["arn:aws:s3:::b/*"]),
        ("s3:ListObjects", ["arn:aws:s3:::b"]), ("kms:Decrypt", None), ("sts:GetCallerIdentity", None),
        ("sts:AssumeRoleWithWebIdentity", ["arn:aws:iam::1:role/r"]), ("lambda:ListFunctions20150331", None),
    ])
    statements = {tuple(s["Action"]): s["Resource"] for s in policy["Statement"]}
    assert statements == {("s3:ListBucket",): "arn:aws:s3:::b", ("s3:GetObject",): "arn:aws:s3:::b/*",
                          ("kms:Decrypt", "lambda:ListFunctions"): "*"}
    assert any("GetCallerIdentity" in n for n in notes) and any("trust policy" in n for n in notes)
    assert iam_actions("s3:CopyObject") == ["s3:GetObject", "s3:PutObject"]


def test_gcp_permissions_and_azure_actions():
    assert gcp_permission("bigquery:List", "projects/p/datasets/d/tables/t") == "bigquery.tables.getData"
    assert gcp_permission("iamcredentials:GenerateAccessToken", None) == "iam.serviceAccounts.getAccessToken"
    assert gcp_permission("weird:DoThing", None) is None
    role, notes = gcp_role("t", [("storage:storage.objects.get", ["projects/_/buckets/raw"]), ("weird:DoThing", None)])
    assert role["includedPermissions"] == ["storage.objects.get"] and role["stage"] == "GA"
    assert any("weird:DoThing" in n for n in notes) and any("projects/_/buckets/raw" in n for n in notes)
    assert azure_action("azure:microsoft.storage/storageaccounts/listkeys/action") == \
        "Microsoft.Storage/storageaccounts/listkeys/action"
    role, notes = azure_role("r", [("azure:microsoft.web/sites/write", ["/subscriptions/s1/resourcegroups/rg-web"]),
                                   ("entra:signin:Microsoft Graph", ["00000003"]),
                                   ("entra:Update application - Certificates and secrets management", ["x"])])
    assert role["Actions"] == ["Microsoft.Web/sites/write"]
    assert role["AssignableScopes"] == ["/subscriptions/s1/resourcegroups/rg-web"]
    assert any("Microsoft Graph" in n for n in notes) and any("Application.ReadWrite.OwnedBy" in n for n in notes)


# --- through the aggregates: windows and evidence ---------------------------------------------------

def _cart_events(days: int = 4) -> list[dict]:
    events = []
    for d in range(days):
        for m in range(0, 60, 20):
            ts = T0 + d * DAY + 9 * HOUR + m * MIN
            events.append(k8s(ts, SA, f"jti-{d}", "get:configmaps", ip="10.244.1.5", ua=PY, namespace="shop",
                              pod="shop/cart-1", pod_uid="uid-cart", resource="cart"))
        if d == days - 1:  # only on the last day
            events.append(k8s(T0 + d * DAY + 10 * HOUR, SA, f"jti-{d}", "create:events", ip="10.244.1.5", ua=PY,
                              namespace="shop", pod="shop/cart-1", pod_uid="uid-cart", read_only=False))
        events.append(k8s(T0 + d * DAY + 11 * HOUR, SA, f"jti-{d}", "list:secrets", ip="10.244.1.5", ua=PY,
                          namespace="kube-system", pod="shop/cart-1", pod_uid="uid-cart", outcome="failure",
                          status_code=403))
    events.append(aws(T0 + DAY, "arn:aws:iam::111122223333:role/cart", "ASIACART000000000001", "s3:PutObject",
                      ip="3.120.1.10", resource="arn:aws:s3:::carts/2026/a.json", read_only=False))
    return events


def test_window_and_evidence_note():
    table = to_table(sorted(_cart_events(), key=lambda e: e["ts"]))
    inventory = collect(table, SA)
    [whole] = drafts_for(inventory, SA)
    verbs = {(r["resources"][0], tuple(r["verbs"])) for d in whole.documents if d["kind"] == "Role" for r in d["rules"]}
    assert verbs == {("configmaps", ("get",)), ("events", ("create",))}
    assert whole.evidence["active_days"] == 4 and whole.evidence["requests"] == 13
    assert whole.evidence["denied_requests"] == 4 and any("4 denied requests" in n for n in whole.notes)
    assert "4 days with activity" in whole.evidence_note and "review before applying" in whole.evidence_note
    early = collect(table, SA, until=T0 + 2 * DAY)
    [draft] = drafts_for(early, SA, until=T0 + 2 * DAY)
    rules = [r for d in draft.documents if d["kind"] == "Role" for r in d["rules"]]
    assert rules == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
    text = render_yaml([whole])
    assert text.startswith("# least-privilege draft (k8s-rbac)") and "# note: 4 denied requests" in text
    assert [d["kind"] for d in yaml.safe_load_all(text)] == ["Role", "RoleBinding"]
    assert json.loads(render_json([whole]))[0]["documents"] == whole.documents


# --- the verbs on a small file ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("inventory-cli") / "events.parquet"
    events = _cart_events(6)
    for d in range(6):  # a long-term key, a legacy token from outside
        events.append(aws(T0 + d * DAY + 2 * HOUR, "arn:aws:iam::111122223333:user/backup", "AKIATESTBACKUP000001",
                          "s3:PutObject", ip="198.51.100.20", ptype="IAMUser", kind="access-key", read_only=False))
        events.append(k8s(T0 + d * DAY + 3 * HOUR, "system:serviceaccount:ci:deployer", "secret:ci/deployer-token",
                          "patch:deployments", ip="20.57.144.209", ua="kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
                          namespace="shop", read_only=False))
    with EventWriter(path) as writer:
        writer.write(to_table(sorted(events, key=lambda e: e["ts"])))
    return path


def test_inventory_verb_formats(small, tmp_path):
    result = runner.invoke(app, ["inventory", str(small), "--format", "json", "--sort", "-events", "--quiet"])
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["events"] for r in rows] == sorted((r["events"] for r in rows), reverse=True)
    assert {r["token_id"] for r in rows} >= {"AKIATESTBACKUP000001", "secret:ci/deployer-token", "jti-0"}
    out = tmp_path / "inv.csv"
    result = runner.invoke(app, ["inventory", str(small), "--format", "csv", "--long-lived", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    records = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["kind"] for r in records} == {"access-key", "legacy"}
    assert next(r for r in records if r["kind"] == "legacy")["outside_networks"] == "20.57.144.0/24"
    out = tmp_path / "inv.parquet"
    result = runner.invoke(app, ["inventory", str(small), "--format", "parquet", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).num_rows == len(rows)
    result = runner.invoke(app, ["inventory", str(small), "--kind", "legacy", "--quiet"])
    assert result.exit_code == 0 and "secret:ci/deployer-token" in result.stdout and "jti-0" not in result.stdout


def test_inventory_verb_refuses_bad_options(small):
    for args in (["--format", "xml"], ["--format", "parquet"], ["--sort", "colour"]):
        result = runner.invoke(app, ["inventory", str(small), *args, "--quiet"])
        assert result.exit_code != 0
        assert "format" in str(result.exception) or "sort" in str(result.exception)


def test_hygiene_verb_table_and_filters(small):
    result = runner.invoke(app, ["hygiene", str(small), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "legacy-k8s-token" in result.stdout and "secret:ci/deployer-token" in result.stdout
    assert "hygiene findings" in result.stdout
    result = runner.invoke(app, ["hygiene", str(small), "--format", "json", "--kind", "used-outside", "--quiet"])
    found = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert found and {f["kind"] for f in found} == {"used-outside"}
    result = runner.invoke(app, ["hygiene", str(small), "--format", "json", "--min-severity", "critical", "--quiet"])
    assert all(orjson.loads(line)["severity"] == "critical" for line in result.stdout.splitlines())


def test_least_privilege_verb_for_a_role_in_json(small):
    result = runner.invoke(app, ["least-privilege", "arn:aws:iam::111122223333:role/cart", str(small), "-f", "json",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    [draft] = json.loads(result.stdout)
    assert draft["kind"] == "aws-iam-policy"
    assert draft["documents"][0]["Statement"] == [{"Sid": "ObservedS31", "Effect": "Allow", "Action": ["s3:PutObject"],
                                                   "Resource": "arn:aws:s3:::carts/*"}]
