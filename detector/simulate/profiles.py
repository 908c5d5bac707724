"""How a Kubernetes workload talks to the API server: the vocabulary of behaviour profiles.

A profile lists weighted operations (`Op`), informer watches (`Watch`) and an optional leader
election lease. Names and namespaces may be placeholders resolved at generation time:
`$pod`, `$node`, `$ns` (the pod's own), or `@list` (one of the world's named lists, e.g. the
TLS secrets cert-manager maintains). Scopes: "own" (the pod's namespace), "cluster"
(cluster-scoped resource), "all" (across all namespaces), "apps" (one of the application
namespaces), or a namespace name.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Op:
    verb: str
    resource: str | None  # None: a non-resource URL in `path` (/metrics, /api, /openapi/v3)
    group: str = ""
    version: str = "v1"
    sub: str | None = None
    scope: str = "own"
    names: tuple[str, ...] = ()
    weight: float = 1.0
    query: str = ""
    path: str = ""
    fail: tuple[tuple[int, float], ...] = ()  # (status code, probability) beyond the base rates


@dataclass(frozen=True)
class Watch:
    resource: str
    group: str = ""
    version: str = "v1"
    scope: str = "all"
    selector: str = ""


@dataclass(frozen=True)
class Profile:
    rate: float = 0.0  # operations per pod per hour at scale 1 (cron: per hour while running)
    ops: tuple[Op, ...] = ()
    watches: tuple[Watch, ...] = ()
    start_ops: tuple[Op, ...] = ()  # once when the pod starts (initial reads, permission checks)
    lease: tuple[str, str] | None = None  # (namespace, name) of a leader-election lease
    lease_period_s: float = 60.0
    diurnal: float = 0.0  # 0: flat; 1: traffic follows the working day
    weekend: float = 1.0  # activity factor on Saturdays and Sundays
    leader_only: bool = False  # only the lease holder does the work (controllers)


def get(resource: str, *names: str, **kw) -> Op:
    return Op("get", resource, names=names, **kw)


def list_(resource: str, **kw) -> Op:
    return Op("list", resource, **kw)


def update(resource: str, *names: str, **kw) -> Op:
    return Op("update", resource, names=names, **kw)


def patch(resource: str, *names: str, **kw) -> Op:
    return Op("patch", resource, names=names, **kw)


def create(resource: str, *names: str, **kw) -> Op:
    return Op("create", resource, names=names, **kw)


def nonresource(path: str, weight: float = 1.0) -> Op:
    return Op("get", None, path=path, weight=weight)


@dataclass(frozen=True)
class WorkloadSpec:
    namespace: str
    name: str
    kind: str  # Deployment | DaemonSet | StatefulSet | CronJob
    role: str  # controller | daemon | webapp | worker | cron
    profile: Profile
    uas: tuple[str, ...]  # one per container that calls the API; "{v}" takes the version
    versions: tuple[str, str] = ("", "")  # before / after the fleet-wide client upgrade
    replicas: int = 1
    sa: str = ""  # defaults to the workload name
    host_network: bool = False
    drain_s: tuple[int, int] = (3, 25)  # delete request → pod object gone
    cron: tuple[int, int, int] | None = None  # hour, minute, run seconds
    legacy: str | None = None  # "auto" / "manual": a secret-based token instead of a bound one
    irsa: str | None = None  # key of the IRSA role the pod assumes
    stale_token: bool = False  # never reloads its token file (old client library)
    deploys_per_week: float = 0.0
    deployer: str = "argocd"  # argocd | ci
    introduced: bool = False  # deployed mid-world (the "new app" benign change)
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def sa_name(self) -> str:
        return self.sa or self.name
