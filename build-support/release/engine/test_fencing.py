"""The deploy lock's fencing check in the engine: once another deploy took the lock
over (its token moved), no further step runs and no call changes the host, and no
abort runs either (the new holder owns the host). On the in-memory platform and
the in-memory lock (fake.py, fake_access.py)."""

from __future__ import annotations

import pytest

from release.base.errors import LockLost
from release.engine.apply import apply
from release.engine.engine import Engine
from release.engine.events import Reporter
from release.engine.fake import FakePlatform
from release.engine.fake_access import FakeAccess
from release.model.desired import Desired, Unit
from release.plan.plan import make_plan

OLD, NEW = "a" * 64, "b" * 64
IMAGE = "127.0.0.1:5000/ecotrack/waste:main-1234567@sha256:" + "0" * 64
UNITS = {
    "waste": Unit("waste", "waste", "http", 2, False, 1.0),
    "waste-worker": Unit("waste-worker", "waste", "worker", 1, False, 1.0),
}
CHANGES = ("create", "start", "cpu", "stop", "remove", "set_state")


class Steps(Reporter):
    """Quiet; keeps (service, step) and can run a hook when a step is reported."""

    def __init__(self, on_step=None):
        super().__init__()
        self.seen: list[tuple[str, str]] = []
        self.on_step = on_step

    def _print(self, *args, **kwargs) -> None:
        pass

    def step(self, service: str, step: str, message: str) -> None:
        self.seen.append((service, step))
        if self.on_step:
            self.on_step(service, step)


def platform() -> FakePlatform:
    p = FakePlatform({"waste": NEW, "waste-worker": NEW}, ("waste",))
    p.add("waste", OLD)
    p.add("waste", OLD)
    p.add("waste-worker", OLD)
    return p


def plan_for(p: FakePlatform):
    want = {
        name: Desired(name, "waste", u.role, IMAGE, "1", u.replicas, {}, "", NEW)
        for name, u in UNITS.items()
    }
    return make_plan("local", "fake", tuple(UNITS.values()), want, p.state()), want


def locked():
    access = FakeAccess()
    held = access.acquire_lock("", "fake", "local", "waste 1.0.0", print)
    return access, held, lambda: access.check_lock("", held)


def changes(log: list[str]) -> list[str]:
    return [c for c in log if c.split()[0] in CHANGES]


def test_a_step_after_the_token_moved_does_not_run():
    access, held, fence = locked()
    p = platform()

    def take_over(service: str, step: str) -> None:
        if step == "start_new":  # reported once start_new is done
            access.engine("").take_over("fake", "other@ci")

    reporter = Steps(take_over)
    engine = Engine(p, reporter, 5, 1, sleep=lambda s: None, fence=fence)
    plan, want = plan_for(p)
    with pytest.raises(LockLost, match=r"taken over by other@ci \(token 2 > 1\)"):
        apply(engine, plan, UNITS, want)
    done = [step for _, step in reporter.seen]
    assert done[-1] == "start_new"  # wait_healthy, let_in, ... never ran
    assert "abort" not in done and "FAILED" not in done
    running = [c for c in p.state().for_service("waste") if c.state == "running"]
    # the old ones still serve; the new ones are left for the new holder to adopt
    assert [c.config_hash for c in running].count(OLD) == 2


def test_a_call_that_changes_the_host_after_the_token_moved_is_not_made():
    """Within a step: the token moves after Compose created the new replicas; the
    next change (their CPU weight, their start) is fenced."""
    access, held, fence = locked()
    p = platform()
    made: list[str] = []
    real_create = p.create

    def create(service: str, total: int) -> None:
        real_create(service, total)
        made.append("create")
        access.engine("").take_over("fake", "other@ci")

    p.create = create
    engine = Engine(p, Steps(), 5, 1, sleep=lambda s: None, fence=fence)
    plan, want = plan_for(p)
    with pytest.raises(LockLost):
        apply(engine, plan, UNITS, want)
    assert made == ["create"]
    after = p.log[p.log.index(next(c for c in p.log if c.startswith("create"))) + 1 :]
    assert changes(after) == []  # no cpu, start, stop, remove, proxy change


def test_lost_before_anything_changes_nothing():
    access, held, fence = locked()
    access.engine("").take_over("fake", "other@ci")
    p = platform()
    engine = Engine(p, Steps(), 5, 1, sleep=lambda s: None, fence=fence)
    plan, want = plan_for(p)
    with pytest.raises(LockLost):
        apply(engine, plan, UNITS, want)
    assert changes(p.log) == [] and not engine.acted


def test_with_the_token_current_the_deploy_runs_through():
    access, held, fence = locked()
    p = platform()
    engine = Engine(p, Steps(), 5, 1, sleep=lambda s: None, fence=fence)
    plan, want = plan_for(p)
    outcomes = apply(engine, plan, UNITS, want)
    assert [o.result for o in outcomes] == ["ok", "ok"] and engine.acted


def test_the_fenced_proxy_reads_what_the_proxy_reads_without_a_check():
    """The canary reads its counts through the engine's (fenced) proxy: every read
    passes through, only set_state is fenced."""
    from release.engine.platform import FencedProxy
    from release.model.proxy import Counts

    class Admin:
        def counts(self, backend):
            return {"web-1": Counts()} if backend == "web" else {}

        def set_state(self, backend, names, state):
            self.set = (backend, tuple(names), state)

    checks = []
    admin = Admin()
    fenced = FencedProxy(admin, lambda: checks.append(1))
    assert fenced.counts("web") == {"web-1": Counts()}
    assert checks == []
    fenced.set_state("web", ["web-1"], "drain")
    assert checks == [1] and admin.set == ("web", ("web-1",), "drain")
