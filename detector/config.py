"""Detector parameters (a section of the tokenhawk settings, usable on its own in the library)."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_US = {"ms": 1_000, "s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}


def parse_duration(text: str) -> int:
    """'7d', '6h', '15m', '30s', '500ms', '2w' → microseconds.

    >>> parse_duration("15m")
    900000000
    """
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration; use a number and a unit: 30s, 15m, 6h, 7d, 2w")
    return int(float(match.group(1)) * _UNIT_US[match.group(2)])


class Duration(str):
    """A duration kept as written (for display) with `.us` for arithmetic."""

    @property
    def us(self) -> int:
        return parse_duration(self)


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


class Suppression(BaseModel):
    """An allow-list entry: signals matching every given field are dropped until `expires`.

    `principal`, `action` and `signal` are shell-style globs; `cidr` is a network.
    """

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(description="why this is allowed (shown in audits of the allow list)")
    principal: str | None = None
    cidr: str | None = None
    action: str | None = None
    signal: str | None = None
    source: str | None = None
    expires: datetime | None = None

    @field_validator("cidr")
    @classmethod
    def _valid_cidr(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_network(value, strict=False)
        return value

    def active(self, ts_us: int) -> bool:
        if self.expires is None:
            return True
        expires = self.expires if self.expires.tzinfo else self.expires.replace(tzinfo=timezone.utc)
        return ts_us < int(expires.timestamp() * 1_000_000)

    def matches(self, *, principal: str, source: str, ip: str | None, action: str | None, signal: str) -> bool:
        if self.source is not None and self.source != source:
            return False
        if self.principal is not None and not fnmatch.fnmatchcase(principal, self.principal):
            return False
        if self.signal is not None and not fnmatch.fnmatchcase(signal, self.signal):
            return False
        if self.action is not None and not (action and fnmatch.fnmatchcase(action, self.action)):
            return False
        if self.cidr is not None:
            if not ip:
                return False
            try:
                if ipaddress.ip_address(ip) not in ipaddress.ip_network(self.cidr, strict=False):
                    return False
            except ValueError:
                return False
        return True


class DetectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learning_period: str = Field("7d", description="history needed before a principal (or its peer group) can alert")
    alert_threshold: float = Field(50.0, ge=0, le=100, description="fused score at which an incident becomes an alert")
    incident_gap: str = Field("6h", description="quiet time after which a token's incident closes")
    settle: str = Field("15m", description="how long weak-evidence incidents wait for fleet-wide context before alerting")
    dormant_after: str = Field("5d", description="silence after which a long-lived credential counts as dormant")
    pod_delete_grace: str = Field("5m", description="how long a deleted pod's token may still be used (termination)")
    supersede_grace: str = Field("15m", description="how long an old bound token may be used after its pod got a newer one")
    lateness: str = Field("60s", description="how late an event may arrive and still count in its 5-minute window")
    shift_min_principals: int = Field(3, ge=2, description="principals sharing a novelty at once that make it a fleet change")
    score_humans: bool = Field(False, description="also alert on human users (tokenhawk is built for machine credentials)")
    min_training_windows: int = Field(300, ge=10, description="windows a population needs before its isolation forest trains")
    suppressions: list[Suppression] = Field(default_factory=list)

    @field_validator("learning_period", "incident_gap", "settle", "dormant_after", "pod_delete_grace",
                     "supersede_grace", "lateness")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _check_duration(value)

    def us(self, name: str) -> int:
        return parse_duration(getattr(self, name))
