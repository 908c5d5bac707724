"""The typed fast path for CloudTrail log files: `{"Records": [...]}`, one record per API call.

A CloudTrail record is mostly request/response bodies, TLS details and ids that tokenhawk never
reads; building Python dicts for all of it (orjson) and then walking them (aws._event) costs
several times what the mapping needs. Here msgspec decodes the file's envelope with each record
left as raw bytes, then decodes each record straight into Structs that declare only the fields
aws._event reads, with their types, so the parse skips everything else in C (the session token
and secret key of an STS or CreateAccessKey response are not even decoded).

A record the fast path cannot map exactly is handed back (`None`) and goes alone through the
generic path (aws.normalize_record on its orjson dict), which stays the one definition:

- the record does not decode into these types (a number where text belongs, an odd shape);
- no eventSource/eventName/eventID/userIdentity, a skipped eventType (AwsServiceEvent,
  Insights), an eventTime the generic path would parse slowly or refuse;
- anything the generic mapping would reject (quarantine) or skip.

Identities other than an assumed role with its session issuer, and the lineage of STS and
iam:CreateAccessKey calls, are mapped by the generic helpers themselves (aws._identity,
aws._sts_lineage, aws._access_key_lineage) on small dicts of the decoded fields: those helpers
only `.get` keys, so a dict holding just the fields they read (None for absent) is the record as
far as they can tell.

The whole file is one JSON document: orjson refuses it entirely when any byte is bad, and the
fast path must not map records of a file the generic path quarantines. msgspec checks the
syntax of the fields it skips (escapes, control characters, nesting) but not that their text is
UTF-8, so `feed_records` checks that first. One difference remains: a number beyond the double
range (1e400) in a field neither path reads makes orjson refuse the file; the fast path maps
its records (a field it reads holding one declines, and the file then takes the generic path).

tests/test_normalize_aws_fast.py checks that both paths make the same events for every fixture
record and for generated ones, so the two cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any, Optional

import msgspec
import orjson

from ..events import new_event
from . import aws
from .aws import (
    _MAX_RESOURCE_LEN,
    _RESOURCE_PARAMS,
    _SKIPPED_EVENT_TYPES,
    SOURCE,
    _access_key_lineage,
    _action,
    _event_time,
    _identity,
    _infer_read_only,
    _param_fallback,
    _sts_lineage,
)
from .base import Context, Rejected, handle_one, normalize_ip

_Text = Optional[str]


class _Issuer(msgspec.Struct, gc=False):
    arn: Any = None


class _Attributes(msgspec.Struct, gc=False):
    creationDate: Any = None


class _SessionContext(msgspec.Struct, gc=False):
    sessionIssuer: Optional[_Issuer] = None
    attributes: Optional[_Attributes] = None


class _Identity(msgspec.Struct, gc=False):
    type: _Text = None
    accessKeyId: _Text = None
    arn: _Text = None
    userName: _Text = None
    principalId: _Text = None
    invokedBy: _Text = None
    identityProvider: _Text = None
    credentialId: _Text = None
    accountId: _Text = None
    sessionContext: Optional[_SessionContext] = None
    onBehalfOf: Any = None  # IdentityCenterUser


class _Credentials(msgspec.Struct, gc=False):
    accessKeyId: Any = None  # sessionToken and secretAccessKey beside it are skipped, never decoded


class _AssumedRoleUser(msgspec.Struct, gc=False):
    arn: Any = None


class _AccessKey(msgspec.Struct, gc=False):
    accessKeyId: Any = None  # secretAccessKey is skipped, never decoded
    userName: Any = None


class _Response(msgspec.Struct, gc=False):
    ConsoleLogin: Any = None
    credentials: Optional[_Credentials] = None
    assumedRoleUser: Optional[_AssumedRoleUser] = None
    accessKey: Optional[_AccessKey] = None


class _Resource(msgspec.Struct, gc=False):
    ARN: Any = None
    ARNPrefix: Any = None


# requestParameters: the identifying parameters in aws._RESOURCE_PARAMS order (most specific
# first), then those read off that list (S3 key, EC2 instancesSet, lineage helpers).
_PARAMS_TAIL = ("key", "instancesSet", "targetPrincipal")
_Params = msgspec.defstruct(
    "_Params", [(name, Any, None) for name in _RESOURCE_PARAMS + _PARAMS_TAIL], gc=False)
_RANKED = len(_RESOURCE_PARAMS)
_astuple = msgspec.structs.astuple


class _Client(msgspec.Struct, gc=False):
    ip: Any = None


class _Network(msgspec.Struct, gc=False):  # Datadog forwarder: network.client.ip
    client: Optional[_Client] = None


class _Http(msgspec.Struct, gc=False):  # Datadog forwarder: http.useragent
    useragent: Any = None


class _Record(msgspec.Struct, gc=False):
    eventType: _Text = None
    eventSource: _Text = None
    eventName: _Text = None
    eventTime: _Text = None
    eventID: _Text = None
    awsRegion: _Text = None
    recipientAccountId: _Text = None
    userIdentity: Optional[_Identity] = None
    sourceIPAddress: _Text = None
    userAgent: _Text = None
    errorCode: _Text = None
    errorMessage: Any = None
    readOnly: Any = None
    resources: Optional[list[_Resource]] = None
    requestParameters: Optional[_Params] = None  # type: ignore[valid-type]
    responseElements: Optional[_Response] = None
    sessionCredentialFromConsole: Any = None
    network: Optional[_Network] = None
    http: Optional[_Http] = None


class _Envelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A CloudTrail log file with nothing but its Records (any other key: the generic path)."""

    Records: list[msgspec.Raw]


