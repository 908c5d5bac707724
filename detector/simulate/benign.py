"""Benign changes: legitimate shifts a detector must absorb without paging.

`plan` fixes their times before the world is simulated (the lifecycle, traffic and cloud modules
read `world.changes`); `labels` describes them afterwards, with the principals and tokens they
touch, so an evaluation can count alerts raised on them as false.
"""

from __future__ import annotations

from .labels import Label
from .timefmt import DAY, HOUR, MINUTE
from .world import World, make_node

SCALE_CANDIDATES = ("frontend", "catalog", "checkout", "cart", "recommendations")


def day_of(world: World, day_in_14: int, *, detection: bool = True) -> int:
    """Where a change placed on day N of a 14-day world falls in a world of another length."""
    d = round(day_in_14 * world.days / 14)
    lo = min(world.attack_day, world.days - 1) if detection else 0
    return max(lo, min(world.days - 1, d))


def plan(world: World) -> None:
    rng = world.rng("benign")
    ch = world.changes

    def at(day_in_14: int, hours: float, *, detection: bool = True) -> int:
        return world.day_start(day_of(world, day_in_14, detection=detection)) + int(hours * HOUR)

    ch["new_app_at"] = at(9, 14.2)
    ch["ci_pool_switch"] = at(10, 0.0)
    mig = at(10, 9.0)
    ch["migration_start"] = mig
    ch["migration_by"] = "carol@example.com"
    old = [n for n in world.nodes if n.pool == "a"]
    taken = {int(n.ip.rsplit(".", 1)[1]) for n in old}
    lasts = [x for x in rng.sample(range(100, 250), 12) if x not in taken][: len(old)]
    for i, last in enumerate(sorted(lasts)):
        world.nodes.append(make_node(world, rng, "b", i, last, mig - 30 * MINUTE + i * int(40e6)))
    ch["migration_drain"] = {n.name: mig + i * 12 * MINUTE for i, n in enumerate(sorted(old, key=lambda n: n.name))}
    ch["migration_end"] = mig + len(old) * 12 * MINUTE + 20 * MINUTE
    ch["debug_exec"] = mig + int(rng.uniform(35, 70) * MINUTE)
    b0 = at(11, 15.0) + int(rng.uniform(0, 50) * MINUTE)
    ch["brownout"] = (b0, b0 + 15 * MINUTE)
    target = rng.choice(SCALE_CANDIDATES)
    ch["scale"] = (target, at(11, 8.0), at(11, 8.0) + DAY)
    ch["scale_by"] = "alice@example.com"
    ch["upgrade_at"] = at(12, 10.0)
    ch["aws_key_rotation"] = at(11, 10.5)
    ch["azure_secret_rotation"] = at(12, 11.0)
    debug = at(4, 13.0, detection=False)
    ch["token_debug_logging"] = (debug, debug + 5 * HOUR)


def _tokens_of(pods, t0: int, t1: int, used: set[str]) -> list[str]:
    """JTIs the given pods used between t0 and t1."""
    return sorted({t.jti for p in pods for t in p.tokens if t.iat < t1 and p.gone > t0 and t.jti in used})


