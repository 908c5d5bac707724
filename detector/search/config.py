"""Settings of the Elasticsearch sink and the Kibana objects (the `elasticsearch` settings section).

Every name is also an environment variable: `elasticsearch.url` is `TOKENHAWK_ELASTICSEARCH__URL`
(one URL, a comma-separated list, or a JSON list), `elasticsearch.events.sample_rate` is
`TOKENHAWK_ELASTICSEARCH__EVENTS__SAMPLE_RATE`. Credentials are `SecretStr`: they print as
'**********' and never appear in a log line, an error or a document.

```yaml
elasticsearch:
  url: https://es.example.com:9200
  api_key: "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
  ca_certs: /etc/tokenhawk/es-ca.pem
  events:
    sample_rate: 0.25                              # keep a deterministic quarter of routine events
    exclude_actions: ["get:leases", "update:leases"]  # K8s leader-election noise
    max_per_token_per_minute: 600
  spool_dir: /var/lib/tokenhawk/es-spool
  kibana: {url: https://kibana.example.com:5601}
```
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

_DS_NAME = re.compile(r"^[a-z0-9][a-z0-9._+-]*-[a-z0-9._+-]+-[a-z0-9._+]+$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventsConfig(_Section):
    """What part of the event stream is indexed (alerts are never sampled)."""

    enabled: bool = Field(True, description="Index token events at all (alerts are indexed regardless).")
    sample_rate: float = Field(
        1.0, gt=0, le=1,
        description="Fraction of routine events indexed, chosen by a hash of the event id so re-runs keep the same ones.",
    )
    keep_failures: bool = Field(True, description="Failed requests (outcome=failure) bypass sampling and the per-token cap.")
    exclude_actions: list[str] = Field(
        default_factory=list, description="Glob patterns on the action (e.g. 'get:leases', 's3:Head*') never indexed."
    )
    max_per_token_per_minute: Optional[int] = Field(
        None, ge=1, description="Cap on events indexed per token per minute of event time; the rest are counted, not sent."
    )
    deterministic_ids: bool = Field(
        True, description="_id = hash(source, tenant, event_id): re-indexing a file does not duplicate (costs some speed)."
    )


class KibanaConfig(_Section):
    url: Optional[str] = Field(None, description="Kibana base URL, e.g. http://127.0.0.1:5601 (no trailing /app).")
    space: Optional[str] = Field(None, description="Kibana space id; the default space when unset.")
    api_key: Optional[SecretStr] = Field(None, description="Kibana API key; falls back to elasticsearch.api_key.")
    username: Optional[str] = Field(None, description="Falls back to elasticsearch.username.")
    password: Optional[SecretStr] = Field(None, description="Falls back to elasticsearch.password.")
    verify_certs: bool = True
    ca_certs: Optional[str] = None
    timeout_seconds: float = Field(60.0, gt=0)


class ElasticsearchConfig(_Section):
    # NoDecode: the env var may be a plain comma-separated list, not only JSON
    url: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:9200"],
        description="Node URL(s): one, a comma-separated list, or a JSON list.",
    )
    cloud_id: Optional[str] = Field(None, description="Elastic Cloud deployment id (instead of url).")
    api_key: Optional[SecretStr] = Field(None, description="Base64 'id:key' API key (preferred over username/password).")
    username: Optional[str] = None
    password: Optional[SecretStr] = None
    verify_certs: bool = True
    ca_certs: Optional[str] = Field(None, description="PEM bundle of the CA that signed the cluster's certificate.")
    request_timeout_seconds: float = Field(30.0, gt=0)

    alerts_data_stream: str = Field("logs-tokenhawk.alerts-default", description="type-dataset-namespace of the alerts stream.")
    events_data_stream: str = Field("logs-tokenhawk.events-default", description="type-dataset-namespace of the events stream.")
    template_priority: int = Field(
        200, ge=101, description="Above the built-in `logs` template (100) so tokenhawk's mappings win for its streams."
    )
    number_of_shards: int = Field(1, ge=1)
    auto_expand_replicas: str = Field("0-1", description="Replicas follow the cluster size: none on one node, one otherwise.")
    refresh_interval: str = Field("5s", description="Events stream refresh interval (alerts use 1s).")
    events_retention_days: int = Field(14, ge=1, description="ILM deletes event backing indices this long after rollover.")
    alerts_retention_days: int = Field(365, ge=1, description="ILM deletes alert backing indices this long after rollover.")
    events_rollover_max_age: str = "1d"
    alerts_rollover_max_age: str = "30d"
    rollover_max_primary_shard_size: str = "50gb"
    geoip: bool = Field(True, description="Install a GeoIP ingest pipeline for source.geo/source.as when the cluster has the processor.")

    events: EventsConfig = EventsConfig()

    bulk_max_docs: int = Field(2000, ge=1, description="Documents per _bulk request.")
    bulk_max_bytes: int = Field(5 << 20, ge=1024, description="Bytes per _bulk request.")
    max_retries: int = Field(6, ge=0, description="Retries of a failed _bulk (connection errors, 429, 5xx) before giving up.")
    backoff_initial_seconds: float = Field(0.5, gt=0)
    backoff_max_seconds: float = Field(30.0, gt=0)
    outage_wait_seconds: float = Field(
        10.0, ge=0,
        description="How long one alert delivery keeps retrying before leaving alerts in the spool for a later flush.",
    )

    spool_dir: str = Field("tokenhawk-es-spool", description="Alerts wait here (SQLite) while Elasticsearch is unreachable.")
    spool_max_alerts: int = Field(100_000, ge=1, description="Spool bound in distinct alerts; beyond it senders get SpoolFull.")
    spool_max_bytes: int = Field(512 << 20, ge=1 << 16, description="Spool bound in bytes of alert documents.")

    kibana: KibanaConfig = KibanaConfig()

    @field_validator("url", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip().rstrip("/") for part in text.split(",") if part.strip()]
        return value

    @field_validator("url")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"{url!r} is not an http(s) URL like http://127.0.0.1:9200")
        return [url.rstrip("/") for url in value]

    @field_validator("alerts_data_stream", "events_data_stream")
    @classmethod
    def _check_stream(cls, value: str) -> str:
        if not _DS_NAME.match(value) or not value.startswith("logs-"):
            raise ValueError(f"{value!r} is not a data stream name of the form logs-<dataset>-<namespace>")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> "ElasticsearchConfig":
        if self.password is not None and not self.username:
            raise ValueError("elasticsearch.password is set without elasticsearch.username")
        if self.alerts_data_stream == self.events_data_stream:
            raise ValueError("alerts_data_stream and events_data_stream must differ")
        return self

    # Index patterns and dataset names derived from the stream names.
    @property
    def alerts_pattern(self) -> str:
        return stream_pattern(self.alerts_data_stream)

    @property
    def events_pattern(self) -> str:
        return stream_pattern(self.events_data_stream)


def stream_parts(name: str) -> tuple[str, str, str]:
    """'logs-tokenhawk.alerts-default' → ('logs', 'tokenhawk.alerts', 'default')."""
    kind, rest = name.split("-", 1)
    dataset, namespace = rest.rsplit("-", 1)
    return kind, dataset, namespace


def stream_pattern(name: str) -> str:
    """The index pattern of every namespace of a stream: 'logs-tokenhawk.alerts-*'."""
    kind, dataset, _ = stream_parts(name)
    return f"{kind}-{dataset}-*"


