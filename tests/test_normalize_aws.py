"""AWS CloudTrail normalizer: golden files, identity types, lineage, secrets, and fuzzing."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.events import FIELDS, to_table
from detector.normalize import Normalizer
from detector.normalize import aws
from detector.normalize.base import Context, Rejected, Skipped
from detector.quarantine import raw_text
from detector.redact import clip
from golden import FIXTURES, PUBLIC, check_golden

OWN = FIXTURES / "aws"
ACCT = "111122223333"

# Files the current dispatcher routes to us; the other two own fixtures (a whole LookupEvents
# response and a digest file) need a shapes.py route and are tested by calling aws directly.
PUBLIC_FILES = [
    "plaso-aws_cloudtrail.jsonl",
    "c2s-secretsmanager-retrieve-secrets.json",
    "c2s-ec2-user-data-malformed.json",
]
OWN_FILES = [
    f"{ACCT}_CloudTrail_us-west-2_20240318T0830Z_irsa.json.gz",
    f"{ACCT}_CloudTrail-Insight_eu-west-1_20240318T0910Z_insight.json.gz",
    "bare-array.json",
    "eventbridge.jsonl",
    "iam-create-access-key.json",
    "aws-service.json",
    "root-console-login.json",
    "access-denied.json",
    "source-ips.jsonl",
    "missing-user-identity.json",
    "bad-event-time.json",
]
LOOKUP_RESPONSE = OWN / "lookup-events-response.json"
DIGEST = OWN / f"{ACCT}_CloudTrail-Digest_us-west-2_20240318T090000Z.json.gz"


# --- helpers -----------------------------------------------------------------------------------


def run(doc: Any) -> tuple[list[dict], list[tuple[str, str, str, Any]], dict[str, int]]:
    """Feed one parsed document through the real dispatcher."""
    quarantined: list[tuple[str, str, str, Any]] = []
    n = Normalizer(on_quarantine=lambda *a: quarantined.append(a))
    n.feed_document(doc, "t:1")
    return n.take(), quarantined, dict(n.ctx.skipped)


def call(handler, doc: Any) -> tuple[list[dict], list[tuple], dict[str, int]]:
    """Call one aws entry point directly, as the dispatcher would (Rejected/Skipped caught)."""
    quarantined: list[tuple] = []
    ctx = Context(on_quarantine=lambda *a: quarantined.append(a))
    ctx.origin = "t:1"
    try:
        handler(doc, ctx)
    except Rejected as exc:
        ctx.reject(exc.reason, exc.detail, doc)
    except Skipped as exc:
        ctx.skip(exc.reason)
    return ctx.take(), quarantined, dict(ctx.skipped)


def one(doc: Any) -> dict:
    events, quarantined, skipped = run(doc)
    assert not quarantined and not skipped, (quarantined, skipped)
    assert len(events) == 1
    return events[0]


def record(identity: Any = None, **over: Any) -> dict:
    rec = {
        "eventVersion": "1.08",
        "userIdentity": identity
        if identity is not None
        else {
            "type": "IAMUser",
            "principalId": "AIDAQFAKEUSERID4EXAMP",
            "arn": f"arn:aws:iam::{ACCT}:user/alice",
            "accountId": ACCT,
            "accessKeyId": "AKIAQFAKEALICE4EXAMP",
            "userName": "alice",
        },
        "eventTime": "2024-03-18T12:00:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "ListBuckets",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.9",
        "userAgent": "aws-cli/2.15.30",
        "requestParameters": None,
        "responseElements": None,
        "requestID": "req-1",
        "eventID": "5eed0000-0000-4000-8000-0000000000aa",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCT,
    }
    rec.update(over)
    return rec


def assert_event_contract(event: dict) -> None:
    assert set(event) == set(FIELDS)
    assert type(event["ts"]) is int
    assert event["source"] == "aws"
    assert isinstance(event["principal"], str) and event["principal"]
    assert isinstance(event["token_id"], str) and event["token_id"]
    assert event["outcome"] in ("success", "failure")
    assert event["read_only"] in (True, False, None)
    for name in FIELDS:
        if name not in ("ts", "status_code", "read_only"):
            assert event[name] is None or isinstance(event[name], str), name


# --- golden files ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PUBLIC_FILES)
def test_golden_public(name: str) -> None:
    check_golden(PUBLIC / "cloudtrail" / name, "aws")


@pytest.mark.parametrize("name", OWN_FILES)
def test_golden_own(name: str) -> None:
    check_golden(OWN / name, "aws")


def test_golden_spot_checks() -> None:
    """What the golden files were checked for by hand, kept as executable statements."""
    plaso = check_golden(PUBLIC / "cloudtrail" / "plaso-aws_cloudtrail.jsonl", "aws")
    first = plaso["events"][0]
    assert first["ts"] == "2022-02-07T22:23:37.000000Z"  # inner eventTime, not the +11:00 outer one
    assert first["principal"] == "arn:aws:iam::012345678901:user/fakeusername"
    assert first["token_id"] == "0123456789ABCDEFGHIJ"
    assert first["token_kind"] == "session"  # sessionCredentialFromConsole: "true"
    assert first["action"] == "ec2:DescribeInstances" and first["resource"] == "i-01234567890123456"
    assert plaso["skipped"] == {"aws-service-event": 1}  # SharedSnapshotVolumeCreated

    c2s = check_golden(PUBLIC / "cloudtrail" / "c2s-secretsmanager-retrieve-secrets.json", "aws")
    assert len(c2s["events"]) == 10
    ev = c2s["events"][0]
    assert ev["principal"] == "arn:aws:iam::677301038893:role/account-admin"
    assert "christophe" not in json.dumps(c2s["events"])  # the role-session name stays out
    assert ev["source_ip"] == "62.167.105.104"  # from network.client.ip (no sourceIPAddress)
    assert ev["user_agent"].startswith("stratus-red-team_")  # from http.useragent

    malformed = check_golden(PUBLIC / "cloudtrail" / "c2s-ec2-user-data-malformed.json", "aws")
    assert malformed["events"] == []
    assert [q["reason"] for q in malformed["quarantined"]] == ["invalid-json"]

    irsa = check_golden(OWN / OWN_FILES[0], "aws")
    exchange = irsa["events"][0]
    assert exchange["principal"] == "system:serviceaccount:payments:billing-api"
    assert exchange["lineage_kind"] == "issued"
    assert exchange["lineage_principal"] == f"arn:aws:iam::{ACCT}:role/billing-api-irsa"
    assert exchange["lineage_token"] == "ASIAQFAKEIRSA4EXAMPL"
    assert {e["token_id"] for e in irsa["events"][1:]} == {"ASIAQFAKEIRSA4EXAMPL"}


# --- shapes ------------------------------------------------------------------------------------


def test_single_record_bare_array_and_records_wrapper_agree() -> None:
    rec = record()
    single = one(rec)
    events, _, _ = run([rec])
    wrapped, _, _ = run({"Records": [rec]})
    for other in (events[0], wrapped[0]):
        assert {k: v for k, v in other.items() if k != "origin"} == {
            k: v for k, v in single.items() if k != "origin"
        }
    assert wrapped[0]["origin"] == "t:1#0"


def test_lookup_event_string_and_dict() -> None:
    inner = record(eventID="inner-id")
    item = {"EventId": "outer-id", "EventName": "ListBuckets", "CloudTrailEvent": json.dumps(inner)}
    assert one(item)["event_id"] == "inner-id"
    assert one({**item, "CloudTrailEvent": inner})["action"] == "s3:ListBuckets"
    # an inner record without eventID falls back to the item's EventId
    del inner["eventID"]
    assert one({**item, "CloudTrailEvent": json.dumps(inner)})["event_id"] == "outer-id"


def test_lookup_event_invalid_json_is_quarantined() -> None:
    events, quarantined, _ = run({"EventId": "x", "CloudTrailEvent": '{"eventVersion": "1.08", '})
    assert events == [] and [q[0] for q in quarantined] == ["invalid-json"]
    assert "CloudTrailEvent" in quarantined[0][1]


@pytest.mark.parametrize(
    "value, reason",
    [(None, "missing-field"), (42, "bad-field"), ("[1, 2]", "bad-field"), ('"text"', "bad-field")],
)
def test_lookup_event_bad_payloads(value: Any, reason: str) -> None:
    _, quarantined, _ = call(aws.normalize_lookup_event, {"EventId": "x", "CloudTrailEvent": value})
    assert [q[0] for q in quarantined] == [reason]


def test_lookup_response_each_item_alone() -> None:
    doc = json.loads(LOOKUP_RESPONSE.read_text())
    events, quarantined, _ = call(aws.normalize_lookup_response, doc)
    assert [e["action"] for e in events] == ["iam:CreateAccessKey", "ec2:DescribeInstances"]
    assert [e["origin"] for e in events] == ["t:1#0", "t:1#2"]
    assert [(q[0], q[2]) for q in quarantined] == [("invalid-json", "t:1#1")]
    assert events[0]["lineage_token"] == "AKIAQFAKENEWKEY5EXAM"


def test_digest_file_is_skipped() -> None:
    doc = orjson.loads(gzip.decompress(DIGEST.read_bytes()))
    assert call(aws.normalize_record, doc)[2] == {"cloudtrail-digest": 1}


def test_insight_in_a_bare_record_is_skipped() -> None:
    insight = {"eventVersion": "1.08", "eventTime": "2024-03-18T09:00:00Z", "eventID": "i",
               "eventType": "AwsCloudTrailInsight", "insightDetails": {"state": "Start"}}
    assert call(aws.normalize_record, insight)[2] == {"aws-cloudtrail-insight": 1}


def test_eventbridge() -> None:
    rec = record(eventID=None)
    envelope = {"version": "0", "id": "eb-id", "detail-type": "AWS API Call via CloudTrail",
                "source": "aws.s3", "account": ACCT, "time": "2024-03-18T12:00:00Z", "detail": rec}
    assert one(envelope)["event_id"] == "eb-id"  # no eventID in detail: the envelope id
    assert run({**envelope, "detail-type": "EC2 Instance State-change Notification"})[2] == {
        "eventbridge-non-cloudtrail": 1
    }
    _, quarantined, _ = run({**envelope, "detail": "oops"})
    assert [q[0] for q in quarantined] == ["bad-field"]
    _, quarantined, _ = run({**envelope, "detail-type": ["x"]})
    assert [q[0] for q in quarantined] == ["bad-field"]


def test_records_with_a_non_object_item() -> None:
    events, quarantined, _ = run({"Records": [record(), "junk", None]})
    assert len(events) == 1
    assert [(q[0], q[2]) for q in quarantined] == [("not-an-object", "t:1#1"), ("not-an-object", "t:1#2")]


# --- fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, name, action",
    [
        ("iam.amazonaws.com", "CreateAccessKey", "iam:CreateAccessKey"),
        ("sts.amazonaws.com", "AssumeRoleWithWebIdentity", "sts:AssumeRoleWithWebIdentity"),
        ("s3.amazonaws.com", "GetObject", "s3:GetObject"),
        ("signin.amazonaws.com", "ConsoleLogin", "signin:ConsoleLogin"),
        ("sts.amazonaws.com.cn", "GetCallerIdentity", "sts:GetCallerIdentity"),
        ("custom-source", "Thing", "custom-source:Thing"),
    ],
)
def test_action(source: str, name: str, action: str) -> None:
    assert one(record(eventSource=source, eventName=name))["action"] == action


@pytest.mark.parametrize(
    "address, ip, raw",
    [
        ("AWS Internal", None, "AWS Internal"),
        ("ec2.amazonaws.com", None, "ec2.amazonaws.com"),
        ("035.249.253.232", "35.249.253.232", None),
        ("2001:DB8:0:0:8:800:200C:417A", "2001:db8::8:800:200c:417a", None),
        ("::ffff:10.1.2.3", "10.1.2.3", None),
        ("", None, None),
    ],
)
def test_source_ip(address: str, ip: str | None, raw: str | None) -> None:
    ev = one(record(sourceIPAddress=address))
    assert (ev["source_ip"], ev["source_ip_raw"]) == (ip, raw)


def test_shipper_fallbacks() -> None:
    rec = record(http={"useragent": "Boto3/1.34"}, network={"client": {"ip": "203.0.113.9"}})
    del rec["userAgent"], rec["sourceIPAddress"]
    ev = one(rec)
    assert (ev["user_agent"], ev["source_ip"]) == ("Boto3/1.34", "203.0.113.9")


@pytest.mark.parametrize(
    "value, name, expected",
    [
        (True, "PutObject", True),
        ("false", "GetObject", False),
        ("true", "PutObject", True),
        (None, "GetObject", True),
        (None, "ListBuckets", True),
        (None, "DescribeInstances", True),
        (None, "HeadObject", True),
        (None, "LookupEvents", True),
        (None, "DeleteBucket", False),
        (None, "ConsoleLogin", None),
        (None, "Getaway", None),  # not the Get prefix of a CamelCase name
    ],
)
def test_read_only(value: Any, name: str, expected: bool | None) -> None:
    rec = record(eventName=name, readOnly=value)
    if value is None:
        del rec["readOnly"]
    assert one(rec)["read_only"] is expected


def test_outcome_and_error_code() -> None:
    denied = one(record(errorCode="AccessDenied", errorMessage="User: x is not authorized"))
    assert (denied["outcome"], denied["error_code"], denied["status_code"]) == ("failure", "AccessDenied", None)
    ok = one(record())
    assert (ok["outcome"], ok["error_code"]) == ("success", None)


@pytest.mark.parametrize(
    "params, resources, expected",
    [
        ({"bucketName": "b", "key": "k/x.csv"}, None, "b/k/x.csv"),
        ({"bucketName": "b"}, None, "b"),
        ({"userName": "bob"}, None, "bob"),
        ({"roleArn": "arn:aws:iam::1:role/r", "roleSessionName": "s", "policy": "{\"Statement\": []}"}, None, "arn:aws:iam::1:role/r"),
        ({"secretId": "prod/db"}, None, "prod/db"),
        ({"instancesSet": {"items": [{"instanceId": "i-1"}]}}, None, "i-1"),
        ({"policyDocument": "{...}", "userData": "c2VjcmV0"}, None, None),
        ({"userName": "bob"}, [{"ARN": "arn:aws:iam::1:user/bob", "type": "AWS::IAM::User"}], "arn:aws:iam::1:user/bob"),
        (["not", "a", "dict"], None, None),
    ],
)
def test_resource(params: Any, resources: Any, expected: str | None) -> None:
    rec = record(requestParameters=params)
    if resources is not None:
        rec["resources"] = resources
    assert one(rec)["resource"] == expected


def test_tenant() -> None:
    assert one(record())["tenant"] == ACCT
    rec = record()
    del rec["recipientAccountId"]
    assert one(rec)["tenant"] == ACCT  # userIdentity.accountId
    assert one(record(recipientAccountId=12345678901))["tenant"] == "012345678901"  # typed as a number


def test_subsecond_and_offset_times() -> None:
    assert one(record(eventTime="2024-03-18T12:00:00.5Z"))["ts"] == 1710763200_500000
    assert one(record(eventTime="2024-03-18T13:00:00+01:00"))["ts"] == 1710763200_000000


# --- identity types ----------------------------------------------------------------------------

ROLE = f"arn:aws:iam::{ACCT}:role/app"


def _assumed(**extra: Any) -> dict:
    ident = {
        "type": "AssumedRole",
        "principalId": "AROAQFAKEROLEID4EXAMP:session-1234",
        "arn": f"arn:aws:sts::{ACCT}:assumed-role/app/session-1234",
        "accountId": ACCT,
        "accessKeyId": "ASIAQFAKEAPP00004EXA",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAQFAKEROLEID4EXAMP", "arn": ROLE,
                              "accountId": ACCT, "userName": "app"},
            "attributes": {"creationDate": "2024-03-18T11:00:00Z", "mfaAuthenticated": "false"},
        },
    }
    ident.update(extra)
    return ident


IDENTITIES = {
    "iam-user-long-term-key": (
        {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCT}:user/alice", "accountId": ACCT,
         "accessKeyId": "AKIAQFAKEALICE4EXAMP", "userName": "alice"},
        (f"arn:aws:iam::{ACCT}:user/alice", "IAMUser", "AKIAQFAKEALICE4EXAMP", "access-key"),
    ),
    "iam-user-session-key": (
        {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCT}:user/alice", "accountId": ACCT,
         "accessKeyId": "ASIAQFAKEALICE4EXAMP", "userName": "alice"},
        (f"arn:aws:iam::{ACCT}:user/alice", "IAMUser", "ASIAQFAKEALICE4EXAMP", "session"),
    ),
    "iam-user-no-key": (
        {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCT}:user/alice", "accountId": ACCT, "accessKeyId": "",
         "userName": "alice"},
        (f"arn:aws:iam::{ACCT}:user/alice", "IAMUser", f"IAMUser:arn:aws:iam::{ACCT}:user/alice", None),
    ),
    "assumed-role": (
        _assumed(),
        (ROLE, "AssumedRole", "ASIAQFAKEAPP00004EXA", "session"),
    ),
    "assumed-role-without-session-issuer": (
        _assumed(sessionContext={"attributes": {}}),
        (ROLE, "AssumedRole", "ASIAQFAKEAPP00004EXA", "session"),
    ),
    "assumed-role-gov-partition-no-issuer": (
        _assumed(sessionContext=None, arn=f"arn:aws-us-gov:sts::{ACCT}:assumed-role/app/s"),
        (f"arn:aws-us-gov:iam::{ACCT}:role/app", "AssumedRole", "ASIAQFAKEAPP00004EXA", "session"),
    ),
    "web-identity-irsa": (
        {"type": "WebIdentityUser",
         "principalId": "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sts.amazonaws.com:system:serviceaccount:ns:sa",
         "userName": "system:serviceaccount:ns:sa", "identityProvider": "oidc.eks.eu-west-1.amazonaws.com/id/ABC"},
        ("system:serviceaccount:ns:sa", "WebIdentityUser", "web-identity:system:serviceaccount:ns:sa", "web-identity"),
    ),
    "web-identity-cognito-no-username": (
        {"type": "WebIdentityUser", "principalId": "cognito-identity.amazonaws.com:us-east-1:0000-fake:us-east-1:1111-fake",
         "identityProvider": "cognito-identity.amazonaws.com"},
        ("cognito-identity.amazonaws.com:us-east-1:0000-fake:us-east-1:1111-fake", "WebIdentityUser",
         "web-identity:cognito-identity.amazonaws.com:us-east-1:0000-fake:us-east-1:1111-fake", "web-identity"),
    ),
    "aws-service": (
        {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
        ("ec2.amazonaws.com", "AWSService", "service:ec2.amazonaws.com", "service"),
    ),
    "untyped-service": (
        {"accountId": ACCT, "invokedBy": "config.amazonaws.com"},
        ("config.amazonaws.com", "AWSService", "service:config.amazonaws.com", "service"),
    ),
    "root-console": (
        {"type": "Root", "principalId": ACCT, "arn": f"arn:aws:iam::{ACCT}:root", "accountId": ACCT, "accessKeyId": ""},
        (f"arn:aws:iam::{ACCT}:root", "Root", f"root:{ACCT}", "console"),
    ),
    "root-access-key": (
        {"type": "Root", "principalId": ACCT, "arn": f"arn:aws:iam::{ACCT}:root", "accountId": ACCT,
         "accessKeyId": "AKIAQFAKEROOTKEY4EXA"},
        (f"arn:aws:iam::{ACCT}:root", "Root", "AKIAQFAKEROOTKEY4EXA", "access-key"),
    ),
    "root-no-arn": (
        {"type": "Root", "accountId": ACCT, "accessKeyId": "ASIAQFAKEROOTSES4EXA"},
        (f"arn:aws:iam::{ACCT}:root", "Root", "ASIAQFAKEROOTSES4EXA", "session"),
    ),
    "federated-user": (
        {"type": "FederatedUser", "principalId": f"{ACCT}:bob", "arn": f"arn:aws:sts::{ACCT}:federated-user/bob",
         "accountId": ACCT, "accessKeyId": "ASIAQFAKEFEDERAT4EXA",
         "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": "AIDAQFAKEBROKER4EXAM",
                                              "arn": f"arn:aws:iam::{ACCT}:user/broker", "accountId": ACCT,
                                              "userName": "broker"}}},
        (f"arn:aws:iam::{ACCT}:user/broker", "FederatedUser", "ASIAQFAKEFEDERAT4EXA", "session"),
    ),
    "identity-center-user": (
        {"type": "IdentityCenterUser", "accountId": ACCT,
         "onBehalfOf": {"userId": "544894e8-80c1-707f-60e3-3ba6510dfac1",
                        "identityStoreArn": f"arn:aws:identitystore::{ACCT}:identitystore/d-9067642ac7"},
         "credentialId": "EXAMPLEfakeCredentialIdentifier0000"},
        ("544894e8-80c1-707f-60e3-3ba6510dfac1", "IdentityCenterUser", "EXAMPLEfakeCredentialIdentifier0000", "session"),
    ),
    "saml-user": (
        {"type": "SAMLUser", "principalId": "SAMLIdP:jane@example.com", "userName": "jane@example.com",
         "identityProvider": f"arn:aws:iam::{ACCT}:saml-provider/Okta"},
        ("jane@example.com", "SAMLUser", "SAMLUser:jane@example.com", None),
    ),
    "aws-account": (
        {"type": "AWSAccount", "principalId": "AROAQFAKEOTHERID4EXA:their-session", "accountId": "444455556666",
         "accessKeyId": "ASIAQFAKEOTHERAC4EXA"},
        ("AROAQFAKEOTHERID4EXA", "AWSAccount", "ASIAQFAKEOTHERAC4EXA", "session"),
    ),
    "aws-account-only-id": (
        {"type": "AWSAccount", "accountId": "444455556666"},
        ("444455556666", "AWSAccount", "AWSAccount:444455556666", None),
    ),
    "unknown": (
        {"type": "Unknown", "principalId": "fake-idc-principal", "accountId": ACCT, "userName": "jane"},
        ("jane", "Unknown", "Unknown:jane", None),
    ),
}


@pytest.mark.parametrize("case", sorted(IDENTITIES))
def test_identity(case: str) -> None:
    identity, expected = IDENTITIES[case]
    ev = one(record(identity))
    assert (ev["principal"], ev["principal_type"], ev["token_id"], ev["token_kind"]) == expected
    assert "session-1234" not in ev["principal"]


def test_iam_user_console_sign_in() -> None:
    ev = one(record({"type": "IAMUser", "arn": f"arn:aws:iam::{ACCT}:user/maria", "userName": "maria",
                     "accountId": ACCT}, eventSource="signin.amazonaws.com", eventName="ConsoleLogin",
                    responseElements={"ConsoleLogin": "Success"}))
    assert (ev["token_id"], ev["token_kind"]) == (f"IAMUser:arn:aws:iam::{ACCT}:user/maria", "console")


def test_failed_console_login_without_error_code() -> None:
    ev = one(record({"type": "Root", "arn": f"arn:aws:iam::{ACCT}:root", "accountId": ACCT},
                    eventSource="signin.amazonaws.com", eventName="ConsoleLogin",
                    errorMessage="Failed authentication", responseElements={"ConsoleLogin": "Failure"}))
    assert (ev["outcome"], ev["error_code"]) == ("failure", "Failed authentication")


@pytest.mark.parametrize(
    "over, reason",
    [
        ({"userIdentity": None}, "missing-field"),
        ({"userIdentity": ["x"]}, "bad-field"),
        ({"userIdentity": {"type": "IAMUser"}}, "missing-field"),
        ({"userIdentity": {"type": 7, "arn": "a"}}, "bad-field"),
        ({"userIdentity": {"type": "IAMUser", "arn": {"nested": 1}}}, "bad-field"),
        ({"eventTime": "2024-13-45T99:00:00Z"}, "bad-timestamp"),
        ({"eventTime": True}, "bad-timestamp"),
        ({"eventTime": 1e300}, "bad-timestamp"),
        ({"eventTime": None}, "missing-field"),
        ({"eventID": None}, "missing-field"),
        ({"eventName": None}, "missing-field"),
        ({"eventName": ["GetObject"]}, "bad-field"),
        ({"eventSource": 3}, "bad-field"),
        ({"sourceIPAddress": ["1.2.3.4"]}, "bad-field"),
        ({"userAgent": {"ua": 1}}, "bad-field"),
        ({"errorCode": {"code": 1}}, "bad-field"),
    ],
)
def test_rejected(over: dict, reason: str) -> None:
    rec = record(**over)
    if "userIdentity" in over and over["userIdentity"] is None:
        del rec["userIdentity"]
    events, quarantined, _ = run({"Records": [rec, record()]})
    assert len(events) == 1  # the good sibling still emits
    assert [(q[0], q[2]) for q in quarantined] == [(reason, "t:1#0")]
    assert quarantined[0][1]  # a detail that says what was wrong


def test_non_ascii_values() -> None:
    ev = one(record(userAgent="Mozilla/5.0 (Ünïcödé; 日本語)", requestParameters={"bucketName": "bücket"}))
    assert ev["user_agent"] == "Mozilla/5.0 (Ünïcödé; 日本語)" and ev["resource"] == "bücket"


# --- lineage -----------------------------------------------------------------------------------

FAKE_SESSION_TOKEN = "IQoJb3JpZ2luX2VjFAKEsessionTOKEN/forTESTSonly+notREAL00000000000000000000000000000=="
FAKE_SECRET_KEY = "FAKEsecretKEY/notREAL+forTESTSonly000009"
FAKE_JWT = (
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UifQ"
    ".eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bnM6c2EiLCJmYWtlIjp0cnVlfQ"
    ".ZmFrZS1zaWduYXR1cmUtbm90LXJlYWw"
)
FAKE_SAML = "PHNhbWxwOlJlc3BvbnNlIHhtbG5zOnNhbWxwPSJ1cm46RkFLRSI+RkFLRVNBTUw8L3NhbWxwOlJlc3BvbnNlPg=="
FAKE_PASSWORD = "Fake-Passw0rd-NotReal!"
SECRETS = (FAKE_SESSION_TOKEN, FAKE_SECRET_KEY, FAKE_JWT, FAKE_SAML, FAKE_PASSWORD, "FAKEbearer0123456789abcdef")


def _credentials(key: str = "ASIAQFAKENEWSESS4EXA") -> dict:
    return {"accessKeyId": key, "sessionToken": FAKE_SESSION_TOKEN, "secretAccessKey": FAKE_SECRET_KEY,
            "expiration": "Mar 18, 2024, 1:00:00 PM"}


def sts(name: str, identity: dict | None = None, params: dict | None = None, response: dict | None = None) -> dict:
    return record(identity, eventSource="sts.amazonaws.com", eventName=name, requestParameters=params,
                  responseElements=response)


def test_lineage_irsa() -> None:
    identity, _ = IDENTITIES["web-identity-irsa"]
    ev = one(sts("AssumeRoleWithWebIdentity", identity,
                 {"roleArn": ROLE, "roleSessionName": "s", "webIdentityToken": FAKE_JWT},
                 {"credentials": _credentials(), "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCT}:assumed-role/app/s"},
                  "subjectFromWebIdentityToken": "system:serviceaccount:ns:sa"}))
    assert (ev["lineage_kind"], ev["lineage_principal"], ev["lineage_token"]) == ("issued", ROLE, "ASIAQFAKENEWSESS4EXA")


def test_lineage_role_from_response_when_request_has_no_role_arn() -> None:
    ev = one(sts("AssumeRoleWithSAML", IDENTITIES["saml-user"][0], {"principalArn": "x", "SAMLAssertion": FAKE_SAML},
                 {"credentials": _credentials(), "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCT}:assumed-role/app/jane"}}))
    assert (ev["lineage_principal"], ev["lineage_token"]) == (ROLE, "ASIAQFAKENEWSESS4EXA")


@pytest.mark.parametrize("name", ["GetSessionToken", "GetFederationToken"])
def test_lineage_caller_sessions(name: str) -> None:
    ev = one(sts(name, None, {"durationSeconds": 3600, "name": "bob"}, {"credentials": _credentials()}))
    assert (ev["lineage_kind"], ev["lineage_principal"], ev["lineage_token"]) == (
        "issued", f"arn:aws:iam::{ACCT}:user/alice", "ASIAQFAKENEWSESS4EXA")


def test_lineage_assume_root() -> None:
    ev = one(sts("AssumeRoot", _assumed(), {"targetPrincipal": "444455556666", "taskPolicyArn": {"arn": "x"}},
                 {"credentials": _credentials()}))
    assert ev["lineage_principal"] == "arn:aws:iam::444455556666:root"


def test_lineage_create_access_key() -> None:
    response = {"accessKey": {"userName": "ci", "accessKeyId": "AKIAQFAKENEWKEY9EXAM", "status": "Active",
                              "secretAccessKey": FAKE_SECRET_KEY}}
    other = one(record(eventSource="iam.amazonaws.com", eventName="CreateAccessKey",
                       requestParameters={"userName": "ci"}, responseElements=response))
    assert (other["lineage_kind"], other["lineage_principal"], other["lineage_token"]) == (
        "issued", f"arn:aws:iam::{ACCT}:user/ci", "AKIAQFAKENEWKEY9EXAM")
    own = one(record(eventSource="iam.amazonaws.com", eventName="CreateAccessKey", requestParameters=None,
                     responseElements={"accessKey": {**response["accessKey"], "userName": "alice"}}))
    assert own["lineage_principal"] == f"arn:aws:iam::{ACCT}:user/alice"  # caller's own (possibly pathed) ARN


@pytest.mark.parametrize(
    "response",
    [
        None,
        {"credentials": None},
        {"credentials": {"sessionToken": FAKE_SESSION_TOKEN}},
        {"credentials": {"accessKeyId": FAKE_SECRET_KEY}},  # not key-id shaped: never copied
        {"credentials": ["ASIAQFAKENEWSESS4EXA"]},
    ],
)
def test_no_lineage_without_a_key_id(response: Any) -> None:
    ev = one(sts("AssumeRole", None, {"roleArn": ROLE}, response))
    assert ev["lineage_kind"] is ev["lineage_token"] is None


def test_no_lineage_on_failure() -> None:
    ev = one(record(eventSource="sts.amazonaws.com", eventName="AssumeRole", errorCode="AccessDenied",
                    requestParameters={"roleArn": ROLE}, responseElements={"credentials": _credentials()}))
    assert ev["lineage_kind"] is None and ev["outcome"] == "failure"


# --- secrets -----------------------------------------------------------------------------------


def _secret_records() -> list[dict]:
    """Records holding every kind of secret material CloudTrail (or a careless shipper) may carry."""
    irsa = sts("AssumeRoleWithWebIdentity", IDENTITIES["web-identity-irsa"][0],
               {"roleArn": ROLE, "roleSessionName": "s", "webIdentityToken": FAKE_JWT},
               {"credentials": _credentials(), "subjectFromWebIdentityToken": FAKE_JWT})
    saml = sts("AssumeRoleWithSAML", IDENTITIES["saml-user"][0], {"roleArn": ROLE, "SAMLAssertion": FAKE_SAML},
               {"credentials": _credentials()})
    session = sts("GetSessionToken", None, None, {"credentials": _credentials()})
    key = record(eventSource="iam.amazonaws.com", eventName="CreateAccessKey", requestParameters={"userName": "ci"},
                 responseElements={"accessKey": {"accessKeyId": "AKIAQFAKENEWKEY9EXAM", "secretAccessKey": FAKE_SECRET_KEY}})
    login = record(eventSource="iam.amazonaws.com", eventName="CreateLoginProfile",
                   requestParameters={"userName": "ci", "password": FAKE_PASSWORD})
    header = record(additionalEventData={"authorization": "Bearer FAKEbearer0123456789abcdef"},
                    requestParameters={"Authorization": "Bearer FAKEbearer0123456789abcdef"})
    return [irsa, saml, session, key, login, header]


def _all_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _all_strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _all_strings(v)]
    return []


def _assert_no_secret(texts: list[str]) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"secret leaked into {text[:120]!r}"
            assert secret[:24] not in text, f"secret prefix leaked into {text[:120]!r}"


def test_secrets_never_reach_events_or_quarantine() -> None:
    good = _secret_records()
    bad = [{**r, "eventTime": "not a time"} for r in good]
    docs: list[Any] = [
        {"Records": good + bad},
        [*good, *bad],
        *[{"detail-type": "AWS API Call via CloudTrail", "id": "x", "detail": r} for r in good + bad],
        *[{"EventId": "x", "CloudTrailEvent": json.dumps(r)} for r in good + bad],
        # truncated inner JSON: the quarantined raw is the outer item with the secret still inside
        *[{"EventId": "x", "CloudTrailEvent": json.dumps(r)[:-1]} for r in good],
    ]
    quarantined: list[tuple] = []
    n = Normalizer(on_quarantine=lambda *a: quarantined.append(a))
    for i, doc in enumerate(docs):
        n.feed(orjson.dumps(doc), f"t:{i}")
    events = n.take()
    assert len(events) == 4 * len(good)
    assert sum(1 for e in events if e["lineage_token"]) == 4 * 4
    assert len(quarantined) == 4 * len(bad) + len(good)  # each bad record alone, plus each truncated item
    _assert_no_secret(_all_strings(events))
    for reason, detail, origin, raw in quarantined:
        _assert_no_secret([clip(detail, 500), clip(raw_text(raw), 2048)])


def test_fixture_secrets_do_not_leak() -> None:
    """The fake secrets planted in the fixture files never appear in their golden outputs."""
    planted = ("IQoJb3JpZ2luX2VjEFAKE", "wJalrXUtnFEMI/K7MDENG", "FAKEsecretKEY", "FwoGZXIvYXdzEFAKE",
               "IQoJb3JpZ2luX2VjFAKElambda")
    raw = b"".join(
        gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        for data in (path.read_bytes() for path in OWN.iterdir())
    ).decode()
    assert all(secret in raw for secret in planted)  # the check below is not vacuous
    for name in OWN_FILES:
        text = json.dumps(check_golden(OWN / name, "aws"))
        for secret in planted:
            assert secret not in text, (name, secret)


# --- property tests ----------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
KEYS = ["eventSource", "eventName", "eventTime", "eventID", "userIdentity", "Records", "CloudTrailEvent",
        "detail-type", "detail", "type", "arn", "accessKeyId", "sessionContext", "sessionIssuer", "invokedBy",
        "responseElements", "credentials", "requestParameters", "readOnly", "sourceIPAddress", "eventType",
        "userName", "recipientAccountId", "errorCode", "resources", "ARN", "accessKey", "http", "network"]
cloudtrailish = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    max_leaves=20,
)


def _sample_records() -> list[dict]:
    samples: list[dict] = []
    for line in (PUBLIC / "cloudtrail" / "plaso-aws_cloudtrail.jsonl").read_text().splitlines():
        samples.append(json.loads(json.loads(line)["CloudTrailEvent"]))
    samples += json.loads((PUBLIC / "cloudtrail" / "c2s-secretsmanager-retrieve-secrets.json").read_text())["Records"][:2]
    samples += json.loads(gzip.decompress((OWN / OWN_FILES[0]).read_bytes()))["Records"]
    samples += json.loads((OWN / "bare-array.json").read_text())
    samples.append(json.loads((OWN / "iam-create-access-key.json").read_text()))
    samples += json.loads((OWN / "root-console-login.json").read_text())["Records"]
    samples += json.loads((OWN / "aws-service.json").read_text())["Records"]
    samples += [json.loads(l)["detail"] for l in (OWN / "eventbridge.jsonl").read_text().splitlines()]
    samples += [record(identity) for identity, _ in IDENTITIES.values()]
    samples += _secret_records()
    return samples


SAMPLES = _sample_records()
_DELETE = object()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value[:3]):
            found += _paths(child, prefix + (index,))
    return found


@st.composite
def mutated_records(draw) -> dict:
    rec = copy.deepcopy(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(rec)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = rec
        for step in path[:-1]:
            parent = parent[step]
        replacement = draw(st.just(_DELETE) | json_values)
        if replacement is _DELETE:
            del parent[path[-1]]
        else:
            parent[path[-1]] = replacement
    return rec


def _wrap(draw, rec: Any) -> Any:
    shape = draw(st.sampled_from(["single", "records", "array", "eventbridge", "lookup", "lookup-dict"]))
    if shape == "records":
        return {"Records": [rec, record()]}
    if shape == "array":
        return [rec]
    if shape == "eventbridge":
        return {"detail-type": "AWS API Call via CloudTrail", "id": "eb", "detail": rec}
    if shape == "lookup":
        return {"EventId": "x", "CloudTrailEvent": orjson.dumps(rec).decode()}
    if shape == "lookup-dict":
        return {"EventId": "x", "CloudTrailEvent": rec}
    return rec


def _check_contract(doc: Any) -> None:
    n = Normalizer()
    n.feed_document(doc, "x:1")
    assert "internal-error" not in n.ctx.quarantined, n.ctx.quarantined
    events = n.take()
    for event in events:
        assert_event_contract(event)
    to_table(events)  # every value fits its Arrow column type
    # the raw-bytes path too (JSON cannot hold every Python value hypothesis makes, e.g. huge ints)
    try:
        raw = orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):
        return
    n2 = Normalizer()
    n2.feed(raw, "x:1")
    assert "internal-error" not in n2.ctx.quarantined, n2.ctx.quarantined


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.data())
def test_mutated_real_records_never_crash(data) -> None:
    _check_contract(_wrap(data.draw, data.draw(mutated_records())))


@FUZZ
@given(st.data())
def test_cloudtrail_shaped_junk_never_crashes(data) -> None:
    junk = data.draw(cloudtrailish)
    _check_contract(_wrap(data.draw, junk))
    if isinstance(junk, dict):
        _check_contract(_wrap(data.draw, {**record(), **junk}))


@FUZZ
@given(json_values)
def test_arbitrary_json_never_crashes(doc) -> None:
    _check_contract(doc)
    _check_contract({"Records": [doc]})
    _check_contract({"detail-type": "AWS API Call via CloudTrail", "detail": doc})
    _check_contract({"CloudTrailEvent": doc})


@FUZZ
@given(st.dictionaries(st.sampled_from(["type", "arn", "accessKeyId", "userName", "principalId", "invokedBy",
                                        "accountId", "sessionContext", "onBehalfOf", "credentialId"]),
                       json_values | st.sampled_from(["AssumedRole", "IAMUser", "Root", "WebIdentityUser",
                                                      "AWSService", "FederatedUser", "IdentityCenterUser"]),
                       max_size=6))
def test_arbitrary_user_identity(identity) -> None:
    events, quarantined, _ = run(record(identity))
    assert all(q[0] != "internal-error" for q in quarantined)
    for event in events:
        assert_event_contract(event)
