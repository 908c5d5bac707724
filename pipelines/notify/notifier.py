"""`Notifier`: route alerts into the outbox, deliver what is due, within a time budget.

    notifier = Notifier(settings.notify)
    notifier.submit(alert_docs)      # fast: validate, route, one SQLite transaction
    notifier.deliver_due()           # bounded: ≤ budget_seconds starting requests, + one timeout
    ...
    notifier.close()

`tokenhawk detect` and the stream processor call `submit` + `deliver_due` after each micro-batch;
`tokenhawk notify` calls `drain` to wait for retries. Destinations are served in parallel (one
worker thread each) so a slow or failing receiver never holds back the others.

Failure handling: 2xx is delivered. 408, 429, 5xx and network errors/timeouts are retried with
exponential backoff and jitter, never earlier than the server's `Retry-After` (which also pauses
the whole destination). Any other status (4xx, or 3xx: redirects are not followed) is final: the
delivery is dead and reported at ERROR. A refused digest is split and its alerts retried alone.
After `max_attempts` or `max_age_seconds` a delivery is dead too.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from detector.notify.config import NotifyConfig
from detector.notify.routing import Router
from detector.notify.view import AlertView, InvalidAlert, normalize_alert_doc

from .destinations import Destination, Request, describe_rows, make_destinations, masked_payload
from .http import TransportError, post, retry_after_seconds
from .masking import Masker
from .outbox import Outbox, Row

log = logging.getLogger("tokenhawk.notify")

RETRYABLE_STATUS = {408, 429}


@dataclass
class SubmitReport:
    alerts: int = 0
    invalid: int = 0
    not_routed: int = 0
    # per destination: queued | duplicate | stale | skipped → count
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def count(self, destination: str, outcome: str) -> None:
        per = self.outcomes.setdefault(destination, {})
        per[outcome] = per.get(outcome, 0) + 1

    def total(self, outcome: str) -> int:
        return sum(per.get(outcome, 0) for per in self.outcomes.values())

    def merge(self, other: "SubmitReport") -> None:
        self.alerts += other.alerts
        self.invalid += other.invalid
        self.not_routed += other.not_routed
        self.errors += other.errors
        for dest, per in other.outcomes.items():
            for outcome, n in per.items():
                self.outcomes.setdefault(dest, {}).setdefault(outcome, 0)
                self.outcomes[dest][outcome] += n


@dataclass
class DeliveryReport:
    """What one or more delivery passes did: rows per destination and outcome, messages sent."""

    sent: dict[str, int] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    dead_errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, kind: str, destination: str, n: int = 1) -> None:
        with self._lock:
            bucket = getattr(self, kind)
            bucket[destination] = bucket.get(destination, 0) + n

    def finished(self) -> int:
        return sum(self.sent.values()) + sum(self.dead.values())

    def merge(self, other: "DeliveryReport") -> None:
        for kind in ("sent", "retried", "dead", "messages"):
            for dest, n in getattr(other, kind).items():
                self.add(kind, dest, n)
        self.dead_errors += other.dead_errors


@dataclass
class Preview:
    destination: str
    alert_ids: list[str]
    payload: Any
    headers: dict[str, str]


class Notifier:
    """Delivers alerts to the configured destinations through the durable outbox."""

    def __init__(
        self,
        config: NotifyConfig,
        *,
        outbox: str | Path | None = None,
        dry_run: bool = False,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: Optional[random.Random] = None,
    ):
        self.config = config
        self.dry_run = dry_run
        self.clock, self.monotonic = clock, monotonic
        self.rng = rng or random.Random()
        self.masker = Masker.from_config(config)
        self.router = Router.from_config(config)
        self.destinations: dict[str, Destination] = make_destinations(config, monotonic=monotonic, clock=clock)
        for name in self.router.unconfigured_targets():
            log.warning("notify: routes name %s but it has no address configured; those alerts skip it", name)
        self.outbox = Outbox(outbox or config.outbox, clock=clock, in_memory_copy=dry_run)
        if not dry_run:
            purged = self.outbox.purge(config.retention_days * 86400)
            if purged:
                log.info("notify: forgot %d finished deliveries older than %g days", purged, config.retention_days)
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.destinations)), thread_name_prefix="tokenhawk-notify")
        self._stop = threading.Event()
        self._failing: set[str] = set()
        self._background: Optional[threading.Thread] = None
        self._closed = False

    # -- submit ---------------------------------------------------------------------------------

    @property
    def enabled(self) -> list[str]:
        return list(self.destinations)

    def submit(self, alerts: Iterable[Any]) -> SubmitReport:
        """Validate, route and enqueue alerts (documents or `Alert`s). Invalid ones are counted, not raised."""
        self._check_open()
        report = SubmitReport()
        with self.outbox.transaction():  # one commit (one fsync) for the batch, decisions on one state
            for doc in alerts:
                report.alerts += 1
                try:
                    view = AlertView(normalize_alert_doc(doc))
                except InvalidAlert as exc:
                    report.invalid += 1
                    report.errors.append(self.masker.mask(exc))
                    log.warning("notify: %s", self.masker.mask(exc))
                    continue
                targets = self.router.route(view)
                # later revisions follow the incident to wherever it was already sent
                for dest in self.outbox.destinations_of(view.id):
                    if dest in self.destinations and dest not in targets:
                        targets.append(dest)
                if not targets:
                    report.not_routed += 1
                    continue
                for dest in targets:
                    action, policy, force = self._action(view, dest)
                    report.count(dest, self.outbox.enqueue(view, dest, action=action, policy=policy, force=force))
        return report

    def _action(self, view: AlertView, dest: str) -> tuple[str, str, bool]:
        """(action, update policy, force) for this alert at this destination."""
        policy = self.destinations[dest].policy
        if dest == "pagerduty" and view.status == "closed" and self.config.pagerduty.resolve_on_close:
            last = self.outbox.last_sent_action(view.id, dest)
            if last == "notify":
                return "resolve", policy, True  # close what we paged
            if last == "resolve":
                return "resolve", "never", False  # already resolved: nothing more to say
        return "notify", policy, False

    # -- deliver --------------------------------------------------------------------------------

    def deliver_due(self, *, budget_seconds: Optional[float] = None, max_messages: Optional[int] = None) -> DeliveryReport:
        """Send what is due now, each destination in parallel; returns within about
        `budget_seconds` (default `notify.budget_seconds`) plus one request timeout.

        Each delivery is attempted at most once per call. `max_messages` caps the HTTP requests.
        """
        self._check_open()
        report = DeliveryReport()
        if self.dry_run or not self.destinations or self._stop.is_set():
            return report
        budget = self.config.budget_seconds if budget_seconds is None else budget_seconds
        deadline = self.monotonic() + budget
        started = self.clock()
        quota = _Quota(max_messages)
        futures = [
            self._pool.submit(self._serve, dest, deadline, started, quota, report) for dest in self.destinations.values()
        ]
        wait(futures, timeout=budget + 2 * self.config.timeout_seconds + 5)
        for f in futures:
            if f.done() and f.exception() is not None:
                log.error("notify: delivery worker failed: %s", self.masker.mask(f.exception()))
        return report

    def _serve(self, dest: Destination, deadline: float, started: float, quota: "_Quota", report: DeliveryReport) -> None:
        # longer than one request can take (connect + reads), so a crash mid-request frees the row
        lease = 3 * self.config.timeout_seconds + 10
        while not self._stop.is_set():
            left = deadline - self.monotonic()
            if left <= 0 or not self.outbox.has_due(dest.name, tried_before=started):
                return
            delay = dest.limiter.wait_time()
            if delay > 0:
                if delay > left:
                    return
                self._stop.wait(delay)
                continue
            if not quota.take():
                return
            if not dest.limiter.try_acquire():
                quota.give_back()
                continue
            rows = self.outbox.claim(dest.name, limit=dest.batch_limit, lease_seconds=lease, tried_before=started)
            if not rows:
                quota.give_back()
                return
            self._send(dest, rows, report)

    def _send(self, dest: Destination, rows: list[Row], report: DeliveryReport) -> None:
        what = describe_rows(rows)
        try:
            request = dest.build(rows, self.outbox)
        except Exception as exc:  # a payload we cannot build will not build next time either
            error = self.masker.mask(f"could not build the {dest.name} message: {type(exc).__name__}: {exc}")
            for row in rows:
                self._dead(dest, row, error, None, report)
            return
        try:
            response = post(request.url, request.body, request.headers, self.config.timeout_seconds)
        except TransportError as exc:
            self._failed(dest, rows, self.masker.mask(exc), None, None, report)
            return
        report.add("messages", dest.name)
        if dest.accepted(response.status, response.body):
            self.outbox.mark_sent(rows, response.status)
            report.add("sent", dest.name, len(rows))
            log.info("notify: %s accepted %s (HTTP %d)", dest.name, what, response.status)
            if dest.name in self._failing:
                self._failing.discard(dest.name)
                log.warning("notify: %s is accepting deliveries again", dest.name)
            return
        error = self.masker.mask(f"HTTP {response.status}: {response.text()}")
        retry_after = retry_after_seconds(response.header("Retry-After"), now=self.clock())
        if retry_after is not None:
            retry_after = min(retry_after, self.config.retry_after_max_seconds)
        if response.status in RETRYABLE_STATUS or response.status >= 500:
            delays = self._failed(dest, rows, error, response.status, retry_after, report)
            if delays and (retry_after is not None or response.status == 429):
                # the server said slow down: nothing more to this destination until the retry is due
                dest.limiter.pause_until(self.monotonic() + min(delays))
        elif len(rows) > 1:
            # a refused digest: send its alerts one by one so one bad alert does not sink the rest
            log.warning("notify: %s refused a %s (%s); sending them one by one", dest.name, what, error)
            for row in rows:
                self.outbox.mark_retry(row, next_attempt=self.clock(), error=error, http_status=response.status, solo=True)
            report.add("retried", dest.name, len(rows))
        else:
            self._dead(dest, rows[0], error, response.status, report)

    def _failed(
        self,
        dest: Destination,
        rows: list[Row],
        error: str,
        http_status: Optional[int],
        retry_after: Optional[float],
        report: DeliveryReport,
    ) -> list[float]:
        """Schedule retries (or give up); returns the delays of the retried rows."""
        now = self.clock()
        delays = []
        for row in rows:
            attempts = row.attempts + 1
            if attempts >= self.config.max_attempts or now - row.created >= self.config.max_age_seconds:
                why = f"gave up after {attempts} attempts over {now - row.created:.0f} s; last error: {error}"
                self._dead(dest, row, why, http_status, report)
                continue
            delay = self._backoff(attempts)
            if retry_after is not None:
                delay = max(delay, retry_after)
            self.outbox.mark_retry(row, next_attempt=now + delay, error=error, http_status=http_status)
            delays.append(delay)
            report.add("retried", dest.name)
            log.info(
                "notify: %s failed for alert %s rev %d (attempt %d): %s; retrying in %.1f s",
                dest.name, row.alert_id, row.revision, attempts, error, delay,
            )
        if dest.name not in self._failing:
            # one warning when a destination starts failing, not one per retry
            self._failing.add(dest.name)
            log.warning("notify: %s is failing (%s); deliveries are kept and retried", dest.name, error)
        return delays

    def _dead(self, dest: Destination, row: Row, error: str, http_status: Optional[int], report: DeliveryReport) -> None:
        self.outbox.mark_dead(row, error=error, http_status=http_status)
        report.add("dead", dest.name)
        message = f"{dest.name}: alert {row.alert_id} rev {row.revision} not delivered: {error}"
        with report._lock:
            report.dead_errors.append(message)
        log.error("notify: %s", message)

    def _backoff(self, attempts: int) -> float:
        cfg = self.config
        base = min(cfg.backoff_max_seconds, cfg.backoff_initial_seconds * (2 ** max(0, attempts - 1)))
        return base * (1 - cfg.backoff_jitter * self.rng.random())

    def drain(
        self,
        *,
        timeout_seconds: Optional[float] = None,
        on_progress: Optional[Callable[[DeliveryReport], None]] = None,
    ) -> DeliveryReport:
        """Deliver until nothing is pending or `timeout_seconds` (default `notify.drain_seconds`) pass.

        Deliveries still failing then stay in the outbox for the next run.
        """
        total = DeliveryReport()
        if self.dry_run or not self.destinations:
            return total
        limit = self.config.drain_seconds if timeout_seconds is None else timeout_seconds
        end = self.monotonic() + limit
        while not self._stop.is_set():
            left = end - self.monotonic()
            if left <= 0:
                break
            step = self.deliver_due(budget_seconds=min(left, max(self.config.budget_seconds, 1.0)))
            total.merge(step)
            if on_progress is not None:
                on_progress(step)
            next_due = self.outbox.next_due()
            if next_due is None:
                break
            pause = next_due - self.clock()
            if pause <= 0 and not (step.messages or step.retried or step.dead):
                # due, but every destination is holding back (rate limit, Retry-After): don't spin
                pause = min((d.limiter.wait_time() for d in self.destinations.values()), default=0.05)
                pause = max(pause, 0.02)
            if pause > 0:
                if pause >= end - self.monotonic():
                    break
                self._stop.wait(min(pause, 1.0))
        return total

    # -- background delivery ----------------------------------------------------------------------

    def start(self, *, interval_seconds: float = 1.0) -> "Notifier":
        """Deliver from a background thread, so callers only `submit` (never wait on HTTP).

        Checks for due deliveries every `interval_seconds`; `close()` stops it.
        """
        self._check_open()
        if self._background is None and not self.dry_run and self.destinations:
            self._background = threading.Thread(
                target=self._background_loop, args=(interval_seconds,), name="tokenhawk-notify-loop", daemon=True
            )
            self._background.start()
        return self

    def _background_loop(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception as exc:  # keep delivering: the outbox still holds everything
                log.error("notify: delivery pass failed: %s", self.masker.mask(f"{type(exc).__name__}: {exc}"))
            self._stop.wait(interval)

    # -- dry runs -------------------------------------------------------------------------------

    def preview(self) -> list[Preview]:
        """What would be sent now for everything pending (dry runs; nothing is sent or stored)."""
        out: list[Preview] = []
        for dest in self.destinations.values():
            while True:
                rows = self.outbox.claim(dest.name, limit=dest.batch_limit, lease_seconds=1e12, now=float("inf"))
                if not rows:
                    break
                request: Request = dest.build(rows, self.outbox)
                self.outbox.mark_sent(rows, 0)
                out.append(Preview(dest.name, [r.alert_id for r in rows], masked_payload(dest.name, request.payload), request.headers))
        return out

    # -- state ----------------------------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        return self.outbox.counts()

    def pending_count(self) -> int:
        return self.outbox.pending_count()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Notifier is closed")

    def close(self) -> None:
        if self._closed:
            return
        self._stop.set()  # workers and the background loop finish their current request and stop
        if self._background is not None:
            self._background.join()
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.outbox.close()

    def __enter__(self) -> "Notifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def notifier_if_configured(config: NotifyConfig, **kwargs: Any) -> Optional[Notifier]:
    """A Notifier when some destination is configured, else None (for `detect` and the stream)."""
    return Notifier(config, **kwargs) if config.configured() else None


class _Quota:
    """A shared cap on requests for one deliver_due call (None: no cap)."""

    def __init__(self, limit: Optional[int]):
        self._left = limit
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self._left is None:
                return True
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    def give_back(self) -> None:
        with self._lock:
            if self._left is not None:
                self._left += 1


__all__ = ["DeliveryReport", "Notifier", "Preview", "SubmitReport", "notifier_if_configured"]
