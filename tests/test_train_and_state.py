"""`tokenhawk train` → `detect --models`, and detector snapshots that resume exactly."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from detect_world import APP, DAY, HOUR, MIN, T0, World, k8s
from detector.config import DetectorConfig
from detector.detect.engine import Detector
from detector.detect.snapshot import dumps, loads, restore, snapshot
from detector.event_files import EventWriter
from detector.events import to_table
from pipelines.alerts_out import read_alerts
from pipelines.cli import app


def _world_with_attack() -> list[dict]:
    world = World()
    ts = T0 + DAY + 10 * HOUR + 7 * MIN
    jti = world.app_token_at(ts)
    return sorted(world.events + [
        k8s(ts + i * MIN, APP, jti, "list:secrets", ip="185.220.101.47", namespace=ns,
            ua="kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819", pod=world.app_pod, pod_uid=world.app_uid)
        for i, ns in enumerate(["payments", "kube-system", "monitoring", "default"])
    ], key=lambda e: e["ts"])


def test_train_then_detect_with_the_trained_models(tmp_path):
    events = _world_with_attack()
    history = tmp_path / "history.parquet"
    with EventWriter(history) as writer:
        writer.write(to_table([e for e in events if e["ts"] < T0 + DAY]))
    config = tmp_path / "config.yaml"
    config.write_text("detector:\n  min_training_windows: 50\n  learning_period: 1d\n")
    runner = CliRunner()
    trained = runner.invoke(app, ["train", str(history), "--out", str(tmp_path / "models"), "--config", str(config),
                                  "--trees", "20", "--quiet"])
    assert trained.exit_code == 0, trained.output
    card = (tmp_path / "models" / "CARD.md").read_text()
    assert "k8s" in card and "features (order matters)" in card
    assert (tmp_path / "models" / "k8s.npz").exists() and (tmp_path / "models" / "aws.json").exists()

    full = tmp_path / "events.parquet"
    with EventWriter(full) as writer:
        writer.write(to_table(events))
    detected = runner.invoke(app, ["detect", str(full), "--models", str(tmp_path / "models"), "--config", str(config),
                                   "--out", str(tmp_path / "alerts.jsonl"), "--quiet", "--no-notify"])
    assert detected.exit_code == 0, detected.output
    alerts = read_alerts(tmp_path / "alerts.jsonl")
    assert len(alerts) == 1 and alerts[0]["severity"] == "critical"

    # a tampered model stops the run with a clear error instead of being used
    npz = tmp_path / "models" / "k8s.npz"
    npz.write_bytes(npz.read_bytes()[:-1] + b"!")
    refused = runner.invoke(app, ["detect", str(full), "--models", str(tmp_path / "models"), "--quiet"])
    assert refused.exit_code != 0
    assert "SHA-256" in str(refused.exception)


def test_snapshot_restore_resumes_with_the_same_alerts():
    events = _world_with_attack()
    config = DetectorConfig(learning_period="1d", min_training_windows=50)
    reference = Detector(config)
    expected = {}
    for alert in reference.process(to_table(events)) + reference.flush():
        expected[alert["alert"]["id"]] = alert

    cut = len(events) * 2 // 3
    first = Detector(config)
    got = {a["alert"]["id"]: a for a in first.process(to_table(events[:cut]))}
    blob = dumps(snapshot(first))
    json.loads(blob)  # plain JSON: no pickle anywhere
    second = Detector(config)
    restore(second, loads(blob))
    for alert in second.process(to_table(events[cut:])) + second.flush():
        got[alert["alert"]["id"]] = alert
    assert set(got) == set(expected)
    for alert_id, alert in expected.items():
        assert got[alert_id]["score"] == alert["score"]
        assert [s["kind"] for s in got[alert_id]["tokenhawk"]["signals"]] == [s["kind"] for s in alert["tokenhawk"]["signals"]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_final_alerts_do_not_depend_on_batch_size(seed):
    """The stream feeds the detector whatever a poll returned, the file replay 20k rows at a
    time: the last document of every alert (status included) must be the same either way. The
    dead pod's token is the case that once differed twice:
    - a weak incident waiting to settle is decided as of its settle time even when one batch
      moves the watermark past its pending gap;
    - the forest scored every closed window of a token with an open incident, so one big batch
      (the incident opened before the windows closed) also scored a window of the hours before
      the incident, which small batches had closed before it opened (world 0: revision 3 in
      one batch, 2 in batches of 61). Windows are now scored by what their events saw."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from stream_support import attack_world, detector_config

    events = attack_world(seed=seed)
    reference = _final_alerts(events, detector_config(), 10_000)
    assert {a["token"]["id"] for a in reference.values()} >= {"ASIATEST000000000038", "ctrl-42"}
    for batch in (500, 61, 7):
        assert _final_alerts(events, detector_config(), batch) == reference, f"batches of {batch} end with other alerts"


class _FlagEveryWindow:
    """A stand-in forest that finds every window it scores unusual, one of 4 events more so:
    it makes each window's routing visible in the alerts."""

    def __init__(self, usual: float = 0.51):
        from detector.detect.windows import FEATURES

        self.usual = usual
        self.features, self.meta = list(FEATURES), {}
        self.train_anomaly, self.feature_p99 = {"p999": 0.5}, [0.0] * len(FEATURES)
        self._events = FEATURES.index("events_log")

    def anomaly(self, X):
        import numpy as np

        return np.where(np.isclose(np.expm1(X[:, self._events]), 4), 0.6, self.usual)


