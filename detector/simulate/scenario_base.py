"""What every injected scenario shares: timing, victim choice, and bookkeeping for its label.

A scenario is planned before the pod lifecycles are simulated (it may need an event to happen,
e.g. a rollout that deletes its victim's pod), bound to concrete pods, tokens and sessions once
they exist, and emitted on its start day through the same record writers as normal traffic, so
its records differ from benign ones only in what the attacker does, never in format.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .k8s_audit import Caller
from .labels import Label
from .timefmt import HOUR
from .world import Pod, Token, World

if TYPE_CHECKING:  # pragma: no cover
    from .scenarios import Injector

KUBECTL_UAS = (
    "kubectl/v1.29.2 (linux/amd64) kubernetes/4b8e819",
    "kubectl/v1.30.1 (linux/amd64) kubernetes/6911225",
    "kubectl/v1.28.4 (darwin/arm64) kubernetes/bae2c62",
    "kubectl/v1.31.0 (linux/amd64) kubernetes/9edcffc",
)
SCRIPT_UAS = ("curl/8.5.0", "curl/7.88.1", "python-requests/2.31.0", "OpenAPI-Generator/29.0.0/python",
              "Go-http-client/1.1")
AWS_CLI = "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0-14-generic exe/x86_64.ubuntu.22 prompt/off command/{cmd}"
AWS_CLI_MAC = "aws-cli/2.13.25 Python/3.11.5 Darwin/23.1.0 exe/x86_64 prompt/off command/{cmd}"
BOTO3_ATTACKER = ("Boto3/1.34.14 md/Botocore#1.34.14 ua/2.0 os/linux#6.5.0-14-generic md/arch#x86_64 lang/python#3.11.6 "
                  "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.14")


@dataclass
class Scenario:
    id: str
    kind: str
    source: str
    techniques: list[str]
    start: int = 0  # planned start (µs)
    description: str = ""
    principal: str | None = None
    principals: list[str] = field(default_factory=list)
    token_ids: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    times: list[int] = field(default_factory=list)
    rng: random.Random | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def plan(self, world: World) -> None:
        """Before pods exist: reserve lifecycle events (forced rollouts) if needed."""

    def bind(self, world: World) -> None:
        """After lifecycles: pick concrete victims (pods, tokens, keys)."""

    def emit(self, inj: "Injector") -> None:
        raise NotImplementedError

    # -- bookkeeping --------------------------------------------------------------------------
    def mark(self, ts: int) -> int:
        self.times.append(ts)
        return ts

    def add_token(self, token_id: str) -> None:
        if token_id and token_id not in self.token_ids:
            self.token_ids.append(token_id)

    def add_principal(self, principal: str) -> None:
        if principal and principal not in self.principals:
            self.principals.append(principal)

    def label(self) -> Label:
        start = min(self.times) if self.times else self.start
        end = max(self.times) if self.times else self.start
        principals = list(self.principals)
        if self.principal and self.principal not in principals:
            principals.insert(0, self.principal)
        return Label(self.id, self.kind, True, self.source, self.principal, principals, list(self.token_ids),
                     start, end, self.description, self.techniques, len(self.times), dict(self.details))


def token_caller(token: Token, ip: str, ua: str) -> Caller:
    return Caller(token.sa.principal, token.user(), ip, ua, token.jti, token.iat)


def alive_pods(world: World, ts: int, *, exclude_ns: tuple[str, ...] = (), roles: tuple[str, ...] = (),
               bound_only: bool = True, min_left_us: int = 0) -> list[Pod]:
    out = []
    for w in world.workloads.values():
        if w.spec.kind == "CronJob" or w.namespace in exclude_ns:
            continue
        if roles and w.spec.role not in roles:
            continue
        if bound_only and (w.sa.legacy_secret or not True):
            continue
        for p in w.pods:
            if p.start <= ts and ts + min_left_us < p.active_end and (p.tokens or not bound_only):
                out.append(p)
    return out


def attack_slots(world: World, n: int, rng: random.Random) -> list[int]:
    """Start times for `n` scenarios spread over the detection window, half in working hours."""
    first, last = world.attack_day, world.days - 1
    span = max(1, last - first + 1)
    slots = []
    for i in range(n):
        day = first + (i * span) // n
        if rng.random() < 0.5:
            hour = rng.uniform(8.5, 17.5)
        else:
            hour = rng.uniform(0.2, 23.0)
        slots.append(world.day_start(day) + int(hour * HOUR))
    rng.shuffle(slots)
    return slots


def within(world: World, ts: int) -> int:
    """Clamp a time into the world, leaving room for a scenario to play out."""
    return max(world.start + HOUR, min(ts, world.end - 3 * HOUR))


__all__ = ["Scenario", "token_caller", "alive_pods", "attack_slots", "within", "KUBECTL_UAS", "SCRIPT_UAS",
           "AWS_CLI", "AWS_CLI_MAC", "BOTO3_ATTACKER"]
