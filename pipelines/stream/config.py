"""Settings of the Kafka stream mode (the `kafka` section of the tokenhawk settings).

Every name is also an environment variable: `kafka.bootstrap_servers` is
`TOKENHAWK_KAFKA__BOOTSTRAP_SERVERS`, `kafka.topics.events` is `TOKENHAWK_KAFKA__TOPICS__EVENTS`.
Client security (TLS, SASL) passes straight to kafka-python; `client_options` takes any other
kafka-python setting for every client (e.g. `{"request_timeout_ms": 60000}`).

```yaml
kafka:
  bootstrap_servers: "kafka-1:9093,kafka-2:9093"
  security_protocol: SASL_SSL
  sasl_mechanism: SCRAM-SHA-512
  sasl_plain_username: tokenhawk
  sasl_plain_password: "…"            # or TOKENHAWK_KAFKA__SASL_PLAIN_PASSWORD / a secrets file
  ssl_cafile: /etc/tokenhawk/ca.pem
  topics: {raw: {k8s: audit.k8s, aws: audit.aws}, events: tokenhawk.events}
  partitions: 12
  snapshot_interval_s: 10
```
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from detector.events import SOURCES

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"]
Compression = Literal["none", "gzip", "lz4", "zstd", "snappy"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TopicsConfig(_Section):
    raw: dict[str, str] = Field(
        default_factory=lambda: {source: f"audit.{source}" for source in SOURCES},
        description="raw audit-log topic per source (k8s, aws, gcp, azure); the normalizer sniffs each record's "
                    "format, the source here only labels metrics",
    )
    events: str = Field("tokenhawk.events", description="normalized TokenEvents, keyed by principal")
    facts: str = Field("tokenhawk.facts", description="cross-principal facts (token births, pod deletions) "
                                                       "that every detect instance reads in full")
    alerts: str = Field("tokenhawk.alerts", description="alert documents, keyed by alert id")
    dlq: str = Field("tokenhawk.dlq", description="dead letters: reason and origin in headers")
    state: str = Field("tokenhawk.state", description="compacted detector snapshots, one key per events partition")
    inventory: str = Field("tokenhawk.inventory", description="compacted token inventory: one record per credential "
                                                               "and per principal (with its hygiene findings)")

    @field_validator("raw")
    @classmethod
    def _known_sources(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SOURCES))
        if unknown:
            raise ValueError(f"unknown sources {unknown}; expected some of {list(SOURCES)}")
        return value


class KafkaConfig(_Section):
    bootstrap_servers: str = Field("localhost:9092", description="host:port[,host:port…]")
    client_id: str = "tokenhawk"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    ssl_cafile: Optional[str] = None
    ssl_certfile: Optional[str] = None
    ssl_keyfile: Optional[str] = None
    ssl_password: Optional[SecretStr] = None
    ssl_check_hostname: bool = True
    sasl_mechanism: Optional[SaslMechanism] = None
    sasl_plain_username: Optional[str] = None
    sasl_plain_password: Optional[SecretStr] = None
    sasl_kerberos_service_name: Optional[str] = None
    client_options: dict[str, Any] = Field(
        default_factory=dict, description="any other kafka-python setting common to all clients (e.g. request_timeout_ms)")
    consumer_options: dict[str, Any] = Field(default_factory=dict, description="kafka-python KafkaConsumer settings")
    producer_options: dict[str, Any] = Field(default_factory=dict, description="kafka-python KafkaProducer settings")

    topics: TopicsConfig = TopicsConfig()
    create_topics: bool = Field(True, description="create missing tokenhawk topics at start (raw topics too)")
    partitions: int = Field(6, ge=1, description="partitions of topics tokenhawk creates; the unit of scale-out")
    replication_factor: int = Field(1, ge=1)
    normalize_group: str = "tokenhawk-normalize"
    detect_group: str = "tokenhawk-detect"
    default_tenant: Optional[str] = Field(
        None, description="cluster/account name for records whose log carries none (a record header "
                          "'tenant' overrides it)")

    session_timeout_ms: int = Field(
        10_000, ge=1000, description="how soon the group notices a dead consumer and moves its partitions")
    max_poll_records: int = Field(10_000, ge=1, description="events per poll; the detector takes each poll as one batch")
    events_per_record: int = Field(
        1, ge=1, le=10_000,
        description="events per record on the events topic: 1 sends each event as its own record keyed by its "
                    "principal; more sends each partition's events as JSON arrays of up to this many (unkeyed, "
                    "same partitions, cut sooner to stay under 900 kB), which cuts the Kafka client's "
                    "per-record cost (about 14 µs per record fetched, in pure Python). The detect processor "
                    "reads either form")
    fetch_max_wait_ms: int = Field(100, ge=0, description="how long the broker may hold a fetch for data")
    compression_type: Compression = Field("none", description="events/alerts/dlq topics; lz4/zstd need their Python package")
    linger_ms: int = Field(5, ge=0)
    max_buffered_per_partition: int = Field(
        200_000, ge=1000, description="events held back while other partitions catch up in event time; "
                                      "a partition further ahead is paused")
    align_max_wait_s: float = Field(
        5.0, gt=0, description="a partition that delivers nothing this long stops holding back the others")

    snapshot_interval_s: float = Field(10.0, gt=0, description="snapshot state and commit at least this often")
    snapshot_every_events: int = Field(500_000, ge=1, description="…or after this many events")
    snapshot_in_background: bool = Field(
        False, description="build snapshots in a forked child (copy-on-write) while the loop goes on detecting; "
                           "offsets are committed once its records are acknowledged. Pays off with an idle core: "
                           "on a busy 2-core machine the child's CPU and copy-on-write faults cost the loop more")
    inventory_interval_s: float = Field(300.0, gt=0, description="emit the changed part of the token inventory to "
                                                                   "the inventory topic at most this often")
    state_max_bytes: int = Field(64 << 20, ge=1 << 20, description="largest snapshot record (state topic max.message.bytes)")

    metrics_port: Optional[int] = Field(9464, ge=0, le=65535, description="Prometheus /metrics port; null disables it")
    metrics_host: str = "0.0.0.0"

    def client_kwargs(self) -> dict[str, Any]:
        """Connection and security settings for any kafka-python client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()],
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }
        optional = {
            "ssl_cafile": self.ssl_cafile,
            "ssl_certfile": self.ssl_certfile,
            "ssl_keyfile": self.ssl_keyfile,
            "ssl_password": self.ssl_password.get_secret_value() if self.ssl_password else None,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.sasl_plain_username,
            "sasl_plain_password": self.sasl_plain_password.get_secret_value() if self.sasl_plain_password else None,
            "sasl_kerberos_service_name": self.sasl_kerberos_service_name,
        }
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        if self.security_protocol in ("SSL", "SASL_SSL"):
            kwargs["ssl_check_hostname"] = self.ssl_check_hostname
        kwargs.update(self.client_options)
        return kwargs

    def consumer_kwargs(self, group: str | None, **settings: Any) -> dict[str, Any]:
        """A KafkaConsumer's settings: connection, group, manual commits, our poll sizes."""
        kwargs = self.client_kwargs() | {
            "group_id": group, "enable_auto_commit": False, "auto_offset_reset": "earliest",
            "max_poll_records": self.max_poll_records, "fetch_max_wait_ms": self.fetch_max_wait_ms,
            # a poll may take max_poll_records from one partition (1 MiB, the default, is ~1,500 events)
            "max_partition_fetch_bytes": 8 << 20, "fetch_max_bytes": 64 << 20,
        }
        if group is not None:
            kwargs["session_timeout_ms"] = self.session_timeout_ms
            kwargs["heartbeat_interval_ms"] = max(100, self.session_timeout_ms // 4)
        return kwargs | settings | self.consumer_options

    def producer_kwargs(self, **settings: Any) -> dict[str, Any]:
        """A KafkaProducer's settings: every record acknowledged by all in-sync replicas."""
        kwargs = self.client_kwargs() | {
            "acks": "all", "linger_ms": self.linger_ms, "compression_type": self.producer_compression(),
        }
        return kwargs | settings | self.producer_options

    def producer_compression(self) -> str | None:
        return None if self.compression_type == "none" else self.compression_type
