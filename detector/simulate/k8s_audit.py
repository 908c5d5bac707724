"""Kubernetes audit.k8s.io/v1 Events, written as the API server writes them.

One `request()` call is one API request: a ResponseComplete event, preceded by a
RequestReceived copy where the audit policy keeps that stage (writes), or by ResponseStarted
for long-running requests (watch, exec). Authentication failures are logged as the server does:
one ResponseStarted event with an empty user. Shared parts of events (users, objectRefs,
annotation maps, status objects) are built once and reused; orjson serializes them.

Audit policy modelled (what a careful operator configures):
- Metadata for everything; RequestResponse for RBAC writes (bindings must show their roleRef);
- RequestReceived kept only for writes to objects (not status/token subresources, leases,
  reviews or endpoint slices): about one request in twenty;
- TokenRequests at RequestResponse during one debugging window (the token body then leaks into
  the log, which the normalizer must drop);
- during an API brownout, priority-and-fairness rejects requests with 429 before authorization.
"""

from __future__ import annotations

import base64
import random
from typing import Any

import orjson

from .rand import b64, lognormal_us, uuid4
from .sinks import Output
from .timefmt import US, iso_micro
from .world import K8sPrincipal, World

_OK = {code: {"metadata": {}, "code": code} for code in (200, 201, 101)}
_RR_SKIP = {"leases", "subjectaccessreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews", "tokenreviews",
            "events", "endpointslices"}
_RR_SUBRESOURCES = {None, "exec", "eviction", "scale"}
_WRITES = {"create", "update", "patch", "delete", "deletecollection"}
_LATENCY_MS = {"get": 3.0, "list": 25.0, "create": 9.0, "update": 7.0, "patch": 8.0, "delete": 8.0, "watch": 2.0}


class Caller:
    """Who sends a request: principal, the `user` object as logged, client IP, agent, token id."""

    __slots__ = ("principal", "user", "sips", "ua", "token_id", "iat", "head")

    def __init__(self, principal: K8sPrincipal, user: dict, ip: str, ua: str, token_id: str | None, iat: int | None = None):
        self.principal, self.user, self.sips, self.ua = principal, user, [ip], ua
        # users without a service-account credential are tracked per user, as the normalizer does
        self.token_id, self.iat = token_id or f"user:{principal.username}", iat
        # the user/sourceIPs/userAgent members, serialized once for all of this caller's events
        self.head = (',"user":' + orjson.dumps(user).decode() + ',"sourceIPs":' + orjson.dumps([ip]).decode()
                     + ',"userAgent":' + orjson.dumps(ua).decode())


