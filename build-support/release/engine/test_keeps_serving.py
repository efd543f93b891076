"""A deploy never leaves fewer replicas serving than it found (unless the manifest
asks for fewer), whatever the health checks of a busy host say; and the proxy is
replaced beside its old self, which serves again if the new one fails.

On the in-memory platform (fake.py); the same on real Docker under load is
tests/test_heal_under_load.py.
"""

from __future__ import annotations

import pytest

from release.engine.apply import apply
from release.engine.engine import Engine
from release.engine.events import Reporter
from release.engine.fake import FakePlatform, Killed
from release.engine.results import StepFailed
from release.model.desired import Desired, Unit
from release.plan.plan import make_plan

OLD, NEW = "a" * 64, "b" * 64
IMAGE = "127.0.0.1:5000/ecotrack/x:t@sha256:" + "0" * 64
WASTE = Unit("waste", "waste", "http", 2, False, 1.0)
PROXY = Unit("proxy", "proxy", "proxy", 1, False, 1.0)


class Said(Reporter):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def _print(self, *args, **kwargs) -> None:
        self.lines.append(" ".join(str(a) for a in args))


def engine(p: FakePlatform, reporter: Reporter | None = None) -> Engine:
    return Engine(
        p, reporter or Said(), health_timeout=5, drain_timeout=1, sleep=lambda s: None
    )


def want(unit: Unit, config: str) -> dict[str, Desired]:
    return {
        unit.service: Desired(
            unit.service,
            unit.entry,
            unit.role,
            IMAGE,
            "1",
            unit.replicas,
            {},
            "",
            config,
        )
    }


def serving(p: FakePlatform, backend: str = "waste") -> set[str]:
    """Addresses the proxy sends traffic to (not parked)."""
    return {s.addr for s in p.servers(backend) if s.addr and not s.parked}


def heal_case(new_ones_fail: bool) -> tuple[FakePlatform, str]:
    """One replica stopped by hand, the other slow: Docker calls it unhealthy (its
    checks time out) but it answers and serves."""
    p = FakePlatform({"waste": NEW}, ("waste",))
    slow = p.add("waste", NEW)
    p.add("waste", NEW, running=False)
    p.make_slow(slow)
    if new_ones_fail:
        p.failing = frozenset({NEW})
    return p, slow


def test_a_slow_replica_is_kept_and_not_waited_on_by_a_heal():
    p, slow = heal_case(new_ones_fail=False)
    plan = make_plan("local", "fake", (WASTE,), want(WASTE, NEW), p.state())
    assert [(s.action, s.health) for s in plan.services] == [("scale", "DEGRADED")]
    apply(engine(p), plan, {"waste": WASTE}, want(WASTE, NEW))
    running = [c for c in p.state().containers if c.state == "running"]
    assert slow in {c.id for c in running} and len(running) == 2
    assert len(serving(p)) == 2


def test_a_failed_heal_never_removes_the_replica_that_was_serving():
    """The abort of issue #17: the new replica failed its gate, and the abort took
    the one replica that served with it, because it was not healthy when planned."""
    p, slow = heal_case(new_ones_fail=True)
    address = p.inspect(slow).ip
    with pytest.raises(StepFailed):
        engine(p).roll(WASTE, NEW, 2)
    running = [c.id for c in p.state().containers if c.state == "running"]
    assert running == [slow]
    assert serving(p) == {address}  # still in the proxy, not parked


def test_a_killed_attempts_parked_replica_never_served_and_goes_on_abort():
    p = FakePlatform({"waste": NEW}, ("waste",))
    old = [p.add("waste", OLD), p.add("waste", OLD)]
    p.kill_after = 12  # after the new ones started, parked, before the switch
    with pytest.raises(Killed):
        engine(p).roll(WASTE, NEW, 2)
    p.kill_after = None
    left = [c for c in p.state().containers if c.config_hash == NEW]
    assert left and all(c.ip not in serving(p) for c in left)
    p.failing = frozenset({NEW})
    with pytest.raises(StepFailed):
        engine(p).roll(WASTE, NEW, 2)
    assert sorted(c.id for c in p.state().containers) == sorted(old)


def test_a_gate_on_timeouts_waits_for_the_deadline_and_says_the_host_is_loaded():
    p = FakePlatform({"waste": NEW}, ("waste",), turns_healthy_after=10**9)
    p.add("waste", OLD)
    p.add("waste", OLD)
    p.load_said = "load average 31.0 on 2 CPUs, CPU pressure 88 %"
    said = Said()
    e = engine(p, said)
    original = p.checks_healthy_now
    looks = {"n": 0}

    def slow_then_fine(container, http):
        # Docker: unhealthy by timeouts; our own check passes on the 3rd ask.
        for cid, c in list(p._containers.items()):
            if c.config_hash == NEW and c.health != "unhealthy":
                p.make_slow(cid)
        looks["n"] += 1
        return looks["n"] > 4 and original(container, http)

    p.checks_healthy_now = slow_then_fine
    e.roll(WASTE, NEW, 2)
    assert {c.config_hash for c in p.state().containers} == {NEW}
    assert any("time out (host loaded: load average 31.0" in x for x in said.lines)


# -- the proxy ------------------------------------------------------------------------


def proxy_platform(config: str = NEW) -> tuple[FakePlatform, str]:
    p = FakePlatform({"proxy": config}, (), one_port=frozenset({"proxy"}))
    return p, p.add("proxy", OLD)


def test_the_proxy_is_replaced_beside_its_old_self():
    p, old = proxy_platform()
    said = Said()
    engine(p, said).roll(PROXY, NEW, 1)
    (now,) = p.state().containers
    assert now.config_hash == NEW and now.state == "running" and now.id != old
    steps = [c.split()[0] for c in p.log if c.split()[0] in ("create", "stop", "start")]
    assert steps == ["create", "stop", "start"]  # created before the old one stops


def test_a_failing_new_proxy_gives_the_entry_point_back_to_the_old_one():
    p, old = proxy_platform()
    p.failing = frozenset({NEW})
    with pytest.raises(StepFailed, match="unhealthy"):
        engine(p).roll(PROXY, NEW, 1)
    (now,) = p.state().containers
    assert (now.id, now.state) == (old, "running")


def test_a_slow_proxy_running_the_desired_config_is_left_alone():
    p, current = proxy_platform()
    p.config = {"proxy": OLD}
    p.make_slow(current)
    plan = make_plan("local", "fake", (PROXY,), want(PROXY, OLD), p.state())
    assert [(s.action, s.health) for s in plan.services] == [("none", "DEGRADED")]


def test_every_kill_point_of_a_proxy_replacement_converges():
    total = None
    k = 0
    while total is None or k < total:
        p, _ = proxy_platform()
        p.kill_after = k
        try:
            engine(p).roll(PROXY, NEW, 1)
            total = p.calls  # ran to the end: every point before it was tried
        except Killed:
            p.kill_after = None
            engine(p).roll(PROXY, NEW, 1)
        (now,) = p.state().containers
        assert (now.config_hash, now.state) == (NEW, "running")
        k += 1
    assert total > 5
