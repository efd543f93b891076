import datetime as dt
import os

from release.adapters import deploy_lock


def info(**kw):
    base = dict(
        project="ecotrack-prod",
        env="prod",
        holder="ci (GitHub Actions run 42)",
        machine="runner-1",
        pid=1234,
        pid_start="99",
        since="2026-01-01T10:00:00+00:00",
        version="waste 1.3.0",
    )
    return deploy_lock.LockInfo(**{**base, **kw})


def test_labels_round_trip_and_name():
    held = info()
    assert deploy_lock.LockInfo.from_labels(held.labels(), "cid") == info(
        container_id="cid"
    )
    assert deploy_lock.lock_name("ecotrack-prod") == "ecotrack-prod-deploy-lock"


def test_describe_says_who_since_when_and_what():
    now = dt.datetime(2026, 1, 1, 10, 5, tzinfo=dt.timezone.utc)
    text = info().describe(now)
    assert "ci (GitHub Actions run 42)" in text
    assert "since 2026-01-01T10:00:00+00:00 (5m ago)" in text
    assert "deploying waste 1.3.0" in text


def test_a_holder_is_stale_only_when_we_can_tell():
    me = deploy_lock.mine("p", "local", "x")
    assert me.pid == os.getpid() and me.pid_start == deploy_lock.process_start(
        os.getpid()
    )
    assert deploy_lock.holder_alive(me, me.machine)
    gone = info(machine=me.machine, pid=2**22 + 12345)
    assert not deploy_lock.holder_alive(gone, me.machine)
    reused = info(machine=me.machine, pid=os.getpid(), pid_start="1")
    assert not deploy_lock.holder_alive(reused, me.machine)  # same pid, other process
    assert deploy_lock.holder_alive(gone, "another-machine")  # cannot tell: alive


def test_a_lock_held_on_purpose_is_never_stale_and_says_why():
    held = deploy_lock.on_purpose("ecotrack-prod", "prod", "incident 42")
    assert held.pid == 0 and held.message == "incident 42"
    # no process holds it: gone from this machine's process table, still held
    assert deploy_lock.holder_alive(held, held.machine)
    again = deploy_lock.LockInfo.from_labels(held.labels())
    assert again.message == "incident 42"
    said = again.describe()
    assert said.startswith(f"held on purpose by {held.holder} since ")
    assert said.endswith(": incident 42")
    assert again.to_dict()["message"] == "incident 42"
