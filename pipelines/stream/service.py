"""Running processors as a service: topics, metrics endpoint, the poll loop, --once, shutdown.

`run_stream(settings, roles=("normalize", "detect"))` is what `tokenhawk stream all` does: both
processors in one process and one thread, taking turns (fine for small deployments; run them as
separate processes to use more cores).
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from .metrics import StreamMetrics
from .shutdown import Shutdown

log = logging.getLogger(__name__)

ROLES = ("normalize", "detect")
NO_ASSIGNMENT_TIMEOUT_S = 60.0


@dataclass
class StreamReport:
    records: dict[str, int] = field(default_factory=dict)
    events_published: int = 0
    alerts: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    stopped_by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def build(settings, roles: Sequence[str], metrics: StreamMetrics, *, forests=None, instance: str | None = None):
    from .detect import DetectProcessor
    from .normalize import NormalizeProcessor
    from .topics import ensure_topics

    kafka = settings.kafka
    if kafka.create_topics:
        ensure_topics(kafka)
    processors = []
    if "normalize" in roles:
        processors.append(NormalizeProcessor(kafka, metrics))
    if "detect" in roles:
        processors.append(DetectProcessor(kafka, settings.detector, metrics, forests=forests, instance=instance,
                                          inventory_config=settings.inventory))
    return processors


def run_stream(settings, roles: Sequence[str] = ROLES, *, once: bool = False, max_idle_s: float = 3.0,
               metrics: StreamMetrics | None = None, shutdown: Shutdown | None = None,
               forests=None, instance: str | None = None, poll_ms: int = 200) -> StreamReport:
    """Run until SIGTERM/SIGINT (or, with `once`, until the input has been idle `max_idle_s`)."""
    metrics = metrics or StreamMetrics()
    shutdown = shutdown or Shutdown().install()
    started = time.monotonic()
    report = StreamReport()
    processors: list = []
    gc_thresholds = gc.get_threshold()
    try:
        metrics.serve(settings.kafka.metrics_port, settings.kafka.metrics_host)
        processors = build(settings, roles, metrics, forests=forests, instance=instance)
        tune_gc()
        _loop(processors, shutdown, report, once, max_idle_s, poll_ms, started, roles)
    finally:
        for processor in processors:
            try:
                processor.close()
            except Exception as exc:  # noqa: BLE001 - close the others anyway
                log.warning("closing %s: %s", type(processor).__name__, exc)
        metrics.close()
        shutdown.uninstall()
        gc.unfreeze()  # leave the interpreter as we found it (tests run this in-process)
        gc.set_threshold(*gc_thresholds)
    for processor in processors:
        if type(processor).__name__ == "NormalizeProcessor":
            report.records["normalize"] = processor.records
            report.events_published = sum(processor.publisher.sent.values())
            report.dead_letters += processor.dead_letters
        else:
            report.records["detect"] = processor.events
            report.alerts = processor.alerts
            report.dead_letters += processor.dead_letters
    report.seconds = round(time.monotonic() - started, 3)
    log.info("stream stopped (%s)", report.stopped_by, extra={"fields": report.as_dict()})
    return report


def _loop(processors, shutdown: Shutdown, report: StreamReport, once: bool, max_idle_s: float, poll_ms: int,
          started: float, roles) -> None:
    normalize = next((p for p in processors if type(p).__name__ == "NormalizeProcessor"), None)
    detect = next((p for p in processors if type(p).__name__ == "DetectProcessor"), None)
    log.info("stream %s running", "+".join(roles), extra={"fields": {"roles": list(roles), "once": once}})
    idle_since: float | None = None
    held_flushed = False
    while not shutdown.requested:
        consumed = 0
        for processor in processors:
            consumed += processor.step(timeout_ms=poll_ms if len(processors) == 1 else poll_ms // 2)
        if not once:
            continue
        now = time.monotonic()
        if consumed == 0 and all(_idle(p, now - started) for p in processors):
            idle_since = idle_since or now
            if now - idle_since >= max_idle_s:
                if normalize is not None and not held_flushed:
                    normalize.flush_held()  # end of input: held K8s stage copies go out now
                    held_flushed = True
                    idle_since = None
                    continue
                report.stopped_by = "idle"
                break
        else:
            idle_since = None
    if shutdown.requested:
        report.stopped_by = shutdown.reason or "signal"
    if detect is not None:
        detect.finish(end_of_input=once and report.stopped_by == "idle")


def tune_gc() -> None:
    """A stream process holds millions of long-lived objects (detector state) and allocates
    short-lived ones per event: with the default thresholds the collector rescans the state
    again and again (measured in bench/stream.py: 10k → 15k events/s with this)."""
    gc.collect()
    gc.freeze()  # what exists now (modules, restored state) is never garbage
    gc.set_threshold(50_000, 50, 100)


def _idle(processor, elapsed_s: float) -> bool:
    if type(processor).__name__ == "DetectProcessor":
        if not processor.assigned_once:
            return elapsed_s > NO_ASSIGNMENT_TIMEOUT_S
        return processor.idle()
    lag = processor.lag()
    if not processor.consumer.assignment():
        return elapsed_s > NO_ASSIGNMENT_TIMEOUT_S
    return lag == 0
