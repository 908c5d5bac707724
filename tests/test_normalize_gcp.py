"""GCP Cloud Audit Logs normalizer: golden files, exact mappings per shape and identity type,
secret hygiene, and property tests that no input makes it raise."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.events import FIELDS, to_table
from detector.normalize import Normalizer
from detector.normalize.gcp import _method
from detector.normalize.reader import read_documents
from detector.quarantine import raw_text
from detector.redact import clip
from golden import FIXTURES, PUBLIC, check_golden

OWN = FIXTURES / "gcp"
GOLDEN_FILES = sorted((PUBLIC / "gcp").iterdir()) + sorted(OWN.iterdir())
AUDIT = "type.googleapis.com/google.cloud.audit.AuditLog"


def run(doc: Any) -> tuple[list[dict], list[tuple[str, str, str, Any]], Normalizer]:
    quarantined: list[tuple[str, str, str, Any]] = []
    n = Normalizer(on_quarantine=lambda *q: quarantined.append(q))
    n.feed_document(doc, "t:1")
    return n.take(), quarantined, n


def one(doc: Any) -> dict:
    events, quarantined, _ = run(doc)
    assert not quarantined, quarantined
    assert len(events) == 1, events
    return events[0]


def fields(event: dict, **expected: Any) -> None:
    assert {k: event[k] for k in expected} == expected


def lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def entry(proto: dict | None = None, **over: Any) -> dict:
    doc = {
        "insertId": "abc123",
        "logName": "projects/p1/logs/cloudaudit.googleapis.com%2Factivity",
        "timestamp": "2024-01-02T03:04:05.123456Z",
        "resource": {"type": "gce_instance", "labels": {"project_id": "p1", "zone": "us-central1-a"}},
        "protoPayload": {
            "@type": AUDIT,
            "serviceName": "compute.googleapis.com",
            "methodName": "v1.compute.instances.insert",
            "resourceName": "projects/p1/zones/us-central1-a/instances/vm",
            "authenticationInfo": {"principalEmail": "app@p1.iam.gserviceaccount.com"},
            "requestMetadata": {"callerIp": "203.0.113.9", "callerSuppliedUserAgent": "ua/1"},
            **(proto or {}),
        },
    }
    doc.update(over)
    return doc


# --- golden files ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden(path: Path) -> None:
    out = check_golden(path, "gcp")
    for event in out["events"]:
        assert event["source"] == "gcp" and event["principal"] and event["token_id"]


def test_golden_counts() -> None:
    out = check_golden(PUBLIC / "gcp" / "plaso-gcp_logging.jsonl", "gcp")
    assert len(out["events"]) == 9  # 11 lines: 2 non-audit (jsonPayload, textPayload) are skipped
    assert out["skipped"] == {"gcp-non-audit-log-entry": 2}
    assert out["quarantined"] == []
    synthetic = check_golden(OWN / "synthetic-audit.jsonl", "gcp")
    assert synthetic["skipped"] == {"gcp-non-audit-log-entry": 1, "gcp-system-event": 1}
    assert [q["reason"] for q in synthetic["quarantined"]] == ["missing-field"]


def test_events_fit_the_arrow_schema() -> None:
    for path in GOLDEN_FILES:
        n = Normalizer()
        for doc in read_documents(str(path)):
            n.feed(doc.data, doc.origin)
        events = n.take()
        assert to_table(events).num_rows == len(events)


# --- exact mappings ------------------------------------------------------------------------------


def test_admin_activity_user_call() -> None:
    e = one(entry({"authenticationInfo": {"principalEmail": "alice@example.com"}}))
    fields(
        e, source="gcp", event_id="abc123", ts=1704164645123456, tenant="p1", region="us-central1-a",
        principal="alice@example.com", principal_type="user", token_id="oauth:alice@example.com",
        token_kind="oauth", action="compute:compute.instances.insert", read_only=False, outcome="success",
        status_code=None, source_ip="203.0.113.9", source_ip_raw=None, user_agent="ua/1",
        resource="projects/p1/zones/us-central1-a/instances/vm", lineage_kind=None, namespace=None, stage=None,
    )


def test_sa_key_token_and_data_read() -> None:
    e = one(entry(
        {
            "serviceName": "storage.googleapis.com",
            "methodName": "storage.objects.get",
            "authenticationInfo": {
                "principalEmail": "app@p1.iam.gserviceaccount.com",
                "serviceAccountKeyName": "//iam.googleapis.com/projects/p1/serviceAccounts/app@p1.iam.gserviceaccount.com/keys/KEY1",
            },
            "authorizationInfo": [{"permission": "storage.objects.get", "permissionType": "DATA_READ", "granted": True}],
        },
        logName="projects/p1/logs/cloudaudit.googleapis.com%2Fdata_access",
    ))
    fields(e, principal_type="serviceAccount", token_id="KEY1", token_kind="sa-key",
           action="storage:storage.objects.get", read_only=True)


@pytest.mark.parametrize(
    "method, expected",
    [
        ("google.iam.admin.v1.CreateServiceAccountKey", "CreateServiceAccountKey"),
        ("GenerateAccessToken", "GenerateAccessToken"),
        ("google.iam.credentials.v1.IAMCredentials.GenerateAccessToken", "GenerateAccessToken"),
        ("storage.objects.get", "storage.objects.get"),
        ("beta.compute.instances.insert", "compute.instances.insert"),
        ("v1.compute.firewalls.insert", "compute.firewalls.insert"),
        ("jobservice.insert", "jobservice.insert"),
        ("SetIamPolicy", "SetIamPolicy"),
    ],
)
def test_method_rule(method: str, expected: str) -> None:
    assert _method(method) == expected


@pytest.mark.parametrize(
    "log, method, authz, expected",
    [
        ("activity", "v1.compute.instances.insert", None, False),
        ("data_access", "storage.objects.list", None, True),
        ("data_access", "storage.objects.create", None, False),
        ("data_access", "google.cloud.secretmanager.v1.SecretManagerService.GetSecret", None, True),
        ("data_access", "google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion",
         [{"permissionType": "DATA_READ"}], True),
        ("data_access", "storage.objects.get", [{"permissionType": "DATA_READ"}, {"permissionType": "DATA_WRITE"}], False),
    ],
)
def test_read_only(log: str, method: str, authz: Any, expected: bool) -> None:
    proto = {"methodName": method, "serviceName": "x.googleapis.com"}
    if authz is not None:
        proto["authorizationInfo"] = authz
    e = one(entry(proto, logName=f"projects/p1/logs/cloudaudit.googleapis.com%2F{log}"))
    assert e["read_only"] is expected


def test_token_minting_is_not_a_read() -> None:
    e = one(entry(
        {
            "serviceName": "iamcredentials.googleapis.com",
            "methodName": "GenerateAccessToken",
            "authorizationInfo": [{"permission": "iam.serviceAccounts.getAccessToken", "permissionType": "ADMIN_READ"}],
            "request": {"name": "projects/-/serviceAccounts/target@p1.iam.gserviceaccount.com"},
            "resourceName": "projects/-/serviceAccounts/1234",
        },
        logName="projects/p1/logs/cloudaudit.googleapis.com%2Fdata_access",
    ))
    fields(e, read_only=False, action="iamcredentials:GenerateAccessToken", lineage_kind="issued",
           lineage_principal="target@p1.iam.gserviceaccount.com", lineage_token=None)


def test_impersonation_target_from_resource_labels_chain_or_name() -> None:
    proto = {
        "serviceName": "iamcredentials.googleapis.com",
        "methodName": "GenerateIdToken",
        "metadata": {"identityDelegationChain": ["projects/-/serviceAccounts/chain@p1.iam.gserviceaccount.com"]},
        "resourceName": "projects/-/serviceAccounts/1234",
    }
    assert one(entry(proto))["lineage_principal"] == "chain@p1.iam.gserviceaccount.com"
    del proto["metadata"]
    assert one(entry(proto))["lineage_principal"] == "1234"  # no email anywhere: the unique id


def test_key_creation_lineage_reads_only_the_key_name() -> None:
    e = one(entry({
        "serviceName": "iam.googleapis.com",
        "methodName": "google.iam.admin.v1.CreateServiceAccountKey",
        "request": {"name": "projects/-/serviceAccounts/sa@p1.iam.gserviceaccount.com"},
        "response": {"name": "projects/p1/serviceAccounts/sa@p1.iam.gserviceaccount.com/keys/NEWKEY",
                     "privateKeyData": "c2VjcmV0LWtleS1kYXRh"},
    }))
    fields(e, lineage_kind="issued", lineage_principal="sa@p1.iam.gserviceaccount.com", lineage_token="NEWKEY")
    assert "c2VjcmV0LWtleS1kYXRh" not in orjson.dumps(e).decode()


def test_delegation_chain_names_the_original_caller() -> None:
    e = one(entry({"authenticationInfo": {
        "principalEmail": "final@p1.iam.gserviceaccount.com",
        "serviceAccountDelegationInfo": [
            {},
            {"firstPartyPrincipal": {"principalEmail": "origin@example.com"}},
            {"firstPartyPrincipal": {"principalEmail": "middle@p1.iam.gserviceaccount.com"}},
        ],
    }}))
    fields(e, principal="final@p1.iam.gserviceaccount.com", lineage_kind="delegated-by",
           lineage_principal="origin@example.com")


@pytest.mark.parametrize(
    "subject, principal, ptype",
    [
        ("serviceAccount:x@p1.iam.gserviceaccount.com", "x@p1.iam.gserviceaccount.com", "serviceAccount"),
        ("user:bob@example.com", "bob@example.com", "user"),
        ("principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/gh/subject/s",
         "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/gh/subject/s", "federated"),
    ],
)
def test_principal_subject_only(subject: str, principal: str, ptype: str) -> None:
    e = one(entry({"authenticationInfo": {"principalSubject": subject}}))
    fields(e, principal=principal, principal_type=ptype, token_id=f"oauth:{principal}", token_kind="oauth")


@pytest.mark.parametrize(
    "caller, ip, raw",
    [("private", None, "private"), ("gce-internal-ip", None, "gce-internal-ip"), (None, None, None),
     ("2001:DB8::0:1", "2001:db8::1", None), ("035.249.253.232", "35.249.253.232", None)],
)
def test_caller_ip_forms(caller: str | None, ip: str | None, raw: str | None) -> None:
    meta = {} if caller is None else {"callerIp": caller}
    fields(one(entry({"requestMetadata": meta})), source_ip=ip, source_ip_raw=raw, user_agent=None)


def test_failure_status() -> None:
    e = one(entry({"status": {"code": 7, "message": "denied " + "x" * 500}}))
    fields(e, outcome="failure", status_code=7)
    assert e["error_code"].startswith("denied ") and len(e["error_code"]) == 200
    e = one(entry({"status": {"code": 16}}))
    fields(e, outcome="failure", status_code=16, error_code="UNAUTHENTICATED")


def test_tenant_from_log_name_and_region_fallbacks() -> None:
    doc = entry(resource={"type": "audited_resource", "labels": {"service": "x", "location": ""}},
                logName="folders/42/logs/cloudaudit.googleapis.com%2Fpolicy")
    fields(one(doc), tenant="folders/42", region=None)
    doc = entry(resource={"type": "x", "labels": {"region": "europe-west1"}},
                logName="projects/p9/logs/cloudaudit.googleapis.com%2Factivity")
    fields(one(doc), tenant="p9", region="europe-west1")


def test_timestamp_falls_back_to_receive_timestamp() -> None:
    doc = entry()
    del doc["timestamp"]
    doc["receiveTimestamp"] = "2024-01-02T03:04:06.999999999Z"
    assert one(doc)["ts"] == 1704164646999999


@pytest.mark.parametrize(
    "doc, skipped",
    [
        (entry(logName="projects/p1/logs/cloudaudit.googleapis.com%2Fsystem_event"), "gcp-system-event"),
        (entry({"@type": "type.googleapis.com/google.appengine.logging.v1.RequestLog"}), "gcp-non-audit-log-entry"),
        ({"insertId": "x", "logName": "projects/p/logs/app", "textPayload": "hello"}, "gcp-non-audit-log-entry"),
    ],
)
def test_skipped(doc: dict, skipped: str) -> None:
    events, quarantined, n = run(doc)
    assert not events and not quarantined
    assert dict(n.ctx.skipped) == {skipped: 1}


@pytest.mark.parametrize(
    "proto, reason, detail",
    [
        ({"authenticationInfo": {}}, "missing-field", "principalEmail and principalSubject"),
        ({"authenticationInfo": {"principalEmail": ["a"]}}, "bad-field", "principalEmail"),
        ({"methodName": None}, "missing-field", "methodName"),
        ({"status": {"code": "seven"}}, "bad-field", "status.code"),
        ({"requestMetadata": "1.2.3.4"}, "bad-field", "requestMetadata"),
        ({"authenticationInfo": {"principalEmail": "a@b", "serviceAccountDelegationInfo": {"x": 1}}},
         "bad-field", "serviceAccountDelegationInfo"),
    ],
)
def test_rejected(proto: dict, reason: str, detail: str) -> None:
    events, quarantined, _ = run(entry(proto))
    assert not events
    assert [(q[0]) for q in quarantined] == [reason]
    assert detail in quarantined[0][1]


def test_bigquery_row_shapes() -> None:
    rows = lines(OWN / "bigquery-export.jsonl")
    e = one(rows[0])
    fields(e, event_id="bq-key-create-1", ts=1714636800250000, token_kind="sa-key",
           token_id="fedcba9876543210fedcba9876543210fedcba98", lineage_kind="issued",
           lineage_principal="deployer@demo-proj.iam.gserviceaccount.com",
           lineage_token="76543210fedcba9876543210fedcba9876543210")
    e = one(rows[1])  # snake_case payload, epoch-seconds timestamp
    fields(e, event_id="bq-list-1", ts=1714636800500000, principal="deployer@demo-proj.iam.gserviceaccount.com",
           action="compute:compute.instances.list", read_only=True, status_code=0, region="europe-west4-a",
           source_ip="198.51.100.23", token_id="0123456789abcdef0123456789abcdef01234567")


def test_bigquery_gke_rows_go_to_the_k8s_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import detector.normalize.k8s as k8s

    routed: list[dict] = []
    monkeypatch.setattr(k8s, "normalize_gke_entry", lambda entry, ctx: routed.append(entry))
    row = {"insertId": "g1", "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity", "timestamp": "2024-01-01T00:00:00Z",
           "resource": {"type": "k8s_cluster", "labels": {"project_id": "p", "cluster_name": "c1"}},
           "protopayload_auditlog": {"service_name": "k8s.io", "method_name": "io.k8s.core.v1.secrets.get",
                                     "authentication_info": {"principal_email": "system:serviceaccount:default:app"}}}
    events, quarantined, _ = run(row)
    assert not events and not quarantined
    assert routed[0]["insertId"] == "g1"
    assert routed[0]["protoPayload"]["authenticationInfo"]["principalEmail"] == "system:serviceaccount:default:app"


# --- secrets --------------------------------------------------------------------------------------

FAKE_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmYWtlLWZvci10ZXN0cyJ9.ZmFrZS1zaWduYXR1cmU"
FAKE_ACCESS_TOKEN = "ya29.FAKEa0AfH6SMBxNOTAREALTOKENxyz0123456789"
FAKE_PRIVATE_KEY = "LS0tLS1CRUdJTiBGQUtFIFBSSVZBVEUgS0VZLS0tLS0K"


def secret_docs() -> list[dict]:
    return [
        entry({
            "serviceName": "iamcredentials.googleapis.com", "methodName": "GenerateAccessToken",
            "request": {"name": "projects/-/serviceAccounts/t@p1.iam.gserviceaccount.com", "delegates": []},
            "response": {"accessToken": FAKE_ACCESS_TOKEN, "expireTime": "2024-01-02T04:04:05Z"},
        }),
        entry({
            "serviceName": "iamcredentials.googleapis.com", "methodName": "SignJwt",
            "request": {"name": "projects/-/serviceAccounts/t@p1.iam.gserviceaccount.com", "payload": FAKE_JWT},
            "response": {"keyId": "k1", "signedJwt": FAKE_JWT},
        }),
        entry({
            "serviceName": "iam.googleapis.com", "methodName": "google.iam.admin.v1.CreateServiceAccountKey",
            "request": {"name": "projects/-/serviceAccounts/t@p1.iam.gserviceaccount.com"},
            "response": {"name": "projects/p1/serviceAccounts/t/keys/K", "privateKeyData": FAKE_PRIVATE_KEY},
        }),
        # the same, unusable (no principal): the quarantine copy must be redacted
        entry({
            "authenticationInfo": {}, "serviceName": "iamcredentials.googleapis.com", "methodName": "GenerateAccessToken",
            "response": {"accessToken": FAKE_ACCESS_TOKEN, "idToken": FAKE_JWT, "privateKeyData": FAKE_PRIVATE_KEY},
        }),
        {"insertId": "bq", "logName": "projects/p1/logs/cloudaudit.googleapis.com%2Fdata_access", "timestamp": "2024-01-02T03:04:05Z",
         "protopayload_auditlog": {
             "serviceName": "iam.googleapis.com", "methodName": "google.iam.admin.v1.CreateServiceAccountKey",
             "authenticationInfo": {"principalEmail": "a@b.c"},
             "requestJson": orjson.dumps({"name": "projects/-/serviceAccounts/t@p1.iam.gserviceaccount.com"}).decode(),
             "responseJson": orjson.dumps({"name": "x/keys/K2", "privateKeyData": FAKE_PRIVATE_KEY}).decode()}},
    ]


def test_no_secret_reaches_an_event_or_the_quarantine_file() -> None:
    quarantined: list[str] = []
    n = Normalizer(on_quarantine=lambda reason, detail, origin, raw: quarantined.append(clip(detail) + clip(raw_text(raw))))
    for i, doc in enumerate(secret_docs()):
        n.feed(orjson.dumps(doc), f"s:{i}")
    events = n.take()
    assert len(events) == 4 and len(quarantined) == 1
    text = orjson.dumps(events).decode() + "\n".join(quarantined)
    for secret in (FAKE_JWT, FAKE_ACCESS_TOKEN, FAKE_PRIVATE_KEY):
        assert secret not in text
    lineage = {e["lineage_token"] for e in events}
    assert lineage == {None, "k1", "K", "K2"}


# --- property tests --------------------------------------------------------------------------------

json_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=20)
KEYS = ["@type", "serviceName", "methodName", "resourceName", "authenticationInfo", "principalEmail", "principalSubject",
        "serviceAccountKeyName", "serviceAccountDelegationInfo", "requestMetadata", "callerIp", "status", "code", "message",
        "request", "response", "name", "authorizationInfo", "permissionType", "metadata", "requestJson", "responseJson"]
shaped = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6), max_leaves=25)


def check(doc: Any) -> None:
    events, _, n = run(doc)
    assert "internal-error" not in n.ctx.quarantined, n.ctx.quarantined
    for event in events:
        assert set(event) == set(FIELDS)
        assert isinstance(event["ts"], int) and event["source"] in ("gcp", "k8s")
        assert event["principal"] and event["token_id"]
    to_table(events)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proto=shaped, top=st.dictionaries(st.sampled_from(["insertId", "logName", "timestamp", "receiveTimestamp", "resource"]), json_value))
def test_arbitrary_payloads_never_raise(proto: Any, top: dict) -> None:
    check({**top, "protoPayload": proto if isinstance(proto, dict) else {"x": proto}})
    check({**top, "protopayload_auditlog": proto})


SAMPLES = [d for p in GOLDEN_FILES for d in lines(p)]


def mutate(doc: Any, data: st.DataObject) -> Any:
    """Delete a key or replace a value with another JSON type, somewhere in the document."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 4))):
        node = doc
        while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
            if not isinstance(node[key], (dict, list)) or not node[key]:
                break
            node = node[key]
        if isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            if data.draw(st.booleans()):
                del node[key]
            else:
                node[key] = data.draw(json_value)
        elif isinstance(node, list) and node:
            node[data.draw(st.integers(0, len(node) - 1))] = data.draw(json_value)
    return doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(SAMPLES) - 1), data=st.data())
def test_mutated_samples_never_raise(index: int, data: st.DataObject) -> None:
    check(mutate(SAMPLES[index], data))
