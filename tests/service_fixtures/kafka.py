"""A real Kafka broker for tests: a session fixture that never skips.

Where the broker comes from, in order:

1. ``TOKENHAWK_TEST_KAFKA=host:port``: a broker someone else runs; it must answer.
2. Docker, only when asked (``TOKENHAWK_KAFKA_DOCKER=1``) or when there is no Java here and
   ``docker info`` works: testcontainers' ``KafkaContainer``.
3. Otherwise the local broker of ``scripts/kafka`` (Apache Kafka 4.x from Maven Central, KRaft,
   127.0.0.1, port ``TOKENHAWK_KAFKA_PORT`` or 19092). It is preferred to Docker because
   ``restart_kafka()`` needs a fixed port and the same data dir across a restart.

If the broker cannot be had, the fixture fails with the reason and the tail of the broker log.

Use it from a test module with
``from service_fixtures.kafka import kafka_bootstrap, fresh_topic, restart_kafka``
(tests/conftest.py puts tests/ on ``sys.path``).

Several pytest processes (e.g. xdist workers) may share the local broker: each holds a lease
while its session runs, and the broker is stopped when the last lease goes, and only if a
fixture started it (a broker someone started by hand is left running). ``restart_kafka()``
briefly takes the broker away from all of them.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "kafka"
EXTERNAL_ENV = "TOKENHAWK_TEST_KAFKA"
DOCKER_ENV = "TOKENHAWK_KAFKA_DOCKER"
# The first `start` may run Maven to assemble the jars (a minute or so on a cold cache).
SCRIPT_TIMEOUT_S = 900

# How the session's broker was obtained: "external", "docker" or "local".
_session: dict[str, object] = {}


def fresh_topic(prefix: str = "test") -> str:
    """A topic name no other test (or earlier run against the same broker) has used."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "-", prefix)[:200] or "test"
    return f"{safe}-{uuid.uuid4().hex[:12]}"


def restart_kafka() -> str:
    """Stop and start the session's local broker, same port and data dir; returns its address.

    What was committed before (records, consumer-group offsets) is there after. Only the local
    broker of scripts/kafka can be restarted (also when ``TOKENHAWK_TEST_KAFKA`` names it, e.g.
    because CI started it first): with any other broker this fails the test.
    """
    mode = _session.get("mode")
    if mode == "external" and _local_status() == _session.get("bootstrap"):
        mode = "local"
    if mode != "local":
        pytest.fail(
            f"restart_kafka() needs the local broker of scripts/kafka, but this session uses "
            f"{'the ' + str(mode) if mode else 'no'} broker (unset {EXTERNAL_ENV} / {DOCKER_ENV} "
            f"to use the local one)",
            pytrace=False,
        )
    return _run_script("restart")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a running Kafka broker for the whole session."""
    external = os.environ.get(EXTERNAL_ENV, "").strip()
    if external:
        _session.update(mode="external", bootstrap=external)
        _wait_reachable(external, timeout_s=30)
        yield external
    elif _want_docker():
        _session["mode"] = "docker"
        yield from _docker_broker()
    else:
        _session["mode"] = "local"
        yield from _local_broker()
    _session.clear()


# --- local broker (scripts/kafka) -----------------------------------------------------------


def _runtime_dir() -> Path:
    return Path(os.environ.get("TOKENHAWK_KAFKA_DIR") or REPO / ".services" / "kafka")


def _log_path() -> Path:
    return _runtime_dir() / "kafka.log"


def _log_tail(lines: int = 40, since: float = 0.0) -> str:
    path = _log_path()
    try:
        if path.stat().st_mtime < since:
            return f"(the broker JVM did not run: {path} was last written before this attempt)"
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no broker log: {exc})"
    tail = "\n".join(text.splitlines()[-lines:])
    return f"----- last {lines} lines of {path} -----\n{tail}"


def _run_script(command: str) -> str:
    """Run `scripts/kafka <command>`; its stdout (the bootstrap address) or a clear failure."""
    started = time.time()
    try:
        proc = subprocess.run(
            [str(SCRIPT), command],
            check=False,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(
            f"scripts/kafka {command} could not run: {exc}\n{_log_tail(since=started)}",
            pytrace=False,
        )
    if proc.returncode != 0:
        detail = proc.stderr.strip()
        if "----- last" not in detail:  # the script adds the log tail only when the JVM ran
            detail += "\n" + _log_tail(since=started)
        pytest.fail(
            f"the local Kafka broker could not be had: `scripts/kafka {command}` exited "
            f"{proc.returncode}\n{detail}",
            pytrace=False,
        )
    _session["last_script_stderr"] = proc.stderr
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""


def _local_status() -> str | None:
    """The address of the running local broker of scripts/kafka, if there is one."""
    try:
        proc = subprocess.run(
            [str(SCRIPT), "status"], check=False, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if proc.returncode == 0 and lines else None


@contextmanager
def _lease_lock() -> Iterator[Path]:
    leases = _runtime_dir() / "leases"
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


def _local_broker() -> Iterator[str]:
    me = str(os.getpid())
    with _lease_lock() as leases:
        (leases / me).touch()
        bootstrap = _run_script("start")
        if "already running" not in str(_session.get("last_script_stderr", "")):
            (leases / ".started-by-fixture").touch()
    try:
        yield bootstrap
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


# --- external broker ------------------------------------------------------------------------


def _wait_reachable(bootstrap: str, timeout_s: float) -> None:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=2):
                return
        except (OSError, ValueError) as exc:
            if time.monotonic() >= deadline:
                pytest.fail(
                    f"{EXTERNAL_ENV}={bootstrap} is not reachable after {timeout_s:.0f}s: {exc}",
                    pytrace=False,
                )
            time.sleep(0.5)


# --- docker (testcontainers), opt-in --------------------------------------------------------


def _want_docker() -> bool:
    if os.environ.get(DOCKER_ENV) == "1":
        return True
    java_home = os.environ.get("JAVA_HOME")
    has_java = bool(shutil.which("java")) or bool(
        java_home and Path(java_home, "bin", "java").exists()
    )
    return not has_java and _docker_works()


def _docker_works() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        proc = subprocess.run(["docker", "info"], check=False, capture_output=True, timeout=20)
        return proc.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _docker_broker() -> Iterator[str]:
    try:
        from testcontainers.kafka import KafkaContainer
    except ImportError as exc:
        pytest.fail(
            f"{DOCKER_ENV}=1 (or no Java) needs testcontainers[kafka]: {exc}", pytrace=False
        )
    image = os.environ.get("TOKENHAWK_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
    container = KafkaContainer(image).with_kraft()
    try:
        container.start()
    except Exception as exc:  # noqa: BLE001 - any failure here means "no broker": say why
        pytest.fail(f"could not start the Kafka container {image}: {exc}", pytrace=False)
    try:
        yield container.get_bootstrap_server()
    finally:
        container.stop()
