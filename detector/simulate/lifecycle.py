"""Pod lifecycles over the whole world: rollouts, restarts, evictions, the node-pool migration,
scaling, cron runs, and every bound token the kubelet (or the controller manager) mints.

The result is a list of timed cluster actions in `world.actions` that `k8s_lifecycle` turns
into audit events day by day, and pods whose token schedules the traffic modules follow.

Token facts modelled here, as the kubelet and client-go behave:
- a pod's first token is requested just before its containers start; the kubelet refreshes it
  when 80% of the requested 3607 s lifetime has passed (~48 min), each time a new JTI;
- clients reload the token file within about a minute, so the old JTI stays in use briefly;
- a pod deleted with a grace period keeps a valid token until its object is gone;
- IRSA pods also hold an `sts.amazonaws.com` token, requested for 24 h (refreshed at ~19 h).
"""

from __future__ import annotations

import random
from datetime import datetime, timezone

from .rand import K8S_ALNUM, k8s_suffix, pick_chars, uuid4
from .timefmt import HOUR, MINUTE, US
from .world import Node, Pod, Token, Workload, World

TOKEN_REFRESH = int(0.8 * 3607 * US)
STS_REFRESH = int(0.8 * 86400 * US)
NEVER = 1 << 62


def weekday(world: World, day: int) -> int:
    return datetime.fromtimestamp(world.day_start(day) // US, tz=timezone.utc).weekday()


def working_time(world: World, rng: random.Random, day: int, lo_h: float = 8.0, hi_h: float = 17.5) -> int:
    return world.day_start(day) + int(rng.uniform(lo_h, hi_h) * HOUR)


class Lifecycle:
    def __init__(self, world: World):
        self.world = world
        self._seq = 0

    # -- actions --------------------------------------------------------------------------
    def act(self, ts: int, kind: str, *args) -> None:
        if self.world.start <= ts < self.world.end:
            self._seq += 1
            self.world.actions.append((ts, self._seq, kind, *args))

    # -- pods -----------------------------------------------------------------------------
    def new_pod(self, w: Workload, rng: random.Random, ts: int, *, node: Node | None = None, name: str | None = None,
                rs_hash: str = "", creator: str = "", prestart: bool = False) -> Pod:
        world, spec = self.world, w.spec
        if node is None:
            node = self._place(w, rng, ts)
        if name is None:
            if spec.kind == "DaemonSet":
                name = f"{spec.name}-{k8s_suffix(rng)}"
            else:
                name = f"{spec.name}-{rs_hash}-{k8s_suffix(rng)}"
        ip = node.ip if spec.host_network else ""  # assigned by `_assign_ips` once every pod exists
        version = spec.versions[1] if (w.upgrade_at is not None and ts >= w.upgrade_at) else spec.versions[0]
        start = ts + int(rng.uniform(2, 9) * US)
        pod = Pod(w, name, uuid4(rng), node, ip, ts, start, version)
        w.pods.append(pod)
        if not prestart:
            creator = creator or {"DaemonSet": "daemon-set-controller", "StatefulSet": "statefulset-controller",
                                  "CronJob": "job-controller"}.get(spec.kind, "replicaset-controller")
            self.act(ts, "pod-create", pod, creator)
            self.act(ts + int(rng.uniform(0.005, 0.05) * US), "pod-bind", pod)
            self.act(start + int(rng.uniform(1, 6) * US), "pod-status", pod)
        return pod

    def _place(self, w: Workload, rng: random.Random, ts: int) -> Node:
        nodes = self.world.schedulable_nodes(ts)
        load = {n.name: 0 for n in nodes}
        for p in w.pods:
            if p.node.name in load and p.start <= ts < p.gone:
                load[p.node.name] += 1
        low = min(load.values())
        return rng.choice([n for n in nodes if load[n.name] == low])

    def delete_pod(self, pod: Pod, rng: random.Random, ts: int, actor: str, *, evict: bool = False) -> None:
        lo, hi = pod.workload.spec.drain_s
        pod.delete_at = ts
        pod.removed_at = ts + int(rng.uniform(lo, hi) * US)
        pod.deleted_by, pod.evicted = actor, evict
        self.act(ts, "pod-evict" if evict else "pod-delete", pod, actor)
        if pod.workload.spec.profile.lease is not None:
            # a leader-elected client releases its lease on SIGTERM, just after the delete
            self.act(ts + int(rng.uniform(0.3, 3) * US), "lease-release", pod)
        self.act(pod.removed_at, "pod-remove", pod)

    # -- build ----------------------------------------------------------------------------
    def build(self) -> None:
        world = self.world
        for w in world.workloads.values():
            if w.spec.kind == "CronJob":
                self._cron(w)
            else:
                self._long_running(w)
        self._node_events()
        self._assign_ips()
        self._tokens()
        world.actions.sort(key=lambda a: (a[0], a[1]))

    def _initial(self, w: Workload, rng: random.Random, rs_hash: str) -> list[Pod]:
        world, spec = self.world, w.spec
        pods = []
        if spec.kind == "DaemonSet":
            for node in world.schedulable_nodes(world.start):
                created = world.start - int(rng.uniform(1, 20 * 24) * HOUR)
                pods.append(self.new_pod(w, rng, created, node=node, prestart=True))
            return pods
        for i in range(spec.replicas):
            created = world.start - int(rng.uniform(1, 20 * 24) * HOUR)
            name = f"{spec.name}-{i}" if spec.kind == "StatefulSet" else None
            pods.append(self.new_pod(w, rng, created, name=name, rs_hash=rs_hash, prestart=True))
        return pods

    def _long_running(self, w: Workload) -> None:
        world, spec = self.world, w.spec
        rng = world.rng("lifecycle", spec.namespace, spec.name)
        rs_hash = pick_chars(rng, K8S_ALNUM, 10)
        changes: list[tuple[int, str, tuple]] = []
        if spec.introduced:
            intro = world.changes["new_app_at"]
            w.introduced_at = intro
            changes.append((intro, "introduce", ()))
            current: list[Pod] = []
        else:
            current = self._initial(w, rng, rs_hash)
        # application deploys (Argo CD syncs or CI pipelines), weekdays in working hours
        for day in range(world.days):
            if weekday(world, day) >= 5:
                continue
            for _ in range(_poisson(rng, spec.deploys_per_week / 5)):
                changes.append((working_time(world, rng, day), "roll", (spec.deployer,)))
        for name, ts, actor in world.changes.get("forced_rolls", ()):
            if name == spec.name:
                changes.append((ts, "roll", (actor,)))
        if spec.role in ("controller", "daemon") and spec.versions[0] != spec.versions[1]:
            upgrade = world.changes["upgrade_at"] + int(rng.uniform(0, 100) * MINUTE)
            w.upgrade_at = upgrade
            changes.append((upgrade, "roll", ("argocd",)))
        if spec.role == "webapp":
            for day in range(world.days):
                if weekday(world, day) < 5 and rng.random() < 0.07:
                    who = rng.choice(sorted(world.humans))
                    changes.append((working_time(world, rng, day), "kill", (who,)))
        scale = world.changes.get("scale")
        if scale and scale[0] == spec.name:
            changes.append((scale[1], "scale", (spec.replicas * 3,)))
            changes.append((scale[2], "scale", (spec.replicas,)))
        mig = world.changes.get("migration_drain")  # node name → drain time
        if mig and spec.kind != "DaemonSet":
            for node_name, ts in mig.items():
                changes.append((ts, "drain", (node_name,)))
        changes.sort(key=lambda c: c[0])

        replicas = spec.replicas
        for ts, kind, args in changes:
            current = [p for p in current if p.delete_at is None]
            if kind == "introduce":
                self.act(ts, "workload-create", w)
                for i in range(replicas):
                    current.append(self.new_pod(w, rng, ts + int((1 + i * 0.4) * US), rs_hash=rs_hash))
            elif kind == "roll":
                self.act(ts, "workload-patch", w, args[0])
                rs_hash = pick_chars(rng, K8S_ALNUM, 10)
                current = self._roll(w, rng, ts + int(rng.uniform(0.2, 2) * US), current, rs_hash)
            elif kind == "kill" and current:
                victim = rng.choice(current)
                self.delete_pod(victim, rng, ts, "human:" + args[0])
                current.append(self._replace(w, rng, victim, ts, rs_hash))
            elif kind == "scale":
                target = args[0]
                self.act(ts - int(2 * US), "workload-scale", w, target)
                replicas = target
                while len(current) < target:
                    current.append(self.new_pod(w, rng, ts + int(len(current) * 0.3 * US), rs_hash=rs_hash))
                extra = sorted(current, key=lambda p: p.created)[target:]
                for i, pod in enumerate(extra):
                    self.delete_pod(pod, rng, ts + int(i * 0.2 * US), "replicaset-controller")
            elif kind == "drain":
                node_name = args[0]
                on_node = [p for p in current if p.node.name == node_name]
                for i, pod in enumerate(on_node):
                    t = ts + int((5 + i * rng.uniform(2, 6)) * US)
                    self.delete_pod(pod, rng, t, "drain", evict=True)
                    current.append(self._replace(w, rng, pod, t, rs_hash))

    def _replace(self, w: Workload, rng: random.Random, old: Pod, ts: int, rs_hash: str) -> Pod:
        name = old.name if w.spec.kind == "StatefulSet" else None
        t = old.gone + int(rng.uniform(0.5, 2) * US) if w.spec.kind == "StatefulSet" else ts + int(rng.uniform(0.05, 0.5) * US)
        return self.new_pod(w, rng, t, name=name, rs_hash=rs_hash)

    def _roll(self, w: Workload, rng: random.Random, ts: int, current: list[Pod], rs_hash: str) -> list[Pod]:
        spec, new = w.spec, []
        t = ts
        for old in sorted(current, key=lambda p: p.name, reverse=spec.kind == "StatefulSet"):
            if spec.kind == "Deployment":
                pod = self.new_pod(w, rng, t, rs_hash=rs_hash)
                ready = pod.start + int(rng.uniform(8, 30) * US)
                self.delete_pod(old, rng, ready, "replicaset-controller")
                t = ready + int(rng.uniform(0.1, 1.5) * US)
            else:  # StatefulSet / DaemonSet: delete first, recreate in place
                actor = "statefulset-controller" if spec.kind == "StatefulSet" else "daemon-set-controller"
                self.delete_pod(old, rng, t, actor)
                node = old.node if spec.kind == "DaemonSet" else None
                pod = self.new_pod(w, rng, old.gone + int(rng.uniform(0.3, 2) * US), node=node,
                                   name=old.name if spec.kind == "StatefulSet" else None, rs_hash=rs_hash)
                t = pod.start + int(rng.uniform(5, 20) * US)
            new.append(pod)
        return new

    def _cron(self, w: Workload) -> None:
        world, spec = self.world, w.spec
        hour, minute, run_s = spec.cron
        for day in range(world.days):
            rng = world.rng("cron", spec.name, day)
            t = world.day_start(day) + hour * HOUR + minute * MINUTE + int(rng.uniform(0.2, 2.5) * US)
            job = f"{spec.name}-{t // US // 60}"
            self.act(t, "job-create", w, job)
            pod = self.new_pod(w, rng, t + int(rng.uniform(0.5, 1.5) * US), name=f"{job}-{k8s_suffix(rng)}")
            pod.done_at = pod.start + int(run_s * rng.uniform(0.7, 1.3) * US)
            self.act(pod.done_at + int(rng.uniform(1, 4) * US), "job-status", w, job)
            # ttlSecondsAfterFinished: 3600 → the TTL controller deletes the job, the GC its pod
            removal = pod.done_at + 3600 * US + int(rng.uniform(0, 5) * US)
            self.act(removal, "job-delete", w, job)
            pod.delete_at = removal + int(rng.uniform(0.05, 0.5) * US)
            pod.removed_at = pod.delete_at + int(rng.uniform(0.05, 0.3) * US)
            pod.deleted_by = "generic-garbage-collector"
            self.act(pod.delete_at, "pod-delete", pod, "generic-garbage-collector")

    def _node_events(self) -> None:
        world = self.world
        mig = world.changes.get("migration_drain")
        if not mig:
            return
        rng = world.rng("nodes")
        for node in world.nodes:
            if node.pool == "b":
                self.act(node.joined, "node-join", node)
        human = world.changes["migration_by"]
        for node_name, ts in mig.items():
            node = next(n for n in world.nodes if n.name == node_name)
            self.act(ts, "node-drain", node, human)
        done = max(mig.values()) + 15 * MINUTE
        for node in world.nodes:
            if node.pool == "a":
                node.removed = done + int(rng.uniform(0, 5) * MINUTE)
                self.act(node.removed, "node-delete", node)
        # DaemonSet pods follow the nodes: created on joining nodes, collected from deleted ones
        for w in world.workloads.values():
            if w.spec.kind != "DaemonSet":
                continue
            wrng = world.rng("ds-migration", w.spec.name)
            for node in world.nodes:
                if node.pool == "b":
                    self.new_pod(w, wrng, node.joined + int(wrng.uniform(5, 40) * US), node=node)
            for pod in list(w.pods):
                if pod.node.pool == "a" and pod.delete_at is None:
                    pod.delete_at = pod.node.removed + int(wrng.uniform(10, 40) * US)
                    pod.removed_at = pod.delete_at + int(wrng.uniform(0.05, 0.3) * US)
                    pod.deleted_by = "pod-garbage-collector"
                    self.act(pod.delete_at, "pod-delete", pod, "pod-garbage-collector")

    def _assign_ips(self) -> None:
        """Pod IPs as the CNI hands them out: the lowest address of the node's range that has
        been free for its cooldown (30 s), so a new pod often gets a recently deleted pod's IP."""
        free_at: dict[str, dict[int, int]] = {}
        for pod in sorted(self.world.all_pods(), key=lambda p: (p.created, p.uid)):
            if pod.workload.spec.host_network:
                continue
            slots = free_at.setdefault(pod.node.name, {})
            last = next(x for x in range(2, 254) if slots.get(x, -1) <= pod.created)
            pod.ip = f"{pod.node.pod_prefix}.{last}"
            slots[last] = pod.gone + 30 * US if pod.removed_at is not None else NEVER

    # -- tokens ---------------------------------------------------------------------------
    def _tokens(self) -> None:
        world = self.world
        for w in world.workloads.values():
            if w.sa.legacy_secret:
                continue  # automountServiceAccountToken: false; the pod mounts the old secret
            for pod in w.pods:
                rng = world.rng("tokens", pod.uid)
                self._pod_tokens(pod, rng)
        for cp in world.control_plane.values():
            rng = world.rng("kcm-tokens", cp.sa.name)
            t = world.start - int(rng.uniform(0, TOKEN_REFRESH / US) * US)
            while t < world.end:
                token = Token(uuid4(rng), t, cp.sa, None, minted_by="kcm")
                cp.tokens.append(token)
                cp.token_use.append(t + int(rng.uniform(0.05, 1) * US))
                self.act(t, "token", token, None)
                t += TOKEN_REFRESH + int(rng.uniform(0, 30) * US)

    def _pod_tokens(self, pod: Pod, rng: random.Random) -> None:
        world = self.world
        end = min(pod.gone, pod.done_at or NEVER, world.end)
        first = pod.created + int(rng.uniform(0.3, 1.5) * US)
        sa = pod.workload.sa
        if first < world.start:
            # the pod predates the window: its original token (a client that never reloads keeps
            # using it) and the refresh current when the window opens
            pod.tokens.append(Token(uuid4(rng), first, sa, pod))
            pod.token_use.append(pod.start)
            t = max(world.start - int(rng.uniform(0, TOKEN_REFRESH / US) * US), first + TOKEN_REFRESH)
        else:
            t = first
        while t < end:
            token = Token(uuid4(rng), t, sa, pod)
            pod.token_use.append(pod.start if not pod.tokens else t + int(rng.uniform(2, 60) * US))
            pod.tokens.append(token)
            self.act(t, "token", token, pod)
            t += TOKEN_REFRESH + int(rng.uniform(0, 45) * US)
        if pod.workload.spec.irsa:
            t = first if first >= world.start else world.start - int(rng.uniform(0, STS_REFRESH / US) * US)
            while t < end:
                token = Token(uuid4(rng), t, sa, pod, audience="sts.amazonaws.com")
                pod.sts_tokens.append(token)
                self.act(t, "token", token, pod)
                t += STS_REFRESH + int(rng.uniform(0, 300) * US)


def _poisson(rng: random.Random, mean: float) -> int:
    from .rand import poisson

    return poisson(rng, mean)
