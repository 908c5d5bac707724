"""Kubernetes audit normalizer: golden files, exact mappings per shape and identity type,
secret hygiene, and property tests that no input makes it raise."""

from __future__ import annotations

import base64
import copy
import gzip
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.events import FIELDS, SOURCES, to_table
from detector.normalize import Normalizer, StageDeduper
from detector.normalize.reader import read_documents
from detector.redact import clip
from golden import FIXTURES, PUBLIC, check_golden

OWN = FIXTURES / "k8s"
PUBLIC_K8S = sorted((PUBLIC / "k8s").iterdir())
OWN_FILES = sorted(OWN.iterdir())


# --- helpers ----------------------------------------------------------------------------------


def run(doc: Any) -> tuple[list[dict], list[tuple[str, str, str, Any]], Normalizer]:
    """Normalize one parsed document; returns (events, quarantined (reason, detail, origin, raw))."""
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
    got = {k: event[k] for k in expected}
    assert got == expected


def lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def base_event(**over: Any) -> dict:
    event = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "00000000-1111-4222-8333-444444444444",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/shop/secrets/db",
        "verb": "get",
        "user": {"username": "system:serviceaccount:shop:web", "groups": ["system:serviceaccounts"]},
        "sourceIPs": ["10.1.2.3"],
        "userAgent": "web/1.0",
        "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2025-01-02T03:04:05.000006Z",
        "stageTimestamp": "2025-01-02T03:04:05.100000Z",
    }
    event.update(over)
    return event


# --- golden files -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PUBLIC_K8S, ids=lambda p: p.name)
def test_golden_public(path: Path) -> None:
    check_golden(path, "k8s")


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda p: p.name)
def test_golden_own_samples(path: Path) -> None:
    check_golden(path, "k8s")


def test_elastic_audit_log_each_line_without_dedup() -> None:
    """The sample reuses auditID "abcde12345" for four different records, so stage dedup keeps
    only the first in the golden file; check every line on its own here."""
    docs = lines(PUBLIC / "k8s" / "elastic-test-audit.log")
    sa, elastic_agent, _, gke, aks = (one(d) for d in docs)
    fields(
        sa,
        principal="system:serviceaccounts:default:default",
        principal_type="system",  # a group-like name, not minted by the SA authenticator
        token_id="user:system:serviceaccounts:default:default",
        action="get:pods",
        resource="my-pod",
        namespace="default",
        source_ip="67.43.156.1",
    )
    fields(
        elastic_agent,
        principal="system:serviceaccount:kube-system:elastic-agent",
        principal_type="serviceaccount",
        token_id="legacy:system:serviceaccount:kube-system:elastic-agent",  # extra is {}
        token_kind="legacy",
        action="get:leases",
        resource="elastic-agent-cluster-test",
        namespace="kube-system",
        read_only=True,
        ts=1752660776525137,
    )
    fields(
        gke,
        event_id="1234abcd",
        tenant="test-cluster",
        region="us-central1",
        principal="system:gke-master-healthcheck",
        principal_type="system",
        action="get:/readyz",
        resource=None,
        outcome="success",
        status_code=None,
        read_only=True,
        user_agent="gke-master-healthcheck",
    )
    fields(
        aks,  # properties.log as an object
        tenant="test-aks",
        principal="aksService",
        principal_type="user",
        token_id="user:aksService",
        action="update:leases",
        read_only=False,
        ts=1759213415091134,
    )


def test_aks_log_as_string_matches_object_form() -> None:
    record = lines(PUBLIC / "k8s" / "elastic-test-kube-audit.log")[0]
    as_string = one(record)
    as_object = copy.deepcopy(record)
    as_object["properties"]["log"] = orjson.loads(record["properties"]["log"])
    assert one(as_object) == as_string
    fields(
        as_string,
        tenant="test-cluster",
        event_id="ad26f7bc-f1c6-4097-90f1-e0924e12f257",
        action="update:leases",
        resource="kubelet-serving-csr-approver",
        source_ip="172.31.51.172",
    )


