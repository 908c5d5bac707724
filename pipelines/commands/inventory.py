"""`tokenhawk inventory`, `tokenhawk hygiene`, `tokenhawk least-privilege`: every credential in use,
which ones are a liability, and what a principal really needs.

`inventory` and `hygiene` replay the input through the same `Detector` as `tokenhawk detect`
with the inventory as its observer (one pass: the inventory is built from the detector's own
token state); `least-privilege` only needs the principal's events, so it reads those directly.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.table import Table

from detector.config import parse_duration
from detector.detect.engine import Detector
from detector.errors import ConfigError, InputError
from detector.events import us_to_iso
from detector.inventory import findings as hygiene_findings
from detector.inventory import least_privilege as lp
from detector.inventory.config import InventoryConfig
from detector.inventory.observer import Inventory
from detector.inventory.report import COLUMNS, InventoryReport, build, sort_rows, to_records
from detector.quarantine import QuarantineFile

from ..ingest import IngestStats
from ..progress import console
from ..replay import load_events, replay
from ..settings import load_settings
from .normalize import default_quarantine_path

FORMATS = ("table", "csv", "json", "parquet")
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "dim"}
STATUS_STYLE = {"active": "green", "idle": "yellow", "dormant": "bold yellow", "revoked": "dim", "replaced": "dim",
                "superseded": "dim", "ended": "dim"}


# --- shared ---------------------------------------------------------------------------------------

def _inventory_config(settings, overrides: dict) -> InventoryConfig:
    section = getattr(settings, "inventory", None)  # present once the settings model has the section
    base = section.model_dump() if section is not None else {"dormant_after": settings.detector.dormant_after}
    base.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return InventoryConfig(**base)
    except ValueError as exc:
        raise ConfigError(f"inventory options: {exc}") from exc


def _load(inputs: list[str], tenant: Optional[str], quarantine: Optional[Path], out: Optional[Path],
          quiet: bool) -> tuple[pa.Table, IngestStats, QuarantineFile]:
    stats = IngestStats()
    quarantine_file = QuarantineFile(quarantine or default_quarantine_path(out))
    try:
        events = load_events(inputs, on_quarantine=quarantine_file, stats=stats, quiet=quiet, tenant=tenant)
    finally:
        quarantine_file.close()
    return events, stats, quarantine_file


def run_inventory(inputs: list[str], *, config: Optional[Path], tenant: Optional[str], quarantine: Optional[Path],
                  out: Optional[Path], quiet: bool, overrides: dict) -> tuple[InventoryReport, Inventory, int]:
    settings = load_settings(config)
    inventory = Inventory(_inventory_config(settings, overrides))
    detector = Detector(settings.detector, observers=[inventory])
    events, stats, quarantine_file = _load(inputs, tenant, quarantine, out, quiet)
    replay(events, detector, quiet=quiet)
    report = build(inventory, detector)
    if not quiet:
        q = sum(stats.quarantined.values())
        if q:
            console.print(f"{q:,} records quarantined, see {quarantine_file.path}")
    return report, inventory, events.num_rows


def _write_text(text: str | bytes, out: Optional[Path]) -> None:
    data = text.encode() if isinstance(text, str) else text
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)


def _table_console(out: Optional[Path]) -> tuple[Console, io.StringIO | None]:
    if out is None:
        # piped (less -S, a file): wide rows rather than one letter per line in 80 columns
        return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200), None
    buffer = io.StringIO()
    return Console(file=buffer, width=200, no_color=True), buffer


def _parse_time(text: Optional[str], newest: int | None, name: str) -> int | None:
    """ISO 8601 (date or date-time, UTC when no zone) or a duration before the newest event ('7d')."""
    if text is None:
        return None
    try:
        back = parse_duration(text)
    except ValueError:
        back = None
    if back is not None:
        if newest is None:
            return None
        return newest - back
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"{name} {text!r} is neither a time (2026-11-09, 2026-11-09T12:00:00Z) nor a duration "
                          "(7d, 12h)") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1_000_000)


# --- inventory ------------------------------------------------------------------------------------

def inventory(
    inputs: List[str] = typer.Argument(..., metavar="INPUT...", help="Raw audit logs (any supported shape) and/or events .parquet from `tokenhawk normalize`."),
    fmt: str = typer.Option("table", "--format", "-f", help="table (default), csv, json (JSON lines) or parquet (needs --out)."),
    sort: Optional[str] = typer.Option(None, "--sort", help=f"Column to sort by, '-' first for descending (e.g. -events). Columns: {', '.join(COLUMNS)}."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
    kind: Optional[List[str]] = typer.Option(None, "--kind", help="Only credentials of this kind (repeatable): bound, legacy, access-key, session, sa-key, sp-secret, …"),
    long_lived: bool = typer.Option(False, "--long-lived", help="Only long-lived credentials (legacy tokens, keys, secrets)."),
    machine_only: bool = typer.Option(False, "--machine-only", help="Leave out human users' credentials."),
    limit: int = typer.Option(60, "--limit", help="Rows shown in the table format (files get every row)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file (see README, Configuration)."),
    tenant: Optional[str] = typer.Option(None, "--tenant", help="Cluster/account name for records whose log does not carry one."),
    quarantine: Optional[Path] = typer.Option(None, "--quarantine", help="Where unusable records go (default: beside --out)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or summaries."),
) -> None:
    """Every credential seen: kind, principal, lineage, first/last use, days active, networks, client
    programs, scopes, top and privileged actions, age, idleness, revocation and rotation evidence."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "parquet" and out is None:
        raise ConfigError("--format parquet needs --out FILE")
    started = time.perf_counter()
    report, _, events = run_inventory(inputs, config=config, tenant=tenant, quarantine=quarantine, out=out,
                                      quiet=quiet, overrides={})
    rows = report.tokens
    if kind:
        rows = [r for r in rows if r.kind in kind]
    if long_lived:
        rows = [r for r in rows if r.long_lived]
    if machine_only:
        rows = [r for r in rows if r.machine]
    try:
        rows = sort_rows(rows, sort) if sort else sorted(rows, key=lambda r: (r.source, r.principal, r.first_seen))
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    records = to_records(rows)
    if fmt == "json":
        _write_text(b"".join(orjson.dumps(r) + b"\n" for r in records), out)
    elif fmt == "csv":
        _write_text(_csv(records), out)
    elif fmt == "parquet":
        out.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(records), out)
    else:
        _print_inventory_table(rows, report, limit, out)
    if not quiet:
        console.print(f"{events:,} events → {len(report.tokens):,} credentials of {len(report.principals):,} principals "
                      f"({len(rows):,} listed) as of {us_to_iso(report.as_of)[:19]} in {time.perf_counter() - started:.1f} s"
                      + (f"; written to {out}" if out else ""))


