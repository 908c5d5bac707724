"""The Elasticsearch node of the test session, driven with the official `elasticsearch` client.

These tests prove what tokenhawk's hot path relies on (index, bulk with ids, search and
aggregations, composable templates, data streams) against a real node: by default the local
node of scripts/elasticsearch, or whatever ``TOKENHAWK_TEST_ES`` names.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator

import pytest
from elasticsearch import ApiError, BadRequestError, ConflictError, Elasticsearch, NotFoundError
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch.helpers import bulk

from service_fixtures.elasticsearch import es_url, fresh_index, start_es, stop_es  # noqa: F401

pytestmark = pytest.mark.es

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
USERS = ["alice", "bob", "carol", "dave", "erin"]
ACTIONS = ["token.use", "token.refresh", "token.revoke"]


@pytest.fixture(scope="module")
def es(es_url: str) -> Iterator[Elasticsearch]:  # noqa: F811 - pytest fixture injection
    client = Elasticsearch(es_url, request_timeout=60)
    yield client
    client.close()


def _docs(n: int = 500) -> list[dict]:
    rng = random.Random(1234)
    docs = []
    for i in range(n):
        docs.append(
            {
                "event_id": f"evt-{i:05d}",
                "@timestamp": (T0 + dt.timedelta(minutes=7 * i)).isoformat(),
                "user": USERS[i % len(USERS)],
                "action": ACTIONS[i % len(ACTIONS)],
                "bytes": rng.randint(1, 10_000),
                "source_ip": f"10.0.{i % 4}.{i % 250 + 1}",
                "message": f"token {i} used by {USERS[i % len(USERS)]}",
            }
        )
    return docs


def test_info_and_ping(es: Elasticsearch) -> None:
    assert es.ping() is True
    info = es.info()
    assert info["tagline"] == "You Know, for Search"
    assert info["version"]["number"].split(".")[0] == "8"
    assert info["cluster_uuid"] and info["cluster_uuid"] != "_na_"
    health = es.cluster.health(wait_for_status="yellow", timeout="30s")
    assert health["status"] in ("green", "yellow")
    assert health["number_of_nodes"] >= 1


def test_bulk_500_with_ids_then_count_search_aggregate(es: Elasticsearch) -> None:
    index = fresh_index("th-events")
    es.indices.create(
        index=index,
        settings={"number_of_shards": 1, "number_of_replicas": 0},
        mappings={
            "dynamic": "strict",
            "properties": {
                "event_id": {"type": "keyword"},
                "@timestamp": {"type": "date"},
                "user": {"type": "keyword"},
                "action": {"type": "keyword"},
                "bytes": {"type": "long"},
                "source_ip": {"type": "ip"},
                "message": {"type": "text"},
            },
        },
    )
    try:
        docs = _docs(500)
        ok, errors = bulk(
            es,
            ({"_index": index, "_id": d["event_id"], "_source": d} for d in docs),
            chunk_size=200,
            raise_on_error=False,
        )
        assert (ok, errors) == (500, [])
        es.indices.refresh(index=index)

        assert es.count(index=index)["count"] == 500
        got = es.get(index=index, id="evt-00042")
        assert got["_source"]["user"] == USERS[42 % 5] and got["_version"] == 1

        # the ids are real ids: `create` with the same ids conflicts, `index` overwrites in place
        with pytest.raises(ConflictError):
            es.create(index=index, id="evt-00042", document=docs[42])
        ok, errors = bulk(
            es,
            ({"_op_type": "create", "_index": index, "_id": d["event_id"], "_source": d} for d in docs[:10]),
            raise_on_error=False,
        )
        assert ok == 0 and len(errors) == 10
        assert all(e["create"]["status"] == 409 for e in errors)
        es.index(index=index, id="evt-00042", document={**docs[42], "bytes": 1}, refresh=True)
        assert es.count(index=index)["count"] == 500
        assert es.get(index=index, id="evt-00042")["_version"] == 2

        # strict mapping is enforced
        with pytest.raises(BadRequestError) as excinfo:
            es.index(index=index, id="bad", document={"unknown_field": 1})
        assert excinfo.value.error in ("strict_dynamic_mapping_exception", "document_parsing_exception")

        # search: term, range, full text, sort, ip
        bob = es.search(index=index, query={"term": {"user": "bob"}}, size=0, track_total_hits=True)
        assert bob["hits"]["total"] == {"value": 100, "relation": "eq"}
        first_day = es.count(
            index=index,
            query={"range": {"@timestamp": {"gte": T0.isoformat(), "lt": (T0 + dt.timedelta(days=1)).isoformat()}}},
        )["count"]
        assert first_day == len([i for i in range(500) if 7 * i < 24 * 60])
        text = es.search(index=index, query={"match": {"message": "carol"}}, size=0)
        assert text["hits"]["total"]["value"] == 100
        subnet = es.count(index=index, query={"term": {"source_ip": "10.0.1.0/24"}})["count"]
        assert subnet == 125
        top = es.search(index=index, sort=[{"bytes": "desc"}], size=3, query={"match_all": {}})
        top_bytes = [h["_source"]["bytes"] for h in top["hits"]["hits"]]
        assert top_bytes == sorted((d["bytes"] for d in docs if d["event_id"] != "evt-00042"), reverse=True)[:3]

        # aggregations: terms (+ sub-aggregations), date_histogram, cardinality
        res = es.search(
            index=index,
            size=0,
            aggs={
                "by_user": {
                    "terms": {"field": "user", "size": 10},
                    "aggs": {"actions": {"terms": {"field": "action"}}, "total_bytes": {"sum": {"field": "bytes"}}},
                },
                "per_day": {"date_histogram": {"field": "@timestamp", "calendar_interval": "day"}},
                "distinct_ips": {"cardinality": {"field": "source_ip"}},
            },
        )
        aggs = res["aggregations"]
        assert {b["key"]: b["doc_count"] for b in aggs["by_user"]["buckets"]} == dict.fromkeys(USERS, 100)
        stored = {d["event_id"]: d for d in docs}
        stored["evt-00042"] = {**docs[42], "bytes": 1}
        for bucket in aggs["by_user"]["buckets"]:
            expected = Counter(d["action"] for d in stored.values() if d["user"] == bucket["key"])
            assert {b["key"]: b["doc_count"] for b in bucket["actions"]["buckets"]} == dict(expected)
            assert bucket["total_bytes"]["value"] == sum(d["bytes"] for d in stored.values() if d["user"] == bucket["key"])
        per_day = Counter((T0 + dt.timedelta(minutes=7 * i)).date().isoformat() for i in range(500))
        got_days = {b["key_as_string"][:10]: b["doc_count"] for b in aggs["per_day"]["buckets"]}
        assert got_days == dict(per_day)
        assert aggs["distinct_ips"]["value"] == len({d["source_ip"] for d in docs})
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)


def test_composable_template_with_component_template_applies_to_new_index(es: Elasticsearch) -> None:
    name = fresh_index("th-tpl")
    component = f"{name}-mappings"
    es.cluster.put_component_template(
        name=component,
        template={
            "settings": {"number_of_shards": 2, "number_of_replicas": 0},
            "mappings": {
                "dynamic_templates": [
                    {"strings_as_keywords": {"match_mapping_type": "string", "mapping": {"type": "keyword"}}}
                ],
                "properties": {
                    "@timestamp": {"type": "date"},
                    "token_hash": {"type": "keyword"},
                    "score": {"type": "float"},
                },
            },
        },
    )
    es.indices.put_index_template(
        name=name,
        index_patterns=[f"{name}-*"],
        priority=500,
        composed_of=[component],
        template={"mappings": {"properties": {"rule": {"type": "keyword"}, "note": {"type": "text"}}}},
        meta={"owner": "tokenhawk-tests"},
    )
    index = f"{name}-000001"
    try:
        got = es.indices.get_index_template(name=name)["index_templates"][0]["index_template"]
        assert got["composed_of"] == [component] and got["_meta"] == {"owner": "tokenhawk-tests"}
        simulated = es.indices.simulate_index_template(name=index)
        assert simulated["template"]["mappings"]["properties"]["score"] == {"type": "float"}

        # the index is created by the first write: the template must shape it
        es.index(
            index=index,
            id="a1",
            document={"@timestamp": "2026-03-01T00:00:00Z", "token_hash": "abc", "score": 0.5, "rule": "r1",
                      "note": "free text", "extra": "dynamic string"},
            refresh=True,
        )
        props = es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
        assert props["@timestamp"] == {"type": "date"}
        assert props["token_hash"] == {"type": "keyword"}
        assert props["score"] == {"type": "float"}
        assert props["rule"] == {"type": "keyword"}
        assert props["note"] == {"type": "text"}
        assert props["extra"] == {"type": "keyword"}  # from the component's dynamic template
        settings = es.indices.get_settings(index=index)[index]["settings"]["index"]
        assert settings["number_of_shards"] == "2" and settings["number_of_replicas"] == "0"
        assert es.search(index=index, query={"term": {"extra": "dynamic string"}})["hits"]["total"]["value"] == 1

        # a component template in use cannot be deleted
        with pytest.raises(ApiError) as excinfo:
            es.cluster.delete_component_template(name=component)
        assert excinfo.value.meta.status == 400
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
        es.options(ignore_status=404).indices.delete_index_template(name=name)
        es.options(ignore_status=404).cluster.delete_component_template(name=component)


def test_data_stream_is_auto_created_from_template_and_managed(es: Elasticsearch) -> None:
    dataset = fresh_index("thtest").replace("-", "")
    stream = f"logs-{dataset}-default"  # the shape of logs-tokenhawk.alerts-default
    template = f"{dataset}-ds"
    es.indices.put_index_template(
        name=template,
        index_patterns=[f"logs-{dataset}-*"],
        data_stream={},
        priority=500,
        template={
            "settings": {"number_of_replicas": 0},
            "mappings": {"properties": {"alert_id": {"type": "keyword"}, "severity": {"type": "keyword"}}},
        },
    )
    try:
        # writing to a name that matches a data-stream template creates the data stream
        first = es.index(
            index=stream,
            document={"@timestamp": "2026-03-01T10:00:00Z", "alert_id": "a-1", "severity": "high"},
            op_type="create",
            refresh=True,
        )
        assert first["_index"].startswith(f".ds-{stream}-")
        ok, errors = bulk(
            es,
            (
                {"_op_type": "create", "_index": stream, "_id": f"a-{i}",
                 "_source": {"@timestamp": f"2026-03-01T11:{i:02d}:00Z", "alert_id": f"a-{i}", "severity": "low"}}
                for i in range(2, 22)
            ),
            refresh=True,
            raise_on_error=False,
        )
        assert (ok, errors) == (20, [])

        ds = es.indices.get_data_stream(name=stream)["data_streams"]
        assert [d["name"] for d in ds] == [stream]
        assert ds[0]["template"] == template
        assert ds[0]["generation"] == 1
        assert ds[0]["timestamp_field"] == {"name": "@timestamp"}
        assert ds[0]["status"] in ("GREEN", "YELLOW")
        backing = ds[0]["indices"][0]["index_name"]
        assert backing == first["_index"]
        mapping = es.indices.get_mapping(index=backing)[backing]["mappings"]
        assert mapping["properties"]["@timestamp"]["type"] == "date"
        assert mapping["properties"]["severity"] == {"type": "keyword"}

        res = es.search(index=stream, size=0, aggs={"sev": {"terms": {"field": "severity"}}})
        assert res["hits"]["total"]["value"] == 21
        assert {b["key"]: b["doc_count"] for b in res["aggregations"]["sev"]["buckets"]} == {"low": 20, "high": 1}

        # a data stream is append-only and needs @timestamp
        with pytest.raises(BadRequestError) as excinfo:  # PUT with an id is op_type=index
            es.index(index=stream, id="x1", document={"@timestamp": "2026-03-01T12:00:00Z", "alert_id": "x"})
        assert "op_type of create" in str(excinfo.value)
        with pytest.raises(BadRequestError):
            es.index(index=stream, document={"alert_id": "no-timestamp"}, op_type="create")

        # rollover starts a new backing index; searches span both
        rolled = es.indices.rollover(alias=stream)
        assert rolled["rolled_over"] is True
        es.index(index=stream, document={"@timestamp": "2026-03-02T00:00:00Z", "alert_id": "after"},
                 op_type="create", refresh=True)
        ds = es.indices.get_data_stream(name=stream)["data_streams"][0]
        assert ds["generation"] == 2 and len(ds["indices"]) == 2
        assert es.count(index=stream)["count"] == 22

        listed = es.indices.get_data_stream(name=f"logs-{dataset}-*")["data_streams"]
        assert [d["name"] for d in listed] == [stream]
    finally:
        es.options(ignore_status=404).indices.delete_data_stream(name=stream)
        es.options(ignore_status=404).indices.delete_index_template(name=template)
    with pytest.raises(NotFoundError):
        es.indices.get_data_stream(name=stream)
    left = es.indices.resolve_index(name=f"*{stream}*", expand_wildcards="all")
    assert left["indices"] == [] and left["data_streams"] == []


def test_data_stream_created_explicitly_and_deleted(es: Elasticsearch) -> None:
    dataset = fresh_index("thexplicit").replace("-", "")
    stream = f"logs-{dataset}-default"
    es.indices.put_index_template(
        name=dataset, index_patterns=[f"logs-{dataset}-*"], data_stream={}, priority=500,
        template={"settings": {"number_of_replicas": 0}},
    )
    try:
        assert es.indices.create_data_stream(name=stream)["acknowledged"] is True
        assert es.indices.get_data_stream(name=stream)["data_streams"][0]["generation"] == 1
        with pytest.raises(BadRequestError):  # no template matches
            es.indices.create_data_stream(name=fresh_index("no-template-here"))
        assert es.indices.delete_data_stream(name=stream)["acknowledged"] is True
        with pytest.raises(NotFoundError):
            es.indices.get_data_stream(name=stream)
    finally:
        es.options(ignore_status=404).indices.delete_data_stream(name=stream)
        es.options(ignore_status=404).indices.delete_index_template(name=dataset)


def test_ilm_policy_api_works_or_is_absent_with_the_known_error(es: Elasticsearch) -> None:
    """The local node has no ILM (x-pack-ilm is not on Maven Central); a full cluster has it.

    Either way the behaviour is pinned: tokenhawk must detect the 400 below and degrade.
    """
    policy = fresh_index("th-policy")
    try:
        es.ilm.put_lifecycle(name=policy, policy={"phases": {"hot": {"actions": {"rollover": {"max_age": "1d"}}}}})
    except BadRequestError as exc:
        assert f"no handler found for uri [/_ilm/policy/{policy}] and method [PUT]" in str(exc)
        with pytest.raises(BadRequestError) as excinfo:
            es.indices.create(index=policy, settings={"index.lifecycle.name": policy})
        assert "unknown setting [index.lifecycle.name]" in str(excinfo.value)
    else:
        assert policy in es.ilm.get_lifecycle(name=policy)
        es.ilm.delete_lifecycle(name=policy)


@pytest.mark.slow
def test_outage_stop_then_start_keeps_data(es: Elasticsearch) -> None:
    index = fresh_index("th-outage")
    es.index(index=index, id="1", document={"user": "bob"}, refresh=True)
    stop_es()
    try:
        with pytest.raises(EsConnectionError):
            Elasticsearch(es.transport.node_pool.get().base_url, request_timeout=5, max_retries=0).info()
    finally:
        url = start_es()
    client = Elasticsearch(url, request_timeout=60)
    try:
        client.cluster.health(index=index, wait_for_status="yellow", timeout="60s")
        assert client.get(index=index, id="1")["_source"] == {"user": "bob"}
    finally:
        client.indices.delete(index=index, ignore_unavailable=True)
        client.close()