# --- identity types -----------------------------------------------------------------------------


def test_bound_token_with_pod_binding() -> None:
    event = one(lines(OWN / "bound-token-pod.jsonl")[0])
    fields(
        event,
        principal="system:serviceaccount:payments:api",
        principal_type="serviceaccount",
        token_id="2b76b98d-e185-4970-918e-6fa3f30606ab",
        token_kind="bound",
        bound_pod="payments/api-7d9f8c6b5-x2k4q",
        bound_pod_uid="9c1e5f3a-2b4d-4f6a-8c0e-1a3b5d7f9e21",
        bound_node="ip-10-0-3-17.ec2.internal",
        action="get:secrets",
        read_only=True,
    )


def test_pod_bound_token_without_credential_id_uses_the_pod() -> None:
    event = one(lines(OWN / "bound-token-pod.jsonl")[1])
    fields(event, token_id="pod:e7a9c3d1-5b2f-4a8e-9c6d-0f1e2d3c4b5a", token_kind="bound", bound_node=None)
    fields(event, action="list:endpoints", resource=None, namespace="payments")


def test_x509_user_and_node() -> None:
    admin, node = (one(d) for d in lines(OWN / "bound-token-pod.jsonl")[2:4])
    fields(admin, token_id="x509:4b08d4e3ad74b21f", token_kind="x509", principal_type="user")
    fields(admin, outcome="failure", status_code=403, error_code="Forbidden", read_only=False)
    fields(node, principal_type="node", token_id="x509:9f86d081884c7d65", source_ip="10.0.3.17")
    fields(node, action="get:/healthz", resource=None, namespace=None)


@pytest.mark.parametrize(
    "annotations, token_id",
    [
        ({"authentication.k8s.io/legacy-token-autogenerated-secret": "web-token-abcde"}, "secret:shop/web-token-abcde"),
        ({"authentication.k8s.io/legacy-token-manual-secret": "web-ci"}, "secret:shop/web-ci"),
        ({"authentication.k8s.io/legacy-token-invalidated": "web-token-abcde/shop"}, "secret:shop/web-token-abcde"),
        ({"authentication.k8s.io/legacy-token-invalidated-secret": "web-token-abcde/shop"}, "secret:shop/web-token-abcde"),
        ({"authentication.k8s.io/legacy-token": "system:serviceaccount:shop:web"}, "legacy:system:serviceaccount:shop:web"),
        ({}, "legacy:system:serviceaccount:shop:web"),
    ],
)
def test_legacy_tokens(annotations: dict, token_id: str) -> None:
    fields(one(base_event(annotations=annotations)), token_id=token_id, token_kind="legacy")


def test_legacy_secret_annotation_wins_over_credential_id() -> None:
    event = base_event(annotations={"authentication.k8s.io/legacy-token-autogenerated-secret": "web-token-abcde"})
    event["user"]["extra"] = {"authentication.kubernetes.io/credential-id": ["JTI=11111111-2222-4333-8444-555555555555"]}
    fields(one(event), token_id="secret:shop/web-token-abcde", token_kind="legacy")


def test_invalidated_token_without_user_is_kept_and_attributed() -> None:
    docs = lines(OWN / "legacy-token.jsonl")
    fields(
        one(docs[3]),
        principal="system:serviceaccount:ci:deployer",
        token_id="secret:ci/deployer-token-8x2kd",
        token_kind="legacy",
        outcome="failure",
        status_code=401,
        error_code="Unauthorized",
        source_ip="185.220.101.47",
    )
    events, quarantined, _ = run(docs[4])
    assert events == [] and [(q[0], q[1]) for q in quarantined] == [("missing-field", "user.username is missing")]


