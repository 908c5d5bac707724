"""Logging setup: readable lines on a terminal, JSON lines for services; secrets scrubbed always."""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone

import orjson

from detector.redact import redact_text


class RedactingFilter(logging.Filter):
    """Scrub JWTs, bearer tokens and secret-valued JSON members from every message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = redact_text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "@timestamp": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(),
            "log.level": record.levelname.lower(),
            "log.logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            doc.update(extra)
        if record.exc_info:
            doc["error.stack_trace"] = redact_text(self.formatException(record.exc_info))
        return orjson.dumps(doc, default=str).decode()


def setup_logging(level: str = "INFO", json_logs: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # kafka-python is chatty at INFO about every connection
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
