"""`tokenhawk notify`: send alerts (JSON lines) to Slack, PagerDuty and webhooks through the routes."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from typing import IO, Iterator, Optional

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from detector.errors import ConfigError, InputError

from ..notify import DeliveryReport, Notifier, SubmitReport
from ..progress import bar, console
from ..settings import load_settings


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    p = Path(path)
    if not p.is_file():
        raise InputError(f"alerts file {path} does not exist or is not a file")
    return gzip.open(p, "rb") if p.suffix == ".gz" else p.open("rb")


def read_alerts(stream: IO[bytes], report: SubmitReport, origin: str) -> Iterator[dict]:
    """Alert documents from JSON lines; bad lines are counted and named, not fatal."""
    for number, line in enumerate(stream, start=1):
        line = line.strip()
        if not line:
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            report.alerts += 1
            report.invalid += 1
            report.errors.append(f"{origin}:{number}: not JSON ({exc})")
            continue
        yield doc


def notify(
    alerts_file: str = typer.Argument(..., metavar="ALERTS.jsonl", help="Alerts as JSON lines (.gz is fine; '-' for stdin)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML settings file (else TOKENHAWK_CONFIG / env vars)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Route and build the messages and print them as JSON lines on stdout; send and store nothing."
    ),
    once: bool = typer.Option(
        False, "--once", help="One delivery pass; do not wait for retries (failed deliveries stay queued in the outbox)."
    ),
    outbox: Optional[Path] = typer.Option(None, "--outbox", help="Outbox file (default: the notify.outbox setting)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    summary_json: bool = typer.Option(False, "--summary-json", help="Print the end-of-run counts as JSON on stderr."),
) -> None:
    """Send alerts to the configured Slack, PagerDuty and webhook destinations.

    Alerts go through the routing rules into the durable outbox, then out, with retries and
    rate limits. Re-running with the same alerts sends nothing twice. Prints what was sent,
    is still retrying, or is dead, per destination. Exits 0 when it ran, even if deliveries
    failed; non-zero only when it could not run (bad config, missing input, unusable outbox).
    """
    settings = load_settings(config)
    cfg = settings.notify
    if not cfg.configured():
        raise ConfigError(
            "no notification destination configured: set notify.slack.webhook_url, notify.pagerduty.routing_key "
            "or notify.webhook.url (e.g. TOKENHAWK_NOTIFY__WEBHOOK__URL)"
        )
    stream = _open(alerts_file)
    origin = "<stdin>" if alerts_file == "-" else alerts_file
    submitted = SubmitReport()
    delivered = DeliveryReport()
    with Notifier(cfg, outbox=outbox, dry_run=dry_run) as notifier:
        try:
            submitted.merge(notifier.submit(read_alerts(stream, submitted, origin)))
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
        if dry_run:
            for preview in notifier.preview():
                line = {"destination": preview.destination, "alert_ids": preview.alert_ids, "payload": preview.payload}
                if preview.headers:
                    line["headers"] = preview.headers
                sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
                delivered.add("messages", preview.destination)
                delivered.add("sent", preview.destination, len(preview.alert_ids))
            sys.stdout.buffer.flush()
        else:
            with bar("delivering alerts", total=notifier.pending_count(), quiet=quiet) as progress:
                if once:
                    step = notifier.deliver_due(budget_seconds=max(cfg.drain_seconds, cfg.budget_seconds))
                    progress.advance(step.finished())
                    delivered.merge(step)
                else:
                    delivered.merge(notifier.drain(on_progress=lambda step: progress.advance(step.finished())))
        counts = notifier.counts()
    summary = _summary(submitted, delivered, counts, dry_run=dry_run)
    if summary_json:
        sys.stderr.write(orjson.dumps(summary).decode() + "\n")
    else:
        print_summary(summary)


def _summary(submitted: SubmitReport, delivered: DeliveryReport, counts: dict, *, dry_run: bool) -> dict:
    destinations = sorted(set(submitted.outcomes) | set(delivered.messages) | set(delivered.sent) | set(delivered.dead) | set(counts))
    rows = {}
    for dest in destinations:
        queued = submitted.outcomes.get(dest, {})
        rows[dest] = {
            "queued": queued.get("queued", 0),
            "duplicate": queued.get("duplicate", 0),
            "skipped": queued.get("skipped", 0) + queued.get("stale", 0),
            "messages": delivered.messages.get(dest, 0),
            "sent": delivered.sent.get(dest, 0),
            "retrying": 0 if dry_run else counts.get(dest, {}).get("pending", 0),
            "dead": delivered.dead.get(dest, 0),
        }
    return {
        "dry_run": dry_run,
        "alerts": submitted.alerts,
        "invalid": submitted.invalid,
        "not_routed": submitted.not_routed,
        "destinations": rows,
        "errors": submitted.errors[:20],
        "dead_errors": delivered.dead_errors[:20],
    }


def print_summary(summary: dict) -> None:
    title = "tokenhawk notify (dry run: nothing sent)" if summary["dry_run"] else "tokenhawk notify"
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("destination")
    for column in ("queued", "duplicate", "skipped", "messages", "sent", "retrying", "dead"):
        table.add_column(column if column != "sent" or not summary["dry_run"] else "would send", justify="right")
    for dest, row in summary["destinations"].items():
        table.add_row(
            dest,
            *(
                f"[bold red]{row[c]:,}[/]" if c == "dead" and row[c] else f"{row[c]:,}"
                for c in ("queued", "duplicate", "skipped", "messages", "sent", "retrying", "dead")
            ),
        )
    console.print(table)
    console.print(
        f"{summary['alerts']:,} alerts read, {summary['invalid']:,} invalid, {summary['not_routed']:,} matched no route"
    )
    for error in summary["errors"]:
        console.print(f"[yellow]invalid:[/] {escape(error)}", highlight=False)
    for error in summary["dead_errors"]:
        console.print(f"[bold red]dead:[/] {escape(error)}", highlight=False)
    if any(row["retrying"] for row in summary["destinations"].values()):
        console.print("deliveries still retrying stay in the outbox; the next `tokenhawk notify` run sends them")


def register(app: typer.Typer) -> None:
    app.command("notify")(notify)