@pytest.mark.parametrize(
    "username, principal_type, token_id, token_kind",
    [
        ("system:anonymous", "anonymous", "user:system:anonymous", "anonymous"),
        ("system:kube-scheduler", "system", "user:system:kube-scheduler", "user"),
        ("system:node:worker-1", "node", "user:system:node:worker-1", "user"),
        ("jane@example.com", "user", "user:jane@example.com", "user"),
        ("system:serviceaccounts:default:default", "system", "user:system:serviceaccounts:default:default", "user"),
        ("system:serviceaccount:broken", "system", "user:system:serviceaccount:broken", "user"),
        ("søren@exämple.dk", "user", "user:søren@exämple.dk", "user"),
    ],
)
def test_principal_types(username: str, principal_type: str, token_id: str, token_kind: str) -> None:
    event = one(base_event(user={"username": username}))
    fields(event, principal=username, principal_type=principal_type, token_id=token_id, token_kind=token_kind)


def test_unknown_credential_scheme_is_kept_as_an_identifier() -> None:
    event = base_event()
    event["user"]["extra"] = {"authentication.kubernetes.io/credential-id": "OIDC=abc123"}  # bare string tolerated
    fields(one(event), token_id="OIDC=abc123", token_kind="credential")


def test_impersonation() -> None:
    event = one(lines(OWN / "impersonation.jsonl")[0])
    fields(
        event,
        principal="alice@example.com",
        token_id="7f3e2d1c-0b9a-4877-a655-4433221100ff",
        acting_as="system:serviceaccount:kube-system:cluster-admin-sa",
        lineage_kind="impersonating",
        lineage_principal="system:serviceaccount:kube-system:cluster-admin-sa",
        lineage_token=None,
        source_ip="2001:db8::42",
    )


# --- lineage ----------------------------------------------------------------------------------


def test_token_request_lineage() -> None:
    docs = lines(OWN / "token-secrets.jsonl")
    fields(
        one(docs[0]),
        action="create:serviceaccounts/token",
        resource="deployer",
        namespace="ci",
        lineage_kind="issued",
        lineage_principal="system:serviceaccount:ci:deployer",
        lineage_token="0f6c1e1a-3d5b-4c7e-9f11-a2b3c4d5e6f7",
    )
    kubelet = one(docs[1])  # the kubelet minting the pod's token: its JTI is the one the pod then uses
    bound = one(lines(OWN / "bound-token-pod.jsonl")[0])
    assert kubelet["lineage_token"] == bound["token_id"]
    assert kubelet["lineage_principal"] == bound["principal"]


def test_token_request_without_annotation_or_failed() -> None:
    ref = {"resource": "serviceaccounts", "namespace": "ci", "name": "deployer", "subresource": "token"}
    ok = one(base_event(verb="create", objectRef=ref, responseStatus={"code": 201}))
    fields(ok, lineage_kind="issued", lineage_principal="system:serviceaccount:ci:deployer", lineage_token=None)
    denied = one(base_event(verb="create", objectRef=ref, responseStatus={"code": 403, "reason": "Forbidden"}))
    fields(denied, lineage_kind=None, outcome="failure", error_code="Forbidden")


def test_token_secret_creation_links_secret_to_service_account() -> None:
    fields(
        one(lines(OWN / "token-secrets.jsonl")[3]),
        lineage_kind="issued",
        lineage_principal="system:serviceaccount:ci:deployer",
        lineage_token="secret:ci/deployer-long-lived",
    )
    # Metadata level, by the tokens controller (falco sample): the name pattern names the owner
    fields(
        one(lines(PUBLIC / "k8s" / "falco-create_service_account_token_secret.json")[0]),
        lineage_principal="system:serviceaccount:test2:default",
        lineage_token="secret:test2/default-token-7v4pb",
    )
    # an ordinary secret created by a user is no lineage
    assert one(lines(PUBLIC / "k8s" / "falco-create_secret.json")[0])["lineage_kind"] is None


