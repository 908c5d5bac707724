"""The durable outbox: one SQLite row per (alert id, revision, destination).

An alert is written here before anything is sent, so a crash or restart loses nothing: whatever
is still `pending` is sent by the next process that opens the file. The primary key makes
delivery idempotent: the same alert revision submitted twice is one row, sent once.

Row life: pending → sent | dead, or superseded (a newer revision replaced it before it was sent)
or skipped (the destination's update policy did not want this revision). A row being sent is
*leased*: its `next_attempt` is pushed past the longest a request can take, so a second process
does not take it too, and if this process dies mid-request the row becomes due again by itself.
That makes delivery at-least-once; PagerDuty (dedup_key) and webhook receivers (webhook-id) fold
the rare repeat, Slack would show it twice.

WAL journal and synchronous=FULL: a committed enqueue survives a crash of the process or machine.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from detector.alert import SEVERITY_RANK
from detector.errors import ConfigError
from detector.notify.view import AlertView

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id     TEXT    NOT NULL,
    revision     INTEGER NOT NULL,
    destination  TEXT    NOT NULL,
    action       TEXT    NOT NULL,          -- notify | resolve
    status       TEXT    NOT NULL,          -- pending | sent | dead | skipped | superseded
    severity     TEXT    NOT NULL,
    doc          TEXT    NOT NULL,          -- the alert document (JSON)
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL    NOT NULL,
    solo         INTEGER NOT NULL DEFAULT 0, -- never fold into a digest again (a digest was refused)
    created      REAL    NOT NULL,
    updated      REAL    NOT NULL,
    sent_at      REAL,
    http_status  INTEGER,
    last_error   TEXT,
    PRIMARY KEY (alert_id, revision, destination)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (destination, status, next_attempt);
CREATE INDEX IF NOT EXISTS deliveries_alert ON deliveries (alert_id, destination);
"""

PENDING, SENT, DEAD, SKIPPED, SUPERSEDED = "pending", "sent", "dead", "skipped", "superseded"
STATUSES = (PENDING, SENT, DEAD, SKIPPED, SUPERSEDED)


@dataclass(frozen=True)
class Row:
    alert_id: str
    revision: int
    destination: str
    action: str
    status: str
    severity: str
    doc: dict[str, Any]
    attempts: int
    next_attempt: float
    solo: bool
    created: float
    last_error: Optional[str]

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.alert_id, self.revision, self.destination)

    @property
    def view(self) -> AlertView:
        return AlertView(self.doc)


_ROW_COLUMNS = "alert_id, revision, destination, action, status, severity, doc, attempts, next_attempt, solo, created, last_error"


def _row(values: Sequence[Any]) -> Row:
    (alert_id, revision, destination, action, status, severity, doc, attempts, next_attempt, solo, created, last_error) = values
    return Row(alert_id, revision, destination, action, status, severity, json.loads(doc), attempts, next_attempt, bool(solo), created, last_error)


