"""Alert notification: payload builders per destination, signing, routing (pure library code).

Delivery itself (the durable outbox, retries, HTTP) is `pipelines.notify`; these modules only
turn an alert document into what Slack, PagerDuty or a webhook receiver gets.
"""

from .config import NotifyConfig, PagerDutyConfig, RouteRule, SlackConfig, WebhookConfig
from .view import AlertView, InvalidAlert, normalize_alert_doc
from .webhook import WebhookVerificationError, generate_secret, sign, verify

__all__ = [
    "AlertView",
    "InvalidAlert",
    "NotifyConfig",
    "PagerDutyConfig",
    "RouteRule",
    "SlackConfig",
    "WebhookConfig",
    "WebhookVerificationError",
    "generate_secret",
    "normalize_alert_doc",
    "sign",
    "verify",
]
