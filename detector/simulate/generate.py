"""`generate()`: write a labelled multi-source world of raw audit logs into a directory."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import orjson

from . import benign, scenarios
from .aws_traffic import AwsTraffic
from .azure_logs import AzureLogs
from .azure_traffic import AzureTraffic
from .build import build_world
from .cloudtrail import CloudTrail
from .gcp_audit import GcpAudit
from .gcp_traffic import GcpTraffic
from .k8s_audit import K8sAudit
from .k8s_clients import Clients
from .k8s_lifecycle import HumanCallers, LifecycleEvents
from .k8s_traffic import WorkloadTraffic
from .labels import Label
from .sinks import Output
from .timefmt import iso_micro, to_us

DEFAULT_START = datetime(2026, 11, 2, tzinfo=timezone.utc)
SOURCES = ("k8s", "aws", "gcp", "azure")


@dataclass
class WorldSummary:
    """What `generate` wrote: files per source, counts, and the injected scenarios."""

    out_dir: Path
    seed: int
    days: int
    scale: float
    start: datetime
    end: datetime
    paths: dict[str, list[Path]]
    records: dict[str, int]  # raw records / log lines per source (stage copies included)
    events: dict[str, int]  # requests a normalizer should keep per source (stage copies collapsed)
    tokens_total: int  # distinct machine credentials that were used
    token_days: int  # (credential, day) pairs with traffic
    labels_path: Path
    scenarios: list[dict] = field(default_factory=list)
    entities: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_events(self) -> int:
        return sum(self.events.values())

    @property
    def malicious(self) -> list[dict]:
        return [s for s in self.scenarios if s["malicious"]]

    @property
    def benign(self) -> list[dict]:
        return [s for s in self.scenarios if not s["malicious"]]


def generate(
    out_dir: Path | str,
    *,
    days: int = 14,
    seed: int = 7,
    scale: float = 1.0,
    start: datetime = DEFAULT_START,
    progress: Callable[[int, int], None] | None = None,
) -> WorldSummary:
    """Write `days` days of raw K8s/AWS/GCP/Azure audit logs and `labels.json` into `out_dir`.

    Deterministic for a seed (byte-identical files). `scale` multiplies request rates;
    `progress(done_days, days)` is called after each simulated day. Existing `k8s/`, `aws/`,
    `gcp/`, `azure/` and `labels.json` in `out_dir` are replaced.
    """
    if days < 2:
        raise ValueError("a world needs at least 2 days (one to learn, one to attack)")
    if scale <= 0:
        raise ValueError("scale must be positive")
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    began = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for sub in SOURCES:
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    (out_dir / "labels.json").unlink(missing_ok=True)

    world = build_world(seed, to_us(start), days, scale)
    out = Output(out_dir, world.start, seed, world.end)
    k8s = K8sAudit(world, out)
    trail = CloudTrail(world, out)
    gcp = GcpAudit(world, out)
    azure = AzureLogs(world, out)
    traffic = WorkloadTraffic(world, k8s)
    humans = HumanCallers(world)
    lifecycle = LifecycleEvents(world, k8s, traffic.callers, humans)
    clients = Clients(world, k8s, traffic.resolver, humans)
    aws_traffic = AwsTraffic(world, trail)
    gcp_traffic = GcpTraffic(world, gcp)
    azure_traffic = AzureTraffic(world, azure)
    injector = scenarios.Injector(world, k8s, trail, gcp, azure, traffic, clients, aws_traffic, gcp_traffic, azure_traffic)
    ci_jobs = world.plans["ci"]

    for day in range(days):
        k8s.new_day()
        traffic.day(day)
        lifecycle.day(day)
        clients.day(day, ci_jobs)
        aws_traffic.day(day, ci_jobs)
        gcp_traffic.day(day, ci_jobs)
        azure_traffic.day(day, ci_jobs)
        injector.day(day)
        out.flush(world.day_start(day + 1))
        if progress is not None:
            progress(day + 1, days)
    out.flush(None)

    used = {token for pairs in out.token_days.values() for token, _ in pairs}
    labels: list[Label] = injector.labels() + benign.labels(world, used)
    doc = {
        "seed": seed,
        "start": iso_micro(world.start),
        "end": iso_micro(world.end),
        "days": days,
        "scale": scale,
        "learning_period_days": world.learning_days,
        "tokens_total": out.tokens_total(),
        "token_days": out.token_day_count(),
        "events": dict(out.events),
        "scenarios": [label.to_json() for label in labels],
    }
    labels_path = out_dir / "labels.json"
    labels_path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    paths = {sink.source: sorted(set(sink.paths)) for sink in out.sinks}
    return WorldSummary(
        out_dir=out_dir, seed=seed, days=days, scale=scale, start=start,
        end=datetime.fromtimestamp(world.end / 1e6, tz=timezone.utc),
        paths=paths, records={s: out.records[s] for s in SOURCES}, events={s: out.events[s] for s in SOURCES},
        tokens_total=out.tokens_total(), token_days=out.token_day_count(), labels_path=labels_path,
        scenarios=doc["scenarios"], entities=entity_counts(world), seconds=time.perf_counter() - began,
    )


def entity_counts(world) -> dict[str, int]:
    cloud = world.cloud
    return {
        "nodes": len(world.nodes),
        "namespaces": len({sa.namespace for sa in world.sas.values()}),
        "service_accounts": len(world.sas),
        "workloads": len(world.workloads),
        "pods": len(world.all_pods()),
        "bound_tokens_minted": sum(len(p.tokens) + len(p.sts_tokens) for p in world.all_pods())
        + sum(len(cp.tokens) for cp in world.control_plane.values()),
        "humans": len(world.humans),
        "irsa_roles": len(cloud.irsa),
        "iam_users": len(cloud.users),
        "gcp_service_accounts": len(cloud.gcp),
        "azure_service_principals": len(cloud.apps),
        "ci_jobs": len(world.plans["ci"]),
    }
