"""Alert output shared by the verbs: JSON lines (validated against the Alert contract) and a table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable

import orjson
from rich.table import Table

from detector.alert import SEVERITY_RANK, Alert

from .progress import console

SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}


def sorted_alerts(alerts: Iterable[dict]) -> list[dict]:
    return sorted(alerts, key=lambda a: (a["first_seen"], a["alert"]["id"]))


def write_alerts(alerts: Iterable[dict], out: Path | None) -> int:
    """Write alerts as JSON lines to `out` (or stdout); each is validated on the way out."""
    lines = []
    for doc in alerts:
        Alert.model_validate(doc)  # the contract is checked at the edge, never per event
        lines.append(orjson.dumps(doc))
    payload = b"".join(line + b"\n" for line in lines)
    if out is None:
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(payload)
    return len(lines)


def read_alerts(path: Path) -> list[dict]:
    with open(path, "rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]


def print_alert_table(alerts: list[dict], title: str = "alerts", limit: int = 50) -> None:
    if not alerts:
        console.print(f"[green]no {title}[/]")
        return
    table = Table(title=f"{title} ({len(alerts)})", show_lines=False, header_style="bold")
    table.add_column("first seen (UTC)", no_wrap=True)
    table.add_column("sev")
    table.add_column("score", justify="right")
    table.add_column("source")
    table.add_column("principal", overflow="fold", max_width=38)
    table.add_column("token", overflow="fold", max_width=20)
    table.add_column("technique", overflow="fold", max_width=16)
    table.add_column("main reason", overflow="fold")
    ordered = sorted(alerts, key=lambda a: (-SEVERITY_RANK[a["severity"]], -a["score"], a["first_seen"]))
    for a in ordered[:limit]:
        style = SEVERITY_STYLE[a["severity"]]
        table.add_row(
            a["first_seen"][:19].replace("T", " "),
            f"[{style}]{a['severity']}[/]",
            f"{a['score']:.0f}",
            a["token"]["source"],
            a["token"]["principal"],
            a["token"]["id"],
            ",".join(a["technique"][:3]),
            a["reasons"][0] if a["reasons"] else "",
        )
    console.print(table)
    if len(alerts) > limit:
        console.print(f"… and {len(alerts) - limit} more (all are in the output file)")
