"""`tokenhawk detect` notifies as it goes: a real local webhook receiver gets the signed alert."""

from __future__ import annotations

from typer.testing import CliRunner

from detect_world import APP, DAY, HOUR, MIN, T0, World, k8s
from detector.event_files import EventWriter
from detector.events import to_table
from detector.notify.webhook import verify
from notify_servers import WEBHOOK_SECRET, Receiver
from pipelines.alerts_out import read_alerts
from pipelines.cli import app


def test_detect_sends_alerts_to_the_configured_webhook(tmp_path, monkeypatch):
    world = World()
    ts = T0 + DAY + 5 * HOUR + 3 * MIN
    jti = world.app_token_at(ts)
    events = world.events + [k8s(ts, APP, jti, "get:secrets", ip="185.220.101.47", ua="curl/8.5.0",
                                 namespace="payments", pod=world.app_pod, pod_uid=world.app_uid)]
    with EventWriter(tmp_path / "events.parquet") as writer:
        writer.write(to_table(sorted(events, key=lambda e: e["ts"])))
    receiver = Receiver("webhook")
    try:
        monkeypatch.setenv("TOKENHAWK_NOTIFY__WEBHOOK__URL", receiver.url("/hooks/tokenhawk"))
        monkeypatch.setenv("TOKENHAWK_NOTIFY__WEBHOOK__SECRET", WEBHOOK_SECRET)
        monkeypatch.setenv("TOKENHAWK_NOTIFY__OUTBOX", str(tmp_path / "outbox.sqlite"))
        result = CliRunner().invoke(app, ["detect", str(tmp_path / "events.parquet"), "--out", str(tmp_path / "alerts.jsonl"),
                                          "--learning-period", "1d", "--quiet"])
        assert result.exit_code == 0, result.output
        alerts = read_alerts(tmp_path / "alerts.jsonl")
        assert len(alerts) == 1
        received = receiver.wait_for(1)
        body = received[0].body
        sent = verify(WEBHOOK_SECRET, received[0].headers, body)  # receivers can check who sent it
        assert sent["type"] in ("tokenhawk.alert.opened", "tokenhawk.alert.closed")  # a replay may see it end
        assert sent["data"]["alert"]["id"] == alerts[0]["alert"]["id"]
        assert WEBHOOK_SECRET not in result.output
    finally:
        receiver.close()
