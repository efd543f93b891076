"""Background worker: classifies queued jobs, one at a time.

Shutdown contract: SIGTERM only sets a flag, so a job in progress is always
finished and committed before the process exits 0. Deploys rely on this.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from common.db import migrate
from core.categories import classify
from waste_service import jobs

logger = logging.getLogger("waste.worker")

HEARTBEAT_MAX_AGE_SECONDS = 30.0


class StopFlag:
    """Shutdown request, safe to set from a signal handler or another thread.

    Deliberately not ``threading.Event``: ``Event.set()`` takes a lock that the
    interrupted main thread may already hold inside ``Event.wait()``, which
    would deadlock the handler.
    """

    SLICE_SECONDS = 0.05

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True

    def wait(self, timeout: float) -> None:
        """Sleep up to ``timeout`` seconds, returning early once requested."""
        deadline = time.monotonic() + timeout
        while not self.requested:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(self.SLICE_SECONDS, remaining))


def run_once(db_path: str) -> bool:
    """Process at most one job; False when the queue was empty."""
    job = jobs.claim(db_path)
    if job is None:
        return False
    started = time.perf_counter()
    result = classify(job["description"])
    jobs.complete(db_path, job["id"], result)
    logger.info(
        "job done",
        extra={
            "job_id": job["id"],
            "category": result.category.value,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return True


def write_heartbeat(path: str) -> None:
    # Write-then-rename so the health check never reads a half-written file.
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(f"{time.time():.3f}\n")
    os.replace(tmp, target)


def heartbeat_is_fresh(
    path: str, max_age: float = HEARTBEAT_MAX_AGE_SECONDS, now: float | None = None
) -> bool:
    try:
        age = (time.time() if now is None else now) - Path(path).stat().st_mtime
    except OSError:
        return False
    return age < max_age


def install_signal_handlers(stop: StopFlag) -> None:
    def request_stop(signum: int, _frame: object) -> None:
        logger.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)


def run_worker(
    db_path: str, poll_seconds: float, heartbeat_path: str, stop: StopFlag
) -> int:
    migrate(db_path, jobs.SCHEMA)
    logger.info("worker started", extra={"poll_seconds": poll_seconds})
    while not stop.requested:
        write_heartbeat(heartbeat_path)
        try:
            processed = run_once(db_path)
        except Exception:
            # Keep the loop alive (e.g. "database is locked"); a job that was
            # claimed but not completed is retried after its lease expires.
            logger.exception("job processing failed")
            processed = False
        if not processed:
            stop.wait(poll_seconds)  # returns early on stop: no shutdown delay
    logger.info("worker stopped")
    return 0
