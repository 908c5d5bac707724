"""Message builders (pure): Slack Block Kit within limits, PagerDuty events, Standard Webhooks signing."""

from __future__ import annotations

import json

import pytest

from detector.alert import example_alert
from detector.notify import pagerduty, slack, webhook
from detector.notify.view import AlertView, InvalidAlert, normalize_alert_doc
from notify_servers import make_alert

KIBANA = "https://kibana.example.com/app/discover#/?_a=(query:(language:kuery,query:'alert.id:{alert_id}'))"


def view(doc=None) -> AlertView:
    return AlertView(normalize_alert_doc(doc or example_alert()))


def all_texts(blocks):
    for block in blocks:
        if "text" in block:
            yield block["type"], block["text"]["text"]
        for f in block.get("fields", []):
            yield "field", f["text"]
        for e in block.get("elements", []):
            if e.get("type") == "mrkdwn":
                yield "context", e["text"]


# -- Slack -----------------------------------------------------------------------------------------


def test_slack_message_for_the_example_alert_is_exactly_this():
    message = slack.build_message(view(), kibana_url=KIBANA)
    link = "https://kibana.example.com/app/discover#/?_a=(query:(language:kuery,query:'alert.id:5b0f6c1f0d9e4a7c8e2b3a4d5c6e7f80'))"
    assert message == {
        "text": "[CRITICAL] tokenhawk: system:serviceaccount:payments:api (k8s prod-eu-1/payments): bound token of "
        "pod payments/api-7d9f8-x2x4q used from 185.220.101.47; its pod's IP is 10.244.3.17 (+2 more reasons). "
        "Token 8d2f8f4e-3b8c-4a57-9f61-2f0c7d1e5a90, score 92.5, T1528 T1550.001 T1552.007, "
        "alert 5b0f6c1f0d9e4a7c8e2b3a4d5c6e7f80",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "🔴 CRITICAL: system:serviceaccount:payments:api", "emoji": True}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Unusual use of a k8s bound token* in prod-eu-1/payments: 41 events, action `list:secrets`, "
                    "from `185.220.101.47`; score 92.5/100",
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Why it was flagged*\n"
                    "• bound token of pod payments/api-7d9f8-x2x4q used from 185.220.101.47; its pod's IP is 10.244.3.17\n"
                    "• source IP 185.220.101.47 is a public address never seen for system:serviceaccount:payments:api "
                    "(it uses 10.244.0.0/16 cluster addresses)\n"
                    "• read secrets in 6 namespaces (kube-system, payments, monitoring, …); this account reads secrets only in payments",
                },
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Token*\n`8d2f8f4e-3b8c-4a57-9f61-2f0c7d1e5a90` (bound)"},
                    {"type": "mrkdwn", "text": "*Where*\nk8s prod-eu-1/payments"},
                    {"type": "mrkdwn", "text": "*First seen*\n2026-11-11T03:14:07.120000Z"},
                    {"type": "mrkdwn", "text": "*Last seen*\n2026-11-11T03:21:44.903000Z"},
                    {"type": "mrkdwn", "text": "*Score*\n92.5/100 · 41 events"},
                    {
                        "type": "mrkdwn",
                        "text": "*Technique*\n<https://attack.mitre.org/techniques/T1528/|T1528>, "
                        "<https://attack.mitre.org/techniques/T1550/001/|T1550.001>, "
                        "<https://attack.mitre.org/techniques/T1552/007/|T1552.007>",
                    },
                    {"type": "mrkdwn", "text": "*Source IP*\n`185.220.101.47`"},
                    {"type": "mrkdwn", "text": "*Action*\n`list:secrets`"},
                    {"type": "mrkdwn", "text": "*User agent*\nkubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"},
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open in Kibana"}, "url": link, "action_id": "tokenhawk_kibana"}
                ],
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "tokenhawk alert `5b0f6c1f0d9e4a7c8e2b3a4d5c6e7f80` · revision 3 · open"}],
            },
        ],
    }


def test_slack_without_kibana_has_no_button_and_updates_say_what_changed():
    doc = make_alert(1, severity="critical")
    message = slack.build_message(view(doc), previous_severity="high")
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "section", "section", "context"]
    assert message["blocks"][0]["text"]["text"] == "🔴 CRITICAL (was high): system:serviceaccount:payments:api"
    assert message["text"].startswith("[CRITICAL] (was high) tokenhawk:")
    closed = slack.build_message(view(make_alert(1, severity="high", status="closed")))
    assert closed["blocks"][0]["text"]["text"] == "✅ Closed (high): system:serviceaccount:payments:api"


