"""The health gate of new replicas: Docker's health, or their own HEALTHCHECK run
from here (Docker 20.10's first check comes one interval after the start); failures
Docker reports still fail at once."""

from __future__ import annotations

import pytest

from release.engine.apply import apply
from release.engine.engine import Engine
from release.engine.fake import FakePlatform
from release.engine.test_parallel import IMAGE, OLD, Watch, new
from release.engine.test_wait import c
from release.engine.wait import health_probe
from release.plan.plan import Desired, Unit, make_plan

NEVER = 10**9  # inspections before the fake's Docker reports a new replica healthy


def test_a_starting_replica_that_passes_its_check_now_counts_as_healthy():
    asked = []

    def answers(container):
        asked.append(container.id)
        return container.id.startswith("b")

    probe = health_probe([c(), c("starting", cid="b")], answers)
    assert probe.done
    assert asked == ["b" * 64]  # a healthy one is not asked


@pytest.mark.parametrize(
    "containers, failed",
    [
        pytest.param([c("unhealthy")], "unhealthy", id="unhealthy"),
        pytest.param([c("starting", state="exited")], "exited", id="exited"),
        pytest.param([c("starting", restarts=2)], "restarts 2", id="crashloop"),
    ],
)
def test_docker_failures_still_fail_whatever_readiness_says(containers, failed):
    probe = health_probe(containers, lambda _: True)
    assert not probe.done and failed in probe.failed


def test_checks_that_time_out_are_waited_on_not_a_verdict():
    slow = c("unhealthy", cid="b", timed_out=True)
    probe = health_probe([c(), slow], lambda _: False)
    assert not probe.done and not probe.failed
    assert probe.slow == ("p-waste-b",) and "time out" in probe.detail
    assert health_probe([c(), slow], lambda _: True).done  # it answers when asked


def test_no_answer_leaves_the_verdict_to_docker():
    probe = health_probe([c("starting"), c("starting", cid="b")], lambda _: False)
    assert not probe.done and probe.detail == "0/2 healthy"


def roll(platform: FakePlatform, role: str = "http", timeout: float = 5):
    service = "recycling" if role == "http" else "waste-worker"
    unit = Unit(
        service, service.split("-")[0], role, 2 if role == "http" else 1, False, 1
    )
    for _ in range(unit.replicas):
        platform.add(service, OLD)
    want = {
        service: Desired(
            service, unit.entry, role, IMAGE, "1", unit.replicas, {}, "", new(service)
        )
    }
    plan = make_plan("local", "fake", (unit,), want, platform.state())
    engine = Engine(platform, Watch(), health_timeout=timeout, sleep=lambda s: None)
    return apply(engine, plan, {service: unit}, want, 1)


def test_an_http_roll_passes_its_gate_before_dockers_first_check():
    p = FakePlatform({"recycling": new("recycling")}, ("recycling",))
    p.turns_healthy_after = NEVER
    (outcome,) = roll(p)
    assert outcome.result == "ok", outcome.detail
    assert p.checks_run >= 2
    assert {x.config_hash for x in p.state().for_service("recycling")} == {
        new("recycling")
    }


def test_a_version_whose_check_fails_is_refused_and_rolled_back():
    failing = frozenset({new("recycling")})
    p = FakePlatform({"recycling": new("recycling")}, ("recycling",), failing=failing)
    p.turns_healthy_after = NEVER  # Docker would say nothing before the timeout
    (outcome,) = roll(p, timeout=0.05)
    assert outcome.result == "failed" and "not done after" in outcome.detail
    assert {x.config_hash for x in p.state().for_service("recycling")} == {OLD}


def test_a_worker_passes_its_gate_by_its_own_check_before_dockers_first():
    p = FakePlatform({"waste-worker": new("waste-worker")})
    p.turns_healthy_after = NEVER
    (outcome,) = roll(p, role="worker")
    assert outcome.result == "ok", outcome.detail
    assert p.checks_run == 1


def test_a_worker_whose_check_fails_is_refused_and_its_check_runs_once_a_second():
    failing = frozenset({new("waste-worker")})
    p = FakePlatform({"waste-worker": new("waste-worker")}, failing=failing)
    p.turns_healthy_after = NEVER
    (outcome,) = roll(p, role="worker", timeout=0.3)  # polls without sleeping
    assert outcome.result == "failed" and "not done after" in outcome.detail
    assert p.checks_run == 1  # not once per poll: each run is an exec
    assert {x.config_hash for x in p.state().for_service("waste-worker")} == {OLD}


def test_the_health_check_command_as_docker_runs_it():
    from release.adapters.docker_host import health_check_command

    def config(test):
        return {"Healthcheck": {"Test": test}}

    assert health_check_command(config(["CMD", "/app/pex", "worker-health"])) == [
        "/app/pex",
        "worker-health",
    ]
    assert health_check_command(config(["CMD-SHELL", "curl -f x || exit 1"])) == [
        "/bin/sh",
        "-c",
        "curl -f x || exit 1",
    ]
    assert health_check_command(config(["NONE"])) is None
    assert health_check_command({}) is None
