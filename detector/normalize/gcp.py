"""GCP Cloud Audit Logs → TokenEvents.

Two delivery shapes reach this module (shapes.py routes them):
- a Cloud Logging LogEntry with a `protoPayload` (Pub/Sub sinks, `gcloud logging read`, Storage
  sinks), handled by `normalize_entry`;
- a row of the BigQuery audit-log export, whose payload column is `protopayload_auditlog` and whose
  bodies are JSON strings (`requestJson`, `responseJson`, `metadataJson`), handled by
  `normalize_bigquery_row`. Snake-case spellings of the payload fields (`principal_email`,
  `method_name`, …, as some export tools write them) are accepted too. Rows of GKE's K8s audit
  (`serviceName` "k8s.io") are handed to the K8s module as a LogEntry (without their JSON bodies).

Field rules (the contract of the events this module makes):
- Only protoPayload `@type` google.cloud.audit.AuditLog is an audit record; other payloads
  (request logs…) are skipped. Entries of the `system_event` log are skipped too: they are
  Google-initiated and carry no caller credential.
- `action` is "<service>:<method>": service is `serviceName` without ".googleapis.com"; method is the
  last dotted part of `methodName` when that part starts with an upper-case letter (gRPC style,
  "google.iam.admin.v1.CreateServiceAccountKey" → "CreateServiceAccountKey"), else the whole
  `methodName` (REST-discovery style, "storage.objects.get") with a leading API-version part dropped
  ("beta.compute.instances.insert" and "v1.compute.instances.insert" are the same operation:
  "compute.instances.insert"), so one operation has one action whatever API version called it.
- `read_only`: admin-activity entries are writes (False) by definition of that log; token-minting
  calls (iamcredentials) are never reads; otherwise, when every `authorizationInfo[].permissionType`
  says *_READ it is True and any *_WRITE makes it False; without permission types, the method verb
  decides (Get/List/Search/Read/Lookup/Query/BatchGet/TestIamPermissions → True, else False).
- `status_code` is the gRPC code of `status.code` (0 / absent means success); `error_code` is
  `status.message` clipped to 200 characters (else the ErrorInfo reason, else the code).
- Identity: `principalEmail`, else `principalSubject` ("user:x", "serviceAccount:x" are unwrapped;
  "principal://…" workload/workforce identities stay whole, principal_type "federated"). The token is
  the key id of `serviceAccountKeyName` (kind "sa-key"), else "oauth:<principal>" (kind "oauth").
- Lineage, most specific first: impersonation (iamcredentials GenerateAccessToken / GenerateIdToken /
  SignJwt / SignBlob) and key creation (CreateServiceAccountKey / UploadServiceAccountKey) are
  "issued" with the target service account as lineage_principal (and the new key id as
  lineage_token when the response names it); otherwise a `serviceAccountDelegationInfo` chain gives
  "delegated-by" with the ORIGINAL caller (first element of the chain) as lineage_principal.
- Request and response bodies are never copied: only `request.name` and `response.name` /
  `response.keyId` (identifiers) are read. A GenerateAccessToken response holds an access token and
  a CreateServiceAccountKey response holds `privateKeyData`; neither is touched.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import unquote

import orjson

from ..events import new_event
from .base import (
    BAD_FIELD,
    BAD_TIMESTAMP,
    MISSING_FIELD,
    NOT_AN_OBJECT,
    Context,
    Rejected,
    Skipped,
    normalize_ip,
    optional_text,
    parse_ts,
)

AUDIT_LOG_TYPE = "type.googleapis.com/google.cloud.audit.AuditLog"
SKIP_NON_AUDIT = "gcp-non-audit-log-entry"  # same reason shapes.py uses for non-proto entries
SKIP_SYSTEM_EVENT = "gcp-system-event"

_ERROR_CLIP = 200
_IMPERSONATION_METHODS = frozenset({"GenerateAccessToken", "GenerateIdToken", "SignJwt", "SignBlob"})
_KEY_METHODS = frozenset({"CreateServiceAccountKey", "UploadServiceAccountKey"})
_LINEAGE_METHODS = _IMPERSONATION_METHODS | _KEY_METHODS
_READ_VERBS = ("get", "list", "search", "read", "lookup", "query", "batchget", "testiampermissions")
_GRPC_NAMES = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}


# --- entry points --------------------------------------------------------------------------


def normalize_entry(entry: Any, ctx: Context) -> None:
    """One Cloud Logging LogEntry whose protoPayload is not k8s.io."""
    if not isinstance(entry, dict):
        raise Rejected(NOT_AN_OBJECT, f"LogEntry is a {type(entry).__name__}")
    proto = entry.get("protoPayload")
    if not isinstance(proto, dict):
        raise Rejected(BAD_FIELD, "protoPayload is not an object")
    kind = proto.get("@type")
    if kind != AUDIT_LOG_TYPE and (kind is not None or "methodName" not in proto):
        raise Skipped(SKIP_NON_AUDIT)
    ctx.emit(_event(entry, proto, bigquery=False))


def normalize_bigquery_row(row: Any, ctx: Context) -> None:
    """One row of the BigQuery audit-log export (payload in `protopayload_auditlog`)."""
    if not isinstance(row, dict):
        raise Rejected(NOT_AN_OBJECT, f"BigQuery row is a {type(row).__name__}")
    proto = row.get("protopayload_auditlog")
    if not isinstance(proto, dict):
        raise Rejected(BAD_FIELD, "protopayload_auditlog is not an object")
    entry, proto = _camel_row(row), _camel(proto)
    if proto.get("serviceName") == "k8s.io":  # GKE audit in the same export: the K8s module's job
        from . import k8s  # imported here: shapes.py imports both modules, neither imports the other

        k8s.normalize_gke_entry({**entry, "protoPayload": proto}, ctx)
        return
    ctx.emit(_event(entry, proto, bigquery=True))


# --- the event ----------------------------------------------------------------------------


def _event(entry: dict, proto: dict, bigquery: bool) -> dict[str, Any]:
    # The common case (every field a non-empty string / an object) takes inline checks only;
    # anything else goes through _opt_text/_req_text/_dict, which name the field they reject.
    log_name = entry.get("logName")
    if log_name.__class__ is not str:
        log_name = _opt_text(log_name, "logName")
    log_kind = _log_kind(log_name) if log_name else None
    if log_kind == "system_event":
        raise Skipped(SKIP_SYSTEM_EVENT)

    event = new_event()
    event["source"] = "gcp"
    insert_id = entry.get("insertId")
    event["event_id"] = insert_id if insert_id.__class__ is str and insert_id else _req_text(insert_id, "insertId")
    ts = entry.get("timestamp")
    event["ts"] = _ts(ts if ts is not None else entry.get("receiveTimestamp"), "timestamp")

    resource = entry.get("resource")
    labels = (resource if resource.__class__ is dict else _dict(resource, "resource")).get("labels")
    if labels.__class__ is not dict:
        labels = _dict(labels, "resource.labels")
    tenant = labels.get("project_id")
    if tenant.__class__ is not str:
        tenant = _opt_text(tenant, "resource.labels.project_id")
    event["tenant"] = tenant or (_log_parent(log_name) if log_name else None)
    region = labels.get("location") or labels.get("region") or labels.get("zone")
    event["region"] = (region or None) if region.__class__ is str else _opt_text(region, "resource.labels.location")

    service = proto.get("serviceName")
    if service.__class__ is not str or not service:
        service = _req_text(service, "protoPayload.serviceName")
    method_name = proto.get("methodName")
    if method_name.__class__ is not str or not method_name:
        method_name = _req_text(method_name, "protoPayload.methodName")
    method = _method(method_name)
    event["action"] = _action(service, method)
    resource_name = proto.get("resourceName")
    event["resource"] = resource_name if resource_name.__class__ is str else _opt_text(resource_name, "protoPayload.resourceName")

    meta = proto.get("requestMetadata")
    if meta.__class__ is not dict:
        meta = _dict(meta, "protoPayload.requestMetadata")
    caller_ip = meta.get("callerIp")
    if caller_ip.__class__ is not str:
        caller_ip = _opt_text(caller_ip, "protoPayload.requestMetadata.callerIp")
    event["source_ip"], event["source_ip_raw"] = normalize_ip(caller_ip)
    agent = meta.get("callerSuppliedUserAgent")
    event["user_agent"] = (agent or None) if agent.__class__ is str else _opt_text(
        agent, "protoPayload.requestMetadata.callerSuppliedUserAgent"
    )

    status = proto.get("status")
    if status:
        _outcome(event, status)
    else:
        event["outcome"] = "success"
    event["read_only"] = _read_only(log_kind, service, method, proto.get("authorizationInfo"))

    auth = proto.get("authenticationInfo")
    if auth.__class__ is not dict:
        auth = _dict(auth, "protoPayload.authenticationInfo")
    _identity(event, auth)
    if method in _LINEAGE_METHODS or auth.get("serviceAccountDelegationInfo") is not None:
        _lineage(event, auth, proto, service, method, bigquery)
    return event


def _identity(event: dict, auth: dict) -> None:
    email = auth.get("principalEmail")
    if email.__class__ is not str:
        email = _opt_text(email, "protoPayload.authenticationInfo.principalEmail")
    if email:
        principal = email
        ptype, oauth = _email_identity(email)
    else:
        subject = _opt_text(auth.get("principalSubject"), "protoPayload.authenticationInfo.principalSubject")
        if not subject:
            raise Rejected(
                MISSING_FIELD,
                "protoPayload.authenticationInfo.principalEmail and principalSubject are both missing",
            )
        principal, ptype = _subject(subject)
        oauth = f"oauth:{principal}"
    event["principal"] = principal
    event["principal_type"] = ptype
    key_name = auth.get("serviceAccountKeyName")
    if key_name:
        key_id = _key_id(_req_text(key_name, "protoPayload.authenticationInfo.serviceAccountKeyName"))
        if key_id:
            event["token_id"], event["token_kind"] = key_id, "sa-key"
            return
    event["token_id"], event["token_kind"] = oauth, "oauth"


@lru_cache(maxsize=16_384)
def _email_identity(email: str) -> tuple[str, str]:
    return ("serviceAccount" if email.endswith(".gserviceaccount.com") else "user"), f"oauth:{email}"


def _lineage(event: dict, auth: dict, proto: dict, service: str, method: str, bigquery: bool) -> None:
    short = method.rsplit(".", 1)[-1]
    if (short in _IMPERSONATION_METHODS and service.startswith("iamcredentials.")) or (
        short in _KEY_METHODS and service.startswith("iam.")
    ):
        target = _target_account(proto, bigquery)
        if target:
            event["lineage_kind"] = "issued"
            event["lineage_principal"] = target
            if short in _KEY_METHODS:
                key_name = _body_text(proto, "response", "name", bigquery)
                event["lineage_token"] = _key_id(key_name) if key_name else None
            else:  # SignJwt / SignBlob name the system-managed key that signed
                event["lineage_token"] = _body_text(proto, "response", "keyId", bigquery)
            return
    chain = auth.get("serviceAccountDelegationInfo")
    if chain is None:
        return
    if not isinstance(chain, list):
        raise Rejected(BAD_FIELD, "protoPayload.authenticationInfo.serviceAccountDelegationInfo is not a list")
    for link in chain:  # the first element with a principal is the original caller
        original = _delegator(link)
        if original:
            event["lineage_kind"] = "delegated-by"
            event["lineage_principal"] = original
            return


def _delegator(link: Any) -> str | None:
    if not isinstance(link, dict):
        return None
    first_party = link.get("firstPartyPrincipal")
    if isinstance(first_party, dict):
        email = first_party.get("principalEmail")
        if isinstance(email, str) and email:
            return email
    subject = link.get("principalSubject")
    if isinstance(subject, str) and subject:
        return _subject(subject)[0]
    third = link.get("thirdPartyPrincipal")
    if isinstance(third, dict):
        claims = third.get("thirdPartyClaims")
        if isinstance(claims, str) and claims.startswith("{"):  # BigQuery: thirdPartyClaimsJson
            try:
                claims = orjson.loads(claims)
            except orjson.JSONDecodeError:
                claims = None
        if isinstance(claims, dict):
            for key in ("principalEmail", "email", "sub", "subject"):
                value = claims.get(key)
                if isinstance(value, str) and value:
                    return value
    return None


def _target_account(proto: dict, bigquery: bool) -> str | None:
    """The service account an impersonation / key call acts on: an email when any field has one."""
    candidates = [_body_text(proto, "request", "name", bigquery)]
    metadata = proto.get("metadata")
    if bigquery and metadata is None:
        metadata = _json_field(proto, "metadataJson")
    chain = metadata.get("identityDelegationChain") if isinstance(metadata, dict) else None
    if isinstance(chain, list) and chain and isinstance(chain[-1], str):
        candidates.append(chain[-1])
    resource_name = proto.get("resourceName")
    candidates.append(resource_name if isinstance(resource_name, str) else None)
    fallback = None
    for candidate in candidates:
        if not candidate:
            continue
        account = _account_from_name(candidate)
        if "@" in account:
            return account
        fallback = fallback or account
    return fallback


@lru_cache(maxsize=4096)
def _account_from_name(name: str) -> str:
    """"projects/-/serviceAccounts/SA[/keys/K]" → "SA"; anything else is returned as it is."""
    marker = "/serviceAccounts/"
    index = name.find(marker)
    if index < 0:
        return name
    return name[index + len(marker) :].split("/", 1)[0]


@lru_cache(maxsize=4096)
def _key_id(name: str) -> str | None:
    """".../serviceAccounts/SA/keys/KEYID" → "KEYID"."""
    index = name.rfind("/keys/")
    if index < 0:
        return None
    key = name[index + 6 :].strip("/")
    return key or None


def _outcome(event: dict, status: Any) -> None:
    if status is None:
        event["outcome"] = "success"
        return
    if not isinstance(status, dict):
        raise Rejected(BAD_FIELD, f"protoPayload.status has type {type(status).__name__}, expected an object")
    code = status.get("code")
    if code is None or code == 0:
        event["outcome"] = "success"
        event["status_code"] = 0 if code == 0 else None
        return
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool) or not -(2**31) <= code < 2**31:
        raise Rejected(BAD_FIELD, f"protoPayload.status.code={str(code)[:32]!r} is not a gRPC code")
    event["status_code"] = code
    if code == 0:
        event["outcome"] = "success"
        return
    event["outcome"] = "failure"
    message = status.get("message")
    if isinstance(message, str) and message:
        event["error_code"] = message[:_ERROR_CLIP]
        return
    details = status.get("details")
    if isinstance(details, list):
        for detail in details:
            reason = detail.get("reason") if isinstance(detail, dict) else None
            if isinstance(reason, str) and reason:
                event["error_code"] = reason[:_ERROR_CLIP]
                return
    event["error_code"] = _GRPC_NAMES.get(code, str(code))


def _read_only(log_kind: str | None, service: str, method: str, authz: Any) -> bool:
    if log_kind == "activity" or service.startswith("iamcredentials."):
        return False
    if isinstance(authz, list) and authz:
        kinds = [a.get("permissionType") for a in authz if isinstance(a, dict)]
        if kinds and all(isinstance(k, str) and k for k in kinds):
            return all(k.endswith("_READ") for k in kinds)
    return _verb_reads(method)


@lru_cache(maxsize=4096)
def _verb_reads(method: str) -> bool:
    return method.rsplit(".", 1)[-1].lower().startswith(_READ_VERBS)


# --- small derivations (cached: the same few strings repeat millions of times) ---------------


@lru_cache(maxsize=8192)
def _method(method_name: str) -> str:
    parts = method_name.split(".")
    last = parts[-1]
    if last[:1].isupper():
        return last
    head = parts[0]
    if len(parts) > 2 and (head in ("alpha", "beta") or (head[:1] == "v" and head[1:2].isdigit())):
        return ".".join(parts[1:])
    return method_name


@lru_cache(maxsize=8192)
def _action(service: str, method: str) -> str:
    if service.endswith(".googleapis.com"):
        service = service[: -len(".googleapis.com")]
    return f"{service}:{method}"


@lru_cache(maxsize=1024)
def _log_kind(log_name: str) -> str | None:
    """"projects/P/logs/cloudaudit.googleapis.com%2Factivity" → "activity"."""
    index = log_name.find("/logs/")
    if index < 0:
        return None
    log_id = unquote(log_name[index + 6 :])
    if log_id.startswith("cloudaudit.googleapis.com/"):
        return log_id[len("cloudaudit.googleapis.com/") :]
    return None


@lru_cache(maxsize=1024)
def _log_parent(log_name: str) -> str | None:
    """"projects/P/logs/…" → "P"; "organizations/O/logs/…" → "organizations/O"."""
    parts = log_name.split("/", 2)
    if len(parts) < 2 or not parts[1]:
        return None
    return parts[1] if parts[0] == "projects" else f"{parts[0]}/{parts[1]}"


@lru_cache(maxsize=4096)
def _subject(subject: str) -> tuple[str, str]:
    kind, sep, rest = subject.partition(":")
    if sep and rest and kind in ("user", "serviceAccount"):
        if kind == "serviceAccount" or rest.endswith(".gserviceaccount.com"):
            return rest, "serviceAccount"
        return rest, "user"
    return subject, "federated"


# --- field access --------------------------------------------------------------------------


def _dict(value: Any, field: str) -> dict:
    if value.__class__ is dict:
        return value
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected(BAD_FIELD, f"{field} has type {type(value).__name__}, expected an object")
    return value


_opt_text = optional_text  # shared with the other normalizers (base.py)


def _req_text(value: Any, field: str) -> str:
    text = _opt_text(value, field)
    if text is None:
        raise Rejected(MISSING_FIELD, f"{field} is missing")
    return text


def _body_text(proto: dict, body: str, key: str, bigquery: bool) -> str | None:
    """An identifier inside request/response (an object, or a JSON string in BigQuery rows)."""
    value = proto.get(body)
    if value is None and bigquery:
        value = _json_field(proto, body + "Json")
    if isinstance(value, dict):
        found = value.get(key)
        return found if isinstance(found, str) and found else None
    return None


def _json_field(proto: dict, key: str) -> Any:
    text = proto.get(key)
    if not isinstance(text, str) or not text.startswith("{"):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


# BigQuery exports name the payload fields in camelCase; some export tools write snake_case.
_SNAKE_TO_CAMEL = {
    "service_name": "serviceName",
    "method_name": "methodName",
    "resource_name": "resourceName",
    "authentication_info": "authenticationInfo",
    "authorization_info": "authorizationInfo",
    "request_metadata": "requestMetadata",
    "principal_email": "principalEmail",
    "principal_subject": "principalSubject",
    "service_account_key_name": "serviceAccountKeyName",
    "service_account_delegation_info": "serviceAccountDelegationInfo",
    "first_party_principal": "firstPartyPrincipal",
    "third_party_principal": "thirdPartyPrincipal",
    "third_party_claims_json": "thirdPartyClaims",
    "thirdPartyClaimsJson": "thirdPartyClaims",
    "caller_ip": "callerIp",
    "caller_supplied_user_agent": "callerSuppliedUserAgent",
    "permission_type": "permissionType",
    "request_json": "requestJson",
    "response_json": "responseJson",
    "metadata_json": "metadataJson",
    "insert_id": "insertId",
    "log_name": "logName",
    "receive_timestamp": "receiveTimestamp",
}


def _camel(value: Any, depth: int = 0) -> Any:
    """Rename snake_case keys of a BigQuery payload to the LogEntry spelling (a shallow walk)."""
    if depth > 4:
        return value
    if isinstance(value, dict):
        return {_SNAKE_TO_CAMEL.get(k, k): _camel(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v, depth + 1) for v in value]
    return value


def _camel_row(row: dict) -> dict:
    return {_SNAKE_TO_CAMEL.get(k, k): v for k, v in row.items() if k != "protopayload_auditlog"}


_ts = parse_ts  # base.parse_ts also refuses inf, NaN and epoch numbers outside 1970–2200
