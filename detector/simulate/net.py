"""Address plans: where legitimate and hostile traffic comes from.

All public ranges are real allocations of the kind of party they stand for (GitHub-hosted
runners live in Azure ranges, NAT gateways in AWS ranges, Tor exits in the ranges Tor relays
actually use), so an "external" address carries no marker that real data would lack.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


def ip_in(rng: random.Random, prefix: str) -> str:
    """A host address inside a /16 or /24 given as "a.b" or "a.b.c"."""
    parts = prefix.split(".")
    while len(parts) < 4:
        parts.append(str(rng.randint(1, 254)))
    return ".".join(parts)


# GitHub-hosted Actions runners (Azure address space, as published in api.github.com/meta).
CI_RANGES = ("4.148", "4.175", "13.64", "20.57", "20.102", "40.84", "52.234", "172.183")
# Cluster NAT gateways and other AWS-hosted egress (us-east-1 EC2 ranges).
AWS_EGRESS = ("3.208", "3.214", "3.219", "34.192", "44.195", "52.2", "52.71", "54.84")
# Tor exit relays, VPS/hosting providers, residential ISPs: where misuse often originates.
TOR_EXITS = ("185.220.101", "185.220.100", "192.42.116", "109.70.100", "45.141.215")
VPS = ("159.223", "164.92", "45.32", "149.28", "5.75", "95.217", "51.75", "139.59", "172.104")
RESIDENTIAL = ("73.162", "98.207", "86.155", "92.40", "24.48", "79.140", "187.19")
CLOUD_ATTACKER = ("18.206", "54.166", "35.199", "34.82")  # rented instances in big clouds


@dataclass
class AddressPlan:
    """The fixed addresses of the organisation, drawn once per seed."""

    nat_ips: list[str]
    office_ips: list[str]
    home_ips: dict[str, str]
    onprem_ip: str
    onprem_etl_ip: str
    monitoring_saas_ip: str
    ci_pools: list[list[str]] = field(default_factory=list)  # one pool per CI-runner era

    @classmethod
    def draw(cls, rng: random.Random, humans: list[str]) -> "AddressPlan":
        nat = [ip_in(rng, rng.choice(AWS_EGRESS)) for _ in range(2)]
        office_base = f"{rng.choice(('91.203', '193.29', '62.96', '81.17'))}.{rng.randint(10, 250)}"
        office = [f"{office_base}.{n}" for n in rng.sample(range(10, 60), 2)]
        homes = {h: ip_in(rng, rng.choice(RESIDENTIAL)) for h in humans}
        onprem = f"{rng.choice(('194.8', '212.51', '145.40'))}.{rng.randint(10, 250)}"
        ci_ranges = rng.sample(CI_RANGES, 4)
        # Both eras draw from the same public ranges; only the addresses change.
        pools = [[ip_in(rng, rng.choice(ci_ranges)) for _ in range(36)] for _ in range(2)]
        return cls(
            nat_ips=nat,
            office_ips=office,
            home_ips=homes,
            onprem_ip=f"{onprem}.{rng.randint(2, 40)}",
            onprem_etl_ip=f"{onprem}.{rng.randint(41, 90)}",
            monitoring_saas_ip=ip_in(rng, rng.choice(("3.233", "44.192", "54.209"))),
            ci_pools=pools,
        )


def attacker_ip(rng: random.Random) -> str:
    """An address an intruder might come from: Tor, a VPS, a residential proxy, a cloud VM."""
    kind = rng.choices(("tor", "vps", "residential", "cloud"), weights=(4, 3, 2, 1))[0]
    pool = {"tor": TOR_EXITS, "vps": VPS, "residential": RESIDENTIAL, "cloud": CLOUD_ATTACKER}[kind]
    return ip_in(rng, rng.choice(pool))
