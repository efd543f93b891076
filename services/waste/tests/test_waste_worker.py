import os
import signal
import threading
import time

import pytest

from common.db import migrate, transaction
from waste_service import cli, jobs, worker


@pytest.fixture
def db_path(tmp_path):
    path = str(tmp_path / "waste.db")
    migrate(path, jobs.SCHEMA)
    return path


def status(db_path, job_id):
    return jobs.get(db_path, job_id)["status"]


def test_run_once_processes_oldest_first(db_path):
    first = jobs.enqueue(db_path, "battery")
    second = jobs.enqueue(db_path, "newspaper")
    assert worker.run_once(db_path)
    assert (status(db_path, first), status(db_path, second)) == ("done", "queued")
    assert jobs.get(db_path, first)["result"]["category"] == "hazardous"


def test_claim_is_exclusive(db_path):
    jobs.enqueue(db_path, "paper")
    assert jobs.claim(db_path) is not None
    assert jobs.claim(db_path) is None  # already processing, lease still valid


def test_stale_processing_job_is_reclaimed(db_path):
    job_id = jobs.enqueue(db_path, "paper")
    jobs.claim(db_path)
    stale = time.time() - jobs.LEASE_SECONDS - 1
    with transaction(db_path) as conn:
        conn.execute("UPDATE jobs SET claimed_at = ? WHERE id = ?", (stale, job_id))
    assert worker.run_once(db_path)
    assert status(db_path, job_id) == "done"


def test_worker_loop_processes_then_stops_on_flag(db_path, tmp_path):
    heartbeat = str(tmp_path / "hb" / "heartbeat")
    stop = worker.StopFlag()
    exit_codes = []
    thread = threading.Thread(
        target=lambda: exit_codes.append(
            worker.run_worker(db_path, 0.05, heartbeat, stop)
        )
    )
    thread.start()
    job_id = jobs.enqueue(db_path, "aluminium foil")
    deadline = time.monotonic() + 5
    while status(db_path, job_id) != "done" and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert exit_codes == [0]
    assert status(db_path, job_id) == "done"
    assert worker.heartbeat_is_fresh(heartbeat)


@pytest.fixture
def restore_signal_handlers():
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_sigterm_mid_job_finishes_job_then_exits_0(
    db_path, tmp_path, monkeypatch, restore_signal_handlers
):
    first = jobs.enqueue(db_path, "glass jar")
    second = jobs.enqueue(db_path, "glass jar")
    stop = worker.StopFlag()
    worker.install_signal_handlers(stop)
    real_classify = worker.classify

    def classify_then_get_terminated(description):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the job is running
        return real_classify(description)

    monkeypatch.setattr(worker, "classify", classify_then_get_terminated)
    code = worker.run_worker(db_path, 0.05, str(tmp_path / "hb"), stop)
    assert code == 0
    assert stop.requested
    assert status(db_path, first) == "done"  # the in-flight job was completed
    assert status(db_path, second) == "queued"  # no new job started after SIGTERM


def test_stop_flag_wait_returns_early():
    stop = worker.StopFlag()
    threading.Timer(0.05, stop.set).start()
    started = time.monotonic()
    stop.wait(5)
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "age, fresh",
    [(0, True), (29, True), (31, False)],
    ids=["new", "almost-stale", "stale"],
)
def test_heartbeat_freshness(tmp_path, age, fresh):
    path = str(tmp_path / "hb")
    worker.write_heartbeat(path)
    assert worker.heartbeat_is_fresh(path, now=time.time() + age) is fresh


def test_cli_worker_health(tmp_path, monkeypatch):
    path = tmp_path / "hb"
    monkeypatch.setenv("WORKER_HEARTBEAT_PATH", str(path))
    assert cli.run(["worker-health"]) == 1  # no heartbeat yet
    worker.write_heartbeat(str(path))
    assert cli.run(["worker-health"]) == 0
    old = time.time() - 60
    os.utime(path, (old, old))
    assert cli.run(["worker-health"]) == 1


def test_cli_rejects_unknown_command(capsys):
    assert cli.run(["dance"]) == 2
    assert "usage" in capsys.readouterr().err


def test_cli_main_exits_with_run_status(monkeypatch):
    monkeypatch.setattr(cli.sys, "argv", ["waste", "dance"])
    with pytest.raises(SystemExit) as excinfo:
        cli.main()
    assert excinfo.value.code == 2
