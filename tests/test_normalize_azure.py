"""Azure normalizer (activity log, Entra sign-ins, Entra audit logs, Graph activity): golden files,
exact mappings per shape and identity type, routing of mixed diagnostic batches, secret hygiene,
and property tests that no input makes it raise."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.events import FIELDS, to_table
from detector.normalize import Normalizer, shapes
from detector.normalize.azure import is_signin
from detector.normalize.reader import read_documents
from detector.quarantine import raw_text
from detector.redact import clip
from golden import FIXTURES, PUBLIC, check_golden

OWN = FIXTURES / "azure"
MIXED = OWN / "diagnostic-mixed-batch.json"  # holds an AKS kube-audit record: no golden (k8s output is not ours)
GOLDEN_FILES = sorted((PUBLIC / "azure").iterdir()) + sorted(p for p in OWN.iterdir() if p != MIXED)
TENANT = "7f3c1a2b-0000-4c5d-8e9f-0a1b2c3d4e5f"
APP = "11111111-2222-3333-4444-555555555555"


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


def docs(path: Path) -> list[Any]:
    return [orjson.loads(d.data) for d in read_documents(str(path))]


def rest(**over: Any) -> dict:
    """An activity-log record in the REST shape (the Azure portal's JSON view)."""
    doc = {
        "caller": "99999999-aaaa-bbbb-cccc-dddddddddddd",
        "claims": {"appid": APP, "idtyp": "app", "http://schemas.microsoft.com/identity/claims/tenantid": TENANT},
        "correlationId": "corr-1",
        "eventDataId": "evt-1",
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "eventTimestamp": "2024-06-01T12:00:00.1234567Z",
        "operationName": {"value": "Microsoft.Compute/virtualMachines/write", "localizedValue": "Create or Update VM"},
        "resourceId": "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
        "status": {"value": "Succeeded"},
        "subStatus": {"value": "Created"},
        "subscriptionId": "sub-1",
        "tenantId": TENANT,
        "httpRequest": {"clientIpAddress": "203.0.113.5", "method": "PUT"},
        "properties": {"statusCode": "Created"},
    }
    doc.update(over)
    return doc


def diag_signin(category: str = "ServicePrincipalSignInLogs", **props: Any) -> dict:
    base = {
        "id": "signin-1", "createdDateTime": "2024-06-03T08:00:00+00:00", "appId": APP, "ipAddress": "203.0.113.50",
        "status": {"errorCode": 0}, "resourceDisplayName": "Microsoft Graph", "resourceId": "00000003-0000-0000-c000-000000000000",
        "servicePrincipalId": "sp-obj-1",
    }
    base.update(props)
    return {"time": "2024-06-03T08:00:00Z", "category": category, "operationName": "Sign-in activity", "tenantId": TENANT,
            "resourceId": f"/tenants/{TENANT}/providers/Microsoft.aadiam", "resultType": "0", "location": "NL",
            "correlationId": "corr-s", "properties": base}


# --- golden files ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden(path: Path) -> None:
    out = check_golden(path, "azure")
    for event in out["events"]:
        assert event["source"] == "azure" and event["principal"] and event["token_id"]


def test_golden_counts() -> None:
    out = check_golden(PUBLIC / "azure" / "elastic-test-activitylogs-raw.log", "azure")
    assert len(out["events"]) == 1 and out["skipped"] == {"azure-no-caller": 2}
    assert len(check_golden(PUBLIC / "azure" / "plaso-azure_activity_log.jsonl", "azure")["events"]) == 4
    assert len(check_golden(PUBLIC / "azure" / "elastic-test-sp-signinlogs-sample.log", "azure")["events"]) == 7
    rest_out = check_golden(OWN / "activity-rest-sdk.jsonl", "azure")
    assert rest_out["skipped"] == {"azure-no-caller": 1}
    assert [q["reason"] for q in rest_out["quarantined"]] == ["missing-field"]


def test_events_fit_the_arrow_schema() -> None:
    for path in [*GOLDEN_FILES, MIXED]:
        n = Normalizer()
        for doc in read_documents(str(path)):
            n.feed(doc.data, doc.origin)
        events = n.take()
        assert to_table(events).num_rows == len(events)


# --- activity log -------------------------------------------------------------------------------


def test_rest_shape_service_principal() -> None:
    e = one(rest())
    fields(
        e, source="azure", event_id="evt-1", ts=1717243200123456, tenant=TENANT, principal=APP,
        principal_type="servicePrincipal", token_id=f"app:{APP}", token_kind="sp",
        action="azure:microsoft.compute/virtualmachines/write", read_only=False, outcome="success",
        status_code=201, error_code=None, source_ip="203.0.113.5", region=None, namespace=None, stage=None,
        resource="/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
    )


def test_user_token_with_client_appid_is_the_user() -> None:
    claims = {"appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "http://schemas.microsoft.com/identity/claims/scope": "user_impersonation",
              "name": "Dev", "puid": "1003", "uti": "UTI-1"}
    e = one(rest(caller="dev@contoso.example", claims=claims))
    fields(e, principal="dev@contoso.example", principal_type="user", token_id="user:dev@contoso.example",
           token_kind="user", lineage_kind="exchanged-from", lineage_token="UTI-1")


def test_app_only_decided_without_idtyp() -> None:
    e = one(rest(claims={"appid": APP, "appidacr": "2"}))  # no scope, no user claims
    fields(e, principal=APP, principal_type="servicePrincipal")
    e = one(rest(claims={"appid": APP, "xms_mirid": "/subscriptions/s/.../userAssignedIdentities/mi", "idtyp": "app"}))
    fields(e, principal=APP, principal_type="managedIdentity", token_id=f"app:{APP}")


def test_diagnostic_shape_caller_from_claims() -> None:
    record = {
        "time": "2024-06-01T12:00:00Z", "operationName": "MICROSOFT.KEYVAULT/VAULTS/READ", "category": "Write",
        "resultType": "Success", "resultSignature": "Succeeded.OK", "callerIpAddress": "198.51.100.1",
        "correlationId": "c-1", "resourceId": "/SUBSCRIPTIONS/S-9/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/KV",
        "identity": {"claims": {"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "ops@contoso.example",
                                "appid": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
                                "http://schemas.microsoft.com/identity/claims/scope": "user_impersonation"}},
    }
    e = one({"records": [record]})
    fields(e, principal="ops@contoso.example", principal_type="user", action="azure:microsoft.keyvault/vaults/read",
           read_only=True, status_code=200, tenant="S-9", source_ip="198.51.100.1")
    assert e["event_id"].startswith("c-1:") and len(e["event_id"]) == len("c-1:") + 16
    # Start and Success of one request share the correlation id but stay two events
    started = one({"records": [record | {"resultType": "Start", "resultSignature": "Started."}]})
    assert started["event_id"] != e["event_id"] and started["status_code"] is None and started["outcome"] == "success"


@pytest.mark.parametrize(
    "status, sub, props, outcome, code, error",
    [
        ({"value": "Failed"}, {"value": "Forbidden"}, {"statusCode": "Forbidden"}, "failure", 403, "Forbidden"),
        ({"value": "Failed"}, {"value": ""}, {"statusMessage": '{"error":{"code":"AuthorizationFailed","message":"no"}}'},
         "failure", None, "AuthorizationFailed"),
        ({"value": "Failed"}, {"value": ""}, {"statusCode": "Conflict"}, "failure", 409, "Conflict"),
        ({"value": "Started"}, {"value": ""}, {}, "success", None, None),
        ({"value": "Accepted"}, {"value": "Accepted"}, {}, "success", 202, None),
        ({"value": "Canceled"}, {"value": ""}, {}, "failure", None, None),
    ],
)
def test_activity_outcomes(status: dict, sub: dict, props: dict, outcome: str, code: int | None, error: str | None) -> None:
    fields(one(rest(status=status, subStatus=sub, properties=props)), outcome=outcome, status_code=code, error_code=error)


def test_list_keys_is_not_read_only() -> None:
    e = one(rest(operationName={"value": "Microsoft.Storage/storageAccounts/listKeys/action"}))
    assert e["read_only"] is False


def test_sdk_snake_case_and_bare_object_id_caller() -> None:
    doc = {
        "caller": "77777777-aaaa-bbbb-cccc-dddddddddddd", "event_data_id": "e-6", "event_timestamp": "2024-06-01T12:09:00Z",
        "category": {"value": "Administrative"}, "operation_name": {"value": "Microsoft.Network/virtualNetworks/write"},
        "status": {"value": "Succeeded"}, "subscription_id": "sub-6", "http_request": {"client_ip_address": "192.0.2.44"},
    }
    fields(one(doc), principal="77777777-aaaa-bbbb-cccc-dddddddddddd", principal_type="unknown",
           token_id="caller:77777777-aaaa-bbbb-cccc-dddddddddddd", token_kind="caller", tenant="sub-6",
           source_ip="192.0.2.44", event_id="e-6")


def test_no_caller() -> None:
    bare = {"category": {"value": "ServiceHealth"}, "eventTimestamp": "2024-06-01T12:07:00Z",
            "operationName": {"value": "Microsoft.ServiceHealth/incident/action"}}
    events, quarantined, n = run(bare)
    assert not events and not quarantined and dict(n.ctx.skipped) == {"azure-no-caller": 1}
    autoscale = {"category": "Autoscale", "operationName": "Microsoft.Insights/AutoscaleSettings/Scaleup/Action",
                 "time": "2024-06-01T12:07:00Z", "caller": "Microsoft.Insights/autoscaleSettings"}
    events, quarantined, n = run(autoscale)
    assert not events and dict(n.ctx.skipped) == {"azure-no-caller": 1}
    admin = {**bare, "category": {"value": "Administrative"}}
    events, quarantined, _ = run(admin)
    assert not events and quarantined[0][0] == "missing-field" and "Administrative" in quarantined[0][1]


def test_claims_as_json_string() -> None:
    claims = orjson.dumps({"appid": APP, "idtyp": "app"}).decode()
    fields(one(rest(claims=claims)), principal=APP)
    _, quarantined, _ = run(rest(claims="{not json"))
    assert quarantined[0][0] == "bad-field"


def test_event_id_without_correlation_is_a_stable_hash() -> None:
    doc = rest()
    del doc["eventDataId"], doc["correlationId"]
    first, second = one(doc), one(copy.deepcopy(doc))
    assert first["event_id"] == second["event_id"] and first["event_id"].startswith("h:")


# --- Entra sign-ins --------------------------------------------------------------------------------


def test_signin_routing() -> None:
    assert is_signin({}, "ServicePrincipalSignInLogs")
    assert is_signin({}, "ManagedIdentitySignInLogs")
    assert is_signin({}, "NonInteractiveUserSignInLogs")
    assert not is_signin({}, "Administrative")
    assert not is_signin({"createdDateTime": "x"}, "AuditLogs")
    assert is_signin({"createdDateTime": "2024-01-01T00:00:00Z", "appId": APP}, None)


def test_sp_signin_with_secret_and_with_certificate() -> None:
    e = one(diag_signin(servicePrincipalCredentialKeyId="key-1", uniqueTokenIdentifier="uti-1"))
    fields(e, principal=APP, principal_type="servicePrincipal", token_id="key-1", token_kind="sp-secret",
           action="entra:signin:Microsoft Graph", resource="00000003-0000-0000-c000-000000000000", region="NL",
           tenant=TENANT, event_id="signin-1", outcome="success", source_ip="203.0.113.50",
           lineage_kind="issued", lineage_principal=APP, lineage_token="uti-1", ts=1717401600000000)
    e = one(diag_signin(servicePrincipalCredentialKeyId="key-2", servicePrincipalCredentialThumbprint="AB12"))
    fields(e, token_id="key-2", token_kind="sp-cert")


def test_managed_identity_and_user_signins() -> None:
    fields(one(diag_signin("ManagedIdentitySignInLogs")), principal=APP, principal_type="managedIdentity",
           token_id=f"app:{APP}", token_kind="sp")
    e = one(diag_signin("SignInLogs", userPrincipalName="dev@contoso.example", servicePrincipalId=""))
    fields(e, principal="dev@contoso.example", principal_type="user", token_id="user:dev@contoso.example", token_kind="user")


def test_signin_failure() -> None:
    e = one(diag_signin(status={"errorCode": 7000215, "failureReason": "Invalid client secret provided."}))
    fields(e, outcome="failure", error_code="7000215: Invalid client secret provided.", status_code=None)
    e = one(diag_signin(status={"errorCode": "7000222"}))
    fields(e, outcome="failure", error_code="7000222")


def test_signin_without_app_id_is_rejected() -> None:
    _, quarantined, _ = run(diag_signin(appId=None))
    assert quarantined[0][0] == "missing-field" and "appId" in quarantined[0][1]


# --- Entra audit logs ------------------------------------------------------------------------------


def test_credential_added_to_application_is_issued() -> None:
    record = docs(OWN / "entra-auditlogs.jsonl")[0]
    e = one(record)
    fields(e, principal="admin@contoso.example", principal_type="user",
           action="entra:Update application - Certificates and secrets management", lineage_kind="issued",
           lineage_principal="bbbbbbbb-0000-4000-8000-000000000002",
           lineage_token="5e5e5e5e-6666-4777-8888-999999999999", source_ip="198.51.100.7", read_only=False)


def test_credential_added_by_a_service_principal() -> None:
    e = one(docs(OWN / "entra-auditlogs.jsonl")[1])
    fields(e, principal=APP, principal_type="servicePrincipal", token_id=f"app:{APP}", token_kind="sp",
           lineage_kind="issued", lineage_token="c3c3c3c3-aaaa-4bbb-8ccc-dddddddddddd")


def test_public_audit_sample_managed_identity_rotation() -> None:
    """The shape of elastic/integrations' AuditLogs sample: appId null, servicePrincipalId set,
    AppId in additionalDetails, three keys where there were two."""
    old = ['[KeyIdentifier=7dff,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=a]',
           '[KeyIdentifier=c9c0,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=a]']
    new = [old[1], old[0], '[KeyIdentifier=d747,KeyType=AsymmetricX509Cert,KeyUsage=Verify,DisplayName=CN=a]']
    record = {
        "time": "2022-01-22T18:15:02.5168093Z", "operationName": "Add service principal credentials", "category": "AuditLogs",
        "tenantId": TENANT, "callerIpAddress": "1.128.3.4", "correlationId": "5316",
        "properties": {"id": "Directory_5316", "result": "success", "activityDisplayName": "Add service principal credentials",
                       "activityDateTime": "2022-01-22T18:15:02.5168093+00:00",
                       "initiatedBy": {"app": {"appId": None, "displayName": "Managed Service Identity", "servicePrincipalId": "b981"}},
                       "targetResources": [{"id": "a7d5", "type": "ServicePrincipal", "modifiedProperties": [
                           {"displayName": "KeyDescription", "oldValue": orjson.dumps(old).decode(), "newValue": orjson.dumps(new).decode()}]}],
                       "additionalDetails": [{"key": "User-Agent", "value": "Graph Client"}, {"key": "AppId", "value": "a70a"}]},
    }
    fields(one(record), principal="b981", principal_type="servicePrincipal", source_ip="1.128.3.4",
           user_agent="Graph Client", lineage_principal="a70a", lineage_token="d747", ts=1642875302516809)


def test_credential_removal_and_failure_have_no_lineage() -> None:
    records = docs(OWN / "entra-auditlogs.jsonl")
    fields(one(records[2]), outcome="failure", error_code="Insufficient privileges to complete the operation.", lineage_kind=None)
    fields(one(records[3]), outcome="success", lineage_kind=None)


def test_key_vault_audit_event() -> None:
    events, quarantined, _ = run(docs(OWN / "keyvault-auditevent.json")[0])
    assert not quarantined
    get, listing = events
    fields(get, principal=APP, principal_type="servicePrincipal", action="azure:secretget", read_only=True,
           status_code=200, outcome="success", user_agent="azsdk-python-keyvault-secrets/4.7.0 Python/3.11.4 (Linux)",
           resource="https://prod-kv.vault.azure.net/secrets/db-password/0123456789abcdef0123456789abcdef", tenant=TENANT)
    fields(listing, principal="dev@contoso.example", outcome="failure", status_code=403, error_code="Forbidden")


# --- Graph activity logs ----------------------------------------------------------------------------


def test_graph_activity_drops_query_strings() -> None:
    events, quarantined, _ = run(docs(OWN / "graph-activity.json")[0])
    assert not quarantined and len(events) == 2
    fields(events[0], action="graph:GET", resource="https://graph.microsoft.com/v1.0/users", read_only=True,
           status_code=200, lineage_kind="exchanged-from", lineage_token="VVRJZ3JhcGhBQUFBQUFBQUFB")
    assert "eyJ" not in orjson.dumps(events).decode()
    fields(events[1], action="graph:PATCH", outcome="failure", status_code=403, read_only=False)


# --- a mixed diagnostic batch -------------------------------------------------------------------------


def test_mixed_batch_routes_each_record(monkeypatch: pytest.MonkeyPatch) -> None:
    routed: list[dict] = []
    monkeypatch.setattr(shapes.k8s, "normalize_aks_record", lambda record, ctx: routed.append(record))
    events, quarantined, n = run(docs(MIXED)[0])
    assert not quarantined
    assert [r["category"] for r in routed] == ["kube-audit"]
    assert n.ctx.emitted == {"azure": 2}
    activity, signin = events
    fields(activity, principal=APP, principal_type="servicePrincipal", action="azure:microsoft.compute/virtualmachines/write",
           status_code=201, origin="t:1#0", lineage_token="VVRJbWl4ZWRBQUFBQUFB")
    fields(signin, principal=APP, token_id="c3c3c3c3-aaaa-4bbb-8ccc-dddddddddddd", token_kind="sp-cert",
           origin="t:1#1", lineage_kind="issued", lineage_token="VVRJbWl4ZWRBQUFBQUFB")


def test_mixed_batch_with_the_real_k8s_normalizer() -> None:
    """Whatever the K8s module makes of the AKS record, our two events come out and nothing is an internal error."""
    events, quarantined, n = run(docs(MIXED)[0])
    assert n.ctx.emitted["azure"] == 2
    assert n.ctx.emitted["k8s"] + len(quarantined) + sum(n.ctx.skipped.values()) == 1
    assert "internal-error" not in n.ctx.quarantined


def test_one_bad_record_in_a_batch_is_quarantined_alone() -> None:
    batch = {"records": [rest(), "not a record", rest(eventTimestamp="yesterday"), rest(eventDataId="evt-2")]}
    events, quarantined, _ = run(batch)
    assert [e["event_id"] for e in events] == ["evt-1", "evt-2"]
    assert [(q[0], q[2]) for q in quarantined] == [("not-an-object", "t:1#1"), ("bad-timestamp", "t:1#2")]


# --- secrets ----------------------------------------------------------------------------------------

FAKE_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmYWtlLWF6dXJlLXRlc3QifQ.ZmFrZS1henVyZS1zaWc"
FAKE_CLIENT_SECRET = "Fake8Q~NotARealClientSecret0123456789abcdXYZ"
FAKE_STORAGE_KEY = "FAKEstorageKEY0123456789notREALabcdefABCDEF0123456789xyzFAKE=="


def secret_docs() -> list[dict]:
    body = {"properties": {"passwordCredentials": [{"secretText": FAKE_CLIENT_SECRET}]}, "accessToken": FAKE_JWT}
    return [
        rest(properties={"statusCode": "OK", "responseBody": orjson.dumps(body).decode(),
                         "requestbody": orjson.dumps({"client_secret": FAKE_CLIENT_SECRET}).decode()}),
        rest(properties={"statusCode": "OK", "responseBody": {"keys": [{"keyName": "key1", "value": FAKE_STORAGE_KEY}]}}),
        {"records": [diag_signin(clientSecret=FAKE_CLIENT_SECRET, servicePrincipalCredentialKeyId="k")]},
        {"records": [{"time": "2024-06-04T07:00:00Z", "category": "MicrosoftGraphActivityLogs", "operationName": "Microsoft Graph Activity",
                      "properties": {"appId": APP, "requestMethod": "GET", "responseStatusCode": 200,
                                     "requestUri": f"https://graph.microsoft.com/v1.0/me?access_token={FAKE_JWT}"}}]},
        # unusable records carrying secrets: their quarantine copy must be redacted
        rest(caller=None, claims=None, properties={"responseBody": orjson.dumps(body).decode()}),
        diag_signin(appId=None, clientSecret=FAKE_CLIENT_SECRET, idToken=FAKE_JWT),
    ]


def test_no_secret_reaches_an_event_or_the_quarantine_file() -> None:
    quarantined: list[str] = []
    n = Normalizer(on_quarantine=lambda reason, detail, origin, raw: quarantined.append(clip(detail) + clip(raw_text(raw))))
    for i, doc in enumerate(secret_docs()):
        n.feed(orjson.dumps(doc), f"s:{i}")
    events = n.take()
    assert len(events) == 4 and len(quarantined) == 2
    event_text = orjson.dumps(events).decode()
    for secret in (FAKE_JWT, FAKE_CLIENT_SECRET, FAKE_STORAGE_KEY):
        assert secret not in event_text
    quarantine_text = "\n".join(quarantined)
    for secret in (FAKE_JWT, FAKE_CLIENT_SECRET):  # named members and JWT shapes are what redaction knows
        assert secret not in quarantine_text


# --- property tests -----------------------------------------------------------------------------------

json_leaf = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=5), max_leaves=20)
KEYS = ["category", "operationName", "operation_name", "caller", "claims", "identity", "appid", "idtyp", "status", "value",
        "subStatus", "resultType", "resultSignature", "properties", "statusCode", "statusMessage", "eventDataId", "correlationId",
        "time", "eventTimestamp", "createdDateTime", "appId", "servicePrincipalId", "userPrincipalName", "errorCode",
        "initiatedBy", "app", "user", "targetResources", "modifiedProperties", "displayName", "newValue", "oldValue",
        "httpRequest", "clientIpAddress", "callerIpAddress", "ipAddress", "location", "tenantId", "resourceId", "uti"]
