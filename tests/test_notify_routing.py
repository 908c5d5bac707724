"""Routing rules, per-destination rate limits and burst aggregation (rules in memory, delivery over real HTTP)."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from detector.notify.config import NotifyConfig, RouteRule, default_routes
from detector.notify.routing import Router, TokenBucket, rule_matches
from detector.notify.view import AlertView, normalize_alert_doc
from notify_servers import Receiver, Reply, make_alert, notify_config
from pipelines.notify import Notifier

pytestmark = pytest.mark.timeout(30)


def view(**kw) -> AlertView:
    return AlertView(normalize_alert_doc(make_alert(**kw)))


# -- rules -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule,alert,matches",
    [
        ({}, {}, True),
        ({"min_severity": "high"}, {"severity": "medium"}, False),
        ({"min_severity": "high"}, {"severity": "critical"}, True),
        ({"severities": ["medium"]}, {"severity": "critical"}, False),
        ({"severities": ["medium", "low"]}, {"severity": "low"}, True),
        ({"sources": ["aws", "gcp"]}, {"source": "k8s"}, False),
        ({"sources": ["aws"]}, {"source": "aws"}, True),
        ({"namespaces": ["kube-*"]}, {"namespace": "kube-system"}, True),
        ({"namespaces": ["kube-*"]}, {"namespace": "payments"}, False),
        ({"namespaces": ["*"]}, {"namespace": None}, False),  # no namespace: a namespace rule does not match
        ({"principals": ["system:serviceaccount:ci:*"]}, {"principal": "system:serviceaccount:ci:runner"}, True),
        ({"principals": ["arn:aws:iam::*:role/Admin*"]}, {"principal": "arn:aws:iam::123456789012:role/AdminOps"}, True),
        ({"principals": ["arn:aws:iam::*:role/Admin*"]}, {"principal": "arn:aws:iam::123456789012:role/admin"}, False),
        ({"tenants": ["prod-*"]}, {}, True),  # example alert's tenant is prod-eu-1
        ({"tenants": ["staging-*"]}, {}, False),
        ({"min_severity": "medium", "sources": ["k8s"], "namespaces": ["pay*"]}, {"severity": "high"}, True),
    ],
)
def test_rule_conditions(rule, alert, matches):
    assert rule_matches(RouteRule(**rule), view(**alert)) is matches


def test_rules_add_destinations_in_order_until_stop_and_skip_unconfigured_ones():
    rules = [
        RouteRule(principals=["system:serviceaccount:kube-system:*"], destinations=[], stop=True),  # silence
        RouteRule(min_severity="critical", destinations=["pagerduty", "slack"]),
        RouteRule(min_severity="medium", destinations=["slack", "webhook"]),
    ]
    router = Router(rules, enabled=["slack", "pagerduty"])
    assert router.route(view(severity="critical")) == ["pagerduty", "slack"]
    assert router.route(view(severity="medium")) == ["slack"]
    assert router.route(view(severity="low")) == []
    assert router.route(view(severity="critical", principal="system:serviceaccount:kube-system:coredns")) == []
    assert router.unconfigured_targets() == ["webhook"]


def test_default_routes_page_only_for_high_and_critical():
    config = NotifyConfig(slack={"webhook_url": "http://x/y"}, pagerduty={"routing_key": "k"}, webhook={"url": "http://h"})
    assert config.effective_routes() == default_routes()
    router = Router.from_config(config)
    assert router.route(view(severity="critical")) == ["slack", "webhook", "pagerduty"]
    assert router.route(view(severity="medium")) == ["slack", "webhook"]
    assert router.route(view(severity="low")) == []


# -- routing over the wire ---------------------------------------------------------------------------


@pytest.fixture
def receivers():
    made = {"slack": Receiver("slack"), "pagerduty": Receiver("pagerduty", Reply(202, b"{}")), "webhook": Receiver("webhook")}
    yield made
    for r in made.values():
        r.close()


def delivered_ids(receivers) -> dict[str, set[str]]:
    out = {}
    for name, r in receivers.items():
        got = set()
        for body in r.bodies():
            if name == "pagerduty":
                got.add(body["dedup_key"])
            elif name == "webhook":
                got.add(body["data"]["alert"]["id"])
            else:
                got.add(body["blocks"][-1]["elements"][0]["text"].split("`")[1])
        out[name] = got
    return out


def test_rules_route_each_alert_to_its_destinations(tmp_path, receivers):
    routes = [
        {"name": "platform noise", "principals": ["system:serviceaccount:kube-system:*"], "destinations": ["webhook"], "stop": True},
        {"name": "page", "min_severity": "critical", "destinations": ["pagerduty"]},
        {"name": "cloud", "sources": ["aws", "gcp", "azure"], "destinations": ["webhook"]},
        {"name": "payments chat", "namespaces": ["pay*"], "min_severity": "medium", "destinations": ["slack"]},
    ]
    config = notify_config(tmp_path, **receivers, routes=routes, overrides={"slack": {"aggregate": False}})
    a = make_alert(1, severity="critical")  # payments, critical → pagerduty + slack
    b = make_alert(2, severity="critical", principal="system:serviceaccount:kube-system:coredns", namespace="kube-system")
    c = make_alert(3, severity="medium", source="aws", namespace=None, principal="arn:aws:iam::123456789012:role/ci")
    d = make_alert(4, severity="low")  # payments but low
    e = make_alert(5, severity="high", namespace="monitoring")
    with Notifier(config) as notifier:
        report = notifier.submit([a, b, c, d, e])
        notifier.drain(timeout_seconds=3)
    assert report.not_routed == 2
    i = lambda doc: doc["alert"]["id"]  # noqa: E731
    assert delivered_ids(receivers) == {"pagerduty": {i(a)}, "slack": {i(a)}, "webhook": {i(b), i(c)}}


def test_later_revisions_follow_the_incident_where_it_was_sent(tmp_path, receivers):
    routes = [{"min_severity": "critical", "destinations": ["pagerduty"]}]
    config = notify_config(tmp_path, pagerduty=receivers["pagerduty"], routes=routes)
    with Notifier(config) as notifier:
        notifier.submit([make_alert(1, severity="critical", revision=1)])
        notifier.drain(timeout_seconds=2)
        # the score fell below the paging threshold, then the incident closed: PagerDuty still
        # hears about both, so the page it raised gets updated and resolved
        notifier.submit([make_alert(1, severity="high", revision=2)])
        notifier.drain(timeout_seconds=2)
        notifier.submit([make_alert(1, severity="high", revision=3, status="closed")])
        notifier.drain(timeout_seconds=2)
        never_paged = notifier.submit([make_alert(2, severity="high")])
    assert [b["event_action"] for b in receivers["pagerduty"].bodies()] == ["trigger", "trigger", "resolve"]
    assert never_paged.not_routed == 1


# -- rate limits ---------------------------------------------------------------------------------


def test_token_bucket_keeps_pagerduty_under_120_per_minute():
    now = [0.0]
    per_minute = 120
    burst = per_minute // 6
    bucket = TokenBucket((per_minute - burst) / 60.0, burst, clock=lambda: now[0])
    sent = []
    while now[0] < 300:  # a greedy sender for five simulated minutes
        if bucket.try_acquire():
            sent.append(now[0])
        else:
            now[0] += bucket.wait_time()
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 60) <= per_minute
    assert len(sent) >= 5 * (per_minute - burst)  # and it does use the allowance
    bucket.pause_until(now[0] + 30)
    assert not bucket.try_acquire() and bucket.wait_time() == pytest.approx(30)


def test_slack_is_sent_no_faster_than_its_rate(tmp_path, receivers):
    config = notify_config(
        tmp_path, slack=receivers["slack"], overrides={"slack": {"rate_per_second": 2, "burst": 1, "aggregate": False}}
    )
    with Notifier(config) as notifier:
        notifier.submit([make_alert(i) for i in range(4)])
        notifier.drain(timeout_seconds=5)
    times = [r.at for r in receivers["slack"].requests]
    assert len(times) == 4
    assert all(b - a >= 0.45 for a, b in zip(times, times[1:]))


def test_pagerduty_rate_per_minute_holds_back_the_excess(tmp_path, receivers):
    # 60/min: a burst of 10, then one every 1.2 s
    config = notify_config(tmp_path, pagerduty=receivers["pagerduty"], overrides={"pagerduty": {"rate_per_minute": 60}})
    with Notifier(config) as notifier:
        notifier.submit([make_alert(i) for i in range(11)])
        first = notifier.deliver_due(budget_seconds=0.5)
        assert first.sent == {"pagerduty": 10}
        notifier.drain(timeout_seconds=5)
    times = [r.at for r in receivers["pagerduty"].requests]
    assert len(times) == 11 and times[10] - times[0] >= 1.1


# -- aggregation ---------------------------------------------------------------------------------


def test_a_burst_behind_the_rate_limit_goes_out_as_one_digest(tmp_path, receivers):
    config = notify_config(tmp_path, slack=receivers["slack"], overrides={"slack": {"rate_per_second": 1, "burst": 1}})
    with Notifier(config) as notifier:
        notifier.submit([make_alert(0)])
        notifier.deliver_due()
        notifier.submit([make_alert(i, severity=("critical", "high")[i % 2]) for i in range(1, 6)])
        burst = notifier.deliver_due()  # waits for Slack's next slot, then one message for all five
        notifier.submit([make_alert(6)])
        notifier.deliver_due()
    bodies = receivers["slack"].bodies()
    headers = [b["blocks"][0]["text"]["text"] for b in bodies]
    assert headers == [
        "🔴 CRITICAL: system:serviceaccount:payments:api",
        "🚨 5 tokenhawk alerts (2 critical, 3 high)",
        "🔴 CRITICAL: system:serviceaccount:payments:api",
    ]
    assert burst.sent == {"slack": 5} and burst.messages == {"slack": 1}
    times = [r.at for r in receivers["slack"].requests]
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:]))


def test_digests_hold_at_most_aggregate_max_alerts(tmp_path, receivers):
    config = notify_config(tmp_path, slack=receivers["slack"], overrides={"slack": {"aggregate_max": 4}})
    with Notifier(config) as notifier:
        notifier.submit([make_alert(i) for i in range(10)])
        notifier.drain(timeout_seconds=3)
    counts = [b["text"].split()[0] for b in receivers["slack"].bodies()]
    assert counts == ["4", "4", "2"]
    ids = Counter()
    for body in receivers["slack"].bodies():
        ids.update(body["blocks"][-1]["elements"][0]["text"].split("`")[1::2])
    assert len(ids) == 10 and set(ids.values()) == {1}


def test_webhook_and_pagerduty_are_never_folded(tmp_path, receivers):
    config = notify_config(tmp_path, pagerduty=receivers["pagerduty"], webhook=receivers["webhook"])
    with Notifier(config) as notifier:
        notifier.submit([make_alert(i) for i in range(5)])
        started = time.monotonic()
        notifier.deliver_due()
        assert time.monotonic() - started < 2
    assert len(receivers["pagerduty"].requests) == 5 and len(receivers["webhook"].requests) == 5
