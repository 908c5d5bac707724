"""`tokenhawk demo` and `tokenhawk eval`: the labelled world, its alerts, and how good they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from detector.evaluate import Evaluation

from ..alerts_out import print_alert_table
from ..demo import run_world
from ..progress import console


def print_evaluation(evaluation: Evaluation) -> None:
    table = Table(title="detection quality against the world's labels", header_style="bold")
    table.add_column("scenario")
    table.add_column("kind")
    table.add_column("caught")
    table.add_column("severity")
    table.add_column("minutes to alert", justify="right")
    for s in evaluation.scenarios:
        if s.malicious:
            caught = "[green]yes[/]" if s.caught else "[bold red]MISSED[/]"
        else:
            caught = "[bold red]false alarm[/]" if s.caught else "[green]quiet[/]"
        table.add_row(s.id, s.kind + ("" if s.malicious else " (benign)"), caught, s.max_severity or "",
                      "" if s.minutes_to_detect is None else f"{s.minutes_to_detect:.0f}")
    console.print(table)
    console.print(
        f"recall [bold]{evaluation.recall:.2f}[/]  precision [bold]{evaluation.precision:.2f}[/]  "
        f"F1 [bold]{evaluation.f1:.2f}[/]  alerts {evaluation.alerts} ({evaluation.false_alerts} false)  "
        f"false incidents per 1000 token-days [bold]{evaluation.false_per_1000_token_days:.2f}[/] "
        f"({evaluation.token_days:,} token-days)"
    )


def demo(
    directory: Path = typer.Option(Path("out/demo"), "--dir", help="Where the world, events, alerts and scores are written."),
    days: int = typer.Option(14, "--days", min=8, help="Days of history to generate (the first 7 are learned)."),
    seed: int = typer.Option(7, "--seed", help="Random seed of the world (same seed, same world)."),
    scale: float = typer.Option(1.0, "--scale", min=0.1, help="Multiplies request rates (1.0 ≈ a few hundred thousand events)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Generate a labelled multi-source world, detect on it, show the alerts and their recall/precision.

    The world holds Kubernetes service accounts (controllers, web apps, CI, cron jobs), IRSA roles,
    AWS access keys, GCP service-account keys and Azure service principals over two weeks, with
    injected token-misuse scenarios and benign changes. Files land in --dir: world/ (raw logs in
    their real formats), events.parquet, alerts.jsonl, eval.json.
    """
    run = run_world(directory, days=days, seed=seed, scale=scale, quiet=quiet)
    print_alert_table(run.alerts, limit=40)
    print_evaluation(run.evaluation)
    (directory / "eval.json").write_text(json.dumps(run.evaluation.as_dict(), indent=1) + "\n")
    s = run.seconds
    console.print(
        f"{run.events.num_rows:,} events: generated in {s['generate']:.1f} s, normalized in {s['normalize']:.1f} s, "
        f"detected in {s['detect']:.1f} s. Files in {directory}/ — try: tokenhawk investigate, or the notebooks."
    )


def eval_(
    seeds: str = typer.Option("7,11,23", "--seeds", help="Comma-separated seeds: each is a different world."),
    days: int = typer.Option(14, "--days", min=8),
    scale: float = typer.Option(1.0, "--scale", min=0.1),
    directory: Path = typer.Option(Path("out/eval"), "--dir", help="Working directory (one sub-directory per seed)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the figures as JSON here."),
    quiet: bool = typer.Option(True, "--quiet/--progress", help="Progress bars off by default."),
) -> None:
    """Measure recall, precision, F1 and false incidents per 1000 token-days on generated worlds, per scenario kind."""
    summary = {}
    totals = {"caught": 0, "malicious": 0, "alerts": 0, "true": 0, "false": 0, "token_days": 0, "benign_alerted": 0}
    kinds: dict[str, list[int]] = {}
    for seed in [int(s) for s in seeds.split(",") if s.strip()]:
        run = run_world(directory / f"seed-{seed}", days=days, seed=seed, scale=scale, quiet=quiet, write_events=False)
        ev = run.evaluation
        summary[seed] = ev.as_dict()
        console.print(f"[bold]seed {seed}[/]")
        print_evaluation(ev)
        totals["caught"] += sum(s.caught for s in ev.malicious)
        totals["malicious"] += len(ev.malicious)
        totals["alerts"] += ev.alerts
        totals["true"] += ev.true_alerts
        totals["false"] += ev.false_alerts
        totals["token_days"] += ev.token_days
        totals["benign_alerted"] += sum(s.caught for s in ev.benign)
        for kind, row in ev.by_kind().items():
            k = kinds.setdefault(kind + ("" if row["malicious"] else " (benign)"), [0, 0])
            k[0] += row["caught"]
            k[1] += row["scenarios"]
    recall = totals["caught"] / totals["malicious"] if totals["malicious"] else 1.0
    precision = totals["true"] / totals["alerts"] if totals["alerts"] else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    per_kind = Table(title="per scenario kind, all seeds", header_style="bold")
    per_kind.add_column("kind")
    per_kind.add_column("alerted / scenarios", justify="right")
    for kind, (caught, total) in sorted(kinds.items()):
        per_kind.add_row(kind, f"{caught}/{total}")
    console.print(per_kind)
    fp_rate = 1000.0 * totals["false"] / totals["token_days"] if totals["token_days"] else 0.0
    console.print(
        f"[bold]all seeds[/]: recall {recall:.3f}  precision {precision:.3f}  F1 {f1:.3f}  "
        f"false incidents per 1000 token-days {fp_rate:.2f}  benign changes alerted {totals['benign_alerted']}"
    )
    if json_out:
        json_out.write_text(json.dumps({"seeds": summary, "recall": recall, "precision": precision, "f1": f1,
                                        "false_per_1000_token_days": fp_rate, "per_kind": kinds}, indent=1) + "\n")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("eval")(eval_)
