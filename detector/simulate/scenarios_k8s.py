"""Kubernetes token-misuse scenarios.

Each scenario acts like the intruder it stands for: real clients (kubectl, curl, python
clients, or the victim's own client), permissions that really decide the outcome (a web app's
token is refused cluster-wide reads), tokens that really are valid (a token of a terminating pod
works until the pod object is gone, then the server answers 401 with no user).
"""

from __future__ import annotations

import random

from . import catalog
from .k8s_audit import Caller, K8sAudit
from .net import attacker_ip
from .rand import uuid4
from .scenario_base import KUBECTL_UAS, SCRIPT_UAS, Scenario, alive_pods, token_caller
from .schedule import runner_ip
from .timefmt import MINUTE, US, iso_micro
from .world import Pod, ServiceAccount, Token, World, new_sa

RBAC = "rbac.authorization.k8s.io"


def own_names(w, resource: str) -> list[str]:
    names = []
    for op in w.spec.profile.ops + w.spec.profile.start_ops:
        if op.resource == resource:
            names += [n for n in op.names if not n.startswith(("@", "$"))]
    return sorted(set(names))


def discovery(audit: K8sAudit, rng: random.Random, sc: Scenario, t: int, caller: Caller) -> int:
    for path in ("/api", "/apis"):
        audit.request(rng, sc.mark(t), caller, "get", None, path=path, query="timeout=32s")
        t += int(rng.uniform(0.02, 0.2) * US)
    return t


def step(rng: random.Random, t: int, lo: float = 1.0, hi: float = 15.0) -> int:
    return t + int(rng.uniform(lo, hi) * US)


