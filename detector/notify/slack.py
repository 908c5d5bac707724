"""Slack incoming-webhook messages: Block Kit plus the plain `text` fallback, within Slack's limits.

One alert → header (severity, principal), what happened, the reasons, a field grid (token id,
where, first/last seen, score, technique with ATT&CK links, source IP, action), a Kibana button
when a drill-down link is configured, and a context line with the alert id and revision.
A burst of alerts due together → one digest message, one section per alert.

Limits enforced (https://api.slack.com/reference/block-kit/blocks): ≤ 50 blocks, section text
≤ 3000 chars, ≤ 10 fields of ≤ 2000 chars, header text ≤ 150, button text ≤ 75 and URL ≤ 3000.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Optional, Sequence

from detector.alert import SEVERITIES

from .view import AlertView, attack_url

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_URL = 3000
MAX_CONTEXT_TEXT = 2000
MAX_FALLBACK_TEXT = 3000

SEVERITY_EMOJI = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "🔵"}

_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,4}$")


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn and `text` (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, ending with '…' when cut, never inside an &entity;."""
    if len(text) <= limit:
        return text
    return _PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…"


def _mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text, MAX_CONTEXT_TEXT)]}


def _link(url: str, label: str) -> str:
    # '|' and '>' would end a Slack link early
    return f"<{url.replace('>', '%3E').replace('|', '%7C')}|{escape(label)}>"


def headline(alert: AlertView, *, previous_severity: Optional[str] = None) -> str:
    """The header line: severity, principal, and what changed for an update."""
    emoji = SEVERITY_EMOJI[alert.severity]
    if alert.status == "closed":
        return f"✅ Closed ({alert.severity}): {alert.principal}"
    if previous_severity and previous_severity != alert.severity:
        return f"{emoji} {alert.severity.upper()} (was {previous_severity}): {alert.principal}"
    return f"{emoji} {alert.severity.upper()}: {alert.principal}"


def what_happened(alert: AlertView) -> str:
    kind = f"{alert.source} {alert.token_kind} token" if alert.token_kind else f"{alert.source} token"
    parts = [f"{alert.events} event{'s' if alert.events != 1 else ''}"]
    if alert.action:
        parts.append(f"action `{escape(alert.action)}`")
    if alert.source_ip:
        parts.append(f"from `{escape(alert.source_ip)}`")
    place = "/".join(p for p in (alert.tenant, alert.namespace) if p)
    where = f" in {escape(place)}" if place else ""
    return f"*Unusual use of a {escape(kind)}*{where}: {', '.join(parts)}; score {alert.score:g}/100"


def fallback_text(alert: AlertView, *, previous_severity: Optional[str] = None) -> str:
    """The plain `text`: shown in notifications and by clients that do not render blocks."""
    reasons = alert.reasons
    more = f" (+{len(reasons) - 1} more reasons)" if len(reasons) > 1 else ""
    change = ""
    if alert.status == "closed":
        change = " closed"
    elif previous_severity and previous_severity != alert.severity:
        change = f" (was {previous_severity})"
    techniques = f", {' '.join(alert.technique)}" if alert.technique else ""
    text = (
        f"[{alert.severity.upper()}]{change} tokenhawk: {alert.principal} ({alert.where()}): "
        f"{alert.what}{more}. Token {alert.token_id}, score {alert.score:g}{techniques}, alert {alert.id}"
    )
    return clip(escape(text), MAX_FALLBACK_TEXT)


def _reasons_block(alert: AlertView, max_reasons: int) -> dict[str, Any]:
    title = "*Why it was flagged*\n"
    bullets = [f"• {escape(r)}" for r in alert.reasons[:max_reasons]] or ["• (no reason given)"]
    if len(alert.reasons) > max_reasons:
        bullets.append(f"_…and {len(alert.reasons) - max_reasons} more reasons_")
    # Cut whole bullets so every reason shown is complete, unless one alone is too long.
    text = title
    for bullet in bullets:
        if len(text) + len(bullet) + 1 > MAX_SECTION_TEXT:
            break
        text += bullet + "\n"
    else:
        return _section(text.rstrip("\n"))
    return _section(text.rstrip("\n") if text != title else title + bullets[0])


