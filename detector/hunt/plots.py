"""Matplotlib figures for the hunts: each function takes what a `triage`/`fleet`/`health` helper
returned and gives back a `Figure` (never shown here, never registered with pyplot, so a
notebook displays exactly the figures it asks for and a script can `fig.savefig(...)`).
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from detector.config import parse_duration

SEVERITY_COLORS = {"low": "#8fb3d9", "medium": "#f2c14e", "high": "#f28e2b", "critical": "#d1495b"}
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
EVIDENCE = "#d1495b"
ROUTINE = "#9aa5b1"


def _figure(width: float = 10, height: float = 4, **kw: Any) -> Figure:
    return Figure(figsize=(width, height), layout="constrained", **kw)


def _empty(ax, text: str = "nothing to show") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _clip(text: Any, width: int = 48) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


# --- triage --------------------------------------------------------------------------------------

def timeline(events: pd.DataFrame, *, by: str = "action", flagged: Iterable[str] = (), top: int = 14,
             span: tuple[Any, Any] | None = None, title: str = "token timeline") -> Figure:
    """Every request as a dot over time, one row per value of `by` (the `top` most frequent, the
    rest as "other"); requests cited by the alert in red; the incident span shaded."""
    fig = _figure(11, max(3.0, 0.32 * min(top, events[by].nunique() if len(events) else 1) + 1.6))
    ax = fig.subplots()
    if events.empty:
        _empty(ax, "no events")
        return fig
    values = events[by].fillna("(none)").astype(str)
    keep = values.value_counts().index[:top]
    rows = values.where(values.isin(keep), "other")
    order = list(keep) + (["other"] if (rows == "other").any() else [])
    y = rows.map({v: i for i, v in enumerate(order)})
    cited = events["event_id"].isin(set(flagged)).to_numpy()
    if span is not None:
        ax.axvspan(pd.Timestamp(span[0]), pd.Timestamp(span[1]), color=EVIDENCE, alpha=0.08, label="incident")
    ax.scatter(events["ts"][~cited], y[~cited], s=10, color=ROUTINE, label="request", zorder=2)
    if cited.any():
        ax.scatter(events["ts"][cited], y[cited], s=28, color=EVIDENCE, marker="D", label="cited by the alert", zorder=3)
    ax.set_yticks(range(len(order)), [_clip(v) for v in order])
    ax.invert_yaxis()
    ax.set_xlabel("time (UTC)")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.8)
    ax.grid(axis="x", alpha=0.3)
    return fig


def activity(table: pd.DataFrame, span: tuple[Any, Any] | None = None, title: str = "requests per hour") -> Figure:
    """Lines of `triage.activity`: the principal, the token and the requests the alert cites."""
    fig = _figure(11, 3.2)
    ax = fig.subplots()
    if table.empty:
        _empty(ax)
        return fig
    colors = {"principal": ROUTINE, "token": "#3b6ea5", "cited by the alert": EVIDENCE}
    for column in table.columns:
        ax.plot(table.index, table[column], label=column, color=colors.get(column), drawstyle="steps-post")
    if span is not None:
        ax.axvspan(pd.Timestamp(span[0]), pd.Timestamp(span[1]), color=EVIDENCE, alpha=0.1)
    ax.set_yscale("symlog")
    ax.set_ylabel("requests")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def hour_of_week(grids: dict[str, np.ndarray], title: str = "activity by hour of week (UTC)") -> Figure:
    """One heatmap per 7×24 grid (`triage.hour_of_week`), side by side, each on its own scale."""
    fig = _figure(5.5 * len(grids), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(grids)))
    for ax, (name, grid) in zip(axes, grids.items()):
        image = ax.imshow(grid, aspect="auto", cmap="magma_r", interpolation="nearest")
        ax.set_yticks(range(7), DAYS)
        ax.set_xticks(range(0, 24, 3), [f"{h:02d}" for h in range(0, 24, 3)])
        ax.set_xlabel("hour (UTC)")
        ax.set_title(f"{name} ({int(grid.sum()):,} requests)", fontsize=10)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(title)
    return fig


def pivot_bars(table: pd.DataFrame, field: str, title: str | None = None) -> Figure:
    """`triage.pivot`: per value, requests in the incident and in the principal's history (log
    scale); values new to the principal are red."""
    fig = _figure(9, max(2.4, 0.38 * len(table) + 1.2))
    ax = fig.subplots()
    if table.empty:
        _empty(ax, f"no {field} in the incident")
        return fig
    labels = [_clip(v, 56) for v in table[field]]
    y = np.arange(len(table))
    ax.barh(y - 0.2, table["incident events"], height=0.4, color=np.where(table["new"], EVIDENCE, "#3b6ea5"),
            label="incident (red: new to the principal)")
    ax.barh(y + 0.2, table["history events"], height=0.4, color=ROUTINE, label="principal's history")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xscale("symlog")
    ax.set_xlabel("requests")
    ax.set_title(title or f"pivot by {field}")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def bars(values: pd.Series, title: str, xlabel: str = "", color: str = "#3b6ea5", highlight: Iterable[str] = ()) -> Figure:
    """A horizontal bar chart of a Series (index → label), largest on top."""
    fig = _figure(9, max(2.4, 0.34 * len(values) + 1.2))
    ax = fig.subplots()
    if len(values) == 0:
        _empty(ax)
        return fig
    marked = set(highlight)
    colors = [EVIDENCE if k in marked else color for k in values.index]
    y = np.arange(len(values))
    ax.barh(y, values.to_numpy(dtype=float), color=colors)
    ax.set_yticks(y, [_clip(v, 56) for v in values.index])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def signal_points(signals: pd.DataFrame, title: str = "evidence of the alert") -> Figure:
    """`triage.signals`: points per kind of evidence (≥ 55 alerts on its own)."""
    values = signals.set_index("kind")["points"] if len(signals) else pd.Series(dtype=float)
    fig = bars(values, title, "points", highlight=[k for k, p in values.items() if p >= 55])
    if len(values):
        fig.axes[0].axvline(55, color="grey", ls="--", lw=1)
    return fig


def reasons(counts: pd.DataFrame, title: str = "kinds of evidence across alerts") -> Figure:
    """`health.reason_counts`: alerts per kind of evidence, colored by mean points."""
    fig = _figure(9, max(2.6, 0.3 * len(counts) + 1.2))
    ax = fig.subplots()
    if counts.empty:
        _empty(ax, "no alerts")
        return fig
    y = np.arange(len(counts))
    colors = [SEVERITY_COLORS["critical"] if p >= 55 else SEVERITY_COLORS["high"] if p >= 30 else ROUTINE
              for p in counts["mean_points"]]
    ax.barh(y, counts["alerts"], color=colors)
    ax.set_yticks(y, counts["kind"])
    ax.invert_yaxis()
    ax.set_xlabel("alerts with this evidence (red: strong on its own, orange: ≥ 30 points)")
    ax.set_title(title)
    return fig


# --- fleet ---------------------------------------------------------------------------------------

def stacked_bars(table: pd.DataFrame, title: str, xlabel: str = "", colors: dict[str, str] | None = None,
                 log: bool = False) -> Figure:
    """Horizontal stacked bars: rows are bars, columns the stacked parts (`log` distorts the
    parts' proportions: use it only to make small totals visible)."""
    fig = _figure(9, max(2.6, 0.34 * len(table) + 1.4))
    ax = fig.subplots()
    if table.empty:
        _empty(ax)
        return fig
    left = np.zeros(len(table))
    y = np.arange(len(table))
    for column in table.columns:
        values = table[column].to_numpy(dtype=float)
        ax.barh(y, values, left=left, label=str(column), color=(colors or {}).get(column))
        left += values
    _label_bars(ax, y, table, title, xlabel, log)
    return fig


def _label_bars(ax, y, table: pd.DataFrame, title: str, xlabel: str, log: bool) -> None:
    """Row labels top to bottom, axis scale and titles, legend: what both bar charts share."""
    ax.set_yticks(y, [_clip(v, 48) for v in table.index])
    ax.invert_yaxis()
    if log:
        ax.set_xscale("symlog")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")


def grouped_bars(table: pd.DataFrame, title: str, xlabel: str = "", colors: dict[str, str] | None = None,
                 log: bool = False) -> Figure:
    """Horizontal bars side by side: rows are groups, columns the bars of a group (log-safe)."""
    fig = _figure(9, max(2.6, 0.22 * len(table) * max(1, len(table.columns)) + 1.4))
    ax = fig.subplots()
    if table.empty:
        _empty(ax)
        return fig
    height = 0.8 / max(1, len(table.columns))
    y = np.arange(len(table))
    for i, column in enumerate(table.columns):
        ax.barh(y + (i - (len(table.columns) - 1) / 2) * height, table[column].to_numpy(dtype=float), height=height,
                label=str(column), color=(colors or {}).get(column))
    _label_bars(ax, y, table, title, xlabel, log)
    return fig


def sprawl(table: pd.DataFrame, title: str = "credentials per namespace / account") -> Figure:
    """`fleet.sprawl`: live short-lived, live long-lived and retired credentials per scope."""
    parts = pd.DataFrame({
        "live short-lived": table["live"] - table["long_lived_live"],
        "live long-lived": table["long_lived_live"],
        "retired": table["retired"],
    }).set_axis(table["scope"])
    return grouped_bars(parts, title, "credentials (log scale)", {"live short-lived": "#3b6ea5",
                        "live long-lived": EVIDENCE, "retired": ROUTINE}, log=True)


def dormancy(tokens: pd.DataFrame, after: str | float = "5d",
             title: str = "long-lived credentials: silence and last use") -> Figure:
    """Long-lived credentials (`fleet.Fleet.tokens` rows): last use (x) against the longest
    silence (y); dot size is requests, red ones raised alerts. Dots above the dashed line
    (`after`, a duration or days) woke after a dormancy."""
    after_days = parse_duration(after) / 86_400_000_000 if isinstance(after, str) else float(after)
    fig = _figure(10, 4.2)
    ax = fig.subplots()
    if tokens.empty:
        _empty(ax, "no long-lived credentials")
        return fig
    size = 20 + 30 * np.log1p(tokens["events"].to_numpy(dtype=float))
    colors = np.where(tokens["alerts"].to_numpy() > 0, EVIDENCE, "#3b6ea5")
    ax.scatter(tokens["last_seen"], tokens["longest_gap_days"], s=size, c=colors, alpha=0.7)
    for r in tokens.itertuples():
        if r.longest_gap_days >= after_days or r.alerts or r.idle_days >= after_days:
            name = r.principal.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            ax.annotate(_clip(name, 28), (r.last_seen, r.longest_gap_days), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
    ax.axhline(after_days, color="grey", ls="--", lw=1)
    ax.set_xlabel("last use (UTC)")
    ax.set_ylabel("longest silence (days)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig


def kinds(summary: pd.DataFrame, title: str = "credentials per source and kind") -> Figure:
    """`fleet.kinds_summary`: tokens per kind (log scale), long-lived kinds in red."""
    values = summary.set_index("label")["tokens"].sort_values(ascending=False)
    fig = bars(values, title, "tokens (log scale)", highlight=list(summary.loc[summary["long_lived"], "label"]))
    if len(values):
        fig.axes[0].set_xscale("symlog")
    return fig


def findings_overview(findings: pd.DataFrame, title: str = "hygiene findings") -> Figure:
    """`fleet.Fleet.findings`: count per kind of finding, stacked by severity."""
    if findings.empty:
        return bars(pd.Series(dtype=float), title)
    table = pd.crosstab(findings["kind"], findings["severity"]).reindex(columns=list(SEVERITY_COLORS), fill_value=0)
    table = table.loc[table.sum(axis=1).sort_values(ascending=False).index]
    return stacked_bars(table, title, "findings", SEVERITY_COLORS)


# --- health --------------------------------------------------------------------------------------

def score_histogram(alerts: pd.DataFrame, threshold: float = 50.0, title: str = "alert scores") -> Figure:
    """Scores of alerts (`HuntSource.alerts_frame`) stacked by severity, with the alert threshold."""
    fig = _figure(9, 3.4)
    ax = fig.subplots()
    if alerts.empty:
        _empty(ax, "no alerts")
        return fig
    bins = np.arange(0, 105, 5)
    stacks = [alerts.loc[alerts["severity"] == s, "score"] for s in SEVERITY_COLORS]
    ax.hist(stacks, bins=bins, stacked=True, color=list(SEVERITY_COLORS.values()), label=list(SEVERITY_COLORS))
    ax.axvline(threshold, color="grey", ls="--", lw=1)
    ax.set_xlabel("score (dashed: the alert threshold)")
    ax.set_ylabel("alerts")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def volume(table: pd.DataFrame, title: str, ylabel: str, stacked: bool = True, colors: dict[str, str] | None = None,
           learning_until: Any = None) -> Figure:
    """Counts per period (`health.alert_volume` / `event_volume`): stacked bars or lines."""
    fig = _figure(11, 3.4)
    ax = fig.subplots()
    if table.empty:
        _empty(ax)
        return fig
    x = table.index
    width = (x[1] - x[0]) * 0.8 if len(x) > 1 else pd.Timedelta(hours=18)
    bottom = np.zeros(len(table))
    for column in table.columns:
        values = table[column].to_numpy(dtype=float)
        color = (colors or {}).get(column)
        if stacked:
            ax.bar(x, values, bottom=bottom, width=width, label=str(column), color=color, align="edge")
            bottom += values
        else:
            ax.plot(x, values, label=str(column), color=color, marker="o", ms=3)
    if learning_until is not None and not pd.isna(learning_until):
        ax.axvline(pd.Timestamp(learning_until), color="grey", ls="--", lw=1, label="end of learning")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, ncols=min(5, len(table.columns) + 1))
    ax.grid(axis="y", alpha=0.3)
    return fig


def anomaly_distribution(windows: pd.DataFrame, forests: dict[str, Any], title: str = "isolation-forest anomaly of 5-minute windows") -> Figure:
    """Per population: anomaly of training windows against later ones, with the training p99 and
    the p99.9 threshold above which a window becomes evidence."""
    populations = sorted(forests)
    fig = _figure(4.2 * max(1, len(populations)), 3.4)
    axes = np.atleast_1d(fig.subplots(1, max(1, len(populations)), sharey=False))
    if not populations:
        _empty(axes[0], "no forest was trained")
        return fig
    for ax, population in zip(axes, populations):
        mine = windows[windows["population"] == population]
        train = mine.loc[mine["training"], "anomaly"].dropna()
        later = mine.loc[~mine["in_learning"], "anomaly"].dropna()
        bins = np.linspace(min(train.min(), later.min() if len(later) else 1), max(train.max(), later.max() if len(later) else 0), 40)
        ax.hist(train, bins=bins, density=True, alpha=0.6, color=ROUTINE, label="training")
        if len(later):
            ax.hist(later, bins=bins, density=True, alpha=0.6, color="#3b6ea5", label="later")
        q = forests[population].train_anomaly
        ax.axvline(q["p99"], color="grey", ls=":", lw=1, label="train p99")
        ax.axvline(q["p999"], color=EVIDENCE, ls="--", lw=1, label="threshold (p99.9)")
        ax.set_yscale("log")
        ax.set_title(population)
        ax.set_xlabel("anomaly")
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    return fig


def drift_bars(drift: pd.DataFrame, top: int = 15, title: str = "feature drift: training window vs later windows") -> Figure:
    """`health.feature_drift`: the largest PSIs (population · feature), with 0.1 and 0.25 marks."""
    head = drift.head(top)
    values = pd.Series(head["psi"].to_numpy(), index=[f"{p} · {f}" for p, f in zip(head["population"], head["feature"])])
    fig = bars(values, title, "population stability index", highlight=list(values.index[values > 0.25]))
    if len(values):
        ax = fig.axes[0]
        ax.axvline(0.1, color="grey", ls=":", lw=1)
        ax.axvline(0.25, color="grey", ls="--", lw=1)
        ax.set_xscale("symlog", linthresh=0.1)
    return fig


def drift_heatmap(table: pd.DataFrame, title: str = "daily PSI against the training window") -> Figure:
    """`health.drift_over_time`: features × periods."""
    fig = _figure(11, 0.28 * max(len(table.columns), 4) + 1.8)
    ax = fig.subplots()
    if table.empty:
        _empty(ax)
        return fig
    data = table.T.to_numpy(dtype=float)
    image = ax.imshow(np.clip(data, 0, 1), aspect="auto", cmap="Reds", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(range(len(table.columns)), table.columns)
    ax.set_xticks(range(len(table.index)), [pd.Timestamp(t).strftime("%m-%d") for t in table.index], rotation=45)
    fig.colorbar(image, ax=ax, label="PSI (clipped at 1)")
    ax.set_title(title)
    return fig
