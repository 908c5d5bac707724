"""Helpers of the stream tests (tests/test_stream_*.py): a world with attacks whose evidence
crosses principals, file-mode reference alerts, fresh topics, reading the alerts topic."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import orjson
import yaml

from detect_world import APP, CTRL, CTRL_UA, DAY, HOUR, MIN, ROLE, T0, World, aws, k8s
from detector.config import DetectorConfig
from detector.detect.engine import Detector
from detector.events import to_table
from pipelines.replay import replay
from pipelines.stream.config import KafkaConfig, TopicsConfig

REPO = Path(__file__).resolve().parents[1]
DETECTOR = {"learning_period": "1d", "min_training_windows": 50}
DELETER = "system:serviceaccount:kube-system:replicaset-controller"


class Sent(NamedTuple):
    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None
    headers: list | None


class FakeProducer:
    """A producer that keeps what it was given (unit tests of the publishing side)."""

    def __init__(self, partitions: int = 3):
        self.sent: list[Sent] = []
        self.partitions = set(range(partitions))

    def partitions_for(self, topic):
        return self.partitions

    def send(self, topic, key=None, value=None, partition=None, headers=None):
        self.sent.append(Sent(topic, key, value, partition, headers))

    def flush(self):
        pass

    def values(self, topic: str) -> list[bytes]:
        return [s.value for s in self.sent if s.topic == topic]


def detector_config() -> DetectorConfig:
    return DetectorConfig(**DETECTOR)


def attack_world(days: int = 2, seed: int = 0) -> list[dict]:
    """The detect_world baseline plus four attacks, time-ordered. Two need facts another
    principal produced: the stolen IRSA key (born from the service account's
    AssumeRoleWithWebIdentity) and the dead pod's token (its pod deleted by a controller)."""
    world = World(days=days, seed=seed)
    events = list(world.events)
    # 1. the app's bound token used from a public address, reading secrets everywhere
    ts = T0 + DAY + 10 * HOUR + 7 * MIN
    jti = world.app_token_at(ts)
    events += [k8s(ts + i * MIN, APP, jti, "list:secrets", ip="185.220.101.47", namespace=ns,
                   ua="kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819", pod=world.app_pod, pod_uid=world.app_uid)
               for i, ns in enumerate(["payments", "kube-system", "monitoring", "default"])]
    # 2. the IRSA session key of this hour, from a laptop, doing recon
    ts = T0 + DAY + 14 * HOUR + 20 * MIN
    key = world.irsa_keys[(ts - T0) // HOUR]
    cli = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/sts.get-caller-identity"
    recon = ["sts:GetCallerIdentity", "s3:ListBuckets", "iam:ListRoles", "iam:ListUsers",
             "iam:ListAttachedRolePolicies", "ec2:DescribeInstances"]
    events += [aws(ts + i * MIN, ROLE, key, action, ip="203.0.113.66", ua=cli) for i, action in enumerate(recon)]
    # 3. lateral movement: the app's token from another pod's address
    ts = T0 + DAY + 5 * HOUR + 3 * MIN
    events.append(k8s(ts, APP, world.app_token_at(ts), "get:configmaps", ip="10.244.7.33", ua="api-server/v1.4.2",
                      namespace="payments", pod=world.app_pod, pod_uid=world.app_uid))
    # 4. the controller's pod is deleted by the replicaset controller; its token comes back later
    deleted_at = T0 + DAY + 18 * HOUR + 30 * MIN
    hour = (deleted_at - T0) // HOUR
    events = [e for e in events if not (e["principal"] == CTRL and e["ts"] > deleted_at)]
    events.append(k8s(deleted_at, DELETER, "rs-ctrl", "delete:pods", ip="10.0.1.2", namespace="kube-system",
                      resource="cert-manager-0", read_only=False,
                      ua="kube-controller-manager/v1.29.2 (linux/amd64) kubernetes/abc"))
    events.append(k8s(deleted_at + 2 * HOUR, CTRL, f"ctrl-{hour}", "list:certificates", ip=world.other_ip,
                      ua=CTRL_UA, pod="kube-system/cert-manager-0", pod_uid=f"uid-ctrl-{hour // 12}"))
    return sorted(events, key=lambda e: e["ts"])


def file_mode_alerts(events: list[dict]) -> dict[str, dict]:
    """The reference: `tokenhawk detect`'s replay of the same events (final document per id)."""
    return replay(to_table(events), Detector(detector_config()), quiet=True).alerts


def kafka_config(bootstrap: str, name: str, partitions: int = 3, **overrides) -> KafkaConfig:
    """Settings whose topics and groups no other test uses."""
    from service_fixtures.kafka import fresh_topic

    base = fresh_topic(name)
    topics = TopicsConfig(raw={"k8s": f"{base}.audit.k8s", "aws": f"{base}.audit.aws"}, events=f"{base}.events",
                          facts=f"{base}.facts", alerts=f"{base}.alerts", dlq=f"{base}.dlq", state=f"{base}.state",
                          inventory=f"{base}.inventory")
    values = dict(bootstrap_servers=bootstrap, topics=topics, partitions=partitions, normalize_group=f"{base}-normalize",
                  detect_group=f"{base}-detect", metrics_port=None, snapshot_interval_s=1.0,
                  max_poll_records=500, align_max_wait_s=3.0, session_timeout_ms=6000,
                  client_options={"reconnect_backoff_max_ms": 1000})
    values.update(overrides)
    return KafkaConfig(**values)


def settings_for(config: KafkaConfig):
    from pipelines.settings import load_settings

    return load_settings(kafka=config.model_dump(mode="json"), detector=DETECTOR)


def write_config(path: Path, config: KafkaConfig) -> Path:
    path.write_text(yaml.safe_dump({"kafka": config.model_dump(mode="json"), "detector": DETECTOR}))
    return path


def read_topic(config: KafkaConfig, topic: str, timeout_s: float = 30.0) -> list:
    """Every record of a topic, from the beginning to its end now."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, **config.client_kwargs())
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        records = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end in {timeout_s}s"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def alerts_on_topic(config: KafkaConfig) -> tuple[dict[str, dict], list[str]]:
    """What a consumer keeping the last value per key sees, and every key ever written."""
    records = read_topic(config, config.topics.alerts)
    records.sort(key=lambda r: (r.partition, r.offset))
    latest: dict[str, dict] = {}
    for r in records:
        latest[r.key.decode()] = orjson.loads(r.value)
    return latest, [r.key.decode() for r in records]


def assert_same_alerts(got: dict[str, dict], want: dict[str, dict]) -> None:
    assert sorted(got) == sorted(want), (
        f"alert ids differ: only in stream {sorted(set(got) - set(want))}, only in file mode {sorted(set(want) - set(got))}")
    for alert_id, alert in want.items():
        assert got[alert_id] == alert, f"alert {alert_id} differs:\nstream {got[alert_id]}\nfile   {alert}"


class Tokenhawk(subprocess.Popen):
    """`tokenhawk …` as a child process of this interpreter; its (JSON) log goes to a file, so
    a chatty child never blocks on a full pipe."""

    def __init__(self, log: Path, *args: str):
        self.log_path = log
        self._log = open(log, "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        super().__init__([sys.executable, "-c", "from pipelines.cli import run; run()", *args], cwd=REPO, env=env,
                         stdout=subprocess.PIPE, stderr=self._log)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def report(self, timeout_s: float = 120) -> dict:
        """Wait for a --once run; its end-of-run report (stdout)."""
        out, _ = self.communicate(timeout=timeout_s)
        self._log.close()
        assert self.returncode == 0, self.log()[-4000:]
        return orjson.loads(out.splitlines()[-1])


def tokenhawk(log: Path, *args: str) -> Tokenhawk:
    return Tokenhawk(log, *args)
