"""The notebooks run top to bottom on the demo world and produce their figures.

The demo world (`run_world(days=14, seed=7)`) is generated once per session; each notebook is
executed with nbclient after a papermill-style injected-parameters cell, and its PNG outputs are
counted. The triage notebook also runs against the real Elasticsearch node, on alerts and events
indexed with the library's sinks (the events of the day around the top alert: indexing all 260k
demo events takes minutes on a small machine, and the notebook's queries need only that window).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pytest
from elasticsearch import Elasticsearch

from detector.hunt import triage
from detector.hunt.sources import EsSource, FileSource, to_time
from detector.search import AlertSink, ElasticsearchConfig, EventSink, make_client
from detector.search.setup import client_call, setup
from hunt_support import NOTEBOOKS, DemoWorld, demo_world, run_notebook
from service_fixtures.elasticsearch import es_url  # noqa: F401

pytestmark = pytest.mark.slow

# figures each notebook draws (a figure that silently stops rendering fails here)
EXPECTED_IMAGES = {"triage-alert": 9, "fleet-hunt": 7, "model-health": 7}


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return demo_world()


def _texts(run) -> str:
    """Every text and HTML output of an executed notebook, joined."""
    parts = []
    for cell in run.notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            parts.append(str(data.get("text/plain", "")) + str(data.get("text/html", "")))
            if output.get("output_type") == "stream":
                parts.append(output.get("text", ""))
    return "\n".join(parts)


def _files(world: DemoWorld) -> dict[str, Any]:
    return {"source": "files", "events": str(world.events), "alerts": str(world.alerts)}


def test_every_notebook_is_covered() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(EXPECTED_IMAGES)


def test_triage_notebook(world: DemoWorld, tmp_path: Path) -> None:
    run = run_notebook(NOTEBOOKS / "triage-alert.ipynb", _files(world), save_to=tmp_path / "triage.ipynb")
    assert not run.errors and run.images == EXPECTED_IMAGES["triage-alert"], (run.errors, run.images)
    text = _texts(run)
    top = max(world.alert_docs, key=lambda a: a["score"])  # alert_id = None: the highest-scoring
    assert top["alert"]["id"] in text and top["token"]["principal"] in text
    assert "★" in text, "baseline vs observed marks the values new to the principal"


def test_triage_notebook_by_token(world: DemoWorld) -> None:
    legacy = next(a for a in world.alert_docs if a["token"]["kind"] == "legacy")
    run = run_notebook(NOTEBOOKS / "triage-alert.ipynb", _files(world) | {"token": legacy["token"]["id"]})
    assert not run.errors and run.images == EXPECTED_IMAGES["triage-alert"]
    assert legacy["token"]["id"] in _texts(run)


def test_fleet_notebook(world: DemoWorld, tmp_path: Path) -> None:
    run = run_notebook(NOTEBOOKS / "fleet-hunt.ipynb", _files(world), save_to=tmp_path / "fleet.ipynb")
    assert not run.errors and run.images == EXPECTED_IMAGES["fleet-hunt"], (run.errors, run.images)
    text = _texts(run)
    # detector.inventory's findings for what the generator planted: legacy tokens, the dormant key
    # of scenario s09 (user/legacy-etl), keys never rotated, an identity with several live secrets
    for finding in ("legacy-k8s-token", "dormant-token", "long-lived-key", "used-outside", "credential-sprawl"):
        assert finding in text, finding
    assert "user/legacy-etl" in text and "secret:monitoring/grafana-token" in text


def test_model_health_notebook(world: DemoWorld, tmp_path: Path) -> None:
    params = _files(world) | {"labels": str(world.labels)}
    run = run_notebook(NOTEBOOKS / "model-health.ipynb", params, save_to=tmp_path / "health.ipynb")
    assert not run.errors and run.images == EXPECTED_IMAGES["model-health"], (run.errors, run.images)
    text = _texts(run)
    assert "recall" in text and "s01-stolen-bound-token" in text
    assert "hour_surprise" in text  # the drift table names features


# --- Elasticsearch ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def es_world(world: DemoWorld, es_url: str, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """The top alert's day of demo events and every demo alert, indexed with the library's sinks."""
    ns = uuid.uuid4().hex[:10]
    cfg = ElasticsearchConfig(url=es_url, alerts_data_stream=f"logs-tokenhawk.alerts-hunt{ns}",
                              events_data_stream=f"logs-tokenhawk.events-hunt{ns}",
                              spool_dir=str(tmp_path_factory.mktemp("spool")))
    es = Elasticsearch(es_url, request_timeout=120)
    setup(client_call(es), cfg)
    top = max(world.alert_docs, key=lambda a: a["score"])
    start = to_time(top["first_seen"]) - pd.Timedelta(days=1)
    end = to_time(top["last_seen"]) + pd.Timedelta(hours=6)
    ts = world.table.column("ts")
    table = world.table.filter(pc.and_(pc.greater_equal(ts, start.value // 1000), pc.less_equal(ts, end.value // 1000)))
    client = make_client(cfg)
    report = EventSink(client, cfg).send_table(table)
    assert report.indexed == table.num_rows and report.rejected == 0
    assert AlertSink(client, cfg).send(world.alert_docs).created == len(world.alert_docs)
    es.indices.refresh(index=f"{cfg.alerts_data_stream},{cfg.events_data_stream}")
    yield cfg, table, top
    for stream in (cfg.alerts_data_stream, cfg.events_data_stream):
        es.options(ignore_status=404).indices.delete_data_stream(name=stream)
    es.close()


@pytest.mark.es
def test_triage_notebook_on_elasticsearch(es_world, tmp_path: Path) -> None:
    cfg, _, top = es_world
    params = {"source": "es", "es_url": cfg.url[0], "es_alerts": cfg.alerts_data_stream,
              "es_events": cfg.events_data_stream, "lookback": "1d"}
    run = run_notebook(NOTEBOOKS / "triage-alert.ipynb", params, save_to=tmp_path / "triage-es.ipynb")
    assert not run.errors and run.images == EXPECTED_IMAGES["triage-alert"], (run.errors, run.images)
    assert top["alert"]["id"] in _texts(run) and "Elasticsearch" in _texts(run)


@pytest.mark.es
def test_elasticsearch_and_files_tell_the_same_story(es_world, world: DemoWorld) -> None:
    """The helpers answer the same over Elasticsearch as over the same events in files."""
    cfg, table, top = es_world
    remote = EsSource(make_client(cfg), cfg, all_namespaces=False)
    local = FileSource(table, world.alert_docs)
    assert [a["alert"]["id"] for a in remote.alerts()] == [a["alert"]["id"] for a in local.alerts()]
    es_case = triage.open_case(remote, lookback="1d")
    file_case = triage.open_case(local, lookback="1d")
    assert es_case.alert["alert"]["id"] == file_case.alert["alert"]["id"] == top["alert"]["id"]
    assert list(es_case.timeline["event_id"]) == list(file_case.timeline["event_id"])
    assert sorted(es_case.principal_events["event_id"]) == sorted(file_case.principal_events["event_id"])
    pd.testing.assert_frame_equal(triage.baseline_vs_observed(es_case, remote), triage.baseline_vs_observed(file_case, local))
    for field_name in triage.PIVOT_FIELDS:
        pd.testing.assert_frame_equal(triage.pivot(es_case, field_name), triage.pivot(file_case, field_name),
                                      check_dtype=False)
    related = ["relation", "token_id", "principal", "link", "events", "alerts"]
    pd.testing.assert_frame_equal(triage.related_credentials(remote, es_case)[related],
                                  triage.related_credentials(local, file_case)[related], check_dtype=False)
    users = ["value", "principal", "tokens", "events"]
    pd.testing.assert_frame_equal(triage.fleet_pivot(remote, es_case, "user_agent")[users],
                                  triage.fleet_pivot(local, file_case, "user_agent")[users], check_dtype=False)
    json.dumps(triage.overview(es_case).astype(str).to_dict())  # displayable