def test_slack_escapes_control_characters_and_respects_every_limit():
    doc = make_alert(2, principal="arn:aws:iam::1:role/<script>&" + "x" * 300)
    doc["reasons"] = ["<b>&amp; " + "r" * 5000] + [f"reason {i} <{i}>" for i in range(30)]
    doc["user_agent"] = {"original": "ua" * 3000}
    message = slack.build_message(view(doc), kibana_url="https://k/" + "p" * 4000)
    blocks = message["blocks"]
    assert len(blocks) <= slack.MAX_BLOCKS
    assert "actions" not in [b["type"] for b in blocks]  # a button URL over 3000 chars is left out
    for kind, text in all_texts(blocks):
        limit = {"header": 150, "section": 3000, "field": 2000, "context": 2000}[kind]
        assert len(text) <= limit, (kind, len(text))
    fields = next(b for b in blocks if "fields" in b)["fields"]
    assert len(fields) <= slack.MAX_FIELDS
    why = blocks[2]["text"]["text"]
    assert why.startswith("*Why it was flagged*\n• &lt;b&gt;&amp;amp; rrr") and why.endswith("…")
    mrkdwn = [text for kind, text in all_texts(blocks) if kind != "header"]  # plain_text is shown as is
    assert not any("<script>" in text or "<b>" in text for text in mrkdwn)
    assert "<script>" not in message["text"] and "&lt;script&gt;&amp;" in message["text"]
    assert len(message["text"]) <= slack.MAX_FALLBACK_TEXT


def test_slack_reasons_beyond_max_are_counted_not_dropped_silently():
    doc = make_alert(3)
    doc["reasons"] = [f"reason {i}" for i in range(9)]
    why = slack.build_message(view(doc), max_reasons=5)["blocks"][2]["text"]["text"]
    assert why.count("•") == 5 and why.endswith("_…and 4 more reasons_")


def test_slack_digest_folds_a_burst_into_one_message_within_50_blocks():
    items = [(view(make_alert(i, severity=("critical", "high", "medium")[i % 3])), None) for i in range(60)]
    digest = slack.build_digest(items, kibana_url=KIBANA)
    blocks = digest["blocks"]
    assert len(blocks) == 50
    assert blocks[0]["text"]["text"] == "🚨 60 tokenhawk alerts (20 critical, 20 high, 20 medium)"
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) == 48
    assert sections[0]["text"]["text"].startswith("*🔴 CRITICAL: system:serviceaccount:payments:api*\n")
    assert "|Kibana>" in sections[0]["text"]["text"]
    assert blocks[-1]["elements"][0]["text"].startswith("…and 12 more · alert ids: `0000")
    assert digest["text"].startswith("60 tokenhawk alerts: 20 critical, 20 high, 20 medium — system:serviceaccount:payments:api (critical)")
    for kind, text in all_texts(blocks):
        assert len(text) <= (150 if kind == "header" else 3000)


# -- PagerDuty -------------------------------------------------------------------------------------


def test_pagerduty_trigger_has_the_events_v2_fields():
    event = pagerduty.build_trigger(view(), "KEY", kibana_url=KIBANA)
    assert event["routing_key"] == "KEY"
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "5b0f6c1f0d9e4a7c8e2b3a4d5c6e7f80"
    assert event["client"] == "tokenhawk" and event["client_url"].startswith("https://kibana.example.com/")
    payload = event["payload"]
    assert payload["summary"] == (
        "[critical] system:serviceaccount:payments:api: bound token of pod payments/api-7d9f8-x2x4q used from "
        "185.220.101.47; its pod's IP is 10.244.3.17"
    )
    assert payload["source"] == "k8s:prod-eu-1"
    assert payload["severity"] == "critical"
    assert payload["timestamp"] == "2026-11-11T03:14:07.120000Z"
    assert payload["component"] == "system:serviceaccount:payments:api"
    details = payload["custom_details"]
    assert details["alert_id"] == "5b0f6c1f0d9e4a7c8e2b3a4d5c6e7f80" and details["revision"] == 3
    assert details["reasons"] == example_alert()["reasons"]
    assert details["technique"] == ["T1528", "T1550.001", "T1552.007"]
    assert details["source_ip"] == "185.220.101.47" and details["events"] == 41
    assert event["links"][0] == {"href": event["client_url"], "text": "Kibana drill-down"}
    assert event["links"][2] == {"href": "https://attack.mitre.org/techniques/T1550/001/", "text": "MITRE ATT&CK T1550.001"}


