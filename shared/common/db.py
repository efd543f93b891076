"""Minimal sqlite helpers.

A fresh connection per unit of work keeps things correct under uvicorn's
threadpool (sqlite connections must not be shared across threads casually)
and is cheap for a local file.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_SECONDS = 5.0
MIGRATE_DEADLINE_SECONDS = 30.0


def connect(path: str | Path) -> sqlite3.Connection:
    """Open ``path`` (creating its parent directory) with rows as ``sqlite3.Row``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, explicitly.
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def transaction(
    path: str | Path, immediate: bool = False
) -> Iterator[sqlite3.Connection]:
    """Commit on success, roll back on error, always close.

    ``immediate=True`` takes the write lock up front, which makes
    read-then-write sequences (e.g. claiming a job) atomic across processes.
    """
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


def migrate(path: str | Path, statements: Iterable[str]) -> None:
    """Apply idempotent DDL (``CREATE ... IF NOT EXISTS``) at startup.

    Replicas starting together on a fresh volume race to switch the journal to WAL,
    and sqlite can answer that race with "database is locked" at once, without
    waiting on the busy timeout: retry with jitter until a deadline.
    """
    statements = list(statements)
    deadline = time.monotonic() + MIGRATE_DEADLINE_SECONDS
    while True:
        try:
            _migrate_once(path, statements)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05 + random.random() * 0.2)


def _migrate_once(path: str | Path, statements: list[str]) -> None:
    conn = connect(path)
    try:
        # WAL lets readers (API) and a writer (worker) work concurrently.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN")
        for statement in statements:
            conn.execute(statement)
        conn.execute("COMMIT")
    finally:
        conn.close()


def check_writable(path: str | Path) -> None:
    """Raise unless a real write to ``path`` succeeds right now.

    Taking a lock alone is not enough: a read-only mount or full disk only
    shows up when sqlite actually writes a page.
    """
    with transaction(path, immediate=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _readiness"
            " (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at REAL NOT NULL)"
        )
        conn.execute(
            "INSERT OR REPLACE INTO _readiness (id, checked_at)"
            " VALUES (1, strftime('%s', 'now'))"
        )
