"""Azure activity log, Entra ID sign-ins and Entra audit logs → TokenEvents.

shapes.py sends every Azure record here except AKS kube-audit: each element of a diagnostic
`records[]` batch, a bare REST (`operationName` object) or SDK (`operation_name`) activity record,
and a bare Graph `signIns` row (`createdDateTime`). `is_signin` picks the sign-in handler; the
rest goes to `normalize_activity`, which also takes Entra `AuditLogs` records (and bare Graph
`directoryAudits` rows) and `MicrosoftGraphActivityLogs` records.

Activity log (three shapes: diagnostic settings `records[]` with string fields and
`identity.claims`; REST with `{value, localizedValue}` objects and `claims`; SDK snake_case):
- Identity. The token's claims decide whether the caller is a service principal: an app-only
  token (`idtyp` "app"; or no `idtyp`, no delegated scope claim (`scp`) and no user claims such as
  a UPN or `puid`; or authorization evidence `principalType` ServicePrincipal) makes principal =
  the `appid` claim (principal_type "servicePrincipal", or "managedIdentity" when the token has an
  `xms_mirid` claim) and token_id "app:<appId>" (kind "sp"): activity logs never name the key or
  secret that obtained the token. A user's token also carries an `appid` (the client app, e.g. the
  Azure CLI), so for it principal = `caller` (the UPN; else the UPN / name / object id claims),
  principal_type "user", token_id "user:<caller>" (kind "user"). A caller that is neither a UPN nor
  backed by claims (a bare object id) gets principal_type "unknown" and token_id "caller:<id>".
- Records with no caller at all: in the Administrative category (diagnostic categories Write /
  Delete / Action are its sub-kinds) they are quarantined as missing-field; in other categories
  (ServiceHealth, ResourceHealth, Autoscale, Recommendation…) they are platform notices, skipped
  as "azure-no-caller".
- event_id = eventDataId; the diagnostic shape has none, so correlationId + ":" + a 16-hex-digit
  blake2b of (operation, status, resourceId, time, caller); a record without correlationId gets
  "h:" + that hash. Start and Success records of one request share a correlationId, so the status
  is part of the hash and they stay two events.
- action = "azure:" + the operation name in lower case (Azure operation names are
  case-insensitive and the diagnostic shape often logs them upper-cased: one operation, one action).
- outcome: Failed / Failure / Canceled, or an HTTP status ≥ 400 → "failure"; everything else
  (Succeeded / Success, and Started / Start / Accepted: ARM logs an authorization failure as a
  Failed record, so a started request passed authentication and authorization) → "success".
  A long-running write therefore
  shows as two events (Started, then Succeeded/Failed); the Started one has status_code null.
  status_code is the HTTP status from properties.statusCode / subStatus / resultSignature
  ("Created" → 201); error_code on failure = subStatus / resultSignature, else the `code` of
  properties.statusMessage, else properties.statusCode.
- read_only is True only for operations ending in "/read". "/action" operations are not reads:
  listKeys, listSecrets, regenerateKey… return or change secrets.
- Other resource logs that carry the caller's token claims take the same path; Key Vault's
  `AuditEvent` (claims in `identity.claim`) names the secret / key / certificate as resource
  (properties.id without its query), `clientInfo` as user agent, and its SecretGet / …List
  operations are reads.
- The `uti` claim (the access token's unique id) is kept as lineage_kind "exchanged-from",
  lineage_token = uti: the same value a sign-in record logs as uniqueTokenIdentifier, so the
  identity stage can tie an activity call to the sign-in (and credential key) that minted its token.
- Never copied: properties.requestBody / responseBody (string or object), claims other than ids.

Entra sign-ins (categories ServicePrincipalSignInLogs, ManagedIdentitySignInLogs, SignInLogs,
NonInteractiveUserSignInLogs, ADFSSignInLogs; or a Graph signIns row):
- service principal / managed identity: principal = appId; token_id = servicePrincipalCredentialKeyId
  (kind "sp-cert" when servicePrincipalCredentialThumbprint is set or clientCredentialType is
  "certificate", else "sp-secret"), a federated credential's id (kind "sp-federated"), else
  "app:<appId>" (kind "sp").
- user sign-ins are not machine credentials but are emitted (principal = UPN, principal_type "user",
  token_id "user:<upn>", kind "user") so the detector can see a person and an app share an IP; it
  may ignore them.
- outcome from status.errorCode (0 → success; else failure, error_code "<code>: <failureReason>");
  action "entra:signin:<resourceDisplayName>"; resource = the resource's app id; region = location;
  read_only False (a sign-in mints a token); lineage "issued" with the minted token's
  uniqueTokenIdentifier.

Entra AuditLogs: principal from initiatedBy.app (appId, else servicePrincipalId:
principal_type "servicePrincipal", token "app:<id>") or initiatedBy.user (UPN: "user"); action
"entra:<activity>" (en dash normalized to "-", trimmed). A credential added to an application or
service principal (modifiedProperties KeyDescription: key ids in newValue and not in oldValue) is
lineage "issued", lineage_principal = the target's appId (additionalDetails AppId, else the target
object id), lineage_token = the first added key id. KeyDescription holds key ids, types and display
names, never secret values.

Microsoft Graph activity logs (category MicrosoftGraphActivityLogs, one record per Graph API call):
principal = userId for delegated calls, else appId ("servicePrincipal", token "app:<appId>");
action "graph:<METHOD>"; resource = the request URI without its query string (queries can carry
search terms and tokens); outcome from responseStatusCode; lineage "exchanged-from" with
signInActivityId, the uniqueTokenIdentifier of the sign-in that minted the token.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from http import HTTPStatus
from typing import Any

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

SKIP_NO_CALLER = "azure-no-caller"

_ERROR_CLIP = 200
_CLAIM_TENANT = "http://schemas.microsoft.com/identity/claims/tenantid"
_CLAIM_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_CLAIM_SCOPE = "http://schemas.microsoft.com/identity/claims/scope"
_CLAIM_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
_CLAIM_NAME = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
_USER_CLAIMS = frozenset({_CLAIM_UPN, _CLAIM_NAME, "upn", "unique_name", "puid", "scp", _CLAIM_SCOPE})

_SP_SIGNIN = {
    "ServicePrincipalSignInLogs": "servicePrincipal",
    "ManagedIdentitySignInLogs": "managedIdentity",
    "SignInLogs": "user",
    "NonInteractiveUserSignInLogs": "user",
    "ADFSSignInLogs": "user",
}
_ADMIN_CATEGORIES = frozenset({"Administrative", "Write", "Delete", "Action"})
_FAILED = frozenset({"failed", "failure", "canceled", "cancelled", "error"})
_HTTP = {s.name.replace("_", "").lower(): s.value for s in HTTPStatus}


# --- routing --------------------------------------------------------------------------------


def is_signin(record: dict, category: Any) -> bool:
    """Whether a record (category already unwrapped by shapes.py) is an Entra sign-in."""
    if isinstance(category, str) and category:
        return category in _SP_SIGNIN
    if "createdDateTime" in record:  # Graph signIns row
        return True
    props = record.get("properties")
    if isinstance(props, dict) and "servicePrincipalId" in props and "createdDateTime" in props:
        return not props.get("userPrincipalName")
    return record.get("operationName") == "Sign-in activity"


# --- activity log ---------------------------------------------------------------------------


def normalize_activity(record: Any, ctx: Context) -> None:
    if not isinstance(record, dict):
        raise Rejected(NOT_AN_OBJECT, f"Azure record is a {type(record).__name__}")
    category = _value(record.get("category"), "category")
    if category == "AuditLogs" or (category is None and "initiatedBy" in record and "activityDisplayName" in record):
        ctx.emit(_audit_log(record, category))
        return
    if category == "MicrosoftGraphActivityLogs":
        ctx.emit(_graph_activity(record))
        return

    props = _dict(record.get("properties"), "properties")
    event_category = _value(props.get("eventCategory"), "properties.eventCategory") or category
    identity = record.get("identity")
    identity = identity if isinstance(identity, dict) else {}
    # Key Vault AuditEvent resource logs spell it identity.claim
    claims = _claims(record.get("claims") if "claims" in record else identity.get("claims") or identity.get("claim"))

    op = _value(record["operationName"] if "operationName" in record else record.get("operation_name"), "operationName")
    caller = _text(record.get("caller"), "caller")
    who = _activity_identity(caller, claims, identity)
    if who is None:
        if event_category in _ADMIN_CATEGORIES:
            raise Rejected(MISSING_FIELD, "caller and identity claims are missing in an Administrative activity record")
        raise Skipped(SKIP_NO_CALLER)
    if op is None:
        raise Rejected(MISSING_FIELD, "operationName is missing")

    event = new_event()
    event["source"] = "azure"
    event["principal"], event["principal_type"], event["token_id"], event["token_kind"] = who
    ts = record.get("eventTimestamp") or record.get("event_timestamp") or record.get("time")
    event["ts"] = _ts(ts, "eventTimestamp")

    status = _value(record.get("status") or record.get("resultType"), "status")
    sub_status = _value(record.get("subStatus") or record.get("sub_status") or record.get("resultSignature"), "subStatus")
    resource = _text(record.get("resourceId") or record.get("resource_id"), "resourceId")
    event["resource"] = resource
    event["action"] = _action(op)
    event["read_only"] = _reads(event["action"])
    if category == "AuditEvent":  # Key Vault data plane: name the secret/key/certificate, not the vault
        object_id = props.get("id")
        if object_id.__class__ is str and object_id:
            event["resource"] = object_id.split("?", 1)[0]
        agent = props.get("clientInfo")
        event["user_agent"] = agent if agent.__class__ is str and agent else None

    event_id = _text(record.get("eventDataId") or record.get("event_data_id"), "eventDataId")
    if not event_id:
        correlation = _text(record.get("correlationId") or record.get("correlation_id"), "correlationId")
        digest = _digest(op, status or "", resource or "", str(ts), event["principal"])
        event_id = f"{correlation}:{digest}" if correlation else f"h:{digest}"
    event["event_id"] = event_id

    tenant = _text(record.get("tenantId") or record.get("tenant_id"), "tenantId") or _text(claims.get(_CLAIM_TENANT), "claims.tenantid")
    event["tenant"] = tenant or _text(record.get("subscriptionId") or record.get("subscription_id"), "subscriptionId") or _subscription(resource)

    http = record.get("httpRequest") or record.get("http_request")
    http = _dict(http, "httpRequest")
    address = http.get("clientIpAddress") or http.get("client_ip_address") or record.get("callerIpAddress") or claims.get("ipaddr")
    event["source_ip"], event["source_ip_raw"] = normalize_ip(_text(address, "httpRequest.clientIpAddress"))

    code = event["status_code"] = _http_status(props.get("statusCode") or props.get("httpStatusCode"), sub_status)
    # Key Vault logs resultType "Success" for a request it answered 403: the HTTP status decides too
    failed = (status is not None and status.lower() in _FAILED) or (code is not None and code >= 400)
    event["outcome"] = "failure" if failed else "success"
    if failed:
        event["error_code"] = _activity_error(sub_status, props)

    uti = claims.get("uti")
    if isinstance(uti, str) and uti:
        event["lineage_kind"], event["lineage_token"] = "exchanged-from", uti
    ctx.emit(_done(event))


def _activity_identity(caller: str | None, claims: dict, identity: dict) -> tuple[str, str, str, str] | None:
    appid = claims.get("appid") or claims.get("azp")
    if appid is not None and not isinstance(appid, str):
        raise Rejected(BAD_FIELD, f"claims.appid has type {type(appid).__name__}, expected text")
    if appid and _app_only(claims, identity):
        return _app_identity(appid, "managedIdentity" if claims.get("xms_mirid") else "servicePrincipal")
    if not caller:
        for key in (_CLAIM_UPN, "upn", _CLAIM_NAME, "unique_name", _CLAIM_OID, "oid"):
            value = claims.get(key)
            if isinstance(value, str) and value.strip():
                caller = value.strip()
                break
    if not caller:
        return None
    if "@" in caller or claims:
        return caller, "user", f"user:{caller}", "user"
    if _guid(caller):
        return caller, "unknown", f"caller:{caller}", "caller"
    return None  # "Microsoft.Insights/autoscaleSettings" and other platform actors


@lru_cache(maxsize=16_384)
def _app_identity(appid: str, ptype: str) -> tuple[str, str, str, str]:
    return appid, ptype, f"app:{appid}", "sp"


def _app_only(claims: dict, identity: dict) -> bool:
    idtyp = claims.get("idtyp")
    if idtyp == "app":
        return True
    if idtyp == "user":
        return False
    evidence = identity.get("authorization")
    evidence = evidence.get("evidence") if isinstance(evidence, dict) else None
    if isinstance(evidence, dict) and evidence.get("principalType") == "ServicePrincipal":
        return True
    return not (claims.keys() & _USER_CLAIMS)


def _activity_error(sub_status: str | None, props: dict) -> str | None:
    if sub_status and sub_status.strip(". "):
        return sub_status[:_ERROR_CLIP]
    message = props.get("statusMessage")
    if isinstance(message, str) and message.startswith("{"):
        try:
            message = orjson.loads(message)
        except orjson.JSONDecodeError:
            message = None
    if isinstance(message, dict):
        error = message.get("error")
        code = error.get("code") if isinstance(error, dict) else message.get("code")
        if isinstance(code, str) and code:
            return code[:_ERROR_CLIP]
    code = props.get("statusCode")
    return str(code)[:_ERROR_CLIP] if isinstance(code, (str, int)) and code != "" else None


def _http_status(status_code: Any, sub_status: str | None) -> int | None:
    if isinstance(status_code, int) and not isinstance(status_code, bool):
        return status_code if 100 <= status_code < 600 else None
    for text in (status_code, sub_status):
        if isinstance(text, str) and text:
            code = _http_code(text)
            if code is not None:
                return code
    return None


@lru_cache(maxsize=1024)
def _http_code(text: str) -> int | None:
    """"Created" / "Succeeded.Created" / "201" / "Created (HTTP Status Code: 201)" → 201."""
    word = text.rsplit(".", 1)[-1].split(" (", 1)[0].strip()
    if word.isdigit():
        code = int(word)
        return code if 100 <= code < 600 else None
    return _HTTP.get(word.replace("_", "").replace(" ", "").lower())


# --- Entra sign-ins -------------------------------------------------------------------------


def normalize_signin(record: Any, ctx: Context) -> None:
    if not isinstance(record, dict):
        raise Rejected(NOT_AN_OBJECT, f"Azure record is a {type(record).__name__}")
    category = _value(record.get("category"), "category")
    props = record.get("properties")
    if props is None or "createdDateTime" in record:
        props = record  # Graph signIns row: the fields are top-level
    elif not isinstance(props, dict):
        raise Rejected(BAD_FIELD, f"properties has type {type(props).__name__}, expected an object")

    kind = _SP_SIGNIN.get(category) if category else None
    if kind is None:
        kind = _signin_kind(props)

    event = new_event()
    event["source"] = "azure"
    if kind == "user":
        upn = _text(props.get("userPrincipalName"), "properties.userPrincipalName") or _text(
            props.get("userId"), "properties.userId"
        )
        if not upn:
            raise Rejected(MISSING_FIELD, "properties.userPrincipalName is missing in a user sign-in")
        event["principal"], event["principal_type"] = upn, "user"
        event["token_id"], event["token_kind"] = f"user:{upn}", "user"
    else:
        app_id = _text(props.get("appId"), "properties.appId")
        if not app_id:
            raise Rejected(MISSING_FIELD, "properties.appId is missing in a service-principal sign-in")
        event["principal"], event["principal_type"] = app_id, kind
        event["token_id"], event["token_kind"] = _signin_credential(props, app_id)

    ts = props.get("createdDateTime") or record.get("time")
    event["ts"] = _ts(ts, "properties.createdDateTime")
    event["event_id"] = _text(props.get("id"), "properties.id") or _text(
        props.get("correlationId") or record.get("correlationId"), "correlationId"
    )
    if not event["event_id"]:
        event["event_id"] = "h:" + _digest(event["principal"], str(ts), str(props.get("resourceId")))

    tenant = _text(record.get("tenantId"), "tenantId") or _text(
        props.get("resourceTenantId") or props.get("homeTenantId"), "properties.resourceTenantId"
    )
    event["tenant"] = tenant or _tenant_from_path(record.get("resourceId"))

    address = props.get("ipAddress") or record.get("callerIpAddress")
    event["source_ip"], event["source_ip_raw"] = normalize_ip(_text(address, "properties.ipAddress"))
    event["user_agent"] = _text(props.get("userAgent"), "properties.userAgent")

    display = _text(props.get("resourceDisplayName"), "properties.resourceDisplayName")
    event["action"] = _signin_action(display)
    event["resource"] = _text(props.get("resourceId"), "properties.resourceId") or display

    location = record.get("location") if props is not record else None
    if not isinstance(location, str) or not location:
        location = _dict(props.get("location"), "properties.location").get("countryOrRegion")
    event["region"] = _text(location, "location")

    status = _dict(props.get("status"), "properties.status")
    code = status.get("errorCode", record.get("resultType"))
    if isinstance(code, str) and code.lstrip("-").isdigit():
        code = int(code)
    if code is None or code == 0:
        event["outcome"] = "success"
    elif isinstance(code, int) and not isinstance(code, bool):
        event["outcome"] = "failure"
        reason = status.get("failureReason") or record.get("resultDescription")
        text = f"{code}: {reason}" if isinstance(reason, str) and reason.strip() else str(code)
        event["error_code"] = text[:_ERROR_CLIP]
    else:
        raise Rejected(BAD_FIELD, f"properties.status.errorCode={str(code)[:32]!r} is not a number")
    event["read_only"] = False

    uti = props.get("uniqueTokenIdentifier")
    if isinstance(uti, str) and uti:
        event["lineage_kind"] = "issued"
        event["lineage_principal"] = event["principal"]
        event["lineage_token"] = uti
    ctx.emit(_done(event))


def _signin_kind(props: dict) -> str:
    types = props.get("signInEventTypes")
    if isinstance(types, list):
        if "managedIdentity" in types:
            return "managedIdentity"
        if "servicePrincipal" in types:
            return "servicePrincipal"
        if "interactiveUser" in types or "nonInteractiveUser" in types:
            return "user"
    if props.get("userPrincipalName"):
        return "user"
    msi = props.get("managedServiceIdentity")
    if isinstance(msi, dict) and msi.get("msiType") not in (None, "", "none"):
        return "managedIdentity"
    return "servicePrincipal"


def _signin_credential(props: dict, app_id: str) -> tuple[str, str]:
    credential_type = props.get("clientCredentialType")
    key_id = _text(props.get("servicePrincipalCredentialKeyId"), "properties.servicePrincipalCredentialKeyId")
    if key_id:
        if props.get("servicePrincipalCredentialThumbprint") or credential_type == "certificate":
            return key_id, "sp-cert"
        return key_id, "sp-secret"
    federated = _text(props.get("federatedCredentialId"), "properties.federatedCredentialId")
    if federated:
        return federated, "sp-federated"
    return f"app:{app_id}", "sp"


@lru_cache(maxsize=4096)
def _signin_action(display: str | None) -> str:
    return f"entra:signin:{display}" if display else "entra:signin"


# --- Entra audit logs -----------------------------------------------------------------------


def _audit_log(record: dict, category: str | None) -> dict[str, Any]:
    props = record.get("properties") if category == "AuditLogs" else record
    props = _dict(props, "properties")
    initiated = _dict(props.get("initiatedBy"), "properties.initiatedBy")
    app = initiated.get("app")
    user = initiated.get("user")
    event = new_event()
    event["source"] = "azure"
    address = None
    if isinstance(app, dict) and (app.get("appId") or app.get("servicePrincipalId")):
        app_id = _text(app.get("appId") or app.get("servicePrincipalId"), "properties.initiatedBy.app.appId")
        event["principal"], event["principal_type"] = app_id, "servicePrincipal"
        event["token_id"], event["token_kind"] = f"app:{app_id}", "sp"
        address = app.get("ipAddress")
    elif isinstance(user, dict) and (user.get("userPrincipalName") or user.get("id")):
        upn = _text(user.get("userPrincipalName") or user.get("id"), "properties.initiatedBy.user.userPrincipalName")
        event["principal"], event["principal_type"] = upn, "user"
        event["token_id"], event["token_kind"] = f"user:{upn}", "user"
        address = user.get("ipAddress")
    else:
        raise Rejected(MISSING_FIELD, "properties.initiatedBy.app.appId / initiatedBy.user.userPrincipalName is missing")

    ts = props.get("activityDateTime") or record.get("time")
    event["ts"] = _ts(ts, "properties.activityDateTime")
    activity = _text(props.get("activityDisplayName") or record.get("operationName"), "properties.activityDisplayName")
    if not activity:
        raise Rejected(MISSING_FIELD, "properties.activityDisplayName is missing")
    event["action"] = _audit_action(activity)
    event["event_id"] = _text(props.get("id"), "properties.id") or "h:" + _digest(
        activity, str(ts), event["principal"], str(props.get("correlationId") or record.get("correlationId"))
    )
    event["tenant"] = _text(record.get("tenantId"), "tenantId") or _tenant_from_path(record.get("resourceId"))

    ip_text = _address(address) or _address(_text(record.get("callerIpAddress"), "callerIpAddress"))
    event["source_ip"], event["source_ip_raw"] = normalize_ip(ip_text)
    details = props.get("additionalDetails")
    event["user_agent"] = _detail(details, "User-Agent") or _text(props.get("userAgent"), "properties.userAgent")

    result = props.get("result")
    failed = isinstance(result, str) and result.lower() in ("failure", "timeout")
    event["outcome"] = "failure" if failed else "success"
    if failed:
        reason = props.get("resultReason")
        event["error_code"] = (reason if isinstance(reason, str) and reason else result)[:_ERROR_CLIP]
    event["read_only"] = False

    targets = props.get("targetResources")
    if targets is not None and not isinstance(targets, list):
        raise Rejected(BAD_FIELD, "properties.targetResources is not a list")
    if targets and isinstance(targets[0], dict):
        event["resource"] = _text(targets[0].get("id"), "properties.targetResources[0].id")
    for target in targets or ():
        added = _added_keys(target)
        if added:
            event["lineage_kind"] = "issued"
            event["lineage_principal"] = _detail(details, "AppId") or _target_app(target)
            event["lineage_token"] = added[0]
            break
    return _done(event)


def _added_keys(target: Any) -> list[str]:
    if not isinstance(target, dict):
        return []
    modified = target.get("modifiedProperties")
    if not isinstance(modified, list):
        return []
    for prop in modified:
        if isinstance(prop, dict) and prop.get("displayName") == "KeyDescription":
            old = set(_key_ids(prop.get("oldValue")))
            return [key for key in _key_ids(prop.get("newValue")) if key not in old]
    return []


def _key_ids(text: Any) -> list[str]:
    """Key ids in a KeyDescription value: '["[KeyIdentifier=ID,KeyType=…,KeyUsage=…,DisplayName=…]"]'."""
    if not isinstance(text, str):
        return []
    ids = []
    for chunk in text.split("KeyIdentifier=")[1:]:
        key = chunk.split(",", 1)[0].split("]", 1)[0].strip().strip('"\\')
        if key:
            ids.append(key)
    return ids


def _target_app(target: dict) -> str | None:
    for prop in target.get("modifiedProperties") or ():
        if isinstance(prop, dict) and prop.get("displayName") in ("AppId", "AppPrincipalId", "AppAddress"):
            ids = _strings(prop.get("newValue"))
            if ids:
                return ids[0]
    target_id = target.get("id")
    return target_id if isinstance(target_id, str) and target_id else None


def _strings(text: Any) -> list[str]:
    if not isinstance(text, str):
        return []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return [text] if text else []
    if isinstance(value, str):
        return [value] if value else []
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def _detail(details: Any, key: str) -> str | None:
    if not isinstance(details, list):
        return None
    for item in details:
        if isinstance(item, dict) and item.get("key") == key:
            value = item.get("value")
            return value if isinstance(value, str) and value else None
    return None


@lru_cache(maxsize=4096)
def _audit_action(activity: str) -> str:
    return "entra:" + " ".join(activity.replace("\u2013", "-").split())


# --- Microsoft Graph activity logs (each Graph API call, with the caller's app and token id) ---


def _graph_activity(record: dict) -> dict[str, Any]:
    props = _dict(record.get("properties"), "properties")
    event = new_event()
    event["source"] = "azure"
    user = _text(props.get("userId"), "properties.userId")
    app_id = _text(props.get("appId"), "properties.appId")
    if user:
        event["principal"], event["principal_type"] = user, "user"
        event["token_id"], event["token_kind"] = f"user:{user}", "user"
    elif app_id:
        event["principal"], event["principal_type"] = app_id, "servicePrincipal"
        event["token_id"], event["token_kind"] = f"app:{app_id}", "sp"
    else:
        raise Rejected(MISSING_FIELD, "properties.appId is missing in a Graph activity record")
    ts = props.get("requestTime") or record.get("time")
    event["ts"] = _ts(ts, "time")
    event["event_id"] = _text(props.get("requestId") or record.get("correlationId"), "properties.requestId") or (
        "h:" + _digest(event["principal"], str(ts), str(props.get("requestUri")))
    )
    event["tenant"] = _text(record.get("tenantId") or props.get("tenantId"), "tenantId")
    event["source_ip"], event["source_ip_raw"] = normalize_ip(
        _text(props.get("ipAddress") or record.get("callerIpAddress"), "properties.ipAddress")
    )
    event["user_agent"] = _text(props.get("userAgent"), "properties.userAgent")
    method = _text(props.get("requestMethod"), "properties.requestMethod") or "?"
    uri = _text(props.get("requestUri"), "properties.requestUri")
    path = _graph_path(uri) if uri else None
    event["action"] = f"graph:{method.upper()}"
    event["resource"] = path
    status = props.get("responseStatusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    event["status_code"] = status if isinstance(status, int) and not isinstance(status, bool) and 0 <= status < 1000 else None
    failed = event["status_code"] is not None and event["status_code"] >= 400
    event["outcome"] = "failure" if failed else "success"
    if failed:
        event["error_code"] = str(event["status_code"])
    event["read_only"] = method.upper() in ("GET", "HEAD")
    token = props.get("signInActivityId")
    if isinstance(token, str) and token:
        event["lineage_kind"], event["lineage_token"] = "exchanged-from", token
    return _done(event)


@lru_cache(maxsize=8192)
def _graph_path(uri: str) -> str:
    """The request URI without its query string (queries can carry search terms and tokens)."""
    return uri.split("?", 1)[0][:_ERROR_CLIP * 2]


# --- helpers ---------------------------------------------------------------------------------


def _done(event: dict[str, Any]) -> dict[str, Any]:
    if not event["principal"]:
        raise Rejected(MISSING_FIELD, "no principal")
    return event


def _value(value: Any, field: str) -> str | None:
    """A plain string, or the `value` of a REST-shape {value, localizedValue} object."""
    if value.__class__ is str:
        return value or None
    if isinstance(value, dict):
        value = value.get("value")
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    raise Rejected(BAD_FIELD, f"{field} has type {type(value).__name__}, expected text")


_text = optional_text  # shared with the other normalizers (base.py)


def _dict(value: Any, field: str) -> dict:
    if value.__class__ is dict:
        return value
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise Rejected(BAD_FIELD, f"{field} has type {type(value).__name__}, expected an object")
    return value


def _claims(value: Any) -> dict:
    """Claims as logged: an object, or a JSON string (Log Analytics exports), or absent."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise Rejected(BAD_FIELD, "claims is a string that is not a JSON object") from None
    return _dict(value, "claims")


@lru_cache(maxsize=8192)
def _action(op: str) -> str:
    return "azure:" + op.strip().lower()


@lru_cache(maxsize=8192)
def _reads(action: str) -> bool:
    """ARM operations ending in /read; Key Vault data-plane operations named …Get / …List."""
    if "/" in action:
        return action.endswith("/read")
    return action.endswith(("get", "list"))


def _address(value: Any) -> str | None:
    """An address field, with the "<null>" placeholder Entra writes for "none" dropped."""
    if isinstance(value, str) and value.strip() not in ("", "<null>"):
        return value
    return None


def _guid(text: str) -> bool:
    parts = text.split("-")
    return len(parts) == 5 and [len(p) for p in parts] == [8, 4, 4, 4, 12]


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _subscription(resource: str | None) -> str | None:
    if resource and resource[:15].lower() == "/subscriptions/":
        return resource[15:].split("/", 1)[0] or None
    return None


def _tenant_from_path(resource: Any) -> str | None:
    if isinstance(resource, str) and resource[:9].lower() == "/tenants/":
        return resource[9:].split("/", 1)[0] or None
    return None


_ts = parse_ts  # base.parse_ts also refuses inf, NaN and epoch numbers outside 1970–2200
