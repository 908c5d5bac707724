"""The Elasticsearch layer against the real node (scripts/elasticsearch, or TOKENHAWK_TEST_ES).

Each test gets its own namespace of the two data streams (`logs-tokenhawk.alerts-<ns>`), so runs
never see each other's documents; the templates are shared, as in production. The data come from
the detector itself: the hand-built world of tests/detect_world.py with two token-theft scenarios.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from detect_world import APP, APP_UA, DAY, HOUR, MIN, T0, World, k8s, run
from detector.alert import example_alert
from detector.event_files import EventWriter
from detector.events import to_table
from detector.normalize import Normalizer
from detector.normalize.reader import read_documents
from detector.search import AlertSink, ElasticsearchConfig, EsInvestigator, EventSink, FileInvestigator, make_client
from detector.search.setup import client_call, setup
from detector.search.templates import effective_mappings, leaf_fields
from golden import FIXTURES
from pipelines.cli import app
from service_fixtures.elasticsearch import es_url, start_es, stop_es  # noqa: F401

pytestmark = pytest.mark.es

ATTACK_IP = "185.220.101.47"
LATERAL_IP = "10.244.7.33"


@pytest.fixture(scope="module")
def es(es_url: str) -> Iterator[Elasticsearch]:  # noqa: F811
    client = Elasticsearch(es_url, request_timeout=60)
    yield client
    client.close()


@pytest.fixture
def cfg(es_url: str, es: Elasticsearch, tmp_path: Path) -> Iterator[ElasticsearchConfig]:  # noqa: F811
    ns = uuid.uuid4().hex[:10]
    config = ElasticsearchConfig(
        url=es_url, alerts_data_stream=f"logs-tokenhawk.alerts-{ns}", events_data_stream=f"logs-tokenhawk.events-{ns}",
        spool_dir=str(tmp_path / "spool"), backoff_initial_seconds=0.2, backoff_max_seconds=2.0,
        outage_wait_seconds=1.0, max_retries=8,
    )
    yield config
    for stream in (config.alerts_data_stream, config.events_data_stream):
        es.options(ignore_status=404).indices.delete_data_stream(name=stream)


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    """Two days of quiet traffic plus two incidents on the app's bound tokens: one from a Tor exit
    node, one from another pod. Returns the events table, the alerts, and the tokens involved."""
    w = World()
    ts = T0 + DAY + 10 * HOUR + 7 * MIN
    stolen = w.app_token_at(ts)
    attack = [k8s(ts + i * MIN, APP, stolen, "list:secrets", ip=ATTACK_IP, namespace=ns,
                  ua="kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819", pod=w.app_pod, pod_uid=w.app_uid)
              for i, ns in enumerate(["payments", "kube-system", "monitoring", "default"])]
    ts2 = T0 + DAY + 5 * HOUR + 3 * MIN
    lateral = w.app_token_at(ts2)
    attack.append(k8s(ts2, APP, lateral, "get:configmaps", ip=LATERAL_IP, ua=APP_UA, namespace="payments",
                      pod=w.app_pod, pod_uid=w.app_uid))
    events = sorted(w.events + attack, key=lambda e: e["ts"])
    _, alerts = run(events)
    assert len(alerts) == 2, [a["reasons"] for a in alerts]
    return {"table": to_table(events), "alerts": alerts, "stolen": stolen, "lateral": lateral}


def _alert(aid: str, revision: int = 1, **over: Any) -> dict[str, Any]:
    a = example_alert()
    a["alert"]["id"] = aid
    a["tokenhawk"]["revision"] = revision
    a.update(over)
    return a


def _all_docs(es: Elasticsearch, index: str) -> list[dict[str, Any]]:
    es.indices.refresh(index=index)
    return es.search(index=index, size=10_000, query={"match_all": {}})["hits"]["hits"]


# --- setup ----------------------------------------------------------------------------------------

def test_setup_is_idempotent_and_degrades_without_ilm(es: Elasticsearch, cfg: ElasticsearchConfig) -> None:
    call = client_call(es)
    first = setup(call, cfg)
    statuses = {(s.kind, s.name): s.status for s in first.steps}
    assert statuses[("data_stream", cfg.alerts_data_stream)] == "created"
    assert statuses[("data_stream", cfg.events_data_stream)] == "created"
    second = setup(call, cfg)
    assert [s.status for s in second.steps] == ["unchanged"] * len(second.steps)
    assert second.requests == []
    # the Maven-assembled node has no ILM: templates without lifecycle, and a clear warning
    info = es.info()
    if not first.ilm:
        assert "no ILM" in first.ilm_detail or "ILM" in first.ilm_detail
        assert any("without lifecycle policies" in w for w in first.warnings)
        assert not [path for _, path, _ in first.requests if "_ilm" in path]
        settings = es.cluster.get_component_template(name="tokenhawk.events@settings")
        index = settings["component_templates"][0]["component_template"]["template"]["settings"]["index"]
        assert "lifecycle" not in index
    else:  # a real cluster (TOKENHAWK_TEST_ES) with ILM: the policies exist
        assert es.ilm.get_lifecycle(name="tokenhawk.events-policy"), info
    streams = es.indices.get_data_stream(name=f"{cfg.alerts_data_stream},{cfg.events_data_stream}")["data_streams"]
    assert {s["template"] for s in streams} == {"tokenhawk.alerts", "tokenhawk.events"}


def test_mappings_are_what_the_templates_say(es: Elasticsearch, cfg: ElasticsearchConfig) -> None:
    setup(client_call(es), cfg)
    for stream in (cfg.alerts_data_stream, cfg.events_data_stream):
        mapping = es.indices.get_mapping(index=stream)
        (backing, body), = mapping.body.items()
        assert backing.startswith(f".ds-{stream}-")
        got = body["mappings"]
        want = effective_mappings(cfg, stream)
        assert got["dynamic"] == "false"
        got_fields, want_fields = leaf_fields(got), leaf_fields(want)
        assert got_fields == want_fields | {"@timestamp": "date"}
        assert got_fields["source.ip"] == "ip" and got_fields["user.name"] == "keyword"
        assert got_fields["user_agent.original.text"] == "text"
    settings = es.indices.get_settings(index=cfg.events_data_stream)
    (_, body), = settings.body.items()
    assert body["settings"]["index"]["refresh_interval"] == "5s"


# --- alerts ----------------------------------------------------------------------------------------

def test_alerts_round_trip_by_id(es: Elasticsearch, cfg: ElasticsearchConfig) -> None:
    setup(client_call(es), cfg)
    sink = AlertSink(make_client(cfg), cfg)
    aid = "round-trip-" + uuid.uuid4().hex[:8]
    assert sink.send([_alert(aid, 3, score=70.0, severity="high")]).created == 1
    report = sink.send([_alert(aid, 4, score=95.0, severity="critical")])
    assert (report.created, report.updated) == (0, 1)
    late = sink.send([_alert(aid, 3, score=10.0, severity="low")])  # an old revision redelivered
    assert late.stale == 1 and late.delivered == 0
    docs = _all_docs(es, cfg.alerts_data_stream)
    assert len(docs) == 1 and docs[0]["_id"] == aid
    assert docs[0]["_source"]["score"] == 95.0 and docs[0]["_source"]["tokenhawk"]["revision"] == 4
    # after a rollover the document lives in the old backing index: it is updated there, not copied
    es.indices.rollover(alias=cfg.alerts_data_stream)
    assert sink.send([_alert(aid, 5, score=99.0, severity="critical")]).updated == 1
    assert sink.send([_alert("after-rollover", 1)]).created == 1
    docs = {d["_id"]: d for d in _all_docs(es, cfg.alerts_data_stream)}
    assert set(docs) == {aid, "after-rollover"}
    assert docs[aid]["_source"]["tokenhawk"]["revision"] == 5
    assert docs[aid]["_index"] != docs["after-rollover"]["_index"]
    sink.close()


def test_outage_mid_run_loses_nothing(es: Elasticsearch, cfg: ElasticsearchConfig, world: dict[str, Any]) -> None:
    setup(client_call(es), cfg)
    sink = AlertSink(make_client(cfg), cfg)
    alerts = world["alerts"] + [_alert(f"bulk-{i:03d}", 1, score=40.0 + i % 50, severity="medium") for i in range(40)]
    first, rest = alerts[:20], alerts[20:]
    assert sink.send(first).created == 20
    stop_es()
    try:
        outage = sink.send(rest[:10])
        assert outage.pending == 10 and outage.delivered == 0 and outage.errors
        # more alerts and new revisions of delivered ones keep coming while the node is down
        sink.send(rest[10:])
        bumped = [_alert(f"bulk-{i:03d}", 2, score=90.0, severity="critical") for i in range(0, 40, 7)]
        sink.send(bumped)
        assert sink.spool.pending_count() == len(rest) + sum(1 for b in bumped if b["alert"]["id"] in
                                                              {a["alert"]["id"] for a in first})
    finally:
        start_es()
    report = sink.flush(wait_seconds=90, force=True)
    assert report.pending == 0, report.errors
    assert sink.spool.dead_count() == 0
    docs = {d["_id"]: d["_source"] for d in _all_docs(es, cfg.alerts_data_stream)}
    assert set(docs) == {a["alert"]["id"] for a in alerts}, "every alert is there exactly once"
    for b in bumped:
        assert docs[b["alert"]["id"]]["tokenhawk"]["revision"] == 2
        assert docs[b["alert"]["id"]]["severity"] == "critical"
    sink.close()


# --- events and investigation queries ----------------------------------------------------------------

def test_query_helpers_find_what_was_indexed(es: Elasticsearch, cfg: ElasticsearchConfig, world: dict[str, Any]) -> None:
    setup(client_call(es), cfg)
    client = make_client(cfg)
    table: pa.Table = world["table"]
    report = EventSink(client, cfg).send_table(table)
    assert report.indexed == table.num_rows and report.rejected == 0
    assert AlertSink(client, cfg).send(world["alerts"]).created == 2
    again = EventSink(client, cfg).send_table(table)
    assert again.duplicates == table.num_rows and again.indexed == 0, "re-indexing adds nothing"
    es.indices.refresh(index=f"{cfg.alerts_data_stream},{cfg.events_data_stream}")

    remote = EsInvestigator(client, cfg, all_namespaces=False)
    local = FileInvestigator(table, world["alerts"])
    stolen = world["stolen"]
    timeline = remote.token_timeline(stolen)
    assert timeline == local.token_timeline(stolen)
    assert [e["source_ip"] for e in timeline].count(ATTACK_IP) == 4
    assert timeline == sorted(timeline, key=lambda e: e["ts"])
    # a window of the timeline
    start, end = timeline[3]["ts"], timeline[10]["ts"]
    assert remote.token_timeline(stolen, start=start, end=end) == local.token_timeline(stolen, start=start, end=end)

    alerts = remote.alerts_for_principal(APP)
    assert [a["alert"]["id"] for a in alerts] == [a["alert"]["id"] for a in local.alerts_for_principal(APP)]
    assert alerts[0]["token"]["id"] == stolen and alerts[0]["severity"] == "critical"
    assert remote.alerts_for_principal(APP, min_severity="critical") == alerts[:1]
    assert remote.alerts_for_token(stolen) == local.alerts_for_token(stolen) == alerts[:1]

    seen = remote.tokens_from_ip(ATTACK_IP)
    assert [s.as_dict() for s in seen] == [s.as_dict() for s in local.tokens_from_ip(ATTACK_IP)]
    assert [(s.token_id, s.principal, s.events, s.alerts) for s in seen] == [(stolen, APP, 4, 1)]
    cluster = remote.tokens_from_ip("10.244.0.0/16", limit=500)
    assert {s.token_id for s in cluster} == {s.token_id for s in local.tokens_from_ip("10.244.0.0/16", limit=500)}
    assert world["lateral"] in {s.token_id for s in remote.tokens_from_ip(LATERAL_IP)}
    assert remote.tokens_from_ip("192.0.2.0/24") == []


def test_volume_knobs_apply_when_indexing(es: Elasticsearch, cfg: ElasticsearchConfig, world: dict[str, Any]) -> None:
    cfg = cfg.model_copy(update={"events": cfg.events.model_copy(update={
        "sample_rate": 0.5, "exclude_actions": ["list:certificates"]})})
    setup(client_call(es), cfg)
    report = EventSink(make_client(cfg), cfg).send_table(world["table"])
    es.indices.refresh(index=cfg.events_data_stream)
    count = es.count(index=cfg.events_data_stream)["count"]
    assert count == report.indexed == report.rows - sum(report.skipped.values())
    assert report.skipped["excluded"] > 0 and report.skipped["sampled_out"] > 0
    assert es.count(index=cfg.events_data_stream, query={"term": {"event.action": "list:certificates"}})["count"] == 0


# --- secrets -------------------------------------------------------------------------------------------

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
BAIT = ("FAKE-BEARER-0123456789abcdef", "FAKE-PASSWORD-hunter2-not-real")
BAIT_JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJhaXQifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YmFpdCJ9.YmFpdC1zaWduYXR1cmU"


def _bait_records() -> list[dict[str, Any]]:
    """Audit records with credentials where a careless pipeline would copy them: the user agent,
    an annotation, a failure message, the request and response bodies."""
    base = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/shop/secrets/db", "verb": "get",
        "user": {"username": "system:serviceaccount:shop:web", "groups": ["system:serviceaccounts"]},
        "sourceIPs": ["10.1.2.3"], "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db", "apiVersion": "v1"},
        "requestReceivedTimestamp": "2025-01-02T03:04:05.000006Z", "stageTimestamp": "2025-01-02T03:04:05.100000Z",
    }
    return [
        base | {"auditID": "bait-1", "userAgent": f"curl/8.5 Authorization: Bearer {BAIT[0]}",
                "responseStatus": {"code": 200}},
        base | {"auditID": "bait-2", "userAgent": f"python-requests/2.31 token={BAIT_JWT}",
                "responseStatus": {"code": 401, "message": f"invalid bearer token {BAIT_JWT}", "reason": "Unauthorized"},
                "annotations": {"note": f"password={BAIT[1]}"}},
        base | {"auditID": "bait-3", "userAgent": "kubectl/v1.30",
                "requestObject": {"password": BAIT[1], "token": BAIT_JWT},
                "responseObject": {"data": {"token": BAIT_JWT}}, "responseStatus": {"code": 200}},
    ]


def test_secrets_never_reach_elasticsearch(es: Elasticsearch, cfg: ElasticsearchConfig) -> None:
    normalizer = Normalizer()
    for path in sorted((FIXTURES / "k8s").glob("*.jsonl")):
        for doc in read_documents(str(path)):
            normalizer.feed(doc.data, doc.origin)
    for n, record in enumerate(_bait_records()):
        normalizer.feed(orjson.dumps(record), f"bait:{n}")
    events = normalizer.take()
    assert JWT.search(orjson.dumps(events).decode()) or any(b in orjson.dumps(events).decode() for b in BAIT), \
        "the bait must reach the events (user agents are kept verbatim) for this test to mean something"
    setup(client_call(es), cfg)
    report = EventSink(make_client(cfg), cfg).send_table(to_table(events))
    # fixtures from different files share some audit ids: one document per (source, tenant, event id)
    assert report.indexed + report.duplicates == len(events) and report.rejected == 0
    hits = _all_docs(es, cfg.events_data_stream)
    assert len(hits) == report.indexed
    stored = json.dumps([h["_source"] for h in hits])
    assert not JWT.search(stored), JWT.search(stored)
    for secret in BAIT:
        assert secret not in stored
    assert "[REDACTED]" in stored  # the bait user agents were scrubbed, not dropped
    for query in ("eyJ*", "*FAKE*", "*hunter2*"):
        found = es.search(index=cfg.events_data_stream, query={"query_string": {"query": query, "fields": ["*"]}})
        assert found["hits"]["total"]["value"] == 0, query
    # identifiers do survive
    assert any(h["_source"]["tokenhawk"]["token"]["id"] for h in hits)


# --- the command line ------------------------------------------------------------------------------------

def test_cli_index_then_investigate_matches_the_files(es: Elasticsearch, cfg: ElasticsearchConfig,
                                                      world: dict[str, Any], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    events_file, alerts_file = tmp_path / "events.parquet", tmp_path / "alerts.jsonl"
    with EventWriter(events_file) as writer:
        writer.write(world["table"])
    alerts_file.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in world["alerts"]))
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__ALERTS_DATA_STREAM", cfg.alerts_data_stream)
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__EVENTS_DATA_STREAM", cfg.events_data_stream)
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__SPOOL_DIR", cfg.spool_dir)
    url = cfg.url[0]
    runner = CliRunner()
    result = runner.invoke(app, ["es", "index", str(alerts_file), str(events_file), "--es-url", url, "-q",
                                 "--summary-json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["files"][str(alerts_file)]["created"] == 2
    assert summary["files"][str(events_file)]["indexed"] == world["table"].num_rows
    assert summary["alerts_pending"] == 0
    es.indices.refresh(index=f"{cfg.alerts_data_stream},{cfg.events_data_stream}")

    stolen = world["stolen"]
    from_es = runner.invoke(app, ["investigate", stolen, "--es-url", url, "--json"])
    from_files = runner.invoke(app, ["investigate", stolen, "--events", str(events_file), "--alerts",
                                     str(alerts_file), "--json"])
    assert from_es.exit_code == 0 and from_files.exit_code == 0, (from_es.output, from_files.output)
    story, expected = json.loads(from_es.stdout), json.loads(from_files.stdout)
    assert story["timeline"] == expected["timeline"] and story["alerts"] == expected["alerts"]
    assert story["principal"] == APP and story["summary"]["events"] == len(story["timeline"])
    assert ATTACK_IP in story["shared_ips"]
    # the table view runs too
    shown = runner.invoke(app, ["investigate", stolen, "--events", str(events_file), "--alerts", str(alerts_file)])
    assert shown.exit_code == 0 and ATTACK_IP in shown.output


def test_cli_spools_while_unreachable_and_flush_delivers(es: Elasticsearch, cfg: ElasticsearchConfig, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    setup(client_call(es), cfg)
    alerts_file = tmp_path / "alerts.jsonl"
    alerts_file.write_bytes(b"".join(orjson.dumps(_alert(f"cli-{i}", 1)) + b"\n" for i in range(5)))
    for name, value in (("ALERTS_DATA_STREAM", cfg.alerts_data_stream), ("EVENTS_DATA_STREAM", cfg.events_data_stream),
                        ("SPOOL_DIR", cfg.spool_dir), ("OUTAGE_WAIT_SECONDS", "0.5"), ("BACKOFF_INITIAL_SECONDS", "0.1")):
        monkeypatch.setenv(f"TOKENHAWK_ELASTICSEARCH__{name}", value)
    runner = CliRunner()
    nowhere = "http://127.0.0.1:1"  # nothing listens there: as good as an outage
    down = runner.invoke(app, ["es", "index", str(alerts_file), "--es-url", nowhere, "--no-setup", "-q"])
    assert down.exit_code == 0, down.output
    assert "5 alerts wait in the spool" in " ".join(down.output.split())
    still_down = runner.invoke(app, ["es", "flush", "--es-url", nowhere, "--wait", "0.5"])
    assert still_down.exit_code == 1 and "5 still pending" in " ".join(still_down.output.split())
    back = runner.invoke(app, ["es", "flush", "--es-url", cfg.url[0]])
    assert back.exit_code == 0, back.output
    out = " ".join(back.output.split())
    assert "5 created" in out and "0 still pending" in out
    assert len(_all_docs(es, cfg.alerts_data_stream)) == 5
    status = runner.invoke(app, ["es", "status", "--es-url", cfg.url[0]])
    assert status.exit_code == 0 and "0 pending" in " ".join(status.output.split())


# --- the dashboard's queries on real documents --------------------------------------------------------

def _lens_query(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The aggregation a Lens layer asks for (the subset of operations the saved objects use)."""
    layer = next(iter(obj["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].values()))
    columns = layer["columns"]
    metrics: dict[str, Any] = {}
    for cid in layer["columnOrder"]:
        col = columns[cid]
        op = col["operationType"]
        if op == "max":
            metrics[cid] = {"max": {"field": col["sourceField"]}}
        elif op == "unique_count":
            metrics[cid] = {"cardinality": {"field": col["sourceField"]}}
        elif op == "count" and col.get("filter"):
            metrics[cid] = {"filter": {"query_string": {"query": col["filter"]["query"]}}}
    aggs: dict[str, Any] = dict(metrics)
    buckets = [cid for cid in layer["columnOrder"] if columns[cid]["isBucketed"]]
    for cid in reversed(buckets):
        col = columns[cid]
        if col["operationType"] == "date_histogram":
            agg = {"date_histogram": {"field": col["sourceField"], "fixed_interval": "1h"}}
        else:
            agg = {"terms": {"field": col["sourceField"], "size": col["params"]["size"]}}
        aggs = {cid: {**agg, "aggs": aggs}}
    query = obj["attributes"]["state"]["query"]["query"]
    return {"query": {"query_string": {"query": query}} if query else {"match_all": {}}, "aggs": aggs}, buckets


def test_dashboard_panels_aggregate_the_indexed_documents(es: Elasticsearch, cfg: ElasticsearchConfig,
                                                          world: dict[str, Any]) -> None:
    from detector.search.kibana import ALERTS_VIEW, saved_objects

    setup(client_call(es), cfg)
    client = make_client(cfg)
    EventSink(client, cfg).send_table(world["table"])
    AlertSink(client, cfg).send(world["alerts"])
    es.indices.refresh(index=f"{cfg.alerts_data_stream},{cfg.events_data_stream}")
    for obj in saved_objects(cfg):
        if obj["type"] != "lens":
            continue
        index = cfg.alerts_data_stream if obj["references"][0]["id"] == ALERTS_VIEW else cfg.events_data_stream
        body, buckets = _lens_query(obj)
        resp = es.search(index=index, size=0, **body)
        if obj["attributes"]["state"]["query"]["query"]:
            continue  # the failures panel: the quiet world has no failed requests; the query itself ran
        if buckets:
            top = resp["aggregations"][buckets[0]]["buckets"]
            assert top, f"{obj['attributes']['title']}: no buckets"
        else:
            (name, value), = resp["aggregations"].items()
            assert (value.get("value") or value.get("doc_count")), f"{obj['attributes']['title']}: {value}"
    # what the analyst should see on the two incidents
    sev = es.search(index=cfg.alerts_data_stream, size=0, aggs={"s": {"terms": {"field": "severity"}}})
    assert {b["key"] for b in sev["aggregations"]["s"]["buckets"]} <= {"critical", "high", "medium", "low"}
    ips = es.search(index=cfg.alerts_data_stream, size=0, aggs={"ip": {"terms": {"field": "source.ip"}}})
    assert {b["key"] for b in ips["aggregations"]["ip"]["buckets"]} == {ATTACK_IP, LATERAL_IP}
