import sqlite3

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
    check_writable(tmp_path / "db" / "x.db")


def test_check_writable_fails_when_parent_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises((OSError, sqlite3.Error)):
        check_writable(blocker / "x.db")
