"""Which destinations get an alert, and how fast each destination may be sent to.

Rules (`RouteRule` in config) are evaluated in order; every matching rule adds its destinations
until a matching rule says `stop`. Patterns are shell globs (`fnmatch`, case-sensitive).

Rate limits are token buckets per destination: Slack accepts about one message per second per
webhook (short bursts tolerated), PagerDuty about 120 events per minute per routing key. A
server's `Retry-After` pauses the whole destination (`TokenBucket.pause_until`).

Aggregation: when a destination that allows it (Slack, `notify.slack.aggregate`) gets its next
slot, every alert due by then, up to `aggregate_max`, goes out as one digest
(`slack.build_digest`). A burst that queues behind the rate limit thus becomes one message; a
lone alert still goes out alone and at once. PagerDuty and webhooks are never folded: each
incident has its own dedup_key / webhook-id.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Callable, Optional, Sequence

from detector.alert import SEVERITY_RANK

from .config import NotifyConfig, RouteRule
from .view import AlertView


def _any_glob(value: Optional[str], patterns: Sequence[str]) -> bool:
    return value is not None and any(fnmatchcase(value, p) for p in patterns)


def rule_matches(rule: RouteRule, alert: AlertView) -> bool:
    if alert.severity_rank < SEVERITY_RANK[rule.min_severity]:
        return False
    if rule.severities and alert.severity not in rule.severities:
        return False
    if rule.sources and alert.source not in rule.sources:
        return False
    if rule.tenants and not _any_glob(alert.tenant, rule.tenants):
        return False
    if rule.namespaces and not _any_glob(alert.namespace, rule.namespaces):
        return False
    if rule.principals and not _any_glob(alert.principal, rule.principals):
        return False
    return True


@dataclass
class Router:
    rules: list[RouteRule]
    enabled: Sequence[str]

    @classmethod
    def from_config(cls, config: NotifyConfig) -> "Router":
        return cls(config.effective_routes(), config.configured())

    def route(self, alert: AlertView) -> list[str]:
        """Destinations for this alert, in rule order, only the configured ones."""
        out: list[str] = []
        for rule in self.rules:
            if not rule_matches(rule, alert):
                continue
            out.extend(d for d in rule.destinations if d in self.enabled and d not in out)
            if rule.stop:
                break
        return out

    def unconfigured_targets(self) -> list[str]:
        """Destinations named by explicit rules but lacking an address (a configuration mistake)."""
        named = {d for r in self.rules for d in r.destinations}
        return sorted(named - set(self.enabled))


_EPS = 1e-9  # float refills land a hair under a whole token


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; thread-safe."""

    rate: float
    burst: int = 1
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _stamp: float = field(init=False)
    _paused_until: float = field(init=False, default=0.0)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._stamp = self.clock()

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self) -> float:
        """Seconds until one token is available (0 when one is now)."""
        with self._lock:
            now = self.clock()
            self._refill(now)
            pause = max(0.0, self._paused_until - now)
            need = 0.0 if self._tokens >= 1 - _EPS else (1 - self._tokens) / self.rate
            return max(pause, need)

    def try_acquire(self) -> bool:
        with self._lock:
            now = self.clock()
            self._refill(now)
            if now < self._paused_until or self._tokens < 1 - _EPS:
                return False
            self._tokens = max(0.0, self._tokens - 1)
            return True

    def pause_until(self, monotonic_deadline: float) -> None:
        """Take nothing before this (a server's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, monotonic_deadline)
