"""Assemble a world for a seed: entities, benign-change plan, scenario plan, pod lifecycles."""

from __future__ import annotations

from . import benign, catalog
from .lifecycle import Lifecycle
from .net import AddressPlan
from .rand import hex_id, k8s_suffix, uuid4
from .schedule import plan_ci
from .timefmt import DAY
from .world import ControlPlaneSA, K8sPrincipal, World, human_principal, make_node, new_sa


def learning_days(days: int) -> int:
    return 7 if days >= 10 else max(1, days // 2)


def build_world(seed: int, start_us: int, days: int, scale: float) -> World:
    learn = learning_days(days)
    attack_day = learn + 1 if days > learn + 1 else learn
    root = __import__("random").Random(seed)
    addr = AddressPlan.draw(root, sorted(catalog.HUMANS))
    world = World(seed=seed, start=start_us, days=days, scale=scale, learning_days=learn, attack_day=attack_day, addr=addr)
    rng = world.rng("world")
    world.cluster_uid = uuid4(rng)
    world.oidc_id = hex_id(rng, 32).upper()
    world.control_plane_ips = [f"10.0.0.{x}" for x in rng.sample(range(10, 60), 2)]
    for i, last in enumerate(sorted(rng.sample(range(20, 90), 6))):
        world.nodes.append(make_node(world, rng, "a", i, last, start_us - 60 * DAY))

    for spec in catalog.WORKLOADS:
        sa = new_sa(world, spec.namespace, spec.sa_name, spec.legacy)
        if spec.role in ("webapp", "worker", "cron"):
            sa.principal.rbac = ("sa", "role", None)
        from .world import Workload

        world.workloads[spec.name] = Workload(spec, sa)
    ci = new_sa(world, "platform-ci", "gha-deployer", "manual")
    ci.principal.rbac = ("cluster", "gha-deployer", "cluster-admin")  # over-privileged, as CI accounts often are
    ci.principal.subject = 'ServiceAccount "gha-deployer/platform-ci"'
    for ns, name in catalog.PASSIVE_SAS:
        new_sa(world, ns, name)
    for name, (rate, ops) in catalog.CONTROL_PLANE_SAS.items():
        sa = new_sa(world, "kube-system", name)
        sa.principal.rbac = ("cluster", f"system:controller:{name}", f"system:controller:{name}")
        sa.principal.subject = f'ServiceAccount "{name}/kube-system"'
        world.control_plane[name] = ControlPlaneSA(sa, rate, ops)
    for user in ("kube-controller-manager", "kube-scheduler"):
        world.special[user.split("-")[-1] if user.endswith("scheduler") else "kcm"] = K8sPrincipal(
            f"system:{user}", ["system:authenticated"], rbac=("cluster", f"system:{user}", f"system:{user}"),
            subject=f'User "system:{user}"')
    for name, info in catalog.HUMANS.items():
        world.humans[name] = human_principal(name, info["groups"])
    _named(world, rng)

    benign.plan(world)
    from . import scenarios

    scenarios.plan(world)
    Lifecycle(world).build()
    world.plans["ci"] = plan_ci(world)
    from .cloud_world import build_cloud

    world.cloud = build_cloud(world)
    scenarios.bind(world)
    return world


def _named(world: World, rng) -> None:
    deployments = [(w.namespace, w.name) for w in world.workloads.values() if w.spec.kind == "Deployment"]
    world.named = {
        "azs": ["us-east-1a", "us-east-1b"],
        "pvs": [f"pvc-{uuid4(rng)}" for _ in range(6)],
        "vas": [f"csi-{hex_id(rng, 64)}" for _ in range(4)],
        "tls_secrets": [("shop", "shop-tls"), ("payments", "payments-tls"), ("argocd", "argocd-server-tls"),
                        ("monitoring", "grafana-tls"), ("ingress-nginx", "default-ssl-certificate")],
        "certs": [("shop", "shop-tls"), ("payments", "payments-tls"), ("argocd", "argocd-server-tls"),
                  ("monitoring", "grafana-tls")],
        "ingresses": [("shop", "storefront"), ("shop", "storefront-api"), ("payments", "payments-api"),
                      ("argocd", "argocd-server"), ("monitoring", "grafana")],
        "endpointslices": [(ns, f"{name}-{k8s_suffix(rng)}") for ns, name in deployments],
        "deployments": deployments,
        "statefulsets": [(w.namespace, w.name) for w in world.workloads.values() if w.spec.kind == "StatefulSet"],
        "daemonsets": [(w.namespace, w.name) for w in world.workloads.values() if w.spec.kind == "DaemonSet"],
        "argo_apps": ["shop", "payments", "batch", "monitoring", "cert-manager", "ingress-nginx", "platform"],
        "clusterroles": ["prometheus-k8s", "kube-state-metrics", "cert-manager-controller-certificates",
                         "ingress-nginx", "external-dns", "argocd-server"],
    }


__all__ = ["build_world", "learning_days"]
