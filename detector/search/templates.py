"""Index design as data: component and index templates, ILM policies, the GeoIP pipeline.

Two data streams (names from the config): `logs-tokenhawk.events-default` and
`logs-tokenhawk.alerts-default`. Their index templates are composed of

- `tokenhawk@ecs` — the ECS fields both streams share (`@timestamp`, `user.name`, `source.ip`,
  `user_agent.original`, `event.*`, `cloud.*`, `orchestrator.*`, `data_stream.*`) and the
  `tokenhawk.*` fields they share (token id and kind, tenant, source), so a data view over
  `logs-tokenhawk.*` has no type conflicts;
- `<dataset>@mappings` — the fields of that stream only;
- `<dataset>@settings` — shards, replicas, refresh, and (only when the cluster has ILM) the
  lifecycle policy; the GeoIP pipeline as default pipeline when the cluster has the processor;
- `<dataset>@custom` — left to the user: listed as optional, never written by tokenhawk.

Only field types every Elasticsearch distribution has are used (no match_only_text, wildcard or
constant_keyword): `tokenhawk es setup` must work on minimal clusters and the Maven-assembled test
node alike. The root is `dynamic: false`: an unexpected field stays in `_source` but never creates
a mapping or rejects a document; `tokenhawk.*` maps new strings as keyword.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .config import ElasticsearchConfig, stream_parts

MANAGED_BY = "tokenhawk"
# Bumped when the templates change shape; `es setup` compares a hash of every body anyway.
TEMPLATE_VERSION = 1
ECS_VERSION = "8.11.0"

GEOIP_PIPELINE = "tokenhawk-geoip"

KEYWORD = {"type": "keyword", "ignore_above": 1024}
TEXT_AND_KEYWORD = {"type": "keyword", "ignore_above": 1024, "fields": {"text": {"type": "text"}}}
DATE = {"type": "date"}
LONG = {"type": "long"}
FLOAT = {"type": "float"}
BOOL = {"type": "boolean"}
IP = {"type": "ip", "ignore_malformed": True}
TEXT = {"type": "text"}


def _obj(**props: Any) -> dict[str, Any]:
    return {"properties": props}


# --- shared ECS fields ---------------------------------------------------------------------------

def ecs_mappings() -> dict[str, Any]:
    """ECS fields both streams use. `source.geo`/`source.as` are filled only by a GeoIP pipeline."""
    return {
        "dynamic": False,
        "date_detection": False,
        "properties": {
            "@timestamp": DATE,
            "message": TEXT,
            "tags": KEYWORD,
            "ecs": _obj(version=KEYWORD),
            "data_stream": _obj(type=KEYWORD, dataset=KEYWORD, namespace=KEYWORD),
            "event": _obj(
                id=KEYWORD, kind=KEYWORD, category=KEYWORD, type=KEYWORD, action=KEYWORD, outcome=KEYWORD,
                module=KEYWORD, dataset=KEYWORD, provider=KEYWORD, reason=TEXT,
                start=DATE, end=DATE, severity=LONG, risk_score=FLOAT, ingested=DATE,
            ),
            "user": _obj(name=TEXT_AND_KEYWORD, effective=_obj(name=TEXT_AND_KEYWORD)),
            "source": _obj(
                ip=IP,
                address=KEYWORD,
                geo=_obj(
                    location={"type": "geo_point"}, country_iso_code=KEYWORD, country_name=KEYWORD,
                    region_name=KEYWORD, city_name=KEYWORD, continent_name=KEYWORD,
                ),
                **{"as": _obj(number=LONG, organization=_obj(name=TEXT_AND_KEYWORD))},
            ),
            "user_agent": _obj(original=TEXT_AND_KEYWORD),
            "http": _obj(response=_obj(status_code=LONG)),
            "error": _obj(code=KEYWORD),
            "cloud": _obj(provider=KEYWORD, region=KEYWORD, account=_obj(id=KEYWORD)),
            "orchestrator": _obj(
                type=KEYWORD, namespace=KEYWORD, cluster=_obj(name=KEYWORD),
                resource=_obj(type=KEYWORD, name=KEYWORD),
            ),
            "tokenhawk": {
                "dynamic": True,
                "properties": {
                    "source": KEYWORD,
                    "tenant": KEYWORD,
                    "principal_type": KEYWORD,
                    "token": _obj(id=KEYWORD, kind=KEYWORD),
                },
            },
        },
        "dynamic_templates": [
            {
                "tokenhawk_strings_as_keyword": {
                    "path_match": "tokenhawk.*",
                    "match_mapping_type": "string",
                    "mapping": KEYWORD,
                }
            }
        ],
    }


def events_mappings() -> dict[str, Any]:
    """Fields only token events have (see `docs.event_doc`)."""
    return {
        "properties": {
            "tokenhawk": _obj(
                bound=_obj(pod=KEYWORD, pod_uid=KEYWORD, node=KEYWORD),
                resource=KEYWORD,
                read_only=BOOL,
                lineage=_obj(kind=KEYWORD, principal=KEYWORD, token=KEYWORD),
                origin=KEYWORD,
                stage=KEYWORD,
            )
        }
    }


def alerts_mappings() -> dict[str, Any]:
    """The Alert contract's own fields (detector/alert.py), plus the ECS mirrors `docs.alert_doc` adds."""
    return {
        "properties": {
            "alert": _obj(id=KEYWORD, status=KEYWORD),
            "first_seen": DATE,
            "last_seen": DATE,
            "token": _obj(id=KEYWORD, principal=KEYWORD, source=KEYWORD, kind=KEYWORD),
            "score": FLOAT,
            "severity": KEYWORD,
            "reasons": TEXT,
            "technique": KEYWORD,
            "events": LONG,
            "event_ids": KEYWORD,
            "threat": _obj(
                framework=KEYWORD,
                technique=_obj(id=KEYWORD, subtechnique=_obj(id=KEYWORD)),
            ),
            "tokenhawk": _obj(
                revision=LONG,
                signals={
                    "properties": {
                        "kind": KEYWORD, "points": FLOAT, "technique": KEYWORD, "reason": TEXT,
                        "ts": DATE, "event_id": KEYWORD,
                    }
                },
                source_ips=IP,
                actions=KEYWORD,
                # the detector's lineage of the token: who issued it, through what, from where
                lineage=_obj(issued_by=KEYWORD, issuer_token=KEYWORD, via=KEYWORD,
                             issued_at={"type": "date", "ignore_malformed": True}, issuer_ip=IP),
            ),
        }
    }


