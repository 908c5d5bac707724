"""Kafka stream mode: the same Normalizer and Detector as the file mode, wired to topics.

    raw topics ──► NormalizeProcessor ──► tokenhawk.events (keyed by principal)
     (audit.*)            │          └──► tokenhawk.facts  (token births, pod deletions: every
                          │                                  detect instance reads all of it)
                          └──► tokenhawk.dlq (reason, origin in headers)
    tokenhawk.events ──► DetectProcessor (consumer group) ──► tokenhawk.alerts (keyed by alert id)
                               │  ▲
                               ▼  │ snapshot per owned partition, with its offsets
                          tokenhawk.state (compacted)

One module per concept: `config` (settings), `topics` (names, admin, partitioning), `codec`
(event records), `align` (event-time merge of partitions), `normalize` and `detect` (the
processors), `state` (snapshots on the state topic), `metrics` (Prometheus), `shutdown` (SIGTERM).
Nothing here imports kafka-python at module level except the processors, so settings load fast.
"""
