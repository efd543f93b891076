import sqlite3
import time

import pytest

from common.db import check_writable, connect, migrate, transaction

SCHEMA = ["CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"]


def test_connect_creates_parent_directory(tmp_path):
    path = tmp_path / "a" / "b" / "x.db"
    connect(path).close()
    assert path.exists()


def test_migrate_is_idempotent_and_enables_wal(tmp_path):
    path = tmp_path / "x.db"
    migrate(path, SCHEMA)
    migrate(path, SCHEMA)
    conn = connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_transaction_commits_and_rolls_back(tmp_path):
    path = tmp_path / "x.db"
    migrate(path, SCHEMA)
    with transaction(path) as conn:
        conn.execute("INSERT INTO t (v) VALUES ('kept')")
    with pytest.raises(RuntimeError):
        with transaction(path, immediate=True) as conn:
            conn.execute("INSERT INTO t (v) VALUES ('lost')")
            raise RuntimeError("abort")
    with transaction(path) as conn:
        rows = [r["v"] for r in conn.execute("SELECT v FROM t")]
    assert rows == ["kept"]


def test_check_writable_ok(tmp_path):
    """It really wrote: one readiness row, stamped now, read back with plain sqlite3;
    a second check replaces that row."""
    path = tmp_path / "db" / "x.db"
    for _ in range(2):
        before = time.time()
        check_writable(path)
        conn = sqlite3.connect(path)
        try:
            rows = conn.execute("SELECT id, checked_at FROM _readiness").fetchall()
        finally:
            conn.close()
        assert len(rows) == 1 and rows[0][0] == 1, rows
        assert before - 1 <= rows[0][1] <= time.time() + 1, (rows, before)


def test_check_writable_fails_when_parent_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises((OSError, sqlite3.Error)):
        check_writable(blocker / "x.db")


def test_migrate_retries_the_lock_race_of_replicas_starting_together(
    tmp_path, monkeypatch
):
    # sqlite may answer two first-time WAL switches racing with "locked" at once.
    import common.db as db

    real, calls = db._migrate_once, []

    def racing(path, statements):
        calls.append(path)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")
        real(path, statements)

    monkeypatch.setattr(db, "_migrate_once", racing)
    path = tmp_path / "race.db"
    migrate(path, ["CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)"])
    assert len(calls) == 3
    with connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrate_gives_up_on_a_lock_held_past_the_deadline(tmp_path, monkeypatch):
    import common.db as db

    monkeypatch.setattr(db, "MIGRATE_DEADLINE_SECONDS", 0.3)
    monkeypatch.setattr(db, "BUSY_TIMEOUT_SECONDS", 0.05)
    path = tmp_path / "held.db"
    migrate(path, ["CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)"])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            migrate(path, ["CREATE TABLE IF NOT EXISTS u (id INTEGER PRIMARY KEY)"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
