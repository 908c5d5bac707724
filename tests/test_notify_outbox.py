"""The durable outbox: a process killed with SIGKILL loses nothing and doubles nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from notify_servers import Receiver, Reply, make_alert, notify_config, notify_settings
from pipelines.notify import Notifier, Outbox

pytestmark = pytest.mark.timeout(30)
REPO = Path(__file__).resolve().parents[1]

# A separate Python process that enqueues, optionally delivers a little, then dies without any
# cleanup (SIGKILL: no finally blocks, no close, no atexit).
CHILD = """
import json, os, signal
from detector.notify.config import NotifyConfig
from pipelines.notify import Notifier
notifier = Notifier(NotifyConfig.model_validate(json.loads(os.environ["NOTIFY_SETTINGS"])))
notifier.submit(json.loads(os.environ["ALERTS"]))
deliver = int(os.environ.get("DELIVER", "0"))
if deliver:
    notifier.deliver_due(max_messages=deliver)
print("enqueued", flush=True)
if os.environ.get("HANG"):
    notifier.deliver_due(budget_seconds=30)
os.kill(os.getpid(), signal.SIGKILL)
"""


def child(settings: dict, alerts: list, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=REPO,
        env={**os.environ, "NOTIFY_SETTINGS": json.dumps(settings), "ALERTS": json.dumps(alerts), **env},
        stdout=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def receivers():
    made = {"slack": Receiver("slack"), "pagerduty": Receiver("pagerduty", Reply(202, b"{}")), "webhook": Receiver("webhook")}
    yield made
    for r in made.values():
        r.close()


def ids(receiver: Receiver, key=lambda body: body["data"]["alert"]["id"]) -> Counter:
    return Counter(key(b) for b in receiver.bodies())


def test_pending_deliveries_survive_a_killed_process(tmp_path, receivers):
    settings = notify_settings(tmp_path, **receivers)
    alerts = [make_alert(i) for i in range(4)]
    proc = child(settings, alerts)
    assert proc.wait(timeout=20) == -signal.SIGKILL
    assert all(not r.requests for r in receivers.values())

    with Notifier(notify_config(tmp_path, **receivers)) as reopened:
        assert reopened.pending_count() == 12
        reopened.drain(timeout_seconds=5)
        assert reopened.pending_count() == 0
    expected = Counter(a["alert"]["id"] for a in alerts)
    assert ids(receivers["webhook"]) == expected
    assert ids(receivers["pagerduty"], key=lambda b: b["dedup_key"]) == expected
    (digest,) = receivers["slack"].bodies()
    assert digest["blocks"][0]["text"]["text"].startswith("🚨 4 tokenhawk alerts")


def test_killed_mid_delivery_the_rest_is_sent_once(tmp_path, receivers):
    settings = notify_settings(tmp_path, webhook=receivers["webhook"])
    alerts = [make_alert(i) for i in range(6)]
    proc = child(settings, alerts, DELIVER="2")
    assert proc.wait(timeout=20) == -signal.SIGKILL
    assert len(receivers["webhook"].requests) == 2

    with Notifier(notify_config(tmp_path, webhook=receivers["webhook"])) as reopened:
        reopened.submit(alerts)  # the producer replays its batch after the restart, too
        reopened.drain(timeout_seconds=5)
    assert ids(receivers["webhook"]) == Counter(a["alert"]["id"] for a in alerts)


def test_killed_during_a_request_the_lease_expires_and_it_is_sent_again(tmp_path, receivers):
    hook = receivers["webhook"]
    hook.script(Reply(200, b"ok", delay=3.0))  # the request is in flight when the process dies
    settings = notify_settings(tmp_path, webhook=hook, timeout_seconds=5.0)
    proc = child(settings, [make_alert(1)], HANG="1")
    assert proc.stdout.readline().strip() == "enqueued"
    hook.wait_for(1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    config = notify_config(tmp_path, webhook=hook, timeout_seconds=5.0)
    with Notifier(config) as soon:
        soon.deliver_due(budget_seconds=0.2)  # still leased: another process might be sending it
        assert len(hook.requests) == 1
    lease = 3 * config.timeout_seconds + 10
    with Notifier(config, clock=lambda: time.time() + lease + 1) as later:
        later.drain(timeout_seconds=3)
        assert later.counts()["webhook"]["sent"] == 1
    first, second = hook.requests
    # at-least-once across a crash: same webhook-id, so the receiver can drop the repeat
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_two_notifiers_sharing_an_outbox_never_send_the_same_delivery(tmp_path, receivers):
    hook = receivers["webhook"]
    config = notify_config(tmp_path, webhook=hook, overrides={"webhook": {"rate_per_second": 500, "burst": 50}})
    alerts = [make_alert(i) for i in range(30)]
    a, b = Notifier(config), Notifier(config)
    try:
        a.submit(alerts)
        b.submit(alerts)  # the same alerts from a second process: all duplicates
        threads = [threading.Thread(target=n.drain, kwargs={"timeout_seconds": 5}) for n in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        a.close()
        b.close()
    assert ids(hook) == Counter(x["alert"]["id"] for x in alerts)


def test_the_outbox_is_a_wal_sqlite_file_with_one_row_per_alert_revision_destination(tmp_path, receivers):
    receivers["webhook"].script(Reply(500, b"later"))
    config = notify_config(tmp_path, **receivers, overrides={"webhook": {}})
    with Notifier(config) as notifier:
        notifier.submit([make_alert(1, revision=1), make_alert(1, revision=2), make_alert(1, revision=2)])
        notifier.deliver_due()
    db = sqlite3.connect(tmp_path / "outbox.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    rows = db.execute(
        "SELECT destination, revision, status, attempts, last_error FROM deliveries ORDER BY destination, revision"
    ).fetchall()
    assert [(d, r, s) for d, r, s, *_ in rows] == [
        ("pagerduty", 1, "superseded"), ("pagerduty", 2, "sent"),
        ("slack", 1, "superseded"), ("slack", 2, "sent"),
        ("webhook", 1, "superseded"), ("webhook", 2, "pending"),
    ]
    webhook_row = rows[-1]
    assert webhook_row[3] == 1 and webhook_row[4] == "HTTP 500: later"
    assert rows[0][4] == "replaced by revision 2 before it was sent"
    columns = {r[1] for r in db.execute("PRAGMA table_info(deliveries)")}
    assert {"alert_id", "revision", "destination", "status", "attempts", "next_attempt", "last_error"} <= columns
    db.close()


def test_finished_deliveries_are_forgotten_after_the_retention(tmp_path):
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path, clock=lambda: 1000.0)
    from detector.notify.view import AlertView, normalize_alert_doc

    for i, status in enumerate(("sent", "pending")):
        view = AlertView(normalize_alert_doc(make_alert(i)))
        outbox.enqueue(view, "webhook", action="notify", policy="always")
        if status == "sent":
            outbox.mark_sent(outbox.claim("webhook", limit=1, lease_seconds=1), 200)
    outbox.clock = lambda: 1000.0 + 31 * 86400
    assert outbox.purge(30 * 86400) == 1
    assert [r.status for r in outbox.rows()] == ["pending"]
    outbox.close()


def test_an_unusable_outbox_path_is_a_config_error(tmp_path):
    from detector.errors import ConfigError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot open the notify outbox"):
        Outbox(blocker / "outbox.sqlite")
