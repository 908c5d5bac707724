"""End to end through the command line: `tokenhawk normalize` and `tokenhawk detect` on real files."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from detector.event_files import EventWriter, read_events
from detector.events import FIELDS, SCHEMA
from detector.redact import JWT_RE
from golden import FIXTURES, PUBLIC
from pipelines.cli import app

runner = CliRunner()

# Keys whose values are secrets in the inputs; none of those values may reach any output.
SECRET_KEYS = {
    "token", "sessionToken", "secretAccessKey", "SecretAccessKey", "SessionToken", "clientSecret", "client_secret",
    "secretText", "privateKeyData", "accessToken", "access_token", "idToken", "id_token", "refreshToken",
    "password", "webIdentityToken", "WebIdentityToken", "authorization", "Authorization",
}


def _secret_values(value, found: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SECRET_KEYS and isinstance(item, str) and len(item) >= 8:
                found.add(item)
            _secret_values(item, found)
    elif isinstance(value, list):
        for item in value:
            _secret_values(item, found)
    elif isinstance(value, str) and value[:1] in "{[" and len(value) > 20:
        try:
            _secret_values(json.loads(value), found)  # double-encoded JSON (AKS, LookupEvents)
        except ValueError:
            pass


def secrets_in_inputs(root: Path) -> set[str]:
    found: set[str] = set()
    for path in root.rglob("*"):
        if not path.is_file() or path.suffix == ".md":
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        for chunk in [data] + data.splitlines():
            try:
                _secret_values(json.loads(chunk), found)
            except ValueError:
                continue
    return found


def test_normalize_all_fixtures_to_parquet(tmp_path):
    out = tmp_path / "events.parquet"
    result = runner.invoke(app, ["normalize", str(FIXTURES), "--out", str(out), "--summary-json", "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    table = pq.read_table(out)
    assert table.num_rows == summary["events_total"] > 100
    assert set(summary["events"]) == {"k8s", "aws", "gcp", "azure"}
    # the deliberately malformed fixtures are quarantined with their reason, nothing silently lost
    assert summary["quarantined"]["invalid-json"] >= 1  # c2s-ec2-user-data-malformed.json
    assert summary["quarantined"]["unknown-shape"] >= 1  # falco-fal_01_003.json ({"kind": 0})
    quarantine = [orjson.loads(line) for line in Path(summary["quarantine_file"]).read_bytes().splitlines()]
    assert len(quarantine) == summary["quarantined_total"]
    assert {"reason", "detail", "origin", "raw"} <= set(quarantine[0])
    assert any(q["origin"].endswith("c2s-ec2-user-data-malformed.json:1") for q in quarantine)
    assert summary["skipped"].get("gcp-non-audit-log-entry", 0) >= 1


def test_parquet_round_trip_keeps_every_field(tmp_path):
    result = runner.invoke(app, ["normalize", str(PUBLIC), "--out", str(tmp_path / "a.parquet"), "--quiet"])
    assert result.exit_code == 0, result.output
    first = next(read_events(tmp_path / "a.parquet"))
    assert first.schema == SCHEMA
    # write what we read and read it again: identical, including null handling and timestamps
    with EventWriter(tmp_path / "b.parquet") as writer:
        writer.write(first)
    again = next(read_events(tmp_path / "b.parquet"))
    assert again.equals(first)
    # and through JSON lines
    with EventWriter(tmp_path / "c.jsonl") as writer:
        writer.write(first)
    assert next(read_events(tmp_path / "c.jsonl")).equals(first)


def test_normalize_to_stdout_is_json_lines():
    result = runner.invoke(app, ["normalize", str(PUBLIC / "k8s"), "--quiet"])
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert rows and set(FIELDS) == set(rows[0])
    assert rows[0]["ts"].endswith("Z")


def test_missing_input_is_an_error_not_an_empty_run(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "normalize", str(tmp_path / "nope.log")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_stdin_and_gzip_inputs(tmp_path):
    source = PUBLIC / "k8s" / "elastic-test-audit.log"
    packed = tmp_path / "audit.log.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    from_gzip = runner.invoke(app, ["normalize", str(packed), "--quiet", "--summary-json"])
    from_stdin = runner.invoke(app, ["normalize", "-", "--quiet", "--summary-json"], input=source.read_bytes())
    assert from_gzip.exit_code == from_stdin.exit_code == 0
    count = lambda r: json.loads(r.stderr.strip().splitlines()[-1])["events_total"]  # noqa: E731
    assert count(from_gzip) == count(from_stdin) > 0


def test_no_secret_reaches_any_output(tmp_path):
    """Run normalize and detect over every fixture (with their secret bait) and scan all outputs."""
    secrets = secrets_in_inputs(FIXTURES)
    assert len(secrets) >= 5, "the fixtures must carry secret bait for this test to mean anything"
    outputs = tmp_path / "out"
    n = runner.invoke(app, ["--log-level", "DEBUG", "normalize", str(FIXTURES), "--out", str(outputs / "events.jsonl")])
    d = runner.invoke(app, ["detect", str(FIXTURES), "--out", str(outputs / "alerts.jsonl"), "--learning-period", "1s"])
    assert n.exit_code == 0 and d.exit_code == 0, (n.output, d.output)
    texts = [n.output, d.output] + [p.read_text(errors="replace") for p in outputs.rglob("*") if p.is_file()]
    assert any("quarantine" in p.name for p in outputs.rglob("*")), "quarantine file expected (it holds raw clips)"
    for text in texts:
        assert not JWT_RE.search(text), JWT_RE.search(text).group(0)
        for secret in secrets:
            assert secret not in text, f"secret {secret[:12]}… leaked"
    assert not re.search(r"(?i)bearer\s+[A-Za-z0-9._-]{20,}", "\n".join(texts))


def test_version_and_help():
    assert runner.invoke(app, ["--version"]).stdout.startswith("tokenhawk ")
    help_text = runner.invoke(app, ["--help"]).stdout
    for verb in ("normalize", "detect", "demo", "eval", "train"):
        assert verb in help_text


@pytest.mark.parametrize("seam", [b"", b"\n", b" "])
def test_firehose_concatenated_documents_are_split(tmp_path, seam):
    """A Firehose-delivered S3 object holds JSON values back to back (`{..}{..}`); each is a
    document of its own, with its index in the origin. A single document whose strings hold
    `}{` is not split."""
    from detector.normalize.reader import read_documents

    record = orjson.loads((FIXTURES / "aws" / "access-denied.json").read_bytes())
    record = record["Records"][0] if "Records" in record else record
    first = orjson.dumps({"Records": [record]}, option=orjson.OPT_INDENT_2)
    second = orjson.dumps({"Records": [dict(record, eventID="second-id")]}, option=orjson.OPT_INDENT_2)
    path = tmp_path / "firehose.json"
    path.write_bytes(first + seam + second)
    docs = list(read_documents(str(path)))
    assert [d.origin for d in docs] == [f"{path}:1#0", f"{path}:1#1"]
    assert [orjson.loads(d.data)["Records"][0]["eventID"] for d in docs] == [record["eventID"], "second-id"]

    single = tmp_path / "single.json"
    single.write_bytes(orjson.dumps({"Records": [dict(record, userAgent="odd}{agent} {x")]}, option=orjson.OPT_INDENT_2))
    assert [d.origin for d in read_documents(str(single))] == [f"{single}:1"]
