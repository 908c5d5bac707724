"""POST a JSON body with the standard library (urllib); no third-party HTTP client is needed.

Redirects are not followed: a POST redirected to a GET would lose its body, and a delivery
endpoint that redirects is a configuration mistake to report, not to guess around.
Exceptions never carry the URL (it may be the credential, as for Slack).
"""

from __future__ import annotations

import email.utils
import http.client
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Mapping, Optional

from detector import __version__

USER_AGENT = f"tokenhawk/{__version__} (+alert delivery)"
MAX_RESPONSE_BYTES = 64 * 1024


class TransportError(Exception):
    """The request did not get an HTTP response (refused, reset, DNS, TLS, timeout)."""

    def __init__(self, message: str, *, timeout: bool = False):
        super().__init__(message)
        self.timeout = timeout


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        for key, value in self.headers.items():
            if key.lower() == name:
                return value
        return None

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401
        return None  # urllib then raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirect())


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
    )
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return Response(resp.status, dict(resp.headers.items()), resp.read(MAX_RESPONSE_BYTES))
    except urllib.error.HTTPError as exc:
        try:
            payload = exc.read(MAX_RESPONSE_BYTES)
        except (OSError, http.client.HTTPException):
            payload = b""
        return Response(exc.code, dict(exc.headers.items()) if exc.headers else {}, payload)
    except urllib.error.URLError as exc:
        reason = exc.reason
        is_timeout = isinstance(reason, (TimeoutError, socket.timeout))
        raise TransportError(_describe(reason), timeout=is_timeout) from None
    except (TimeoutError, socket.timeout) as exc:
        raise TransportError(f"timed out after {timeout:g} s ({type(exc).__name__})", timeout=True) from None
    except (OSError, http.client.HTTPException) as exc:
        raise TransportError(_describe(exc)) from None
    except ValueError:
        raise TransportError("the destination URL is not a valid http(s) URL") from None


def _describe(reason: object) -> str:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(reason, BaseException):
        text = str(reason) or type(reason).__name__
        return f"{type(reason).__name__}: {text}"
    return str(reason)


def retry_after_seconds(value: Optional[str], *, now: Optional[float] = None) -> Optional[float]:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
