"""Timestamps as each log family prints them, from integer microseconds since the epoch.

Formatting is on the hot path (two timestamps per K8s event), so each minute's prefix is built
once with strftime and the seconds and fraction are appended.
"""

from __future__ import annotations

from datetime import datetime, timezone

US = 1_000_000
MINUTE = 60 * US
HOUR = 3600 * US
DAY = 86400 * US

_minutes: dict[int, str] = {}


def _minute_prefix(minute: int) -> str:
    prefix = _minutes.get(minute)
    if prefix is None:
        prefix = datetime.fromtimestamp(minute * 60, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:")
        if len(_minutes) > 200_000:
            _minutes.clear()
        _minutes[minute] = prefix
    return prefix


def to_us(dt: datetime) -> int:
    return int(dt.timestamp()) * US + dt.microsecond


def to_dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts // US, tz=timezone.utc).replace(microsecond=ts % US)


def iso_micro(ts: int) -> str:
    """K8s audit: 2026-11-02T01:02:03.123456Z"""
    minute, rest = divmod(ts, MINUTE)
    prefix = _minutes.get(minute) or _minute_prefix(minute)
    return f"{prefix}{rest // US:02d}.{rest % US:06d}Z"


def iso_seconds(ts: int) -> str:
    """CloudTrail eventTime: 2026-11-02T01:02:03Z"""
    minute, rest = divmod(ts, MINUTE)
    return f"{_minute_prefix(minute)}{rest // US:02d}Z"


def iso_nanos(ts: int) -> str:
    """Cloud Logging: 2026-11-02T01:02:03.123456789Z (the last digits are not real precision)."""
    minute, rest = divmod(ts, MINUTE)
    sec, micro = divmod(rest, US)
    return f"{_minute_prefix(minute)}{sec:02d}.{micro:06d}{(ts * 7919) % 1000:03d}Z"


def iso_7(ts: int) -> str:
    """Azure diagnostic records: 2026-11-02T01:02:03.1234567Z"""
    minute, rest = divmod(ts, MINUTE)
    sec, micro = divmod(rest, US)
    return f"{_minute_prefix(minute)}{sec:02d}.{micro:06d}{ts % 7}Z"


def iso_offset(ts: int) -> str:
    """Entra createdDateTime: 2026-11-02T01:02:03.1234567+00:00"""
    return iso_7(ts)[:-1] + "+00:00"


def cloudtrail_expiration(ts: int) -> str:
    """The odd human format of STS credential expirations in CloudTrail: 'Nov 2, 2026, 2:00:00 AM'."""
    dt = to_dt(ts)
    hour = dt.hour % 12 or 12
    return f"{dt:%b} {dt.day}, {dt.year}, {hour}:{dt:%M:%S} {'AM' if dt.hour < 12 else 'PM'}"
