"""`tokenhawk stream …`: the Kafka stream processors, and a helper to load files into topics."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import List, Optional

import orjson
import typer

from ..logs import setup_logging
from ..progress import bar, console
from ..settings import load_settings

app = typer.Typer(
    name="stream",
    help="Run tokenhawk on Kafka: raw audit topics → token events → alerts (see README, Stream mode).",
    no_args_is_help=True,
)

_CONFIG = typer.Option(None, "--config", help="YAML settings file (the `kafka:` and `detector:` sections).")
_BOOTSTRAP = typer.Option(None, "--bootstrap", help="Kafka bootstrap servers, overriding kafka.bootstrap_servers.")
_ONCE = typer.Option(False, "--once", help="Stop when the input has been idle --max-idle seconds, and decide waiting "
                                           "incidents as a file replay does at its end (tests, backfills).")
_MAX_IDLE = typer.Option(3.0, "--max-idle", help="Seconds without new records that end a --once run.")
_METRICS_PORT = typer.Option(None, "--metrics-port", help="Serve /metrics here (overrides kafka.metrics_port; 0 = any free port).")
_NO_METRICS = typer.Option(False, "--no-metrics", help="Do not serve /metrics.")
_LOG_LEVEL = typer.Option("INFO", "--log-level", help="Logging level.")
_TEXT_LOGS = typer.Option(False, "--text-logs", help="Readable log lines instead of JSON lines.")
_INSTANCE = typer.Option(None, "--instance", help="Name of this instance in state records (default host-pid).")


def _settings(config: Optional[Path], bootstrap: Optional[str], metrics_port: Optional[int], no_metrics: bool,
              learning_period: Optional[str] = None):
    overrides: dict = {}
    kafka: dict = {}
    if bootstrap:
        kafka["bootstrap_servers"] = bootstrap
    if metrics_port is not None:
        kafka["metrics_port"] = metrics_port
    if kafka:
        overrides["kafka"] = kafka
    if learning_period:
        overrides["detector"] = {"learning_period": learning_period}
    settings = load_settings(config, **overrides)
    if no_metrics:
        settings.kafka.metrics_port = None
    return settings


def _run(roles, config, bootstrap, once, max_idle, metrics_port, no_metrics, log_level, text_logs,
         models: Optional[Path] = None, learning_period: Optional[str] = None, instance: Optional[str] = None) -> None:
    from pipelines.stream.service import run_stream

    setup_logging(log_level, json_logs=not text_logs)
    # the rebalance callback restores state synchronously on purpose; kafka-python would warn
    # that it blocked its event loop at every rebalance
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    settings = _settings(config, bootstrap, metrics_port, no_metrics, learning_period)
    forests = None
    if models is not None:
        from detector.detect.forest import load_forests
        from detector.detect.windows import FEATURES

        forests = load_forests(models, FEATURES)
    report = run_stream(settings, roles, once=once, max_idle_s=max_idle, forests=forests, instance=instance)
    if once:
        sys.stdout.buffer.write(orjson.dumps(report.as_dict()) + b"\n")
        sys.stdout.buffer.flush()


@app.command("normalize")
def normalize(config: Optional[Path] = _CONFIG, bootstrap: Optional[str] = _BOOTSTRAP, once: bool = _ONCE,
              max_idle: float = _MAX_IDLE, metrics_port: Optional[int] = _METRICS_PORT, no_metrics: bool = _NO_METRICS,
              log_level: str = _LOG_LEVEL, text_logs: bool = _TEXT_LOGS) -> None:
    """Raw audit topics → tokenhawk.events (keyed by principal) and tokenhawk.facts; bad records → DLQ."""
    _run(("normalize",), config, bootstrap, once, max_idle, metrics_port, no_metrics, log_level, text_logs)


@app.command("detect")
def detect(config: Optional[Path] = _CONFIG, bootstrap: Optional[str] = _BOOTSTRAP, once: bool = _ONCE,
           max_idle: float = _MAX_IDLE, metrics_port: Optional[int] = _METRICS_PORT, no_metrics: bool = _NO_METRICS,
           log_level: str = _LOG_LEVEL, text_logs: bool = _TEXT_LOGS,
           models: Optional[Path] = typer.Option(None, "--models", help="Isolation forests from `tokenhawk train`."),
           learning_period: Optional[str] = typer.Option(None, "--learning-period", help="e.g. 7d (default from config)."),
           instance: Optional[str] = _INSTANCE) -> None:
    """tokenhawk.events → tokenhawk.alerts, one consumer group; start more to scale out (one per
    partition at most); each partition's state moves with it through tokenhawk.state."""
    _run(("detect",), config, bootstrap, once, max_idle, metrics_port, no_metrics, log_level, text_logs,
         models, learning_period, instance)


@app.command("all")
def run_all(config: Optional[Path] = _CONFIG, bootstrap: Optional[str] = _BOOTSTRAP, once: bool = _ONCE,
            max_idle: float = _MAX_IDLE, metrics_port: Optional[int] = _METRICS_PORT, no_metrics: bool = _NO_METRICS,
            log_level: str = _LOG_LEVEL, text_logs: bool = _TEXT_LOGS,
            models: Optional[Path] = typer.Option(None, "--models", help="Isolation forests from `tokenhawk train`."),
            learning_period: Optional[str] = typer.Option(None, "--learning-period", help="e.g. 7d (default from config)."),
            instance: Optional[str] = _INSTANCE) -> None:
    """Normalize and detect in one process (small deployments)."""
    _run(("normalize", "detect"), config, bootstrap, once, max_idle, metrics_port, no_metrics, log_level, text_logs,
         models, learning_period, instance)


@app.command("produce")
def produce(
    inputs: List[str] = typer.Argument(..., metavar="INPUT...", help="Files, directories, globs, .gz."),
    topic: Optional[str] = typer.Option(None, "--topic", help="Raw topic to load the documents into, e.g. audit.k8s."),
    events: bool = typer.Option(False, "--events", help="Normalize here (or read events .parquet) and publish to the "
                                                       "events and facts topics, keyed by principal."),
    tenant: Optional[str] = typer.Option(None, "--tenant", help="Cluster/account for records without one "
                                                                "(a 'tenant' header on raw records)."),
    config: Optional[Path] = _CONFIG,
    bootstrap: Optional[str] = _BOOTSTRAP,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Load files into Kafka (development helper): raw documents into a raw topic, one record
    each, or normalized events into tokenhawk.events/facts with --events."""
    from pipelines.stream.produce import produce_events, produce_raw
    from pipelines.stream.topics import ensure_topics

    if bool(topic) == events:
        raise typer.BadParameter("give either --topic TOPIC (raw documents) or --events")
    settings = _settings(config, bootstrap, None, True)
    kafka = settings.kafka
    if kafka.create_topics:
        ensure_topics(kafka, [topic] if topic else [kafka.topics.events, kafka.topics.facts])
    if events:
        from ..replay import load_events

        table = load_events(inputs, quiet=quiet, tenant=tenant)
        n = produce_events(kafka, [table])
        console.print(f"{n:,} events → {kafka.topics.events} (facts → {kafka.topics.facts})")
    else:
        with bar(f"producing to {topic}", None, quiet=quiet) as progress:
            n = produce_raw(kafka, topic, inputs, tenant=tenant, on_record=progress.advance)
        console.print(f"{n:,} records → {topic}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="stream")
