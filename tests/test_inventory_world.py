"""The inventory on the labelled demo world: what the generator planted is found, drafts are exact.

One world per module (14 days, seed 7 like the demo, at a quarter of the request rates: the
planted credentials — legacy secret tokens, dormant and long-lived keys, rotations — are
entities of the world, not of its traffic volume, so they are all there). The truth comes from
the generator itself (`build_world` for the same seed), not from hand-copied ids.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from typer.testing import CliRunner

from detector.detect.engine import Detector
from detector.event_files import EventWriter
from detector.events import FIELDS
from detector.inventory import Inventory, build, hygiene
from detector.inventory import es as inventory_es
from detector.inventory import snapshot
from detector.inventory.k8s_rbac import api_group
from detector.inventory.least_privilege import collect, drafts_for
from detector.search.templates import leaf_fields
from detector.simulate import generate
from detector.simulate.build import build_world
from detector.simulate.generate import DEFAULT_START
from detector.simulate.timefmt import to_us
from pipelines.cli import app
from pipelines.replay import load_events, replay

DAYS, SEED, SCALE = 14, 7, 0.25
CONTROLLER = "system:serviceaccount:cert-manager:cert-manager"
runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("inventory-world")
    generate(root / "world", days=DAYS, seed=SEED, scale=SCALE)
    events = load_events([str(p) for p in sorted((root / "world").iterdir()) if p.is_dir()], quiet=True)
    with EventWriter(root / "events.parquet") as writer:
        writer.write(events)
    inventory = Inventory()
    detector = Detector(observers=[inventory])
    replay(events, detector, quiet=True)
    report = build(inventory, detector)
    found = hygiene(report, inventory.config)
    truth = build_world(SEED, to_us(DEFAULT_START), DAYS, SCALE)
    labels = json.loads((root / "world" / "labels.json").read_text())["scenarios"]
    return {"root": root, "events": events, "inventory": inventory, "detector": detector, "report": report,
            "findings": found, "truth": truth, "labels": labels}


def _kinds(world, token_id: str) -> set[str]:
    return {f.kind for f in world["findings"] if f.token_id == token_id}


def _used(world) -> set[str]:
    return set(pc.unique(world["events"].column("token_id")).to_pylist())


# --- what the generator planted -----------------------------------------------------------------------

def test_every_planted_legacy_token_is_listed_as_legacy(world):
    planted = [sa.legacy_token_id for sa in world["truth"].sas.values() if sa.legacy_secret]
    assert len(planted) == 3
    for token_id in planted:
        row = world["report"].token(token_id)
        assert row is not None and row.kind == "legacy", token_id
        assert "legacy-k8s-token" in _kinds(world, token_id), token_id


def _long_lived_keys(truth) -> dict[str, tuple[int, int | None]]:
    """Every cloud credential the world created before its logs begin: id → (created, retired or None)."""
    cloud = truth.cloud
    keys = {}
    for user in cloud.users.values():
        for key in user.keys:
            keys[key.key_id] = (key.created, key.active_until)
    for sa in cloud.gcp.values():
        for key_id, created in sa.keys:
            keys[key_id] = (created, None)
    for app_ in cloud.apps.values():
        for key_id, created, _ in app_.keys:
            keys[key_id] = (created, app_.retired.get(key_id))
    return {k: v for k, v in keys.items() if v[0] < truth.start}


def test_every_planted_long_lived_key_is_listed_with_the_right_finding(world):
    truth, report = world["truth"], world["report"]
    planted = _long_lived_keys(truth)
    used = _used(world)
    assert len(planted) >= 9
    for key_id, (_, retired) in planted.items():
        if key_id not in used:
            continue
        row = report.token(key_id)
        assert row is not None and row.long_lived, key_id
        if retired is not None and retired < truth.end:
            # rotated away during the logs: that is rotation evidence, not a finding
            assert row.status in ("revoked", "replaced"), (key_id, row.status)
            assert "long-lived-key" not in _kinds(world, key_id)
        else:
            assert "long-lived-key" in _kinds(world, key_id), key_id


def test_keys_created_during_the_logs_are_young_not_old(world):
    truth, report = world["truth"], world["report"]
    ci = truth.cloud.users["ci-deployer"]
    new = report.token(ci.keys[1].key_id)
    assert new.age_known and new.age_days < 14
    assert "long-lived-key" not in _kinds(world, new.token_id)
    assert report.token(ci.keys[0].key_id).replaced_by == new.token_id
    assert f"{ci.keys[0].key_id} replaced by {new.token_id}" in new.rotation


def test_the_dormant_key_that_wakes_is_found_and_so_is_every_long_silence(world):
    dormant_label = next(s for s in world["labels"] if s["kind"] == "dormant-key-persistence")
    woken = dormant_label["token_ids"][0]
    finding = next(f for f in world["findings"] if f.kind == "dormant-token" and f.token_id == woken)
    assert "still worked" in finding.evidence[0]
    assert finding.facts["woke_at"][:13] == dormant_label["start"][:13]
    # every long-lived credential with a silence of at least dormant_after in the events is listed
    events = world["events"]
    kinds = pc.is_in(events.column("token_kind"), pa.array(["legacy", "access-key", "sa-key", "sp-secret"]))
    table = events.filter(kinds).select(["token_id", "ts"]).sort_by([("token_id", "ascending"), ("ts", "ascending")])
    ids, ts = table.column("token_id").to_pylist(), table.column("ts").to_pylist()
    limit = world["inventory"].dormant_us
    silent = {ids[i] for i in range(1, len(ids)) if ids[i] == ids[i - 1] and ts[i] - ts[i - 1] >= limit}
    assert woken in silent and len(silent) >= 2
    for token_id in silent:
        if world["report"].token(token_id).status in ("revoked", "replaced"):
            continue
        assert "dormant-token" in _kinds(world, token_id), token_id


def test_ci_credentials_used_from_outside_are_found(world):
    truth, report = world["truth"], world["report"]
    ci_sa = truth.sa("platform-ci", "gha-deployer")
    assert "used-outside" in _kinds(world, ci_sa.legacy_token_id)
    gha = truth.cloud.apps["gha-deploy"]
    assert "used-outside" in _kinds(world, gha.keys[0][0])
    assert report.token(ci_sa.legacy_token_id).outside_networks


def test_the_backdoored_app_has_credential_sprawl(world):
    label = next(s for s in world["labels"] if s["kind"] == "azure-sp-new-secret")
    sprawl = [f for f in world["findings"] if f.kind == "credential-sprawl"]
    assert any(f.principal == label["principal"] for f in sprawl)


def test_stale_bound_tokens_of_a_client_that_never_reloads(world):
    stale = {f.principal for f in world["findings"] if f.kind == "stale-bound-token"}
    assert stale == {"system:serviceaccount:payments:fraud-scorer"}


# --- least privilege ---------------------------------------------------------------------------------

def _expected_k8s(events, principal: str) -> set[tuple]:
    """(namespace, verb, resource) the principal was allowed to do: successes, plus 404/409 (authorized,
    then failed) — computed from the events, independently of the inventory."""
    rows = events.filter(pc.equal(events.column("principal"), principal))
    expected = set()
    for action, namespace, outcome, status in zip(*(rows.column(n).to_pylist() for n in
                                                    ("action", "namespace", "outcome", "status_code"))):
        if outcome == "success" or status in (404, 409):
            verb, _, resource = action.partition(":")
            expected.add((namespace, verb, resource))
    return expected


def _granted(documents: list[dict]) -> set[tuple]:
    granted = set()
    for doc in documents:
        if doc["kind"] not in ("Role", "ClusterRole"):
            continue
        namespace = doc["metadata"].get("namespace")
        for rule in doc["rules"]:
            for verb in rule["verbs"]:
                for resource in rule.get("resources", rule.get("nonResourceURLs", [])):
                    granted.add((namespace, verb, resource))
                    if "apiGroups" in rule:
                        assert rule["apiGroups"] == [api_group(resource)], (resource, rule["apiGroups"])
    return granted


def test_controller_role_is_exactly_what_it_used(world):
    expected = _expected_k8s(world["events"], CONTROLLER)
    assert {ns for ns, _, _ in expected} - {None}  # namespaced and cluster-wide use both
    [draft] = drafts_for(world["inventory"], CONTROLLER)
    assert draft.kind == "k8s-rbac"
    assert _granted(draft.documents) == expected
    kinds = [d["kind"] for d in draft.documents]
    assert kinds.count("Role") == kinds.count("RoleBinding") and "ClusterRole" in kinds
    for doc in draft.documents:
        if doc["kind"].endswith("Binding"):
            assert doc["subjects"] == [{"kind": "ServiceAccount", "name": "cert-manager", "namespace": "cert-manager"}]
    assert draft.evidence["active_days"] == 14 and "14 days with activity" in draft.evidence_note


def test_controller_role_from_the_cli_matches_and_windows_narrow_it(world):
    events_path = str(world["root"] / "events.parquet")
    result = runner.invoke(app, ["least-privilege", CONTROLLER, events_path, "--quiet"])
    assert result.exit_code == 0, result.output
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert _granted(documents) == _expected_k8s(world["events"], CONTROLLER)
    assert result.stdout.startswith("# least-privilege draft (k8s-rbac)")
    # a one-day window: exactly that day's use
    since, until = "2026-11-05T00:00:00Z", "2026-11-05T23:59:59Z"
    result = runner.invoke(app, ["least-privilege", CONTROLLER, events_path, "--since", since, "--until", until,
                                 "--format", "json", "--quiet"])
    assert result.exit_code == 0, result.output
    [draft] = json.loads(result.stdout)
    day = world["events"].filter(pc.and_(pc.greater_equal(world["events"].column("ts"), to_us_iso(since)),
                                         pc.less_equal(world["events"].column("ts"), to_us_iso(until))))
    assert _granted(draft["documents"]) == _expected_k8s(day, CONTROLLER)
    assert draft["evidence"]["active_days"] == 1


def to_us_iso(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1_000_000)


def test_irsa_role_policy_lists_the_calls_it_made(world):
    role = "arn:aws:iam::" + world["truth"].cloud.prod + ":role/external-dns-route53"
    [draft] = drafts_for(world["inventory"], role)
    statements = draft.documents[0]["Statement"]
    granted = {a for s in statements for a in s["Action"]}
    rows = world["events"].filter(pc.equal(world["events"].column("principal"), role))
    made = set(pc.unique(rows.column("action")).to_pylist()) - {"sts:GetCallerIdentity"}
    assert granted == made
    assert draft.documents[0]["Version"] == "2012-10-17"


def test_least_privilege_of_an_unknown_principal_says_so(world):
    result = runner.invoke(app, ["least-privilege", "system:serviceaccount:nope:nobody",
                                 str(world["root"] / "events.parquet"), "--quiet"])
    assert result.exit_code != 0
    assert "no events of principal" in str(result.exception)


def test_exact_window_collection_equals_the_observers_aggregates(world):
    exact = collect(world["events"], CONTROLLER)
    [a] = drafts_for(exact, CONTROLLER)
    [b] = drafts_for(world["inventory"], CONTROLLER)
    assert a.documents == b.documents


# --- snapshots, stream documents, Elasticsearch ----------------------------------------------------

def test_state_snapshot_round_trips_and_partitions_merge(world):
    inventory, detector = world["inventory"], world["detector"]
    whole = snapshot.state(inventory, detector)
    restored = Inventory()
    restored.restore(orjson.loads(snapshot_dumps(whole)))
    before = _rows(build(inventory, detector))
    assert _rows(build(restored, detector)) == before
    # two partitions' shares merged back into one inventory give the same view
    halves = [snapshot.state(inventory, detector, keep=lambda k, i=i: hash(k) % 2 == i) for i in (0, 1)]
    merged = Inventory()
    for half in halves:
        merged.restore(orjson.loads(snapshot_dumps(half)))
    assert _rows(build(merged, detector)) == before
    assert drafts_for(merged, CONTROLLER)[0].documents == drafts_for(inventory, CONTROLLER)[0].documents


def _rows(report) -> list[dict]:
    return sorted((dataclasses.asdict(r) for r in report.tokens), key=lambda r: r["key"])


def snapshot_dumps(data) -> bytes:
    return orjson.dumps(data)


def test_compacted_topic_messages(world):
    inventory, detector, report = world["inventory"], world["detector"], world["report"]
    messages = dict(snapshot.messages(inventory, detector, report=report))
    assert len(messages) == len(report.tokens) + len(report.principals)
    legacy = world["truth"].sa("monitoring", "grafana").legacy_token_id
    key = next(k for k in messages if k.endswith(legacy.encode()))
    value = orjson.loads(messages[key])
    assert value["record"] == "token" and value["token_id"] == legacy
    assert "legacy-k8s-token" in {f["kind"] for f in value["findings"]}
    recent = dict(snapshot.messages(inventory, detector, report=report, since=report.as_of - 3_600_000_000))
    assert 0 < len(recent) < len(messages)
    for value in map(orjson.loads, recent.values()):
        # used in the last hour, or a status that changed with time (became idle, dormant, old)
        assert value["record"] == "principal" or value["last_seen"] >= "2026-11-15T22" or value["status"] != "active"
    document = snapshot.document(inventory, detector)
    assert document["summary"]["tokens"] == len(report.tokens)
    assert document["summary"]["findings"] == len(world["findings"])


def test_elasticsearch_documents_use_only_mapped_fields(world):
    report, found = world["report"], world["findings"]
    mapped = set(leaf_fields(inventory_es.mappings()))
    actions = list(inventory_es.actions(report, found))
    assert len(actions) == len(report.tokens) + len(report.principals)
    assert len({a["_id"] for a in actions}) == len(actions)
    with_findings = [a for a in actions if a["_source"]["tokenhawk"]["findings"]["count"]]
    assert len(with_findings) >= len({(f.source, f.tenant, f.token_id or f.principal) for f in found}) - 1
    for action in actions[:2000] + with_findings:
        for path in _paths(action["_source"]):
            assert path in mapped, path


def _paths(doc, prefix=""):
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _paths(value, path + ".")
        elif value is not None:
            yield path


# --- the verbs end to end -----------------------------------------------------------------------------

def test_hygiene_verb_on_the_world(world, tmp_path):
    out = tmp_path / "findings.jsonl"
    result = runner.invoke(app, ["hygiene", str(world["root"] / "events.parquet"), "--format", "json", "--out",
                                 str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(f["kind"], f["token_id"]) for f in lines] == [(f.kind, f.token_id) for f in world["findings"]]
    assert all(set(f) >= {"id", "severity", "score", "evidence", "remediation"} for f in lines)
