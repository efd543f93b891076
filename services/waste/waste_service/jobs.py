"""The sqlite-backed job queue shared by the API (producer) and the worker."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

from common.db import transaction
from core.categories import Classification

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'done')),
        result TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        claimed_at REAL
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created_at)",
]

# A job still "processing" after this long belongs to a worker that died
# (e.g. SIGKILL); it is handed out again rather than stuck forever.
LEASE_SECONDS = 300.0


def classification_dict(result: Classification) -> dict[str, Any]:
    return {
        "category": result.category.value,
        "confidence": result.confidence,
        "matched_keywords": list(result.matched_keywords),
    }


def enqueue(db_path: str, description: str) -> str:
    job_id = uuid.uuid4().hex
    now = time.time()
    with transaction(db_path) as conn:
        conn.execute(
            "INSERT INTO jobs (id, description, status, created_at, updated_at)"
            " VALUES (?, ?, 'queued', ?, ?)",
            (job_id, description, now, now),
        )
    return job_id


def get(db_path: str, job_id: str) -> dict[str, Any] | None:
    with transaction(db_path) as conn:
        row = conn.execute(
            "SELECT id, description, status, result, created_at, updated_at"
            " FROM jobs WHERE id = ?",
            (job_id,),
        ).fetchone()
    if row is None:
        return None
    job = dict(row)
    job["result"] = json.loads(row["result"]) if row["result"] else None
    return job


def claim(db_path: str) -> sqlite3.Row | None:
    """Atomically move the oldest claimable job to "processing".

    BEGIN IMMEDIATE holds sqlite's write lock between the SELECT and the
    UPDATE, so two workers can never claim the same job.
    """
    now = time.time()
    with transaction(db_path, immediate=True) as conn:
        row = conn.execute(
            "SELECT id, description FROM jobs"
            " WHERE status = 'queued' OR (status = 'processing' AND claimed_at < ?)"
            " ORDER BY created_at LIMIT 1",
            (now - LEASE_SECONDS,),
        ).fetchone()
        if row is not None:
            conn.execute(
                "UPDATE jobs SET status = 'processing', claimed_at = ?, updated_at = ?"
                " WHERE id = ?",
                (now, now, row["id"]),
            )
    return row


def complete(db_path: str, job_id: str, result: Classification) -> None:
    with transaction(db_path) as conn:
        conn.execute(
            "UPDATE jobs SET status = 'done', result = ?, updated_at = ? WHERE id = ?",
            (json.dumps(classification_dict(result)), time.time(), job_id),
        )
