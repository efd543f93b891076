"""A deploy killed with SIGKILL at any point converges when re-run, and the service
answers throughout; after a Docker engine restart everything is healthy and in sync.

Kill times: a random moment (seeded, the seed printed) inside each phase of a real
deploy, found from its progress lines: while Compose creates and starts the new
containers, while waiting for their health, during the proxy switch and drain, and
while the old ones are stopped. No hook in the deploy: the whole process group is
killed, Compose and all, and the lock is left behind: the re-run takes the stale lock
over, adopts what it finds and finishes.

The test holds each phase open through the releases it deploys, so the kill lands
inside it on any host: the new version's health check passes only once the test
opens its gate (GATED_HEALTH), and the old version ignores the stop signal
(SLOW_STOP), so retiring it takes the whole grace period. (Every point between two
platform calls is covered without Docker by
build-support/release/deploy/test_kill_points.py.)

The engine restart runs against a second dockerd of the test's own, in a network
namespace of its own (own socket, data root, config and bridges), so restarting it
cannot disturb the machine's main engine or anyone else's containers on it. (Started
beside the main engine in the same namespace, a second dockerd deletes the main
engine's docker0 bridge when it restarts: found the hard way.)
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from release.adapters import daemons, netns_engine, netns_forward
from release.adapters.proxy import Proxy
from testing.fleet import Forwarder
from testing.rollout import (
    GATE_FILE,
    GATED_HEALTH,
    SLOW_STOP,
    Load,
    Stack,
    docker,
    running,
)

ROOT = Path(__file__).resolve().parents[1]

PATH = "/recycling/guidelines"
SEED = int(os.environ.get("ECOTRACK_TEST_SEED") or time.time())


def recycling(releases, version="1.0.0"):
    return releases.manifest(recycling=releases.entry("recycling", version))


@pytest.fixture(scope="module")
def stack(state_home, tmp_path_factory, releases):
    s = Stack(tmp_path_factory.mktemp("reliability"))
    s.deploy_ok(recycling(releases))
    yield s
    s.down()


def assert_converged(stack: Stack, version: str, replicas: int = 2) -> None:
    stack.healthy_by_docker("recycling")
    everything = stack.containers("recycling")
    assert [c.state for c in everything] == ["running"] * replicas, everything
    assert all(c.health == "healthy" and c.version == version for c in everything)
    project = docker(
        "ps", "-aq", "--filter", f"label=com.docker.compose.project={stack.project}"
    ).split()
    assert len(project) == replicas + 1  # + the proxy: no orphans, nothing stopped
    proxy_id = running(stack.containers("proxy"))[0].id
    servers = Proxy(stack.client.containers.get(proxy_id)).servers("recycling")
    assert not [s for s in servers if s.forced], servers  # no slot left held
    assert sorted(s.addr for s in servers if s.up) == sorted(c.ip for c in everything)
    assert docker("ps", "-aq", "--filter", f"name={stack.project}-deploy-lock") == ""


# (the line that opens the phase, the line that opens the next one, the longest
# the kill waits, whether the test opens the new version's health gate before the
# kill). The kill comes at a seeded moment within the phase, or as the next phase
# opens if the phase ends sooner (Compose may create two containers in under a
# second); the gate and the slow stop keep the deploy running past either.
PHASES = {
    "creating": ("recycling: roll", "waiting for 2 (timeout", 1.5, False),
    "waiting-for-health": ("waiting for 2 (timeout", None, 3.0, False),
    "switch-and-drain": ("2/2 healthy in", "requests in flight on 2", 1.0, True),
    "stopping-old-ones": ("requests in flight on 2", None, 3.0, True),
}


def open_gates(stack: Stack, version: str) -> int:
    """Creates the gate file in every running replica of `version`."""
    opened = 0
    for c in running(stack.containers("recycling")):
        if c.version == version:
            docker("exec", c.id, "touch", GATE_FILE)
            opened += 1
    return opened


@pytest.mark.parametrize(
    "phase, version",
    [
        pytest.param("creating", "1.1.0", id="while-creating"),
        pytest.param("waiting-for-health", "1.2.0", id="while-waiting-for-health"),
        pytest.param("switch-and-drain", "1.3.0", id="during-switch-and-drain"),
        pytest.param("stopping-old-ones", "1.4.0", id="while-stopping-old-ones"),
    ],
)
def test_sigkilled_deploy_converges_on_rerun(stack, releases, phase, version):
    # The old version retires slowly; the new one is healthy once the test says so.
    stack.deploy_ok(
        releases.manifest(
            recycling=releases.entry(
                "recycling", f"{version}-old", dockerfile=SLOW_STOP
            )
        )
    )
    m = releases.manifest(
        recycling=releases.entry("recycling", version, health=GATED_HEALTH)
    )
    line, next_line, longest, open_first = PHASES[phase]
    delay = random.Random(f"{SEED}-{phase}").uniform(0, longest)
    print(f"seed {SEED}: killing {delay:.2f}s after {line!r}")
    with Load(stack.port, PATH, rate=40) as load:
        run = stack.start_deploy(m, "--lock-lease", "3")  # its lease outlives it 3 s
        if open_first:
            run.wait_for_line("waiting for 2 (timeout")
            assert open_gates(stack, version) == 2
        run.wait_for_line(line)
        kill_at = time.monotonic() + delay
        while time.monotonic() < kill_at:
            if next_line and next_line in run.output:
                print(f"the phase ended sooner: killing as {next_line!r} appeared")
                break
            time.sleep(0.02)
        run.kill()
        ended = f"the deploy ended before the kill:\n{run.output}"
        assert run.proc.returncode == -9, ended
        time.sleep(3.5)  # the stack as the crash left it, still serving
        open_gates(stack, version)  # what the killed run started may be adopted
        rerun = stack.start_deploy(m)
        while rerun.proc.poll() is None:  # it may start new ones of its own
            open_gates(stack, version)
            time.sleep(0.5)
        rerun.reader.join(timeout=5)
        assert rerun.proc.returncode == 0, rerun.output[-3000:]
        time.sleep(1)
    assert "taking over an expired deploy lock" in rerun.output
    assert len(load.results) > 100
    assert load.failures == []
    assert_converged(stack, version)
    assert stack.deploy(m, "--dry-run").returncode == 0


# -- Docker engine restart, on an engine of our own ------------------------------------


class Engine:
    """A second dockerd in a network namespace of its own, with its own socket, data
    root, exec root and config (release/adapters/netns_engine.py, as in the
    simulated fleet): restarting it cannot touch the machine's main engine, its
    bridges or anyone's containers. Forwarders carry the registry port into the
    namespace and published ports out of it (both 127.0.0.1 on each side)."""

    def __init__(self, registry_port: int):
        run = uuid.uuid4().hex[:6]
        self.registry_port = registry_port
        self.ns = f"ecotrack-eng-{run}"
        self.netns = f"/run/netns/{self.ns}"
        self.root = Path(tempfile.mkdtemp(prefix="ecotrack-eng-", dir="/tmp"))
        self.run_dir = Path(f"/run/ecotrack-eng-{run}")
        self.data = Path(f"/var/lib/ecotrack-rollout-engine-{run}")
        self.host = netns_engine.socket_of(self.run_dir)
        self.pid = 0
        self.forwarders: list[Forwarder] = []

    def start(self) -> None:
        self.pid = netns_engine.start_dockerd(
            self.ns, self.root, self.run_dir, self.data, {}
        )
        netns_engine.wait_engine("the test's", self.host, self.root / "dockerd.log")

    def stop(self) -> None:
        daemons.stop(self.pid, self.host, timeout=90)

    def restart(self) -> None:
        self.stop()
        self.start()

    def publish(self, port: int) -> None:
        """127.0.0.1:port on this machine reaches 127.0.0.1:port in the namespace."""
        self.forwarders.append(Forwarder(port, port, netns_forward.OWN, self.netns))

    def __enter__(self) -> "Engine":
        try:
            netns_engine.add_netns(self.ns)
            port = self.registry_port
            self.forwarders.append(Forwarder(port, port, self.netns, netns_forward.OWN))
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        netns_engine.stop_engine(self.pid, self.host)
        for f in self.forwarders:
            f.close()
        netns_engine.del_netns(self.ns)
        netns_engine.remove_dirs(self.data, self.run_dir, self.root)


@pytest.fixture(scope="module")
def engine(local_registry):
    if not all(shutil.which(t) for t in ("dockerd", "ip", "nsenter")):
        pytest.skip("no dockerd (or no ip) to run a second engine with")
    with Engine(int(local_registry.address.rsplit(":", 1)[1])) as e:
        yield e


def test_engine_restart_brings_every_service_back_healthy_and_in_sync(
    engine, releases, state_home, tmp_path
):
    stack = Stack(tmp_path, host=engine.host)
    engine.publish(stack.port)  # the proxy's port, out of the engine's namespace
    m = recycling(releases)
    try:
        stack.deploy_ok(m)
        assert stack.get(PATH)[0] == 200
        before = {c.id for c in stack.containers("recycling")}
        engine.restart()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            cs = stack.containers("recycling") + stack.containers("proxy")
            if (
                len(cs) == 3
                and all(c.state == "running" and c.health == "healthy" for c in cs)
                and stack.get(PATH)[0] == 200
            ):
                break
            time.sleep(1)
        else:
            raise AssertionError(f"not healthy after the restart: {cs}")
        # The same containers, restarted by their restart policy: nothing recreated.
        assert {c.id for c in stack.containers("recycling")} == before
        r = stack.deploy(m, "--dry-run")
        assert r.returncode == 0 and "in sync" in r.stdout, r.stdout + r.stderr
    finally:
        stack.down()
