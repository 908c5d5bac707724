"""The injected malicious scenarios: which exist, when they happen, and their emission.

Twelve scenarios, one per kind of token misuse the detector is meant to catch, each placed
after the learning period at a seed-chosen time with seed-chosen victims and variants.
"""

from __future__ import annotations

from .labels import Label
from .lifecycle import working_time
from .scenario_base import Scenario, attack_slots, within
from .scenarios_cloud import AzureSpBackdoor, DormantKeyWakes, GcpKeyImpersonation, IrsaSessionExternal
from .scenarios_k8s import (
    DeletedPodReplay,
    ExecKubeSystem,
    LateralMovement,
    LegacyTokenExternal,
    PermissionEnumeration,
    RbacEscalation,
    StolenBoundToken,
    TokenMinting,
)
from .timefmt import DAY, HOUR
from .world import World

# id, kind, source, class, MITRE ATT&CK techniques
CATALOG = (
    ("s01-stolen-bound-token", "stolen-bound-token", "k8s", StolenBoundToken, ["T1528", "T1552.007", "T1078.004"]),
    ("s02-deleted-pod-token-replay", "deleted-pod-token-replay", "k8s", DeletedPodReplay, ["T1550.001", "T1528"]),
    ("s03-lateral-token-reuse", "lateral-token-reuse", "k8s", LateralMovement, ["T1550.001", "T1528"]),
    ("s04-rbac-escalation", "rbac-escalation", "k8s", RbacEscalation, ["T1098.006", "T1078.004"]),
    ("s05-token-minting", "token-minting", "k8s", TokenMinting, ["T1528", "T1550.001", "T1098.006"]),
    ("s06-exec-kube-system", "exec-kube-system", "k8s", ExecKubeSystem, ["T1609", "T1552.007"]),
    ("s07-permission-enumeration", "permission-enumeration", "k8s", PermissionEnumeration, ["T1613", "T1069"]),
    ("s08-irsa-session-external", "irsa-session-external", "aws", IrsaSessionExternal, ["T1528", "T1078.004", "T1580", "T1087.004"]),
    ("s09-dormant-key-persistence", "dormant-key-persistence", "aws", DormantKeyWakes, ["T1078.004", "T1136.003", "T1098.001"]),
    ("s10-gcp-key-impersonation", "gcp-key-impersonation", "gcp", GcpKeyImpersonation, ["T1078.004", "T1098.001", "T1550.001"]),
    ("s11-azure-sp-new-secret", "azure-sp-new-secret", "azure", AzureSpBackdoor, ["T1098.001", "T1078.004", "T1552"]),
    ("s12-legacy-token-external", "legacy-token-external", "k8s", LegacyTokenExternal, ["T1078.004", "T1552.007", "T1613"]),
)


def plan(world: World) -> None:
    rng = world.rng("scenarios")
    slots = attack_slots(world, len(CATALOG), rng)
    planned: list[Scenario] = []
    for (sid, kind, source, cls, techniques), slot in zip(CATALOG, slots):
        sc = cls(sid, kind, source, list(techniques), start=within(world, slot))
        sc.rng = world.rng("scenario", sid)
        if cls is DeletedPodReplay:  # rides on an ordinary daytime rollout
            day = (sc.start - world.start) // DAY
            sc.start = within(world, working_time(world, sc.rng, day, 9.0, 16.0))
        b0, b1 = world.changes["brownout"]
        if b0 - 2 * HOUR <= sc.start <= b1 + HOUR:  # keep incidents apart from the outage
            sc.start = within(world, b1 + 2 * HOUR + int(sc.rng.uniform(0, 3) * 3_600_000_000))
        sc.plan(world)
        planned.append(sc)
    world.plans["scenarios"] = planned


def bind(world: World) -> None:
    for sc in world.plans["scenarios"]:
        sc.bind(world)


class Injector:
    """Emits each scenario on its start day, through the same writers as normal traffic."""

    def __init__(self, world: World, k8s, trail, gcp, azure, traffic, clients, aws, gcp_traffic, azure_traffic):
        self.world, self.k8s, self.trail, self.gcp, self.azure = world, k8s, trail, gcp, azure
        self.traffic, self.clients, self.aws, self.gcp_traffic, self.azure_traffic = (
            traffic, clients, aws, gcp_traffic, azure_traffic)
        self.scenarios: list[Scenario] = world.plans["scenarios"]

    def day(self, day: int) -> None:
        d0 = self.world.day_start(day)
        for sc in self.scenarios:
            if d0 <= sc.start < d0 + DAY:
                sc.emit(self)

    def labels(self) -> list[Label]:
        return [sc.label() for sc in self.scenarios]