# --- settings, policies, pipelines ---------------------------------------------------------------

def policy_name(config: ElasticsearchConfig, stream: str) -> str:
    return f"{stream_parts(stream)[1]}-policy"  # e.g. tokenhawk.events-policy


def ilm_policy(max_age: str, max_shard_size: str, retention_days: int, *, warm_after_days: int | None) -> dict[str, Any]:
    phases: dict[str, Any] = {
        "hot": {
            "min_age": "0ms",
            "actions": {
                "rollover": {"max_age": max_age, "max_primary_shard_size": max_shard_size},
                "set_priority": {"priority": 100},
            },
        },
        "delete": {"min_age": f"{retention_days}d", "actions": {"delete": {}}},
    }
    if warm_after_days is not None and warm_after_days < retention_days:
        phases["warm"] = {
            "min_age": f"{warm_after_days}d",
            "actions": {"forcemerge": {"max_num_segments": 1}, "set_priority": {"priority": 50}},
        }
    return {"phases": phases, "_meta": {"managed_by": MANAGED_BY}}


def events_policy(config: ElasticsearchConfig) -> dict[str, Any]:
    """Events are bulky and short-lived: roll over daily, delete after `events_retention_days`."""
    return ilm_policy(config.events_rollover_max_age, config.rollover_max_primary_shard_size,
                      config.events_retention_days, warm_after_days=None)


def alerts_policy(config: ElasticsearchConfig) -> dict[str, Any]:
    """Alerts are few and evidence: roll over monthly, merge after 30 days, keep `alerts_retention_days`."""
    return ilm_policy(config.alerts_rollover_max_age, config.rollover_max_primary_shard_size,
                      config.alerts_retention_days, warm_after_days=30)


def geoip_pipeline() -> dict[str, Any]:
    """ECS `source.geo.*` and `source.as.*` from `source.ip` (GeoLite2 databases the cluster downloads)."""
    return {
        "description": "tokenhawk: GeoIP and ASN of source.ip (ECS source.geo.*, source.as.*)",
        "processors": [
            {"geoip": {"field": "source.ip", "target_field": "source.geo", "ignore_missing": True}},
            {
                "geoip": {
                    "database_file": "GeoLite2-ASN.mmdb", "field": "source.ip", "target_field": "source.as",
                    "properties": ["asn", "organization_name"], "ignore_missing": True,
                }
            },
            {"rename": {"field": "source.as.asn", "target_field": "source.as.number", "ignore_missing": True}},
            {
                "rename": {
                    "field": "source.as.organization_name", "target_field": "source.as.organization.name",
                    "ignore_missing": True,
                }
            },
        ],
        "_meta": {"managed_by": MANAGED_BY},
    }