shaped = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=7), max_leaves=30)
CATEGORIES = st.sampled_from(["Administrative", "AuditLogs", "ServicePrincipalSignInLogs", "ManagedIdentitySignInLogs", "SignInLogs",
                              "MicrosoftGraphActivityLogs", "ServiceHealth", "Write", "Action"]) | json_leaf


def check(doc: Any) -> None:
    events, _, n = run(doc)
    assert "internal-error" not in n.ctx.quarantined, n.ctx.quarantined
    for event in events:
        assert set(event) == set(FIELDS)
        assert isinstance(event["ts"], int) and event["source"] in ("azure", "k8s")
        assert event["principal"] and event["token_id"]
    to_table(events)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=shaped, category=CATEGORIES, wrap=st.sampled_from(["records", "rest", "sdk", "graph"]))
def test_arbitrary_records_never_raise(record: Any, category: Any, wrap: str) -> None:
    record = record if isinstance(record, dict) else {"x": record}
    if wrap == "records":
        check({"records": [{**record, "category": category}]})
    elif wrap == "rest":
        check({**record, "operationName": record.get("operationName", {"value": "a/b/write"}), "category": {"value": category}})
    elif wrap == "sdk":
        check({**record, "operation_name": {"value": "a/read"}})
    else:
        check({**record, "createdDateTime": record.get("createdDateTime", "2024-01-01T00:00:00Z")})


SAMPLES = [d for p in [*GOLDEN_FILES, MIXED] for d in docs(p)]


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


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(SAMPLES) - 1), data=st.data())
def test_mutated_samples_never_raise(index: int, data: st.DataObject) -> None:
    check(mutate(SAMPLES[index], data))
