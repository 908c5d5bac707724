"""Everyday API traffic of the cluster's workloads and of the controller manager's controllers.

Per pod and day: initial reads at start, informer watches re-established every 5–10 minutes
(client-go's randomized watch timeout), leader-election lease renewals, and Poisson-distributed
operations from the workload's profile with its diurnal and weekly shape. Every request carries
the credential the pod really held at that moment: the JTI current for that pod (switching a
few seconds after each kubelet refresh), or the old secret-based token for legacy accounts.
"""

from __future__ import annotations

import bisect
import random
from collections import defaultdict

from . import catalog
from .activity import arrivals, hourly_factors, periodic
from .k8s_audit import Caller, K8sAudit
from .profiles import Op
from .rand import lognormal_us, uuid4
from .timefmt import DAY, US
from .world import ControlPlaneSA, Pod, Token, World

MAX = 1 << 62


class Resolver:
    """Resolves placeholder names of profile operations (`@list`, `$pod`, `$node`)."""

    def __init__(self, world: World):
        self.world = world
        self.node_pods: dict[str, list[Pod]] = {}
        self.app_pods: list[Pod] = []
        self.replicasets: list[tuple[str, str]] = []

    def new_day(self, d0: int, d1: int) -> None:
        by_node: dict[str, list[Pod]] = defaultdict(list)
        app, rs = [], set()
        for pod in self.world.all_pods():
            if pod.start < d1 and pod.gone > d0:
                by_node[pod.node.name].append(pod)
                if pod.namespace in catalog.APP_NAMESPACES and pod.workload.spec.kind != "CronJob":
                    app.append(pod)
                if pod.workload.spec.kind == "Deployment":
                    rs.add((pod.namespace, pod.name.rsplit("-", 1)[0]))
        self.node_pods, self.app_pods, self.replicasets = dict(by_node), app, sorted(rs)

    def pick(self, rng: random.Random, key: str, ts: int, pod: Pod | None) -> tuple[str | None, str]:
        if key == "@nodes":
            return None, rng.choice(self.world.nodes_at(ts)).name
        if key in ("@node_pods", "@app_pods"):
            pool = self.node_pods.get(pod.node.name, []) if (key == "@node_pods" and pod) else self.app_pods
            live = [p for p in pool if p.start <= ts < p.gone] or pool
            target = rng.choice(live) if live else pod
            return target.namespace, target.name
        if key == "@replicasets":
            return rng.choice(self.replicasets) if self.replicasets else ("shop", "frontend")
        value = rng.choice(self.world.named[key[1:]])
        return value if isinstance(value, tuple) else (None, value)


def op_target(rng: random.Random, op: Op, pod: Pod | None, own_ns: str, resolver: Resolver, ts: int) -> tuple[str | None, str | None]:
    """(namespace, name) an operation acts on."""
    name = ns_from_name = None
    if op.names:
        raw = rng.choice(op.names)
        if raw.startswith("@"):
            ns_from_name, name = resolver.pick(rng, raw, ts, pod)
        elif raw == "$node":
            name = pod.node.name if pod else None
        elif raw == "$pod":
            name = pod.name if pod else None
        else:
            name = raw
    scope = op.scope
    if scope == "own":
        ns = own_ns
    elif scope in ("cluster", "all"):
        ns = None
    elif scope == "apps":
        ns = rng.choice(catalog.APP_NAMESPACES)
    elif scope.startswith("@"):
        ns = ns_from_name if ns_from_name is not None else resolver.pick(rng, scope, ts, pod)[0]
    else:
        ns = scope
    return ns, name


class CallerCache:
    def __init__(self) -> None:
        self._cache: dict[tuple, Caller] = {}

    def clear(self) -> None:
        self._cache.clear()

    def for_pod(self, pod: Pod, ts: int, ua: str, ip: str | None = None) -> Caller:
        sa = pod.workload.sa
        ip = ip or pod.ip
        if sa.legacy_secret:
            key = (id(sa), ua, ip)
            caller = self._cache.get(key)
            if caller is None:
                caller = Caller(sa.principal, sa.principal.base_user(), ip, ua, sa.legacy_token_id)
                self._cache[key] = caller
            return caller
        token = pod.token_at(ts)
        return self.for_token(token, ua, ip)

    def for_token(self, token: Token, ua: str, ip: str) -> Caller:
        key = (id(token), ua, ip)
        caller = self._cache.get(key)
        if caller is None:
            caller = Caller(token.sa.principal, token.user(), ip, ua, token.jti, token.iat)
            self._cache[key] = caller
        return caller


