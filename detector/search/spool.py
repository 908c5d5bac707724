"""A bounded on-disk spool for alerts on their way to Elasticsearch (SQLite, one row per alert id).

Every alert is written here *before* it is sent (write-ahead), and removed only after
Elasticsearch acknowledged that revision; a crash, an outage or a rejected request leaves it in
place for the next flush. Rows are keyed by `alert.id`, so later revisions of an incident replace
the earlier one instead of queueing behind it (an older revision never replaces a newer one): the
spool's size is bounded by distinct incidents, not by updates.

Bounds: `max_alerts` rows and `max_bytes` of documents. When a batch of new alerts does not fit,
`put` raises `SpoolFull` and stores none of it: nothing is dropped silently, the caller keeps the
batch (a Kafka consumer stops committing, `tokenhawk es index` stops with the message).

Alerts Elasticsearch rejects for good (a mapping conflict, say) move to a `dead` table with the
reason; they are reported and kept, never retried blindly.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import orjson

from detector.errors import TokenhawkError

SPOOL_FILE = "alerts.sqlite"


class SpoolFull(TokenhawkError):
    """The spool is at its bound; the alerts were not accepted (send them again later)."""


@dataclass
class SpooledAlert:
    id: str
    revision: int
    seq: int
    doc: dict[str, Any]
    attempts: int


class AlertSpool:
    def __init__(self, directory: str | Path, *, max_alerts: int = 100_000, max_bytes: int = 512 << 20):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / SPOOL_FILE
        self.max_alerts, self.max_bytes = max_alerts, max_bytes
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # alerts are few; each batch is on disk before it is sent
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS pending (
                id TEXT PRIMARY KEY, revision INTEGER NOT NULL, seq INTEGER NOT NULL,
                doc BLOB NOT NULL, queued_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT);
            CREATE INDEX IF NOT EXISTS pending_seq ON pending(seq);
            CREATE TABLE IF NOT EXISTS dead (
                id TEXT NOT NULL, revision INTEGER NOT NULL, doc BLOB NOT NULL, reason TEXT NOT NULL,
                at REAL NOT NULL, PRIMARY KEY (id, revision));
            CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
            INSERT OR IGNORE INTO counter VALUES ('seq', 0);
            """
        )

    # --- writing ---------------------------------------------------------------------------------

    def put(self, alerts: Iterable[tuple[str, int, dict[str, Any]]]) -> int:
        """Store (id, revision, doc) rows atomically; returns how many rows were added or replaced.

        Raises SpoolFull (storing nothing) when the new ids would not fit the bounds.
        """
        rows = [(aid, rev, orjson.dumps(doc)) for aid, rev, doc in alerts]
        if not rows:
            return 0
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            ids = [r[0] for r in rows]
            existing = self._existing(ids)
            new_ids = {i for i in ids if i not in existing}
            count, size = db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(doc)), 0) FROM pending").fetchone()
            added_bytes = sum(len(r[2]) for r in rows if r[0] in new_ids)
            if count + len(new_ids) > self.max_alerts or size + added_bytes > self.max_bytes:
                raise SpoolFull(
                    f"alert spool {self.path} is full ({count:,} alerts, {size / 1e6:.1f} MB; bounds "
                    f"{self.max_alerts:,} alerts / {self.max_bytes / 1e6:.0f} MB): {len(rows)} alerts not accepted; "
                    "they must be sent again once Elasticsearch drains the spool"
                )
            (seq,) = db.execute("SELECT value FROM counter WHERE name='seq'").fetchone()
            changed = 0
            now = time.time()
            for aid, rev, blob in rows:
                seq += 1
                cur = db.execute(
                    "INSERT INTO pending (id, revision, seq, doc, queued_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET revision=excluded.revision, seq=excluded.seq, doc=excluded.doc, "
                    "attempts=0, last_error=NULL WHERE excluded.revision >= pending.revision",
                    (aid, rev, seq, blob, now),
                )
                changed += cur.rowcount
            db.execute("UPDATE counter SET value=? WHERE name='seq'", (seq,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return changed

    def _existing(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(f"SELECT id FROM pending WHERE id IN ({marks})", chunk))
        return found

    # --- reading and acknowledging ---------------------------------------------------------------

    def batch(self, limit: int) -> list[SpooledAlert]:
        """The oldest pending alerts (by the time their latest revision was queued)."""
        rows = self.db.execute(
            "SELECT id, revision, seq, doc, attempts FROM pending ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [SpooledAlert(r[0], r[1], r[2], orjson.loads(r[3]), r[4]) for r in rows]

    def done(self, items: Iterable[SpooledAlert]) -> int:
        """Remove delivered rows, unless a newer revision was queued meanwhile (its seq changed)."""
        pairs = [(i.id, i.seq) for i in items]
        if not pairs:
            return 0
        self.db.execute("BEGIN IMMEDIATE")
        removed = 0
        for pair in pairs:
            removed += self.db.execute("DELETE FROM pending WHERE id=? AND seq=?", pair).rowcount
        self.db.execute("COMMIT")
        return removed

    def failed(self, items: Iterable[SpooledAlert], error: str) -> None:
        """Count a failed attempt (the rows stay pending)."""
        self.db.execute("BEGIN IMMEDIATE")
        for item in items:
            self.db.execute("UPDATE pending SET attempts=attempts+1, last_error=? WHERE id=? AND seq=?",
                            (error[:2000], item.id, item.seq))
        self.db.execute("COMMIT")

    def dead(self, item: SpooledAlert, reason: str) -> None:
        """Move a row Elasticsearch rejected for good to the dead table (kept and reported)."""
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("INSERT OR REPLACE INTO dead VALUES (?, ?, ?, ?, ?)",
                        (item.id, item.revision, orjson.dumps(item.doc), reason[:4000], time.time()))
        self.db.execute("DELETE FROM pending WHERE id=? AND seq=?", (item.id, item.seq))
        self.db.execute("COMMIT")

    # --- status ----------------------------------------------------------------------------------

    def pending_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]

    def dead_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM dead").fetchone()[0]

    def dead_items(self, limit: int = 20) -> list[tuple[str, int, str]]:
        return self.db.execute("SELECT id, revision, reason FROM dead ORDER BY at DESC LIMIT ?", (limit,)).fetchall()

    def last_error(self) -> str | None:
        row = self.db.execute(
            "SELECT last_error FROM pending WHERE last_error IS NOT NULL ORDER BY seq LIMIT 1").fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "AlertSpool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
