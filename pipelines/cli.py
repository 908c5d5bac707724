"""The `tokenhawk` command line. Each verb lives in its own module; this file only wires them.

Human output (progress, tables, summaries) goes to stderr; data (events, alerts) goes to files
or stdout, so every verb composes with pipes.
"""

from __future__ import annotations

import importlib
import sys
from typing import Optional

import typer
from rich.markup import escape

from detector import __version__
from detector.errors import TokenhawkError

from .logs import setup_logging
from .progress import console

app = typer.Typer(
    name="tokenhawk",
    help=(
        "Detect unusual use of machine credentials (Kubernetes service-account tokens, AWS keys and "
        "sessions, GCP service-account keys, Azure service-principal secrets) in audit logs."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

# Modules that register verbs: each has `register(app)`.
COMMAND_MODULES = [
    "pipelines.commands.normalize",
    "pipelines.commands.detect",
    "pipelines.commands.demo",
    "pipelines.commands.train",
    "pipelines.commands.stream",
    "pipelines.commands.notify",
    "pipelines.commands.es",
    "pipelines.commands.kibana",
    "pipelines.commands.investigate",
    "pipelines.commands.inventory",
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tokenhawk {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    log_level: str = typer.Option("WARNING", "--log-level", help="Logging level for diagnostics on stderr."),
    json_logs: bool = typer.Option(False, "--json-logs", help="Log JSON lines (for services and log shippers)."),
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    setup_logging(log_level, json_logs)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def run() -> None:
    """Console-script entry point: tokenhawk's own errors print one clear line, exit code 2."""
    try:
        app()
    except TokenhawkError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False)
        sys.exit(2)