def test_eks_iam_identity_lineage() -> None:
    payload = orjson.loads((OWN / "eks-cloudwatch-payload.json").read_bytes())
    events, quarantined, _ = run(payload)
    assert [e["origin"] for e in events] == ["t:1#0", "t:1#1"]
    fields(
        events[0],
        tenant="prod-west",
        principal="arn:aws:sts::111122223333:assumed-role/EKSAdmin/jdoe",
        token_id="user:arn:aws:sts::111122223333:assumed-role/EKSAdmin/jdoe",
        lineage_kind="exchanged-from",
        lineage_principal="arn:aws:iam::111122223333:role/EKSAdmin",
        lineage_token="ASIAEXAMPLEKEY7Q2ZXW",
    )
    fields(events[1], token_id="c0ffee00-1234-4abc-8def-0123456789ab", bound_pod="kube-system/aws-node-7xk2p")
    # the broken third message is quarantined alone, pointing at its index
    assert [(q[0], q[2]) for q in quarantined] == [("bad-field", "t:1#2")]


# --- fields ---------------------------------------------------------------------------------------


def test_v1beta1_timestamp_fallbacks() -> None:
    event = base_event(apiVersion="audit.k8s.io/v1beta1", timestamp="2018-10-25T13:58:49Z")
    del event["requestReceivedTimestamp"]
    fields(one(event), ts=1735787045100000)  # stageTimestamp is next
    del event["stageTimestamp"]
    fields(one(event), ts=1540475929000000)


def test_request_received_has_no_outcome() -> None:
    event = base_event(stage="RequestReceived")
    del event["responseStatus"]
    fields(one(event), outcome=None, status_code=None, error_code=None, stage="RequestReceived")


@pytest.mark.parametrize(
    "status, outcome, code, error",
    [
        ({"code": 201}, "success", 201, None),
        ({"code": 101}, "success", 101, None),
        ({"code": 404, "reason": "NotFound", "status": "Failure"}, "failure", 404, "NotFound"),
        ({"code": 403}, "failure", 403, "Forbidden"),
        ({"code": 429}, "failure", 429, "TooManyRequests"),
        ({"code": 599}, "failure", 599, None),
        ({"code": 599, "status": "Failure"}, "failure", 599, "Failure"),
        ({"status": "Failure", "reason": "Timeout"}, "failure", None, "Timeout"),
        ({"metadata": {}}, None, None, None),
    ],
)
def test_outcomes(status: dict, outcome: str | None, code: int | None, error: str | None) -> None:
    fields(one(base_event(responseStatus=status)), outcome=outcome, status_code=code, error_code=error)


@pytest.mark.parametrize(
    "verb, uri, ref, action, read_only",
    [
        ("get", "/healthz?verbose=1", None, "get:/healthz", True),
        ("get", "/api", None, "get:/api", True),
        ("post", "/logs", None, "post:/logs", False),
        ("watch", "/api/v1/pods?watch=1", {"resource": "pods"}, "watch:pods", True),
        ("create", "/api/v1/x", {"resource": "pods", "subresource": "exec"}, "create:pods/exec", False),
        ("deletecollection", "/api/v1/x", {"resource": "pods"}, "deletecollection:pods", False),
    ],
)
def test_actions(verb: str, uri: str, ref: dict | None, action: str, read_only: bool) -> None:
    event = base_event(verb=verb, requestURI=uri, objectRef=ref)
    if ref is None:
        del event["objectRef"]
    fields(one(event), action=action, read_only=read_only)


def test_source_ip_forms() -> None:
    fields(one(base_event(sourceIPs=["::ffff:10.9.8.7", "10.0.0.1"])), source_ip="10.9.8.7", source_ip_raw=None)
    fields(one(base_event(sourceIPs=["not-an-ip"])), source_ip=None, source_ip_raw="not-an-ip")
    fields(one(base_event(sourceIPs=[])), source_ip=None, source_ip_raw=None)


# --- GKE ---------------------------------------------------------------------------------------


