"""Plans shared by several log families: CI pipeline runs and human working sessions.

A CI job runs on a GitHub-hosted runner: one public address for the job, drawn from the runner
pool of its era. Deploy jobs push an image to ECR with the CI IAM user's key, then roll the
application with the cluster's CI token from the same address; Terraform jobs use the GCP key;
Azure jobs the deploy service principal. That coupling is what real pipelines leave in logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lifecycle import weekday, working_time
from .rand import poisson
from .timefmt import MINUTE, US
from .world import Workload, World


@dataclass
class CIJob:
    ts: int  # the job starts
    kind: str  # deploy | build | terraform | azure
    ip: str
    duration: int
    target: Workload | None = None
    patch_at: int | None = None  # deploy jobs: when kubectl patches the deployment


def runner_ip(world: World, rng, ts: int) -> str:
    switch = world.changes.get("ci_pool_switch")
    pool = world.addr.ci_pools[1 if switch is not None and ts >= switch else 0]
    return rng.choice(pool)


def plan_ci(world: World) -> list[CIJob]:
    jobs: list[CIJob] = []
    for ts, _, kind, *args in world.actions:
        if kind == "workload-patch" and args[1] == "ci":
            rng = world.rng("ci-deploy", ts)
            start = ts - int(rng.uniform(3, 8) * MINUTE)
            jobs.append(CIJob(start, "deploy", runner_ip(world, rng, start), ts - start + int(rng.uniform(40, 120) * US),
                              target=args[0], patch_at=ts))
    for day in range(world.days):
        if weekday(world, day) >= 5:
            continue
        rng = world.rng("ci-plan", day)
        for kind, mean in (("build", 6.0), ("terraform", 1.5), ("azure", 2.0)):
            for _ in range(poisson(rng, mean)):
                start = working_time(world, rng, day, 7.5, 18.0)
                jobs.append(CIJob(start, kind, runner_ip(world, rng, start), int(rng.uniform(2, 9) * MINUTE)))
    jobs.sort(key=lambda j: j.ts)
    return jobs
