"""The typed CloudTrail fast path (detector/normalize/aws_fast.py) against the generic mapping.

The fast path may decline any record (it returns None and the record takes the generic path
alone), but when it answers, its event must be exactly the generic path's; and a whole
`{"Records": [...]}` document must come out of Normalizer.feed exactly as it did before the fast
path existed: same events with the same origins, same quarantine records, same skip counters.
Checked on every CloudTrail fixture record, on the demo world's CloudTrail files, and on
generated records and documents that vary every field the fast path reads.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import detector.normalize as normalize_module
from detector.normalize import Normalizer
from detector.normalize import aws_fast
from detector.normalize.aws_fast import event_from_record
from detector.normalize.base import Context, Rejected, Skipped
from detector.normalize.reader import read_documents
from detector.normalize.aws import normalize_record
from golden import FIXTURES, PUBLIC


def generic(record: Any) -> tuple[list[dict], list[str]]:
    """Events and quarantine/skip reasons of one record through the generic (dict) path only."""
    ctx = Context()
    try:
        normalize_record(record, ctx)
    except Rejected as exc:
        return [], [exc.reason]
    except Skipped as exc:
        return [], [exc.reason]
    for event in ctx.events:
        event["origin"] = None
    return ctx.events, []


def assert_agrees(raw: bytes) -> bool:
    """True when the fast path answered (and agreed); False when it declined."""
    fast = event_from_record(raw)
    events, reasons = generic(orjson.loads(raw))
    if fast is None:
        return False
    assert not reasons, f"the fast path made an event of a record the generic path refuses ({reasons})"
    assert events == [fast]
    assert list(fast) == list(events[0])  # same field order too
    return True


def feed_both(raw: bytes, origin: str = "f.json.gz") -> tuple[dict, dict]:
    """Everything Normalizer.feed reports for `raw`, with the fast path and without it."""

    def run() -> dict:
        quarantined: list[tuple] = []
        n = Normalizer(on_quarantine=lambda *args: quarantined.append(args))
        n.feed(raw, origin)
        ctx = n.ctx
        return {"events": n.take(), "quarantined": quarantined, "skipped": dict(ctx.skipped),
                "emitted": dict(ctx.emitted), "records": ctx.records, "origin": ctx.origin}

    fast = run()
    normalize_module.feed_records = lambda raw, ctx: False
    try:
        slow = run()
    finally:
        normalize_module.feed_records = aws_fast.feed_records
    return fast, slow


def cloudtrail_records(doc: Any) -> list[dict]:
    """Every CloudTrail record inside a parsed fixture document, whatever its envelope."""
    if isinstance(doc, list):
        return [r for item in doc for r in cloudtrail_records(item)]
    if not isinstance(doc, dict):
        return []
    if isinstance(doc.get("Records"), list):
        return [r for r in doc["Records"] if isinstance(r, dict)]
    if isinstance(doc.get("Events"), list):
        return cloudtrail_records(doc["Events"])
    if isinstance(doc.get("CloudTrailEvent"), str):
        try:
            return cloudtrail_records(orjson.loads(doc["CloudTrailEvent"]))
        except orjson.JSONDecodeError:
            return []
    if isinstance(doc.get("detail"), dict):
        return cloudtrail_records(doc["detail"])
    if "eventVersion" in doc or "eventSource" in doc:
        return [doc]
    return []


def fixture_documents() -> list[tuple[Path, bytes]]:
    found = []
    for directory in (PUBLIC / "cloudtrail", FIXTURES / "aws"):
        for path in sorted(directory.iterdir()):
            if path.suffix == ".md":
                continue
            found += [(path, d.data) for d in read_documents(str(path))]
    return found


def test_every_fixture_record_agrees() -> None:
    records = []
    for _, data in fixture_documents():
        try:
            records += cloudtrail_records(orjson.loads(data))
        except orjson.JSONDecodeError:
            continue
    answered = sum(assert_agrees(orjson.dumps(r)) for r in records)
    assert len(records) >= 30 and answered > len(records) // 2, (answered, len(records))


def test_every_fixture_document_feeds_alike() -> None:
    took_fast_path = 0
    for path, data in fixture_documents():
        fast, slow = feed_both(data, path.name)
        assert fast == slow, path.name
        took_fast_path += aws_fast.feed_records(data, Context())
    assert took_fast_path >= 4, took_fast_path


def test_generated_world_agrees(tmp_path: Path) -> None:
    from detector.simulate import generate

    generate(tmp_path, days=2, seed=5, scale=0.3)
    paths = sorted(p for p in (tmp_path / "aws").rglob("*") if p.is_file())
    documents = [d.data for p in paths for d in read_documents(str(p))]
    assert documents and all(d.startswith(b'{"Records":[') for d in documents)
    answered = total = 0
    for data in documents:
        fast, slow = feed_both(data)
        assert fast == slow
        for record in aws_fast._decode_envelope(data).Records:
            total += 1
            answered += assert_agrees(bytes(record))
    assert total > 500 and answered > 0.95 * total, (answered, total)


# --- whole documents: what must stay exactly as before ---------------------------------------------------


_PLAIN: dict[str, Any] = {
    "eventVersion": "1.09",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEROLEID1234:i-0abc",
        "arn": "arn:aws:sts::111122223333:assumed-role/node-role/i-0abc",
        "accountId": "111122223333",
        "accessKeyId": "ASIAEXAMPLEKEY123456",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID1234",
                              "arn": "arn:aws:iam::111122223333:role/node-role", "userName": "node-role"},
            "attributes": {"creationDate": "2025-01-02T02:00:00Z", "mfaAuthenticated": "false"},
        },
    },
    "eventTime": "2025-01-02T03:04:05Z",
    "eventSource": "ec2.amazonaws.com",
    "eventName": "DescribeInstances",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "10.1.2.3",
    "userAgent": "aws-sdk-go/1.44",
    "requestParameters": {"instancesSet": {"items": [{"instanceId": "i-0abc"}]}, "filterSet": {}},
    "responseElements": None,
    "requestID": "11111111-2222-4333-8444-555555555555",
    "eventID": "66666666-7777-4888-9999-000000000000",
    "readOnly": True,
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": "111122223333",
    "eventCategory": "Management",
    "tlsDetails": {"tlsVersion": "TLSv1.3", "clientProvidedHostHeader": "ec2.us-east-1.amazonaws.com"},
}


def _document(*records: Any) -> bytes:
    return b'{"Records":[' + b",".join(r if isinstance(r, bytes) else orjson.dumps(r) for r in records) + b"]}"


@pytest.mark.parametrize("raw", [
    _document(),
    _document(_PLAIN, 7, {**_PLAIN, "eventTime": "never"}, {**_PLAIN, "eventType": "AwsServiceEvent"},
              {**_PLAIN, "userIdentity": None}, {**_PLAIN, "eventID": 5}, {"CloudTrailEvent": orjson.dumps(_PLAIN).decode()},
              {"digestPublicKeyFingerprint": "ab"}, _PLAIN),
    _document(_PLAIN).replace(b"aws-sdk-go", b"aws-sdk-g\xc3\xb6"),  # UTF-8 text: fine
    _document(_PLAIN, {**_PLAIN, "tlsDetails": "x"}).replace(b'"x"', b'"\xff"'),  # not UTF-8: the whole file is invalid
    _document(_PLAIN, {**_PLAIN, "tlsDetails": "x"}).replace(b'"x"', b'"\\ud800"'),  # a lone surrogate: ditto
    _document(_PLAIN, {**_PLAIN, "readOnly": "x"}).replace(b'"x"', b"1e400"),  # a number orjson refuses, read
    _document(_PLAIN) + b"x",
    _document(_PLAIN, {**_PLAIN, "tlsDetails": "x"}).replace(b'"x"', b"[" * 1100 + b"]" * 1100),
    _document(_PLAIN)[:-1] + b',"Records":[]}',  # a repeated key: the last one counts
    _document(_PLAIN)[:-1] + b',"eventSource":"s3.amazonaws.com","eventName":"GetObject"}',  # another shape
    b'{"Records":{"a":1}}',
    b'{"Records":null}',
    b'{"Records": [\n  ' + orjson.dumps(_PLAIN, option=orjson.OPT_INDENT_2) + b"\n]}\n",
    b'{"Records":[' + orjson.dumps(_PLAIN) + b',{"eventSource":"iam.amazonaws.com","eventName":"GetUser","userIdentity":{"type":"IAMUser","accessKeyId":"AKIAEXAMPLEKEY123456","userName":"bob"},"eventTime":"2025-01-02T03:04:05Z","eventID":"e1","eventID":"e2"}]}',
])
def test_documents_feed_alike(raw: bytes) -> None:
    fast, slow = feed_both(raw)
    assert fast == slow


def test_normalizer_takes_the_fast_path_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    odd = {**_PLAIN, "userAgent": 42}  # a number as text: generic path
    skipped = {**_PLAIN, "eventType": "AwsServiceEvent"}  # skipped by the fast path itself
    assert event_from_record(orjson.dumps(_PLAIN)) is not None
    assert event_from_record(orjson.dumps(odd)) is None and event_from_record(orjson.dumps(skipped)) is None
    generic_calls: list[Any] = []
    real = aws_fast.aws.normalize_record
    monkeypatch.setattr(aws_fast.aws, "normalize_record", lambda r, ctx: generic_calls.append(r) or real(r, ctx))
    reasons: list[tuple[str, str]] = []
    n = Normalizer(on_quarantine=lambda reason, detail, origin, raw: reasons.append((reason, origin)))
    n.feed(_document(_PLAIN, skipped, _PLAIN), "all-fast.json")
    assert generic_calls == [] and dict(n.ctx.skipped) == {"aws-service-event": 1}
    assert [e["origin"] for e in n.take()] == ["all-fast.json#0", "all-fast.json#2"]
    n.feed(_document(_PLAIN, odd, skipped, "text"), "t.json")
    events = n.take()
    assert generic_calls == [odd, "text"]
    assert [e["origin"] for e in events] == ["t.json#0", "t.json#1"]
    assert events[1]["user_agent"] == "42"
    assert dict(n.ctx.skipped) == {"aws-service-event": 2} and reasons == [("not-an-object", "t.json#3")]
    assert n.ctx.origin == "t.json"


# --- generated records ------------------------------------------------------------------------------


# each field is changed one time in six, and then to an odd type one time in four, so most records
# stay close to plain and the fast path answers often enough to be compared
_change = st.integers(0, 5).map(lambda i: i == 0)
_rarely = st.integers(0, 19).map(lambda i: i == 0)
_text = st.one_of(st.none(), st.just(""), st.sampled_from(["a", "us-west-2", "x" * 1030]), st.integers(-2, 2),
                  st.just(12.5), st.booleans())
_odd = st.one_of(_text, st.just([]), st.just({}), st.just(["a"]), st.just({"a": 1}))
_ARNS = ["arn:aws:iam::111122223333:role/node-role", "arn:aws:iam::111122223333:user/ci/jenkins",
         "arn:aws:sts::111122223333:assumed-role/app/sess", "arn:aws:sts::111122223333:assumed-role//x",
         "arn:aws:iam::111122223333:root", "arn:aws-cn:iam::111122223333:user/bob"]
_KEYS = ["ASIAEXAMPLEKEY123456", "AKIAEXAMPLEKEY123456", "EXAMPLEKEY123456XYZ", "short", "ASIA-bad-key-xxxxxxx", ""]
_PARAM_NAMES = ["bucketName", "key", "roleArn", "secretId", "accessKeyId", "userName", "roleName", "policyArn",
                "instanceId", "name", "targetPrincipal", "instancesSet", "filterSet", "queueUrl", "Host"]


def _maybe(strategy):
    return st.integers(0, 3).flatmap(lambda i: _odd if i == 0 else strategy)


_identity = st.fixed_dictionaries({}, optional={
    "type": _maybe(st.sampled_from(["AssumedRole", "FederatedUser", "IAMUser", "Root", "WebIdentityUser",
                                    "AWSService", "SAMLUser", "IdentityCenterUser", "AWSAccount", "Unknown",
                                    "NewType"])),
    "accessKeyId": _maybe(st.sampled_from(_KEYS)),
    "arn": _maybe(st.sampled_from(_ARNS)),
    "userName": _maybe(st.sampled_from(["bob", "system:serviceaccount:shop:web", "jenkins"])),
    "principalId": _maybe(st.sampled_from(["AROAEXAMPLE:sess", "AIDAEXAMPLE", "idp:alice", "111122223333"])),
    "invokedBy": _maybe(st.sampled_from(["ec2.amazonaws.com", "AWS Internal"])),
    "identityProvider": _maybe(st.just("arn:aws:iam::111122223333:oidc-provider/x")),
    "credentialId": _maybe(st.just("cred-123")),
    "accountId": st.one_of(_maybe(st.sampled_from(["111122223333", "999988887777"])), st.just(11122223333)),
    "onBehalfOf": st.one_of(_odd, st.fixed_dictionaries({}, optional={"userId": _maybe(st.just("u-1"))})),
    "sessionContext": st.one_of(_odd, st.fixed_dictionaries({}, optional={
        "sessionIssuer": st.one_of(_odd, st.fixed_dictionaries({}, optional={
            "arn": _maybe(st.sampled_from(_ARNS)), "type": st.just("Role")})),
        "attributes": st.one_of(_odd, st.fixed_dictionaries({}, optional={
            "creationDate": _maybe(st.just("2025-01-02T02:00:00Z")), "mfaAuthenticated": st.just("false")})),
        "webIdFederationData": st.just({"federatedProvider": "x"}),
    })),
})

_resources = st.one_of(_odd, st.lists(st.one_of(_odd, st.fixed_dictionaries({}, optional={
    "ARN": _maybe(st.sampled_from(_ARNS + ["arn:aws:s3:::bucket/key"])),
    "ARNPrefix": _maybe(st.just("arn:aws:s3:::bucket/")),
    "accountId": st.just("111122223333"), "type": st.just("AWS::S3::Object")})), max_size=3))

_instances = st.one_of(_odd, st.fixed_dictionaries({}, optional={"items": st.one_of(_odd, st.lists(
    st.one_of(_odd, st.fixed_dictionaries({}, optional={"instanceId": _maybe(st.just("i-0abc"))})), max_size=2))}))

_params = st.one_of(_odd, st.dictionaries(st.sampled_from(_PARAM_NAMES), st.one_of(
    _maybe(st.sampled_from(["my-bucket", "dir/file.txt", "arn:aws:iam::111122223333:role/app", "AKIAEXAMPLEKEY123456",
                            "123456789012", "y" * 1020])), _instances), max_size=5))

_key_holder = st.fixed_dictionaries({}, optional={"accessKeyId": _maybe(st.sampled_from(_KEYS)),
                                                  "sessionToken": st.just("SECRET"), "userName": _maybe(st.just("carol")),
                                                  "secretAccessKey": st.just("SECRET")})
_response = st.one_of(_odd, st.fixed_dictionaries({}, optional={
    "ConsoleLogin": _maybe(st.sampled_from(["Success", "Failure"])),
    "credentials": st.one_of(_odd, _key_holder),
    "accessKey": st.one_of(_odd, _key_holder),
    "assumedRoleUser": st.one_of(_odd, st.fixed_dictionaries({}, optional={"arn": _maybe(st.sampled_from(_ARNS))})),
}))

_OPERATIONS = [("sts.amazonaws.com", "AssumeRole"), ("sts.amazonaws.com", "AssumeRoleWithWebIdentity"),
               ("sts.amazonaws.com", "GetSessionToken"), ("sts.amazonaws.com", "AssumeRoot"),
               ("sts.amazonaws.com", "GetCallerIdentity"), ("iam.amazonaws.com", "CreateAccessKey"),
               ("signin.amazonaws.com", "ConsoleLogin"), ("s3.amazonaws.com", "GetObject"),
               ("ec2.amazonaws.com", "RunInstances"), ("custom", "Frobnicate")]


@st.composite
def records(draw) -> dict[str, Any]:
    record = copy.deepcopy(_PLAIN)
    if draw(_change):
        record["eventSource"], record["eventName"] = draw(st.sampled_from(_OPERATIONS))
    for key in ("eventSource", "eventName"):
        if draw(_rarely):
            record[key] = draw(_odd)
    if draw(_rarely):
        record["userIdentity"] = draw(st.one_of(_identity, _odd))
    elif draw(_change):
        record["userIdentity"].update(draw(_identity))
    if draw(_change):
        record["eventTime"] = draw(st.one_of(_odd, st.sampled_from([
            "2025-01-02T03:04:05.123Z", "2025-01-02T03:04:60Z", "2025-01-02 03:04:05", "2025-01-02T03:04:05+02:00",
            "2025-13-02T03:04:05Z", "yesterday", "9999-12-31T23:59:59Z"]), st.integers(0, 2_000_000_000_000)))
    if draw(_change):
        record["eventType"] = draw(st.one_of(_odd, st.sampled_from(["AwsServiceEvent", "AwsCloudTrailInsight",
                                                                    "AwsConsoleSignIn", "AwsApiCall"])))
    if draw(_change):
        record["readOnly"] = draw(st.one_of(_odd, st.sampled_from([True, False, "true", "false", "TRUE", 1, 0])))
    if draw(_change):
        record["errorCode"] = draw(st.one_of(_odd, st.sampled_from(["AccessDenied", "Client.UnauthorizedOperation"])))
    if draw(_change):
        record["errorMessage"] = draw(st.one_of(_odd, st.just("Failed authentication " * 20)))
    if draw(_change):
        record["resources"] = draw(_resources)
    if draw(_change):
        record["requestParameters"] = draw(_params)
    if draw(_change):
        record["responseElements"] = draw(_response)
    if draw(_change):
        record["sourceIPAddress"] = draw(st.one_of(_odd, st.sampled_from([
            "010.001.002.003", "::ffff:10.1.2.3", "2001:db8::1", "ec2.amazonaws.com", "AWS Internal"])))
    for key in ("eventID", "awsRegion", "recipientAccountId", "userAgent", "sessionCredentialFromConsole"):
        if draw(_change):
            record[key] = draw(_maybe(st.sampled_from(["true", "111122223333", "e-1", "eu-west-1"])))
    if draw(_change):
        record["network"] = draw(st.one_of(_odd, st.fixed_dictionaries({}, optional={
            "client": st.one_of(_odd, st.fixed_dictionaries({}, optional={"ip": _maybe(st.just("192.0.2.9"))}))})))
    if draw(_change):
        record["http"] = draw(st.one_of(_odd, st.fixed_dictionaries({}, optional={
            "useragent": _maybe(st.just("Boto3/1.2")), "useragent_details": st.just({"os": {"family": "Other"}})})))
    for key in [k for k in record if draw(st.integers(0, 60)) == 0]:
        del record[key]
    return record


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_generated_records_agree(record: dict[str, Any]) -> None:
    assert_agrees(orjson.dumps(record))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(records(), _odd), max_size=4))
def test_generated_documents_feed_alike(items: list[Any]) -> None:
    fast, slow = feed_both(_document(*items))
    assert fast == slow


def test_plain_records_take_the_fast_path() -> None:
    """Non-vacuous: the hypothesis strategies and the common identities are answered."""
    for record in (
        _PLAIN,
        {**_PLAIN, "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole",
         "userIdentity": {"type": "AWSService", "invokedBy": "eks.amazonaws.com"},
         "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/app", "roleSessionName": "s"},
         "responseElements": {"credentials": {"accessKeyId": "ASIAEXAMPLEKEY999999", "sessionToken": "SECRET"}}},
        {**_PLAIN, "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
         "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/admin", "userName": "admin",
                          "accessKeyId": "AKIAEXAMPLEKEY123456"},
         "requestParameters": {"userName": "bob"},
         "responseElements": {"accessKey": {"accessKeyId": "AKIAEXAMPLEKEY999999", "secretAccessKey": "SECRET"}}},
        {**_PLAIN, "userIdentity": {"type": "WebIdentityUser", "userName": "system:serviceaccount:shop:web"}},
        {**_PLAIN, "resources": [{"ARN": "arn:aws:s3:::b/k"}], "requestParameters": {"bucketName": "b", "key": "k"}},
        {**_PLAIN, "requestParameters": {"bucketName": "b", "key": "k"}},
    ):
        assert assert_agrees(orjson.dumps(record)), record
