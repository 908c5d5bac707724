"""Scrub secrets out of free text before it is written anywhere (quarantine files, logs).

Events never hold secrets because their fields are an allow-list; quarantine files keep a clip
of the raw record, so that clip goes through here first. Key ids (AKIA…/ASIA…, GCP key ids,
Azure credential key ids) are identifiers, not secrets, and are kept.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

# A JWT: three base64url parts, the first two starting with '{"' encoded (eyJ).
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# "Authorization: Bearer x" and bare "Bearer x" in any text.
BEARER_RE = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
# JSON members whose value is a secret, in any of the spellings the logs use. Escaped quotes
# (\") cover members of double-encoded JSON strings.
_SECRET_KEYS = (
    r"token|accessToken|access_token|idToken|id_token|refreshToken|refresh_token|sessionToken|"
    r"session_token|secretAccessKey|secret_access_key|SecretAccessKey|SessionToken|"
    r"clientSecret|client_secret|secretText|password|privateKeyData|private_key|privateKey|"
    r"webIdentityToken|WebIdentityToken|SAMLAssertion|samlAssertion|authorization"
)
SECRET_MEMBER_RE = re.compile(
    r'(?P<key>\\?"(?:' + _SECRET_KEYS + r')\\?"\s*:\s*)(?P<q>\\?")(?P<value>(?:[^"\\]|\\(?!")|\\"(?!\s*[,}\]]))*)(?P=q)'
)


def redact_text(text: str) -> str:
    """Replace every secret-looking value in `text` with [REDACTED]."""
    if not text:
        return text
    text = SECRET_MEMBER_RE.sub(lambda m: f"{m['key']}{m['q']}{REDACTED}{m['q']}", text)
    text = JWT_RE.sub(REDACTED, text)
    return BEARER_RE.sub(lambda m: m.group(1) + REDACTED, text)


def clip(text: str, limit: int = 4096) -> str:
    """Redact, then clip: redacting first means a cut never splits a secret past recognition."""
    text = redact_text(text)
    return text if len(text) <= limit else text[:limit] + f"…[{len(text) - limit} more chars]"
