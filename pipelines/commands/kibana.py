"""`tokenhawk kibana`: import the saved objects (data views, SOC dashboard, drill-down search)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from detector.errors import InputError
from detector.search.kibana import KibanaError, import_objects, problems, read_ndjson, saved_objects, to_ndjson

from ..progress import console
from ..settings import load_settings

kibana_app = typer.Typer(
    name="kibana", no_args_is_help=True, rich_markup_mode="rich",
    help="Kibana: import (or export) tokenhawk's data views, SOC dashboard and per-token drill-down search.",
)
CONFIG = typer.Option(None, "--config", "-c", help="YAML settings file (else TOKENHAWK_CONFIG / env vars).")


@kibana_app.command("import")
def import_cmd(
    url: Optional[str] = typer.Option(None, "--url", help="Kibana base URL, e.g. http://127.0.0.1:5601 (default: elasticsearch.kibana.url)."),
    space: Optional[str] = typer.Option(None, "--space", help="Kibana space id (default: the default space)."),
    file: Optional[Path] = typer.Option(None, "--file", help="NDJSON to import (default: built from the settings; the same as kibana/tokenhawk.ndjson for default stream names)."),
    config: Optional[Path] = CONFIG,
    no_overwrite: bool = typer.Option(False, "--no-overwrite", help="Keep objects that already exist (reported as conflicts)."),
) -> None:
    """Import the saved objects through Kibana's saved objects API (`_import`, overwrite by default).

    Object ids are fixed, so importing again replaces tokenhawk's objects instead of adding copies.
    Credentials: elasticsearch.kibana.api_key / username+password, else the Elasticsearch ones.
    """
    settings = load_settings(config).elasticsearch
    if file is not None:
        if not file.is_file():
            raise InputError(f"{file}: no such file")
        data = file.read_bytes()
        try:
            objects = read_ndjson(data)
        except ValueError as exc:
            raise InputError(f"{file}: not NDJSON ({exc})") from exc
    else:
        objects = saved_objects(settings)
        data = to_ndjson(objects)
    found = problems(objects)
    if found:
        raise InputError("the saved objects are inconsistent: " + "; ".join(found[:10]))
    try:
        answer = import_objects(settings.kibana, settings, data, url=url, space=space, overwrite=not no_overwrite)
    except KibanaError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    console.print(f"imported {answer.get('successCount', 0)} saved objects into Kibana"
                  + (f" (space {escape(space)})" if space else ""))
    console.print("open Dashboards → [bold]tokenhawk: token misuse (SOC)[/]; token links open the timeline search")


@kibana_app.command("export")
def export_cmd(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write here (default: stdout)."),
    config: Optional[Path] = CONFIG,
) -> None:
    """Write the saved objects NDJSON built from the settings (data stream names) to a file or stdout."""
    data = to_ndjson(saved_objects(load_settings(config).elasticsearch))
    if out is None:
        sys.stdout.buffer.write(data)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        console.print(f"wrote {escape(str(out))}")


def register(app: typer.Typer) -> None:
    app.add_typer(kibana_app, name="kibana")
