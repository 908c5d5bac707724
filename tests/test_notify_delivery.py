"""Delivery against real local HTTP servers standing in for Slack, PagerDuty and a webhook receiver.

No mocks of the HTTP layer: every message goes through urllib and a socket to a
ThreadingHTTPServer, which records exactly what arrived.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter

import pytest

from detector.notify import pagerduty, slack, webhook
from detector.notify.view import AlertView, normalize_alert_doc
from notify_servers import (
    PD_ROUTING_KEY,
    SECRETS,
    SLACK_PATH,
    WEBHOOK_SECRET,
    Receiver,
    Reply,
    make_alert,
    notify_config,
)
from pipelines.notify import Notifier

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def receivers():
    made = {
        "slack": Receiver("slack"),
        "pagerduty": Receiver("pagerduty", Reply(202, b'{"status":"success","message":"Event processed"}')),
        "webhook": Receiver("webhook", Reply(204, b"")),
    }
    yield made
    for r in made.values():
        r.close()


@pytest.fixture
def config(tmp_path, receivers):
    return notify_config(tmp_path, **receivers)


def alert_ids_in(receiver: Receiver) -> Counter:
    ids: Counter = Counter()
    for request in receiver.requests:
        body = request.json()
        if "dedup_key" in body:
            ids[body["dedup_key"]] += 1
        elif "data" in body:
            ids[body["data"]["alert"]["id"]] += 1
        else:
            for block in body["blocks"]:
                for element in block.get("elements", []):
                    ids.update(re.findall(r"`([0-9a-f]{32})`", element.get("text", "")))
    return ids


def test_each_destination_gets_the_exact_payload(config, receivers):
    doc = make_alert(1)
    with Notifier(config) as notifier:
        submitted = notifier.submit([doc])
        report = notifier.deliver_due()
    assert submitted.outcomes == {d: {"queued": 1} for d in ("slack", "pagerduty", "webhook")}
    assert report.sent == {"slack": 1, "pagerduty": 1, "webhook": 1}
    view = AlertView(normalize_alert_doc(doc))

    (s,) = receivers["slack"].requests
    assert s.path == SLACK_PATH and s.headers["content-type"] == "application/json"
    assert s.json() == slack.build_message(view)
    assert s.json()["text"].startswith("[CRITICAL] tokenhawk: system:serviceaccount:payments:api (k8s prod-eu-1/payments)")
    assert [b["type"] for b in s.json()["blocks"]] == ["header", "section", "section", "section", "context"]

    (p,) = receivers["pagerduty"].requests
    assert p.path == "/v2/enqueue"
    body = p.json()
    assert body == pagerduty.build_trigger(view, PD_ROUTING_KEY)
    assert body["routing_key"] == PD_ROUTING_KEY and body["event_action"] == "trigger" and body["dedup_key"] == doc["alert"]["id"]
    assert set(body["payload"]) == {"summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"}

    (w,) = receivers["webhook"].requests
    assert w.path == "/hooks/tokenhawk"
    assert w.headers["webhook-id"] == f"msg_{doc['alert']['id']}_1"
    assert abs(int(w.headers["webhook-timestamp"]) - time.time()) < 10
    event = webhook.verify(WEBHOOK_SECRET, w.headers, w.body)  # the receiver-side helper, on what arrived
    assert event == {"type": "tokenhawk.alert.opened", "timestamp": doc["@timestamp"], "data": normalize_alert_doc(doc)}


def test_a_redelivered_identical_alert_is_not_sent_twice(config, receivers, tmp_path):
    docs = [make_alert(i) for i in range(3)]
    with Notifier(config) as notifier:
        notifier.submit(docs)
        notifier.submit(docs)  # the same revisions again, before delivery
        notifier.deliver_due()
        again = notifier.submit(docs + docs)  # and after delivery
        notifier.deliver_due()
    assert again.outcomes["webhook"] == {"duplicate": 6}
    with Notifier(config) as reopened:  # and after a restart
        reopened.submit(docs)
        reopened.drain(timeout_seconds=0.5)
    for name in ("pagerduty", "webhook"):
        assert alert_ids_in(receivers[name]) == Counter({d["alert"]["id"]: 1 for d in docs}), name
    assert len(receivers["slack"].requests) == 1  # the three went out as one digest
    assert alert_ids_in(receivers["slack"]) == Counter({d["alert"]["id"]: 1 for d in docs})


def test_later_revisions_update_instead_of_repeating(config, receivers):
    alert_id = make_alert(7)["alert"]["id"]
    revisions = [
        make_alert(7, revision=1, severity="high"),
        make_alert(7, revision=2, severity="high"),  # more events, same severity
        make_alert(7, revision=3, severity="critical"),  # escalated
        make_alert(7, revision=4, severity="critical", status="closed"),
    ]
    with Notifier(config) as notifier:
        outcomes = []
        for doc in revisions:
            outcomes.append(notifier.submit([doc]).outcomes)
            notifier.drain(timeout_seconds=2)
        stale = notifier.submit([make_alert(7, revision=2, severity="low")])  # arrives late: ignored
        notifier.drain(timeout_seconds=1)
    assert outcomes[1]["slack"] == {"skipped": 1} and outcomes[1]["webhook"] == {"queued": 1}
    assert stale.outcomes == {d: {"duplicate": 1} for d in ("slack", "pagerduty", "webhook")}

    pd = receivers["pagerduty"].bodies()
    assert [(b["event_action"], b["dedup_key"]) for b in pd] == [("trigger", alert_id)] * 3 + [("resolve", alert_id)]
    assert pd[3] == {"routing_key": PD_ROUTING_KEY, "event_action": "resolve", "dedup_key": alert_id}
    assert [b["payload"]["severity"] for b in pd[:3]] == ["error", "error", "critical"]

    headers = [b["blocks"][0]["text"]["text"] for b in receivers["slack"].bodies()]
    assert headers == ["🟠 HIGH: system:serviceaccount:payments:api", "🔴 CRITICAL (was high): system:serviceaccount:payments:api"]

    hooks = [(r.headers["webhook-id"], webhook.verify(WEBHOOK_SECRET, r.headers, r.body)["type"]) for r in receivers["webhook"].requests]
    assert hooks == [
        (f"msg_{alert_id}_1", "tokenhawk.alert.opened"),
        (f"msg_{alert_id}_2", "tokenhawk.alert.updated"),
        (f"msg_{alert_id}_3", "tokenhawk.alert.updated"),
        (f"msg_{alert_id}_4", "tokenhawk.alert.closed"),
    ]


def test_slack_update_policy_always_and_pagerduty_without_resolve(tmp_path, receivers):
    cfg = notify_config(
        tmp_path, **receivers, overrides={"slack": {"update_on": "always"}, "pagerduty": {"resolve_on_close": False}}
    )
    with Notifier(cfg) as notifier:
        for rev, status in ((1, "open"), (2, "open"), (3, "closed")):
            notifier.submit([make_alert(8, revision=rev, severity="high", status=status)])
            notifier.drain(timeout_seconds=2)
    assert len(receivers["slack"].requests) == 3
    assert [b["event_action"] for b in receivers["pagerduty"].bodies()] == ["trigger"] * 3


def test_429_retry_after_is_honored_and_pauses_the_destination(config, receivers):
    receivers["slack"].script(Reply(429, b"rate_limited", {"Retry-After": "1"}))
    with Notifier(config) as notifier:
        notifier.submit([make_alert(1)])
        first = notifier.deliver_due()
        assert first.retried == {"slack": 1}
        notifier.submit([make_alert(2)])
        notifier.deliver_due(budget_seconds=0.3)  # alert 2 is due but Slack asked us to wait
        assert len(receivers["slack"].requests) == 1
        notifier.drain(timeout_seconds=5)
    one, two = receivers["slack"].requests
    assert two.at - one.at >= 0.95
    assert sorted(alert_ids_in(receivers["slack"])) == sorted([make_alert(1)["alert"]["id"], make_alert(2)["alert"]["id"]])
    assert len(two.json()["blocks"]) == 4  # both alerts folded into one digest: header, 2 sections, context


def test_retry_after_as_http_date_on_503(config, receivers):
    from email.utils import formatdate

    receivers["pagerduty"].script(Reply(503, b"busy", {"Retry-After": formatdate(time.time() + 2, usegmt=True)}))
    with Notifier(config) as notifier:
        notifier.submit([make_alert(1)])
        notifier.drain(timeout_seconds=6)
    one, two = receivers["pagerduty"].requests
    assert two.at - one.at >= 0.9  # the date has one-second resolution
    assert one.json() == two.json()


def test_500s_then_success_retries_with_backoff_and_the_same_webhook_id(config, receivers):
    receivers["webhook"].script(Reply(500, b"boom"), Reply(502, b"bad gateway"), Reply(503, b""))
    with Notifier(config) as notifier:
        notifier.submit([make_alert(1)])
        report = notifier.drain(timeout_seconds=5)
        (row,) = [r for r in notifier.outbox.rows() if r.destination == "webhook"]
    assert report.sent["webhook"] == 1 and report.retried["webhook"] == 3
    requests = receivers["webhook"].requests
    assert len(requests) == 4
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    for r in requests:  # every attempt is signed afresh and verifies
        webhook.verify(WEBHOOK_SECRET, r.headers, r.body)
    gaps = [b.at - a.at for a, b in zip(requests, requests[1:])]
    assert all(g >= 0.005 for g in gaps)
    assert row.status == "sent" and row.attempts == 4 and row.last_error is None


def test_a_server_slower_than_the_timeout_is_retried(config, receivers, caplog):
    receivers["pagerduty"].script(Reply(202, b"{}", delay=1.5))
    caplog.set_level(logging.WARNING, logger="tokenhawk.notify")
    with Notifier(config) as notifier:
        notifier.submit([make_alert(1)])
        started = time.monotonic()
        first = notifier.deliver_due(budget_seconds=0.2)
        took = time.monotonic() - started
        assert first.retried == {"pagerduty": 1}
        assert took < 0.2 + 0.5 + 0.5  # budget + one request timeout (+ slack)
        notifier.drain(timeout_seconds=5)
        assert notifier.counts()["pagerduty"]["sent"] == 1
    assert "pagerduty is failing (timed out" in caplog.text
    assert "pagerduty is accepting deliveries again" in caplog.text
    # at-least-once: the receiver saw the timed-out request too; PagerDuty folds it by dedup_key
    assert [b["dedup_key"] for b in receivers["pagerduty"].bodies()] == [make_alert(1)["alert"]["id"]] * 2


def test_a_slow_destination_does_not_hold_back_the_others(config, receivers):
    receivers["webhook"].script(Reply(204, b"", delay=1.0))
    with Notifier(config) as notifier:
        notifier.submit([make_alert(1)])
        started = time.monotonic()
        notifier.deliver_due()
    assert receivers["slack"].requests[0].at - started < 0.4
    assert receivers["pagerduty"].requests[0].at - started < 0.4


@pytest.mark.parametrize("status,body", [(400, b"invalid_payload"), (403, b"action_prohibited"), (404, b"no_service"), (410, b"channel_is_archived")])
def test_client_errors_are_dead_at_once_and_reported(tmp_path, receivers, caplog, status, body):
    cfg = notify_config(tmp_path, slack=receivers["slack"])
    receivers["slack"].script(Reply(status, body))
    caplog.set_level(logging.ERROR, logger="tokenhawk.notify")
    with Notifier(cfg) as notifier:
        notifier.submit([make_alert(1)])
        report = notifier.drain(timeout_seconds=1)
        assert notifier.counts()["slack"]["dead"] == 1
    assert len(receivers["slack"].requests) == 1
    assert report.dead == {"slack": 1}
    assert report.dead_errors == [f"slack: alert {make_alert(1)['alert']['id']} rev 1 not delivered: HTTP {status}: {body.decode()}"]
    assert f"HTTP {status}: {body.decode()}" in caplog.text


def test_408_is_retried_and_redirects_are_not_followed(tmp_path, receivers):
    cfg = notify_config(tmp_path, webhook=receivers["webhook"])
    receivers["webhook"].script(Reply(408, b"slow"), Reply(301, b"", {"Location": "http://127.0.0.1:9/elsewhere"}))
    with Notifier(cfg) as notifier:
        notifier.submit([make_alert(1)])
        report = notifier.drain(timeout_seconds=2)
    assert len(receivers["webhook"].requests) == 2
    assert report.dead == {"webhook": 1} and "HTTP 301" in report.dead_errors[0]


def test_a_refused_digest_is_split_into_single_messages(tmp_path, receivers):
    cfg = notify_config(tmp_path, slack=receivers["slack"])
    receivers["slack"].script(Reply(400, b"invalid_blocks"))
    with Notifier(cfg) as notifier:
        notifier.submit([make_alert(i) for i in range(3)])
        report = notifier.drain(timeout_seconds=3)
    sizes = [len(b["blocks"]) for b in receivers["slack"].bodies()]
    assert sizes[0] == 5 and len(sizes) == 4  # the digest of 3, then each alone
    assert report.sent == {"slack": 3} and not report.dead


def test_gives_up_after_max_attempts(tmp_path, receivers):
    cfg = notify_config(tmp_path, webhook=receivers["webhook"], max_attempts=3)
    receivers["webhook"].default = Reply(500, b"down")
    with Notifier(cfg) as notifier:
        notifier.submit([make_alert(1)])
        report = notifier.drain(timeout_seconds=3)
    assert len(receivers["webhook"].requests) == 3
    assert report.dead == {"webhook": 1} and "gave up after 3 attempts" in report.dead_errors[0]


def test_secrets_never_reach_logs_errors_or_the_outbox(tmp_path, receivers, caplog):
    # PagerDuty answers with an error that echoes the key; Slack's URL points at a closed port;
    # the webhook URL carries a token in its query string.
    echo = f'{{"status":"invalid event","errors":["routing_key {PD_ROUTING_KEY} is not valid"]}}'.encode()
    receivers["pagerduty"].script(Reply(400, echo))
    closed = Receiver("closed")
    closed_url = closed.url(SLACK_PATH)
    closed.close()
    cfg = notify_config(
        tmp_path,
        **receivers,
        overrides={
            "slack": {"webhook_url": closed_url},
            "webhook": {"url": receivers["webhook"].url("/hooks/tokenhawk?token=Q5eCr3tT0k3nInTheQuery")},
        },
        max_attempts=2,
    )
    receivers["webhook"].default = Reply(500, b"error for /hooks/tokenhawk?token=Q5eCr3tT0k3nInTheQuery")
    caplog.set_level(logging.DEBUG)
    with Notifier(cfg) as notifier:
        notifier.submit([make_alert(1)])
        report = notifier.drain(timeout_seconds=3)
        stored = [r.last_error or "" for r in notifier.outbox.rows()]
    assert report.dead == {"pagerduty": 1, "slack": 1, "webhook": 1}
    texts = [caplog.text, *report.dead_errors, *stored]
    for secret in (*SECRETS, "Q5eCr3tT0k3nInTheQuery", closed_url):
        for text in texts:
            assert secret not in text
    for secret in SECRETS:  # SecretStr settings print masked (notify.webhook.url is a plain string)
        assert secret not in repr(cfg) and secret not in str(cfg.model_dump())
    assert any("routing_key *** is not valid" in e for e in report.dead_errors)
    assert any("ConnectionRefusedError" in e for e in stored)
    assert (tmp_path / "outbox.sqlite").read_bytes().find(PD_ROUTING_KEY.encode()) == -1


def test_invalid_alerts_are_counted_not_raised(config, receivers):
    bad = make_alert(1)
    del bad["token"]
    with Notifier(config) as notifier:
        report = notifier.submit([bad, "not an object", make_alert(2)])
        notifier.deliver_due()
    assert report.alerts == 3 and report.invalid == 2
    assert "token: Field required" in report.errors[0]
    assert alert_ids_in(receivers["webhook"]) == Counter({make_alert(2)["alert"]["id"]: 1})


def test_background_delivery_lets_callers_only_submit(config, receivers):
    receivers["webhook"].default = Reply(200, b"ok", delay=0.3)  # a slow receiver
    with Notifier(config).start(interval_seconds=0.05) as notifier:
        started = time.monotonic()
        for batch in range(3):  # three micro-batches of a stream
            notifier.submit([make_alert(batch * 10 + i) for i in range(2)])
        assert time.monotonic() - started < 0.3  # submit never waited on HTTP
        receivers["webhook"].wait_for(6, timeout=10)
        receivers["pagerduty"].wait_for(6, timeout=10)
    assert len(alert_ids_in(receivers["webhook"])) == 6 and len(alert_ids_in(receivers["pagerduty"])) == 6


def test_notifier_if_configured(tmp_path):
    from detector.notify.config import NotifyConfig
    from pipelines.notify import notifier_if_configured

    assert notifier_if_configured(NotifyConfig(outbox=str(tmp_path / "o.sqlite"))) is None
    notifier = notifier_if_configured(NotifyConfig(outbox=str(tmp_path / "o.sqlite"), webhook={"url": "http://127.0.0.1:9/h"}))
    assert notifier is not None and notifier.enabled == ["webhook"]
    notifier.close()


def test_drain_waits_quietly_while_a_destination_is_paused(tmp_path, receivers):
    cfg = notify_config(tmp_path, slack=receivers["slack"])
    receivers["slack"].script(Reply(429, b"rate_limited", {"Retry-After": "2"}))
    with Notifier(cfg) as notifier:
        notifier.submit([make_alert(1)])
        notifier.deliver_due()
        notifier.submit([make_alert(2)])  # due now, but Slack is paused for 2 s
        calls = []
        original = notifier.deliver_due
        notifier.deliver_due = lambda **kw: calls.append(1) or original(**kw)
        started = time.monotonic()
        notifier.drain(timeout_seconds=1.0)
        assert time.monotonic() - started < 1.5
    assert len(calls) < 20  # it slept instead of spinning
    assert len(receivers["slack"].requests) == 1
