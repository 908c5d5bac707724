"""Elasticsearch layer without a cluster: ECS documents, volume knobs, settings, the exact requests
`es setup` sends to a full cluster (ILM and GeoIP), the spool's bounds and ordering, and the sink's
retry decisions against a scripted client."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from elasticsearch import ApiError, ConnectionError as EsConnectionError
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig

from detector.alert import Alert, example_alert
from detector.events import FIELDS, new_event
from detector.search import AlertSink, AlertSpool, ElasticsearchConfig, SpoolFull
from detector.search.docs import (
    EventSelector, alert_doc, alert_from_doc, event_doc, event_doc_id, event_from_doc,
)
from detector.search.setup import setup
from detector.search.templates import effective_mappings, leaf_fields, resources
from pipelines.settings import load_settings

T = 1_794_000_000_000_000  # µs, 2026-11-06T21:20Z


def k8s_event(**over: Any) -> dict[str, Any]:
    e = new_event()
    e.update(ts=T, event_id="a1", source="k8s", tenant="prod-eu-1", principal="system:serviceaccount:payments:api",
             principal_type="serviceaccount", token_id="jti-1", token_kind="bound", bound_pod="payments/api-1",
             bound_pod_uid="uid-1", bound_node="node-3", source_ip="185.220.101.47", user_agent="kubectl/v1.29.2",
             action="list:secrets", resource="stripe-keys", namespace="payments", outcome="success", status_code=200,
             read_only=True, origin="audit.log:17", stage="ResponseComplete")
    e.update(over)
    return e


# --- documents -------------------------------------------------------------------------------------

def test_event_document_uses_ecs_names_and_keeps_the_rest_under_tokenhawk() -> None:
    doc = event_doc(k8s_event(), {"type": "logs", "dataset": "tokenhawk.events", "namespace": "default"})
    assert doc["@timestamp"] == "2026-11-06T21:20:00.000000Z"
    assert doc["user"] == {"name": "system:serviceaccount:payments:api"}
    assert doc["source"] == {"ip": "185.220.101.47", "address": "185.220.101.47"}
    assert doc["user_agent"] == {"original": "kubectl/v1.29.2"}
    assert doc["event"] == {"kind": "event", "module": "tokenhawk", "dataset": "tokenhawk.events", "id": "a1",
                            "action": "list:secrets", "outcome": "success"}
    assert doc["orchestrator"] == {"type": "kubernetes", "cluster": {"name": "prod-eu-1"}, "namespace": "payments",
                                   "resource": {"type": "secrets", "name": "stripe-keys"}}
    assert "cloud" not in doc
    assert doc["http"] == {"response": {"status_code": 200}}
    assert doc["tokenhawk"]["token"] == {"id": "jti-1", "kind": "bound"}
    assert doc["tokenhawk"]["bound"] == {"pod": "payments/api-1", "pod_uid": "uid-1", "node": "node-3"}
    # every document field is mapped by the templates
    mapped = leaf_fields(effective_mappings(ElasticsearchConfig(), ElasticsearchConfig().events_data_stream))
    assert set(_paths(doc)) <= set(mapped), set(_paths(doc)) - set(mapped)


def test_cloud_event_document() -> None:
    e = k8s_event(source="aws", tenant="111122223333", region="eu-west-1", action="s3:GetObject", namespace=None,
                  bound_pod=None, bound_pod_uid=None, bound_node=None, source_ip=None, source_ip_raw="ec2.amazonaws.com",
                  outcome="failure", error_code="AccessDenied", lineage_kind="exchanged-from",
                  lineage_principal="arn:aws:iam::111122223333:role/x", lineage_token="ASIAX")
    doc = event_doc(e)
    assert doc["cloud"] == {"provider": "aws", "account": {"id": "111122223333"}, "region": "eu-west-1"}
    assert doc["source"] == {"address": "ec2.amazonaws.com"}
    assert doc["error"] == {"code": "AccessDenied"}
    assert doc["tokenhawk"]["lineage"] == {"kind": "exchanged-from", "principal": "arn:aws:iam::111122223333:role/x",
                                           "token": "ASIAX"}
    assert "orchestrator" not in doc


def test_event_document_round_trips() -> None:
    for e in (k8s_event(), k8s_event(source="gcp", tenant="proj", namespace=None, source_ip=None, source_ip_raw="x")):
        back = event_from_doc(event_doc(e))
        want = dict(e, ts="2026-11-06T21:20:00.000000Z")
        assert set(back) == set(FIELDS)
        assert back == want


def test_free_text_with_a_secret_is_scrubbed() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    doc = event_doc(k8s_event(user_agent=f"curl/8 Authorization: Bearer {jwt}", error_code=f"bad token {jwt}"))
    text = json.dumps(doc)
    assert jwt not in text and "eyJ" not in text
    assert doc["user_agent"]["original"].startswith("curl/8")


def test_event_ids_are_deterministic_per_source_tenant_and_event() -> None:
    a, b = k8s_event(), k8s_event(tenant="other")
    assert event_doc_id(a) == event_doc_id(dict(a)) != event_doc_id(b)


def test_alert_document_is_the_contract_plus_ecs_mirrors() -> None:
    alert = example_alert()
    doc = alert_doc(alert, {"type": "logs", "dataset": "tokenhawk.alerts", "namespace": "default"})
    assert doc["alert"] == alert["alert"] and doc["token"] == alert["token"] and doc["reasons"] == alert["reasons"]
    assert doc["event"]["start"] == alert["first_seen"] and doc["event"]["end"] == alert["last_seen"]
    assert doc["event"]["risk_score"] == 92.5 and doc["event"]["severity"] == 4
    assert doc["event"]["action"] == "list:secrets" and doc["event"]["kind"] == "alert"
    assert doc["threat"] == {"framework": "MITRE ATT&CK",
                             "technique": {"id": ["T1528", "T1550", "T1552"], "subtechnique": {"id": ["T1550.001", "T1552.007"]}}}
    assert doc["message"] == alert["reasons"][0]
    assert doc["tokenhawk"]["token"]["id"] == alert["token"]["id"] and doc["tokenhawk"]["revision"] == 3
    back = alert_from_doc(doc)
    Alert.model_validate(back)
    assert back == alert
    assert alert == example_alert(), "the input alert is not modified"
    mapped = leaf_fields(effective_mappings(ElasticsearchConfig(), ElasticsearchConfig().alerts_data_stream))
    assert set(_paths(doc)) <= set(mapped), set(_paths(doc)) - set(mapped)


def _paths(doc: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in doc.items():
        if isinstance(value, dict):
            out += _paths(value, f"{prefix}{key}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                out += _paths(item, f"{prefix}{key}.")
        elif value is not None:
            out.append(f"{prefix}{key}")
    return out


# --- volume knobs ------------------------------------------------------------------------------------

def _selector(**events: Any) -> EventSelector:
    return EventSelector(ElasticsearchConfig(events=events))


def test_sampling_is_deterministic_and_close_to_the_rate() -> None:
    events = [k8s_event(event_id=f"e{i}") for i in range(4000)]
    first = [e["event_id"] for e in events if _selector(sample_rate=0.25).keep(e)]
    second = [e["event_id"] for e in events if _selector(sample_rate=0.25).keep(e)]
    assert first == second
    assert 850 < len(first) < 1150


def test_failures_bypass_sampling_exclusion_and_cap() -> None:
    sel = _selector(sample_rate=0.01, exclude_actions=["list:*"], max_per_token_per_minute=1)
    failures = [k8s_event(event_id=f"f{i}", outcome="failure") for i in range(50)]
    assert all(sel.keep(e) for e in failures)


def test_exclusion_and_per_token_cap() -> None:
    sel = _selector(exclude_actions=["get:leases", "update:lease*"], max_per_token_per_minute=3)
    assert not sel.keep(k8s_event(action="update:leases"))
    kept = [sel.keep(k8s_event(event_id=f"e{i}", ts=T + i * 1_000_000)) for i in range(10)]  # one minute
    assert kept == [True] * 3 + [False] * 7
    assert sel.keep(k8s_event(event_id="other", token_id="jti-2"))  # another token has its own budget
    assert sel.keep(k8s_event(event_id="next", ts=T + 61_000_000))  # the next minute starts afresh
    assert sel.skipped == {"excluded": 1, "sampled_out": 0, "over_token_cap": 7}


# --- settings ------------------------------------------------------------------------------------------

def test_settings_from_env_with_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__URL", "https://es-1:9200, https://es-2:9200/")
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__API_KEY", "c2VjcmV0LWFwaS1rZXk=")
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__EVENTS__EXCLUDE_ACTIONS", '["get:leases"]')
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__KIBANA__URL", "http://kibana:5601")
    cfg = load_settings().elasticsearch
    assert cfg.url == ["https://es-1:9200", "https://es-2:9200"]
    assert cfg.events.exclude_actions == ["get:leases"]
    assert cfg.kibana.url == "http://kibana:5601"
    assert "c2VjcmV0" not in repr(cfg) and "c2VjcmV0" not in str(cfg.model_dump())


@pytest.mark.parametrize("bad", [
    {"alerts_data_stream": "tokenhawk-alerts"},
    {"url": "ftp://x"},
    {"events": {"sample_rate": 0}},
    {"password": "x"},
    {"unknown_knob": 1},
])
def test_bad_settings_are_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ElasticsearchConfig(**bad)


# --- es setup: exact requests against a (fake) full cluster ------------------------------------------

class FakeCluster:
    """Answers like Elasticsearch 8 with ILM and the geoip processor; stores what is PUT."""

    def __init__(self, ilm: bool = True, geoip: bool = True):
        self.ilm, self.geoip = ilm, geoip
        self.store: dict[str, Any] = {}
        self.streams: set[str] = set()
        self.calls: list[tuple[str, str, Any]] = []

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        self.calls.append((method, path, copy.deepcopy(body)))
        if path.startswith("/_nodes/ingest"):
            types = ["set", "rename", "geoip"] if self.geoip else ["set"]
            return 200, {"nodes": {"n1": {"ingest": {"processors": [{"type": t} for t in types]}}}}
        if path.startswith("/_ilm/") and not self.ilm:
            return 400, {"error": "no handler found"}
        if path.startswith("/_data_stream/"):
            name = path.rsplit("/", 1)[1]
            if method == "PUT":
                self.streams.add(name)
                return 200, {"acknowledged": True}
            if name in self.streams:
                dataset = name.split("-")[1]
                return 200, {"data_streams": [{"name": name, "template": dataset}]}
            return 404, {"error": {"type": "index_not_found_exception"}}
        if path.startswith("/_index_template/_simulate_index/"):
            return 200, {"template": {"mappings": {"properties": {"tokenhawk": {}}}}}
        if path.endswith("/_rollover"):
            return 200, {"new_index": "x-000002"}
        if method == "PUT":
            self.store[path] = body
            return 200, {"acknowledged": True}
        if method == "GET":
            if path not in self.store:
                return 404, {}
            body = self.store[path]
            name = path.rsplit("/", 1)[1]
            if path.startswith("/_component_template/"):
                return 200, {"component_templates": [{"name": name, "component_template": body}]}
            if path.startswith("/_index_template/"):
                return 200, {"index_templates": [{"name": name, "index_template": body}]}
            if path.startswith("/_ilm/policy/"):
                return 200, {name: {"version": 1, "policy": body["policy"]}}
            return 200, {name: body}
        raise AssertionError(f"unexpected request {method} {path}")

    def writes(self) -> dict[str, Any]:
        return {path: body for method, path, body in self.calls if method in ("PUT", "POST") and "_simulate" not in path}


def test_setup_on_a_full_cluster_sends_these_requests() -> None:
    cluster = FakeCluster()
    cfg = ElasticsearchConfig()
    report = setup(cluster, cfg)
    assert report.ilm and report.geoip and not report.warnings
    # capability probes: a named policy (200/404 = ILM runs) and the nodes' ingest processors
    assert [c[:2] for c in cluster.calls[:2]] == [("GET", "/_ilm/policy/tokenhawk.events-policy"),
                                                  ("GET", "/_nodes/ingest?filter_path=nodes.*.ingest.processors")]
    writes = cluster.writes()
    assert list(writes) == [
        "/_ingest/pipeline/tokenhawk-geoip",
        "/_ilm/policy/tokenhawk.events-policy",
        "/_ilm/policy/tokenhawk.alerts-policy",
        "/_component_template/tokenhawk@ecs",
        "/_component_template/tokenhawk.events@mappings",
        "/_component_template/tokenhawk.events@settings",
        "/_index_template/tokenhawk.events",
        "/_component_template/tokenhawk.alerts@mappings",
        "/_component_template/tokenhawk.alerts@settings",
        "/_index_template/tokenhawk.alerts",
        "/_data_stream/logs-tokenhawk.events-default",
        "/_data_stream/logs-tokenhawk.alerts-default",
    ]
    events_policy = writes["/_ilm/policy/tokenhawk.events-policy"]["policy"]
    assert events_policy["phases"]["hot"]["actions"]["rollover"] == {"max_age": "1d", "max_primary_shard_size": "50gb"}
    assert events_policy["phases"]["delete"] == {"min_age": "14d", "actions": {"delete": {}}}
    assert "warm" not in events_policy["phases"]
    alerts_policy = writes["/_ilm/policy/tokenhawk.alerts-policy"]["policy"]
    assert alerts_policy["phases"]["hot"]["actions"]["rollover"]["max_age"] == "30d"
    assert alerts_policy["phases"]["delete"]["min_age"] == "365d"
    assert alerts_policy["phases"]["warm"]["actions"]["forcemerge"] == {"max_num_segments": 1}
    assert alerts_policy["_meta"]["managed_by"] == "tokenhawk"
    events_settings = writes["/_component_template/tokenhawk.events@settings"]["template"]["settings"]["index"]
    assert events_settings["lifecycle"] == {"name": "tokenhawk.events-policy"}
    assert events_settings["default_pipeline"] == "tokenhawk-geoip"
    assert events_settings["auto_expand_replicas"] == "0-1" and events_settings["refresh_interval"] == "5s"
    alerts_settings = writes["/_component_template/tokenhawk.alerts@settings"]["template"]["settings"]["index"]
    assert alerts_settings["lifecycle"] == {"name": "tokenhawk.alerts-policy"} and alerts_settings["refresh_interval"] == "1s"
    template = writes["/_index_template/tokenhawk.alerts"]
    assert template["index_patterns"] == ["logs-tokenhawk.alerts-*"]
    assert template["data_stream"] == {} and template["priority"] == 200
    assert template["composed_of"] == ["tokenhawk@ecs", "tokenhawk.alerts@mappings", "tokenhawk.alerts@settings",
                                       "tokenhawk.alerts@custom"]
    assert template["ignore_missing_component_templates"] == ["tokenhawk.alerts@custom"]
    pipeline = writes["/_ingest/pipeline/tokenhawk-geoip"]
    assert pipeline["processors"][0] == {"geoip": {"field": "source.ip", "target_field": "source.geo", "ignore_missing": True}}
    assert all(json.dumps(body) for body in writes.values() if body is not None)


def test_setup_is_idempotent_and_follows_setting_changes() -> None:
    cluster = FakeCluster()
    setup(cluster, ElasticsearchConfig())
    cluster.calls.clear()
    again = setup(cluster, ElasticsearchConfig())
    assert not again.changed and not cluster.writes()
    changed = setup(cluster, ElasticsearchConfig(events_retention_days=30))
    assert [(s.kind, s.name, s.status) for s in changed.changed] == [
        ("ilm_policy", "tokenhawk.events-policy", "updated"),
        ("data_stream", "logs-tokenhawk.events-default", "rolled-over"),
    ]


def test_setup_without_ilm_or_geoip_degrades_with_clear_warnings() -> None:
    cluster = FakeCluster(ilm=False, geoip=False)
    report = setup(cluster, ElasticsearchConfig())
    assert not report.ilm and "no ILM" in report.ilm_detail
    assert any("retention" not in w and "geoip" in w for w in report.warnings)
    assert any("without lifecycle policies" in w for w in report.warnings)
    writes = cluster.writes()
    assert not [p for p in writes if "_ilm" in p or "_ingest" in p]
    for name in ("events", "alerts"):
        index = writes[f"/_component_template/tokenhawk.{name}@settings"]["template"]["settings"]["index"]
        assert "lifecycle" not in index and "default_pipeline" not in index
    # the cluster gains ILM later: the next setup adds the policies and rolls both streams over
    cluster.ilm = True
    later = setup(cluster, ElasticsearchConfig())
    kinds = {(s.kind, s.status) for s in later.changed}
    assert ("ilm_policy", "created") in kinds and ("data_stream", "rolled-over") in kinds


def test_dry_run_writes_nothing() -> None:
    cluster = FakeCluster()
    report = setup(cluster, ElasticsearchConfig(), dry_run=True)
    assert not cluster.writes()
    assert {s.status for s in report.steps} == {"would-create"}
    assert len(report.requests) == 12


def test_resources_are_json_and_named_after_the_streams() -> None:
    cfg = ElasticsearchConfig(alerts_data_stream="logs-th.alerts-prod", events_data_stream="logs-th.events-prod")
    names = [r.name for r in resources(cfg, ilm=True, geoip=False)]
    assert "th.alerts" in names and "th.events@settings" in names and "th.alerts-policy" in names


# --- spool ---------------------------------------------------------------------------------------------

def _alert(aid: str, revision: int = 1, score: float = 50.0) -> dict[str, Any]:
    a = example_alert()
    a["alert"]["id"] = aid
    a["tokenhawk"]["revision"] = revision
    a["score"] = score
    return a


def test_spool_keeps_the_newest_revision_per_alert(tmp_path) -> None:
    with AlertSpool(tmp_path) as spool:
        spool.put([("a", 2, _alert("a", 2)), ("b", 1, _alert("b"))])
        spool.put([("a", 1, _alert("a", 1))])  # late, older: ignored
        spool.put([("b", 3, _alert("b", 3))])
        batch = spool.batch(10)
        assert [(i.id, i.revision) for i in batch] == [("a", 2), ("b", 3)]
        spool.put([("a", 5, _alert("a", 5))])  # queued while batch was in flight
        assert spool.done(batch) == 1  # b removed; a stays: its newer revision is not delivered yet
        assert [(i.id, i.revision) for i in spool.batch(10)] == [("a", 5)]


def test_spool_is_bounded_and_refuses_whole_batches(tmp_path) -> None:
    with AlertSpool(tmp_path, max_alerts=3) as spool:
        spool.put([(f"a{i}", 1, _alert(f"a{i}")) for i in range(3)])
        spool.put([("a0", 2, _alert("a0", 2))])  # an update of a spooled alert always fits
        with pytest.raises(SpoolFull, match="not accepted"):
            spool.put([("a0", 3, _alert("a0", 3)), ("new", 1, _alert("new"))])
        assert spool.pending_count() == 3
        assert [i.revision for i in spool.batch(10) if i.id == "a0"] == [2], "nothing of a refused batch is stored"


def test_spool_survives_reopening(tmp_path) -> None:
    with AlertSpool(tmp_path) as spool:
        spool.put([("a", 1, _alert("a"))])
    with AlertSpool(tmp_path) as spool:
        assert [i.id for i in spool.batch(10)] == ["a"]


# --- alert sink decisions against a scripted client ------------------------------------------------------

def _meta(status: int) -> ApiResponseMeta:
    return ApiResponseMeta(status=status, http_version="1.1", headers=HttpHeaders(), duration=0.0,
                           node=NodeConfig("http", "localhost", 9200))


class ScriptedClient:
    """Enough of the Elasticsearch client for AlertSink; bulk answers come from a script."""

    def __init__(self, bulk_answers: list[Any]):
        self.bulk_answers = bulk_answers
        self.bulk_bodies: list[list[dict]] = []
        self.indices = self

    def options(self, **_: Any) -> "ScriptedClient":
        return self

    def get_data_stream(self, name: str) -> dict:
        return {"data_streams": []}

    def mget(self, docs: list) -> dict:
        return {"docs": []}

    def bulk(self, operations: bytes, **_: Any) -> dict:
        self.bulk_bodies.append([json.loads(line) for line in operations.splitlines()])
        answer = self.bulk_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return {"items": [{"create": {"status": s, "result": "created" if s == 201 else None,
                                      "error": None if s < 300 else {"type": "x", "reason": f"status {s}"}}}
                          for s in answer]}


def _sink(tmp_path, client: Any, **over: Any) -> AlertSink:
    cfg = ElasticsearchConfig(spool_dir=str(tmp_path), backoff_initial_seconds=0.01, outage_wait_seconds=1.0, **over)
    return AlertSink(client, cfg, sleep=lambda s: None)


def test_sink_retries_429_items_and_dead_letters_mapping_errors(tmp_path) -> None:
    client = ScriptedClient([[201, 429, 400], [201]])
    sink = _sink(tmp_path, client)
    report = sink.send([_alert("a"), _alert("b"), _alert("c")])
    assert (report.created, report.dead, report.pending, report.attempts_failed) == (2, 1, 0, 1)
    assert [op["create"]["_id"] for op in client.bulk_bodies[1][::2]] == ["b"]
    assert sink.spool.dead_count() == 1 and "status 400" in sink.spool.dead_items()[0][2]


def test_sink_keeps_alerts_spooled_while_the_cluster_is_down(tmp_path) -> None:
    down = EsConnectionError("connection refused")
    client = ScriptedClient([down] * 50)
    clock = [0.0]
    cfg = ElasticsearchConfig(spool_dir=str(tmp_path), backoff_initial_seconds=0.5, outage_wait_seconds=2.0)
    sink = AlertSink(client, cfg, sleep=lambda s: clock.__setitem__(0, clock[0] + s), clock=lambda: clock[0])
    report = sink.send([_alert("a")])
    assert report.pending == 1 and report.created == 0 and "unavailable" in report.errors[0]
    tries = len(client.bulk_bodies)
    sink.send([_alert("b")])  # within the backoff: spooled, not sent
    assert len(client.bulk_bodies) == tries and sink.spool.pending_count() == 2
    client.bulk_answers = [[201, 201]]
    clock[0] += 60
    report = sink.flush()
    assert report.created == 2 and report.pending == 0


def test_sink_rejects_invalid_alerts_before_the_spool(tmp_path) -> None:
    sink = _sink(tmp_path, ScriptedClient([[201]]))
    bad = _alert("bad")
    bad["severity"] = "apocalyptic"
    report = sink.send([bad, _alert("good")])
    assert report.invalid == 1 and report.created == 1 and "severity" in report.errors[0]


def test_api_error_status_is_retryable(tmp_path) -> None:
    client = ScriptedClient([ApiError("unavailable", _meta(503), {"error": "x"}), [201]])
    report = _sink(tmp_path, client).send([_alert("a")])
    assert report.created == 1 and report.attempts_failed == 1


def test_docker_compose_wires_elasticsearch_and_kibana_to_tokenhawk() -> None:
    import yaml
    from pathlib import Path

    compose = yaml.safe_load((Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text())
    services = compose["services"]
    es, kibana, job = services["elasticsearch"], services["kibana"], services["tokenhawk-es-setup"]
    assert es["image"].startswith("docker.elastic.co/elasticsearch/elasticsearch:")
    assert kibana["image"].split(":")[-1] == es["image"].split(":")[-1], "Kibana and Elasticsearch versions match"
    assert es["environment"]["discovery.type"] == "single-node"
    assert "http://elasticsearch:9200" in kibana["environment"]["ELASTICSEARCH_HOSTS"]
    assert kibana["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    env = job["environment"]
    assert env["TOKENHAWK_ELASTICSEARCH__URL"] == "http://elasticsearch:9200"
    assert env["TOKENHAWK_ELASTICSEARCH__KIBANA__URL"] == "http://kibana:5601"
    assert "tokenhawk es setup" in job["command"][-1] and "tokenhawk kibana import" in job["command"][-1]
    ElasticsearchConfig(url=env["TOKENHAWK_ELASTICSEARCH__URL"], kibana={"url": env["TOKENHAWK_ELASTICSEARCH__KIBANA__URL"]})
