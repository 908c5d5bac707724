"""People and pipelines at the cluster: engineers' kubectl sessions and the CI deployer.

Engineers authenticate through OIDC (no service-account token) from the office or from home;
SREs look everywhere, developers stay in application namespaces and now and then hit a 403.
The CI deployer is a service account with a long-lived secret token used from GitHub-hosted
runners: legitimately external, working hours only, a fresh address per job.
"""

from __future__ import annotations

import random

from . import catalog
from .k8s_audit import Caller, K8sAudit
from .k8s_lifecycle import HumanCallers
from .k8s_traffic import Resolver
from .lifecycle import weekday
from .rand import poisson
from .schedule import CIJob
from .timefmt import DAY, HOUR, US
from .world import World

KUBECTL_CI = "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819"
_SRE_NS = ("kube-system", "monitoring", "shop", "payments", "batch", "argocd", "ingress-nginx", "cert-manager")


class Clients:
    def __init__(self, world: World, audit: K8sAudit, resolver: Resolver, humans: HumanCallers):
        self.world, self.audit, self.resolver, self.humans = world, audit, resolver, humans

    def day(self, day: int, ci_jobs: list[CIJob]) -> None:
        world = self.world
        d0 = world.day_start(day)
        for name, info in sorted(catalog.HUMANS.items()):
            rng = world.rng("human", name, day)
            sessions = poisson(rng, 2.0) if weekday(world, day) < 5 else 0
            if info["oncall"]:
                sessions += poisson(rng, 0.3)
            for i in range(sessions):
                if info["oncall"] and i >= sessions - 1 and rng.random() < 0.3:
                    start = d0 + int(rng.uniform(0, 24) * HOUR)  # paged at night
                else:
                    start = d0 + int(rng.uniform(7.5, 17.5) * HOUR)
                self._session(rng, name, start)
        for job in ci_jobs:
            if job.kind == "deploy" and d0 <= job.ts < d0 + DAY:
                self._ci_deploy(job)
        debug = world.changes.get("debug_exec")
        if debug and d0 <= debug < d0 + DAY:
            self._debug_exec(debug)

    def _debug_exec(self, t: int) -> None:
        """During the node migration an SRE checks the CNI agent's log on a new node."""
        world = self.world
        rng = world.rng("debug-exec")
        who = world.changes["migration_by"]
        caller = self.humans.caller(who, t, kubectl=True)
        pods = [p for p in world.workloads["aws-node"].pods if p.start <= t < p.active_end and p.node.pool == "b"]
        pods = pods or [p for p in world.workloads["aws-node"].pods if p.start <= t < p.active_end]
        pod = rng.choice(pods)
        self.audit.request(rng, t, caller, "list", "pods", ns="kube-system", query="labelSelector=k8s-app%3Daws-node&limit=500")
        self.audit.request(rng, t + int(rng.uniform(5, 20) * US), caller, "get", "pods", ns="kube-system", name=pod.name)
        for cmd in ("command=cat&command=%2Fhost%2Fvar%2Flog%2Faws-routed-eni%2Fipamd.log",
                    "command=%2Fapp%2Fgrpc-health-probe&command=-addr%3D%3A50051"):
            t += int(rng.uniform(20, 90) * US)
            self.audit.request(rng, t, caller, "create", "pods", ns="kube-system", name=pod.name, sub="exec", code=101,
                               duration_us=int(rng.uniform(1, 6) * US),
                               query=f"{cmd}&container=aws-node&stderr=true&stdout=true")

    # -- engineers ------------------------------------------------------------------------
    def _session(self, rng: random.Random, name: str, t: int) -> None:
        sre = "sre" in catalog.HUMANS[name]["groups"]
        k9s = name == "carol@example.com" and rng.random() < 0.5
        caller = self.humans.caller(name, t, kubectl=not k9s)
        audit = self.audit
        if rng.random() < 0.25:
            for path in ("/api", "/apis"):
                audit.request(rng, t, caller, "get", None, path=path, query="timeout=32s")
                t += int(rng.uniform(0.02, 0.1) * US)
        for _ in range(rng.randint(3, 15)):
            t += int(rng.uniform(3, 60) * US)
            ns = rng.choice(_SRE_NS if sre else catalog.APP_NAMESPACES)
            if not sre and rng.random() < 0.05:
                ns = rng.choice(("kube-system", "monitoring"))  # forbidden for developers
            code = 403 if (not sre and ns not in catalog.APP_NAMESPACES) else None
            pods = [p for p in self.resolver.app_pods if p.namespace == ns and p.start <= t < p.gone] or \
                   [p for p in self.world.all_pods() if p.namespace == ns and p.start <= t < p.gone]
            pod = rng.choice(pods) if pods else None
            cmd = rng.choices(("get-pods", "describe", "logs", "deploys", "nodes", "top", "exec", "secret", "can-i"),
                              weights=(30, 15, 20, 10, 6 if sre else 1, 5, 2 if sre else 1, 2 if sre else 0.5, 2))[0]
            if cmd == "get-pods" or pod is None:
                audit.request(rng, t, caller, "list", "pods", ns=ns, query="limit=500", code=code)
            elif cmd == "describe":
                audit.request(rng, t, caller, "get", "pods", ns=ns, name=pod.name, code=code)
                audit.request(rng, t + 40_000, caller, "list", "events", ns=ns, code=code,
                              query=f"fieldSelector=involvedObject.name%3D{pod.name}%2CinvolvedObject.namespace%3D{ns}"
                                    f"%2CinvolvedObject.uid%3D{pod.uid}&limit=500")
            elif cmd == "logs":
                audit.request(rng, t, caller, "get", "pods", ns=ns, name=pod.name, code=code)
                audit.request(rng, t + 30_000, caller, "get", "pods", ns=ns, name=pod.name, sub="log", code=code,
                              query=f"container={pod.workload.name}&tailLines=200")
            elif cmd == "deploys":
                audit.request(rng, t, caller, "list", "deployments", ns=ns, group="apps", query="limit=500", code=code)
            elif cmd == "nodes":
                audit.request(rng, t, caller, "list", "nodes", query="limit=500", code=None if sre else 403)
            elif cmd == "top":
                audit.request(rng, t, caller, "list", "pods", ns=ns, group="metrics.k8s.io", version="v1beta1", code=code)
            elif cmd == "exec" and pod.namespace in catalog.APP_NAMESPACES:
                audit.request(rng, t, caller, "get", "pods", ns=ns, name=pod.name)
                dur = int(rng.uniform(20, 600) * US)
                audit.request(rng, t + 50_000, caller, "create", "pods", ns=ns, name=pod.name, sub="exec", code=101,
                              duration_us=dur,
                              query=f"command=sh&container={pod.workload.name}&stdin=true&stdout=true&tty=true")
                t += dur
            elif cmd == "secret":
                sec = rng.choice(("payments-db", "checkout-db", "catalog-db")) if ns in ("payments", "shop") else "argocd-secret"
                audit.request(rng, t, caller, "get", "secrets", ns=ns if ns in ("payments", "shop") else "argocd", name=sec)
            else:
                audit.request(rng, t, caller, "create", "selfsubjectaccessreviews", group="authorization.k8s.io")

    # -- CI ---------------------------------------------------------------------------------
    def ci_caller(self, ip: str) -> Caller:
        sa = self.world.sa("platform-ci", "gha-deployer")
        return Caller(sa.principal, sa.principal.base_user(), ip, KUBECTL_CI, sa.legacy_token_id)

    def _ci_deploy(self, job: CIJob) -> None:
        rng = self.world.rng("ci-k8s", job.ts)
        caller, audit, w = self.ci_caller(job.ip), self.audit, job.target
        t = job.patch_at - int(rng.uniform(1.0, 3.0) * US)
        for path in ("/api", "/apis"):
            audit.request(rng, t, caller, "get", None, path=path, query="timeout=32s")
            t += int(rng.uniform(0.03, 0.15) * US)
        audit.request(rng, t, caller, "get", "deployments", ns=w.namespace, name=w.name, group="apps")
        audit.request(rng, job.patch_at, caller, "patch", "deployments", ns=w.namespace, name=w.name, group="apps",
                      query="fieldManager=kubectl-set", base_errors=False)
        t = job.patch_at + int(rng.uniform(0.3, 1) * US)
        audit.request(rng, t, caller, "get", "deployments", ns=w.namespace, name=w.name, group="apps")
        dur = int(rng.uniform(20, 90) * US)
        audit.request(rng, t + 20_000, caller, "watch", "deployments", ns=w.namespace, group="apps", duration_us=dur,
                      query=f"fieldSelector=metadata.name%3D{w.name}&resourceVersion={audit.rv(t)}&watch=true")
        audit.request(rng, t + dur + 100_000, caller, "list", "pods", ns=w.namespace,
                      query=f"labelSelector=app%3D{w.name}&limit=500")