def _json(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def fake_jwt(rng: random.Random, claims: dict[str, Any]) -> str:
    """A token-shaped string (header.claims.signature); the signature is random bytes."""
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"' + b64(rng, 30, urlsafe=True).encode() + b'"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=")
    return f"{header.decode()}.{body.decode()}.{b64(rng, 256, urlsafe=True)}"


class K8sAudit:
    def __init__(self, world: World, out: Output):
        self.world, self.out, self.sink = world, out, out.k8s
        self.brownout = world.changes.get("brownout")
        self.debug_window = world.changes.get("token_debug_logging")
        self._orefs: dict[tuple, dict] = {}
        self._uris: dict[tuple, str] = {}
        self._fragments: dict[tuple, str] = {}  # ',"objectRef":{...}' per object
        self._ann_json: dict[tuple[int, str | None], str] = {}  # serialized shared annotation maps
        self._status_json = {code: ',"responseStatus":' + _json(v) for code, v in _OK.items()}
        self.leaked_tokens: list[str] = []  # fake token values written into responseObjects
        self.world_end = world.end - 1

    def new_day(self) -> None:
        self._orefs.clear()
        self._uris.clear()
        self._fragments.clear()

    def rv(self, ts: int) -> int:
        return 48_000_000 + (ts - self.world.start) // 20_000

    # -- pieces ---------------------------------------------------------------------------
    def uri(self, resource: str | None, ns: str | None, name: str | None, group: str, version: str, sub: str | None) -> str:
        key = (resource, ns, name, group, version, sub)
        uri = self._uris.get(key)
        if uri is None:
            uri = "/api/v1" if not group else f"/apis/{group}/{version}"
            if ns:
                uri += f"/namespaces/{ns}"
            uri += f"/{resource}"
            if name:
                uri += f"/{name}"
            if sub:
                uri += f"/{sub}"
            self._uris[key] = uri
        return uri

    def oref(self, resource: str, ns: str | None, name: str | None, group: str, version: str, sub: str | None) -> dict:
        key = (resource, ns, name, group, version, sub)
        ref = self._orefs.get(key)
        if ref is None:
            ref = {"resource": resource}
            if ns:
                ref["namespace"] = ns
            if name:
                ref["name"] = name
            if group:
                ref["apiGroup"] = group
            ref["apiVersion"] = version
            if sub:
                ref["subresource"] = sub
            self._orefs[key] = ref
        return ref

    @staticmethod
    def status(code: int, verb: str, resource: str | None, ns: str | None, name: str | None, group: str,
               sub: str | None, username: str) -> dict:
        ok = _OK.get(code)
        if ok is not None:
            return ok
        res = f"{resource}.{group}" if group else (resource or "")
        if code == 403:
            what = f'{res} "{name}"' if name else res
            full = f"{resource}/{sub}" if sub else resource
            where = f'in the namespace "{ns}"' if ns else "at the cluster scope"
            msg = (f'{what} is forbidden: User "{username}" cannot {verb} resource "{full}" '
                   f'in API group "{group}" {where}')
            details: dict = {"name": name, "kind": resource} if name else {"kind": resource}
            if group:
                details["group"] = group
            return {"metadata": {}, "status": "Failure", "message": msg, "reason": "Forbidden", "details": details, "code": 403}
        if code == 404:
            details = {"name": name, "kind": resource}
            if group:
                details["group"] = group
            return {"metadata": {}, "status": "Failure", "message": f'{res} "{name}" not found', "reason": "NotFound",
                    "details": details, "code": 404}
        if code == 409:
            details = {"name": name, "kind": resource}
            if group:
                details["group"] = group
            if verb == "create":
                return {"metadata": {}, "status": "Failure", "message": f'{res} "{name}" already exists',
                        "reason": "AlreadyExists", "details": details, "code": 409}
            msg = (f'Operation cannot be fulfilled on {res} "{name}": the object has been modified; '
                   "please apply your changes to the latest version and try again")
            return {"metadata": {}, "status": "Failure", "message": msg, "reason": "Conflict", "details": details, "code": 409}
        if code == 429:
            return {"metadata": {}, "status": "Failure", "message": "Too many requests, please try again later.",
                    "reason": "TooManyRequests", "details": {"retryAfterSeconds": 1}, "code": 429}
        if code == 503:
            return {"metadata": {}, "status": "Failure", "message": "the server is currently unable to handle the request",
                    "reason": "ServiceUnavailable", "code": 503}
        if code == 401:
            return {"metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
        return {"metadata": {}, "status": "Failure", "message": "Internal error occurred", "reason": "InternalError", "code": code}

    # -- requests -------------------------------------------------------------------------
    def request(self, rng: random.Random, ts: int, caller: Caller, verb: str, resource: str | None, *,
                ns: str | None = None, name: str | None = None, group: str = "", version: str = "v1",
                sub: str | None = None, query: str = "", path: str = "", code: int | None = None,
                duration_us: int | None = None, level: str = "Metadata", request_object: Any = None,
                response_object: Any = None, extra_ann: dict | None = None, base_errors: bool = True,
                retries: int = 2) -> str:
        """Log one request; returns its auditID."""
        principal = caller.principal
        if code is None:
            code = 201 if verb == "create" else 200
            if base_errors and name:
                r = rng.random()
                if verb == "get" and r < 0.003:
                    code = 404
                elif verb in ("update", "patch") and r < 0.004:
                    code = 409
        brown = self.brownout
        apf_reject = False
        if brown is not None and brown[0] <= ts < brown[1] and code < 400:
            r = rng.random()
            if r < 0.5:
                code, apf_reject = 429, True
            elif r < 0.65:
                code = 503
        audit_id = uuid4(rng)
        if resource is None:
            uri = path
            oref = ""
        else:
            key = (resource, ns, name, group, version, sub)
            uri = self.uri(resource, ns, name, group, version, sub)
            oref = self._fragments.get(key)
            if oref is None:
                oref = ',"objectRef":' + _json(self.oref(resource, ns, name, group, version, sub))
                self._fragments[key] = oref
        if query:
            uri = f"{uri}?{query}"
        asked_ann = extra_ann
        if code >= 400:
            extra_ann = None  # nothing was issued
        stale = caller.iat is not None and ts - caller.iat > 3607 * US
        if apf_reject:
            ann_key, ann = (id(principal), "\0apf"), principal.legacy_ann or None
        elif code == 403:
            ann_key, ann = (id(principal), "\0deny"), principal.deny()
        else:
            ann_key, ann = (id(principal), ns), principal.allow(ns)
        if extra_ann or stale:
            ann = dict(ann or {})
            if stale:
                ann["authentication.k8s.io/stale-token"] = (
                    f"subject: {principal.username}, seconds after warning threshold: {(ts - caller.iat) // US - 3607}")
            if extra_ann:
                ann.update(extra_ann)
            ann_json = ',"annotations":' + _json(dict(sorted(ann.items())))
        else:
            ann_json = self._ann_json.get(ann_key)
            if ann_json is None:  # principals live for the whole world: their maps can be cached
                ann_json = ',"annotations":' + _json(ann) if ann else ""
                self._ann_json[ann_key] = ann_json
        latency = lognormal_us(rng, _LATENCY_MS.get(verb, 5.0))
        t0 = iso_micro(ts)
        long_running = duration_us is not None
        end = ts + (duration_us if long_running and code < 300 else latency)
        end = min(end, self.world_end)  # the capture ends: a watch still open is cut there
        status = self._status_json.get(code)
        if status is None:
            status = ',"responseStatus":' + _json(self.status(code, verb, resource, ns, name, group, sub, principal.username))
        req_body = resp_body = ""
        if request_object is not None and level in ("Request", "RequestResponse"):
            req_body = ',"requestObject":' + _json(request_object)
        if response_object is not None and level == "RequestResponse" and code < 300:
            resp_body = ',"responseObject":' + _json(response_object)
        # members in the order the API server writes them
        front = (f'{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"{level}","auditID":"{audit_id}","stage":"')
        middle = f'","requestURI":{_json(uri)},"verb":"{verb}"{caller.head}{oref}'
        out, sink = self.out, self.sink
        if verb in _WRITES and sub in _RR_SUBRESOURCES and resource not in _RR_SKIP:
            legacy = ',"annotations":' + _json(principal.legacy_ann) if (ann_json and principal.legacy_ann) else ""
            rr = (f'{front}RequestReceived{middle}{req_body},"requestReceivedTimestamp":"{t0}",'
                  f'"stageTimestamp":"{t0}"{legacy}}}')
            sink.add(ts, rr.encode())
            out.note("k8s", ts, caller.token_id, final=False)
        tail = f'{status}{req_body}{resp_body},"requestReceivedTimestamp":"{t0}","stageTimestamp":"'
        if long_running and code < 300:
            started = f'{front}ResponseStarted{middle}{tail}{iso_micro(ts + latency)}"{ann_json}}}'
            sink.add(ts + latency, started.encode())
            out.note("k8s", ts + latency, caller.token_id, final=False)
        line = f'{front}ResponseComplete{middle}{tail}{iso_micro(end)}"{ann_json}}}'
        sink.add(end, line.encode())
        out.note("k8s", ts, caller.token_id)
        if code in (429, 503) and retries > 0:
            # client-go honours Retry-After and tries again
            self.request(rng, end + int(rng.uniform(0.8, 3.0) * US), caller, verb, resource, ns=ns, name=name,
                         group=group, version=version, sub=sub, query=query, path=path, duration_us=duration_us,
                         level=level, request_object=request_object, response_object=response_object,
                         extra_ann=asked_ann, base_errors=False, retries=retries - 1)
        return audit_id

    def unauthenticated(self, rng: random.Random, ts: int, ip: str, ua: str, verb: str, resource: str | None, *,
                        ns: str | None = None, name: str | None = None, group: str = "", version: str = "v1",
                        sub: str | None = None, query: str = "", path: str = "") -> None:
        """A request whose bearer token was rejected: logged with an empty user and 401."""
        uri = path if resource is None else self.uri(resource, ns, name, group, version, sub)
        if query:
            uri = f"{uri}?{query}"
        latency = lognormal_us(rng, 1.0)
        ev = {
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": uuid4(rng),
            "stage": "ResponseStarted", "requestURI": uri, "verb": verb, "user": {}, "sourceIPs": [ip],
            "userAgent": ua, "responseStatus": self.status(401, verb, resource, ns, name, group, sub, ""),
            "requestReceivedTimestamp": iso_micro(ts), "stageTimestamp": iso_micro(ts + latency),
        }
        self.sink.add(ts + latency, orjson.dumps(ev))
        self.out.note("k8s", ts + latency, None)

    def token_request(self, rng: random.Random, ts: int, caller: Caller, sa_ns: str, sa_name: str, jti: str, *,
                      audience: str = "https://kubernetes.default.svc", expiration_s: int = 3607,
                      bound_pod: tuple[str, str] | None = None, code: int = 201, node: tuple[str, str] | None = None) -> str:
        """`create serviceaccounts/token`: the issued JTI is in the audit annotations."""
        level, req_obj, resp_obj = "Metadata", None, None
        win = self.debug_window
        if win is not None and win[0] <= ts < win[1] and code < 300:
            level = "RequestResponse"
            spec: dict[str, Any] = {"audiences": [audience], "expirationSeconds": expiration_s}
            if bound_pod is not None:
                spec["boundObjectRef"] = {"kind": "Pod", "apiVersion": "v1", "name": bound_pod[0], "uid": bound_pod[1]}
            req_obj = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                       "metadata": {"creationTimestamp": None}, "spec": spec,
                       "status": {"token": "", "expirationTimestamp": None}}
            exp = ts // US + expiration_s
            claims: dict[str, Any] = {
                "aud": [audience], "exp": exp, "iat": ts // US,
                "iss": f"https://oidc.eks.us-east-1.amazonaws.com/id/{self.world.oidc_id}", "jti": jti,
                "kubernetes.io": {"namespace": sa_ns, "serviceaccount": {"name": sa_name, "uid": self.world.sa(sa_ns, sa_name).uid}},
                "nbf": ts // US, "sub": f"system:serviceaccount:{sa_ns}:{sa_name}",
            }
            if bound_pod is not None:
                claims["kubernetes.io"]["pod"] = {"name": bound_pod[0], "uid": bound_pod[1]}
            if node is not None:
                claims["kubernetes.io"]["node"] = {"name": node[0], "uid": node[1]}
            token = fake_jwt(rng, claims)
            self.leaked_tokens.append(token)
            resp_obj = {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                        "metadata": {"name": sa_name, "namespace": sa_ns, "creationTimestamp": iso_micro(ts)[:19] + "Z"},
                        "spec": spec, "status": {"token": token, "expirationTimestamp": iso_micro(ts + expiration_s * US)[:19] + "Z"}}
        extra = {"authentication.kubernetes.io/issued-credential-id": f"JTI={jti}"} if code < 300 else None
        return self.request(rng, ts, caller, "create", "serviceaccounts", ns=sa_ns, name=sa_name, sub="token",
                            code=code, level=level, request_object=req_obj, response_object=resp_obj,
                            extra_ann=extra, base_errors=False)
