"""`tokenhawk detect --es-url` indexes alerts into the real Elasticsearch node as they are raised."""

from __future__ import annotations

import uuid

from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from detect_world import APP, DAY, HOUR, MIN, T0, World, k8s
from detector.event_files import EventWriter
from detector.events import to_table
from pipelines.alerts_out import read_alerts
from pipelines.cli import app
from service_fixtures.elasticsearch import es_url  # noqa: F401


def test_detect_indexes_its_alerts_by_id(tmp_path, monkeypatch, es_url):  # noqa: F811
    world = World()
    ts = T0 + DAY + 5 * HOUR + 3 * MIN
    jti = world.app_token_at(ts)
    events = world.events + [k8s(ts, APP, jti, "get:secrets", ip="185.220.101.47", ua="curl/8.5.0",
                                 namespace="payments", pod=world.app_pod, pod_uid=world.app_uid)]
    with EventWriter(tmp_path / "events.parquet") as writer:
        writer.write(to_table(sorted(events, key=lambda e: e["ts"])))
    stream = f"logs-tokenhawk.alerts-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__ALERTS_DATA_STREAM", stream)
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__SPOOL_DIR", str(tmp_path / "spool"))
    runner = CliRunner()
    assert runner.invoke(app, ["es", "setup", "--es-url", es_url]).exit_code == 0
    args = ["detect", str(tmp_path / "events.parquet"), "--learning-period", "1d", "--es-url", es_url,
            "--out", str(tmp_path / "alerts.jsonl"), "--quiet", "--no-notify"]
    for _ in range(2):  # a second replay updates the same documents instead of adding copies
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    alerts = read_alerts(tmp_path / "alerts.jsonl")
    client = Elasticsearch(es_url)
    try:
        client.indices.refresh(index=stream)
        hits = client.search(index=stream, query={"match_all": {}}, size=100)["hits"]["hits"]
        assert sorted(h["_id"] for h in hits) == sorted(a["alert"]["id"] for a in alerts)
        assert hits[0]["_source"]["token"]["id"] == jti
        assert hits[0]["_source"]["source"]["ip"] == "185.220.101.47"
    finally:
        client.options(ignore_status=404).indices.delete_data_stream(name=stream)
        client.close()
