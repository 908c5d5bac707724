"""Cluster lifecycle actions (see `lifecycle`) as the audit events their actors produce.

Pod creation by the owning controller (generateName: no name in the objectRef), binding by the
scheduler, token requests by the kubelet of the pod's node (the new JTI in the
`issued-credential-id` annotation), status patches, deletions by controllers, humans or the
garbage collector, the kubelet's final delete, evictions of a node drain, Argo CD syncs, and the
controllers' follow-up writes.
"""

from __future__ import annotations

import random

from . import catalog
from .k8s_audit import Caller, K8sAudit
from .k8s_traffic import CallerCache, control_plane_ip
from .timefmt import DAY, US
from .world import K8sPrincipal, Node, Pod, Token, Workload, World

_WORKLOAD_RESOURCE = {"Deployment": "deployments", "DaemonSet": "daemonsets", "StatefulSet": "statefulsets"}
_PSA = {"pod-security.kubernetes.io/enforce-policy": "privileged:latest"}


class LifecycleEvents:
    def __init__(self, world: World, audit: K8sAudit, callers: CallerCache, humans: "HumanCallers"):
        self.world, self.audit, self.callers, self.humans = world, audit, callers, humans
        self._i = 0

    def day(self, day: int) -> None:
        world = self.world
        d0, d1 = world.day_start(day), world.day_start(day) + DAY
        rng = world.rng("lifecycle-events", day)
        actions = world.actions
        while self._i < len(actions) and actions[self._i][0] < d1:
            ts, _, kind, *args = actions[self._i]
            self._i += 1
            if ts >= d0:
                getattr(self, "_" + kind.replace("-", "_"))(rng, ts, *args)

    # -- callers --------------------------------------------------------------------------
    def kcm(self, name: str, ts: int) -> Caller:
        cp = self.world.control_plane[name]
        return self.callers.for_token(cp.token_at(ts), cp.ua, control_plane_ip(self.world, ts))

    def kubelet(self, node: Node) -> Caller:
        return Caller(node.principal, node.principal.base_user(), node.ip, catalog.KUBELET_UA, None)

    def argocd(self, ts: int) -> Caller:
        w = self.world.workloads["argocd-application-controller"]
        pod = w.leader(ts) or w.pods[-1]
        return self.callers.for_pod(pod, ts, pod.uas()[0])

    def actor(self, who: str, ts: int) -> Caller:
        if who.startswith("human:"):
            return self.humans.caller(who[6:], ts, kubectl=True)
        if who == "drain":
            return self.humans.caller(self.world.changes["migration_by"], ts, kubectl=True)
        return self.kcm(who, ts)

    # -- pods -----------------------------------------------------------------------------
    def _pod_create(self, rng: random.Random, ts: int, pod: Pod, creator: str) -> None:
        name = pod.name if pod.workload.spec.kind == "StatefulSet" else None
        self.audit.request(rng, ts, self.kcm(creator, ts), "create", "pods", ns=pod.namespace, name=name,
                           extra_ann=_PSA, base_errors=False)

    def _pod_bind(self, rng: random.Random, ts: int, pod: Pod) -> None:
        sched = self.world.special["scheduler"]
        caller = Caller(sched, sched.base_user(), control_plane_ip(self.world, ts), catalog.SCHEDULER_UA, None)
        self.audit.request(rng, ts, caller, "create", "pods", ns=pod.namespace, name=pod.name, sub="binding",
                           base_errors=False)

    def _pod_status(self, rng: random.Random, ts: int, pod: Pod) -> None:
        self.audit.request(rng, ts, self.kubelet(pod.node), "patch", "pods", ns=pod.namespace, name=pod.name,
                           sub="status", base_errors=False)

    def _pod_delete(self, rng: random.Random, ts: int, pod: Pod, actor: str) -> None:
        self.audit.request(rng, ts, self.actor(actor, ts), "delete", "pods", ns=pod.namespace, name=pod.name,
                           base_errors=False)

    def _pod_evict(self, rng: random.Random, ts: int, pod: Pod, actor: str) -> None:
        self.audit.request(rng, ts, self.actor(actor, ts), "create", "pods", ns=pod.namespace, name=pod.name,
                           sub="eviction", base_errors=False)

    def _pod_remove(self, rng: random.Random, ts: int, pod: Pod) -> None:
        # the kubelet deletes the object (grace period 0) once the containers have stopped
        self.audit.request(rng, ts, self.kubelet(pod.node), "delete", "pods", ns=pod.namespace, name=pod.name,
                           base_errors=False)
        # the endpointslice controller drops the pod's address
        if pod.namespace in catalog.APP_NAMESPACES or pod.workload.spec.role == "controller":
            t = ts + int(rng.uniform(0.01, 0.4) * US)
            self.audit.request(rng, t, self.kcm("endpointslice-controller", t), "update", "endpointslices",
                               ns=pod.namespace, name=f"{pod.workload.name}-{pod.uid[:5]}",
                               group="discovery.k8s.io", base_errors=False)

    def _lease_release(self, rng: random.Random, ts: int, pod: Pod) -> None:
        w = pod.workload
        if w.leader(pod.delete_at - 1) is not pod:
            return
        lease_ns, lease_name = w.spec.profile.lease
        caller = self.callers.for_pod(pod, ts, pod.uas()[-1])
        self.audit.request(rng, ts, caller, "update", "leases", ns=lease_ns, name=lease_name,
                           group="coordination.k8s.io", base_errors=False)

    def _token(self, rng: random.Random, ts: int, token: Token, pod: Pod | None) -> None:
        sa = token.sa
        if pod is None:
            kcm = self.world.special["kcm"]
            caller = Caller(kcm, kcm.base_user(), control_plane_ip(self.world, ts),
                            f"{catalog.KCM_UA}/kube-controller-manager", None)
            self.audit.token_request(rng, ts, caller, sa.namespace, sa.name, token.jti, expiration_s=3600)
            return
        exp = 86400 if token.audience == "sts.amazonaws.com" else 3607
        self.audit.token_request(rng, ts, self.kubelet(pod.node), sa.namespace, sa.name, token.jti,
                                 audience=token.audience, expiration_s=exp, bound_pod=(pod.name, pod.uid),
                                 node=(pod.node.name, pod.node.uid))

    # -- workloads ------------------------------------------------------------------------
    def _workload_patch(self, rng: random.Random, ts: int, w: Workload, actor: str) -> None:
        resource = _WORKLOAD_RESOURCE[w.spec.kind]
        if actor != "ci":  # CI deploys are written by the CI job itself (ci_jobs)
            self.audit.request(rng, ts, self.argocd(ts), "patch", resource, ns=w.namespace, name=w.name,
                               group="apps", base_errors=False)
        t = ts + int(rng.uniform(0.02, 0.2) * US)
        if w.spec.kind == "Deployment":
            self.audit.request(rng, t, self.kcm("deployment-controller", t), "create", "replicasets", ns=w.namespace,
                               group="apps", base_errors=False)
            self.audit.request(rng, t + 3000, self.kcm("deployment-controller", t), "update", "deployments",
                               ns=w.namespace, name=w.name, group="apps", sub="status", base_errors=False)
        else:
            ctrl = "statefulset-controller" if w.spec.kind == "StatefulSet" else "daemon-set-controller"
            self.audit.request(rng, t, self.kcm(ctrl, t), "create", "controllerrevisions", ns=w.namespace,
                               group="apps", base_errors=False)

    def _workload_scale(self, rng: random.Random, ts: int, w: Workload, replicas: int) -> None:
        who = self.world.changes["scale_by"]
        self.audit.request(rng, ts, self.humans.caller(who, ts, kubectl=True), "patch", "deployments",
                           ns=w.namespace, name=w.name, group="apps", sub="scale", base_errors=False)

    def _workload_create(self, rng: random.Random, ts: int, w: Workload) -> None:
        caller, ns, name = self.argocd(ts), w.namespace, w.name
        steps = [
            ("serviceaccounts", "", name, None),
            ("roles", "rbac.authorization.k8s.io", name, {"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1",
             "metadata": {"name": name, "namespace": ns},
             "rules": [{"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["configmaps", "secrets", "endpoints"]}]}),
            ("rolebindings", "rbac.authorization.k8s.io", name, {"kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
             "metadata": {"name": name, "namespace": ns},
             "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name}}),
            ("configmaps", "", f"{name}-config", None),
            ("services", "", name, None),
            ("deployments", "apps", name, None),
        ]
        t = ts - int(3 * US)
        for resource, group, obj, body in steps:
            level = "RequestResponse" if body else "Metadata"
            self.audit.request(rng, t, caller, "create", resource, ns=ns, name=obj, group=group, level=level,
                               request_object=body, response_object=body, base_errors=False)
            t += int(rng.uniform(0.05, 0.4) * US)
        self.audit.request(rng, t, self.kcm("deployment-controller", t), "create", "replicasets", ns=ns, group="apps",
                           base_errors=False)

    def _job_create(self, rng: random.Random, ts: int, w: Workload, job: str) -> None:
        self.audit.request(rng, ts, self.kcm("cronjob-controller", ts), "create", "jobs", ns=w.namespace, name=job,
                           group="batch", base_errors=False)
        t = ts + int(rng.uniform(0.01, 0.1) * US)
        self.audit.request(rng, t, self.kcm("cronjob-controller", t), "update", "cronjobs", ns=w.namespace,
                           name=w.name, group="batch", sub="status", base_errors=False)

    def _job_status(self, rng: random.Random, ts: int, w: Workload, job: str) -> None:
        self.audit.request(rng, ts, self.kcm("job-controller", ts), "update", "jobs", ns=w.namespace, name=job,
                           group="batch", sub="status", base_errors=False)

    def _job_delete(self, rng: random.Random, ts: int, w: Workload, job: str) -> None:
        self.audit.request(rng, ts, self.kcm("ttl-after-finished-controller", ts), "delete", "jobs", ns=w.namespace,
                           name=job, group="batch", base_errors=False)

    # -- nodes ----------------------------------------------------------------------------
    def _node_join(self, rng: random.Random, ts: int, node: Node) -> None:
        self.audit.request(rng, ts, self.kubelet(node), "create", "nodes", name=node.name, base_errors=False)

    def _node_drain(self, rng: random.Random, ts: int, node: Node, human: str) -> None:
        caller = self.humans.caller(human, ts, kubectl=True)
        self.audit.request(rng, ts, caller, "patch", "nodes", name=node.name, base_errors=False)
        self.audit.request(rng, ts + int(0.4 * US), caller, "list", "pods",
                           query=f"fieldSelector=spec.nodeName%3D{node.name}", base_errors=False)

    def _node_delete(self, rng: random.Random, ts: int, node: Node) -> None:
        caller = self.humans.caller(self.world.changes["migration_by"], ts, kubectl=True)
        self.audit.request(rng, ts, caller, "delete", "nodes", name=node.name, base_errors=False)


class HumanCallers:
    """OIDC users: where they are (office during the day, home otherwise) and their clients."""

    KUBECTL = {"alice@example.com": "kubectl/v1.30.1 (darwin/arm64) kubernetes/6911225",
               "bob@example.com": "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
               "carol@example.com": "kubectl/v1.30.1 (linux/amd64) kubernetes/6911225"}

    def __init__(self, world: World):
        self.world = world

    def ip(self, name: str, ts: int) -> str:
        hour = (ts // US // 3600) % 24
        day = (ts - self.world.start) // DAY
        at_office = 7 <= hour < 17 and self.world.rng("office", name, day).random() < 0.75
        addr = self.world.addr
        return addr.office_ips[day % 2] if at_office else addr.home_ips[name]

    def caller(self, name: str, ts: int, *, kubectl: bool = False, ip: str | None = None) -> Caller:
        principal: K8sPrincipal = self.world.humans[name]
        ua = self.KUBECTL[name] if kubectl else catalog.HUMANS[name]["ua"]
        return Caller(principal, principal.base_user(), ip or self.ip(name, ts), ua, None)

