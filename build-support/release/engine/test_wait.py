"""Deploy pieces that need no Docker: command lines, the one wait, health, results."""

import pytest

from release.adapters.compose_host import create_args
from release.adapters.host_load import busy, cpu_pressure
from release.engine import results as rollout
from release.engine.wait import Probe, health_probe, wait_for
from release.model.live import LiveContainer


def test_compose_command_lines():
    assert create_args("waste-worker", 2) == [
        "create",
        "--quiet-pull",
        "--no-recreate",
        "--scale",
        "waste-worker=2",
        "waste-worker",
    ]


def test_a_busy_host_is_told_from_load_and_cpu_pressure():
    psi = "some avg10=63.20 avg60=40.00 avg300=9.00 total=1\nfull avg10=0.00"
    assert cpu_pressure(psi) == 63.2
    assert busy(9.1, 2, None) and busy(0.5, 2, 63.2)
    assert not busy(1.5, 2, 3.0)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_for_returns_the_time_it_took():
    clock = Clock()
    answers = iter([Probe(False), Probe(False), Probe(True)])
    took = wait_for(
        "x", lambda: next(answers), 10, interval=1, clock=clock, sleep=clock.sleep
    )
    assert took == 2


def test_wait_for_fails_fast_and_at_the_deadline():
    clock = Clock()
    with pytest.raises(rollout.StepFailed, match="boom") as info:
        wait_for(
            "x",
            lambda: Probe(False, failed="boom", container="c1"),
            10,
            clock=clock,
            sleep=clock.sleep,
        )
    assert info.value.container == "c1" and clock.now == 0
    with pytest.raises(rollout.StepFailed, match=r"not done after 3s \(1/2 healthy\)"):
        wait_for(
            "x",
            lambda: Probe(False, detail="1/2 healthy"),
            3,
            clock=clock,
            sleep=clock.sleep,
        )


def c(health="healthy", state="running", restarts=0, cid="a", timed_out=False):
    return LiveContainer(
        id=cid * 64,
        name=f"p-waste-{cid}",
        service="waste",
        number=1,
        state=state,
        health=health,
        image="",
        digest="",
        restart_count=restarts,
        checks_timed_out=timed_out,
    )


@pytest.mark.parametrize(
    "containers, done, failed",
    [
        pytest.param([c(), c(cid="b")], True, "", id="all-healthy"),
        pytest.param([c(), c("starting", cid="b")], False, "", id="one-starting"),
        pytest.param([c(health="none")], True, "", id="no-healthcheck"),
        pytest.param(
            [c(), c("unhealthy", cid="b")], False, "unhealthy", id="unhealthy"
        ),
        pytest.param([c(state="exited")], False, "exited", id="exited"),
        pytest.param([c("starting", restarts=1)], False, "restarts 1", id="crashloop"),
        pytest.param([None], False, "disappeared", id="gone"),
    ],
)
def test_health_probe(containers, done, failed):
    probe = health_probe(containers)
    assert probe.done == done
    assert (failed in probe.failed) if failed else probe.failed == ""


def test_result_exit_codes():
    from release.plan.plan import Plan, ServicePlan

    change = ServicePlan("waste", "waste", "http", "roll", None, None)
    plan = Plan("local", "p", (change,))
    dry = rollout.DeployResult("local", "p", "local", plan, True, "t")
    assert dry.exit_code == 3
    assert (
        rollout.DeployResult(
            "local", "p", "local", Plan("local", "p", ()), True, "t"
        ).exit_code
        == 0
    )
    done = rollout.DeployResult("local", "p", "local", plan, False, "t")
    done.outcomes = [rollout.Outcome("waste", "roll", "a", "b", 1.0, "ok")]
    assert done.ok and done.exit_code == 0
    done.outcomes.append(rollout.Outcome("auth", "roll", "a", "b", 1.0, "failed"))
    assert not done.ok and done.exit_code == 1
    assert done.to_dict()["services"][1]["result"] == "failed"
