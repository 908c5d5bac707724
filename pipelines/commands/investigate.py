"""`tokenhawk investigate TOKEN`: one token's story — its alerts, its requests, who else used its addresses."""

from __future__ import annotations

import ipaddress
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from elasticsearch import ApiError, ConnectionError as EsConnectionError, ConnectionTimeout

from detector.search import EsInvestigator, EsUnavailable, FileInvestigator, SearchError, make_client
from detector.search.client import describe, quiet_client_logs
from detector.search.queries import Investigator

from ..alerts_out import SEVERITY_STYLE, print_alert_table
from ..progress import console
from ..settings import load_settings


def _is_public(ip: str) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return addr.is_global


def gather(inv: Investigator, token: str, *, limit: int, since: str | None, until: str | None,
           shared_ips: int = 3) -> dict[str, Any]:
    """Everything `investigate` shows, as data (also its --json output)."""
    timeline = inv.token_timeline(token, start=since, end=until, limit=limit)
    alerts = inv.alerts_for_token(token)
    principals = Counter(e["principal"] for e in timeline if e["principal"])
    principals.update(a["token"]["principal"] for a in alerts)
    principal = principals.most_common(1)[0][0] if principals else None
    others = []
    if principal:
        others = [a for a in inv.alerts_for_principal(principal, start=since, end=until) if a["token"]["id"] != token]
    # addresses worth a look: the alerts' addresses first, then public ones, most used first
    ips = Counter(e["source_ip"] for e in timeline if e["source_ip"])
    flagged = [a["source"]["ip"] for a in alerts if (a.get("source") or {}).get("ip")]
    ranked = list(dict.fromkeys(flagged + [ip for ip, _ in ips.most_common() if _is_public(ip)]))[:shared_ips]
    shared = {}
    for ip in ranked:
        sightings = [s.as_dict() for s in inv.tokens_from_ip(ip, start=since, end=until, limit=20) if s.token_id != token]
        shared[ip] = sightings
    return {
        "token": token,
        "principal": principal,
        "summary": _summary(timeline),
        "alerts": alerts,
        "timeline": timeline,
        "principal_alerts": others,
        "shared_ips": shared,
    }


