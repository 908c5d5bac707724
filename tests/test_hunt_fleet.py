"""Fleet hunts on a hand-built fleet: the quiet world of detect_world.py plus planted liabilities
(a legacy token, a key that wakes after a week, a key shared across networks, two live keys of
one user, token minting by a controller and by a kubelet). The inventory and findings are
detector.inventory's; these tests check the hunt views of them."""

from __future__ import annotations

import pandas as pd
import pytest

from detect_world import CTRL, CTRL_UA, DAY, HOUR, MIN, T0, World, aws, event, k8s
from detector.config import DetectorConfig
from detector.events import to_table
from detector.hunt import fleet
from detector.hunt.sources import events_frame

REPORTER = "system:serviceaccount:batch:reporter"
LEGACY = "secret:batch/reporter-token-x1"
OLD_ETL, OLD_KEY = "arn:aws:iam::111122223333:user/old-etl", "AKIAOLDETL0000000001"
CI, SHARED, SECOND = "arn:aws:iam::111122223333:user/ci", "AKIACISHARED00000001", "AKIACISECOND00000002"
NODE = "system:node:ip-10-0-1-5.ec2.internal"
DAYS = 9


def _user_key(ts: int, principal: str, key: str, action: str, ip: str, ua: str = "aws-cli/2.15.0 Python/3.11") -> dict:
    return aws(ts, principal, key, action, ip=ip, ua=ua, ptype="IAMUser", kind="access-key")


@pytest.fixture(scope="module")
def hunt() -> fleet.Fleet:
    w = World(days=DAYS)
    planted = []
    for hour in range(0, DAYS * 24, 3):
        ts = T0 + hour * HOUR + 7 * MIN
        planted.append(k8s(ts, REPORTER, LEGACY, "list:pods", ip="10.244.3.3", ua="python-requests/2.31.0",
                           namespace="batch"))
    for day in (0, 7):  # a key that goes quiet for a week, then wakes
        for i in range(5):
            planted.append(_user_key(T0 + day * DAY + 3 * HOUR + i * MIN, OLD_ETL, OLD_KEY, "s3:ListBuckets",
                                     "198.51.100.7"))
    for day in range(DAYS):  # a CI key used from a different runner network every day, and a second live key
        planted.append(_user_key(T0 + day * DAY + 9 * HOUR, CI, SHARED, "ecr:GetAuthorizationToken",
                                 f"20.57.{10 + day}.4", ua="docker/24.0"))
        planted.append(_user_key(T0 + day * DAY + 10 * HOUR, CI, SECOND, "ecr:GetAuthorizationToken",
                                 "20.57.200.4", ua="docker/24.0"))
    for day in range(DAYS):  # token minting: by a controller (a finding) and by a kubelet (by design)
        ts = T0 + day * DAY + 5 * HOUR
        planted.append(k8s(ts, CTRL, f"ctrl-{day * 24 + 5}", "create:serviceaccounts/token", ip=w.other_ip,
                           ua=CTRL_UA, namespace="kube-system", pod="kube-system/cert-manager-0",
                           pod_uid=f"uid-ctrl-{(day * 24 + 5) // 12}"))
        planted.append(event(ts + 1, source="k8s", tenant="prod", principal=NODE, principal_type="node",
                             token_id=f"user:{NODE}", token_kind="user", source_ip="10.0.1.5",
                             user_agent="kubelet/v1.29.2 (linux/amd64) kubernetes/4b8e819",
                             action="create:serviceaccounts/token", namespace="payments", read_only=False))
    events = events_frame(to_table(sorted(w.events + planted, key=lambda e: e["ts"])))
    alerts = [{"token": {"id": OLD_KEY}, "score": 70.0}]
    return fleet.build(events, alerts, config=DetectorConfig(learning_period="1d", min_training_windows=50))


def test_inventory_frames(hunt: fleet.Fleet) -> None:
    t = hunt.tokens.set_index("token_id")
    assert t.loc[LEGACY, "kind"] == "legacy" and t.loc[LEGACY, "long_lived"] and t.loc[LEGACY, "live"]
    assert t.loc[LEGACY, "scope"] == "k8s ns/batch"
    assert t.loc[OLD_KEY, "alerts"] == 1 and t.loc[SHARED, "alerts"] == 0
    assert isinstance(t.loc[OLD_KEY, "last_seen"], pd.Timestamp)
    assert set(hunt.principals["principal"]) >= {REPORTER, OLD_ETL, CI}
    kinds = fleet.kinds_summary(hunt).set_index("label")
    assert kinds.loc["k8s legacy (long-lived)", "tokens"] == 1
    assert kinds.loc["aws access-key (long-lived)", "tokens"] == 4
    assert list(hunt.findings["score"]) == sorted(hunt.findings["score"], reverse=True), "ranked"
    assert {"severity", "kind", "title", "evidence", "remediation"} <= set(hunt.findings.columns)


