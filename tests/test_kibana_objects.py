"""The Kibana saved objects in kibana/tokenhawk.ndjson: structure, references, fields, and the import.

A real Kibana cannot run on these machines (no Docker; Kibana is a Node.js bundle not on Maven
Central), so the objects are checked for what Kibana's import needs: every line a JSON object with
id/type/attributes/references, ids unique, every reference resolving, every dashboard panel backed
by a reference of its type, JSON-in-string attributes parseable, and every field a chart, a search
or a control reads mapped by the index templates. The import command is checked against a local
HTTP server that answers like Kibana's `_import` API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from detector.search import ElasticsearchConfig
from detector.search.kibana import (
    ALERTS_VIEW, DASHBOARD, EVENTS_VIEW, TIMELINE_SEARCH, data_view_of, problems, read_ndjson, referenced_fields,
    saved_objects, timeline_url, to_ndjson,
)
from detector.search.templates import effective_mappings, leaf_fields
from pipelines.cli import app

NDJSON = Path(__file__).resolve().parents[1] / "kibana" / "tokenhawk.ndjson"


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return read_ndjson(NDJSON.read_bytes())


def test_every_line_is_a_saved_object(objects: list[dict[str, Any]]) -> None:
    lines = [line for line in NDJSON.read_bytes().splitlines() if line.strip()]
    assert len(lines) == len(objects) >= 10
    for line in lines:
        obj = json.loads(line)
        assert isinstance(obj, dict)
        assert {"id", "type", "attributes", "references", "coreMigrationVersion", "typeMigrationVersion"} <= set(obj)
        assert obj["type"] in {"index-pattern", "search", "lens", "dashboard"}
        assert obj["attributes"]["title"]


def test_checked_in_file_is_what_the_code_builds() -> None:
    assert NDJSON.read_bytes() == to_ndjson(saved_objects()), \
        "kibana/tokenhawk.ndjson is stale: run `tokenhawk kibana export --out kibana/tokenhawk.ndjson`"


def test_ids_unique_and_references_resolve(objects: list[dict[str, Any]]) -> None:
    keys = [(o["type"], o["id"]) for o in objects]
    assert len(keys) == len(set(keys))
    assert len({o["id"] for o in objects}) == len(objects)
    assert problems(objects) == []


def test_the_checks_catch_broken_objects(objects: list[dict[str, Any]]) -> None:
    broken = json.loads(json.dumps(objects))
    dash = next(o for o in broken if o["type"] == "dashboard")
    dash["references"] = [r for r in dash["references"] if r["name"] != "3:panel_3"]
    lens = next(o for o in broken if o["type"] == "lens")
    lens["references"][0]["id"] = "no-such-view"
    broken.append(broken[0])
    found = problems(broken)
    assert any("panel 3 has no reference" in p for p in found)
    assert any("no-such-view" in p for p in found)
    assert any("duplicate id" in p for p in found)


def test_dashboard_panels_reference_existing_objects(objects: list[dict[str, Any]]) -> None:
    by_key = {(o["type"], o["id"]): o for o in objects}
    dash = by_key[("dashboard", DASHBOARD)]
    panels = json.loads(dash["attributes"]["panelsJSON"])
    refs = {r["name"]: r for r in dash["references"]}
    titles = []
    for panel in panels:
        ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
        target = by_key[(ref["type"], ref["id"])]
        assert target["type"] == panel["type"]
        titles.append(target["attributes"]["title"])
        grid = panel["gridData"]
        assert grid["i"] == panel["panelIndex"] and 0 <= grid["x"] and grid["x"] + grid["w"] <= 48
    # what the SOC asked for
    for wanted in ("Alerts over time by severity", "Top tokens", "Top principals", "Source IPs of alerts",
                   "ATT&CK techniques", "tokenhawk: alerts"):
        assert wanted in titles
    _no_overlaps(panels)
    controls = json.loads(dash["attributes"]["controlGroupInput"]["panelsJSON"])
    for cid in controls:
        assert refs[f"controlGroup_{cid}:optionsListDataView"]["id"] == ALERTS_VIEW


def _no_overlaps(panels: list[dict[str, Any]]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        g = panel["gridData"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panels {cells[(x, y)]} and {g['i']} overlap at {(x, y)}"
                cells[(x, y)] = g["i"]


def test_every_field_read_is_mapped_in_its_data_stream(objects: list[dict[str, Any]]) -> None:
    cfg = ElasticsearchConfig()
    mapped = {
        ALERTS_VIEW: set(leaf_fields(effective_mappings(cfg, cfg.alerts_data_stream))),
        EVENTS_VIEW: set(leaf_fields(effective_mappings(cfg, cfg.events_data_stream))),
    }
    both = mapped[ALERTS_VIEW] & mapped[EVENTS_VIEW]
    for obj in objects:
        fields = referenced_fields(obj)
        if obj["type"] == "dashboard":
            assert fields and fields <= both, f"controls filter every panel: {fields - both} missing in a stream"
            continue
        view = data_view_of(obj)
        assert fields <= mapped[view], (obj["id"], fields - mapped[view])


def test_data_views_and_drill_down(objects: list[dict[str, Any]]) -> None:
    by_id = {o["id"]: o for o in objects}
    alerts, events = by_id[ALERTS_VIEW]["attributes"], by_id[EVENTS_VIEW]["attributes"]
    assert alerts["title"] == "logs-tokenhawk.alerts-*" and events["title"] == "logs-tokenhawk.events-*"
    assert alerts["timeFieldName"] == events["timeFieldName"] == "@timestamp"
    link = json.loads(alerts["fieldFormatMap"])["token.id"]
    assert link["id"] == "url" and link["params"]["urlTemplate"] == timeline_url()
    assert f"/view/{TIMELINE_SEARCH}" in link["params"]["urlTemplate"]
    timeline = by_id[TIMELINE_SEARCH]
    assert timeline["attributes"]["sort"] == [["@timestamp", "asc"]]
    assert data_view_of(timeline) == EVENTS_VIEW
    source = json.loads(timeline["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["indexRefName"] == timeline["references"][0]["name"]


def test_objects_follow_the_configured_stream_names() -> None:
    cfg = ElasticsearchConfig(alerts_data_stream="logs-acme.alerts-prod", events_data_stream="logs-acme.events-prod")
    views = {o["id"]: o["attributes"]["title"] for o in saved_objects(cfg) if o["type"] == "index-pattern"}
    assert views == {ALERTS_VIEW: "logs-acme.alerts-*", EVENTS_VIEW: "logs-acme.events-*"}


# --- tokenhawk kibana import, against a server that answers like Kibana --------------------------------

class FakeKibana(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []
    answer: tuple[int, dict[str, Any]] | None = None

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        parts = {}
        if self.headers["Content-Type"].startswith("multipart/form-data"):
            import email.parser

            msg = email.parser.BytesParser().parsebytes(
                f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
            for part in msg.get_payload():
                parts[part.get_param("name", header="content-disposition")] = {
                    "filename": part.get_filename(), "data": part.get_payload(decode=True)}
        FakeKibana.requests.append({"path": self.path, "headers": dict(self.headers), "parts": parts})
        if FakeKibana.answer is not None:
            status, payload = FakeKibana.answer
        elif self.headers.get("kbn-xsrf") is None:
            status, payload = 400, {"statusCode": 400, "error": "Bad Request", "message": "Request must contain a kbn-xsrf header."}
        else:
            objs = read_ndjson(parts["file"]["data"])
            status, payload = 200, {"success": True, "successCount": len(objs), "errors": [],
                                    "successResults": [{"type": o["type"], "id": o["id"]} for o in objs]}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def kibana() -> Iterator[str]:
    FakeKibana.requests, FakeKibana.answer = [], None
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeKibana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_import_posts_the_ndjson_with_xsrf_and_overwrite(kibana: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__USERNAME", "elastic")
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__PASSWORD", "s3cret-for-test")
    result = CliRunner().invoke(app, ["kibana", "import", "--url", kibana])
    assert result.exit_code == 0, result.output
    assert "imported 14 saved objects" in result.output
    (req,) = FakeKibana.requests
    assert req["path"] == "/api/saved_objects/_import?overwrite=true"
    assert req["headers"]["kbn-xsrf"]
    assert req["headers"]["Authorization"].startswith("Basic ")
    assert req["parts"]["file"]["filename"].endswith(".ndjson")
    assert req["parts"]["file"]["data"] == NDJSON.read_bytes()
    assert "s3cret-for-test" not in result.output


def test_import_into_a_space_with_an_api_key(kibana: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENHAWK_ELASTICSEARCH__KIBANA__API_KEY", "a2liYW5hLWtleQ==")
    result = CliRunner().invoke(app, ["kibana", "import", "--url", kibana + "/", "--space", "soc", "--no-overwrite"])
    assert result.exit_code == 0, result.output
    (req,) = FakeKibana.requests
    assert req["path"] == "/s/soc/api/saved_objects/_import?overwrite=false"
    assert req["headers"]["Authorization"] == "ApiKey a2liYW5hLWtleQ=="


def test_import_reports_kibana_errors(kibana: str) -> None:
    FakeKibana.answer = (200, {"success": False, "successCount": 13, "errors": [
        {"id": DASHBOARD, "type": "dashboard", "error": {"type": "missing_references"}}]})
    result = CliRunner().invoke(app, ["kibana", "import", "--url", kibana])
    assert result.exit_code == 1
    assert "missing_references" in result.output and DASHBOARD in result.output


def test_import_refuses_an_inconsistent_file(kibana: str, tmp_path: Path) -> None:
    objs = read_ndjson(NDJSON.read_bytes())
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(to_ndjson([o for o in objs if o["id"] != EVENTS_VIEW]))
    result = CliRunner().invoke(app, ["kibana", "import", "--url", kibana, "--file", str(bad)])
    assert result.exit_code != 0
    assert not FakeKibana.requests


def test_import_without_a_url_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["kibana", "import"])
    assert result.exit_code == 1 and "no Kibana URL" in result.output
