"""The labelled world generator (detector.simulate): determinism, formats, labels, leaks, volume.

Most tests use a small two-day world; one module-scoped fixture builds the full default world
(14 days, scale 1) once, for the checks that need the whole timeline.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from detector.simulate import WorldSummary, generate
from detector.simulate.__main__ import main as cli_main

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 2, tzinfo=timezone.utc)
SMALL = dict(days=2, seed=11, scale=0.3)


# ------------------------------------------------------------------------------- helpers
def file_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def ts(text: str) -> datetime:
    text = text.replace("Z", "+00:00")
    m = re.match(r"(.*\.\d{6})\d*(\+00:00)$", text)  # Python parses at most microseconds
    return datetime.fromisoformat(m.group(1) + m.group(2) if m else text)


def records(root: Path):
    """(source, record) for every record of every file, parsed in its delivery format."""
    for path in sorted((root / "k8s").glob("*.log")):
        for line in path.read_bytes().splitlines():
            yield "k8s", orjson.loads(line)
    for path in sorted((root / "aws").rglob("*.json.gz")):
        for rec in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]:
            yield "aws", rec
    for path in sorted((root / "gcp").rglob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            yield "gcp", orjson.loads(line)
    for path in sorted((root / "azure").rglob("PT1H.json")):
        for rec in orjson.loads(path.read_bytes())["records"]:
            yield "azure", rec


def record_time(source: str, rec: dict) -> datetime:
    if source == "k8s":
        return ts(rec["requestReceivedTimestamp"])
    if source == "aws":
        return ts(rec["eventTime"])
    if source == "gcp":
        return ts(rec["timestamp"])
    return ts(rec["time"])


def identity(source: str, rec: dict) -> tuple[str | None, str | None]:
    """(principal, token id) as DESIGN.md's identity table derives them."""
    if source == "k8s":
        user = rec.get("user") or {}
        extra = user.get("extra") or {}
        cred = (extra.get("authentication.kubernetes.io/credential-id") or [""])[0]
        if cred.startswith("JTI="):
            return user.get("username"), cred[4:]
        for key, value in (rec.get("annotations") or {}).items():
            if key.startswith("authentication.k8s.io/legacy-token-") and key.endswith("-secret"):
                ns = user["username"].split(":")[2]
                return user.get("username"), f"secret:{ns}/{value}"
        return user.get("username"), None
    if source == "aws":
        ident = rec["userIdentity"]
        principal = ident.get("arn")
        if ident.get("type") == "AssumedRole":
            principal = ident["sessionContext"]["sessionIssuer"]["arn"]
        return principal, ident.get("accessKeyId")
    if source == "gcp":
        auth = (rec.get("protoPayload") or {}).get("authenticationInfo") or {}
        principal = auth.get("principalEmail") or auth.get("principalSubject")
        key = auth.get("serviceAccountKeyName")
        if key:
            return principal, key.rsplit("/", 1)[1]
        return principal, f"oauth:{principal}" if principal else None
    props = rec.get("properties") or {}
    if rec.get("category") == "ServicePrincipalSignInLogs":
        return props.get("appId"), props.get("servicePrincipalCredentialKeyId")
    appid = (((rec.get("identity") or {}).get("claims")) or {}).get("appid")
    return appid, f"app:{appid}" if appid else None


class Scan:
    """One pass over a world's records: who used which token when, and the K8s token lineage."""

    def __init__(self, root: Path):
        self.tokens: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        self.principals: set[tuple[str, str]] = set()
        self.jtis_per_pod: dict[str, set[str]] = defaultdict(set)
        self.pod_bound_jtis: set[str] = set()
        self.issued: set[str] = set()
        for source, rec in records(root):
            principal, token = identity(source, rec)
            if principal:
                self.principals.add((source, principal))
            if token:
                self.tokens[(source, token)].append(record_time(source, rec))
            if source == "k8s":
                extra = rec["user"].get("extra") or {}
                if "authentication.kubernetes.io/pod-uid" in extra:
                    self.jtis_per_pod[extra["authentication.kubernetes.io/pod-uid"][0]].add(token)
                    self.pod_bound_jtis.add(token)
                issued = (rec.get("annotations") or {}).get("authentication.kubernetes.io/issued-credential-id")
                if issued:
                    self.issued.add(issued[4:])


