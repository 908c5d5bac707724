"""Settings of alert delivery (the `notify` section of the tokenhawk settings).

Every name here is also an environment variable: `notify.slack.webhook_url` is
`TOKENHAWK_NOTIFY__SLACK__WEBHOOK_URL`, `notify.routes` is `TOKENHAWK_NOTIFY__ROUTES` (JSON).
Secrets (the Slack webhook URL, the PagerDuty routing key, the webhook signing secret) are
`SecretStr`: they print as '**********' and are masked in every log line and error we write.

A destination is enabled by giving it its address (webhook URL, routing key, URL). Each one can
point anywhere, which is how the tests aim them at local servers.

```yaml
notify:
  outbox: /var/lib/tokenhawk/notify-outbox.sqlite
  kibana_url: "https://kibana.example.com/app/discover#/?_a=(query:(language:kuery,query:'alert.id:{alert_id}'))"
  slack:     {webhook_url: "https://hooks.slack.com/services/T000/B000/XXXX"}
  pagerduty: {routing_key: "R0UT1NGKEY..."}
  webhook:   {url: "https://siem.example.com/hooks/tokenhawk", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
  routes:
    - {min_severity: medium, destinations: [slack, webhook]}
    - {min_severity: critical, destinations: [pagerduty]}
    - {principals: ["system:serviceaccount:kube-system:*"], destinations: [webhook], stop: true}
```
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

Destination = Literal["slack", "pagerduty", "webhook"]
DESTINATIONS: tuple[str, ...] = ("slack", "pagerduty", "webhook")
SeverityName = Literal["low", "medium", "high", "critical"]
# What a destination gets when a later revision of an incident it already received arrives:
# every revision, only when the severity went up, or nothing after the first message.
UpdatePolicy = Literal["always", "severity_rise", "never"]

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlackConfig(_Section):
    webhook_url: Optional[SecretStr] = Field(
        None, description="Incoming-webhook URL. The URL itself is the credential: it is never logged."
    )
    update_on: UpdatePolicy = Field(
        "severity_rise", description="Later revisions of an incident are posted only when its severity rose."
    )
    rate_per_second: float = Field(1.0, gt=0, description="Slack allows about one message per second per webhook.")
    burst: int = Field(1, ge=1)
    aggregate: bool = Field(True, description="Alerts due together are posted as one digest message.")
    aggregate_max: int = Field(20, ge=2, le=40, description="At most this many alerts in one digest.")
    max_reasons: int = Field(5, ge=1, description="Reasons listed in a single-alert message.")


class PagerDutyConfig(_Section):
    routing_key: Optional[SecretStr] = Field(None, description="Events API v2 integration (routing) key.")
    events_url: str = Field(PAGERDUTY_EVENTS_URL, description="Events API v2 enqueue endpoint.")
    update_on: UpdatePolicy = Field(
        "always", description="Later revisions re-send `trigger` with the same dedup_key: PagerDuty updates, never re-pages."
    )
    resolve_on_close: bool = Field(True, description="Send `resolve` when a paged incident's alert.status is closed.")
    rate_per_minute: int = Field(120, ge=1, description="PagerDuty accepts about 120 events/min per routing key.")


class WebhookConfig(_Section):
    url: Optional[str] = Field(None, description="Receiver URL; each message is POSTed as JSON.")
    secret: Optional[SecretStr] = Field(
        None, description="Standard Webhooks signing secret, `whsec_<base64>`; unsigned when unset."
    )
    update_on: UpdatePolicy = "always"
    rate_per_second: float = Field(10.0, gt=0)
    burst: int = Field(10, ge=1)

    @field_validator("secret")
    @classmethod
    def _secret_is_base64(cls, value: Optional[SecretStr]) -> Optional[SecretStr]:
        if value is None:
            return value
        raw = value.get_secret_value()
        body = raw[len("whsec_"):] if raw.startswith("whsec_") else raw
        try:
            key = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be 'whsec_' followed by base64 (`detector.notify.webhook.generate_secret()` makes one)") from None
        if len(key) < 16:
            raise ValueError("signing key must be at least 16 bytes (24 base64 characters)")
        return value


class RouteRule(_Section):
    """Alerts matching every given condition go to `destinations`. Empty conditions match anything.

    All matching rules add their destinations, in order, until a matching rule with `stop: true`.
    A rule with `stop: true` and no destinations silences what it matches.
    """

    name: Optional[str] = None
    min_severity: SeverityName = "low"
    severities: list[SeverityName] = Field(default_factory=list, description="Only these severities (combined with min_severity).")
    sources: list[str] = Field(default_factory=list, description="token.source values: k8s, aws, gcp, azure.")
    tenants: list[str] = Field(default_factory=list, description="Glob patterns on tokenhawk.tenant / cloud.account.id.")
    namespaces: list[str] = Field(default_factory=list, description="Glob patterns on orchestrator.namespace.")
    principals: list[str] = Field(default_factory=list, description="Glob patterns on token.principal.")
    destinations: list[Destination] = Field(default_factory=list)
    stop: bool = False


def default_routes() -> list[RouteRule]:
    """Without rules: medium and above to chat and webhooks; only high and critical page someone."""
    return [
        RouteRule(name="default-chat", min_severity="medium", destinations=["slack", "webhook"]),
        RouteRule(name="default-page", min_severity="high", destinations=["pagerduty"]),
    ]


class NotifyConfig(_Section):
    slack: SlackConfig = SlackConfig()
    pagerduty: PagerDutyConfig = PagerDutyConfig()
    webhook: WebhookConfig = WebhookConfig()
    routes: list[RouteRule] = Field(
        default_factory=list, description="Routing rules; empty means `default_routes()` over the configured destinations."
    )
    kibana_url: Optional[str] = Field(
        None,
        description="Drill-down link template; {alert_id}, {token_id}, {principal}, {first_seen}, {last_seen} are "
        "filled in (URL-quoted).",
    )
    outbox: str = Field("tokenhawk-notify-outbox.sqlite", description="The durable outbox (SQLite file).")
    timeout_seconds: float = Field(10.0, gt=0, description="Per HTTP request (connect, and each read).")
    max_attempts: int = Field(10, ge=1, description="Then the delivery is dead (reported, not retried).")
    max_age_seconds: float = Field(86400.0, gt=0, description="A delivery still failing this long after it was queued is dead.")
    backoff_initial_seconds: float = Field(2.0, gt=0)
    backoff_max_seconds: float = Field(600.0, gt=0)
    backoff_jitter: float = Field(0.5, ge=0, le=1, description="Each backoff is scaled by a random factor in [1-jitter, 1].")
    retry_after_max_seconds: float = Field(3600.0, gt=0, description="Cap on a server's Retry-After.")
    budget_seconds: float = Field(
        2.0, gt=0, description="Time one `deliver_due()` call may spend starting requests (plus one request timeout)."
    )
    drain_seconds: float = Field(120.0, ge=0, description="How long `tokenhawk notify` waits for retries before leaving them queued.")
    retention_days: float = Field(30.0, gt=0, description="Finished deliveries are kept this long (the idempotency memory).")

    def configured(self) -> list[str]:
        """Destinations that have an address."""
        out = []
        if self.slack.webhook_url is not None and self.slack.webhook_url.get_secret_value():
            out.append("slack")
        if self.pagerduty.routing_key is not None and self.pagerduty.routing_key.get_secret_value():
            out.append("pagerduty")
        if self.webhook.url:
            out.append("webhook")
        return out

    def effective_routes(self) -> list[RouteRule]:
        return list(self.routes) if self.routes else default_routes()
