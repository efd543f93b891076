"""The engine killed between every pair of platform calls converges on a re-run.

On the in-memory platform (fake.py): a roll of an HTTP service (2 replicas behind the
proxy) and its worker, a canary of the HTTP service, and a failed roll's abort are
each run once uninterrupted to count their platform calls; then, for every k, a run
killed after k calls is followed by an ordinary deploy of the same desired state,
which must leave exactly the desired containers, healthy, in the proxy, with no
slot held and no orphan or duplicate.
"""

from __future__ import annotations

import pytest

from release.engine import steps
from release.engine.apply import apply
from release.engine.engine import Engine
from release.engine.events import Reporter
from release.engine.fake import FakePlatform, Killed
from release.engine.results import StepFailed
from release.engine.run import Run
from release.model.desired import Desired, Unit
from release.plan.plan import make_plan

OLD, NEW = "a" * 64, "b" * 64
IMAGE = "127.0.0.1:5000/ecotrack/waste:main-1234567@sha256:" + "0" * 64
UNITS = {
    "waste": Unit("waste", "waste", "http", 2, False, 1.0),
    "waste-worker": Unit("waste-worker", "waste", "worker", 1, False, 1.0),
}


class Quiet(Reporter):
    def _print(self, *args, **kwargs) -> None:
        pass


def desired(config: str) -> dict[str, Desired]:
    return {
        name: Desired(name, "waste", u.role, IMAGE, "1", u.replicas, {}, "", config)
        for name, u in UNITS.items()
    }


def platform(config: str = NEW, kill_after: int | None = None) -> FakePlatform:
    p = FakePlatform({"waste": config, "waste-worker": config}, ("waste",))
    p.add("waste", OLD)
    p.add("waste", OLD)
    p.add("waste-worker", OLD)
    p.kill_after = kill_after
    return p


def engine(p: FakePlatform) -> Engine:
    return Engine(p, Quiet(), health_timeout=5, drain_timeout=1, sleep=lambda s: None)


def deploy(p: FakePlatform, config: str = NEW) -> None:
    want = desired(config)
    plan = make_plan("local", "fake", tuple(UNITS.values()), want, p.state())
    outcomes = apply(engine(p), plan, UNITS, want)
    assert [o.result for o in outcomes] == ["ok"] * len(outcomes), outcomes


def canary(p: FakePlatform) -> None:
    containers = p.containers("waste")
    rollout = steps.canary_steps_for("waste", NEW, 1, containers)

    def promote(run: Run) -> None:
        pass

    e = engine(p)
    e.run(UNITS["waste"], NEW, rollout, gate=promote)
    e.roll(UNITS["waste"], NEW, 2)


def failed_roll(p: FakePlatform) -> None:
    def reject(run: Run) -> None:
        raise StepFailed("the judge said no")

    rollout = steps.canary_steps_for("waste", NEW, 1, p.containers("waste"))
    with pytest.raises(StepFailed):
        engine(p).run(UNITS["waste"], NEW, rollout, gate=reject)


def assert_converged(p: FakePlatform, config: str = NEW) -> None:
    state = p.state()
    for name, u in UNITS.items():
        mine = state.for_service(name)
        assert len(mine) == u.replicas, (name, mine)
        assert {c.config_hash for c in mine} == {config}
        assert {c.state for c in mine} == {"running"}
    ips = {c.ip for c in state.for_service("waste")}
    slots = p.slots("waste")
    assert [s.name for s in slots if s.forced] == []  # no slot left held
    assert {s.addr for s in slots if s.addr} == ips  # no removed replica known


SCENARIOS = {
    "roll": lambda p: deploy(p),
    "canary-then-promote": canary,
    "canary-rejected": failed_roll,
}


def count_calls(scenario) -> int:
    p = platform()
    scenario(p)
    return p.calls


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_kill_point_converges(name, capsys):
    scenario = SCENARIOS[name]
    total = count_calls(scenario)
    for k in range(total):
        p = platform(kill_after=k)
        with pytest.raises(Killed):
            scenario(p)
        p.kill_after = None
        deploy(p)  # the re-run
        assert_converged(p)
        deploy(p)  # and a third run has nothing left to do but look
    with capsys.disabled():
        print(f"\n{name}: {total} kill points, all converged")
    assert total > 20  # the scenario really went through the engine


def test_an_uninterrupted_roll_converges_and_a_rerun_changes_nothing():
    p = platform()
    deploy(p)
    assert_converged(p)
    log = list(p.log)
    deploy(p)
    assert not [c for c in p.log[len(log) :] if c.split()[0] in ("create", "remove")]


def test_a_failed_health_gate_removes_only_the_new_containers():
    p = platform()
    old = {c.id for c in p.state().containers}
    p.failing = frozenset({NEW})
    with pytest.raises(StepFailed, match="unhealthy"):
        engine(p).roll(UNITS["waste"], NEW, 2)
    assert {c.id for c in p.state().containers} == old
    assert [s.name for s in p.slots("waste") if s.forced] == []
