"""The three destinations: where to POST, what body and headers, how fast, whether to fold bursts.

Payloads come from `detector.notify.*`; this module adds what depends on delivery state (was a
previous revision already sent? what severity did the on-call last see?) and on the moment of
sending (a webhook's timestamp and signature are made per attempt).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from detector.notify import pagerduty, slack, webhook
from detector.notify.config import NotifyConfig
from detector.notify.routing import TokenBucket

from .outbox import Outbox, Row


@dataclass
class Request:
    url: str
    body: bytes
    headers: dict[str, str]
    payload: Any  # the JSON before encoding (dry runs print it)


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class Destination:
    name: str
    aggregate: bool = False
    aggregate_max: int = 1
    policy: str = "always"

    def __init__(self, config: NotifyConfig, limiter: TokenBucket):
        self.config = config
        self.limiter = limiter

    @property
    def batch_limit(self) -> int:
        return self.aggregate_max if self.aggregate else 1

    def accepted(self, status: int, body: bytes) -> bool:
        return 200 <= status < 300

    def build(self, rows: Sequence[Row], outbox: Outbox) -> Request:
        raise NotImplementedError


class SlackDestination(Destination):
    name = "slack"

    def __init__(self, config: NotifyConfig, limiter: TokenBucket):
        super().__init__(config, limiter)
        self.aggregate = config.slack.aggregate
        self.aggregate_max = config.slack.aggregate_max
        self.policy = config.slack.update_on

    def build(self, rows: Sequence[Row], outbox: Outbox) -> Request:
        cfg = self.config
        items = [(r.view, outbox.sent_severity(r.alert_id, self.name, before_revision=r.revision)) for r in rows]
        if len(items) == 1:
            view, previous = items[0]
            payload = slack.build_message(
                view, previous_severity=previous, kibana_url=cfg.kibana_url, max_reasons=cfg.slack.max_reasons
            )
        else:
            payload = slack.build_digest(items, kibana_url=cfg.kibana_url)
        assert cfg.slack.webhook_url is not None
        return Request(cfg.slack.webhook_url.get_secret_value(), _json(payload), {}, payload)


class PagerDutyDestination(Destination):
    name = "pagerduty"

    def __init__(self, config: NotifyConfig, limiter: TokenBucket):
        super().__init__(config, limiter)
        self.policy = config.pagerduty.update_on

    def build(self, rows: Sequence[Row], outbox: Outbox) -> Request:
        (row,) = rows
        cfg = self.config.pagerduty
        assert cfg.routing_key is not None
        key = cfg.routing_key.get_secret_value()
        if row.action == "resolve":
            payload = pagerduty.build_resolve(row.view, key)
        else:
            payload = pagerduty.build_trigger(row.view, key, kibana_url=self.config.kibana_url)
        return Request(cfg.events_url, _json(payload), {}, payload)


class WebhookDestination(Destination):
    name = "webhook"

    def __init__(self, config: NotifyConfig, limiter: TokenBucket, *, clock: Callable[[], float] = time.time):
        super().__init__(config, limiter)
        self.policy = config.webhook.update_on
        self.clock = clock

    def build(self, rows: Sequence[Row], outbox: Outbox) -> Request:
        (row,) = rows
        cfg = self.config.webhook
        first = outbox.sent_severity(row.alert_id, self.name, before_revision=row.revision) is None
        payload = webhook.build_event(row.view, first=first, kibana_url=self.config.kibana_url)
        body = webhook.encode(payload)
        secret = cfg.secret.get_secret_value() if cfg.secret is not None else None
        headers = webhook.sign(secret, webhook.message_id(row.view), body, timestamp=int(self.clock()))
        assert cfg.url is not None
        return Request(cfg.url, body, headers, payload)


def make_destinations(
    config: NotifyConfig, *, monotonic: Callable[[], float] = time.monotonic, clock: Callable[[], float] = time.time
) -> dict[str, Destination]:
    out: dict[str, Destination] = {}
    enabled = config.configured()
    if "slack" in enabled:
        out["slack"] = SlackDestination(
            config, TokenBucket(config.slack.rate_per_second, config.slack.burst, clock=monotonic)
        )
    if "pagerduty" in enabled:
        # burst + 60 s × rate never exceeds the per-minute limit in any 60 s window
        per_minute = config.pagerduty.rate_per_minute
        burst = max(1, per_minute // 6)
        rate = max(per_minute - burst, 1) / 60.0
        out["pagerduty"] = PagerDutyDestination(config, TokenBucket(rate, burst, clock=monotonic))
    if "webhook" in enabled:
        out["webhook"] = WebhookDestination(
            config, TokenBucket(config.webhook.rate_per_second, config.webhook.burst, clock=monotonic), clock=clock
        )
    return out


def masked_payload(destination: str, payload: Any) -> Any:
    """A payload safe to print (dry runs): the PagerDuty routing key replaced."""
    if destination == "pagerduty" and isinstance(payload, dict) and "routing_key" in payload:
        return {**payload, "routing_key": "***"}
    return payload


def describe_rows(rows: Sequence[Row]) -> str:
    if len(rows) == 1:
        r = rows[0]
        return f"alert {r.alert_id} rev {r.revision}"
    return f"digest of {len(rows)} alerts"

