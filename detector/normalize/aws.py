"""AWS CloudTrail → TokenEvents.

Shapes (routed here by shapes.py): one CloudTrail record (alone, in `{"Records": [...]}` as S3
delivers it, or in a bare array), the LookupEvents / event-history item whose record is a JSON
string in `CloudTrailEvent`, a whole LookupEvents response (`{"Events": [...]}`), an EventBridge
envelope with the record in `detail`, and CloudTrail digest files (skipped).

Identity (DESIGN.md): the principal is the IAM user ARN, or for sessions the role ARN from
`sessionContext.sessionIssuer.arn` (never the role-session name, which changes per session);
the token is the `accessKeyId`. Callers that present no key get a synthetic token id so each
still has one: `web-identity:<principal>` (OIDC/IRSA federation), `service:<invokedBy>` (AWS
services), `root:<account>` (root console), else `<userIdentity.type>:<principal>`.

Lineage: STS calls that mint a session and `iam:CreateAccessKey` name the key they issued. Only
the key *id* is read from `responseElements`; the secret access key and session token next to it
are never touched, and no request or response body is copied into an event.

Log shippers reshape records: Datadog's forwarder (the c2s samples) moves `userAgent` to
`http.useragent` and `sourceIPAddress` to `network.client.ip`; both are read as fallbacks.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from ..events import new_event
from .base import (
    BAD_FIELD,
    BAD_TIMESTAMP,
    INVALID_JSON,
    MISSING_FIELD,
    NOT_AN_OBJECT,
    Context,
    Rejected,
    Skipped,
    handle_one,
    normalize_ip,
    parse_ts,
)

SOURCE = "aws"

# eventTypes that are not a credential's request: AWS acting on its own schedule, and Insights
# summaries of call-rate anomalies (no userIdentity at all).
_SKIPPED_EVENT_TYPES = {
    "AwsServiceEvent": "aws-service-event",
    "AwsCloudTrailInsight": "aws-cloudtrail-insight",
}
_EVENTBRIDGE_OTHER = "eventbridge-non-cloudtrail"
_DIGEST = "cloudtrail-digest"

# STS operations that mint a session credential; the new key id is in responseElements.credentials.
_ROLE_SESSION_OPS = frozenset({"AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})
_CALLER_SESSION_OPS = frozenset({"GetSessionToken", "GetFederationToken"})

# Request parameters that name the object acted on, most specific first. Only short scalar
# identifiers: never policy documents, user data, or anything that is a body.
_RESOURCE_PARAMS = (
    "bucketName",  # joined with "key" when there is one
    "roleArn",
    "secretId",
    "accessKeyId",
    "userName",
    "roleName",
    "groupName",
    "policyArn",
    "functionName",
    "keyId",
    "instanceId",
    "logGroupName",
    "tableName",
    "queueUrl",
    "topicArn",
    "stackName",
    "repositoryName",
    "clusterName",
    "dBInstanceIdentifier",
    "groupId",
    "volumeId",
    "snapshotId",
    "name",
)
_RESOURCE_RANK = {name: rank for rank, name in enumerate(_RESOURCE_PARAMS)}
_MAX_RESOURCE_LEN = 1024

_READ_PREFIXES = ("Get", "List", "Describe", "Head", "Lookup", "BatchGet", "Search")
_WRITE_PREFIXES = (
    "Create", "Delete", "Put", "Update", "Modify", "Attach", "Detach", "Run", "Start", "Stop",
    "Terminate", "Set", "Add", "Remove", "Tag", "Untag", "Enable", "Disable", "Reboot", "Revoke",
    "Authorize", "Associate", "Disassociate", "Import", "Upload", "Copy", "Restore", "Register",
    "Deregister", "Change", "Reset", "Replace", "Cancel", "Rotate", "Deactivate", "Activate",
)


# --- entry points (called by shapes.dispatch) ------------------------------------------------


def normalize_record(record: Any, ctx: Context) -> None:
    """One CloudTrail record (also accepts a LookupEvents item or a digest file in its place)."""
    if not isinstance(record, dict):
        raise Rejected(NOT_AN_OBJECT, f"CloudTrail record is a {type(record).__name__}, expected an object")
    if "eventSource" not in record:
        if "CloudTrailEvent" in record:
            normalize_lookup_event(record, ctx)
            return
        if "digestPublicKeyFingerprint" in record:
            raise Skipped(_DIGEST)
    ctx.emit(_event(record))


def normalize_lookup_event(item: Any, ctx: Context) -> None:
    """A LookupEvents / console event-history item: the record is a JSON string in CloudTrailEvent."""
    if not isinstance(item, dict):
        raise Rejected(NOT_AN_OBJECT, f"LookupEvents item is a {type(item).__name__}, expected an object")
    inner = item.get("CloudTrailEvent")
    if isinstance(inner, (str, bytes)):
        try:
            inner = orjson.loads(inner)
        except orjson.JSONDecodeError as exc:
            raise Rejected(INVALID_JSON, f"CloudTrailEvent is not valid JSON ({exc})") from None
    elif inner is None:
        raise Rejected(MISSING_FIELD, "CloudTrailEvent is missing")
    if not isinstance(inner, dict):
        raise Rejected(BAD_FIELD, f"CloudTrailEvent holds a {type(inner).__name__}, expected a JSON object")
    fallback_id = item.get("EventId")
    ctx.emit(_event(inner, fallback_id if isinstance(fallback_id, str) else None))


def normalize_lookup_response(doc: Any, ctx: Context) -> None:
    """A whole LookupEvents response `{"Events": [...], "NextToken": ...}` (aws cloudtrail lookup-events)."""
    items = doc.get("Events") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise Rejected(BAD_FIELD, "Events is not a list")
    outer = ctx.origin
    for index, item in enumerate(items):
        ctx.origin = f"{outer}#{index}"
        handle_one(normalize_lookup_event, item, ctx)
    ctx.origin = outer


def normalize_eventbridge(doc: Any, ctx: Context) -> None:
    """An EventBridge event; CloudTrail detail-types ("AWS API Call via CloudTrail", "AWS Console
    Sign In via CloudTrail", ...) carry the record in `detail`, anything else is not ours."""
    if not isinstance(doc, dict):
        raise Rejected(NOT_AN_OBJECT, f"EventBridge event is a {type(doc).__name__}, expected an object")
    detail_type = doc.get("detail-type")
    if not isinstance(detail_type, str):
        raise Rejected(BAD_FIELD, f"detail-type has type {type(detail_type).__name__}, expected text")
    if not detail_type.endswith("via CloudTrail"):
        raise Skipped(_EVENTBRIDGE_OTHER)
    detail = doc.get("detail")
    if not isinstance(detail, dict):
        raise Rejected(BAD_FIELD, f"detail of a {detail_type!r} event is a {type(detail).__name__}, expected an object")
    fallback_id = doc.get("id")
    ctx.emit(_event(detail, fallback_id if isinstance(fallback_id, str) else None))


# --- one record → one event --------------------------------------------------------------------


def _event(record: dict, fallback_id: str | None = None) -> dict[str, Any]:
    # Hot path: plain gets with an inline `type(v) is str` test; the helpers run only off it.
    get = record.get
    event_type = get("eventType")
    if type(event_type) is str and event_type in _SKIPPED_EVENT_TYPES:
        raise Skipped(_SKIPPED_EVENT_TYPES[event_type])

    source = get("eventSource")
    name = get("eventName")
    if type(source) is not str or type(name) is not str or not source or not name:
        _check_operation(source, name)

    identity = get("userIdentity")
    if type(identity) is not dict:
        if identity is None:
            raise Rejected(MISSING_FIELD, f"userIdentity is missing ({source} {name})")
        raise Rejected(BAD_FIELD, f"userIdentity has type {type(identity).__name__}, expected an object")

    ev = new_event()
    ev["source"] = SOURCE
    ev["ts"] = _event_time(get("eventTime"))

    event_id = get("eventID")
    if type(event_id) is not str:
        event_id = _coerce(event_id, "eventID")
    event_id = event_id or fallback_id
    if not event_id:
        raise Rejected(MISSING_FIELD, "eventID is missing")
    ev["event_id"] = event_id
    ev["action"] = _action(source, name)
    region = get("awsRegion")
    ev["region"] = (region if type(region) is str else _coerce(region, "awsRegion")) or None
    tenant = get("recipientAccountId")
    if type(tenant) is not str or not tenant:
        tenant = _account(record, "recipientAccountId") or _account(identity, "accountId", "userIdentity.")
    ev["tenant"] = tenant

    _identity(identity, record, source, ev)

    address = get("sourceIPAddress")
    if address is not None and type(address) is not str:
        address = _coerce(address, "sourceIPAddress")
    if not address:
        address = _nested_text(record, "network", "client", "ip")  # Datadog forwarder
    if address:
        ev["source_ip"], ev["source_ip_raw"] = normalize_ip(address)
    agent = get("userAgent")
    if agent is not None and type(agent) is not str:
        agent = _coerce(agent, "userAgent")
    ev["user_agent"] = agent or _nested_text(record, "http", "useragent")  # ditto

    error_code = get("errorCode")
    if error_code is not None and type(error_code) is not str:
        error_code = _coerce(error_code, "errorCode")
    response = get("responseElements")
    if error_code:
        ev["outcome"] = "failure"
        ev["error_code"] = error_code
    elif type(response) is dict and response.get("ConsoleLogin") == "Failure":
        # A failed console sign-in logs no errorCode, only errorMessage ("Failed authentication").
        ev["outcome"] = "failure"
        message = get("errorMessage")
        ev["error_code"] = message[:256] if type(message) is str and message else "Failure"
    else:
        ev["outcome"] = "success"

    read_only = get("readOnly")
    if read_only is True or read_only == "true":
        ev["read_only"] = True
    elif read_only is False or read_only == "false":
        ev["read_only"] = False
    else:
        ev["read_only"] = _infer_read_only(name)  # inferred from the name: the record has no readOnly

    resources = get("resources")
    ev["resource"] = (_resource_arn(resources) if resources else None) or _resource_param(get("requestParameters"))

    if not error_code and type(response) is dict:
        if source == "sts.amazonaws.com":
            _sts_lineage(name, record, response, ev)
        elif name == "CreateAccessKey" and source == "iam.amazonaws.com":
            _access_key_lineage(record, identity, response, ev)
    return ev


def _check_operation(source: Any, name: Any) -> None:
    if not source:
        raise Rejected(MISSING_FIELD, "eventSource is missing")
    if not name:
        raise Rejected(MISSING_FIELD, "eventName is missing")
    if type(source) is not str:
        raise Rejected(BAD_FIELD, f"eventSource has type {type(source).__name__}, expected text")
    raise Rejected(BAD_FIELD, f"eventName has type {type(name).__name__}, expected text")


# CloudTrail times have one-second (management) or millisecond (data) resolution, so a busy
# log repeats each value many times: parse each distinct text once.
_TS_CACHE: dict[str, int] = {}
_TS_CACHE_MAX = 1 << 16
_TS_LIMIT = 1 << 62  # keeps ts inside int64 microseconds


_MINUTES: dict[str, int | None] = {}


def _event_time(value: Any) -> int:
    if type(value) is str:
        # CloudTrail's own form, "2025-06-02T09:14:03Z": the minute is parsed once per distinct
        # minute (cached), the seconds with one int(); anything else is parsed whole below.
        if len(value) == 20 and value[19] == "Z" and value[16] == ":" and value[10] == "T":
            seconds = value[17:19]
            if seconds < "60" and seconds.isdigit() and seconds.isascii():
                minute = _MINUTES.get(value[:16], _MINUTES)
                if minute is _MINUTES:
                    minute = _minute(value[:16])
                if minute is not None:
                    return minute + int(seconds) * 1_000_000
        cached = _TS_CACHE.get(value)
        if cached is not None:
            return cached
    try:
        ts = parse_ts(value, "eventTime")
    except (OverflowError, ValueError):
        raise Rejected(BAD_TIMESTAMP, f"eventTime={str(value)[:64]!r} is out of range") from None
    if not -_TS_LIMIT < ts < _TS_LIMIT:
        raise Rejected(BAD_TIMESTAMP, f"eventTime={str(value)[:64]!r} is out of range")
    if type(value) is str:
        if len(_TS_CACHE) >= _TS_CACHE_MAX:
            _TS_CACHE.clear()
        _TS_CACHE[value] = ts
    return ts


def _minute(prefix: str) -> int | None:
    """The start of minute "YYYY-MM-DDTHH:MM" (cached), or None: parse the whole time instead
    (which then raises the generic path's Rejected). Text times lie within years 1-9999, far
    inside _TS_LIMIT."""
    try:
        ts = parse_ts(prefix + ":00Z", "eventTime")
    except (Rejected, OverflowError, ValueError):
        ts = None
    if len(_MINUTES) >= _TS_CACHE_MAX:
        _MINUTES.clear()
    _MINUTES[prefix] = ts
    return ts


def _identity(identity: dict, record: dict, source: str, ev: dict[str, Any]) -> None:
    """principal, principal_type, token_id, token_kind from userIdentity (DESIGN.md table)."""
    iget = identity.get
    kind_of = iget("type")
    if type(kind_of) is not str or not kind_of:
        if kind_of is None or kind_of == "":
            # Records that AWS services write for themselves carry only accountId + invokedBy.
            kind_of = "AWSService" if iget("invokedBy") else "Unknown"
        else:
            raise Rejected(BAD_FIELD, f"userIdentity.type has type {type(kind_of).__name__}, expected text")
    key = iget("accessKeyId")
    if type(key) is not str:
        key = _coerce(key, "userIdentity.accessKeyId")
    key = key or None
    ev["principal_type"] = kind_of

    if kind_of == "AssumedRole" or kind_of == "FederatedUser":
        # The role (or, for federation, the IAM user that called GetFederationToken) owns the
        # session; the session name varies per session and stays out of the principal.
        context = iget("sessionContext")
        issuer = context.get("sessionIssuer") if type(context) is dict else None
        principal = issuer.get("arn") if type(issuer) is dict else None
        if type(principal) is not str or not principal:
            principal = _session_owner(identity)
        token, kind = key, "session"
    elif kind_of == "IAMUser":
        principal = (
            _text(identity, "arn", "userIdentity.")
            or _text(identity, "userName", "userIdentity.")
            or _text(identity, "principalId", "userIdentity.")
        )
        token = key
        if key is None:
            kind = "console" if source == "signin.amazonaws.com" or _console_session(record) else None
        else:
            kind = _key_kind(key, None) or _session_default(identity, record)
    elif kind_of == "Root":
        account = _account(identity, "accountId", "userIdentity.") or _account(record, "recipientAccountId")
        principal = _text(identity, "arn", "userIdentity.") or (f"arn:aws:iam::{account}:root" if account else None)
        token = key or (f"root:{account}" if account else None)
        kind = (_key_kind(key, None) or _session_default(identity, record)) if key else "console"
    elif kind_of == "WebIdentityUser":
        # IRSA: userName is the K8s service account ("system:serviceaccount:NS:SA"), the same
        # string the K8s normalizer uses, so the two sides of the exchange share a principal.
        principal = (
            _text(identity, "userName", "userIdentity.")
            or _text(identity, "principalId", "userIdentity.")
            or _text(identity, "identityProvider", "userIdentity.")
        )
        token, kind = (f"web-identity:{principal}" if principal else None), "web-identity"
    elif kind_of == "AWSService":
        principal = _text(identity, "invokedBy", "userIdentity.") or _text(identity, "principalId", "userIdentity.")
        if principal is None:
            raw = _text(record, "sourceIPAddress")  # a service's own calls log its name here
            principal = raw if raw is not None and normalize_ip(raw)[0] is None else None
        token, kind = (f"service:{principal}" if principal else None), "service"
    else:
        principal = _other_principal(kind_of, identity)
        token = key
        kind = _key_kind(key, None)
        if key is None:
            credential = _text(identity, "credentialId", "userIdentity.")  # Identity Center session id
            token, kind = (credential, "session") if credential else (None, None)

    if principal is None:
        raise Rejected(MISSING_FIELD, f"userIdentity ({kind_of}) names no principal (arn, userName, principalId)")
    ev["principal"] = principal
    ev["token_id"] = token if token is not None else f"{kind_of}:{principal}"
    ev["token_kind"] = kind


def _other_principal(kind_of: str, identity: dict) -> str | None:
    """IdentityCenterUser: the identity-store user id; SAMLUser: the IdP user name (principalId,
    "<idp>:<user>", as fallback); AWSAccount / Unknown / anything new: the ARN, then the user
    name, then principalId without a ":<session>" suffix, then the account id."""
    if kind_of == "IdentityCenterUser":
        found = _nested_text(identity, "onBehalfOf", "userId")
        if found:
            return found
    elif kind_of == "SAMLUser":
        return _text(identity, "userName", "userIdentity.") or _text(identity, "principalId", "userIdentity.")
    found = _text(identity, "arn", "userIdentity.") or _text(identity, "userName", "userIdentity.")
    if found:
        return found
    principal_id = _text(identity, "principalId", "userIdentity.")
    if principal_id:
        return principal_id.split(":", 1)[0] if principal_id.startswith("AROA") else principal_id
    return _account(identity, "accountId", "userIdentity.")


def _session_owner(identity: dict) -> str | None:
    """The role ARN from an assumed-role ARN when sessionIssuer is absent (its path is lost)."""
    arn = _text(identity, "arn", "userIdentity.")
    if arn:
        role = _role_of_session_arn(arn)
        if role:
            return role
        return arn
    principal_id = _text(identity, "principalId", "userIdentity.")
    return principal_id.split(":", 1)[0] if principal_id else None


@lru_cache(maxsize=4096)
def _role_of_session_arn(arn: str) -> str | None:
    """arn:aws:sts::123:assumed-role/ROLE/SESSION → arn:aws:iam::123:role/ROLE."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[5].startswith("assumed-role/"):
        return None
    role = parts[5].split("/", 2)[1]
    return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}" if role else None


def _key_kind(key: str | None, default: str | None) -> str | None:
    if key is None:
        return default
    if key.startswith("ASIA"):
        return "session"
    if key.startswith("AKIA"):
        return "access-key"
    return default


def _console_session(record: dict) -> bool:
    flag = record.get("sessionCredentialFromConsole")
    return flag is True or flag == "true"


def _session_default(identity: dict, record: dict) -> str:
    """Kind of a key whose prefix says nothing (redacted/odd ids): a session when the record says
    it came from the console or carries session attributes, else a long-term access key."""
    if _console_session(record):
        return "session"
    attributes = _nested(identity, "sessionContext", "attributes")
    return "session" if type(attributes) is dict and attributes.get("creationDate") else "access-key"


# --- lineage -----------------------------------------------------------------------------------


def _sts_lineage(name: str, record: dict, response: dict, ev: dict[str, Any]) -> None:
    if name in _ROLE_SESSION_OPS:
        role = _nested_text(record, "requestParameters", "roleArn")
        if role is None:
            assumed = _nested_text(response, "assumedRoleUser", "arn")
            role = _role_of_session_arn(assumed) if assumed else None
    elif name in _CALLER_SESSION_OPS:
        role = ev["principal"]  # the new session belongs to the caller
    elif name == "AssumeRoot":
        account = _nested_text(record, "requestParameters", "targetPrincipal")
        role = f"arn:aws:iam::{account}:root" if account else None
    else:
        return
    credentials = response.get("credentials")
    # Only the key id: sessionToken and secretAccessKey beside it are never read.
    new_key = credentials.get("accessKeyId") if type(credentials) is dict else None
    if _is_key_id(new_key):
        ev["lineage_kind"] = "issued"
        ev["lineage_token"] = new_key
        ev["lineage_principal"] = role


def _access_key_lineage(record: dict, identity: dict, response: dict, ev: dict[str, Any]) -> None:
    access_key = response.get("accessKey")
    # Only accessKeyId/userName: the secretAccessKey beside them is never read.
    new_key = access_key.get("accessKeyId") if type(access_key) is dict else None
    if not _is_key_id(new_key):
        return
    user = _nested_text(record, "requestParameters", "userName") or _nested_text(response, "accessKey", "userName")
    caller_user = _text(identity, "userName", "userIdentity.")
    if user is None or (user == caller_user and identity.get("type") == "IAMUser"):
        owner = ev["principal"]  # no userName in the request: the caller made a key for itself
    else:
        # The user's ARN as IAM builds it; a user created under a path has "user/PATH/NAME",
        # which the record does not tell us, so those keep this path-less form.
        arn = _text(identity, "arn", "userIdentity.") or ""
        partition = arn.split(":", 2)[1] if arn.startswith("arn:") and arn.count(":") >= 2 else "aws"
        account = ev["tenant"]
        owner = f"arn:{partition}:iam::{account}:user/{user}" if account else user
    ev["lineage_kind"] = "issued"
    ev["lineage_token"] = new_key
    ev["lineage_principal"] = owner


def _is_key_id(value: Any) -> bool:
    """An access key id is 16-128 ASCII letters/digits; anything else is not copied."""
    return type(value) is str and 16 <= len(value) <= 128 and value.isascii() and value.isalnum()


# --- small field helpers -----------------------------------------------------------------------


_ACTIONS: dict[tuple[str, str], str] = {}


def _action(source: str, name: str) -> str:
    """("iam.amazonaws.com", "CreateAccessKey") → "iam:CreateAccessKey" (memoized, bounded)."""
    action = _ACTIONS.get((source, name))
    if action is None:
        service = source.split(".amazonaws.", 1)[0] if ".amazonaws." in source else source
        action = f"{service}:{name}"
        if len(_ACTIONS) >= 8192:
            _ACTIONS.clear()
        _ACTIONS[(source, name)] = action
    return action


@lru_cache(maxsize=8192)
def _infer_read_only(name: str) -> bool | None:
    """Guess from the operation name (CloudTrail omitted readOnly): Get/List/Describe/Head/Lookup
    read; Create/Delete/Put/... write; anything else (ConsoleLogin, AssumeRole...) is unknown."""
    for prefixes, verdict in ((_READ_PREFIXES, True), (_WRITE_PREFIXES, False)):
        for prefix in prefixes:
            if name.startswith(prefix) and (len(name) == len(prefix) or not name[len(prefix)].islower()):
                return verdict
    return None


def _resource_arn(resources: Any) -> str | None:
    if type(resources) is list:
        for item in resources:
            if type(item) is dict:
                arn = item.get("ARN") or item.get("ARNPrefix")
                if type(arn) is str and arn and len(arn) <= _MAX_RESOURCE_LEN:
                    return arn
    return None


def _resource_param(params: Any) -> str | None:
    """The most specific identifying request parameter (one pass over the request's keys)."""
    if type(params) is not dict or not params:
        return None
    best, best_rank = None, len(_RESOURCE_PARAMS)
    rank_of = _RESOURCE_RANK.get
    for name, value in params.items():
        rank = rank_of(name)
        if rank is not None and rank < best_rank and type(value) is str and value and len(value) <= _MAX_RESOURCE_LEN:
            best, best_rank = value, rank
    return _param_fallback(best, best_rank, params.get("key"), params.get("instancesSet"))


def _param_fallback(best: str | None, rank: int, key: Any, instances: Any) -> str | None:
    """The end of _resource_param (shared with aws_fast): the best parameter (`rank` in
    _RESOURCE_PARAMS) with an S3 object key joined, else the first EC2 instance of the request."""
    if rank == 0:  # S3: bucket plus object key
        if type(key) is str and key and len(best) + len(key) < _MAX_RESOURCE_LEN:
            return f"{best}/{key}"
    if best is not None:
        return best
    # EC2 start/stop/terminate/describe
    items = instances.get("items") if type(instances) is dict else None
    if type(items) is list and items and type(items[0]) is dict:
        value = items[0].get("instanceId")
        if type(value) is str and value and len(value) <= _MAX_RESOURCE_LEN:
            return value
    return None


def _text(mapping: dict, key: str, prefix: str = "") -> str | None:
    """A text field or None when absent/empty; numbers count as text, other types are Rejected."""
    value = mapping.get(key)
    if type(value) is str:
        return value or None
    return _coerce(value, prefix + key)


def _coerce(value: Any, field: str) -> str | None:
    """A non-str value where text belongs: None stays None, a number becomes text, else Rejected."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise Rejected(BAD_FIELD, f"{field} has type {type(value).__name__}, expected text")


def _account(mapping: dict, key: str, prefix: str = "") -> str | None:
    """An account id; shippers that type it as a number drop its leading zeros, so pad to 12."""
    value = mapping.get(key)
    if type(value) is int:
        return str(value).zfill(12) if value >= 0 else str(value)
    return _text(mapping, key, prefix)


def _nested(mapping: Any, *path: str) -> Any:
    for key in path:
        if type(mapping) is not dict:
            return None
        mapping = mapping.get(key)
    return mapping


def _nested_text(mapping: Any, *path: str) -> str | None:
    """Text at a path, or None when absent, empty or not text (optional fallbacks only)."""
    value = _nested(mapping, *path)
    return value if type(value) is str and value else None