def _summary(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    if not timeline:
        return {"events": 0}
    def top(field: str, n: int = 5) -> list[list[Any]]:
        return [[k, v] for k, v in Counter(e[field] for e in timeline if e[field] is not None).most_common(n)]
    return {
        "events": len(timeline),
        "first_seen": timeline[0]["ts"], "last_seen": timeline[-1]["ts"],
        "source": timeline[0]["source"], "tenant": timeline[0]["tenant"], "kind": timeline[0]["token_kind"],
        "bound_pod": next((e["bound_pod"] for e in timeline if e["bound_pod"]), None),
        "failures": sum(1 for e in timeline if e["outcome"] == "failure"),
        "source_ips": top("source_ip"), "user_agents": top("user_agent", 3), "actions": top("action", 8),
    }


def print_story(story: dict[str, Any], limit_rows: int) -> None:
    s = story["summary"]
    console.rule(f"token {escape(story['token'])}")
    if not s["events"] and not story["alerts"]:
        console.print("[yellow]nothing found for this token[/] (no events, no alerts)")
        return
    if s["events"]:
        console.print(
            f"principal [bold]{escape(str(story['principal']))}[/] · {s['source']}"
            + (f" {escape(s['tenant'])}" if s["tenant"] else "") + f" · kind {s['kind']}"
            + (f" · pod {escape(s['bound_pod'])}" if s["bound_pod"] else "")
        )
        console.print(f"{s['events']:,} requests from {s['first_seen'][:19]} to {s['last_seen'][:19]} UTC, "
                      f"{s['failures']:,} failed")
        console.print("addresses: " + ", ".join(f"{escape(ip)} ({n})" for ip, n in s["source_ips"]))
        console.print("user agents: " + "; ".join(f"{escape(ua)} ({n})" for ua, n in s["user_agents"]))
        console.print("actions: " + ", ".join(f"{escape(a)} ({n})" for a, n in s["actions"]))
    print_alert_table(story["alerts"], title="alerts of this token")
    for alert in story["alerts"][:3]:
        style = SEVERITY_STYLE[alert["severity"]]
        console.print(f"[{style}]{alert['severity']}[/] {alert['alert']['id']} (score {alert['score']:.0f}):")
        for reason in alert["reasons"][:6]:
            console.print(f"  • {escape(reason)}")
    flagged = {eid for a in story["alerts"] for eid in a.get("event_ids", [])}
    flagged |= {sig.get("event_id") for a in story["alerts"] for sig in (a.get("tokenhawk") or {}).get("signals", [])}
    _print_timeline(story["timeline"], flagged, limit_rows)
    if story["principal_alerts"]:
        print_alert_table(story["principal_alerts"], title=f"other alerts of {story['principal']}", limit=10)
    for ip, sightings in story["shared_ips"].items():
        if not sightings:
            console.print(f"no other token used {escape(ip)}")
            continue
        table = Table(title=f"other tokens seen from {ip}", header_style="bold")
        for col in ("token", "principal", "source", "requests", "first seen", "last seen", "alerts", "actions"):
            table.add_column(col, overflow="fold")
        for sight in sightings[:10]:
            table.add_row(sight["token_id"], str(sight["principal"]), str(sight["source"]), f"{sight['events']:,}",
                          sight["first_seen"][:19], sight["last_seen"][:19],
                          f"[red]{sight['alerts']}[/]" if sight["alerts"] else "0", ", ".join(sight["actions"][:3]))
        console.print(table)


def _print_timeline(timeline: list[dict[str, Any]], flagged: set, limit_rows: int) -> None:
    if not timeline:
        return
    rows = timeline
    gap = 0
    if len(timeline) > limit_rows:
        half = limit_rows // 2
        rows = timeline[:half] + timeline[-half:]
        gap = len(timeline) - 2 * half
    table = Table(title=f"timeline ({len(timeline):,} requests; ⚑ = evidence of an alert)", header_style="bold")
    for col in ("", "time (UTC)", "action", "outcome", "source ip", "user agent", "where"):
        table.add_column(col, overflow="fold")
    for n, e in enumerate(rows):
        if gap and n == limit_rows // 2:
            table.add_row("", f"… {gap:,} more …", "", "", "", "", "")
        where = e["namespace"] or e["region"] or ""
        if e["resource"]:
            where = f"{where}/{e['resource']}" if where else e["resource"]
        outcome = e["outcome"] or ""
        table.add_row(
            "⚑" if e["event_id"] in flagged else "",
            e["ts"][:23].replace("T", " "), escape(e["action"] or ""),
            f"[red]{outcome}[/]" if outcome == "failure" else outcome,
            escape(e["source_ip"] or e["source_ip_raw"] or ""), escape((e["user_agent"] or "")[:48]), escape(where),
        )
    console.print(table)


def investigate(
    token: str = typer.Argument(..., metavar="TOKEN", help="Token id: a JTI, AKIA…/ASIA… key id, GCP key id, Azure credential id, legacy:<principal>, …"),
    es_url: Optional[str] = typer.Option(None, "--es-url", help="Query this Elasticsearch (default: elasticsearch.url from the settings)."),
    events: Optional[Path] = typer.Option(None, "--events", help="Read events from this .parquet/.jsonl instead of Elasticsearch."),
    alerts: Optional[Path] = typer.Option(None, "--alerts", help="Read alerts from this .jsonl instead of Elasticsearch."),
    since: Optional[str] = typer.Option(None, "--since", help="Only from this time (RFC 3339, e.g. 2026-11-11T00:00:00Z)."),
    until: Optional[str] = typer.Option(None, "--until", help="Only up to this time (RFC 3339)."),
    limit: int = typer.Option(10_000, "--limit", help="At most this many requests of the token are read."),
    rows: int = typer.Option(60, "--rows", help="Timeline rows printed (first and last half)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML settings file."),
    json_out: bool = typer.Option(False, "--json", help="Print the whole story as JSON on stdout."),
) -> None:
    """Show a token's alerts, its timeline of requests, other alerts of its principal, and who else used its addresses.

    Reads Elasticsearch (the data streams `tokenhawk es index` fills) unless --events/--alerts name files
    (e.g. the events.parquet and alerts.jsonl of `tokenhawk demo`).
    """
    quiet_client_logs()
    if events or alerts:
        inv: Investigator = FileInvestigator.from_files(events, alerts)
    else:
        cfg = load_settings(config).elasticsearch
        inv = EsInvestigator(make_client(cfg, es_url), cfg)
    try:
        story = gather(inv, token, limit=limit, since=since, until=until)
    except ApiError as exc:
        raise SearchError(f"Elasticsearch refused the query: {describe(exc)}") from None
    except (EsConnectionError, ConnectionTimeout) as exc:
        where = es_url or ",".join(load_settings(config).elasticsearch.url)
        raise EsUnavailable(f"Elasticsearch unreachable at {where}: {describe(exc)}") from None
    if json_out:
        sys.stdout.buffer.write(orjson.dumps(story, option=orjson.OPT_INDENT_2) + b"\n")
        return
    print_story(story, rows)


def register(app: typer.Typer) -> None:
    app.command("investigate")(investigate)