def test_gke_entries() -> None:
    docs = lines(OWN / "gke-audit.jsonl")
    get, denied, token, exec_, crb, ns, scale = (one(d) for d in docs)
    fields(get, tenant="prod-eu", region="europe-west1", action="get:secrets", resource="stripe-keys", namespace="payments")
    fields(get, principal_type="serviceaccount", token_kind="legacy", stage="ResponseComplete", read_only=True)
    fields(denied, outcome="failure", status_code=403, error_code="Forbidden", read_only=True, resource=None)
    fields(token, action="create:serviceaccounts/token", lineage_kind="issued", lineage_token="9e8d7c6b-5a49-4382-a716-0f1e2d3c4b5a")
    fields(exec_, action="create:pods/exec", resource="api-7d9f8c6b5-x2k4q", namespace="payments")
    fields(crb, action="create:clusterrolebindings", resource="ci-admin", namespace=None)
    fields(ns, action="get:namespaces", resource="payments", namespace="payments")
    fields(scale, action="patch:deployments/scale", resource="api", namespace="payments")


def test_gke_long_running_first_entry_is_an_early_stage() -> None:
    doc = lines(OWN / "gke-audit.jsonl")[3]
    doc["operation"]["last"] = False
    assert one(doc)["stage"] == "ResponseStarted"


def test_gke_unknown_grpc_code_and_missing_principal() -> None:
    doc = lines(OWN / "gke-audit.jsonl")[0]
    doc["protoPayload"]["status"] = {"code": 99}
    fields(one(doc), outcome="failure", status_code=None, error_code="grpc-99")
    del doc["protoPayload"]["authenticationInfo"]
    _, quarantined, _ = run(doc)
    assert quarantined[0][:2] == ("missing-field", "protoPayload.authenticationInfo.principalEmail is missing")


# --- envelopes -----------------------------------------------------------------------------------


def test_eventlist_quarantines_one_bad_item_alone() -> None:
    events, quarantined, _ = run(orjson.loads((OWN / "eventlist.json").read_bytes()))
    assert [e["event_id"][-1] for e in events] == ["1", "2"]
    assert [(q[0], q[1], q[2]) for q in quarantined] == [("missing-field", "user.username is missing", "t:1#2")]


def test_cloudwatch_base64_gzip_line_is_decoded() -> None:
    n = Normalizer()
    for doc in read_documents(str(OWN / "eks-cloudwatch-subscription.b64")):
        n.feed(doc.data, doc.origin)
    events = n.take()
    assert dict(n.ctx.skipped) == {"cloudwatch-control-message": 1}
    assert len(events) == 1 and events[0]["tenant"] == "prod-west"
    assert events[0]["origin"].endswith("eks-cloudwatch-subscription.b64:2#0")


@pytest.mark.parametrize(
    "payload, reason",
    [
        ({"messageType": "DATA_MESSAGE", "logGroup": "/aws/eks/x/cluster", "logStream": "authenticator-abc", "logEvents": []}, "skip"),
        ({"messageType": "DATA_MESSAGE", "logGroup": "/aws/eks/x/cluster", "logStream": "kube-apiserver-abc", "logEvents": []}, "skip"),
        ({"messageType": "CONTROL_MESSAGE", "logEvents": []}, "skip"),
        ({"messageType": "NEW", "logEvents": []}, "bad-field"),
        ({"messageType": "DATA_MESSAGE", "logEvents": {}}, "bad-field"),
        ({"messageType": "DATA_MESSAGE", "logEvents": None}, "missing-field"),
    ],
)
def test_cloudwatch_payload_edges(payload: dict, reason: str) -> None:
    events, quarantined, n = run(payload)
    assert events == []
    if reason == "skip":
        assert quarantined == [] and sum(n.ctx.skipped.values()) == 1
    else:
        assert [q[0] for q in quarantined] == [reason]


def test_cloudwatch_custom_log_group_has_no_tenant() -> None:
    payload = {
        "messageType": "DATA_MESSAGE",
        "logGroup": "/shipping/k8s-audit",
        "logStream": "audit",
        "logEvents": [{"id": "1", "timestamp": 1, "message": orjson.dumps(base_event()).decode()}],
    }
    events, _, _ = run(payload)
    assert events[0]["tenant"] is None


