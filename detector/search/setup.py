"""`tokenhawk es setup`: install the index design idempotently, and say what the cluster lacks.

Steps, each reported as created / updated / unchanged / skipped:

1. Ask what the cluster can do: ILM (`GET _ilm/policy/<name>`) and the ingest processors of every node
   (`GET _nodes/ingest`). A cluster without ILM (OpenSearch, the Maven-assembled test node, a
   cluster where the user lacks `read_ilm`) gets the templates without `index.lifecycle.name`
   and a warning that retention is not managed; without the `geoip` processor there is no GeoIP
   pipeline and `source.geo` stays empty.
2. Put the GeoIP pipeline, the two ILM policies, the component templates and the index templates.
   Each body carries `_meta.fingerprint`, a hash of its content: an object whose stored
   fingerprint matches is left alone, so a second run changes nothing.
3. Create the two data streams if they do not exist (so Kibana's data views resolve before the
   first document). If a stream existed and one of its templates changed, roll it over: its next
   backing index gets the new mappings and settings (existing documents keep theirs).
4. Check with `_simulate_index` that tokenhawk's template is the one that applies to each stream
   (a user template of higher priority would silently win otherwise).

Everything talks through a `Call` (method, path, body) → (status, body), so the unit tests check
the exact requests a full cluster would get, and the integration tests run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from elasticsearch import ApiError, Elasticsearch

from .client import EsUnavailable, SearchError, describe, is_transient
from .config import ElasticsearchConfig, stream_parts
from .templates import MANAGED_BY, Resource, policy_name, resources

Call = Callable[..., tuple[int, Any]]

_JSON = "application/vnd.elasticsearch+json; compatible-with=8"


def client_call(client: Elasticsearch) -> Call:
    """A `Call` over the official client: API errors become (status, body), outages raise EsUnavailable."""

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"accept": _JSON}
        if body is not None:
            headers["content-type"] = _JSON
        try:
            resp = client.perform_request(method, path, headers=headers, body=body)
            return resp.meta.status, resp.body
        except ApiError as exc:
            return exc.meta.status, exc.body
        except Exception as exc:
            if is_transient(exc):
                raise EsUnavailable(f"Elasticsearch unreachable: {describe(exc)}") from exc
            raise

    return call


@dataclass
class Step:
    kind: str
    name: str
    status: str  # created | updated | unchanged | skipped | rolled-over | failed | would-create | would-update
    detail: str = ""


@dataclass
class SetupReport:
    ilm: bool = False
    ilm_detail: str = ""
    geoip: bool = False
    geoip_detail: str = ""
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # the writes (also in dry runs)

    @property
    def changed(self) -> list[Step]:
        return [s for s in self.steps if s.status not in ("unchanged", "skipped")]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ilm": self.ilm, "ilm_detail": self.ilm_detail, "geoip": self.geoip, "geoip_detail": self.geoip_detail,
            "steps": [s.__dict__ for s in self.steps], "warnings": self.warnings,
        }


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return f"{err.get('type')}: {err.get('reason')}"
        if err:
            return str(err)
    return str(body)[:300]


def detect_ilm(call: Call, policy: str = "tokenhawk.events-policy") -> tuple[bool, str]:
    """Does the cluster run ILM? Asks for one named policy: 200 or 404 means the API is there.

    (Not `GET _ilm/status` or `GET _ilm/policy`: on a node without ILM those paths answer 405,
    which the client's node pool takes for a dead node; a named policy answers 400.)
    """
    status, body = call("GET", f"/_ilm/policy/{policy}")
    if status in (200, 404):
        return True, "ILM is available"
    if status in (401, 403):
        return False, (f"cannot read ILM policies (HTTP {status}: {_error_text(body)}); grant the `read_ilm` and "
                       "`manage_ilm` cluster privileges to manage retention")
    return False, f"this cluster has no ILM (GET _ilm/policy/{policy} → HTTP {status}: {_error_text(body)})"


def detect_processors(call: Call) -> set[str] | None:
    """Ingest processor types every node has (None when the answer is unusable)."""
    status, body = call("GET", "/_nodes/ingest?filter_path=nodes.*.ingest.processors")
    if status != 200 or not isinstance(body, dict):
        return None
    per_node = [{p.get("type") for p in (n.get("ingest") or {}).get("processors", [])}
                for n in (body.get("nodes") or {}).values()]
    if not per_node:
        return set()
    common = per_node[0]
    for types in per_node[1:]:
        common &= types
    return common


def stored_fingerprint(resource: Resource, body: Any) -> str | None:
    """The `_meta.fingerprint` of the stored object, from the GET answer of its kind."""
    try:
        if resource.kind == "component_template":
            meta = body["component_templates"][0]["component_template"].get("_meta")
        elif resource.kind == "index_template":
            meta = body["index_templates"][0]["index_template"].get("_meta")
        elif resource.kind == "ilm_policy":
            meta = body[resource.name]["policy"].get("_meta")
        else:
            meta = body[resource.name].get("_meta")
    except (KeyError, IndexError, TypeError):
        return None
    return (meta or {}).get("fingerprint")


def _own_fingerprint(resource: Resource) -> str:
    body = resource.body["policy"] if resource.kind == "ilm_policy" else resource.body
    return body["_meta"]["fingerprint"]


def setup(call: Call, config: ElasticsearchConfig, *, dry_run: bool = False) -> SetupReport:
    report = SetupReport()
    report.ilm, report.ilm_detail = detect_ilm(call, policy_name(config, config.events_data_stream))
    if not report.ilm:
        report.warnings.append(
            f"{report.ilm_detail}. Installed without lifecycle policies: data streams grow until you delete old "
            "backing indices (DELETE /.ds-logs-tokenhawk.events-default-…), or use a cluster with ILM and run "
            "`tokenhawk es setup` again (it then adds the policies and rolls the streams over)."
        )
    processors = detect_processors(call)
    report.geoip = bool(processors and {"geoip", "rename"} <= processors)
    if not config.geoip:
        report.geoip_detail = "GeoIP disabled in the settings (elasticsearch.geoip=false)"
    elif report.geoip:
        report.geoip_detail = "GeoIP pipeline installed: source.geo.* and source.as.* are filled from source.ip"
    else:
        report.geoip_detail = ("no geoip ingest processor on this cluster: source.geo.* stays empty (the mapping "
                               "is there; run setup again on a cluster with the processor)")
        report.warnings.append(report.geoip_detail)

    changed_streams: set[str] = set()
    for res in resources(config, ilm=report.ilm, geoip=report.geoip):
        status, body = call("GET", res.path)
        stored = stored_fingerprint(res, body) if status == 200 else None
        if stored == _own_fingerprint(res):
            report.steps.append(Step(res.kind, res.name, "unchanged"))
            continue
        verb = "updated" if status == 200 else "created"
        report.requests.append(("PUT", res.path, res.body))
        if dry_run:
            report.steps.append(Step(res.kind, res.name, "would-create" if verb == "created" else "would-update"))
        else:
            status, body = call("PUT", res.path, res.body)
            if status not in (200, 201):
                raise SearchError(f"PUT {res.path} failed: HTTP {status} {_error_text(body)}")
            report.steps.append(Step(res.kind, res.name, verb))
        if res.kind in ("component_template", "index_template", "ilm_policy", "ingest_pipeline"):
            changed_streams.update(_streams_of(res, config))

    for stream in (config.events_data_stream, config.alerts_data_stream):
        status, body = call("GET", f"/_data_stream/{stream}")
        if status == 404:
            report.requests.append(("PUT", f"/_data_stream/{stream}", None))
            if dry_run:
                report.steps.append(Step("data_stream", stream, "would-create"))
                continue
            status, body = call("PUT", f"/_data_stream/{stream}")
            if status not in (200, 201):
                raise SearchError(f"PUT /_data_stream/{stream} failed: HTTP {status} {_error_text(body)}")
            report.steps.append(Step("data_stream", stream, "created"))
        elif status == 200:
            template = ((body.get("data_streams") or [{}])[0]).get("template")
            if stream in changed_streams or template != stream_parts(stream)[1]:
                why = "its templates changed" if stream in changed_streams else f"it was created by template {template!r}"
                report.requests.append(("POST", f"/{stream}/_rollover", None))
                if dry_run:
                    report.steps.append(Step("data_stream", stream, "would-roll-over", why))
                    continue
                status, body = call("POST", f"/{stream}/_rollover")
                if status != 200:
                    raise SearchError(f"POST /{stream}/_rollover failed: HTTP {status} {_error_text(body)}")
                report.steps.append(Step("data_stream", stream, "rolled-over",
                                         f"{why}: new backing index {body.get('new_index')}"))
            else:
                report.steps.append(Step("data_stream", stream, "unchanged"))
        else:
            raise SearchError(f"GET /_data_stream/{stream} failed: HTTP {status} {_error_text(body)}")

    if not dry_run:
        for stream in (config.events_data_stream, config.alerts_data_stream):
            status, body = call("POST", f"/_index_template/_simulate_index/{stream}")
            props = (((body or {}).get("template") or {}).get("mappings") or {}).get("properties") or {}
            if status == 200 and "tokenhawk" not in props:
                report.warnings.append(
                    f"another index template with a higher priority than {config.template_priority} applies to "
                    f"{stream}: raise elasticsearch.template_priority or remove that template"
                )
    return report


def _streams_of(res: Resource, config: ElasticsearchConfig) -> set[str]:
    streams = {config.events_data_stream, config.alerts_data_stream}
    if res.name == "tokenhawk@ecs" or res.kind == "ingest_pipeline":
        return streams
    return {s for s in streams if stream_parts(s)[1] in res.name}


def installed_resources(call: Call) -> dict[str, list[str]]:
    """Names of tokenhawk-managed templates and policies on the cluster (for `es status`)."""
    found: dict[str, list[str]] = {}
    status, body = call("GET", "/_component_template")
    if status == 200:
        found["component_templates"] = sorted(
            t["name"] for t in body.get("component_templates", [])
            if (t["component_template"].get("_meta") or {}).get("managed_by") == MANAGED_BY)
    status, body = call("GET", "/_index_template")
    if status == 200:
        found["index_templates"] = sorted(
            t["name"] for t in body.get("index_templates", [])
            if (t["index_template"].get("_meta") or {}).get("managed_by") == MANAGED_BY)
    return found
