"""Model-health helpers: the window replay reproduces the forests' training rows exactly, drift
statistics behave, and the alert tables count what they should."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detect_world import APP, DAY, HOUR, MIN, T0, World, k8s, run
from detector.alert import example_alert
from detector.config import DetectorConfig
from detector.detect.windows import FEATURES
from detector.events import to_table
from detector.hunt import health
from detector.hunt.sources import events_frame

CONFIG = DetectorConfig(learning_period="1d", min_training_windows=50)


@pytest.fixture(scope="module")
def world() -> dict:
    w = World(days=3)
    ts = T0 + 2 * DAY + 10 * HOUR
    stolen = w.app_token_at(ts)
    attack = [k8s(ts + i * MIN, APP, stolen, "list:secrets", ip="185.220.101.47", namespace=ns,
                  ua="kubectl/v1.29.2", pod=w.app_pod, pod_uid=w.app_uid)
              for i, ns in enumerate(["payments", "kube-system", "monitoring", "default"])]
    events = sorted(w.events + attack, key=lambda e: e["ts"])
    _, alerts = run(events, CONFIG)
    frame = events_frame(to_table(events))
    return {"events": frame, "alerts": alerts, "replay": health.replay_windows(frame, CONFIG)}


def test_recorded_windows_are_the_forests_training_rows(world) -> None:
    replay = world["replay"]
    assert set(replay.forests) == {"k8s", "aws"}
    for population, forest in replay.forests.items():
        rows = replay.training_rows(population)
        assert len(rows) == forest.meta["rows"]
        assert health.training_hash(rows) == forest.meta["data_sha256"], population
    w = replay.windows
    assert list(w.columns[:7]) == ["start", "window", "population", "token", "principal", "suspicious", "events"]
    assert set(FEATURES) <= set(w.columns)
    assert (w.loc[w["training"], "start"] < replay.learning_until).all()
    assert w.loc[w["population"].isin(list(replay.forests)), "anomaly"].notna().all()


def test_replay_reproduces_the_alerts(world) -> None:
    comparison = health.compare_alerts(world["alerts"], world["replay"].alerts)
    assert set(comparison["status"]) == {"both"} and (comparison["score_change"] == 0).all()
    fake = dict(example_alert())
    shown = health.compare_alerts([fake], [])
    assert list(shown["status"]) == ["only stored"] and np.isnan(shown.iloc[0]["replayed_score"])


def test_drift_tables(world) -> None:
    replay = world["replay"]
    drift = health.feature_drift(replay)
    assert set(drift["population"]) == {"k8s", "aws"} and set(drift["feature"]) == set(FEATURES)
    assert list(drift["psi"]) == sorted(drift["psi"], reverse=True)
    assert set(drift["shift"].astype(str)) <= {"stable", "moderate", "large"}
    daily = health.drift_over_time(replay, population="aws")
    assert list(daily.columns) == FEATURES and len(daily) == 3
    summary = health.anomaly_summary(replay).set_index("population")
    assert summary.loc["k8s", "threshold_p999"] == replay.forests["k8s"].train_anomaly["p999"]
    assert 0 <= summary.loc["k8s", "later_above_p999"] <= 1


def test_psi_and_ks() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    assert health.psi(x, x) == pytest.approx(0.0, abs=1e-9)
    assert health.psi(x, rng.normal(size=5000)) < 0.1
    assert health.psi(x, rng.normal(loc=2.0, size=5000)) > 0.25
    assert health.psi(np.zeros(100), np.zeros(50)) == pytest.approx(0.0)  # degenerate bins
    assert np.isnan(health.psi([], x))
    assert health.ks_distance(x, x) == 0.0
    assert health.ks_distance([0, 1, 2], [10, 11]) == 1.0


def test_alert_and_event_volume(world) -> None:
    alerts, events = world["alerts"], world["events"]
    volume = health.alert_volume(alerts, start=events["ts"].min(), end=events["ts"].max())
    assert list(volume.columns) == ["low", "medium", "high", "critical"] and len(volume) == 3
    assert volume.to_numpy().sum() == len(alerts)
    assert health.severity_counts(alerts).sum() == len(alerts)
    per_source = health.event_volume(events)
    assert per_source.to_numpy().sum() == len(events) and set(per_source.columns) == {"k8s", "aws"}
    reasons = health.reason_counts(alerts)
    assert "bound-token-ip-mismatch" in set(reasons["kind"]) and reasons["alerts"].max() <= len(alerts)
    assert health.alert_volume([]).empty and health.reason_counts([]).empty


def test_evaluation_tables(world, tmp_path) -> None:
    summary, scenarios = health.evaluation_tables(world["alerts"], None, world["events"])
    assert summary.empty and scenarios.empty
    assert health.evaluation_tables(world["alerts"], tmp_path / "missing.json", world["events"])[0].empty
    stolen = next(a for a in world["alerts"] if a["token"]["principal"] == APP)
    labels = {"scenarios": [{"id": "s1", "kind": "stolen-bound-token", "malicious": True, "source": "k8s",
                             "principals": [APP], "start": stolen["first_seen"], "end": stolen["last_seen"]}]}
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(labels))
    summary, scenarios = health.evaluation_tables(world["alerts"], path, world["events"])
    assert summary.set_index("metric").loc["recall", "value"] == 1.0
    assert list(scenarios["scenario"]) == ["s1"] and scenarios.iloc[0]["alerted"]
