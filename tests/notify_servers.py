"""Real local HTTP servers standing in for Slack, PagerDuty and a webhook receiver (notify tests).

Each `Receiver` is a `ThreadingHTTPServer` on 127.0.0.1 in a thread. It records every request
(path, headers, raw body, arrival time) and answers from a script of responses, then with its
default. A scripted `delay` longer than the client's timeout makes a request time out.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

from detector.alert import example_alert

# Realistic-looking secrets: the tests assert none of them ever shows up in logs or errors.
SLACK_PATH = "/services/T0TOKENHWK/B0NOTIFY01/xQ3vN9sLpR7tKe2WmZ8aYc4D"
SLACK_SECRET_PART = "xQ3vN9sLpR7tKe2WmZ8aYc4D"
PD_ROUTING_KEY = "R0UT1NGk3yPAGERDUTY0000000000001"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRETS = (SLACK_PATH, SLACK_SECRET_PART, PD_ROUTING_KEY, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_"))


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    def __init__(self, name: str, default: Optional[Reply] = None):
        self.name = name
        self.default = default or Reply()
        self.requests: list[Received] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._arrived:
                    receiver.requests.append(
                        Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
                    )
                    reply = receiver._script.popleft() if receiver._script else receiver.default
                    receiver._arrived.notify_all()
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, name=f"receiver-{name}", daemon=True
        )
        self.thread.start()

    def url(self, path: str = "/") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r.json() for r in self.requests]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_alert(
    n: int = 0,
    *,
    severity: str = "critical",
    score: Optional[float] = None,
    revision: int = 1,
    status: str = "open",
    principal: str = "system:serviceaccount:payments:api",
    namespace: Optional[str] = "payments",
    source: str = "k8s",
    alert_id: Optional[str] = None,
) -> dict[str, Any]:
    """The contract's example alert, varied: a distinct incident per `n`."""
    doc = copy.deepcopy(example_alert())
    doc["alert"] = {"id": alert_id or f"{n:04d}" + doc["alert"]["id"][4:], "status": status}
    doc["severity"] = severity
    doc["score"] = score if score is not None else {"critical": 92.5, "high": 70.0, "medium": 50.0, "low": 20.0}[severity]
    doc["tokenhawk"]["revision"] = revision
    doc["token"]["principal"] = principal
    doc["user"]["name"] = principal
    doc["token"]["source"] = source
    if namespace is None:
        doc.pop("orchestrator")
    else:
        doc["orchestrator"]["namespace"] = namespace
    return doc


def notify_config(tmp_path, **kwargs: Any):
    """A NotifyConfig aimed at the local receivers (arguments as for `notify_settings`)."""
    from detector.notify.config import NotifyConfig

    return NotifyConfig.model_validate(notify_settings(tmp_path, **kwargs))


def notify_settings(tmp_path, *, slack: Optional[Receiver] = None, pagerduty: Optional[Receiver] = None,
                    webhook: Optional[Receiver] = None, overrides: Optional[dict[str, Any]] = None,
                    **top: Any) -> dict[str, Any]:
    """The `notify` settings (plain JSON, secrets included) aimed at the local receivers, with tiny
    backoffs so retries take milliseconds. `top` sets top-level notify settings; `overrides`
    merges into sections ({"slack": {...}}).
    """
    settings: dict[str, Any] = {
        "outbox": str(tmp_path / "outbox.sqlite"),
        "timeout_seconds": 0.5,
        "backoff_initial_seconds": 0.02,
        "backoff_max_seconds": 0.1,
        "budget_seconds": 2.0,
        "drain_seconds": 8.0,
        "routes": [{"destinations": ["slack", "pagerduty", "webhook"]}],
    }
    if slack is not None:
        settings["slack"] = {"webhook_url": slack.url(SLACK_PATH), "rate_per_second": 50, "burst": 50}
    if pagerduty is not None:
        settings["pagerduty"] = {"routing_key": PD_ROUTING_KEY, "events_url": pagerduty.url("/v2/enqueue")}
    if webhook is not None:
        settings["webhook"] = {"url": webhook.url("/hooks/tokenhawk"), "secret": WEBHOOK_SECRET}
    settings.update(top)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    return settings
