"""A busy host never makes a deploy worse; the proxy is replaced beside itself.

A heal: one recycling replica is stopped by hand; the other's health checks are
slowed on purpose (SLOWABLE_HEALTH: each check outlasts Docker's timeout, so Docker
calls it unhealthy, while it serves as before); three CPU burners run on the
machine. The plan keeps the slow replica (a scale, not a roll), the heal starts one
beside it, and while it runs the proxy never has fewer replicas UP than before,
under open-loop load, sampled at the proxy's own socket.

The proxy: a new proxy release replaces the old one under load (a brief
interruption, bounded here), and a new proxy that fails its health check gives the
entry point back to the old one, which serves again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from release.adapters import docker_host
from release.adapters.proxy import Proxy, socket_from_here
from testing.rollout import (
    SLOW_FILE,
    SLOWABLE_HEALTH,
    Load,
    Stack,
    docker,
    running,
)

PATH = "/recycling/guidelines"
BURN_SECONDS = 240  # the burners end by themselves, whatever happens to the test


class Burners:
    """`n` processes spinning on the CPU, each ending after BURN_SECONDS."""

    def __init__(self, n: int = 3):
        code = (
            f"import time\nend = time.time() + {BURN_SECONDS}\n"
            "while time.time() < end: pass"
        )
        self.procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]

    def __enter__(self) -> "Burners":
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


class UpCount:
    """Samples how many recycling replicas the proxy has UP, every 0.2 s."""

    def __init__(self, stack: Stack):
        (proxy,) = running(stack.containers("proxy"))
        container = stack.client.containers.get(proxy.id)
        self.proxy = Proxy(container, socket_path=socket_from_here(container))
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        return sum(s.up for s in self.proxy.servers("recycling"))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.now())
            self._stop.wait(0.2)

    def __enter__(self) -> "UpCount":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def wait_until(what: str, check, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.5)


RATE = 30


@pytest.fixture(scope="module")
def stack(state_home, tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("busy"))
    yield s
    s.down()


def slowable(releases, proxy: str = "1.0.0", **proxy_kw):
    return releases.manifest(
        proxy=releases.entry("proxy", proxy, **proxy_kw),
        recycling=releases.entry("recycling", "1.0.1", health=SLOWABLE_HEALTH),
    )


def test_a_heal_on_a_loaded_host_keeps_the_slow_replica_serving(stack, releases):
    m = slowable(releases)
    stack.deploy_ok(m)
    stopped, slow = running(stack.healthy_by_docker("recycling"))
    docker("stop", stopped.id)
    docker("exec", slow.id, "touch", SLOW_FILE)
    wait_until(
        "unhealthy by timeouts",
        lambda: any(
            c.id == slow.id and c.health == "unhealthy"
            for c in stack.containers("recycling")
        ),
    )
    asked = docker_host.with_answers(stack.client, stack.containers("recycling"))
    (seen,) = [c for c in asked if c.id == slow.id]
    assert seen.checks_timed_out and seen.answers, seen  # slow, not broken

    with Burners(3):
        dry = stack.deploy(m, "--dry-run", "--json")
        assert dry.returncode == 3, dry.stdout[-2000:] + dry.stderr[-2000:]
        planned = {s["service"]: s for s in json.loads(dry.stdout)["plan"]["services"]}
        assert planned["recycling"]["action"] == "scale", planned["recycling"]
        assert planned["recycling"]["health"] == "DEGRADED"
        assert "1 unhealthy but answering: kept (degraded)" in (
            planned["recycling"]["reasons"]
        )
        assert planned["proxy"]["action"] == "none"
        with UpCount(stack) as up, Load(stack.port, PATH, rate=RATE) as load:
            before = up.now()
            time.sleep(2)
            healed = stack.deploy(m)
            time.sleep(2)

    assert healed.returncode == 0, healed.stdout[-3000:] + healed.stderr[-3000:]
    assert before == 1 and up.samples, up.samples
    assert min(up.samples) >= before, up.samples  # never fewer serving than found
    assert up.samples[-1] == 2
    serving = running(stack.containers("recycling"))
    assert slow.id in {c.id for c in serving} and len(serving) == 2
    elapsed = load.stopped_at - load.started_at
    assert len(load.results) >= 0.8 * RATE * elapsed, (len(load.results), elapsed)
    assert load.failures == [], load.failures[:5]
    # The slow one is still slow: drift names it, the deploy leaves it be.
    drift = stack.inv(
        "drift", "--project", stack.project, "--manifest", str(stack.write(m))
    )
    assert drift.returncode != 0 and "unhealthy" in drift.stdout, drift.stdout


def proxies(stack: Stack) -> list:
    return stack.containers("proxy")


def test_a_new_proxy_release_replaces_the_old_one_under_load(stack, releases):
    stack.deploy_ok(slowable(releases))
    (old,) = running(proxies(stack))
    with Load(stack.port, PATH, rate=RATE) as load:
        time.sleep(1)
        r = stack.deploy_ok(slowable(releases, proxy="1.0.1"))
        time.sleep(2)
    (new,) = proxies(stack)  # the old one removed, nothing left stopped
    assert new.id != old.id and new.version == "1.0.1" and new.state == "running"
    assert "create_new" in r.stdout and "start_created" in r.stdout, r.stdout
    elapsed = load.stopped_at - load.started_at
    assert len(load.results) >= 0.8 * RATE * elapsed, (len(load.results), elapsed)
    # The brief interruption: the old one stops listening, the new one starts and
    # resolves its replicas. Bounded at 3 s of requests.
    print(f"proxy replaced: {len(load.failures)} of {len(load.results)} failed")
    assert len(load.failures) <= 3 * RATE, load.failures[:5]
    assert stack.get(PATH)[0] == 200


def test_a_failing_new_proxy_gives_the_entry_point_back(stack, releases):
    good = slowable(releases, proxy="1.0.1")
    stack.deploy_ok(good)
    (old,) = running(proxies(stack))
    bad = slowable(releases, proxy="1.0.2", healthy=False)
    with Load(stack.port, PATH, rate=RATE) as load:
        time.sleep(1)
        r = stack.deploy(bad, "--health-timeout", "30")
        time.sleep(3)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    assert "restarted the old" in r.stdout, r.stdout
    (now,) = proxies(stack)
    assert (now.id, now.state) == (old.id, "running")
    assert stack.get(PATH)[0] == 200
    print(f"failed proxy, old one back: {len(load.failures)} of {len(load.results)}")
    assert len(load.results) >= 0.8 * RATE * (load.stopped_at - load.started_at)
    assert stack.deploy(good, "--dry-run").returncode == 0  # in sync again