class Outbox:
    """Thread-safe (one connection behind a lock); safe to share between processes (SQLite locking)."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time, in_memory_copy: bool = False):
        self.path = Path(path)
        self.clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        try:
            if in_memory_copy:
                # dry runs: work on a copy so the real outbox is never touched
                self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                if self.path.exists():
                    source = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
                    source.backup(self._conn)
                    source.close()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=30000")
            self._conn.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"cannot open the notify outbox {self.path}: {exc}") from None

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error); nested uses join the outer transaction.

        Holds the outbox lock throughout, so a batch of decisions (route, check history,
        enqueue) sees one consistent state.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    # -- enqueue --------------------------------------------------------------------------------

    def enqueue(self, alert: AlertView, destination: str, *, action: str, policy: str, force: bool = False) -> str:
        """Record one delivery; returns queued | duplicate | stale | skipped.

        `policy` (always | severity_rise | never) decides whether a later revision of an incident
        this destination already got is sent; `force` sends it regardless (a PagerDuty resolve).
        An older revision still waiting to be sent is replaced by the newer one (superseded),
        unless the policy would skip the newer one.
        """
        with self.transaction() as db:
            return self._enqueue(db, alert, destination, action=action, policy=policy, force=force)

    def _enqueue(self, db: sqlite3.Connection, alert: AlertView, destination: str, *, action: str, policy: str, force: bool) -> str:
        now = self.clock()
        key = (alert.id, alert.revision, destination)
        if db.execute("SELECT 1 FROM deliveries WHERE alert_id=? AND revision=? AND destination=?", key).fetchone():
            return "duplicate"
        rows = db.execute(
            "SELECT revision, status, severity FROM deliveries WHERE alert_id=? AND destination=?",
            (alert.id, destination),
        ).fetchall()
        newest = max((r[0] for r in rows), default=0)
        pending = [r[0] for r in rows if r[1] == PENDING]
        sent_ranks = [SEVERITY_RANK[r[2]] for r in rows if r[1] == SENT]

        status, note, outcome = PENDING, None, "queued"
        if newest > alert.revision:
            status, note, outcome = SUPERSEDED, f"revision {newest} was already queued", "stale"
        elif sent_ranks and not force:
            if policy == "never" or (policy == "severity_rise" and alert.severity_rank <= max(sent_ranks)):
                status, note, outcome = SKIPPED, f"update policy {policy!r}: not sent", "skipped"
        if status == PENDING and pending:
            db.execute(
                f"UPDATE deliveries SET status='{SUPERSEDED}', updated=?, last_error=? "
                f"WHERE alert_id=? AND destination=? AND status='{PENDING}'",
                (now, f"replaced by revision {alert.revision} before it was sent", alert.id, destination),
            )
        db.execute(
            "INSERT INTO deliveries (alert_id, revision, destination, action, status, severity, doc, "
            "next_attempt, created, updated, last_error) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (*key, action, status, alert.severity, json.dumps(alert.doc, separators=(",", ":")), now, now, now, note),
        )
        return outcome

    # -- what is known about an incident -----------------------------------------------------------

    def sent_severity(self, alert_id: str, destination: str, *, before_revision: Optional[int] = None) -> Optional[str]:
        """The highest severity this destination was already sent for the incident (None: never sent)."""
        query = f"SELECT severity FROM deliveries WHERE alert_id=? AND destination=? AND status='{SENT}'"
        args: list[Any] = [alert_id, destination]
        if before_revision is not None:
            query += " AND revision < ?"
            args.append(before_revision)
        with self._lock:
            severities = [r[0] for r in self._conn.execute(query, args)]
        return max(severities, key=SEVERITY_RANK.__getitem__) if severities else None

    def last_sent_action(self, alert_id: str, destination: str) -> Optional[str]:
        with self._lock:
            row = self._conn.execute(
                f"SELECT action FROM deliveries WHERE alert_id=? AND destination=? AND status='{SENT}' "
                "ORDER BY revision DESC LIMIT 1",
                (alert_id, destination),
            ).fetchone()
        return row[0] if row else None

    def destinations_of(self, alert_id: str) -> list[str]:
        """Destinations that got, or are about to get, this incident (later revisions follow it there)."""
        with self._lock:
            return [
                r[0]
                for r in self._conn.execute(
                    f"SELECT DISTINCT destination FROM deliveries WHERE alert_id=? AND status IN ('{SENT}','{PENDING}')",
                    (alert_id,),
                )
            ]

    # -- delivery -------------------------------------------------------------------------------

    # A row is due when its time has come and it was not already tried since `tried_before`:
    # one delivery pass tries each row at most once, yet takes rows that fall due while it runs.
    _DUE = f"destination=? AND status='{PENDING}' AND next_attempt<=? AND (attempts=0 OR updated<?)"

    def has_due(self, destination: str, *, now: Optional[float] = None, tried_before: float = float("inf")) -> bool:
        now = self.clock() if now is None else now
        with self._lock:
            return (
                self._conn.execute(
                    f"SELECT 1 FROM deliveries WHERE {self._DUE} LIMIT 1", (destination, now, tried_before)
                ).fetchone()
                is not None
            )

    def claim(
        self, destination: str, *, limit: int, lease_seconds: float, now: Optional[float] = None,
        tried_before: float = float("inf"),
    ) -> list[Row]:
        """Take up to `limit` due rows, leased for `lease_seconds`. Rows marked `solo` are only taken alone."""
        now = self.clock() if now is None else now
        with self.transaction() as db:
            rows = [
                _row(r)
                for r in db.execute(
                    f"SELECT {_ROW_COLUMNS} FROM deliveries WHERE {self._DUE} "
                    "ORDER BY next_attempt, created, alert_id LIMIT ?",
                    (destination, now, tried_before, limit),
                )
            ]
            if rows and (rows[0].solo or limit == 1):
                rows = rows[:1]
            else:
                rows = [r for r in rows if not r.solo]
            lease = self.clock() + lease_seconds
            db.executemany(
                "UPDATE deliveries SET next_attempt=? WHERE alert_id=? AND revision=? AND destination=?",
                [(lease, *r.key) for r in rows],
            )
        return rows

    def mark_sent(self, rows: Sequence[Row], http_status: int) -> None:
        now = self.clock()
        with self.transaction() as db:
            db.executemany(
                f"UPDATE deliveries SET status='{SENT}', attempts=attempts+1, sent_at=?, updated=?, http_status=?, "
                "last_error=NULL WHERE alert_id=? AND revision=? AND destination=?",
                [(now, now, http_status, *r.key) for r in rows],
            )

    def mark_retry(self, row: Row, *, next_attempt: float, error: str, http_status: Optional[int], solo: bool = False) -> None:
        """Failed, try again at `next_attempt`; a row superseded meanwhile stays superseded."""
        with self.transaction() as db:
            db.execute(
                "UPDATE deliveries SET attempts=attempts+1, next_attempt=?, updated=?, last_error=?, http_status=?, "
                f"solo=MAX(solo, ?) WHERE alert_id=? AND revision=? AND destination=? AND status='{PENDING}'",
                (next_attempt, self.clock(), error, http_status, int(solo), *row.key),
            )

    def mark_dead(self, row: Row, *, error: str, http_status: Optional[int]) -> None:
        with self.transaction() as db:
            db.execute(
                f"UPDATE deliveries SET status='{DEAD}', attempts=attempts+1, updated=?, last_error=?, http_status=? "
                f"WHERE alert_id=? AND revision=? AND destination=? AND status='{PENDING}'",
                (self.clock(), error, http_status, *row.key),
            )

    # -- reporting ------------------------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        """{destination: {status: rows}} over the whole outbox."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for destination, status, n in self._conn.execute(
                "SELECT destination, status, COUNT(*) FROM deliveries GROUP BY destination, status"
            ):
                out.setdefault(destination, {s: 0 for s in STATUSES})[status] = n
        return out

    def pending_count(self) -> int:
        with self._lock:
            return self._conn.execute(f"SELECT COUNT(*) FROM deliveries WHERE status='{PENDING}'").fetchone()[0]

    def next_due(self) -> Optional[float]:
        with self._lock:
            return self._conn.execute(f"SELECT MIN(next_attempt) FROM deliveries WHERE status='{PENDING}'").fetchone()[0]

    def rows(self, *, status: Optional[str] = None, alert_id: Optional[str] = None) -> list[Row]:
        query, args = f"SELECT {_ROW_COLUMNS} FROM deliveries WHERE 1=1", []
        if status:
            query, args = query + " AND status=?", args + [status]
        if alert_id:
            query, args = query + " AND alert_id=?", args + [alert_id]
        with self._lock:
            return [_row(r) for r in self._conn.execute(query + " ORDER BY created, alert_id, revision, destination", args)]

    def purge(self, older_than_seconds: float) -> int:
        """Forget finished deliveries older than this (the idempotency memory is this long)."""
        with self.transaction() as db:
            cur = db.execute(
                f"DELETE FROM deliveries WHERE status != '{PENDING}' AND updated < ?",
                (self.clock() - older_than_seconds,),
            )
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
