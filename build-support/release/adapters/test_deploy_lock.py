import datetime as dt
from dataclasses import replace

from release.adapters import deploy_lock


def info(**kw):
    base = dict(
        project="ecotrack-prod",
        env="prod",
        holder="ci (GitHub Actions run 42)",
        machine="runner-1",
        pid=1234,
        since="2026-01-01T10:00:00+00:00",
        version="waste 1.3.0",
        token=7,
        nonce="n1",
        renewed=1000.0,
        lease=60.0,
    )
    return deploy_lock.LockInfo(**{**base, **kw})


def test_state_round_trips_and_names():
    held = info()
    assert deploy_lock.LockInfo.from_json(held.to_json(), seen=1010.0) == replace(
        held, seen=1010.0
    )
    assert deploy_lock.lock_name("ecotrack-prod") == "ecotrack-prod-deploy-lock"


def test_describe_says_who_since_when_what_and_the_token():
    now = dt.datetime(2026, 1, 1, 10, 5, tzinfo=dt.timezone.utc)
    text = replace(info(), seen=1010.0).describe(now)
    assert "ci (GitHub Actions run 42)" in text
    assert "since 2026-01-01T10:00:00+00:00 (5m ago)" in text
    assert "deploying waste 1.3.0" in text
    assert "(token 7; lease 60s, 50s left)" in text
    late = replace(info(), seen=1090.0).describe(now)
    assert "lease expired 30s ago" in late


def test_the_lease_is_the_truth_whatever_the_machine():
    held = info(machine="another-machine")
    assert not held.expired(1059.0)
    assert held.expired(1061.0)  # no process table asked: it expires like any other


def test_engine_time_reads_dockers_created_stamp():
    t = deploy_lock._engine_time("2026-12-03T17:58:01.123456789Z")
    assert (
        t
        == dt.datetime(
            2026, 12, 3, 17, 58, 1, 123456, tzinfo=dt.timezone.utc
        ).timestamp()
    )


def test_a_lock_held_on_purpose_never_expires_and_says_why():
    held = deploy_lock.on_purpose("ecotrack-prod", "prod", "incident 42")
    assert held.pid == 0 and held.message == "incident 42" and held.lease == 0
    assert held == replace(
        deploy_lock.mine("ecotrack-prod", "prod", "nothing"),
        pid=0,
        message="incident 42",
        lease=0.0,
        since=held.since,
    )
    assert not held.expired(10**12)
    again = deploy_lock.LockInfo.from_json(held.to_json())
    said = again.describe()
    assert said.startswith(f"held on purpose by {held.holder} since ")
    assert "incident 42" in said
    assert again.to_dict()["message"] == "incident 42"
