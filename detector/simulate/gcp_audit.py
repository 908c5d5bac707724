"""GCP Cloud Audit Logs LogEntries (protoPayload AuditLog), and ordinary LogEntries beside them.

`GcpAudit.entry` writes one audited call. Key-based service accounts carry
`serviceAccountKeyName` (…/keys/<40 hex>); token-based callers (Workload Identity, minted access
tokens) do not; impersonation shows in `serviceAccountDelegationInfo`. Non-audit entries
(container stdout) are mixed into the same export, as a log sink with a broad filter delivers.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from .rand import lower_alnum
from .sinks import Output
from .timefmt import iso_nanos
from .world import World

_PERMISSION_DENIED = 7


class GcpAudit:
    def __init__(self, world: World, out: Output):
        self.world, self.out, self.sink = world, out, out.gcp
        self.project = world.cloud.gcp_project

    def entry(self, rng: random.Random, ts: int, *, auth: dict, ip: str, ua: str, service: str, method: str,
              resource_name: str, resource: dict, permission: str, log: str = "data_access", granted: bool = True,
              permission_type: str | None = None, request: Any = None, response: Any = None, metadata: Any = None,
              token_id: str | None = None, location: str | None = None) -> None:
        status: dict = {} if granted else {"code": _PERMISSION_DENIED,
                                           "message": f"Permission '{permission}' denied on resource (or it may not exist)."}
        authz = {"resource": resource_name, "permission": permission, "granted": granted, "resourceAttributes": {}}
        if permission_type:
            authz["permissionType"] = permission_type
        proto: dict[str, Any] = {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "status": status,
            "authenticationInfo": auth,
            "requestMetadata": {"callerIp": ip, "callerSuppliedUserAgent": ua,
                                "requestAttributes": {"time": iso_nanos(ts), "auth": {}}, "destinationAttributes": {}},
            "serviceName": service,
            "methodName": method,
            "authorizationInfo": [authz],
            "resourceName": resource_name,
        }
        if request is not None:
            proto["request"] = request
        if response is not None and granted:
            proto["response"] = response
        if metadata is not None:
            proto["metadata"] = metadata
        if location:
            proto["resourceLocation"] = {"currentLocations": [location]}
        entry = {
            "protoPayload": proto,
            "insertId": lower_alnum(rng, 12),
            "resource": resource,
            "timestamp": iso_nanos(ts),
            "severity": ("NOTICE" if log == "activity" else "INFO") if granted else "ERROR",
            "logName": f"projects/{self.project}/logs/cloudaudit.googleapis.com%2F{log}",
            "receiveTimestamp": iso_nanos(ts + rng.randint(200_000, 2_500_000)),
        }
        if token_id is None:
            key = auth.get("serviceAccountKeyName")
            who = auth.get("principalEmail") or auth.get("principalSubject")
            token_id = key.rsplit("/", 1)[1] if key else (f"oauth:{who}" if who else None)
        self.sink.add(ts, orjson.dumps(entry), self.project)
        self.out.note("gcp", ts, token_id)

    def text(self, rng: random.Random, ts: int, text: str, resource: dict, log: str = "stdout",
             severity: str = "INFO", labels: dict | None = None) -> None:
        entry: dict[str, Any] = {"textPayload": text, "insertId": lower_alnum(rng, 16), "resource": resource,
                                 "timestamp": iso_nanos(ts), "severity": severity}
        if labels:
            entry["labels"] = labels
        entry["logName"] = f"projects/{self.project}/logs/{log}"
        entry["receiveTimestamp"] = iso_nanos(ts + rng.randint(500_000, 4_000_000))
        self.sink.add(ts, orjson.dumps(entry), self.project)
        self.out.note("gcp", ts, None, final=False)