def pick_victim_pod(world: World, rng: random.Random, ts: int, *, roles=("webapp", "worker"), stay_us: int = 0,
                    namespaces=catalog.APP_NAMESPACES) -> Pod:
    """An application pod alive at `ts` that stays up as long as possible (up to `stay_us`)."""
    for stay in (stay_us, stay_us // 4, 10 * MINUTE, 0):
        pods = [p for p in alive_pods(world, ts, roles=roles, min_left_us=stay)
                if p.namespace in namespaces and not p.workload.spec.stale_token and not p.workload.spec.introduced]
        if pods:
            return rng.choice(sorted(pods, key=lambda p: p.name))
    pods = [p for p in alive_pods(world, ts) if not p.workload.spec.host_network]
    return rng.choice(sorted(pods, key=lambda p: p.name))


def foothold_pod(world: World, rng: random.Random, ts: int, avoid: Pod | None) -> Pod:
    """A pod the intruder controls: an internet-facing application pod, not the victim's."""
    for stay in (90 * MINUTE, 10 * MINUTE, 0):
        pods = [p for p in alive_pods(world, ts, bound_only=False, min_left_us=stay)
                if p.namespace in ("shop", "payments", "batch", "monitoring") and not p.workload.spec.host_network
                and (avoid is None or p.workload is not avoid.workload)]
        if pods:
            return rng.choice(sorted(pods, key=lambda p: p.name))
    raise LookupError("no pod alive to act from")


# ---------------------------------------------------------------------------------- s01
class StolenBoundToken(Scenario):
    def bind(self, world: World) -> None:
        rng = self.rng
        self.duration = int(rng.uniform(8, 35) * MINUTE)
        self.pod = pick_victim_pod(world, rng, self.start, stay_us=self.duration + 5 * HOUR_US)
        theft = max(self.pod.start + 30 * US, self.start - int(rng.uniform(10, 300) * MINUTE))
        self.token = self.pod.token_at(theft)
        self.ip = attacker_ip(rng)
        self.ua = rng.choice(KUBECTL_UAS)
        sa = self.pod.workload.sa
        self.principal = sa.username
        self.add_token(self.token.jti)
        self.details = {"bound_pod": self.pod.name, "pod_ip": self.pod.ip, "attacker_ip": self.ip}
        self.description = (f"The bound token (JTI) of {self.pod.namespace}/{self.pod.name} is read out of the pod and "
                            f"used from {self.ip} with {self.ua.split(' ')[0]}: it lists and reads secrets across "
                            "namespaces (mostly refused outside its own namespace).")

    def emit(self, inj) -> None:
        rng, audit, w = self.rng, inj.k8s, self.pod.workload
        caller = token_caller(self.token, self.ip, self.ua)
        own = w.namespace
        t = discovery(audit, rng, self, self.start, caller)
        audit.request(rng, self.mark(t), caller, "list", "namespaces", query="limit=500", code=403)
        t = step(rng, t, 3, 20)
        audit.request(rng, self.mark(t), caller, "list", "secrets", query="limit=500", code=403)
        namespaces = list(catalog.NAMESPACES[:9])
        rng.shuffle(namespaces)
        end = self.start + self.duration
        for ns in namespaces:
            t = step(rng, t, 2, max(3, self.duration / US / 25))
            audit.request(rng, self.mark(t), caller, "list", "secrets", ns=ns, query="limit=500",
                          code=None if ns == own else 403)
        secrets = own_names(w, "secrets") or [f"{w.name}-credentials"]
        for name in secrets + [f"{own}-tls", "registry-credentials"]:
            t = step(rng, t, 1, 8)
            known = name in secrets
            audit.request(rng, self.mark(min(t, end)), caller, "get", "secrets", ns=own, name=name,
                          code=None if known else 404, base_errors=False)
        t = step(rng, t, 2, 10)
        audit.request(rng, self.mark(t), caller, "list", "configmaps", ns=own, query="limit=500")
        audit.request(rng, self.mark(step(rng, t, 1, 4)), caller, "list", "pods", ns=own, query="limit=500", code=403)
        if rng.random() < 0.5:  # comes back later with the same (by then stale) token
            t = t + int(rng.uniform(60, 240) * MINUTE)
            for name in secrets:
                t = step(rng, t, 1, 6)
                if t < self.pod.gone:
                    audit.request(rng, self.mark(t), caller, "get", "secrets", ns=own, name=name, base_errors=False)
                else:  # the pod is gone meanwhile: its token no longer authenticates
                    audit.unauthenticated(rng, t, self.ip, self.ua, "get", "secrets", ns=own, name=name)


HOUR_US = 3600 * US


# ---------------------------------------------------------------------------------- s02
class DeletedPodReplay(Scenario):
    def plan(self, world: World) -> None:
        rng = self.rng
        self.victim_name = rng.choice(("payouts-worker", "etl-runner"))
        spec = world.workloads[self.victim_name].spec
        actor = "ci" if spec.deployer == "ci" else "argocd"
        world.changes.setdefault("forced_rolls", []).append((self.victim_name, self.start, actor))

    def bind(self, world: World) -> None:
        rng = self.rng
        w = world.workloads[self.victim_name]
        deleted = [p for p in w.pods if p.delete_at is not None and self.start <= p.delete_at < self.start + 20 * MINUTE
                   and p.deleted_by == "replicaset-controller"]
        self.pod = deleted[0]
        self.token = self.pod.token_at(self.pod.delete_at - 1)
        window = self.pod.removed_at - self.pod.delete_at
        self.replay_from = self.pod.delete_at + int(window * rng.uniform(0.1, 0.45))
        self.foothold = foothold_pod(world, rng, self.replay_from, self.pod)
        self.ua = self.pod.uas()[0] if rng.random() < 0.5 else rng.choice(SCRIPT_UAS)
        self.principal = w.sa.username
        self.add_token(self.token.jti)
        self.details = {"bound_pod": self.pod.name, "pod_uid": self.pod.uid, "pod_deleted": iso_micro(self.pod.delete_at),
                        "pod_removed": iso_micro(self.pod.removed_at), "source_pod": self.foothold.name,
                        "source_ip": self.foothold.ip}
        self.description = (f"{self.pod.namespace}/{self.pod.name} is deleted in a rollout; its token, copied earlier "
                            f"from a shared volume, is replayed from pod {self.foothold.namespace}/{self.foothold.name} "
                            f"({self.foothold.ip}) while the pod drains, then refused (401) once the pod object is gone.")

    def emit(self, inj) -> None:
        rng, audit, w, pod = self.rng, inj.k8s, self.pod.workload, self.pod
        caller = token_caller(self.token, self.foothold.ip, self.ua)
        ops = [op for op in w.spec.profile.ops if op.resource in ("secrets", "configmaps") and op.names]
        t = self.replay_from
        n = rng.randint(6, 30)
        gap = max(5.0, (pod.removed_at - t) / US / (n + 2))
        for _ in range(n):
            if t >= pod.removed_at:
                break
            op = rng.choice(ops)
            audit.request(rng, self.mark(t), caller, op.verb, op.resource, ns=w.namespace, name=rng.choice(op.names),
                          group=op.group, version=op.version, base_errors=False)
            if rng.random() < 0.2:
                audit.request(rng, self.mark(step(rng, t, 0.5, 3)), caller, "list", "secrets", ns=w.namespace,
                              query="limit=500", code=403)
            t = step(rng, t, gap * 0.5, gap * 1.5)
        t = max(t, pod.removed_at + int(rng.uniform(5, 120) * US))
        for _ in range(rng.randint(3, 8)):
            op = rng.choice(ops)
            audit.unauthenticated(rng, t, self.foothold.ip, self.ua, op.verb, op.resource, ns=w.namespace,
                                  name=rng.choice(op.names))
            t = step(rng, t, 10, 90)


# ---------------------------------------------------------------------------------- s03
class LateralMovement(Scenario):
    def bind(self, world: World) -> None:
        rng = self.rng
        self.duration = int(rng.uniform(10, 45) * MINUTE)
        self.pod = pick_victim_pod(world, rng, self.start, stay_us=self.duration + HOUR_US)
        self.token = self.pod.token_at(self.start - int(rng.uniform(0, 10) * MINUTE))
        self.foothold = foothold_pod(world, rng, self.start, self.pod)
        self.ua = self.pod.uas()[0] if rng.random() < 0.6 else rng.choice(SCRIPT_UAS)
        self.principal = self.pod.workload.sa.username
        self.add_token(self.token.jti)
        self.details = {"bound_pod": self.pod.name, "pod_ip": self.pod.ip, "source_pod": self.foothold.name,
                        "source_ip": self.foothold.ip}
        self.description = (f"The token of {self.pod.namespace}/{self.pod.name} (pod IP {self.pod.ip}) is used from "
                            f"another pod, {self.foothold.namespace}/{self.foothold.name} ({self.foothold.ip}), for the "
                            "same reads its service account normally makes.")

    def emit(self, inj) -> None:
        rng, audit, w = self.rng, inj.k8s, self.pod.workload
        caller = token_caller(self.token, self.foothold.ip, self.ua)
        ops = [op for op in w.spec.profile.ops if op.names and not op.names[0].startswith("@")] or list(w.spec.profile.ops)
        n = rng.randint(8, 40)
        for i in range(n):
            t = self.start + int(self.duration * (i / n) + rng.uniform(0, self.duration / n))
            op = rng.choice(ops)
            audit.request(rng, self.mark(t), caller, op.verb, op.resource, ns=w.namespace,
                          name=rng.choice(op.names) if op.names else None, group=op.group, version=op.version,
                          query="limit=500" if op.verb == "list" else op.query, base_errors=False)


# ---------------------------------------------------------------------------------- s04
class RbacEscalation(Scenario):
    def bind(self, world: World) -> None:
        rng = self.rng
        self.variant = rng.choice(("ci-pipeline", "argocd-sync", "argocd-stolen"))
        t = self.start
        if self.variant == "ci-pipeline":
            sa = world.sa("platform-ci", "gha-deployer")
            self.actor = Caller(sa.principal, sa.principal.base_user(), runner_ip(world, rng, t),
                                "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819", sa.legacy_token_id)
            self.principal = sa.username
            self.add_token(sa.legacy_token_id)
        else:
            w = world.workloads["argocd-application-controller"]
            pod = w.leader(t) or w.active_pods(t)[0]
            token = pod.token_at(t)
            if self.variant == "argocd-sync":
                self.actor = token_caller(token, pod.ip, pod.uas()[0])
            else:
                self.actor = token_caller(token, attacker_ip(rng), rng.choice(KUBECTL_UAS))
            self.principal = w.sa.username
            self.add_token(token.jti)
        self.ns = rng.choice(("kube-system", "default", "monitoring"))
        self.sa_name = rng.choice(("cluster-maint", "node-debugger", "metrics-reader-ext", "ops-automation"))
        self.crb = rng.choice((f"{self.sa_name}-binding", f"system:{self.sa_name}", "cluster-admin-maint", f"{self.sa_name}-admin"))
        self.new_sa: ServiceAccount = new_sa(world, self.ns, self.sa_name)
        self.new_sa.created = t
        self.new_sa.principal.rbac = ("cluster", self.crb, "cluster-admin")
        self.new_sa.principal.subject = f'ServiceAccount "{self.sa_name}/{self.ns}"'
        self.minted = Token(uuid4(rng), 0, self.new_sa, None, minted_by="scenario")
        self.use_ip = self.actor.sips[0] if self.variant == "argocd-stolen" else attacker_ip(rng)
        self.add_token(self.minted.jti)
        self.add_principal(self.new_sa.username)
        self.details = {"variant": self.variant, "clusterrolebinding": self.crb, "subject": self.new_sa.username,
                        "actor_ip": self.actor.sips[0]}
        how = {"ci-pipeline": "a poisoned CI pipeline run (the CI token, from a GitHub-hosted runner)",
               "argocd-sync": "a malicious manifest synced by Argo CD (its own token and pod)",
               "argocd-stolen": "Argo CD's stolen controller token used from outside"}[self.variant]
        self.description = (f"RBAC escalation through {how}: creates service account {self.ns}/{self.sa_name}, binds it "
                            f"to cluster-admin with ClusterRoleBinding {self.crb}, mints a token for it and uses that "
                            f"token from {self.use_ip} to read secrets cluster-wide.")

    def emit(self, inj) -> None:
        rng, audit, world = self.rng, inj.k8s, inj.world
        t = self.start
        if self.actor.ua.startswith("kubectl"):
            t = discovery(audit, rng, self, t, self.actor)
        audit.request(rng, self.mark(t), self.actor, "list", "clusterrolebindings", group=RBAC, query="limit=500")
        t = step(rng, t, 2, 20)
        audit.request(rng, self.mark(t), self.actor, "create", "serviceaccounts", ns=self.ns, name=self.sa_name,
                      base_errors=False)
        t = step(rng, t, 1, 10)
        body = {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": {"name": self.crb, "creationTimestamp": None},
                "subjects": [{"kind": "ServiceAccount", "name": self.sa_name, "namespace": self.ns}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"}}
        resp = dict(body, metadata={"name": self.crb, "uid": uuid4(rng), "resourceVersion": str(audit.rv(t)),
                                    "creationTimestamp": iso_micro(t)[:19] + "Z"})
        audit.request(rng, self.mark(t), self.actor, "create", "clusterrolebindings", name=self.crb, group=RBAC,
                      level="RequestResponse", request_object=body, response_object=resp, base_errors=False)
        t = step(rng, t, 2, 30)
        self.minted.iat = t
        audit.token_request(rng, self.mark(t), self.actor, self.ns, self.sa_name, self.minted.jti, expiration_s=86400)
        t += int(rng.uniform(5, 60) * MINUTE)
        user = token_caller(self.minted, self.use_ip, rng.choice(KUBECTL_UAS))
        t = discovery(audit, rng, self, t, user)
        audit.request(rng, self.mark(t), user, "list", "secrets", query="limit=500")
        for ns in rng.sample(catalog.NAMESPACES[:9], rng.randint(3, 7)):
            t = step(rng, t, 2, 20)
            audit.request(rng, self.mark(t), user, "list", "secrets", ns=ns, query="limit=500")
        t = step(rng, t, 2, 20)
        audit.request(rng, self.mark(t), user, "list", "nodes", query="limit=500")


# ---------------------------------------------------------------------------------- s05
class TokenMinting(Scenario):
    TARGETS = ("namespace-controller", "generic-garbage-collector", "clusterrole-aggregation-controller",
               "replicaset-controller", "daemon-set-controller")

    def bind(self, world: World) -> None:
        rng = self.rng
        w = world.workloads["argocd-application-controller"]
        t = self.start
        pod = w.leader(t) or w.active_pods(t)[0]
        self.token = pod.token_at(t)
        self.variant = rng.choice(("rce", "foothold", "external"))
        if self.variant == "rce":
            ip = pod.ip
        elif self.variant == "foothold":
            ip = foothold_pod(world, rng, t, pod).ip
        else:
            ip = attacker_ip(rng)
        self.actor = token_caller(self.token, ip, rng.choice(KUBECTL_UAS))
        self.principal = w.sa.username
        self.add_token(self.token.jti)
        self.targets = rng.sample(self.TARGETS, rng.randint(2, 4))
        self.minted = []
        for name in self.targets:
            sa = world.sa("kube-system", name)
            tok = Token(uuid4(rng), 0, sa, None, minted_by="scenario")
            self.minted.append(tok)
            self.add_token(tok.jti)
            self.add_principal(sa.username)
        self.details = {"variant": self.variant, "source_ip": ip, "targets": [f"kube-system/{n}" for n in self.targets]}
        self.description = (f"Argo CD's application-controller token, used from {ip} ({self.variant}), mints tokens for "
                            f"kube-system controllers ({', '.join(self.targets)}) with `kubectl create token` and "
                            "uses them to read cluster-wide.")

    def emit(self, inj) -> None:
        rng, audit = self.rng, inj.k8s
        t = discovery(audit, rng, self, self.start, self.actor)
        audit.request(rng, self.mark(t), self.actor, "list", "serviceaccounts", ns="kube-system", query="limit=500")
        ip, ua = self.actor.sips[0], self.actor.ua
        for tok in self.minted:
            t = step(rng, t, 3, 40)
            tok.iat = t
            audit.token_request(rng, self.mark(t), self.actor, "kube-system", tok.sa.name, tok.jti, expiration_s=3600)
        for tok in self.minted:
            t = step(rng, t, 20, 300)
            user = token_caller(tok, ip, ua)
            can_read = tok.sa.name in ("namespace-controller", "generic-garbage-collector")
            audit.request(rng, self.mark(t), user, "list", "secrets", query="limit=500", code=None if can_read else 403)
            for ns in rng.sample(catalog.NAMESPACES[:9], rng.randint(1, 4)):
                t = step(rng, t, 1, 10)
                audit.request(rng, self.mark(t), user, "list", "secrets", ns=ns, query="limit=500",
                              code=None if can_read else 403)
            t = step(rng, t, 1, 10)
            audit.request(rng, self.mark(t), user, "list", "pods", query="limit=500")
            if tok.sa.name == "clusterrole-aggregation-controller":
                t = step(rng, t, 5, 30)
                audit.request(rng, self.mark(t), user, "update", "clusterroles", name="edit", group=RBAC,
                              level="RequestResponse", base_errors=False)


# ---------------------------------------------------------------------------------- s06
class ExecKubeSystem(Scenario):
    def bind(self, world: World) -> None:
        rng = self.rng
        t = self.start
        self.variant = rng.choice(("argocd-terminal", "ci-token", "stolen-controller"))
        if self.variant == "argocd-terminal":
            w = world.workloads["argocd-server"]
            pod = w.active_pods(t)[0]
            token = pod.token_at(t)
            self.actor = token_caller(token, pod.ip, pod.uas()[0])
            self.principal = w.sa.username
            self.add_token(token.jti)
        elif self.variant == "ci-token":
            sa = world.sa("platform-ci", "gha-deployer")
            self.actor = Caller(sa.principal, sa.principal.base_user(), attacker_ip(rng), rng.choice(KUBECTL_UAS),
                                sa.legacy_token_id)
            self.principal = sa.username
            self.add_token(sa.legacy_token_id)
        else:
            w = world.workloads["argocd-application-controller"]
            pod = w.leader(t) or w.active_pods(t)[0]
            token = pod.token_at(t)
            self.actor = token_caller(token, attacker_ip(rng), rng.choice(KUBECTL_UAS))
            self.principal = w.sa.username
            self.add_token(token.jti)
        targets = [p for p in world.all_pods() if p.namespace == "kube-system" and p.start <= t < p.active_end
                   and p.workload.name in ("aws-node", "kube-proxy", "ebs-csi-controller")]
        self.targets = rng.sample(sorted(targets, key=lambda p: p.name), min(len(targets), rng.randint(1, 3)))
        self.details = {"variant": self.variant, "source_ip": self.actor.sips[0], "exec_into": [p.name for p in self.targets]}
        self.description = (f"Exec into kube-system pods ({', '.join(p.name for p in self.targets)}) with "
                            f"{self.principal}'s token from {self.actor.sips[0]} ({self.variant}), reading the "
                            "node agent's credentials.")

    def emit(self, inj) -> None:
        rng, audit = self.rng, inj.k8s
        t = self.start
        if self.actor.ua.startswith("kubectl"):
            t = discovery(audit, rng, self, t, self.actor)
        audit.request(rng, self.mark(t), self.actor, "list", "pods", ns="kube-system", query="limit=500")
        for pod in self.targets:
            t = step(rng, t, 3, 40)
            audit.request(rng, self.mark(t), self.actor, "get", "pods", ns="kube-system", name=pod.name)
            container = pod.workload.name if pod.workload.name != "ebs-csi-controller" else "ebs-plugin"
            cmd = rng.choice(("command=sh", "command=cat&command=%2Fvar%2Frun%2Fsecrets%2Feks.amazonaws.com%2Fserviceaccount%2Ftoken",
                              "command=%2Fbin%2Fbash"))
            dur = int(rng.uniform(5, 240) * US)
            audit.request(rng, self.mark(t + 60_000), self.actor, "create", "pods", ns="kube-system", name=pod.name,
                          sub="exec", code=101, duration_us=dur,
                          query=f"{cmd}&container={container}&stderr=true&stdin=true&stdout=true&tty=true")
            t += dur
        if rng.random() < 0.6:
            audit.request(rng, self.mark(step(rng, t, 2, 20)), self.actor, "list", "secrets", ns="kube-system", query="limit=500")


# ---------------------------------------------------------------------------------- s07
class PermissionEnumeration(Scenario):
    RESOURCES = (("secrets", ""), ("pods", ""), ("nodes", ""), ("deployments", "apps"), ("clusterroles", RBAC),
                 ("clusterrolebindings", RBAC), ("serviceaccounts", ""), ("configmaps", ""), ("namespaces", ""),
                 ("daemonsets", "apps"), ("persistentvolumes", ""), ("mutatingwebhookconfigurations", "admissionregistration.k8s.io"),
                 ("roles", RBAC), ("cronjobs", "batch"))

    def bind(self, world: World) -> None:
        rng = self.rng
        self.pod = pick_victim_pod(world, rng, self.start, stay_us=HOUR_US)
        self.token = self.pod.token_at(self.start)
        self.variant = rng.choice(("inside-pod", "foothold", "external"))
        ip = {"inside-pod": self.pod.ip, "foothold": None, "external": None}[self.variant]
        if self.variant == "foothold":
            ip = foothold_pod(world, rng, self.start, self.pod).ip
        elif self.variant == "external":
            ip = attacker_ip(rng)
        self.ip = ip
        self.tool_ua = rng.choice(("Go-http-client/1.1", "OpenAPI-Generator/29.0.0/python", "python-requests/2.31.0"))
        self.kubectl = rng.choice(KUBECTL_UAS)
        self.principal = self.pod.workload.sa.username
        self.add_token(self.token.jti)
        self.details = {"variant": self.variant, "bound_pod": self.pod.name, "source_ip": ip}
        self.description = (f"Permission enumeration with the token of {self.pod.namespace}/{self.pod.name} from {ip}: "
                            "SelfSubjectRulesReviews and SelfSubjectAccessReviews, then a burst of mostly refused "
                            "reads across resources and namespaces.")

    def emit(self, inj) -> None:
        rng, audit, w = self.rng, inj.k8s, self.pod.workload
        kubectl = token_caller(self.token, self.ip, self.kubectl)
        tool = token_caller(self.token, self.ip, self.tool_ua)
        t = discovery(audit, rng, self, self.start, kubectl)
        for _ in range(rng.randint(3, 8)):
            t = step(rng, t, 1, 8)
            audit.request(rng, self.mark(t), kubectl, "create", "selfsubjectrulesreviews", group="authorization.k8s.io")
        for _ in range(rng.randint(5, 25)):
            t = step(rng, t, 0.2, 3)
            audit.request(rng, self.mark(t), kubectl, "create", "selfsubjectaccessreviews", group="authorization.k8s.io")
        t = step(rng, t, 10, 120)
        allowed = {"configmaps", "secrets"}
        for _ in range(rng.randint(30, 120)):
            t = step(rng, t, 0.05, 2)
            resource, group = rng.choice(self.RESOURCES)
            cluster_scoped = resource in ("nodes", "clusterroles", "clusterrolebindings", "namespaces",
                                          "persistentvolumes", "mutatingwebhookconfigurations")
            ns = None if cluster_scoped or rng.random() < 0.3 else rng.choice(catalog.NAMESPACES[:9])
            ok = ns == w.namespace and resource in allowed
            audit.request(rng, self.mark(t), tool, "list", resource, ns=ns, group=group, query="limit=500",
                          code=None if ok else 403)


# ---------------------------------------------------------------------------------- s12
class LegacyTokenExternal(Scenario):
    def bind(self, world: World) -> None:
        rng = self.rng
        self.w = world.workloads[rng.choice(("grafana", "report-exporter"))]
        sa = self.w.sa
        self.ip = attacker_ip(rng)
        self.ua = rng.choice(KUBECTL_UAS + ("curl/8.5.0", "python-requests/2.31.0"))
        self.caller = Caller(sa.principal, sa.principal.base_user(), self.ip, self.ua, sa.legacy_token_id)
        self.principal = sa.username
        self.add_token(sa.legacy_token_id)
        self.details = {"secret": f"{sa.namespace}/{sa.legacy_secret}", "source_ip": self.ip}
        self.description = (f"The long-lived secret-based token of {sa.namespace}/{sa.name} ({sa.legacy_secret}) is used "
                            f"from outside the cluster ({self.ip}, {self.ua.split(' ')[0]}).")

    def emit(self, inj) -> None:
        rng, audit = self.rng, inj.k8s
        t = self.start
        if self.ua.startswith("kubectl"):
            t = discovery(audit, rng, self, t, self.caller)
        grafana = self.w.name == "grafana"
        reads = ([("secrets", "", None), ("configmaps", "", None), ("pods", "", 403), ("nodes", "", 403)] if grafana else
                 [("deployments", "apps", None), ("pods", "", None), ("namespaces", "", None), ("secrets", "", 403),
                  ("nodes", "", 403)])
        for _ in range(rng.randint(10, 50)):
            t = step(rng, t, 1, 30)
            resource, group, code = rng.choice(reads)
            ns = None if resource in ("namespaces", "nodes") or rng.random() < 0.4 else rng.choice(catalog.NAMESPACES[:9])
            audit.request(rng, self.mark(t), self.caller, "list", resource, ns=ns, group=group, query="limit=500", code=code)
            if grafana and resource == "secrets" and ns and rng.random() < 0.5:
                name = rng.choice(("payments-db", "checkout-db", "catalog-db", "argocd-secret", "grafana-admin"))
                audit.request(rng, self.mark(step(rng, t, 0.5, 3)), self.caller, "get", "secrets", ns=ns, name=name,
                              base_errors=False, code=404 if rng.random() < 0.3 else None)