def _field(label: str, value: str) -> dict[str, Any]:
    return _mrkdwn(f"*{label}*\n{value}", MAX_FIELD_TEXT)


def _fields(alert: AlertView) -> dict[str, Any]:
    fields = [
        _field("Token", f"`{escape(alert.token_id)}`" + (f" ({escape(alert.token_kind)})" if alert.token_kind else "")),
        _field("Where", escape(alert.where())),
        _field("First seen", escape(alert.first_seen)),
        _field("Last seen", escape(alert.last_seen)),
        _field("Score", f"{alert.score:g}/100 · {alert.events} events"),
    ]
    if alert.technique:
        fields.append(_field("Technique", ", ".join(_link(attack_url(t), t) for t in alert.technique)))
    if alert.source_ip:
        fields.append(_field("Source IP", f"`{escape(alert.source_ip)}`"))
    if alert.action:
        fields.append(_field("Action", f"`{escape(alert.action)}`"))
    if alert.user_agent:
        fields.append(_field("User agent", escape(alert.user_agent)))
    return {"type": "section", "fields": fields[:MAX_FIELDS]}


def _kibana_button(url: str) -> Optional[dict[str, Any]]:
    if len(url) > MAX_URL:
        return None
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": clip("Open in Kibana", MAX_BUTTON_TEXT)},
                "url": url,
                "action_id": "tokenhawk_kibana",
            }
        ],
    }


def build_message(
    alert: AlertView,
    *,
    previous_severity: Optional[str] = None,
    kibana_url: Optional[str] = None,
    max_reasons: int = 5,
) -> dict[str, Any]:
    """The incoming-webhook body for one alert (first message or an update)."""
    blocks: list[dict[str, Any]] = [
        _header(headline(alert, previous_severity=previous_severity)),
        _section(what_happened(alert)),
        _reasons_block(alert, max_reasons),
        _fields(alert),
    ]
    link = alert.kibana_link(kibana_url)
    if link and (button := _kibana_button(link)):
        blocks.append(button)
    blocks.append(_context(f"tokenhawk alert `{alert.id}` · revision {alert.revision} · {alert.status}"))
    return {"text": fallback_text(alert, previous_severity=previous_severity), "blocks": blocks[:MAX_BLOCKS]}


def _digest_counts(alerts: Sequence[AlertView]) -> str:
    counts = Counter(a.severity for a in alerts)
    return ", ".join(f"{counts[s]} {s}" for s in reversed(SEVERITIES) if counts[s])


def build_digest(
    items: Sequence[tuple[AlertView, Optional[str]]],
    *,
    kibana_url: Optional[str] = None,
) -> dict[str, Any]:
    """One message for a burst: `items` are (alert, previous severity notified or None)."""
    alerts = [a for a, _ in items]
    ordered = sorted(items, key=lambda item: (-item[0].severity_rank, -item[0].score))
    room = MAX_BLOCKS - 2  # header and the closing context
    shown = ordered[:room]
    blocks: list[dict[str, Any]] = [_header(f"🚨 {len(alerts)} tokenhawk alerts ({_digest_counts(alerts)})")]
    for alert, previous in shown:
        line = escape(headline(alert, previous_severity=previous))
        link = alert.kibana_link(kibana_url)
        open_link = f" · {_link(link, 'Kibana')}" if link and len(link) <= MAX_URL else ""
        technique = f" · {', '.join(alert.technique)}" if alert.technique else ""
        text = (
            f"*{line}*\n{clip(escape(alert.what), 1200)}\n"
            f"_{escape(alert.where())} · token `{escape(alert.token_id)}` · score {alert.score:g}{technique} · "
            f"{escape(alert.first_seen)} → {escape(alert.last_seen)}_{open_link}"
        )
        blocks.append(_section(text))
    hidden = len(ordered) - len(shown)
    tail = f"…and {hidden} more · " if hidden else ""
    blocks.append(_context(f"{tail}alert ids: " + ", ".join(f"`{a.id}`" for a in alerts)))
    top = ", ".join(f"{a.principal} ({a.severity})" for a, _ in ordered[:5])
    text = f"{len(alerts)} tokenhawk alerts: {_digest_counts(alerts)} — {top}" + ("…" if len(ordered) > 5 else "")
    return {"text": clip(escape(text), MAX_FALLBACK_TEXT), "blocks": blocks}
