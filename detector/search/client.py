"""The Elasticsearch client from the settings, and what counts as a transient failure.

The client's own retries are off (`max_retries=0`): the sinks retry with their own exponential
backoff, and know per document what is worth retrying.
"""

from __future__ import annotations

import random
from typing import Any

from elasticsearch import ApiError, ConnectionError as EsConnectionError, ConnectionTimeout, Elasticsearch

from detector.errors import TokenhawkError

from .config import ElasticsearchConfig

# Statuses of a whole request or of one bulk item that a later attempt may fix.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class SearchError(TokenhawkError):
    """Elasticsearch answered, but not what tokenhawk needs (bad credentials, rejected template, ...)."""


class EsUnavailable(SearchError):
    """Elasticsearch could not be reached (or kept failing) within the retry budget."""


def make_client(config: ElasticsearchConfig, url: str | None = None) -> Elasticsearch:
    """A client for the configured cluster; `url` overrides the configured URL(s) (CLI --es-url)."""
    kwargs: dict[str, Any] = {
        "request_timeout": config.request_timeout_seconds,
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    if url:
        kwargs["hosts"] = [u.strip() for u in url.split(",") if u.strip()]
    elif config.cloud_id:
        kwargs["cloud_id"] = config.cloud_id
    else:
        kwargs["hosts"] = list(config.url)
    if config.api_key is not None:
        kwargs["api_key"] = config.api_key.get_secret_value()
    elif config.username:
        kwargs["basic_auth"] = (config.username, config.password.get_secret_value() if config.password else "")
    if any(h.startswith("https") for h in kwargs.get("hosts", [])) or config.cloud_id:
        kwargs["verify_certs"] = config.verify_certs
        if config.ca_certs:
            kwargs["ca_certs"] = config.ca_certs
        if not config.verify_certs:
            kwargs["ssl_show_warn"] = False
    return Elasticsearch(**kwargs)


def quiet_client_logs() -> None:
    """The client logs every failed request to a node at WARNING; tokenhawk reports outages itself."""
    import logging

    logging.getLogger("elastic_transport.node_pool").setLevel(logging.ERROR)
    logging.getLogger("elastic_transport.transport").setLevel(logging.ERROR)


def is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts and 429/5xx answers: worth another attempt."""
    if isinstance(exc, ApiError):
        return exc.meta.status in RETRYABLE_STATUS
    # TLS errors are connection errors too: a certificate problem keeps alerts spooled, not lost
    return isinstance(exc, (EsConnectionError, ConnectionTimeout))


def describe(exc: BaseException) -> str:
    """One line about a client error, without request bodies (they may hold documents)."""
    if isinstance(exc, ApiError):
        info = exc.info if isinstance(exc.info, dict) else {}
        err = info.get("error") if isinstance(info.get("error"), dict) else {}
        reason = err.get("reason") or info.get("error") or exc.message
        return f"HTTP {exc.meta.status} {err.get('type', '')}: {reason}".replace(" : ", ": ")
    return f"{type(exc).__name__}: {exc}"


class Backoff:
    """Exponential backoff with full jitter: delay n is uniform in [d/2, d], d = min(max, initial·2ⁿ)."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None):
        self.initial, self.maximum = initial, maximum
        self.attempt = 0
        self.rng = rng or random.Random()

    def next(self) -> float:
        delay = min(self.maximum, self.initial * (2 ** self.attempt))
        self.attempt += 1
        return delay * (0.5 + 0.5 * self.rng.random())

    def reset(self) -> None:
        self.attempt = 0
