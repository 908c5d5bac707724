"""Inventory and hygiene parameters (a settings section of its own, usable in the library alone).

```yaml
inventory:
  max_key_age: 90d          # a long-term key older than this is a finding
  dormant_after: 5d         # silence after which a long-lived credential counts as dormant
  min_rotation_evidence: 7d # logs needed before "never seen rotating" may be said
  home_networks: [52.2.0.0/16]  # your own cloud egress (NAT gateways); learned from IRSA too
```
"""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import parse_duration


class InventoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_key_age: str = Field("90d", description="age beyond which a long-term key is a finding (CIS: rotate within 90 days)")
    dormant_after: str = Field("5d", description="silence after which a long-lived credential counts as dormant")
    stale_bound_after: str = Field(
        "24h", description="a bound token still used this long after it was minted: its client never reloads it")
    min_rotation_evidence: str = Field(
        "7d", description="how much log history a key must span before 'never seen rotating' is said of it")
    shared_min_programs: int = Field(3, ge=2, description="distinct client programs on one credential that make it shared")
    shared_min_hour_ips: int = Field(4, ge=2, description="distinct addresses within one hour that make a credential shared")
    shared_min_networks: int = Field(
        24, ge=2, description="distinct /24 networks over its life that make a credential shared")
    sprawl_min_live: int = Field(2, ge=2, description="live long-lived credentials of one principal that count as sprawl")
    home_networks: list[str] = Field(
        default_factory=list,
        description="CIDRs of your own egress (cluster NAT gateways, VPN): use from there is not 'outside'")

    @field_validator("max_key_age", "dormant_after", "min_rotation_evidence", "stale_bound_after")
    @classmethod
    def _durations(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("home_networks")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)
        return values

    def us(self, name: str) -> int:
        return parse_duration(getattr(self, name))