def _final_alerts(events, config, batch, forest=None):
    """The last document of every alert of a replay in batches of `batch` rows, with `forest`
    (a stand-in, for every population) or the forests trained online."""
    detector = Detector(config, forests=None if forest is None else {"k8s": forest, "aws": forest})
    table, final = to_table(sorted(events, key=lambda e: e["ts"])), {}
    for offset in range(0, table.num_rows, batch):
        final.update((a["alert"]["id"], a) for a in detector.process(table.slice(offset, batch)))
    final.update((a["alert"]["id"], a) for a in detector.flush())
    return final


def test_forest_signals_reach_their_incident_however_events_are_batched():
    """Two cases a review found (both passed in batches of 7, failed in one batch):
    - a weak incident (the backup key's new program on night 2) whose next event, a day later,
      ends it: in one batch that event came before any window closed, so the forest's signal
      for night 2 went nowhere and there was no alert. Windows that event time has closed are
      now scored before an event may end its token's incident;
    - with an incident_gap shorter than the pending gap, a strong incident not yet emitted in
      the middle of one big batch kept the longer pending gap, so later events joined it."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from detect_world import IAM_USER
    from stream_support import DETECTOR, attack_world

    world = World(days=3)
    events = [dict(e, user_agent="rclone/v1.65.0") if e["principal"] == IAM_USER and e["ts"] >= T0 + DAY else e
              for e in world.events]
    config = DetectorConfig(**DETECTOR, alert_threshold=45)
    reference = _final_alerts(events, config, 100_000, _FlagEveryWindow(usual=0.6))
    backup = [a for a in reference.values() if a["token"]["id"] == "AKIATESTBACKUP000001"]
    assert backup and {"new-user-agent", "unusual-activity-window"} <= {
        s["kind"] for a in backup for s in a["tokenhawk"]["signals"]}
    for batch in (500, 7):
        assert _final_alerts(events, config, batch, _FlagEveryWindow(usual=0.6)) == reference, f"batches of {batch}"

    events = attack_world()
    ts = T0 + DAY + 10 * HOUR
    for minute in (36, 37):  # the app's ordinary use 26-27 min after the attack's last signal
        events.append(k8s(ts + minute * MIN, APP, world.app_token_at(ts), "get:configmaps", ip=world.app_ip,
                          ua="api-server/v1.4.2", namespace="payments", pod=world.app_pod, pod_uid=world.app_uid))
    config = DetectorConfig(**DETECTOR, incident_gap="28m")
    reference = _final_alerts(events, config, 100_000, _FlagEveryWindow())
    for batch in (500, 7):
        assert _final_alerts(events, config, batch, _FlagEveryWindow()) == reference, f"batches of {batch}"


def test_a_windows_forest_signal_never_counts_for_an_incident_opened_after_it():
    """(Second review.) The backup key's incident I ends at 03:01 while its ordinary use goes on;
    at 03:10 a new program opens I2. The window of 03:00 (I's last events) closed, in small
    batches, when the key had no incident; in one batch it closed at the end, and its signal
    lifted I2 over the threshold: a second alert that smaller batches never raised."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from detect_world import IAM_USER, aws
    from stream_support import DETECTOR

    class FiveEvents(_FlagEveryWindow):
        def anomaly(self, X):
            import numpy as np

            return np.where(np.isclose(np.expm1(X[:, self._events]), 5), 0.6, 0.0)

    key, night2 = "AKIATESTBACKUP000001", T0 + DAY + 2 * HOUR

    def backup(ts, ua="aws-sdk-go-v2/1.25.0 os/linux lang/go#1.22 md/GOOS#linux"):
        return aws(ts, IAM_USER, key, "s3:PutObject", ip="198.51.100.20", ptype="IAMUser", kind="access-key",
                   read_only=False, ua=ua)

    events = [e for e in World(days=3).events if not (e["token_id"] == key and night2 <= e["ts"] < night2 + HOUR)]
    events += [backup(night2, ua="rclone/v1.65.0")] + [backup(night2 + m * MIN) for m in range(1, 68)]
    events.append(backup(night2 + 70 * MIN, ua="python-requests/2.31.0"))
    config = DetectorConfig(**DETECTOR, alert_threshold=45, incident_gap="1h")
    reference = _final_alerts(events, config, 1, FiveEvents())
    assert [a["first_seen"] for a in reference.values() if a["token"]["id"] == key] == ["2026-11-03T02:00:00.000000Z"]
    for batch in (7, 500, 100_000):
        assert _final_alerts(events, config, batch, FiveEvents()) == reference, f"batches of {batch}"


def test_an_older_snapshots_suspicious_window_rows_count_as_in_an_incident():
    """Before window flags, a row's "susp" was 0/1 (1: suspicious, which needs an open incident);
    restored, such a row must still make its window one the forest scores for that incident."""
    events = _world_with_attack()
    detector = Detector(DetectorConfig(learning_period="1d", min_training_windows=50))
    detector.process(to_table([e for e in events if e["ts"] <= T0 + DAY + 10 * HOUR + 9 * MIN]))
    data = loads(dumps(snapshot(detector)))
    susp = data["windows"]["susp"]
    assert 3 in susp, "the attack's events are suspicious and in an incident"
    old = dict(data, windows=dict(data["windows"], susp=[1 if v & 1 else 0 for v in susp]))
    del old["window_flags"]
    restored = Detector(DetectorConfig(learning_period="1d", min_training_windows=50))
    restore(restored, old)
    assert restored.window_buffer.rows()["susp"].tolist() == [3 if v & 1 else 0 for v in susp]
