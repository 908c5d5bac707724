"""A tiny hand-built world of TokenEvents for detector unit tests (one rule at a time).

Two days of steady, boring machine traffic (a K8s web app with hourly token rotation, a
controller, an IRSA role, an AWS access key) with a 1-day learning period; each test appends its
own events after that and checks which alerts come out, and why.
"""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import datetime, timezone

from detector.config import DetectorConfig
from detector.detect.engine import Detector
from detector.events import new_event, to_table

T0 = int(datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp() * 1_000_000)
MIN = 60_000_000
HOUR = 60 * MIN
DAY = 24 * HOUR
_ids = itertools.count()

APP = "system:serviceaccount:payments:api"
CTRL = "system:serviceaccount:kube-system:cert-manager"
ROLE = "arn:aws:iam::111122223333:role/payments-s3"
IAM_USER = "arn:aws:iam::111122223333:user/backup"
APP_UA = "api-server/v1.4.2 (linux/amd64) kubernetes/abc123"
CTRL_UA = "cert-manager-controller/v1.14.4 (linux/amd64) kubernetes/f00d"
SDK_UA = "aws-sdk-go-v2/1.25.0 os/linux lang/go#1.22 md/GOOS#linux"


def event(ts: int, **fields) -> dict:
    e = new_event()
    e.update(ts=ts, event_id=f"e{next(_ids)}", outcome="success", status_code=200, read_only=True)
    e.update(fields)
    return e


def k8s(ts, principal, token, action, *, ip, ua, namespace=None, pod=None, pod_uid=None, **extra) -> dict:
    return event(
        ts, source="k8s", tenant="prod", principal=principal, principal_type="serviceaccount",
        token_id=token, token_kind="bound" if pod else "legacy", bound_pod=pod, bound_pod_uid=pod_uid,
        bound_node="node-1" if pod else None, source_ip=ip, user_agent=ua, action=action,
        namespace=namespace, **extra,
    )


def aws(ts, principal, token, action, *, ip, ua=SDK_UA, ptype="AssumedRole", kind="session", **extra) -> dict:
    return event(
        ts, source="aws", tenant="111122223333", principal=principal, principal_type=ptype, token_id=token,
        token_kind=kind, source_ip=ip, user_agent=ua, action=action, region="us-east-1", **extra,
    )


class World:
    """Baseline traffic; `app_token_at(ts)` tells which JTI the app pod holds at a time."""

    def __init__(self, days: int = 2, seed: int = 0):
        # seeded, so that a failure names a world that can be replayed (the ids order tokens,
        # and with them the forest's training rows)
        rng = random.Random(seed)

        def uuid4() -> str:
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))

        self.events: list[dict] = []
        self.app_pod, self.app_uid, self.app_ip = "payments/api-7d9f8-x2x4q", uuid4(), "10.244.1.5"
        self.other_ip = "10.244.2.9"
        self.app_jtis: dict[int, str] = {}
        self.irsa_keys: dict[int, str] = {}
        for hour in range(days * 24):
            base = T0 + hour * HOUR
            jti = self.app_jtis[hour] = uuid4()
            for minute in range(0, 60, 5):
                ts = base + minute * MIN
                self.events.append(k8s(ts, APP, jti, "get:configmaps", ip=self.app_ip, ua=APP_UA, namespace="payments",
                                       pod=self.app_pod, pod_uid=self.app_uid))
                self.events.append(k8s(ts + 1000, APP, jti, "get:secrets", ip=self.app_ip, ua=APP_UA,
                                       namespace="payments", pod=self.app_pod, pod_uid=self.app_uid))
                self.events.append(k8s(ts + 2000, CTRL, f"ctrl-{hour}", "list:certificates", ip=self.other_ip,
                                       ua=CTRL_UA, pod="kube-system/cert-manager-0", pod_uid=f"uid-ctrl-{hour // 12}"))
            key = self.irsa_keys[hour] = f"ASIATEST{hour:012d}"
            self.events.append(aws(base, "system:serviceaccount:payments:api", "web-identity:system:serviceaccount:payments:api",
                                   "sts:AssumeRoleWithWebIdentity", ip="3.120.1.10", ptype="WebIdentityUser",
                                   kind="web-identity", lineage_kind="issued", lineage_principal=ROLE, lineage_token=key))
            for minute in range(1, 60, 10):
                self.events.append(aws(base + minute * MIN, ROLE, key, "s3:GetObject", ip="3.120.1.10"))
                self.events.append(aws(base + minute * MIN + 5, ROLE, key, "dynamodb:PutItem", ip="3.120.1.10",
                                       read_only=False))
            if hour % 24 == 2:  # nightly backup with a long-term key
                for i in range(20):
                    self.events.append(aws(base + i * MIN, IAM_USER, "AKIATESTBACKUP000001", "s3:PutObject",
                                           ip="198.51.100.20", ptype="IAMUser", kind="access-key", read_only=False))
        self.end = T0 + days * DAY

    def app_token_at(self, ts: int) -> str:
        return self.app_jtis[(ts - T0) // HOUR]


def run(events: list[dict], config: DetectorConfig | None = None) -> tuple[Detector, list[dict]]:
    """Replay events in time order through a fresh detector; return it and the final alerts."""
    detector = Detector(config or DetectorConfig(learning_period="1d", min_training_windows=50))
    table = to_table(sorted(events, key=lambda e: e["ts"]))
    alerts: dict[str, dict] = {}
    for offset in range(0, table.num_rows, 5000):
        for alert in detector.process(table.slice(offset, 5000)):
            alerts[alert["alert"]["id"]] = alert
    for alert in detector.flush():
        alerts[alert["alert"]["id"]] = alert
    return detector, list(alerts.values())