def _csv(records: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "; ".join(map(str, v)) if isinstance(v, list) else v for k, v in record.items()})
    return buffer.getvalue()


def _print_inventory_table(rows, report: InventoryReport, limit: int, out: Optional[Path]) -> None:
    target, buffer = _table_console(out)
    table = Table(title=f"credentials ({len(rows):,})", header_style="bold", show_lines=False)
    for name, kwargs in (("source", {}), ("principal", {"overflow": "fold", "max_width": 56}),
                         ("token", {"overflow": "fold", "max_width": 40}), ("kind", {}), ("status", {}),
                         ("first seen", {"no_wrap": True}), ("last seen", {"no_wrap": True}),
                         ("days", {"justify": "right"}), ("events", {"justify": "right"}),
                         ("nets", {"justify": "right"}), ("clients", {"overflow": "fold", "max_width": 18}),
                         ("top action", {"overflow": "fold", "max_width": 24}),
                         ("privileged", {"overflow": "fold", "max_width": 24})):
        table.add_column(name, **kwargs)
    for r in rows[:limit]:
        style = STATUS_STYLE.get(r.status, "")
        table.add_row(
            r.source, r.principal, r.token_id, r.kind or "?", f"[{style}]{r.status}[/]" if style else r.status,
            us_to_iso(r.first_seen)[:16].replace("T", " "), us_to_iso(r.last_seen)[:16].replace("T", " "),
            str(r.days_active), f"{r.events:,}",
            f"{len(r.networks)}{'+' if r.networks_more else ''}" + (f" ({len(r.outside_networks)} out)" if r.outside_networks else ""),
            ", ".join(r.user_agents[:3]), r.top_actions[0][0] if r.top_actions else "",
            ", ".join(r.privileged_actions[:3]) + (" …" if len(r.privileged_actions) > 3 else ""),
        )
    target.print(table)
    if len(rows) > limit:
        target.print(f"… and {len(rows) - limit:,} more (--limit, or --format csv/json/parquet for all)")
    if buffer is not None:
        _write_text(buffer.getvalue(), out)


