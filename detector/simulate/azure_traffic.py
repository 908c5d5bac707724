"""Everyday Azure activity of three service principals.

- gha-deploy: the deployment pipeline, from GitHub-hosted runners during CI jobs (sign-in, ARM
  deployment, web-app writes);
- monitor-exporter: a monitoring SaaS reading metrics from one fixed address, signing in hourly
  (reads are not in the activity log, so only sign-ins show); its secret is rotated once (benign);
- vm-backup: nightly disk snapshots from the on-prem backup server.
"""

from __future__ import annotations

from .azure_logs import ARM, LOG_ANALYTICS, AzureLogs, SpToken
from .k8s_lifecycle import HumanCallers
from .rand import hex_id
from .schedule import CIJob
from .timefmt import DAY, HOUR, MINUTE, US, iso_seconds
from .world import World

PORTAL_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91")


class AzureTraffic:
    def __init__(self, world: World, logs: AzureLogs):
        self.world, self.logs, self.cloud = world, logs, world.cloud
        self.sub = self.cloud.subscription
        self.humans = HumanCallers(world)

    def rid(self, rg: str, provider: str, name: str) -> str:
        return f"/subscriptions/{self.sub}/resourceGroups/{rg}/providers/{provider}/{name}"

    def day(self, day: int, ci_jobs: list[CIJob]) -> None:
        world = self.world
        d0 = world.day_start(day)
        d1 = min(d0 + DAY, world.end)
        self._monitoring(day, d0, d1)
        self._backup(day, d0)
        self._rotation(d0, d1)
        for job in ci_jobs:
            if d0 <= job.ts < d1 and job.kind == "azure":
                self._deploy(job)

    def _monitoring(self, day: int, d0: int, d1: int) -> None:
        world = self.world
        app = self.cloud.apps["monitor-exporter"]
        ip = world.addr.monitoring_saas_ip
        rng = world.rng("az-monitor", day)
        # one collector per unit of scale, each renewing its ARM token hourly
        for collector in range(max(1, round(world.scale))):
            phase = int(rng.uniform(0, 59) * MINUTE)
            for h in range(24):
                t = d0 + h * HOUR + phase + int(rng.uniform(0, 90) * US)
                if t >= d1:
                    break
                self.logs.signin(rng, t, app, app.key_at(t), ip, ARM)
                if h % 4 == 0:
                    self.logs.signin(rng, t + int(rng.uniform(1, 20) * US), app, app.key_at(t), ip, LOG_ANALYTICS)
        old = app.keys[0][0]
        retired = app.retired.get(old)
        if retired is not None and d0 <= retired < d1:
            # one forgotten replica still configured with the removed secret
            for i in range(2):
                self.logs.signin(rng, retired + (i + 1) * 37 * MINUTE, app, old, ip, ARM, error=7000215)

    def _backup(self, day: int, d0: int) -> None:
        world = self.world
        app = self.cloud.apps["vm-backup"]
        rng = world.rng("az-backup", day)
        t = d0 + 30 * MINUTE + int(rng.uniform(0, 4) * MINUTE)
        ip = world.addr.onprem_ip
        token = self.logs.signin(rng, t, app, app.key_at(t), ip, ARM)
        scope = f"/subscriptions/{self.sub}"
        date = iso_seconds(t)[:10].replace("-", "")
        for vm in ("vm-db-01", "vm-db-02", "vm-files-01"):
            t += int(rng.uniform(2, 15) * US)
            snap = self.rid("rg-backup", "Microsoft.Compute", f"snapshots/{vm}-osdisk-{date}")
            t = self.logs.write(rng, t, token, ip, "Microsoft.Compute/snapshots/write", snap, role="Contributor",
                                scope=scope, status="Created", accept=True)
        for vm in ("vm-db-01", "vm-db-02", "vm-files-01"):
            t += int(rng.uniform(1, 5) * US)
            old = self.rid("rg-backup", "Microsoft.Compute", f"snapshots/{vm}-osdisk-{hex_id(rng, 8)}")
            t = self.logs.write(rng, t, token, ip, "Microsoft.Compute/snapshots/delete", old, role="Contributor",
                                scope=scope, accept=True)

    def _rotation(self, d0: int, d1: int) -> None:
        """The benign rotation of monitor-exporter's secret by an administrator in the portal."""
        world = self.world
        app = self.cloud.apps["monitor-exporter"]
        (old, _, old_name), (new, created, new_name) = app.keys[0], app.keys[1]
        human = "alice@example.com"
        if d0 <= created < d1:
            rng = world.rng("az-rotation", "add")
            ip = self.humans.ip(human, created)
            self.logs.app_secret_change(rng, created, app, [(old, old_name)], [(old, old_name), (new, new_name)], ip,
                                        {"user": {"id": "6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "displayName": None,
                                                  "userPrincipalName": human, "ipAddress": ip, "roles": []}}, PORTAL_UA)
        retired = app.retired.get(old)
        if retired is not None and d0 <= retired < d1:
            rng = world.rng("az-rotation", "remove")
            ip = self.humans.ip(human, retired)
            self.logs.app_secret_change(rng, retired, app, [(old, old_name), (new, new_name)], [(new, new_name)], ip,
                                        {"user": {"id": "6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "displayName": None,
                                                  "userPrincipalName": human, "ipAddress": ip, "roles": []}}, PORTAL_UA)

    def _deploy(self, job: CIJob) -> None:
        world = self.world
        app = self.cloud.apps["gha-deploy"]
        rng = world.rng("az-deploy", job.ts)
        t = job.ts + int(rng.uniform(15, 60) * US)
        token: SpToken | None = self.logs.signin(rng, t, app, app.key_at(t), job.ip, ARM)
        rg, scope = "rg-web-prod", f"/subscriptions/{self.sub}/resourceGroups/rg-web-prod"
        site = rng.choice(("acme-storefront-eu", "acme-storefront-us", "acme-admin"))
        t += int(rng.uniform(2, 10) * US)
        dep = self.rid(rg, "Microsoft.Resources", f"deployments/gha-{rng.randint(10**9, 10**10)}")
        t = self.logs.write(rng, t, token, job.ip, "Microsoft.Resources/deployments/write", dep, role="Contributor",
                            scope=scope, status="OK", accept=True)
        for op in ("Microsoft.Web/sites/write", "Microsoft.Web/sites/config/write", "Microsoft.Web/sites/restart/action"):
            if op.endswith("restart/action") and rng.random() < 0.5:
                continue
            t += int(rng.uniform(0.5, 5) * US)
            t = self.logs.write(rng, t, token, job.ip, op, self.rid(rg, "Microsoft.Web", f"sites/{site}"),
                                role="Contributor", scope=scope)