def test_legacy_and_long_lived_in_use(hunt: fleet.Fleet) -> None:
    legacy = fleet.findings_of(hunt, "legacy-k8s-token")
    assert list(legacy["token_id"]) == [LEGACY] and "bound tokens" in legacy.iloc[0]["remediation"]
    live = fleet.long_lived_in_use(hunt).set_index("token_id")
    assert {LEGACY, SHARED, SECOND} <= set(live.index)
    assert "legacy-k8s-token" in live.loc[LEGACY, "findings"]
    assert live.loc[LEGACY, "days_active"] == DAYS


def test_dormant_key_that_woke(hunt: fleet.Fleet) -> None:
    dormant = fleet.dormant_tokens(hunt)
    row = dormant.set_index("token_id").loc[OLD_KEY]
    assert row["longest_gap_days"] == pytest.approx(7.0, abs=0.01)
    assert row["woke_at"] == pd.Timestamp(T0 + 7 * DAY + 3 * HOUR, unit="us", tz="UTC")
    assert row["findings"] == ["dormant-token"] and row["alerts"] == 1
    assert dormant.iloc[0]["token_id"] == OLD_KEY


def test_one_key_many_networks(hunt: fleet.Fleet) -> None:
    shared = fleet.many_networks(hunt, min_networks=3)
    assert shared.iloc[0]["token_id"] == SHARED and shared.iloc[0]["network_count"] == DAYS
    assert SECOND not in set(shared["token_id"])
    assert fleet.many_networks(hunt, min_networks=DAYS + 1).empty


def test_privileged_permissions_leave_the_control_plane_out(hunt: fleet.Fleet) -> None:
    risky = fleet.risky_in_use(hunt)
    minting = risky[risky["category"] == "token-mint"]
    assert list(minting["principal"]) == [CTRL] and minting.iloc[0]["actions"] == ["create:serviceaccounts/token"]
    assert NODE not in set(risky["principal"])
    assert NODE in set(fleet.risky_in_use(hunt, include_control_plane=True)["principal"])
    matrix = fleet.risky_matrix(risky)
    assert matrix.loc[CTRL, "token minting"] == DAYS  # one controller token per mint (hourly rotation)
    assert fleet.is_control_plane("k8s", NODE) and not fleet.is_control_plane("k8s", CTRL)


def test_interactive_use_and_sprawl(hunt: fleet.Fleet) -> None:
    hands_on = fleet.interactive_use(hunt).set_index("principal")
    assert {REPORTER, OLD_ETL} <= set(hands_on.index)  # python-requests, aws-cli
    assert hands_on.loc[REPORTER, "interactive_events"] == DAYS * 8
    spread = fleet.sprawl(hunt).set_index("scope")
    assert spread.loc["k8s ns/batch", "long_lived_live"] == 1
    assert spread.loc["aws 111122223333", "long_lived_live"] >= 3
    assert (spread["tokens"] == spread["live"] + spread["retired"]).all()
    several = fleet.live_credentials(hunt, min_credentials=2)
    assert CI in set(several["principal"])
    assert CI in set(fleet.findings_of(hunt, "credential-sprawl")["principal"])


def test_scope_of() -> None:
    assert fleet.scope_of("k8s", "prod", "system:serviceaccount:shop:web") == "k8s ns/shop"
    assert fleet.scope_of("k8s", "prod", NODE) == "k8s (cluster identities)"
    assert fleet.scope_of("aws", "1111", CI) == "aws 1111"
    assert fleet.scope_of("gcp", None, "x") == "gcp"


def test_long_lived_events(hunt: fleet.Fleet) -> None:
    frame = pd.DataFrame({"token_kind": ["bound", "legacy", "access-key", "session"]})
    assert list(fleet.long_lived_events(frame)["token_kind"]) == ["legacy", "access-key"]
