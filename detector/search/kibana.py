"""Kibana saved objects as code: data views, the SOC dashboard, the per-token drill-down search.

`saved_objects(config)` builds them from the data stream names in the settings; the default build
is checked in as `kibana/tokenhawk.ndjson` (a test keeps the two identical) and is what
`tokenhawk kibana import` sends to Kibana's `POST /api/saved_objects/_import?overwrite=true`.

The format is what Kibana 8.x exports (Lens `formBased` layers, dashboard panels by reference
with `<panelIndex>:panel_<panelIndex>` references), stamped with the migration versions of that
format so a newer Kibana migrates them forward: Kibana 8.11 or later.

Objects (ids are stable, so a re-import overwrites instead of duplicating):

| id | type | what the analyst sees |
|---|---|---|
| tokenhawk-alerts | index-pattern | alerts data view; `token.id` links to the token's timeline |
| tokenhawk-events | index-pattern | token events data view |
| tokenhawk-token-timeline | search | the drill-down: one token's requests, oldest first |
| tokenhawk-alerts-list | search | open alerts, newest first, with their first reason |
| tokenhawk-lens-* | lens | the dashboard's charts and tables |
| tokenhawk-soc | dashboard | "tokenhawk: token misuse (SOC)" |
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

import orjson

from detector.errors import TokenhawkError

from .config import ElasticsearchConfig, KibanaConfig, stream_pattern

CORE_MIGRATION = "8.8.0"
TYPE_MIGRATION = {"index-pattern": "8.0.0", "search": "8.0.0", "lens": "8.9.0", "dashboard": "8.7.0"}
PANEL_VERSION = "8.11.0"

ALERTS_VIEW = "tokenhawk-alerts"
EVENTS_VIEW = "tokenhawk-events"
TIMELINE_SEARCH = "tokenhawk-token-timeline"
ALERTS_SEARCH = "tokenhawk-alerts-list"
DASHBOARD = "tokenhawk-soc"

_EMPTY_QUERY = {"query": "", "language": "kuery"}


class KibanaError(TokenhawkError):
    """Kibana refused the import (or could not be reached)."""


def timeline_url(token_expr: str = "{{value}}", time_from: str = "now-30d") -> str:
    """Discover URL of the drill-down search filtered to one token (`{{value}}`: Kibana's URL formatter)."""
    return (f"/app/discover#/view/{TIMELINE_SEARCH}?_g=(time:(from:{time_from},to:now))"
            f"&_a=(query:(language:kuery,query:'tokenhawk.token.id:\"{token_expr}\"'))")


def _obj(kind: str, oid: str, attributes: dict[str, Any], references: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "id": oid, "type": kind, "attributes": attributes, "references": references or [],
        "coreMigrationVersion": CORE_MIGRATION, "typeMigrationVersion": TYPE_MIGRATION[kind], "managed": False,
    }


def _data_view(oid: str, title: str, name: str, formats: dict[str, Any] | None = None) -> dict[str, Any]:
    return _obj("index-pattern", oid, {
        "title": title, "name": name, "timeFieldName": "@timestamp", "allowNoIndex": True,
        "fields": "[]", "fieldAttrs": "{}", "runtimeFieldMap": "{}", "sourceFilters": "[]", "typeMeta": "{}",
        "fieldFormatMap": json.dumps(formats or {}, sort_keys=True),
    })


def _search(oid: str, title: str, view: str, columns: list[str], sort: list[list[str]], description: str,
            query: str = "") -> dict[str, Any]:
    source = {"query": {"query": query, "language": "kuery"}, "filter": [],
              "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"}
    return _obj("search", oid, {
        "title": title, "description": description, "columns": columns, "sort": sort, "grid": {},
        "hideChart": False, "isTextBasedQuery": False, "timeRestore": False,
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(source)},
    }, [{"id": view, "name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern"}])


# --- Lens columns ---------------------------------------------------------------------------------