def blank_secrets(obj):
    """The record with the fields that may carry secret values emptied."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if key in ("sessionToken", "secretAccessKey", "token") and isinstance(value, str):
                out[key] = ""
            else:
                out[key] = blank_secrets(value)
        return out
    if isinstance(obj, list):
        return [blank_secrets(v) for v in obj]
    return obj


def collect_secrets(obj, found: set[str]) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("sessionToken", "secretAccessKey", "token") and isinstance(value, str) and value:
                found.add(value)
            else:
                collect_secrets(value, found)
    elif isinstance(obj, list):
        for v in obj:
            collect_secrets(v, found)


# ------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def small(tmp_path_factory) -> WorldSummary:
    return generate(tmp_path_factory.mktemp("small"), **SMALL)


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> WorldSummary:
    return generate(tmp_path_factory.mktemp("full"))


@pytest.fixture(scope="module")
def full_scan(full) -> Scan:
    return Scan(full.out_dir)


# ------------------------------------------------------------------------------- determinism
def test_same_seed_is_byte_identical_across_processes(small, tmp_path):
    # another interpreter with another string-hash seed: no output may depend on set/dict hashing
    code = (
        "import sys; from detector.simulate import generate; "
        f"generate(sys.argv[1], days={SMALL['days']}, seed={SMALL['seed']}, scale={SMALL['scale']})"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env, cwd=REPO)
    assert file_digests(tmp_path) == file_digests(small.out_dir)


def test_generate_replaces_previous_output(small, tmp_path):
    generate(tmp_path, days=2, seed=5, scale=0.2)
    generate(tmp_path, **SMALL)  # same directory, other world first: nothing of it may remain
    assert file_digests(tmp_path) == file_digests(small.out_dir)


def test_different_seed_gives_a_different_world(small, tmp_path):
    other = generate(tmp_path, days=2, seed=12, scale=0.3)
    assert file_digests(tmp_path) != file_digests(small.out_dir)
    ours = {s["id"]: s["token_ids"] for s in small.scenarios}
    theirs = {s["id"]: s["token_ids"] for s in other.scenarios}
    assert ours.keys() == theirs.keys()
    assert ours != theirs


# ------------------------------------------------------------------------------- formats
def test_every_file_parses_in_its_delivery_format(small):
    root = small.out_dir
    assert {p.name for p in root.iterdir()} == {"k8s", "aws", "gcp", "azure", "labels.json"}
    assert sorted(p.name for p in (root / "k8s").iterdir()) == ["audit-2026-11-02.log", "audit-2026-11-03.log"]
    name = re.compile(r"^(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8})T(\d{4})Z_[A-Za-z0-9]{16}\.json\.gz$")
    for path in (root / "aws").rglob("*.json.gz"):
        m = name.match(path.name)
        assert m, path.name
        account, _, day, _ = m.groups()
        assert path.relative_to(root / "aws").parts[:4] == (account, day[:4], day[4:6], day[6:])
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    stages, sources = Counter(), Counter()
    for source, rec in records(root):
        sources[source] += 1
        if source == "k8s":
            assert rec["kind"] == "Event" and rec["apiVersion"] == "audit.k8s.io/v1"
            assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", rec["auditID"])
            stages[rec["stage"]] += 1
            assert rec["requestURI"].startswith("/")
            assert rec["stage"] == "RequestReceived" or "code" in rec["responseStatus"]
        elif source == "aws":
            assert rec["eventVersion"].startswith("1.")
            assert rec["eventSource"].endswith(".amazonaws.com") and rec["eventName"]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rec["eventTime"])
            assert isinstance(rec["readOnly"], bool) and rec["recipientAccountId"]
        elif source == "gcp":
            assert rec["insertId"] and rec["resource"]["labels"]["project_id"]
            if "protoPayload" in rec:
                assert rec["protoPayload"]["@type"] == "type.googleapis.com/google.cloud.audit.AuditLog"
                assert "%2F" in rec["logName"] and "/logs/cloudaudit.googleapis.com" in rec["logName"]
                assert rec["protoPayload"]["requestMetadata"]["callerIp"]
            else:
                assert "textPayload" in rec
        else:
            assert rec["category"] in ("Administrative", "ServicePrincipalSignInLogs", "AuditLogs")
            assert rec["time"].endswith("Z") and rec["operationName"]
    assert all(sources[s] > 0 for s in ("k8s", "aws", "gcp", "azure"))
    assert {"RequestReceived", "ResponseStarted", "ResponseComplete"} <= set(stages)


def test_k8s_records_look_like_a_real_api_server(small):
    rr = complete = watch_started = watch_complete = issued = unauth = 0
    legacy = set()
    for source, rec in records(small.out_dir):
        if source != "k8s":
            continue
        ann = rec.get("annotations") or {}
        if rec["stage"] == "RequestReceived":
            rr += 1
            assert "responseStatus" not in rec
        elif rec["stage"] == "ResponseComplete":
            complete += 1
        if rec["verb"] == "watch":
            watch_started += rec["stage"] == "ResponseStarted"
            watch_complete += rec["stage"] == "ResponseComplete"
        if rec.get("objectRef", {}).get("subresource") == "token" and rec["stage"] == "ResponseComplete":
            if rec["responseStatus"]["code"] == 201:
                issued += 1
                assert re.fullmatch(r"JTI=[0-9a-f-]{36}", ann["authentication.kubernetes.io/issued-credential-id"])
        if rec["user"] == {}:
            unauth += 1
            assert rec["responseStatus"]["code"] == 401 and "annotations" not in rec
        for key, value in ann.items():
            if key.startswith("authentication.k8s.io/legacy-token-"):
                legacy.add(value)
                assert "extra" not in rec["user"]
        extra = rec["user"].get("extra") or {}
        if "authentication.kubernetes.io/pod-name" in extra:
            assert set(extra) >= {"authentication.kubernetes.io/credential-id", "authentication.kubernetes.io/pod-uid",
                                  "authentication.kubernetes.io/node-name"}
    assert 0.02 < rr / complete < 0.12  # RequestReceived copies for writes only (~5%)
    assert watch_started and abs(watch_started - watch_complete) <= watch_complete * 0.05
    assert issued > 100  # the kubelet's refreshes
    assert len(legacy) == 3  # two auto-generated secret tokens, one manual (the CI deployer's)


def test_bound_tokens_rotate_per_pod_and_their_issuance_is_logged(full, full_scan):
    per_pod = full_scan.jtis_per_pod
    hours = full.days * 24
    assert [jtis for jtis in per_pod.values() if len(jtis) > hours * 0.5], \
        "pods that live through the world hold a new JTI about every 48 minutes"
    assert max(len(j) for j in per_pod.values()) < hours * 1.5
    # all but the tokens current when the capture starts were minted inside it, visibly
    used = full_scan.pod_bound_jtis
    assert len(used - full_scan.issued) < 0.02 * len(used)


# ------------------------------------------------------------------------------- labels
def test_labels_document(full):
    doc = orjson.loads(full.labels_path.read_bytes())
    assert doc["seed"] == 7 and doc["learning_period_days"] == 7 and doc["days"] == 14
    assert ts(doc["start"]) == START and ts(doc["end"]) == START + timedelta(days=14)
    assert doc["tokens_total"] == full.tokens_total > 10_000
    assert doc["token_days"] == full.token_days >= full.tokens_total
    scenarios = doc["scenarios"]
    assert len({s["id"] for s in scenarios}) == len(scenarios)
    malicious = [s for s in scenarios if s["malicious"]]
    benign = [s for s in scenarios if not s["malicious"]]
    assert len(malicious) == 12 and len({s["kind"] for s in malicious}) == 12
    assert {s["source"] for s in malicious} == {"k8s", "aws", "gcp", "azure"}
    assert len(benign) >= 7
    assert {"client-upgrade", "node-pool-migration", "api-brownout", "new-workload", "scale-out",
            "access-key-rotation", "ci-egress-change"} <= {s["kind"] for s in benign}
    learned = START + timedelta(days=doc["learning_period_days"])
    for s in malicious:
        assert ts(s["start"]) >= learned + timedelta(days=1), s["id"]
        assert ts(s["start"]) <= ts(s["end"]) < START + timedelta(days=14)
        assert s["token_ids"] and s["principal"] and s["techniques"] and s["description"]
        assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in s["techniques"])
        assert 1 <= s["events"] <= 500


def test_labelled_tokens_and_principals_are_in_the_records(full, full_scan):
    tokens, principals = full_scan.tokens, full_scan.principals
    for s in full.scenarios:
        source = s["source"]
        for token in s["token_ids"]:
            sources = [source] if source else ["k8s", "aws", "gcp", "azure"]
            assert any((src, token) in tokens for src in sources), (s["id"], token)
        if s["principal"] not in (None, "*"):
            assert (source, s["principal"]) in principals, (s["id"], s["principal"])
        if s["malicious"]:
            # the scenario's own traffic is inside its labelled span
            lo, hi = ts(s["start"]), ts(s["end"])
            hits = [t for token in s["token_ids"] for t in tokens.get((source, token), []) if lo <= t <= hi]
            assert hits, s["id"]


def test_time_range_is_the_requested_days(small):
    lo, hi = START, START + timedelta(days=2)
    seen = [record_time(source, rec) for source, rec in records(small.out_dir)]
    assert lo <= min(seen) and max(seen) < hi
    assert max(seen) - min(seen) > timedelta(days=1, hours=23)
    for source, rec in records(small.out_dir):
        if source == "k8s":
            assert ts(rec["stageTimestamp"]) < hi


def test_short_worlds_still_hold_every_scenario(small):
    assert len(small.malicious) == 12 and len(small.benign) >= 7
    assert all(ts(s["start"]) >= START + timedelta(days=1) for s in small.malicious)


# ------------------------------------------------------------------------------- secrets
def test_secret_values_appear_only_in_their_secret_fields(small):
    secrets: set[str] = set()
    leak_bait = 0
    for source, rec in records(small.out_dir):
        collect_secrets(rec, secrets)
        if source == "k8s" and (rec.get("responseObject") or {}).get("status", {}).get("token"):
            leak_bait += 1
            assert rec["level"] == "RequestResponse"
    assert leak_bait > 0, "a debugging window logs TokenRequest bodies: the normalizer's leak test"
    assert any(s.startswith("IQoJb3JpZ2luX2Vj") for s in secrets)  # STS session tokens
    assert any(s.count(".") == 2 and s.startswith("eyJ") for s in secrets)  # K8s token bodies
    word = re.compile(r"[A-Za-z0-9+/=_-]{16,}(?:\.[A-Za-z0-9+/=_-]+)*")
    for source, rec in records(small.out_dir):
        text = orjson.dumps(blank_secrets(rec)).decode()
        leaked = set(word.findall(text)) & secrets
        assert not leaked, (source, sorted(leaked)[0][:20])
    # Azure logs name client secrets by key id only
    for path in (small.out_dir / "azure").rglob("*.json"):
        body = path.read_text()
        assert not re.search(r'"(secretText|clientSecret|client_secret|password)"\s*:', body)


# ------------------------------------------------------------------------------- volume
def test_full_world_volume_and_speed(full):
    assert 200_000 <= full.total_events <= 320_000
    assert full.events["k8s"] > full.events["aws"] > full.events["gcp"] > full.events["azure"] > 500
    assert full.records["k8s"] > full.events["k8s"]  # stage copies
    assert full.seconds < 40  # ~10 s on one core; generous for loaded CI machines
    e = full.entities
    assert e["nodes"] == 12 and e["namespaces"] >= 8 and e["service_accounts"] >= 40
    assert e["irsa_roles"] == 3 and e["gcp_service_accounts"] >= 3 and e["azure_service_principals"] == 3


def test_volume_grows_with_scale(small, tmp_path):
    bigger = generate(tmp_path, days=2, seed=11, scale=0.9)
    ratio = bigger.total_events / small.total_events
    assert 2.0 < ratio < 3.3  # 3x the request rates; token refreshes and pod churn do not scale
    # scale changes volume, not the incidents (a stolen IRSA session may be another one of the pod's)
    def incidents(summary):
        return [(s["id"], s["kind"], s["principal"], s["start"][:13]) for s in summary.scenarios]

    assert incidents(bigger) == incidents(small)


# ------------------------------------------------------------------------------- CLI
def test_module_cli(tmp_path, capsys):
    assert cli_main([str(tmp_path), "--days", "2", "--seed", "3", "--scale", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "s01-stolen-bound-token" in out and (tmp_path / "labels.json").exists()


def test_rejects_nonsense_arguments(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, days=1)
    with pytest.raises(ValueError):
        generate(tmp_path, days=2, scale=0)
    with pytest.raises(ValueError):
        generate(tmp_path, days=2, start=datetime(2026, 11, 2))
