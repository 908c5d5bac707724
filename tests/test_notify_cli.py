"""`tokenhawk notify ALERTS.jsonl`: configured by env vars or a YAML file, against real local servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from detector.errors import ConfigError, InputError
from notify_servers import PD_ROUTING_KEY, SECRETS, SLACK_PATH, WEBHOOK_SECRET, Receiver, Reply, make_alert
from pipelines.commands import notify as notify_command
from pipelines.settings import load_settings

pytestmark = pytest.mark.timeout(30)


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:  # a group, so the verb is spelled out as in `tokenhawk notify`
        pass

    notify_command.register(app)
    return app


@pytest.fixture
def receivers():
    made = {"slack": Receiver("slack"), "pagerduty": Receiver("pagerduty", Reply(202, b"{}")), "webhook": Receiver("webhook")}
    yield made
    for r in made.values():
        r.close()


@pytest.fixture
def env(tmp_path, receivers, monkeypatch):
    values = {
        "TOKENHAWK_NOTIFY__SLACK__WEBHOOK_URL": receivers["slack"].url(SLACK_PATH),
        "TOKENHAWK_NOTIFY__PAGERDUTY__ROUTING_KEY": PD_ROUTING_KEY,
        "TOKENHAWK_NOTIFY__PAGERDUTY__EVENTS_URL": receivers["pagerduty"].url("/v2/enqueue"),
        "TOKENHAWK_NOTIFY__WEBHOOK__URL": receivers["webhook"].url("/hooks/tokenhawk"),
        "TOKENHAWK_NOTIFY__WEBHOOK__SECRET": WEBHOOK_SECRET,
        "TOKENHAWK_NOTIFY__OUTBOX": str(tmp_path / "outbox.sqlite"),
        "TOKENHAWK_NOTIFY__ROUTES": json.dumps([{"min_severity": "high", "destinations": ["slack", "pagerduty", "webhook"]}]),
        "TOKENHAWK_NOTIFY__TIMEOUT_SECONDS": "0.5",
        "TOKENHAWK_NOTIFY__BACKOFF_INITIAL_SECONDS": "0.02",
        "TOKENHAWK_NOTIFY__BACKOFF_MAX_SECONDS": "0.1",
        "TOKENHAWK_NOTIFY__DRAIN_SECONDS": "3",
    }
    monkeypatch.delenv("TOKENHAWK_CONFIG", raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def write_alerts(path: Path, docs, extra_lines=()) -> Path:
    lines = [json.dumps(d) for d in docs] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*args: str):
    result = CliRunner().invoke(make_app(), ["notify", *args], catch_exceptions=True)
    return result


def summary_of(result) -> dict:
    return json.loads(result.stderr.strip().splitlines()[-1])


def test_configuration_names_are_env_vars(env, receivers):
    cfg = load_settings().notify
    assert cfg.slack.webhook_url.get_secret_value() == receivers["slack"].url(SLACK_PATH)
    assert cfg.pagerduty.routing_key.get_secret_value() == PD_ROUTING_KEY
    assert cfg.pagerduty.events_url == receivers["pagerduty"].url("/v2/enqueue")
    assert cfg.webhook.url == receivers["webhook"].url("/hooks/tokenhawk")
    assert cfg.webhook.secret.get_secret_value() == WEBHOOK_SECRET
    assert cfg.routes[0].min_severity == "high"
    assert cfg.configured() == ["slack", "pagerduty", "webhook"]


def test_defaults_and_unknown_or_bad_keys(monkeypatch, tmp_path):
    monkeypatch.delenv("TOKENHAWK_CONFIG", raising=False)
    cfg = load_settings().notify
    assert cfg.pagerduty.events_url == "https://events.pagerduty.com/v2/enqueue"
    assert cfg.configured() == []
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"notify": {"slack": {"webhook": "https://hooks.slack.com/x"}}}))
    with pytest.raises(ConfigError, match=r"notify\.slack\.webhook: Extra inputs are not permitted"):
        load_settings(bad)
    bad.write_text(yaml.safe_dump({"notify": {"webhook": {"url": "http://h", "secret": "whsec_not base64!"}}}))
    with pytest.raises(ConfigError, match=r"notify\.webhook\.secret: Value error, must be 'whsec_' followed by base64") as err:
        load_settings(bad)
    assert "not base64!" not in str(err.value)  # the rejected secret itself is not echoed


def test_sends_a_file_and_reports_per_destination(env, receivers, tmp_path):
    bad_doc = make_alert(9)
    del bad_doc["severity"]
    alerts = write_alerts(
        tmp_path / "alerts.jsonl",
        [make_alert(1), make_alert(2, severity="high"), make_alert(3, severity="medium")],
        extra_lines=["", "{not json", json.dumps(bad_doc)],
    )
    result = run(str(alerts), "--summary-json", "--quiet")
    assert result.exit_code == 0, result.output
    summary = summary_of(result)
    assert summary["alerts"] == 5 and summary["invalid"] == 2 and summary["not_routed"] == 1
    assert summary["destinations"] == {
        d: {"queued": 2, "duplicate": 0, "skipped": 0, "messages": 1 if d == "slack" else 2, "sent": 2, "retrying": 0, "dead": 0}
        for d in ("pagerduty", "slack", "webhook")
    }
    assert any("alerts.jsonl:5: not JSON" in e for e in summary["errors"])
    assert len(receivers["webhook"].requests) == 2 and len(receivers["slack"].requests) == 1

    again = run(str(alerts), "--summary-json", "--quiet")
    assert again.exit_code == 0
    assert {d: row["duplicate"] for d, row in summary_of(again)["destinations"].items()} == {
        "pagerduty": 2, "slack": 2, "webhook": 2
    }
    assert len(receivers["webhook"].requests) == 2 and len(receivers["pagerduty"].requests) == 2


def test_human_summary_table_has_no_secrets(env, receivers, tmp_path):
    receivers["pagerduty"].script(Reply(400, f"bad routing key {PD_ROUTING_KEY}".encode()))
    alerts = write_alerts(tmp_path / "alerts.jsonl", [make_alert(1)])
    result = run(str(alerts), "--quiet")
    assert result.exit_code == 0
    out = result.stderr
    assert "tokenhawk notify" in out and "pagerduty" in out and "webhook" in out
    assert "dead:" in out and "bad routing key ***" in out
    for secret in SECRETS:
        assert secret not in result.output and secret not in out


def test_dry_run_prints_the_messages_and_sends_and_stores_nothing(env, receivers, tmp_path):
    alerts = write_alerts(tmp_path / "alerts.jsonl", [make_alert(1), make_alert(2)])
    result = run(str(alerts), "--dry-run", "--summary-json")
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_dest = {}
    for line in lines:
        by_dest.setdefault(line["destination"], []).append(line)
    assert len(by_dest["slack"]) == 1 and len(by_dest["slack"][0]["alert_ids"]) == 2  # one digest
    assert [m["payload"]["routing_key"] for m in by_dest["pagerduty"]] == ["***", "***"]
    assert {m["headers"]["webhook-id"] for m in by_dest["webhook"]} == {
        f"msg_{make_alert(i)['alert']['id']}_1" for i in (1, 2)
    }
    assert summary_of(result)["dry_run"] is True
    assert all(not r.requests for r in receivers.values())
    assert not (tmp_path / "outbox.sqlite").exists()
    assert PD_ROUTING_KEY not in result.output


def test_once_does_not_wait_for_retries(env, receivers, tmp_path):
    receivers["webhook"].default = Reply(503, b"maintenance")
    alerts = write_alerts(tmp_path / "alerts.jsonl", [make_alert(1)])
    result = run(str(alerts), "--once", "--summary-json")
    assert result.exit_code == 0
    assert summary_of(result)["destinations"]["webhook"]["retrying"] == 1
    assert len(receivers["webhook"].requests) == 1
    receivers["webhook"].default = Reply(200, b"ok")
    later = run(str(alerts), "--summary-json")  # the next run sends what was left
    assert summary_of(later)["destinations"]["webhook"] == {
        "queued": 0, "duplicate": 1, "skipped": 0, "messages": 1, "sent": 1, "retrying": 0, "dead": 0
    }


def test_yaml_config_file_and_stdin(tmp_path, receivers, monkeypatch):
    monkeypatch.delenv("TOKENHAWK_CONFIG", raising=False)
    config = tmp_path / "tokenhawk.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "notify": {
                    "outbox": str(tmp_path / "o.sqlite"),
                    "webhook": {"url": receivers["webhook"].url("/in"), "secret": WEBHOOK_SECRET},
                    "routes": [{"namespaces": ["pay*"], "destinations": ["webhook"]}],
                }
            }
        )
    )
    docs = "\n".join(json.dumps(make_alert(i, namespace=ns)) for i, ns in enumerate(["payments", "other"]))
    result = CliRunner().invoke(make_app(), ["notify", "-", "--config", str(config), "--summary-json"], input=docs)
    assert result.exit_code == 0, result.output
    assert summary_of(result)["not_routed"] == 1
    assert [r.path for r in receivers["webhook"].requests] == ["/in"]


def test_it_fails_only_when_it_cannot_run(env, tmp_path, monkeypatch):
    missing = run(str(tmp_path / "nope.jsonl"))
    assert missing.exit_code != 0 and isinstance(missing.exception, InputError)
    for key in ("TOKENHAWK_NOTIFY__SLACK__WEBHOOK_URL", "TOKENHAWK_NOTIFY__PAGERDUTY__ROUTING_KEY", "TOKENHAWK_NOTIFY__WEBHOOK__URL"):
        monkeypatch.delenv(key)
    alerts = write_alerts(tmp_path / "alerts.jsonl", [make_alert(1)])
    unconfigured = run(str(alerts))
    assert isinstance(unconfigured.exception, ConfigError)
    assert "no notification destination configured" in str(unconfigured.exception)


def test_gzipped_alert_files(env, receivers, tmp_path):
    import gzip

    path = tmp_path / "alerts.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(make_alert(1)) + "\n")
    result = run(str(path), "--summary-json")
    assert result.exit_code == 0 and summary_of(result)["destinations"]["webhook"]["sent"] == 1