# --- hygiene --------------------------------------------------------------------------------------

def hygiene(
    inputs: List[str] = typer.Argument(..., metavar="INPUT...", help="Raw audit logs (any supported shape) and/or events .parquet from `tokenhawk normalize`."),
    fmt: str = typer.Option("table", "--format", "-f", help="table (default) or json (JSON lines, one finding each)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
    min_severity: str = typer.Option("low", "--min-severity", help="low, medium, high or critical."),
    kind: Optional[List[str]] = typer.Option(None, "--kind", help=f"Only findings of this kind (repeatable): {', '.join(hygiene_findings.KINDS)}."),
    max_key_age: Optional[str] = typer.Option(None, "--max-key-age", help="Long-term keys older than this are a finding (default 90d)."),
    dormant_after: Optional[str] = typer.Option(None, "--dormant-after", help="Silence that makes a long-lived credential dormant (default: detector.dormant_after, 5d)."),
    limit: int = typer.Option(100, "--limit", help="Findings shown in the table format (json gets all)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file (see README, Configuration)."),
    tenant: Optional[str] = typer.Option(None, "--tenant", help="Cluster/account name for records whose log does not carry one."),
    quarantine: Optional[Path] = typer.Option(None, "--quarantine", help="Where unusable records go (default: beside --out)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or summaries."),
) -> None:
    """Ranked hygiene findings — legacy K8s tokens, old or never-rotated keys, dormant credentials,
    shared credentials, machine credentials used by people, use from outside, stale bound tokens,
    credential sprawl — each with its evidence and a remediation."""
    if fmt not in ("table", "json"):
        raise ConfigError(f"--format {fmt!r}: use table or json")
    if min_severity not in hygiene_findings.SEVERITIES:
        raise ConfigError(f"--min-severity {min_severity!r}: use one of {', '.join(hygiene_findings.SEVERITIES)}")
    unknown = [k for k in (kind or []) if k not in hygiene_findings.KINDS]
    if unknown:
        raise ConfigError(f"--kind {', '.join(unknown)}: kinds are {', '.join(hygiene_findings.KINDS)}")
    report, inv, events = run_inventory(inputs, config=config, tenant=tenant, quarantine=quarantine, out=out,
                                        quiet=quiet, overrides={"max_key_age": max_key_age, "dormant_after": dormant_after})
    found = hygiene_findings.hygiene(report, inv.config)
    floor = hygiene_findings.SEVERITIES.index(min_severity)
    found = [f for f in found if hygiene_findings.SEVERITIES.index(f.severity) >= floor and (not kind or f.kind in kind)]
    if fmt == "json":
        _write_text(b"".join(orjson.dumps(f.to_dict()) + b"\n" for f in found), out)
    else:
        _print_findings(found, limit, out)
    if not quiet:
        counts = {s: sum(1 for f in found if f.severity == s) for s in reversed(hygiene_findings.SEVERITIES)}
        console.print(f"{events:,} events, {len(report.tokens):,} credentials → {len(found)} findings ("
                      + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + ")" + (f"; written to {out}" if out else ""))


def _print_findings(found, limit: int, out: Optional[Path]) -> None:
    target, buffer = _table_console(out)
    if not found:
        target.print("no hygiene findings")
    else:
        table = Table(title=f"hygiene findings ({len(found)})", header_style="bold", show_lines=True)
        table.add_column("#", justify="right")
        table.add_column("sev")
        table.add_column("kind", no_wrap=True)
        table.add_column("principal / credential", overflow="fold", max_width=44)
        table.add_column("evidence", overflow="fold")
        table.add_column("remediation", overflow="fold", max_width=60)
        for i, f in enumerate(found[:limit], 1):
            style = SEVERITY_STYLE[f.severity]
            who = f.principal + (f"\n{f.token_id}" if f.token_id else "")
            table.add_row(str(i), f"[{style}]{f.severity}[/] {f.score:.0f}", f.kind, who,
                          "\n".join(f"• {e}" for e in f.evidence), f.remediation)
        target.print(table)
        if len(found) > limit:
            target.print(f"… and {len(found) - limit} more (--limit, or --format json for all)")
    if buffer is not None:
        _write_text(buffer.getvalue(), out)


# --- least privilege ----------------------------------------------------------------------------

def least_privilege(
    principal: str = typer.Argument(..., metavar="PRINCIPAL", help="The identity exactly as in events: system:serviceaccount:NS:NAME, a role/user ARN, a GCP service-account email, an Azure appId."),
    inputs: List[str] = typer.Argument(..., metavar="INPUT...", help="Raw audit logs (any supported shape) and/or events .parquet from `tokenhawk normalize`."),
    since: Optional[str] = typer.Option(None, "--since", help="Window start: a time (2026-11-09, 2026-11-09T12:00Z) or a duration before the newest event (7d)."),
    until: Optional[str] = typer.Option(None, "--until", help="Window end: a time or a duration before the newest event."),
    fmt: str = typer.Option("yaml", "--format", "-f", help="yaml (K8s manifests / role documents, notes as comments) or json."),
    source: Optional[str] = typer.Option(None, "--source", help="Only the draft for this source (k8s, aws, gcp, azure)."),
    resource_names: bool = typer.Option(False, "--resource-names", help="K8s: restrict get/update/patch/delete to the object names seen."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write here instead of stdout."),
    tenant: Optional[str] = typer.Option(None, "--tenant", help="Cluster/account name for records whose log does not carry one."),
    quarantine: Optional[Path] = typer.Option(None, "--quarantine", help="Where unusable records go (default: beside --out)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or summaries."),
) -> None:
    """The minimal permissions PRINCIPAL used in a window: a K8s Role/ClusterRole (with bindings),
    an AWS IAM policy, a GCP custom role or an Azure custom role, with how much evidence it rests on."""
    if fmt not in ("yaml", "json"):
        raise ConfigError(f"--format {fmt!r}: use yaml or json")
    events, _, _ = _load(inputs, tenant, quarantine, out, quiet)
    newest = events.column("ts")[-1].as_py() if events.num_rows else None
    start, end = _parse_time(since, newest, "--since"), _parse_time(until, newest, "--until")
    collected = lp.collect(events, principal, start, end)
    drafts = lp.drafts_for(collected, principal, start, end, source=source, resource_names=resource_names)
    if not drafts:
        similar = lp.similar_principals(events, principal.split(":")[-1].split("/")[-1])
        hint = f"; similar principals: {', '.join(similar)}" if similar else ""
        raise InputError(f"no events of principal {principal!r}" + (" in that window" if since or until else "")
                         + (f" from {source}" if source else "") + hint)
    _write_text(lp.render_yaml(drafts) if fmt == "yaml" else lp.render_json(drafts), out)
    if not quiet:
        for d in drafts:
            console.print(f"{d.kind} for {d.principal}" + (f" ({d.tenant})" if d.tenant else "") + f": {d.evidence_note}",
                          soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("inventory")(inventory)
    app.command("hygiene")(hygiene)
    app.command("least-privilege")(least_privilege)
