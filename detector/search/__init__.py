"""Elasticsearch and Kibana: index design, ECS documents, bulk sinks with a spool, investigations.

- `config.ElasticsearchConfig` — the `elasticsearch` settings section.
- `templates` — component/index templates, ILM policies and the GeoIP pipeline, as data.
- `setup.setup` — installs them idempotently and degrades where the cluster lacks ILM or GeoIP.
- `docs` — TokenEvent and Alert → ECS documents (and back).
- `sink.AlertSink` / `sink.EventSink` — bulk indexing with retries; alerts idempotent by id and
  spooled on disk (`spool.AlertSpool`) while Elasticsearch is down.
- `queries` — token timeline, alerts of a principal, tokens seen from an IP (Elasticsearch or files).
- `kibana` — the saved objects (data views, SOC dashboard, drill-down search) and their import.
"""

from .client import EsUnavailable, SearchError, make_client
from .config import ElasticsearchConfig, EventsConfig, KibanaConfig
from .queries import EsInvestigator, FileInvestigator, TokenSighting
from .sink import AlertReport, AlertSink, EventReport, EventSink
from .spool import AlertSpool, SpoolFull

__all__ = [
    "AlertReport", "AlertSink", "AlertSpool", "ElasticsearchConfig", "EsInvestigator", "EsUnavailable",
    "EventReport", "EventSink", "EventsConfig", "FileInvestigator", "KibanaConfig", "SearchError", "SpoolFull",
    "TokenSighting", "make_client",
]
