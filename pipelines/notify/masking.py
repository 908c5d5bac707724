"""Keep delivery secrets out of logs, errors and the outbox.

A Slack incoming-webhook URL is itself the credential, a PagerDuty routing key lets anyone page
the on-call, a signing secret lets anyone forge webhooks. Every text we log or store about a
delivery goes through `Masker.mask` first; on top of that the code never formats a destination's
URL or key into a message (destinations are named "slack", "pagerduty", "webhook").
"""

from __future__ import annotations

from typing import Iterable, Optional
from urllib.parse import quote, urlsplit

from detector.notify.config import NotifyConfig
from detector.redact import redact_text

MASK = "***"


class Masker:
    def __init__(self, secrets: Iterable[Optional[str]] = ()):
        variants: set[str] = set()
        for secret in secrets:
            if not secret or len(secret) < 4:
                continue
            variants.update({secret, quote(secret, safe=""), quote(secret, safe="/:")})
        # longest first, so a URL is masked whole before its path is
        self._secrets = sorted(variants, key=len, reverse=True)

    @classmethod
    def from_config(cls, config: NotifyConfig) -> "Masker":
        secrets: list[Optional[str]] = []
        if config.slack.webhook_url is not None:
            secrets += _url_parts(config.slack.webhook_url.get_secret_value(), secret_path=True)
        if config.pagerduty.routing_key is not None:
            secrets.append(config.pagerduty.routing_key.get_secret_value())
        if config.webhook.secret is not None:
            raw = config.webhook.secret.get_secret_value()
            secrets += [raw, raw.removeprefix("whsec_")]
        if config.webhook.url:
            secrets += _url_parts(config.webhook.url, secret_path=False)
        return cls(secrets)

    def mask(self, text: object) -> str:
        out = str(text)
        for secret in self._secrets:
            if secret in out:
                out = out.replace(secret, MASK)
        return redact_text(out)


def _url_parts(url: str, *, secret_path: bool) -> list[str]:
    """The parts of a URL that can carry a credential: user info, query, and (Slack) the path."""
    parts = urlsplit(url)
    out = []
    if parts.password:
        out.append(parts.password)
    if parts.query:
        out.append(parts.query)
    if secret_path:
        out.append(url)
        out += [parts.path, parts.path.rsplit("/", 1)[-1]]
    # short fragments ("/slack") are not secrets and masking them would garble every message
    return [p for p in out if p and (p == url or len(p) >= 12)]