def test_aks_records_batch() -> None:
    events, quarantined, _ = run(orjson.loads((OWN / "aks-kube-audit-records.json").read_bytes()))
    assert [e["tenant"] for e in events] == ["prod-aks-weu", "prod-aks-weu"]
    assert [(q[0], q[2]) for q in quarantined] == [("bad-field", "t:1#2")]


def test_aks_tenant_falls_back_to_resource_id() -> None:
    record = lines(PUBLIC / "k8s" / "elastic-test-kube-audit.log")[0]
    record["resourceId"] = "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG"
    assert one(record)["tenant"] == "/subscriptions/x/resourcegroups/rg"
    del record["resourceId"]
    assert one(record)["tenant"] is None


def test_four_stages_dedup_to_response_complete() -> None:
    n = Normalizer()
    for doc in read_documents(str(OWN / "stages.jsonl")):
        n.feed(doc.data, doc.origin)
    raw = n.take()
    assert [e["stage"] for e in raw] == ["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"]
    assert raw[0]["outcome"] is None and raw[3]["outcome"] == "failure"
    dedup = StageDeduper()
    kept = dedup.push(raw) + dedup.flush()
    assert [e["stage"] for e in kept] == ["ResponseComplete"] and dedup.duplicates == 3
    assert kept[0]["outcome"] == "success"


# --- rejects -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, reason, detail",
    [
        ({"user": {"groups": []}}, "missing-field", "user.username is missing"),
        ({"user": None}, "missing-field", "user.username is missing"),
        ({"user": {"username": ["a"]}}, "bad-field", "user.username has type list, expected text"),
        ({"user": "alice"}, "bad-field", "user has type str, expected an object"),
        ({"auditID": None}, "missing-field", "auditID is missing"),
        ({"verb": None}, "missing-field", "verb is missing"),
        ({"sourceIPs": "1.2.3.4"}, "bad-field", "sourceIPs has type str, expected a list"),
        ({"sourceIPs": [{"ip": "1.2.3.4"}]}, "bad-field", "sourceIPs[0] has type dict, expected text"),
        ({"objectRef": ["pods"]}, "bad-field", "objectRef has type list, expected an object"),
        ({"objectRef": None, "requestURI": None}, "missing-field", "objectRef.resource and requestURI are both missing"),
        ({"responseStatus": {"code": "200"}}, "bad-field", "responseStatus.code has type str, expected an HTTP status code"),
        ({"responseStatus": {"code": 10**12}}, "bad-field", "responseStatus.code has type int, expected an HTTP status code"),
        ({"requestReceivedTimestamp": "yesterday"}, "bad-timestamp", "requestReceivedTimestamp='yesterday' is not an ISO 8601 time"),
        ({"requestReceivedTimestamp": 10**30}, "bad-timestamp", "requestReceivedTimestamp=1000000000000000000000000000000 *"),
        ({"annotations": "x"}, "bad-field", "annotations has type str, expected an object"),
        (
            {"user": {"username": "system:serviceaccount:a:b", "extra": {"authentication.kubernetes.io/credential-id": [7.5]}}},
            "bad-field",
            "user.extra['authentication.kubernetes.io/credential-id'] has type float, expected a list of text",
        ),
    ],
)
def test_rejects_say_where_and_what(change: dict, reason: str, detail: str) -> None:
    events, quarantined, _ = run(base_event(**change))
    assert events == []
    if detail.endswith("*"):  # the wording is base.parse_ts's; only where and what is pinned here
        assert [(q[0], q[1][: len(detail) - 1]) for q in quarantined] == [(reason, detail[:-1])]
    else:
        assert [(q[0], q[1]) for q in quarantined] == [(reason, detail)]


def test_falco_malformed_kind_is_unknown_shape() -> None:
    _, quarantined, _ = run(lines(PUBLIC / "k8s" / "falco-fal_01_003.json")[0])
    assert quarantined[0][0] == "unknown-shape"