class WorkloadTraffic:
    def __init__(self, world: World, audit: K8sAudit):
        self.world, self.audit = world, audit
        self.resolver = Resolver(world)
        self.callers = CallerCache()

    def day(self, day: int) -> None:
        world = self.world
        d0 = world.day_start(day)
        d1 = d0 + DAY
        self.resolver.new_day(d0, d1)
        self.callers.clear()
        for w in world.workloads.values():
            prof = w.spec.profile
            flat = w.spec.kind == "CronJob"
            factors = [1.0] * 24 if flat else hourly_factors(d0, prof.diurnal, prof.weekend)
            for pod in w.pods:
                if pod.start < d1 and pod.active_end > d0:
                    self._pod_day(pod, day, d0, d1, factors)
            if prof.lease is not None:
                self._leases(w, day, d0, d1)
        for cp in world.control_plane.values():
            self._control_plane(cp, day, d0, d1)

    # -- one pod --------------------------------------------------------------------------
    def emit_op(self, rng: random.Random, ts: int, pod: Pod, op: Op, ua: str) -> None:
        ns, name = op_target(rng, op, pod, pod.namespace, self.resolver, ts)
        caller = self.callers.for_pod(pod, ts, ua)
        if op.sub == "token" and op.verb == "create":  # a TokenRequest: the server mints a JTI
            self.audit.token_request(rng, ts, caller, ns or pod.namespace, name, uuid4(rng), audience="vault",
                                     expiration_s=600)
            return
        code = None
        for fail_code, p in op.fail:
            if rng.random() < p:
                code = fail_code
                break
        query = op.query.replace("$node", pod.node.name) if op.query else ("limit=500" if op.verb == "list" else "")
        duration = None
        if op.sub == "exec":
            query = f"command=%2Fbin%2Fsh&container={name.rsplit('-', 2)[0] if name else 'app'}&stdin=true&stdout=true&tty=true"
            duration = int(rng.uniform(30, 900) * US)
            code = 101
        self.audit.request(rng, ts, caller, op.verb, op.resource, ns=ns, name=name, group=op.group,
                           version=op.version, sub=op.sub, query=query, path=op.path, code=code,
                           duration_us=duration)

    def _pod_day(self, pod: Pod, day: int, d0: int, d1: int, factors: list[float]) -> None:
        world, audit = self.world, self.audit
        w = pod.workload
        prof = w.spec.profile
        a = max(d0, pod.start)
        b = min(d1, pod.active_end, world.end)
        if a >= b:
            return
        rng = world.rng("k8s", pod.uid, day)
        uas = pod.uas()
        scale = world.scale
        if d0 <= pod.start < d1:
            t = pod.start + int(rng.uniform(0.05, 2) * US)
            for op in prof.start_ops:
                self.emit_op(rng, t, pod, op, uas[0])
                t += int(rng.uniform(0.01, 0.3) * US)
        for i, watch in enumerate(prof.watches):
            ua = uas[i % len(uas)]
            t = pod.state.get(i)
            if t is None:
                t = pod.start + int(rng.uniform(0.1, 3) * US)
                if t < world.start:
                    t = world.start + int(rng.uniform(0, 600) * US)
                else:
                    ns = pod.namespace if watch.scope == "own" else None
                    query = "limit=500&resourceVersion=0"
                    if watch.selector:
                        query = f"labelSelector={watch.selector}&{query}"
                    audit.request(rng, t, self.callers.for_pod(pod, t, ua), "list", watch.resource, ns=ns,
                                  group=watch.group, version=watch.version, query=query)
                    t += lognormal_us(rng, 30)
            end = min(pod.active_end, world.end)
            while t < b:
                dur = int(rng.uniform(300, 600) / scale * US)
                dur = max(dur, 20 * US)
                cut = min(dur, end - t)
                if cut <= 0:
                    break
                self._watch(rng, t, pod, watch, ua, cut, dur)
                t += cut + int(rng.uniform(0.005, 0.2) * US)
            pod.state[i] = t
        if "regression_403" in w.spec.extra and w.upgrade_at is not None and pod.version == w.spec.versions[1]:
            self._regression(pod, day, a, b)
        ops = prof.ops
        if not ops or prof.rate <= 0:
            return
        cum = pod.state.get("cum")
        if cum is None:
            total, cum = 0.0, []
            for op in ops:
                total += op.weight
                cum.append(total)
            pod.state["cum"] = cum
        times = arrivals(rng, a, b, prof.rate * scale, factors, d0)
        leader_only = prof.leader_only and prof.lease is not None
        total = cum[-1]
        for t in times:
            if leader_only and w.leader(t) is not pod:
                continue
            op = ops[bisect.bisect_right(cum, rng.random() * total)] if len(ops) > 1 else ops[0]
            self.emit_op(rng, t, pod, op, rng.choice(uas))

    def _regression(self, pod: Pod, day: int, a: int, b: int) -> None:
        """A client upgrade that needs a permission its role does not have yet: 403s with
        client-go's reflector backoff (up to 30 s) until the RBAC fix lands."""
        w, world = pod.workload, self.world
        resource, group, lo, hi = w.spec.extra["regression_403"]
        rng = world.rng("regression", w.name)
        fix = w.upgrade_at + int(rng.uniform(lo, hi) * 60 * US)
        if pod.start >= fix or a >= fix:
            return
        rng = world.rng("regression", pod.uid, day)
        t, backoff = max(a, pod.start + int(rng.uniform(1, 3) * US)), 0.8
        while t < min(b, fix, pod.active_end):
            self.audit.request(rng, t, self.callers.for_pod(pod, t, pod.uas()[0]), "list", resource, group=group,
                               query="limit=500&resourceVersion=0", code=403)
            backoff = min(30.0, backoff * 2)
            t += int(backoff * rng.uniform(0.9, 1.1) * US)
        if a <= fix < b:
            argo = world.workloads["argocd-application-controller"]
            leader = argo.leader(fix)
            if leader is not None:
                body = {"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1",
                        "metadata": {"name": "kube-state-metrics"},
                        "rules": [{"verbs": ["list", "watch"], "apiGroups": [group], "resources": [resource]}]}
                self.audit.request(rng, fix, self.callers.for_pod(leader, fix, leader.uas()[0]), "patch", "clusterroles",
                                   name="kube-state-metrics", group="rbac.authorization.k8s.io", level="RequestResponse",
                                   request_object=body, base_errors=False)

    def _watch(self, rng: random.Random, t: int, pod: Pod, watch, ua: str, dur: int, timeout: int) -> None:
        ns = pod.namespace if watch.scope == "own" else None
        secs = timeout // US
        parts = ["allowWatchBookmarks=true"]
        if watch.selector:
            parts.append(f"labelSelector={watch.selector}")
        parts.append(f"resourceVersion={self.audit.rv(t)}")
        parts.append(f"timeout={secs // 60}m{secs % 60}s&timeoutSeconds={secs}&watch=true")
        self.audit.request(rng, t, self.callers.for_pod(pod, t, ua), "watch", watch.resource, ns=ns,
                           group=watch.group, version=watch.version, query="&".join(parts), duration_us=dur)

    # -- leader election --------------------------------------------------------------------
    def _leases(self, w, day: int, d0: int, d1: int) -> None:
        world = self.world
        prof = w.spec.profile
        lease_ns, lease_name = prof.lease
        rng = world.rng("lease", w.spec.name, day)
        period = int(prof.lease_period_s / world.scale * US)
        phase = world.start + int(world.rng("lease-phase", w.spec.name).random() * period)
        for t in periodic(rng, d0, min(d1, world.end), period, phase, jitter=0.05):
            alive = [p for p in w.pods if p.start <= t < p.active_end]
            if not alive:
                continue
            leader = min(alive, key=lambda p: p.start)
            for pod in alive:
                ua = pod.uas()[-1]
                caller = self.callers.for_pod(pod, t, ua)
                tt = t + int(rng.uniform(0, 2) * US)
                if pod is leader:
                    code = 409 if rng.random() < 0.002 else 200
                    self.audit.request(rng, tt, caller, "update", "leases", ns=lease_ns, name=lease_name,
                                       group="coordination.k8s.io", code=code)
                else:
                    self.audit.request(rng, tt, caller, "get", "leases", ns=lease_ns, name=lease_name,
                                       group="coordination.k8s.io")

    # -- kube-controller-manager --------------------------------------------------------------
    def _control_plane(self, cp: ControlPlaneSA, day: int, d0: int, d1: int) -> None:
        world = self.world
        rng = world.rng("kcm", cp.sa.name, day)
        ip = control_plane_ip(world, d0)
        cum, total = [], 0.0
        for op in cp.ops:
            total += op.weight
            cum.append(total)
        for t in arrivals(rng, d0, min(d1, world.end), cp.rate * world.scale, [1.0] * 24, d0):
            op = cp.ops[bisect.bisect_right(cum, rng.random() * total)] if len(cp.ops) > 1 else cp.ops[0]
            ns, name = op_target(rng, op, None, "kube-system", self.resolver, t)
            caller = self.callers.for_token(cp.token_at(t), cp.ua, ip)
            query = op.query or ("limit=500" if op.verb == "list" else "")
            self.audit.request(rng, t, caller, op.verb, op.resource, ns=ns, name=name, group=op.group,
                               version=op.version, sub=op.sub, query=query)


def control_plane_ip(world: World, ts: int) -> str:
    """The controller manager's leader runs on one control-plane instance; it moved once."""
    moved = world.start + (world.days * DAY) * 3 // 7
    return world.control_plane_ips[0 if ts < moved else 1]
