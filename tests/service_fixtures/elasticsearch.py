"""A real Elasticsearch node for tests: a session fixture that never skips.

Where the node comes from, in order:

1. ``TOKENHAWK_TEST_ES=http://host:port``: a cluster someone else runs; it must answer ``/_cluster/health``.
2. Docker, only when asked (``TOKENHAWK_ES_DOCKER=1``) or when there is no Java here and
   ``docker info`` works: testcontainers' ``ElasticsearchContainer`` (security off).
3. Otherwise the local node of ``scripts/elasticsearch``: Elasticsearch 8.19 assembled from Maven
   Central, run in one JVM on 127.0.0.1, port ``TOKENHAWK_ES_PORT`` or 19200. It is preferred to
   Docker because ``stop_es()``/``start_es()`` need a fixed port and the same data dir.
   services/elasticsearch/README.md says which APIs that node has (no ILM, no ``GET _ingest``
   processors, no painless, no ``_delete_by_query``...).

If the node cannot be had, the fixture fails with the reason and the tail of the node's log.

Use it from a test module with
``from service_fixtures.elasticsearch import es_url, fresh_index, stop_es, start_es``
(tests/conftest.py puts tests/ on ``sys.path``).

Several pytest processes (e.g. xdist workers) may share the local node: each holds a lease while
its session runs, and the node is stopped when the last lease goes, and only if a fixture started
it (a node someone started by hand, or CI, is left running).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "elasticsearch"
EXTERNAL_ENV = "TOKENHAWK_TEST_ES"
DOCKER_ENV = "TOKENHAWK_ES_DOCKER"
# The first `start` may run Maven to assemble the jars (about a minute on a cold cache).
SCRIPT_TIMEOUT_S = 900

# How the session's node was obtained: "external", "docker" or "local"; and its URL.
_session: dict[str, object] = {}


def fresh_index(prefix: str = "test") -> str:
    """An index (or data stream) name that no other test, or earlier run, has used."""
    safe = re.sub(r"[^a-z0-9._-]", "-", prefix.lower()).lstrip("-_.+")[:150] or "test"
    return f"{safe}-{uuid.uuid4().hex[:12]}"


def stop_es() -> None:
    """Stop the session's local node (to simulate an outage). Data stays on disk.

    Only the local node of scripts/elasticsearch can be stopped (also when ``TOKENHAWK_TEST_ES``
    names it, e.g. because CI started it first): with any other node this fails the test.
    """
    _require_local("stop_es()")
    _run_script("stop")


def start_es() -> str:
    """Start the session's local node again (same port, same data); returns its URL."""
    _require_local("start_es()")
    return _run_script("start")


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a running Elasticsearch node for the whole session."""
    external = os.environ.get(EXTERNAL_ENV, "").strip().rstrip("/")
    if external:
        _session.update(mode="external", url=external)
        _wait_healthy(external, timeout_s=60)
        yield external
    elif _want_docker():
        _session["mode"] = "docker"
        yield from _docker_node()
    else:
        _session["mode"] = "local"
        yield from _local_node()
    _session.clear()


# --- local node (scripts/elasticsearch) -----------------------------------------------------


def _node_home() -> Path:
    return Path(os.environ.get("TOKENHAWK_ES_HOME") or REPO / ".services" / "elasticsearch" / "node")


def _log_path() -> Path:
    return _node_home() / "logs" / "node.log"


def _log_tail(lines: int = 60, since: float = 0.0) -> str:
    path = _log_path()
    try:
        if path.stat().st_mtime < since:
            return f"(the node JVM did not run: {path} was last written before this attempt)"
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no node log: {exc})"
    tail = "\n".join(text.splitlines()[-lines:])
    return f"----- last {lines} lines of {path} -----\n{tail}"


def _run_script(command: str) -> str:
    """Run `scripts/elasticsearch <command>`; its stdout (the URL) or a clear failure."""
    started = time.time()
    try:
        proc = subprocess.run(
            [str(SCRIPT), command],
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(
            f"scripts/elasticsearch {command} could not run: {exc}\n{_log_tail(since=started)}",
            pytrace=False,
        )
    if proc.returncode != 0:
        detail = proc.stderr.strip()
        if "----- last" not in detail and "last lines of" not in detail:
            detail += "\n" + _log_tail(since=started)
        pytest.fail(
            f"the local Elasticsearch node could not be had: `scripts/elasticsearch {command}` "
            f"exited {proc.returncode}\n{detail}",
            pytrace=False,
        )
    _session["last_script_stderr"] = proc.stderr
    out = proc.stdout.strip().splitlines()
    return out[-1] if out else ""


def _local_url() -> str | None:
    """The URL of the running local node of scripts/elasticsearch, if there is one."""
    try:
        proc = subprocess.run([str(SCRIPT), "status"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"url=(\S+)", proc.stdout)
    return m.group(1) if proc.returncode == 0 and m else None


def _require_local(what: str) -> None:
    mode = _session.get("mode")
    if mode == "external" and _local_url() == _session.get("url"):
        mode = "local"
    if mode != "local":
        pytest.fail(
            f"{what} needs the local node of scripts/elasticsearch, but this session uses "
            f"{mode or 'no'} node (unset {EXTERNAL_ENV} / {DOCKER_ENV} to use the local one)",
            pytrace=False,
        )


@contextmanager
def _lease_lock() -> Iterator[Path]:
    leases = REPO / ".services" / "elasticsearch" / "leases"
    leases.mkdir(parents=True, exist_ok=True)
    with open(leases / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield leases


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _local_node() -> Iterator[str]:
    me = str(os.getpid())
    with _lease_lock() as leases:
        (leases / me).touch()
        url = _run_script("start")
        if "already running" not in str(_session.get("last_script_stderr", "")):
            (leases / ".started-by-fixture").touch()
    _session["url"] = url
    try:
        yield url
    finally:
        with _lease_lock() as leases:
            (leases / me).unlink(missing_ok=True)
            others = []
            for lease in leases.iterdir():
                if lease.name.isdigit():
                    if _pid_alive(int(lease.name)):
                        others.append(lease)
                    else:  # a session that died without cleaning up
                        lease.unlink(missing_ok=True)
            marker = leases / ".started-by-fixture"
            if not others and marker.exists():
                _run_script("stop")
                marker.unlink(missing_ok=True)


# --- external node --------------------------------------------------------------------------


def _wait_healthy(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    health_url = f"{url}/_cluster/health?wait_for_status=yellow&timeout=5s"
    while True:
        try:
            with urllib.request.urlopen(health_url, timeout=10) as resp:
                status = json.load(resp).get("status")
            if status in ("green", "yellow"):
                return
            problem: object = f"health is {status}"
        except (OSError, ValueError, urllib.error.URLError) as exc:
            problem = exc
        if time.monotonic() >= deadline:
            pytest.fail(
                f"{EXTERNAL_ENV}={url} is not healthy after {timeout_s:.0f}s: {problem}",
                pytrace=False,
            )
        time.sleep(1)


# --- docker (testcontainers), opt-in --------------------------------------------------------


def _want_docker() -> bool:
    if os.environ.get(DOCKER_ENV) == "1":
        return True
    java_home = os.environ.get("TOKENHAWK_ES_JAVA_HOME") or os.environ.get("JAVA_HOME")
    has_java = bool(shutil.which("java")) or bool(java_home and Path(java_home, "bin", "java").exists())
    return not has_java and _docker_works()


def _docker_works() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _docker_node() -> Iterator[str]:
    try:
        from testcontainers.elasticsearch import ElasticSearchContainer
    except ImportError as exc:
        pytest.fail(f"{DOCKER_ENV}=1 (or no Java) needs testcontainers[elasticsearch]: {exc}", pytrace=False)
    image = os.environ.get("TOKENHAWK_ES_IMAGE", "docker.elastic.co/elasticsearch/elasticsearch:8.19.0")
    container = ElasticSearchContainer(image, mem_limit="1g")
    container.with_env("xpack.security.enabled", "false").with_env("ES_JAVA_OPTS", "-Xms512m -Xmx512m")
    try:
        container.start()
    except Exception as exc:  # noqa: BLE001 - any failure here means "no node": say why
        pytest.fail(f"could not start the Elasticsearch container {image}: {exc}", pytrace=False)
    try:
        url = container.get_url()
        _session["url"] = url
        _wait_healthy(url, timeout_s=120)
        yield url
    finally:
        container.stop()
