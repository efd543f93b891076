"""Parallel environment deploys on the in-memory platform: at most N services roll at
once, each worker after its API, proxy admin calls one at a time, and a failure rolls
back that service only and stops new lanes, every service reported."""

from __future__ import annotations

import threading

from release.engine.apply import apply, default_parallel
from release.engine.engine import Engine
from release.engine.events import Reporter
from release.engine.fake import FakePlatform
from release.plan.plan import Desired, Unit, make_plan

IMAGE = "127.0.0.1:5000/ecotrack/x:main-1234567@sha256:" + "0" * 64
HTTP = ("auth", "users", "waste", "recycling", "locations")
UNITS = {
    **{s: Unit(s, s, "http", 2, False, 1.0) for s in HTTP},
    "waste-worker": Unit("waste-worker", "waste", "worker", 1, False, 1.0),
}
OLD = "0" * 64


def new(service: str) -> str:
    return f"{abs(hash(service)) % 10**12:064d}"


class Watch(Reporter):
    """Who is rolling when: a service starts at apply's `info` line and ends at its
    `done`/`FAILED` step."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.active: set[str] = set()
        self.most = 0
        self.events: list[tuple[str, str]] = []

    def _print(self, *args, **kwargs) -> None:
        pass

    def info(self, message: str) -> None:
        service = message.split(":")[0]
        with self.lock:
            self.active.add(service)
            self.most = max(self.most, len(self.active))
            self.events.append(("start", service))

    def step(self, service: str, step: str, message: str) -> None:
        if step in ("done", "FAILED"):
            with self.lock:
                self.active.discard(service)
                self.events.append((step, service))


def setup(latency: float = 0.002, failing: tuple[str, ...] = ()):
    p = FakePlatform(
        {s: new(s) for s in UNITS},
        HTTP,
        latency=latency,
        failing=frozenset(new(s) for s in failing),
    )
    for name, u in UNITS.items():
        for _ in range(u.replicas):
            p.add(name, OLD)
    want = {
        name: Desired(name, u.entry, u.role, IMAGE, "1", u.replicas, {}, "", new(name))
        for name, u in UNITS.items()
    }
    plan = make_plan("local", "fake", tuple(UNITS.values()), want, p.state())
    return p, plan, want


def deploy(parallel: int, **kwargs):
    p, plan, want = setup(**kwargs)
    watch = Watch()
    engine = Engine(p, watch, health_timeout=5, drain_timeout=1, sleep=lambda s: None)
    outcomes = apply(engine, plan, UNITS, want, parallel)
    return p, watch, outcomes


def test_default_is_a_safe_number():
    assert 1 <= default_parallel() <= 4
    assert default_parallel(cpus=2, load=0.0) == 1  # two lanes starve 2 CPUs
    assert default_parallel(cpus=4, load=0.1) == 2
    assert default_parallel(cpus=8, load=0.5) == 4
    assert default_parallel(cpus=8, load=3.2) == 2  # half the CPUs busy elsewhere
    assert default_parallel(cpus=16, load=0.0) == 4
    assert default_parallel(cpus=8, load=20.0) == 1  # a saturated host: one lane
    assert default_parallel(cpus=16, local=False) == 1  # a remote host's CPUs


def test_concurrency_never_exceeds_n_and_all_roll():
    for n in (1, 2, 3):
        p, watch, outcomes = deploy(n)
        assert watch.most == n, (n, watch.most)  # reached, never exceeded
        assert sorted(o.service for o in outcomes) == sorted(UNITS)
        assert {o.result for o in outcomes} == {"ok"}
        for name in UNITS:
            assert {c.config_hash for c in p.state().for_service(name)} == {new(name)}
        assert [s.name for b in HTTP for s in p.slots(b) if s.forced] == []


def test_each_worker_follows_its_api():
    for n in (2, 4):
        _, watch, _ = deploy(n)
        events = watch.events
        assert events.index(("done", "waste")) < events.index(("start", "waste-worker"))


def test_the_longest_lane_starts_first():
    _, watch, _ = deploy(2)
    started = [service for event, service in watch.events if event == "start"]
    assert started[0] == "waste"  # its lane also rolls the worker
    assert started.index("waste-worker") > started.index("waste")


def test_proxy_admin_calls_are_serialized():
    p, watch, _ = deploy(4, latency=0.003)
    assert watch.most > 1  # services did roll side by side
    assert p.proxy_calls_at_once == 1


def test_a_failure_rolls_back_that_service_only_and_stops_new_lanes():
    # The plan's first service fails its health gate at once while the lane started
    # with it (waste's, the longest, goes first) rolls on; no further lane starts.
    first, second = [s.service for s in setup()[1].changes][0], "waste"
    p, watch, outcomes = deploy(2, failing=(first,), latency=0.003)
    results = {o.service: o.result for o in outcomes}
    assert results[first] == "failed"
    assert results[second] == "ok"
    skipped = [s for s, r in results.items() if r == "skipped"]
    assert len(skipped) >= 3, results
    assert len(outcomes) == len(UNITS)  # every service reported
    for service in skipped:
        assert ("start", service) not in watch.events
        assert {c.config_hash for c in p.state().for_service(service)} == {OLD}
    back = p.state().for_service(first)
    assert {c.config_hash for c in back} == {OLD} and len(back) == 2  # rolled back
    assert [s.name for s in p.slots(first) if s.forced] == []


def test_ctrl_c_aborts_the_lanes_before_apply_returns():
    # Signals reach only the main thread, which waits for the lanes: the lanes must
    # abort too (their services rolled back), and be done before apply raises, or
    # they would keep rolling after the deploy lock is released.
    import signal

    import pytest

    p, plan, want = setup(latency=0.005)
    main = threading.main_thread().ident

    class InterruptMidway(Watch):
        sent = False

        def step(self, service, step, message):
            super().step(service, step, message)
            with self.lock:
                rolling = len(self.active - {"proxy"})
                if step == "wait_healthy" and rolling >= 2 and not self.sent:
                    self.sent = True
                    signal.pthread_kill(main, signal.SIGINT)

    watch = InterruptMidway()
    engine = Engine(p, watch, health_timeout=5, drain_timeout=1, sleep=lambda s: None)
    with pytest.raises(KeyboardInterrupt):
        apply(engine, plan, UNITS, want, 2)
    assert watch.sent
    assert [t.name for t in threading.enumerate() if "deploy-lane" in t.name] == []
    rolled_back = []
    for name, u in UNITS.items():
        hashes = [c.config_hash for c in p.state().for_service(name)]
        assert len(hashes) == u.replicas and len(set(hashes)) == 1, (name, hashes)
        if hashes[0] == OLD:
            rolled_back.append(name)
    assert len(rolled_back) >= 2  # the two in flight, and those never started
    assert [s.name for b in HTTP for s in p.slots(b) if s.forced] == []
    started_after = watch.events[watch.events.index(("start", rolled_back[0])) :]
    assert len([e for e in started_after if e[0] == "start"]) <= 2