def stream_settings(config: ElasticsearchConfig, *, refresh: str, policy: str | None, pipeline: str | None) -> dict[str, Any]:
    index: dict[str, Any] = {
        "number_of_shards": config.number_of_shards,
        "auto_expand_replicas": config.auto_expand_replicas,
        "refresh_interval": refresh,
        "mapping": {"total_fields": {"limit": 2000}},
    }
    if policy:
        index["lifecycle"] = {"name": policy}
    if pipeline:
        index["default_pipeline"] = pipeline
    return {"index": index}


# --- the whole installation, as a list of named objects -----------------------------------------

class Resource:
    """One object `es setup` installs: its kind, name, API path and body."""

    def __init__(self, kind: str, name: str, body: dict[str, Any]):
        self.kind, self.name, self.body = kind, name, body

    @property
    def path(self) -> str:
        return {
            "component_template": f"/_component_template/{self.name}",
            "index_template": f"/_index_template/{self.name}",
            "ilm_policy": f"/_ilm/policy/{self.name}",
            "ingest_pipeline": f"/_ingest/pipeline/{self.name}",
        }[self.kind]

    @property
    def fingerprint(self) -> str:
        return body_hash(self.body)

    def __repr__(self) -> str:
        return f"Resource({self.kind}, {self.name})"


def body_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def _with_meta(body: dict[str, Any], meta_key: str = "_meta") -> dict[str, Any]:
    """Stamp the body with who manages it and the hash of its content (checked on the next setup)."""
    body = copy.deepcopy(body)
    fingerprint = body_hash(body)
    body.setdefault(meta_key, {}).update({"managed_by": MANAGED_BY, "tokenhawk_version": TEMPLATE_VERSION,
                                          "fingerprint": fingerprint})
    return body


def resources(config: ElasticsearchConfig, *, ilm: bool, geoip: bool) -> list[Resource]:
    """Everything `es setup` installs, in dependency order. `ilm`/`geoip`: what the cluster supports."""
    out: list[Resource] = []
    pipeline = GEOIP_PIPELINE if (geoip and config.geoip) else None
    if pipeline:
        out.append(Resource("ingest_pipeline", pipeline, _with_meta(geoip_pipeline())))
    streams = [
        (config.events_data_stream, events_mappings(), config.refresh_interval, events_policy(config)),
        (config.alerts_data_stream, alerts_mappings(), "1s", alerts_policy(config)),
    ]
    if ilm:
        for stream, _, _, policy in streams:
            out.append(Resource("ilm_policy", policy_name(config, stream), {"policy": _with_meta(policy)}))
    out.append(Resource("component_template", "tokenhawk@ecs", _with_meta({
        "template": {"mappings": ecs_mappings()},
        "version": TEMPLATE_VERSION,
        "_meta": {"description": "ECS fields shared by tokenhawk's data streams", "ecs_version": ECS_VERSION},
    })))
    for stream, mappings, refresh, _ in streams:
        _, dataset, _ = stream_parts(stream)
        policy = policy_name(config, stream) if ilm else None
        out.append(Resource("component_template", f"{dataset}@mappings", _with_meta({
            "template": {"mappings": mappings}, "version": TEMPLATE_VERSION,
        })))
        out.append(Resource("component_template", f"{dataset}@settings", _with_meta({
            "template": {"settings": stream_settings(config, refresh=refresh, policy=policy, pipeline=pipeline)},
            "version": TEMPLATE_VERSION,
        })))
        out.append(Resource("index_template", dataset, _with_meta({
            "index_patterns": [f"{stream_parts(stream)[0]}-{dataset}-*"],
            "data_stream": {},
            "priority": config.template_priority,
            "composed_of": ["tokenhawk@ecs", f"{dataset}@mappings", f"{dataset}@settings", f"{dataset}@custom"],
            "ignore_missing_component_templates": [f"{dataset}@custom"],
            "version": TEMPLATE_VERSION,
            "_meta": {"description": f"tokenhawk {dataset} data stream"},
        })))
    return out


def effective_mappings(config: ElasticsearchConfig, stream: str) -> dict[str, Any]:
    """The mappings a new backing index of `stream` gets: shared ECS fields merged with the stream's."""
    merged = ecs_mappings()
    own = alerts_mappings() if stream == config.alerts_data_stream else events_mappings()
    _merge(merged["properties"], own["properties"])
    return merged


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for name, spec in extra.items():
        if name in into and "properties" in into[name] and "properties" in spec:
            _merge(into[name]["properties"], spec["properties"])
        else:
            into[name] = spec


def leaf_fields(mappings: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{'user.name': 'keyword', 'user.name.text': 'text', ...}: every mapped field and its type."""
    out: dict[str, str] = {}
    for name, spec in mappings.get("properties", {}).items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            out.update(leaf_fields(spec, path + "."))
        else:
            out[path] = spec.get("type", "object")
            for sub, sub_spec in spec.get("fields", {}).items():
                out[f"{path}.{sub}"] = sub_spec["type"]
    return out