@pytest.mark.parametrize("severity,pd", [("critical", "critical"), ("high", "error"), ("medium", "warning"), ("low", "info")])
def test_pagerduty_severity_mapping(severity, pd):
    assert pagerduty.build_trigger(view(make_alert(severity=severity)), "K")["payload"]["severity"] == pd


def test_pagerduty_summary_is_capped_and_resolve_is_minimal():
    doc = make_alert(4)
    doc["reasons"] = ["z" * 5000]
    assert len(pagerduty.build_trigger(view(doc), "K")["payload"]["summary"]) == 1024
    assert pagerduty.build_resolve(view(doc), "K") == {"routing_key": "K", "event_action": "resolve", "dedup_key": doc["alert"]["id"]}


# -- Standard Webhooks -----------------------------------------------------------------------------

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_signature_matches_the_standard_webhooks_reference_vector():
    # the published test vector of the Standard Webhooks specification
    assert (
        webhook.signature(VECTOR_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )
    headers = {
        "Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "Webhook-Timestamp": "1614265330",
        "Webhook-Signature": "v1,bm90LXRoaXMtb25l v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    assert webhook.verify(VECTOR_SECRET, headers, b'{"test": 2432232314}', now=1614265330 + 60) == {"test": 2432232314}


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda h, b: (h, b + b" "), "no matching v1 signature"),
        (lambda h, b: ({**h, "webhook-id": "msg_other"}, b), "no matching v1 signature"),
        (lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) - 1000)}, b), "more than 300 s"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing header(s): webhook-signature"),
        (lambda h, b: ({**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}, b), "no matching v1 signature"),
    ],
)
def test_verify_refuses_tampering_replay_and_missing_headers(change, message):
    body = webhook.encode(webhook.build_event(view(), first=True))
    headers = webhook.sign(VECTOR_SECRET, "msg_1", body, timestamp=1_700_000_000)
    headers, body = change(headers, body)
    with pytest.raises(webhook.WebhookVerificationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        webhook.verify(VECTOR_SECRET, headers, body, now=1_700_000_000)
    with pytest.raises(webhook.WebhookVerificationError):
        webhook.verify(webhook.generate_secret(), webhook.sign(VECTOR_SECRET, "m", b"{}", timestamp=5), b"{}", now=5)


def test_webhook_event_and_generated_secrets():
    v = view()
    assert webhook.message_id(v) == "msg_5b0f6c1f0d9e4a7c8e2b3a4d5c6e7f80_3"
    assert webhook.build_event(v, first=True)["type"] == "tokenhawk.alert.opened"
    assert webhook.build_event(v, first=False)["type"] == "tokenhawk.alert.updated"
    assert webhook.build_event(view(make_alert(status="closed")), first=False)["type"] == "tokenhawk.alert.closed"
    event = webhook.build_event(v, first=True)
    assert event["data"] == normalize_alert_doc(example_alert())
    secret = webhook.generate_secret()
    assert secret.startswith("whsec_")
    body = webhook.encode(event)
    assert webhook.verify(secret, webhook.sign(secret, "msg_x", body), body) == json.loads(body)


# -- the alert at the edge -----------------------------------------------------------------------


def test_dotted_alert_documents_are_accepted_and_bad_ones_named():
    doc = normalize_alert_doc(example_alert())
    dotted = {k: v for k, v in doc.items() if k not in ("alert", "token")}
    dotted.update({"alert.id": doc["alert"]["id"], "alert.status": "open", "token.id": doc["token"]["id"],
                   "token.principal": doc["token"]["principal"], "token.source": "k8s", "token.kind": "bound"})
    assert normalize_alert_doc(dotted) == doc
    bad = dict(doc)
    del bad["severity"]
    with pytest.raises(InvalidAlert, match="severity: Field required"):
        normalize_alert_doc(bad)
