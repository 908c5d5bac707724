"""Learned state: what is normal for each token, each principal and each peer group.

Kept compact on purpose (the budget is ≤ 4 KB per tracked token): bound K8s tokens rotate hourly,
so most tokens carry only their pod binding and a couple of addresses, while the rich baseline
(networks, user-agent families, actions, namespaces, hours) lives once per principal and once per
peer group. Dicts map a value to the last time it was seen (µs), so old values can age out and a
snapshot is plain JSON.
"""

from __future__ import annotations

from typing import Any

HOURS_PER_WEEK = 168
# Caps keep one noisy principal from growing without bound; the oldest value is forgotten first.
CAP_NETS = 256
CAP_UAS = 64
CAP_ACTIONS = 1024
CAP_NAMESPACES = 256
CAP_TOKEN_IPS = 8


def remember(values: dict[str, int], key: str, ts: int, cap: int) -> None:
    """Record `key` as seen at `ts`, evicting the least recently seen value beyond `cap`."""
    if key not in values and len(values) >= cap:
        del values[min(values, key=values.__getitem__)]
    values[key] = ts


class TokenState:
    """One credential: when and where it was used, and (for bound tokens) which pod holds it."""

    __slots__ = (
        "principal",  # PrincipalState key
        "kind",
        "first_seen",
        "last_seen",
        "events",
        "ips",  # addresses this token was used from (first one first)
        "pod",  # "namespace/name" of the pod a bound token is tied to
        "pod_uid",
        "node",
        "parent",  # lineage: (kind, principal, token, ts, ip) of the call that issued it
        "superseded_at",  # when its pod first used a newer token (bound tokens)
    )

    def __init__(self, principal: str, kind: str | None, ts: int):
        self.principal = principal
        self.kind = kind
        self.first_seen = ts
        self.last_seen = ts
        self.events = 0
        self.ips: list[str] = []
        self.pod = self.pod_uid = self.node = None
        self.parent: tuple | None = None
        self.superseded_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TokenState":
        state = cls.__new__(cls)
        for name in cls.__slots__:
            value = data.get(name)
            setattr(state, name, tuple(value) if name == "parent" and value is not None else value)
        if state.ips is None:
            state.ips = []
        return state


class Baseline:
    """What one principal (or one peer group) normally does. `learn_*` only ever adds."""

    __slots__ = (
        "key",
        "first_seen",
        "last_seen",
        "events",
        "nets",  # /24 or /64 → last seen
        "wide_nets",  # /16 or /48 → last seen
        "public",  # used from public addresses during normal operation
        "uas",  # user-agent family → last seen
        "actions",  # action → last seen
        "namespaces",  # K8s namespace → last seen
        "secret_namespaces",  # namespaces whose secrets it reads
        "sensitive_scopes",  # "action|namespace" of its sensitive actions (exec, secrets, RBAC…)
        "hours",  # events per hour of the week
        "hod_mask",  # bit h set: active at hour-of-day h (UTC)
        "active_days",  # distinct days with activity (for hour-of-week confidence)
        "last_day",
        "authz_failures",  # denied requests learned (403, AccessDenied, PERMISSION_DENIED…)
        "writes",  # successful non-read requests learned
        "window_events",  # EWMA of events per active 5-minute window
        "members",  # peer groups: how many principals
    )

    def __init__(self, key: str, ts: int):
        self.key = key
        self.first_seen = ts
        self.last_seen = ts
        self.events = 0
        self.nets: dict[str, int] = {}
        self.wide_nets: dict[str, int] = {}
        self.public = False
        self.uas: dict[str, int] = {}
        self.actions: dict[str, int] = {}
        self.namespaces: dict[str, int] = {}
        self.secret_namespaces: dict[str, int] = {}
        self.sensitive_scopes: dict[str, int] = {}
        self.hours: list[int] = [0] * HOURS_PER_WEEK
        self.hod_mask = 0
        self.active_days = 0
        self.last_day = -1
        self.authz_failures = 0
        self.writes = 0
        self.window_events = 0.0
        self.members = 0

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in Baseline.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Baseline":
        state = cls.__new__(cls)
        for name in Baseline.__slots__:
            setattr(state, name, data[name])
        return state


class PrincipalState(Baseline):
    """A principal's baseline plus what identifies it."""

    __slots__ = ("source", "tenant", "principal", "principal_type", "peer", "machine", "tokens")

    def __init__(self, key: str, ts: int, source: str, tenant: str | None, principal: str,
                 principal_type: str | None, peer: str, machine: bool):
        super().__init__(key, ts)
        self.source = source
        self.tenant = tenant
        self.principal = principal
        self.principal_type = principal_type
        self.peer = peer
        self.machine = machine
        self.tokens: set[str] = set()  # keys of its TokenStates

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        for name in PrincipalState.__slots__:
            data[name] = getattr(self, name)
        data["tokens"] = sorted(self.tokens)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PrincipalState":
        state = cls.__new__(cls)
        for name in Baseline.__slots__ + cls.__slots__:
            setattr(state, name, data[name])
        state.tokens = set(data["tokens"])
        return state