def _date_histogram() -> dict[str, Any]:
    return {"label": "@timestamp", "dataType": "date", "operationType": "date_histogram", "sourceField": "@timestamp",
            "isBucketed": True, "scale": "interval",
            "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False}}


def _count(label: str, kql: str | None = None) -> dict[str, Any]:
    col = {"label": label, "customLabel": True, "dataType": "number", "operationType": "count", "isBucketed": False,
           "scale": "ratio", "sourceField": "___records___", "params": {"emptyAsNull": False}}
    if kql:
        col["filter"] = {"query": kql, "language": "kuery"}
    return col


def _metric(op: str, field: str, label: str) -> dict[str, Any]:
    return {"label": label, "customLabel": True, "dataType": "number", "operationType": op, "sourceField": field,
            "isBucketed": False, "scale": "ratio", "params": {"emptyAsNull": True}}


def _terms(field: str, label: str, size: int, order_by: str, data_type: str = "string",
           other: bool = False) -> dict[str, Any]:
    return {"label": label, "customLabel": True, "dataType": data_type, "operationType": "terms",
            "sourceField": field, "isBucketed": True, "scale": "ordinal",
            "params": {"size": size, "orderBy": {"type": "column", "columnId": order_by}, "orderDirection": "desc",
                       "otherBucket": other, "missingBucket": False, "parentFormat": {"id": "terms"}}}


def _lens(oid: str, title: str, view: str, vis_type: str, columns: dict[str, dict[str, Any]], order: list[str],
          visualization: dict[str, Any], description: str = "", kql: str = "") -> dict[str, Any]:
    layer = "layer-1"
    return _obj("lens", oid, {
        "title": title, "description": description, "visualizationType": vis_type,
        "state": {
            "datasourceStates": {"formBased": {"layers": {layer: {
                "columns": columns, "columnOrder": order, "incompleteColumns": {}, "sampling": 1}}}},
            "visualization": visualization, "query": {"query": kql, "language": "kuery"}, "filters": [],
            "internalReferences": [], "adHocDataViews": {},
        },
    }, [{"id": view, "name": f"indexpattern-datasource-layer-{layer}", "type": "index-pattern"}])


def _xy(series: str, x: str, y: list[str], split: str | None) -> dict[str, Any]:
    layer = {"layerId": "layer-1", "layerType": "data", "seriesType": series, "xAccessor": x, "accessors": y}
    if split:
        layer["splitAccessor"] = split
        layer["palette"] = {"type": "palette", "name": "status"}
    return {"legend": {"isVisible": True, "position": "right"}, "valueLabels": "hide", "fittingFunction": "None",
            "preferredSeriesType": series, "layers": [layer],
            "axisTitlesVisibilitySettings": {"x": False, "yLeft": True, "yRight": True}}


def _table(columns: list[str]) -> dict[str, Any]:
    return {"layerId": "layer-1", "layerType": "data",
            "columns": [{"columnId": c, "isTransposed": False} for c in columns]}


def lens_objects() -> list[dict[str, Any]]:
    high = 'severity : ("critical" or "high")'
    return [
        _lens("tokenhawk-lens-high-alerts", "Critical and high alerts", ALERTS_VIEW, "lnsMetric",
              {"n": _count("Critical + high alerts", high)}, ["n"],
              {"layerId": "layer-1", "layerType": "data", "metricAccessor": "n"},
              "Alerts of severity critical or high in the time range."),
        _lens("tokenhawk-lens-alerted-tokens", "Tokens with alerts", ALERTS_VIEW, "lnsMetric",
              {"n": _metric("unique_count", "token.id", "Tokens with alerts")}, ["n"],
              {"layerId": "layer-1", "layerType": "data", "metricAccessor": "n"}),
        _lens("tokenhawk-lens-alerts-over-time", "Alerts over time by severity", ALERTS_VIEW, "lnsXY",
              {"t": _date_histogram(), "n": _count("Alerts"), "s": _terms("severity", "Severity", 4, "n")},
              ["s", "t", "n"], _xy("bar_stacked", "t", ["n"], "s"),
              "Incidents by the time they started, stacked by severity."),
        _lens("tokenhawk-lens-top-tokens", "Top tokens", ALERTS_VIEW, "lnsDatatable",
              {"tok": _terms("token.id", "Token", 20, "max"), "who": _terms("token.principal", "Principal", 1, "max"),
               "max": _metric("max", "score", "Max score"), "n": _count("Alerts")},
              ["tok", "who", "max", "n"], _table(["tok", "who", "max", "n"]),
              "Tokens with the highest-scoring alerts; click a token to open its timeline."),
        _lens("tokenhawk-lens-top-principals", "Top principals", ALERTS_VIEW, "lnsXY",
              {"who": _terms("user.name", "Principal", 10, "n"), "n": _count("Alerts"),
               "s": _terms("severity", "Severity", 4, "n")},
              ["who", "s", "n"], _xy("bar_horizontal_stacked", "who", ["n"], "s"),
              "Identities whose credentials raised the most alerts."),
        _lens("tokenhawk-lens-source-ips", "Source IPs of alerts", ALERTS_VIEW, "lnsDatatable",
              {"ip": _terms("source.ip", "Source IP", 20, "n", data_type="ip"),
               "tokens": _metric("unique_count", "token.id", "Tokens"), "n": _count("Alerts"),
               "max": _metric("max", "score", "Max score")},
              ["ip", "tokens", "n", "max"], _table(["ip", "tokens", "n", "max"]),
              "Where the alerting requests came from (the most frequent address of each incident)."),
        _lens("tokenhawk-lens-techniques", "ATT&CK techniques", ALERTS_VIEW, "lnsPie",
              {"tech": _terms("technique", "Technique", 15, "n", other=True), "n": _count("Alerts")},
              ["tech", "n"],
              {"shape": "donut", "layers": [{"layerId": "layer-1", "layerType": "data", "primaryGroups": ["tech"],
                                             "metrics": ["n"], "numberDisplay": "value", "categoryDisplay": "default",
                                             "legendDisplay": "show", "nestedLegend": False}]},
              "MITRE ATT&CK techniques of the alerts (T1528 token theft, T1550.001 token reuse, …)."),
        _lens("tokenhawk-lens-events-over-time", "Token events by source", EVENTS_VIEW, "lnsXY",
              {"t": _date_histogram(), "n": _count("Events"), "src": _terms("tokenhawk.source", "Source", 4, "n")},
              ["src", "t", "n"], _xy("bar_stacked", "t", ["n"], "src"),
              "Indexed token usage events (after sampling) per log source."),
        _lens("tokenhawk-lens-event-failures", "Failed requests by principal", EVENTS_VIEW, "lnsXY",
              {"who": _terms("user.name", "Principal", 10, "n"), "n": _count("Failed requests")},
              ["who", "n"], _xy("bar_horizontal", "who", ["n"], None),
              "Denied or failed requests: credential probing shows up here first.", kql='event.outcome : "failure"'),
    ]


# (object id, x, y, w, h) on Kibana's 48-column grid
_LAYOUT = [
    ("tokenhawk-lens-high-alerts", 0, 0, 12, 7),
    ("tokenhawk-lens-alerted-tokens", 12, 0, 12, 7),
    ("tokenhawk-lens-alerts-over-time", 24, 0, 24, 14),
    ("tokenhawk-lens-techniques", 0, 7, 24, 14),
    ("tokenhawk-lens-top-tokens", 0, 21, 24, 15),
    ("tokenhawk-lens-top-principals", 24, 14, 24, 22),
    ("tokenhawk-lens-source-ips", 0, 36, 24, 15),
    ("tokenhawk-lens-events-over-time", 24, 36, 24, 15),
    (ALERTS_SEARCH, 0, 51, 48, 18),
    ("tokenhawk-lens-event-failures", 0, 69, 48, 12),
]

# Only fields both streams have: a control's filter applies to every panel, events ones included.
_CONTROLS = [("ctl-source", "Log source", "tokenhawk.source"), ("ctl-tenant", "Cluster / account", "tokenhawk.tenant"),
             ("ctl-principal", "Principal", "user.name")]


def dashboard(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    panels, references = [], []
    for number, (oid, x, y, w, h) in enumerate(_LAYOUT, start=1):
        index = str(number)
        panels.append({"version": PANEL_VERSION, "type": objects[oid]["type"],
                       "gridData": {"x": x, "y": y, "w": w, "h": h, "i": index}, "panelIndex": index,
                       "embeddableConfig": {"enhancements": {}}, "panelRefName": f"panel_{index}"})
        references.append({"name": f"{index}:panel_{index}", "type": objects[oid]["type"], "id": oid})
    controls = {}
    for order, (cid, title, field) in enumerate(_CONTROLS):
        controls[cid] = {"order": order, "width": "medium", "grow": True, "type": "optionsListControl",
                         "explicitInput": {"id": cid, "title": title, "fieldName": field, "enhancements": {}}}
        references.append({"name": f"controlGroup_{cid}:optionsListDataView", "type": "index-pattern",
                           "id": ALERTS_VIEW})
    return _obj("dashboard", DASHBOARD, {
        "title": "tokenhawk: token misuse (SOC)",
        "description": "Alerts on unusual use of machine credentials (Kubernetes service-account tokens, AWS keys, "
                       "GCP service-account keys, Azure service-principal secrets): what, who, from where, which "
                       "ATT&CK techniques. Click a token to open its timeline.",
        "panelsJSON": json.dumps(panels),
        "optionsJSON": json.dumps({"useMargins": True, "syncColors": False, "syncCursor": True,
                                   "syncTooltips": False, "hidePanelTitles": False}),
        "controlGroupInput": {
            "controlStyle": "oneLine", "chainingSystem": "HIERARCHICAL", "panelsJSON": json.dumps(controls),
            "ignoreParentSettingsJSON": json.dumps({"ignoreFilters": False, "ignoreQuery": False,
                                                    "ignoreTimerange": False, "ignoreValidations": False}),
        },
        "timeRestore": True, "timeFrom": "now-7d", "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 60000},
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps({"query": _EMPTY_QUERY, "filter": []})},
        "version": 1,
    }, references)


def saved_objects(config: ElasticsearchConfig | None = None) -> list[dict[str, Any]]:
    """Every saved object, dependencies first (data views, searches, visualizations, dashboard)."""
    config = config or ElasticsearchConfig()
    link = {"id": "url", "params": {"urlTemplate": timeline_url(), "labelTemplate": "{{value}}",
                                    "openLinkInCurrentTab": False}}
    objects = [
        _data_view(ALERTS_VIEW, stream_pattern(config.alerts_data_stream), "tokenhawk alerts",
                   {"token.id": link, "tokenhawk.token.id": link}),
        _data_view(EVENTS_VIEW, stream_pattern(config.events_data_stream), "tokenhawk token events",
                   {"tokenhawk.token.id": link}),
        _search(TIMELINE_SEARCH, "tokenhawk: token timeline (drill-down)", EVENTS_VIEW,
                ["tokenhawk.token.id", "user.name", "event.action", "event.outcome", "source.ip",
                 "user_agent.original", "orchestrator.namespace", "cloud.account.id", "tokenhawk.resource",
                 "http.response.status_code"],
                [["@timestamp", "asc"]],
                "Every indexed request of one token, oldest first. Open it from a token link, or add the filter "
                "tokenhawk.token.id : \"<token>\"."),
        _search(ALERTS_SEARCH, "tokenhawk: alerts", ALERTS_VIEW,
                ["severity", "score", "user.name", "token.id", "source.ip", "technique", "message", "alert.status"],
                [["@timestamp", "desc"]], "Alerts, newest first, with the first reason.", query='alert.status : "open"'),
        *lens_objects(),
    ]
    by_id = {o["id"]: o for o in objects}
    objects.append(dashboard(by_id))
    return objects


def to_ndjson(objects: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(o, option=orjson.OPT_SORT_KEYS) + b"\n" for o in objects)


def read_ndjson(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


# --- structure checks (the tests run them; `kibana import` runs them before sending) --------------

def _panels(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(obj["attributes"]["panelsJSON"])


def problems(objects: list[dict[str, Any]], known: set[tuple[str, str]] | None = None) -> list[str]:
    """Everything wrong with a set of saved objects (empty when they are consistent).

    Checks: id/type/attributes present, (type, id) unique, every reference resolves to an object in
    the set (or in `known`), every dashboard panel has its reference, JSON-in-string attributes parse.
    """
    out: list[str] = []
    present = {(o.get("type"), o.get("id")) for o in objects} | (known or set())
    seen: set[tuple[str, str]] = set()
    for n, obj in enumerate(objects, start=1):
        where = f"object {n} ({obj.get('type')}/{obj.get('id')})"
        for key in ("id", "type", "attributes", "references"):
            if key not in obj:
                out.append(f"{where}: missing {key!r}")
        key = (obj.get("type"), obj.get("id"))
        if key in seen:
            out.append(f"{where}: duplicate id")
        seen.add(key)
        refs = obj.get("references") or []
        names = [r.get("name") for r in refs]
        if len(names) != len(set(names)):
            out.append(f"{where}: duplicate reference names")
        for ref in refs:
            if (ref.get("type"), ref.get("id")) not in present:
                out.append(f"{where}: reference {ref.get('name')} → {ref.get('type')}/{ref.get('id')} does not resolve")
        attrs = obj.get("attributes") or {}
        for name in ("panelsJSON", "optionsJSON", "fieldFormatMap", "fields", "fieldAttrs", "runtimeFieldMap"):
            if name in attrs:
                try:
                    json.loads(attrs[name])
                except (TypeError, ValueError) as exc:
                    out.append(f"{where}: attributes.{name} is not JSON ({exc})")
        meta = (attrs.get("kibanaSavedObjectMeta") or {}).get("searchSourceJSON")
        if meta is not None:
            try:
                source = json.loads(meta)
                if "indexRefName" in source and source["indexRefName"] not in names:
                    out.append(f"{where}: searchSourceJSON.indexRefName has no reference")
            except ValueError as exc:
                out.append(f"{where}: searchSourceJSON is not JSON ({exc})")
        if obj.get("type") == "dashboard" and "panelsJSON" in attrs:
            try:
                panels = _panels(obj)
            except ValueError:
                continue
            indexes = [p.get("panelIndex") for p in panels]
            if len(indexes) != len(set(indexes)):
                out.append(f"{where}: duplicate panelIndex")
            for panel in panels:
                ref_name = f"{panel.get('panelIndex')}:{panel.get('panelRefName')}"
                ref = next((r for r in refs if r.get("name") == ref_name), None)
                if ref is None:
                    out.append(f"{where}: panel {panel.get('panelIndex')} has no reference {ref_name}")
                elif ref.get("type") != panel.get("type"):
                    out.append(f"{where}: panel {panel.get('panelIndex')} is {panel.get('type')} but its reference is {ref.get('type')}")
        if obj.get("type") == "lens":
            layers = attrs.get("state", {}).get("datasourceStates", {}).get("formBased", {}).get("layers", {})
            for layer_id, layer in layers.items():
                if f"indexpattern-datasource-layer-{layer_id}" not in names:
                    out.append(f"{where}: layer {layer_id} has no data view reference")
                if set(layer.get("columnOrder", [])) != set(layer.get("columns", {})):
                    out.append(f"{where}: layer {layer_id} columnOrder does not match its columns")
    return out


def referenced_fields(obj: dict[str, Any]) -> set[str]:
    """Fields a saved object reads (Lens sourceFields, saved search columns and sort, controls)."""
    attrs = obj.get("attributes") or {}
    fields: set[str] = set()
    if obj.get("type") == "lens":
        for layer in attrs["state"]["datasourceStates"]["formBased"]["layers"].values():
            for col in layer["columns"].values():
                if col.get("sourceField") and col["sourceField"] != "___records___":
                    fields.add(col["sourceField"])
    elif obj.get("type") == "search":
        fields.update(attrs.get("columns", []))
        fields.update(s[0] for s in attrs.get("sort", []))
    elif obj.get("type") == "dashboard" and "controlGroupInput" in attrs:
        for ctl in json.loads(attrs["controlGroupInput"]["panelsJSON"]).values():
            fields.add(ctl["explicitInput"]["fieldName"])
    elif obj.get("type") == "index-pattern":
        fields.update(json.loads(attrs.get("fieldFormatMap") or "{}"))
    return fields


def data_view_of(obj: dict[str, Any]) -> str | None:
    for ref in obj.get("references") or []:
        if ref.get("type") == "index-pattern":
            return ref["id"]
    return obj["id"] if obj.get("type") == "index-pattern" else None


# --- import ----------------------------------------------------------------------------------------

def import_objects(kibana: KibanaConfig, es: ElasticsearchConfig, ndjson: bytes, *, url: str | None = None,
                   space: str | None = None, overwrite: bool = True) -> dict[str, Any]:
    """POST the NDJSON to Kibana's saved objects `_import` API; returns Kibana's answer.

    Raises KibanaError when Kibana is unreachable, refuses the request, or reports failed objects.
    """
    import urllib3

    base = (url or kibana.url or "").rstrip("/")
    if not base:
        raise KibanaError("no Kibana URL: pass --url or set elasticsearch.kibana.url (TOKENHAWK_ELASTICSEARCH__KIBANA__URL)")
    space = space or kibana.space
    path = (f"/s/{quote(space, safe='')}" if space and space != "default" else "") + "/api/saved_objects/_import"
    target = f"{base}{path}?overwrite={'true' if overwrite else 'false'}"
    headers = {"kbn-xsrf": "tokenhawk"}
    api_key = kibana.api_key or es.api_key
    username = kibana.username or es.username
    password = kibana.password or es.password
    if api_key is not None:
        headers["Authorization"] = f"ApiKey {api_key.get_secret_value()}"
    elif username:
        basic = urllib3.make_headers(basic_auth=f"{username}:{password.get_secret_value() if password else ''}")
        headers["Authorization"] = basic["authorization"]
    pool_args: dict[str, Any] = {"timeout": urllib3.Timeout(total=kibana.timeout_seconds), "retries": False}
    if base.startswith("https"):
        pool_args["cert_reqs"] = "CERT_REQUIRED" if kibana.verify_certs else "CERT_NONE"
        if kibana.ca_certs:
            pool_args["ca_certs"] = kibana.ca_certs
    http = urllib3.PoolManager(**pool_args)
    try:
        resp = http.request("POST", target, headers=headers,
                            fields={"file": ("tokenhawk.ndjson", ndjson, "application/ndjson")})
    except urllib3.exceptions.HTTPError as exc:
        raise KibanaError(f"Kibana at {base} unreachable: {exc}") from exc
    try:
        body = json.loads(resp.data or b"{}")
    except ValueError:
        body = {"raw": resp.data[:500].decode("utf-8", "replace")}
    if resp.status != 200:
        reason = body.get("message") or body.get("error") or body
        raise KibanaError(f"Kibana refused the import: HTTP {resp.status}: {reason}")
    if not body.get("success", False):
        failed = [f"{e.get('type')}/{e.get('id')}: {(e.get('error') or {}).get('type')}" for e in body.get("errors", [])]
        raise KibanaError(f"Kibana imported {body.get('successCount', 0)} objects; failed: {'; '.join(failed) or body}")
    return body


def default_ndjson_path() -> Path:
    """kibana/tokenhawk.ndjson of a source checkout (may not exist in an installed package)."""
    return Path(__file__).resolve().parents[2] / "kibana" / "tokenhawk.ndjson"
