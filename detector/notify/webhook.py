"""Generic webhooks signed per Standard Webhooks (https://www.standardwebhooks.com/).

Each request carries
  webhook-id:        msg_<alert id>_<revision>  (the same on every retry: receivers dedupe on it)
  webhook-timestamp: integer Unix seconds of this attempt
  webhook-signature: v1,<base64 HMAC-SHA256 over "<id>.<timestamp>.<body>">
with the key from a `whsec_<base64>` secret. The body is
  {"type": "tokenhawk.alert.opened|updated|closed", "timestamp": …, "data": <the alert document>}.

A receiver verifies with `verify(secret, request.headers, raw_body)`:

>>> secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
>>> body = b'{"type":"tokenhawk.alert.opened"}'
>>> headers = sign(secret, "msg_1", body, timestamp=1700000000)
>>> verify(secret, headers, body, now=1700000010)["type"]
'tokenhawk.alert.opened'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets as _secrets
import time
from typing import Any, Mapping, Optional, Union

from detector.errors import TokenhawkError

from .view import AlertView

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300
EVENT_TYPES = ("tokenhawk.alert.opened", "tokenhawk.alert.updated", "tokenhawk.alert.closed")


class WebhookVerificationError(TokenhawkError):
    """A webhook request whose signature, id or timestamp does not check out."""


def generate_secret(nbytes: int = 24) -> str:
    """A new signing secret in the `whsec_<base64>` form."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode()


def _key(secret: str) -> bytes:
    body = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        raise WebhookVerificationError("the signing secret is not 'whsec_' followed by base64") from None


def _as_bytes(body: Union[bytes, str]) -> bytes:
    return body.encode() if isinstance(body, str) else bytes(body)


def signature(secret: str, msg_id: str, timestamp: int, body: Union[bytes, str]) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""
    signed = f"{msg_id}.{timestamp}.".encode() + _as_bytes(body)
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign(secret: Optional[str], msg_id: str, body: Union[bytes, str], *, timestamp: Optional[int] = None) -> dict[str, str]:
    """The three Standard Webhooks headers (no signature header without a secret)."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts)}
    if secret:
        headers["webhook-signature"] = signature(secret, msg_id, ts, body)
    return headers


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: Union[bytes, str],
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: Optional[float] = None,
) -> Any:
    """Check a received webhook and return its parsed JSON body; raise WebhookVerificationError if not genuine.

    `headers` may be any mapping (names are matched case-insensitively); `body` must be the raw
    bytes as received, before any JSON parsing. Timestamps more than `tolerance_seconds` away from
    now are refused, which bounds replays; dedupe on `webhook-id` to drop the rest.
    """
    lowered = {str(k).lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    ts_text = lowered.get("webhook-timestamp")
    sig_header = lowered.get("webhook-signature")
    if not msg_id or not ts_text or not sig_header:
        missing = [n for n, v in (("webhook-id", msg_id), ("webhook-timestamp", ts_text), ("webhook-signature", sig_header)) if not v]
        raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
    try:
        ts = int(ts_text)
    except ValueError:
        raise WebhookVerificationError(f"webhook-timestamp is not an integer: {ts_text[:40]!r}") from None
    current = time.time() if now is None else now
    if abs(current - ts) > tolerance_seconds:
        raise WebhookVerificationError(f"webhook-timestamp {ts} is more than {tolerance_seconds} s from now")
    expected = signature(secret, msg_id, ts, body).split(",", 1)[1]
    for candidate in sig_header.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            break
    else:
        raise WebhookVerificationError("no matching v1 signature")
    try:
        return json.loads(_as_bytes(body))
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None


def message_id(alert: AlertView) -> str:
    return f"msg_{alert.id}_{alert.revision}"


def event_type(alert: AlertView, *, first: bool) -> str:
    if alert.status == "closed":
        return "tokenhawk.alert.closed"
    return "tokenhawk.alert.opened" if first else "tokenhawk.alert.updated"


def build_event(alert: AlertView, *, first: bool, kibana_url: Optional[str] = None) -> dict[str, Any]:
    """The webhook body (before serialization)."""
    event: dict[str, Any] = {"type": event_type(alert, first=first), "timestamp": alert.timestamp, "data": alert.doc}
    link = alert.kibana_link(kibana_url)
    if link:
        event["links"] = {"kibana": link}
    return event


def encode(event: dict[str, Any]) -> bytes:
    """Compact, stable JSON: the bytes that are signed are the bytes that are sent."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()
