"""The labelled demo world end to end: every planted attack alerts, benign changes stay quiet.

Uses the session's demo world (tests/hunt_support.py: 14 days, seed 7, generated once and shared
with the notebook tests). These are behaviour assertions on a fixed seed, not speed measurements;
`tokenhawk eval --seeds …` measures the same on other worlds.
"""

from __future__ import annotations

import json

from typer.testing import CliRunner

from detector.alert import Alert
from detector.evaluate import count_token_days, evaluate, load_labels
from hunt_support import demo_world
from pipelines.cli import app


def test_every_attack_alerts_and_no_benign_change_does():
    world = demo_world()
    labels = load_labels(world.labels)
    evaluation = evaluate(world.alert_docs, labels, count_token_days(world.table))
    missed = [s.id for s in evaluation.malicious if not s.caught]
    noisy = [s.id for s in evaluation.benign if s.caught]
    assert len(evaluation.malicious) >= 12 and len(evaluation.benign) >= 8
    assert missed == [], f"attacks without an alert: {missed}"
    assert noisy == [], f"benign changes that alerted: {noisy}"
    assert evaluation.precision >= 0.9, [a["reasons"][:2] for a in world.alert_docs
                                          if a["alert"]["id"] in evaluation.false_alert_ids]
    assert evaluation.false_per_1000_token_days < 1.0
    # attacks are caught early: within an hour of their first request
    assert all(s.minutes_to_detect is not None and s.minutes_to_detect <= 60 for s in evaluation.malicious)
    for alert in world.alert_docs:
        Alert.model_validate(alert)
        assert alert["reasons"] and alert["technique"]


def test_demo_command_runs_end_to_end(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path), "--days", "9", "--scale", "0.3", "--quiet"])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "eval.json").read_text())
    assert {"recall", "precision", "f1", "false_incidents_per_1000_token_days"} <= set(scores)
    assert (tmp_path / "events.parquet").exists() and (tmp_path / "alerts.jsonl").exists()
    assert "detection quality against the world's labels" in result.stderr