# --- secrets never leak -----------------------------------------------------------------------------

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
FAKE_SECRETS = ("FAKE-PASSWORD-hunter2-not-real", "FAKE-BEARER-0123456789abcdef")


def _as_text(raw: Any) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        return raw
    return orjson.dumps(raw).decode()


def _secret_docs() -> list[Any]:
    """Raw documents (bytes) holding token material: every own sample file plus envelopes that
    double-encode a secret-bearing event, some of them unusable so they reach quarantine."""
    docs: list[Any] = []
    for path in OWN_FILES:
        docs.extend(d.data for d in read_documents(str(path)))
    token_docs = lines(OWN / "token-secrets.jsonl")
    review = token_docs[2]
    assert JWT.search(orjson.dumps(review).decode())  # the sample really holds a JWT
    no_user = token_docs[4]
    bearer = base_event(annotations={"note": "Authorization: Bearer " + FAKE_SECRETS[1]})
    bearer["user"] = {}
    for event in (review, no_user, bearer):
        message = orjson.dumps(event).decode()
        docs.append(orjson.dumps({"messageType": "DATA_MESSAGE", "logGroup": "/aws/eks/c/cluster", "logStream": "kube-apiserver-audit-1",
                                  "logEvents": [{"id": "1", "timestamp": 1, "message": message}, {"id": "2", "timestamp": 2, "message": message[:-3]}]}))
        docs.append(orjson.dumps({"category": "kube-audit", "resourceId": "/x/managedClusters/c", "properties": {"log": message}}))
        docs.append(orjson.dumps({"category": "kube-audit", "resourceId": "/x/managedClusters/c", "properties": {"log": message[:-3]}}))
        gz = base64.b64encode(gzip.compress(orjson.dumps({"messageType": "DATA_MESSAGE", "logGroup": "/aws/eks/c/cluster",
                                                          "logEvents": [{"message": message}]})))
        docs.append(gz)
    return docs


def test_no_secret_reaches_events_or_quarantine() -> None:
    quarantined: list[str] = []
    n = Normalizer(on_quarantine=lambda reason, detail, origin, raw: quarantined.append(detail + "\n" + clip(_as_text(raw))))
    for index, raw in enumerate(_secret_docs()):
        n.feed(raw, f"s:{index}")
    events = n.take()
    assert len(events) > 20 and len(quarantined) >= 8
    assert "internal-error" not in n.ctx.quarantined
    texts = [v for e in events for v in e.values() if isinstance(v, str)] + quarantined
    for text in texts:
        assert not JWT.search(text), text
        for secret in FAKE_SECRETS:
            assert secret not in text, text
    # identifiers do survive
    assert any(e["lineage_token"] == "0f6c1e1a-3d5b-4c7e-9f11-a2b3c4d5e6f7" for e in events)


def test_event_values_are_identifiers_not_dumps() -> None:
    for path in OWN_FILES + PUBLIC_K8S:
        n = Normalizer()
        for doc in read_documents(str(path)):
            n.feed(doc.data, doc.origin)
        for event in n.take():
            for key, value in event.items():
                if isinstance(value, str) and key not in ("user_agent", "origin"):
                    assert "{" not in value and "\n" not in value, (key, value)


# --- property tests ------------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


def _samples() -> list[Any]:
    samples: list[Any] = []
    for path in PUBLIC_K8S + OWN_FILES:
        for doc in read_documents(str(path)):
            try:
                samples.append(orjson.loads(doc.data))
            except orjson.JSONDecodeError:
                pass
    # envelopes whose inner JSON is text get their decoded form too, so mutations reach inside
    for sample in list(samples):
        if isinstance(sample, dict) and isinstance(sample.get("properties"), dict) and isinstance(sample["properties"].get("log"), str):
            inner = copy.deepcopy(sample)
            try:
                inner["properties"]["log"] = orjson.loads(inner["properties"]["log"])
            except orjson.JSONDecodeError:
                continue
            samples.append(inner)
    return [s for s in samples if s != {"kind": 0}]


