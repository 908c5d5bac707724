"""Prometheus metrics of the stream processors, on an injected registry (tests never touch the
global one). Labels are bounded sets only: processor, source, reason, severity, topic,
partition. No token, principal, address or alert id is ever a label value.
"""

from __future__ import annotations

import logging
from typing import Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class StreamMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.consumed = Counter("tokenhawk_stream_records_consumed", "Records read from Kafka",
                                ["processor", "source"], registry=r)
        self.produced = Counter("tokenhawk_stream_records_produced", "Records written and acknowledged",
                                ["processor", "kind", "source"], registry=r)
        self.dead_lettered = Counter("tokenhawk_stream_records_dead_lettered", "Records sent to the dead-letter topic",
                                     ["processor", "source", "reason"], registry=r)
        self.skipped = Counter("tokenhawk_stream_records_skipped", "Raw records that are not token use (by design)",
                               ["source", "reason"], registry=r)
        self.lag = Gauge("tokenhawk_stream_consumer_lag", "Records not yet consumed, per input partition",
                         ["processor", "topic", "partition"], registry=r)
        self.batch_seconds = Histogram("tokenhawk_stream_batch_seconds", "Time to process one polled batch",
                                       ["processor"], buckets=BATCH_BUCKETS, registry=r)
        self.batch_records = Histogram("tokenhawk_stream_batch_records", "Records per processed batch", ["processor"],
                                       buckets=(1, 10, 100, 1000, 5000, 10_000, 20_000, 50_000), registry=r)
        self.alerts = Counter("tokenhawk_stream_alerts", "Alert documents produced (new or revised)", ["severity"],
                              registry=r)
        self.state_bytes = Gauge("tokenhawk_stream_state_bytes", "Size of the last state snapshot record",
                                 ["partition"], registry=r)
        self.state_principals = Gauge("tokenhawk_stream_state_principals", "Principals held in detector state",
                                      registry=r)
        self.state_tokens = Gauge("tokenhawk_stream_state_tokens", "Tokens held in detector state", registry=r)
        self.snapshot_seconds = Histogram("tokenhawk_stream_snapshot_seconds", "Time to snapshot, write and commit",
                                          buckets=BATCH_BUCKETS, registry=r)
        self.held_back = Gauge("tokenhawk_stream_held_back_events",
                               "Events waiting for other partitions to catch up in event time", registry=r)
        self.watermark_lag = Gauge("tokenhawk_stream_event_time_lag_seconds",
                                   "Wall clock minus the detector's event-time watermark", registry=r)
        self.partitions = Gauge("tokenhawk_stream_assigned_partitions", "Input partitions owned by this process",
                                ["processor"], registry=r)
        self.rebalances = Counter("tokenhawk_stream_rebalances", "Partition assignments received", ["processor"],
                                  registry=r)
        self._server = None

    def serve(self, port: Optional[int], host: str = "0.0.0.0") -> Optional[int]:
        """Serve /metrics; returns the bound port (port 0 picks a free one), None if disabled."""
        if port is None:
            return None
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        bound = server.server_address[1]
        log.info("metrics on http://%s:%d/metrics", host, bound, extra={"fields": {"metrics.port": bound}})
        return bound

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