class _File(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The same file when every record decodes into _Record (the common case: one pass)."""

    Records: list[_Record]


_decode_envelope = msgspec.json.Decoder(_Envelope).decode
_decode_file = msgspec.json.Decoder(_File).decode
_decode_record = msgspec.json.Decoder(_Record).decode
# RecursionError: msgspec's nesting limit (orjson refuses deep nesting as invalid JSON)
_Invalid = (msgspec.ValidationError, msgspec.DecodeError, RecursionError)
_SESSION_TYPES = frozenset({"AssumedRole", "FederatedUser"})
_STS = "sts.amazonaws.com"


def event_from_record(raw: Any) -> dict | None:
    """The TokenEvent of one CloudTrail record (JSON bytes), or None: use the generic path."""
    try:
        found = _map(_decode_record(raw))
    except _Invalid:
        return None
    return found if type(found) is dict else None


def _map(rec: _Record) -> dict | str | None:
    """The TokenEvent of a decoded record, the reason it is skipped, or None: the generic path."""
    source = rec.eventSource
    if source and rec.eventType in _SKIPPED_EVENT_TYPES:
        return _SKIPPED_EVENT_TYPES[rec.eventType]  # aws._event skips these before reading anything
    name = rec.eventName
    ident = rec.userIdentity
    event_id = rec.eventID
    if not source or not name or ident is None or not event_id:
        return None
    try:
        ts = _event_time(rec.eventTime)
    except Rejected:
        return None

    kind_of = ident.type
    context = ident.sessionContext
    issuer = context.sessionIssuer if context is not None else None
    principal = issuer.arn if issuer is not None else None
    tenant = rec.recipientAccountId or ident.accountId or None
    if kind_of in _SESSION_TYPES and type(principal) is str and principal:
        # the common case, inline: a role session named by its issuer (aws._identity's first branch)
        token = ident.accessKeyId or f"{kind_of}:{principal}"
        token_kind = "session"
    else:
        who: dict[str, Any] = {}
        try:
            _identity(_identity_dict(ident), {
                "sessionCredentialFromConsole": rec.sessionCredentialFromConsole,
                "recipientAccountId": rec.recipientAccountId,
                "sourceIPAddress": rec.sourceIPAddress,
            }, source, who)
        except Rejected:
            return None
        kind_of, principal, token, token_kind = (
            who["principal_type"], who["principal"], who["token_id"], who["token_kind"])

    address = rec.sourceIPAddress
    if not address:
        network = rec.network
        client = network.client if network is not None else None
        address = client.ip if client is not None else None
        if type(address) is not str:
            address = None
    if address:
        source_ip, source_ip_raw = normalize_ip(address)
    agent = rec.userAgent
    if not agent:
        agent = rec.http.useragent if rec.http is not None else None
        if type(agent) is not str or not agent:
            agent = None

    error_code = rec.errorCode
    response = rec.responseElements
    if error_code:
        outcome = "failure"
    elif response is not None and response.ConsoleLogin == "Failure":
        # a failed console sign-in logs no errorCode, only errorMessage (aws._event)
        outcome = "failure"
        error_code = rec.errorMessage
        error_code = error_code[:256] if type(error_code) is str and error_code else "Failure"
    else:
        outcome = "success"
        error_code = None

    read_only = rec.readOnly
    if read_only is True or read_only == "true":
        read_only = True
    elif read_only is False or read_only == "false":
        read_only = False
    else:
        read_only = _infer_read_only(name)

    resource = None
    if rec.resources:  # aws._resource_arn
        for item in rec.resources:
            arn = item.ARN or item.ARNPrefix
            if type(arn) is str and arn and len(arn) <= _MAX_RESOURCE_LEN:
                resource = arn
                break
    params = rec.requestParameters
    if resource is None and params is not None:  # aws._resource_param
        rank = 0
        for value in _astuple(params)[:_RANKED]:
            if type(value) is str and value and len(value) <= _MAX_RESOURCE_LEN:
                resource = value
                break
            rank += 1
        resource = _param_fallback(resource, rank, params.key, params.instancesSet)

    # a copy of the all-null template plus the fields set is faster than a 28-key dict literal
    ev = new_event()
    ev["ts"] = ts
    ev["event_id"] = event_id
    ev["source"] = SOURCE
    ev["tenant"] = tenant
    ev["principal"] = principal
    ev["principal_type"] = kind_of
    ev["token_id"] = token
    ev["token_kind"] = token_kind
    if address:
        ev["source_ip"] = source_ip
        ev["source_ip_raw"] = source_ip_raw
    ev["user_agent"] = agent
    ev["action"] = _action(source, name)
    ev["resource"] = resource
    ev["region"] = rec.awsRegion or None
    ev["outcome"] = outcome
    ev["error_code"] = error_code
    ev["read_only"] = read_only
    if not rec.errorCode and response is not None:  # as aws._event: no errorCode (a failed sign-in has none)
        if source == _STS:
            _sts_lineage(name, {"requestParameters": _params_dict(params)}, _response_dict(response), ev)
        elif name == "CreateAccessKey" and source == "iam.amazonaws.com":
            _access_key_lineage({"requestParameters": _params_dict(params)}, _identity_dict(ident),
                                _response_dict(response), ev)
    return ev


def _identity_dict(ident: _Identity) -> dict[str, Any]:
    """userIdentity as the generic helpers read it (only with .get: absent and None are alike)."""
    context = ident.sessionContext
    if context is not None:
        issuer, attributes = context.sessionIssuer, context.attributes
        context = {
            "sessionIssuer": {"arn": issuer.arn} if issuer is not None else None,
            "attributes": {"creationDate": attributes.creationDate} if attributes is not None else None,
        }
    return {
        "type": ident.type,
        "accessKeyId": ident.accessKeyId,
        "arn": ident.arn,
        "userName": ident.userName,
        "principalId": ident.principalId,
        "invokedBy": ident.invokedBy,
        "identityProvider": ident.identityProvider,
        "credentialId": ident.credentialId,
        "accountId": ident.accountId,
        "sessionContext": context,
        "onBehalfOf": ident.onBehalfOf,
    }


def _params_dict(params: Any) -> dict[str, Any] | None:
    if params is None:
        return None
    return {"roleArn": params.roleArn, "targetPrincipal": params.targetPrincipal, "userName": params.userName}


def _response_dict(response: _Response) -> dict[str, Any]:
    credentials, assumed, access_key = response.credentials, response.assumedRoleUser, response.accessKey
    return {
        "ConsoleLogin": response.ConsoleLogin,
        "credentials": {"accessKeyId": credentials.accessKeyId} if credentials is not None else None,
        "assumedRoleUser": {"arn": assumed.arn} if assumed is not None else None,
        "accessKey": ({"accessKeyId": access_key.accessKeyId, "userName": access_key.userName}
                      if access_key is not None else None),
    }


def feed_records(raw: bytes, ctx: Context) -> bool:
    """Normalize a `{"Records": [...]}` document into ctx as shapes.dispatch would, record by
    record (origins `<origin>#<index>`); False, having done nothing, when the document must take
    the generic path whole (not this envelope, or not JSON that orjson accepts)."""
    if not raw.isascii():
        try:
            raw.decode()
        except UnicodeDecodeError:
            return False
    # Usually every record decodes and maps: one pass over the document.
    try:
        typed = _decode_file(raw).Records
    except _Invalid:
        typed = None
    if typed is not None:
        done: list[Any] = []
        for rec in typed:
            try:
                found = _map(rec)
            except Exception:  # noqa: BLE001 - never expected; the generic path then decides
                found = None
            if found is None:
                break
            done.append(found)
        else:
            _report(done, ctx)
            return True
    # Else record by record, each kept as raw JSON until it is known whether the fast path maps
    # it. Every record is settled before any is reported, so a document that turns out to be
    # invalid JSON (a record orjson refuses) leaves nothing behind and is quarantined whole.
    try:
        records = _decode_envelope(raw).Records
    except _Invalid:
        return False
    done = []
    for record in records:
        try:
            found = _map(_decode_record(record))
        except Exception:  # noqa: BLE001 - a record that does not decode (or, never expected, a bug)
            found = None
        if found is None:
            try:
                found = (orjson.loads(memoryview(record)),)  # for the generic path
            except orjson.JSONDecodeError:
                return False
        done.append(found)
    _report(done, ctx)
    return True


def _report(done: list[Any], ctx: Context) -> None:
    """Emit each record's event, count its skip, or run the generic path on it (a 1-tuple of
    the parsed record), exactly as shapes._each would."""
    outer = ctx.origin
    emit = ctx.emit
    for index, found in enumerate(done):
        ctx.origin = f"{outer}#{index}"
        kind = type(found)
        if kind is dict:
            emit(found)
        elif kind is str:
            ctx.skip(found)
        else:
            handle_one(aws.normalize_record, found[0], ctx)
    ctx.origin = outer
