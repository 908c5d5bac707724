"""The inventory index against the real Elasticsearch node: the template is accepted, documents are
replaced in place, and the aggregations the Kibana panels run return the inventory's numbers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from detector.inventory import es as inventory_es
from detector.search.kibana import problems, referenced_fields
from detector.search.templates import leaf_fields
from service_fixtures.elasticsearch import es_url, fresh_index  # noqa: F401
from test_inventory_findings import ADMIN, CLI, OFFICE, aws, daily_key, legacy_use, run, T0, DAY, HOUR

pytestmark = pytest.mark.es


@pytest.fixture(scope="module")
def es(es_url: str) -> Iterator[Elasticsearch]:  # noqa: F811
    client = Elasticsearch(es_url, request_timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def inventory_view():
    events = [legacy_use(d, m) for d in range(4) for m in range(0, 60, 10)]
    events.append(legacy_use(3, 30, ip="185.220.101.47", ua="kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"))
    events += daily_key(range(2)) + daily_key(range(9, 11))
    events += [aws(T0 + d * DAY + 10 * HOUR, ADMIN, f"ASIAADMIN{d:011d}", "ec2:DescribeInstances", ip=OFFICE, ua=CLI)
               for d in range(3)]
    _, _, report, findings = run(events)
    assert findings
    return report, findings


def test_inventory_index_and_panel_aggregations(es: Elasticsearch, inventory_view) -> None:
    report, findings = inventory_view
    index = fresh_index("tokenhawk-inventory")
    try:
        indexed, errors = inventory_es.index_report(es, report, findings, index=index)
        assert errors == [] and indexed == len(report.tokens) + len(report.principals)
        # a second emission replaces, never duplicates
        inventory_es.index_report(es, report, findings, index=index)
        es.indices.refresh(index=index)
        assert es.count(index=index)["count"] == indexed
        mapped = es.indices.get_mapping(index=index)[index]["mappings"]
        assert set(leaf_fields(mapped)) >= set(leaf_fields(inventory_es.mappings()))
        aggs = es.search(index=index, size=0, aggs={
            "kinds": {"terms": {"field": "tokenhawk.findings.kinds", "size": 20}},
            "tokens": {"filter": {"term": {"tokenhawk.record": "token"}},
                       "aggs": {"by": {"terms": {"field": "tokenhawk.token.kind"}}}},
        })["aggregations"]
        by_kind = {b["key"]: b["doc_count"] for b in aggs["kinds"]["buckets"]}
        expected = Counter()
        for kind in {(f.kind, f.source, f.tenant, f.token_id or f.principal) for f in findings}:
            expected[kind[0]] += 1
        assert by_kind == dict(expected)
        assert {b["key"]: b["doc_count"] for b in aggs["tokens"]["by"]["buckets"]} == \
            dict(Counter(r.kind for r in report.tokens))
        hit = es.search(index=index, query={"term": {"tokenhawk.token.id": "secret:reports/exporter-token-x1"}})
        doc = hit["hits"]["hits"][0]["_source"]
        assert "legacy-k8s-token" in doc["tokenhawk"]["findings"]["kinds"]
        assert doc["tokenhawk"]["inventory"]["outside_networks"] == ["185.220.101.0/24"]
    finally:
        es.options(ignore_status=404).indices.delete(index=index)


def test_kibana_objects_are_consistent_and_read_mapped_fields() -> None:
    objects = inventory_es.kibana_objects()
    assert problems(objects) == []
    mapped = set(leaf_fields(inventory_es.mappings()))
    for obj in objects:
        assert referenced_fields(obj) <= mapped, (obj["id"], referenced_fields(obj) - mapped)
