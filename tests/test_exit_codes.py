"""The one exit-code table (base/exit_codes.py, docs/reference/exit-codes.md), one
case per code, each through `./inv` as a user or a workflow runs it: 0 ok, 1
failure, 2 usage error, 3 differs, 4 locked, 5 not running, 130 interrupted."""

from __future__ import annotations

import signal
import time

import pytest

from release.base import exit_codes
from testing.rollout import GATED_HEALTH, Stack, running


@pytest.fixture(scope="module")
def stack(state_home, tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("exit-codes"))
    yield s
    s.down()


def one_error(r) -> str:
    lines = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stdout + r.stderr
    return lines[0]


def test_the_table_has_one_code_per_outcome():
    assert sorted(exit_codes.TABLE) == [0, 1, 2, 3, 4, 5, 130]
    assert len({name for name, _, _ in exit_codes.TABLE.values()}) == 7


def test_0_ok_and_4_locked(stack):
    lock = ("lock", "--env", "local", "--project", stack.project)
    assert stack.inv(*lock, "status").returncode == exit_codes.OK
    held = stack.inv(*lock, "hold", "-m", "exit-code table")
    assert held.returncode == exit_codes.OK, held.stdout + held.stderr
    again = stack.inv(*lock, "hold", "-m", "a second hold")
    assert again.returncode == exit_codes.LOCKED
    assert "held on purpose" in one_error(again) and "exit-code table" in again.stderr
    assert "./inv lock release --env local" in again.stderr
    released = stack.inv(*lock, "release")
    assert released.returncode == exit_codes.OK
    assert "free" in stack.inv(*lock, "status").stdout


def test_1_failure_a_failed_health_gate(stack, releases):
    bad = releases.manifest(
        waste=releases.entry("waste", "1.0.0", healthy=False, replicas=1)
    )
    r = stack.deploy(bad, "--service", "waste", "--health-timeout", "20")
    assert r.returncode == exit_codes.FAILURE, r.stdout[-2000:] + r.stderr[-2000:]
    assert "unhealthy" in one_error(r)
    assert running(stack.containers("waste")) == []  # the new ones removed


@pytest.mark.parametrize(
    "args, said",
    [
        (["deploy", "--env", "moon", "--dry-run"], "unknown environment 'moon'"),
        (["deploy", "--bogus"], "--bogus"),
        (
            ["deploy", "--service", "waste", "--canary", "1", "--dry-run"],
            "--dry-run with --canary",
        ),
        (
            ["deploy", "--service", "waste", "--canary", "1", "--parallel", "2"],
            "--parallel with --canary",
        ),
        (["promote", "--from", "staging"], "--env"),
        (["lock", "hold", "--env", "local"], "-m MESSAGE"),
    ],
    ids=[
        "unknown-env",
        "unknown-flag",
        "dry-run-canary",
        "parallel-canary",
        "promote-without-env",
        "hold-without-message",
    ],
)
def test_2_usage_error(stack, args, said):
    r = stack.inv(*args)
    assert r.returncode == exit_codes.USAGE, r.stdout[-2000:] + r.stderr[-2000:]
    assert said in one_error(r)


def test_3_differs_a_dry_run_with_changes_and_drift(stack, releases):
    m = releases.manifest(waste=releases.entry("waste", "1.0.0", replicas=1))
    dry = stack.deploy(m, "--service", "waste", "--dry-run")
    assert dry.returncode == exit_codes.DIFFERS, dry.stdout[-2000:] + dry.stderr
    assert stack.containers("waste") == []  # a plan changes nothing
    drift = stack.inv(
        "drift", "--project", stack.project, "--manifest", str(stack.write(m))
    )
    assert drift.returncode == exit_codes.DIFFERS, drift.stdout[-2000:]


def test_5_not_running(tmp_path):
    from testing.commands import inv

    r = inv("cache", "status", "--data-dir", str(tmp_path / "cache"))
    assert r.returncode == exit_codes.NOT_RUNNING, r.stdout + r.stderr
    assert "stopped" in r.stdout


def test_130_interrupted_a_deploy_rolls_back(stack, releases):
    # healthy only once a gate file exists, which nobody creates: it waits
    slow = releases.manifest(
        waste=releases.entry("waste", "1.1.0", health=GATED_HEALTH, replicas=1)
    )
    run = stack.start_deploy(slow, "--service", "waste", "--health-timeout", "300")
    run.wait_for_line("waiting for 1 (timeout")
    time.sleep(1)
    run.proc.send_signal(signal.SIGTERM)  # a cancelled CI job, `docker stop`
    run.proc.wait(timeout=120)
    run.reader.join(timeout=5)
    assert run.proc.returncode == exit_codes.INTERRUPTED, run.output[-3000:]
    assert "error: deploy stopped: interrupted" in run.output
    assert running(stack.containers("waste")) == []  # what it started is gone
    assert "free" in stack.inv("lock", "status", "--project", stack.project).stdout
