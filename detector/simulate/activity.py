"""Time shapes of activity: diurnal and weekly modulation, and Poisson arrival times."""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone

from .rand import poisson
from .timefmt import HOUR, US


def _daytime_shape() -> list[float]:
    # business traffic of a European/US customer base: low at night, peak mid-afternoon UTC
    raw = [0.25 + math.exp(-((h + 0.5 - 14.5) ** 2) / (2 * 4.0 ** 2)) for h in range(24)]
    mean = sum(raw) / 24
    return [v / mean for v in raw]


DAYTIME = _daytime_shape()


def hourly_factors(day_start_us: int, diurnal: float, weekend: float) -> list[float]:
    """Multipliers of the base rate for each hour of the day starting at `day_start_us`."""
    wd = datetime.fromtimestamp(day_start_us // US, tz=timezone.utc).weekday()
    week = weekend if wd >= 5 else 1.0
    return [week * ((1.0 - diurnal) + diurnal * DAYTIME[h]) for h in range(24)]


def arrivals(rng: random.Random, a: int, b: int, per_hour: float, factors: list[float], day_start: int) -> list[int]:
    """Poisson arrival times in [a, b) at `per_hour` × the factor of each hour."""
    if b <= a or per_hour <= 0:
        return []
    times: list[int] = []
    h0 = max(0, (a - day_start) // HOUR)
    h1 = min(23, (b - 1 - day_start) // HOUR)
    for h in range(h0, h1 + 1):
        lo = max(a, day_start + h * HOUR)
        hi = min(b, day_start + (h + 1) * HOUR)
        if hi <= lo:
            continue
        n = poisson(rng, per_hour * factors[h] * (hi - lo) / HOUR)
        span = hi - lo
        times.extend(lo + int(rng.random() * span) for _ in range(n))
    times.sort()
    return times


def periodic(rng: random.Random, a: int, b: int, period_us: int, phase: int, jitter: float = 0.1) -> list[int]:
    """Ticks of a timer with the given period (and a little jitter) that fall in [a, b)."""
    if period_us <= 0:
        return []
    t = phase if phase >= a else phase + ((a - phase) // period_us + 1) * period_us
    out = []
    while t < b:
        out.append(t + int(rng.uniform(-jitter, jitter) * period_us))
        t += period_us
    return [x for x in out if a <= x < b]