def labels(world: World, used: set[str]) -> list[Label]:
    """Labels of the benign changes; `used` holds the token ids that carried traffic."""
    ch, out = world.changes, []
    end = world.end

    def clip(t: int) -> int:
        return min(t, end)

    upgraded = [w for w in world.workloads.values() if w.upgrade_at is not None]
    if upgraded:
        t0 = min(w.upgrade_at for w in upgraded)
        t1 = clip(max(w.upgrade_at for w in upgraded) + 2 * HOUR)
        pods = [p for w in upgraded for p in w.pods if t0 <= p.created < t1]
        out.append(Label("b01-client-upgrade", "client-upgrade", False, "k8s", None,
                         sorted({w.sa.username for w in upgraded}), _tokens_of(pods, t0, t1, used), t0, t1,
                         "Fleet-wide client upgrade: every controller and node agent is rolled by Argo CD within two "
                         "hours and reports a new version in its user agent (new pods, new JTIs).", []))
    mig, mig_end = ch["migration_start"], clip(ch["migration_end"] + HOUR)
    moved = [p for w in world.workloads.values() if w.spec.kind != "CronJob" for p in w.pods
             if mig - 30 * MINUTE <= p.created < mig_end]
    out.append(Label("b02-node-pool-migration", "node-pool-migration", False, "k8s", None,
                     sorted({p.workload.sa.username for p in moved}), _tokens_of(moved, mig - 30 * MINUTE, mig_end, used),
                     mig - 30 * MINUTE, mig_end,
                     "Node-pool migration: six new nodes (new names, pod CIDR 10.245.N.0/24) join, the old pool "
                     "is cordoned and drained by an SRE; every pod is evicted and rescheduled with a new IP.", []))
    who, t = ch["migration_by"], ch["debug_exec"]
    if t < end:
        out.append(Label("b09-sre-debug-exec", "human-debug-exec", False, "k8s", who, [who], [], t - MINUTE,
                         clip(t + 10 * MINUTE),
                         "During the node migration an SRE execs into a kube-system CNI agent pod (via OIDC, from the "
                         "office or home) to read its log and run its health probe.", []))
    b0, b1 = ch["brownout"]
    out.append(Label("b03-apiserver-brownout", "api-brownout", False, "k8s", "*", ["*"], [], b0, clip(b1 + 5 * MINUTE),
                     "API server brownout: for 15 minutes priority-and-fairness rejects about half of all requests "
                     "with 429 and some fail with 503; clients retry.", []))
    new = next((w for w in world.workloads.values() if w.spec.introduced), None)
    if new is not None and new.introduced_at is not None and new.introduced_at < end:
        t0, t1 = new.introduced_at, clip(new.introduced_at + DAY)
        argo = world.workloads["argocd-application-controller"]
        deployer = argo.leader(t0) or argo.pods[-1]
        out.append(Label("b04-new-app", "new-workload", False, "k8s", new.sa.username,
                         [new.sa.username, argo.sa.username],
                         _tokens_of(new.pods, t0, t1, used) + [deployer.token_at(t0).jti], t0 - 10 * MINUTE, t1,
                         f"A new application ({new.namespace}/{new.name}) is deployed by Argo CD (which creates its "
                         "service account, Role and RoleBinding); it reads its own configmaps and secrets like its "
                         "peers.", []))
    name, s0, s1 = ch["scale"]
    w = world.workloads[name]
    extra = [p for p in w.pods if s0 <= p.created < s0 + 10 * MINUTE]
    out.append(Label("b05-scale-out", "scale-out", False, "k8s", w.sa.username, [w.sa.username],
                     _tokens_of(extra, s0, clip(s1 + HOUR), used), s0, clip(s1 + HOUR),
                     f"{w.namespace}/{w.name} is scaled from {w.spec.replicas} to {3 * w.spec.replicas} replicas "
                     "for a day and back.", []))
    out += cloud_labels(world)
    return out


def cloud_labels(world: World) -> list[Label]:
    ch, cloud, out = world.changes, world.cloud, []
    end = world.end
    ci = cloud.users["ci-deployer"]
    old, new = ci.keys[0], ci.keys[1]
    rot = ch["aws_key_rotation"]
    out.append(Label("b06-aws-key-rotation", "access-key-rotation", False, "aws", ci.arn,
                     [ci.arn, cloud.sso_role[cloud.prod].arn], [old.key_id, new.key_id], rot - 5 * MINUTE,
                     min(end, old.active_until + DAY + 5 * MINUTE),
                     "The CI user's access key is rotated by an administrator in the console (CreateAccessKey, "
                     "UpdateAccessKey Inactive, DeleteAccessKey); pipelines switch to the new AKIA key.", []))
    switch = ch["ci_pool_switch"]
    sa = world.sa("platform-ci", "gha-deployer")
    gha = cloud.apps["gha-deploy"]
    out.append(Label("b07-ci-runner-addresses", "ci-egress-change", False, None, None,
                     [sa.username, ci.arn, gha.app_id, cloud.gcp["terraform-ci"].email, cloud.gcp["terraform-runner"].email],
                     [sa.legacy_token_id, old.key_id, new.key_id, gha.keys[0][0], cloud.gcp["terraform-ci"].keys[0][0]],
                     switch, min(end, switch + 2 * DAY),
                     "CI runners get new public addresses (a new pool in the same GitHub-hosted ranges): every CI "
                     "credential (cluster token, AWS key, GCP key, Azure deploy principal) is used from new IPs.", [],
                     details={"sources": ["k8s", "aws", "gcp", "azure"]}))
    mon = cloud.apps["monitor-exporter"]
    (k_old, _, _), (k_new, created, _) = mon.keys[0], mon.keys[1]
    if created < end:
        out.append(Label("b08-azure-secret-rotation", "sp-secret-rotation", False, "azure", mon.app_id, [mon.app_id],
                         [k_old, k_new], created - MINUTE, min(end, mon.retired[k_old] + 2 * HOUR),
                         "The monitoring application's client secret is rotated by an administrator: a new key id "
                         "signs in from the same address; the old secret is removed a day later (two failed sign-ins "
                         "from a forgotten replica).", []))
    return out