SAMPLES = _samples()


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, prefix + (key,)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, prefix + (index,)))
    return out


def _check(doc: Any) -> None:
    n = Normalizer()
    n.feed_document(doc, "x:1")
    assert n.ctx.quarantined["internal-error"] == 0, dict(n.ctx.quarantined)
    events = n.take()
    for event in events:
        assert tuple(event) == FIELDS
        assert isinstance(event["ts"], int) and not isinstance(event["ts"], bool)
        assert event["source"] in SOURCES  # a mutated envelope may now route to another family
        assert isinstance(event["principal"], str) and event["principal"]
        assert isinstance(event["token_id"], str) and event["token_id"]
    to_table(events)  # every value fits its Arrow column


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_arbitrary_json_never_raises(doc: Any) -> None:
    _check(doc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON.map(lambda v: {"kind": "Event", "auditID": "a", **(v if isinstance(v, dict) else {"user": v})}))
def test_arbitrary_event_like_json_never_raises(doc: Any) -> None:
    _check(doc)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_samples_never_raise(data: st.DataObject) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(SAMPLES)))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON)
    _check(doc)


EVENTS = [s for s in SAMPLES if isinstance(s, dict) and "auditID" in s and "protoPayload" not in s]


def _wrap(event: Any, how: str) -> Any:
    text = orjson.dumps(event).decode()
    if how == "cloudwatch":
        return {"messageType": "DATA_MESSAGE", "logGroup": "/aws/eks/c/cluster", "logStream": "kube-apiserver-audit-1",
                "logEvents": [{"id": "1", "timestamp": 1, "message": text}]}
    if how == "aks-string":
        return {"category": "kube-audit", "resourceId": "/x/managedClusters/c", "properties": {"log": text}}
    if how == "aks-object":
        return {"category": "kube-audit-admin", "resourceId": "/x/managedClusters/c", "properties": {"log": event}}
    return {"kind": "EventList", "items": [event, event]}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_events_inside_envelopes_never_raise(data: st.DataObject) -> None:
    event = copy.deepcopy(data.draw(st.sampled_from(EVENTS)))
    paths = [p for p in _paths(event) if p]
    path = data.draw(st.sampled_from(paths))
    parent = event
    for step in path[:-1]:
        parent = parent[step]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(JSON)
    try:
        doc = _wrap(event, data.draw(st.sampled_from(["cloudwatch", "aks-string", "aks-object", "eventlist"])))
    except orjson.JSONEncodeError:  # an integer too big for JSON text
        return
    _check(doc)


def test_gke_entry_from_bigquery_export_with_sanitized_labels() -> None:
    """The GCP module hands BigQuery rows of k8s.io audit over as LogEntries; their label keys
    were sanitized by the export."""
    doc = lines(OWN / "gke-audit.jsonl")[2]
    doc["labels"] = {"authentication_kubernetes_io_issued_credential_id": "JTI=9e8d7c6b-5a49-4382-a716-0f1e2d3c4b5a"}
    doc["timestamp"] = "2025-04-01 08:00:02.5 UTC"
    fields(one(doc), lineage_token="9e8d7c6b-5a49-4382-a716-0f1e2d3c4b5a", ts=1743494402500000)


def test_gke_row_of_the_bigquery_export_end_to_end() -> None:
    row = {"insertId": "g1", "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity", "timestamp": "2024-01-01T00:00:00Z",
           "resource": {"type": "k8s_cluster", "labels": {"project_id": "p", "cluster_name": "c1", "location": "us-east1"}},
           "protopayload_auditlog": {"service_name": "k8s.io", "method_name": "io.k8s.core.v1.secrets.get",
                                     "resource_name": "core/v1/namespaces/default/secrets/db",
                                     "authentication_info": {"principal_email": "system:serviceaccount:default:app"}}}
    fields(one(row), source="k8s", tenant="c1", event_id="g1", action="get:secrets", resource="db", namespace="default",
           principal="system:serviceaccount:default:app", outcome=None)
