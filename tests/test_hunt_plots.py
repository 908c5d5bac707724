"""Every figure renders to PNG, from real helper output and from empty input, without pyplot."""

from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from detector.alert import example_alert
from detector.detect.windows import FEATURES
from detector.hunt import health, plots

PNG = b"\x89PNG"


def _png(fig: Figure) -> bytes:
    assert isinstance(fig, Figure) and fig.axes
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    return buffer.getvalue()


def _events(n: int = 40) -> pd.DataFrame:
    ts = pd.date_range("2026-11-02", periods=n, freq="37min", tz="UTC")
    return pd.DataFrame({"ts": ts, "event_id": [f"e{i}" for i in range(n)],
                         "action": np.where(np.arange(n) % 3 == 0, "list:secrets", "get:configmaps"),
                         "source_ip": np.where(np.arange(n) % 5 == 0, "185.220.101.47", "10.244.1.5")})


def _alerts() -> list[dict]:
    a, b = example_alert(), example_alert()
    b = b | {"score": 55.0, "severity": "medium", "first_seen": "2026-11-12T01:00:00.000000Z"}
    b["alert"] = {"id": "b", "status": "open"}
    return [a, b]


def test_triage_figures() -> None:
    events = _events()
    span = (events["ts"].iloc[10], events["ts"].iloc[14])
    assert _png(plots.timeline(events, flagged={"e10", "e12"}, span=span)).startswith(PNG)
    assert _png(plots.timeline(events, by="source_ip")).startswith(PNG)
    activity = pd.DataFrame({"principal": [3, 5], "token": [1, 2], "cited by the alert": [0, 2]},
                            index=pd.date_range("2026-11-02", periods=2, freq="h", tz="UTC"))
    assert _png(plots.activity(activity, span=span)).startswith(PNG)
    grid = np.arange(168).reshape(7, 24)
    fig = plots.hour_of_week({"history": grid, "token": grid * 0})
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2 and _png(fig).startswith(PNG)
    pivot = pd.DataFrame({"source_ip": ["185.220.101.47", "10.244.1.5"], "incident events": [4, 1],
                          "history events": [0, 820], "new": [True, False]})
    assert _png(plots.pivot_bars(pivot, "source_ip")).startswith(PNG)
    signals = pd.DataFrame({"kind": ["bound-token-ip-mismatch", "new-namespace"], "points": [85, 10]})
    assert _png(plots.signal_points(signals)).startswith(PNG)


def test_fleet_figures() -> None:
    kinds = pd.DataFrame({"label": ["k8s bound", "k8s legacy (long-lived)"], "tokens": [2000, 3],
                          "long_lived": [False, True]})
    assert _png(plots.kinds(kinds)).startswith(PNG)
    findings = pd.DataFrame({"kind": ["legacy-k8s-token", "dormant-token", "legacy-k8s-token"],
                             "severity": ["critical", "high", "high"]})
    assert _png(plots.findings_overview(findings)).startswith(PNG)
    tokens = pd.DataFrame({"last_seen": pd.to_datetime(["2026-11-09", "2026-11-15"], utc=True),
                           "longest_gap_days": [7.0, 0.2], "idle_days": [6.0, 0.0], "events": [58, 5000],
                           "alerts": [1, 0], "principal": ["arn:aws:iam::1:user/weekly", "system:serviceaccount:a:b"]})
    assert _png(plots.dormancy(tokens, after="5d")).startswith(PNG)
    spread = pd.DataFrame({"scope": ["k8s ns/shop", "aws 1"], "live": [12, 4], "long_lived_live": [0, 2],
                           "retired": [4000, 6]})
    assert _png(plots.sprawl(spread)).startswith(PNG)
    matrix = pd.DataFrame({"secret read": [3, 0], "token minting": [0, 9]}, index=["a", "b"])
    assert _png(plots.stacked_bars(matrix, "risky", log=True)).startswith(PNG)
    assert _png(plots.grouped_bars(matrix, "grouped", log=True)).startswith(PNG)
    assert _png(plots.bars(pd.Series({"x": 3, "y": 1}), "networks", highlight=["x"])).startswith(PNG)


def test_health_figures() -> None:
    table = pd.DataFrame([{"severity": a["severity"], "score": a["score"]} for a in _alerts()])
    assert _png(plots.score_histogram(table)).startswith(PNG)
    volume = health.alert_volume(_alerts(), start="2026-11-10", end="2026-11-13")
    assert _png(plots.volume(volume, "alerts", "alerts", colors=plots.SEVERITY_COLORS,
                             learning_until=pd.Timestamp("2026-11-11", tz="UTC"))).startswith(PNG)
    assert _png(plots.volume(volume, "lines", "n", stacked=False)).startswith(PNG)
    reasons = health.reason_counts(_alerts())
    assert _png(plots.reasons(reasons)).startswith(PNG)
    rng = np.random.default_rng(1)
    windows = pd.DataFrame({"population": "k8s", "anomaly": rng.uniform(0.35, 0.7, 200),
                            "training": [True] * 100 + [False] * 100, "in_learning": [True] * 100 + [False] * 100})

    class _Forest:
        train_anomaly = {"p99": 0.6, "p999": 0.65}

    assert _png(plots.anomaly_distribution(windows, {"k8s": _Forest()})).startswith(PNG)
    drift = pd.DataFrame({"population": ["k8s", "k8s"], "feature": ["hour_surprise", "events_log"], "psi": [1.3, 0.01]})
    assert _png(plots.drift_bars(drift)).startswith(PNG)
    daily = pd.DataFrame(rng.uniform(0, 2, (3, len(FEATURES))), columns=FEATURES,
                         index=pd.date_range("2026-11-02", periods=3, tz="UTC"))
    assert _png(plots.drift_heatmap(daily)).startswith(PNG)


@pytest.mark.parametrize("figure", [
    lambda: plots.timeline(_events().head(0)),
    lambda: plots.activity(pd.DataFrame()),
    lambda: plots.pivot_bars(pd.DataFrame(), "action"),
    lambda: plots.bars(pd.Series(dtype=float), "empty"),
    lambda: plots.reasons(pd.DataFrame(columns=["kind", "alerts", "mean_points"])),
    lambda: plots.findings_overview(pd.DataFrame(columns=["kind", "severity"])),
    lambda: plots.dormancy(pd.DataFrame()),
    lambda: plots.score_histogram(pd.DataFrame(columns=["severity", "score"])),
    lambda: plots.volume(pd.DataFrame(), "t", "y"),
    lambda: plots.anomaly_distribution(pd.DataFrame(), {}),
    lambda: plots.drift_heatmap(pd.DataFrame()),
    lambda: plots.stacked_bars(pd.DataFrame(), "t"),
    lambda: plots.grouped_bars(pd.DataFrame(), "t"),
])
def test_empty_input_draws_an_empty_figure(figure) -> None:
    assert _png(figure()).startswith(PNG)


def test_library_never_touches_pyplot() -> None:
    """Figures are built without pyplot, so nothing is shown or leaked by the library."""
    assert "matplotlib.pyplot" not in sys.modules or not getattr(sys.modules["matplotlib.pyplot"], "get_fignums")()
