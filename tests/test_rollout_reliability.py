"""A deploy killed with SIGKILL at any point converges when re-run, and the service
answers throughout; after a Docker engine restart everything is healthy and in sync.

Kill times: a random moment (seeded, the seed printed) inside each phase of a real
deploy, found from its progress lines: while Compose creates and starts the new
containers, while waiting for their health, during the proxy switch and drain, and
while the old ones are stopped. No hook in the deploy: the whole process group is
killed, Compose and all, and the lock is left behind: the re-run takes the stale lock
over, adopts what it finds and finishes. (Every point between two platform calls is
covered without Docker by build-support/release/deploy/test_kill_points.py.)

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
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from release.adapters.proxy import Proxy  # noqa: E402
from tests.rollout_support import (  # noqa: E402
    Load,
    Releases,
    Stack,
    docker,
    running,
)

PATH = "/recycling/guidelines"
SEED = int(os.environ.get("ECOTRACK_TEST_SEED") or time.time())


@pytest.fixture(scope="module")
def releases(local_registry, service_images):
    r = Releases(local_registry, service_images)
    yield r
    r.cleanup()


def recycling(releases, version="1.0.0"):
    return releases.manifest(recycling=releases.entry("recycling", version))


@pytest.fixture(scope="module")
def stack(state_home, tmp_path_factory, releases):
    s = Stack(tmp_path_factory.mktemp("reliability"))
    s.deploy_ok(recycling(releases))
    yield s
    s.down()


def assert_converged(stack: Stack, version: str, replicas: int = 2) -> None:
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


# (the line that opens the phase, the longest the phase may take here)
PHASES = {
    "creating": ("recycling: roll", 1.5),
    "waiting-for-health": ("waiting for 2 (timeout", 5.0),
    "switch-and-drain": ("2/2 healthy in", 1.0),
    "stopping-old-ones": ("draining 2", 1.5),
}


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
    m = recycling(releases, version)
    line, longest = PHASES[phase]
    delay = random.Random(f"{SEED}-{phase}").uniform(0, longest)
    print(f"seed {SEED}: killing {delay:.2f}s after {line!r}")
    with Load(stack.port, PATH, rate=40) as load:
        run = stack.start_deploy(m)
        run.wait_for_line(line)
        time.sleep(delay)
        run.kill()
        assert run.proc.returncode == -9
        time.sleep(2)  # the stack as the crash left it, still serving
        rerun = stack.deploy_ok(m)
        time.sleep(1)
    assert "taking over a stale deploy lock" in rerun.stdout
    assert len(load.results) > 100
    assert load.failures == []
    assert_converged(stack, version)
    assert stack.deploy(m, "--dry-run").returncode == 0


# -- Docker engine restart, on an engine of our own ------------------------------------

# A TCP forwarder run as a process of its own (setns() in the test process itself
# would leak into the dockerd it starts): it listens on 127.0.0.1:PORT in one network
# namespace and connects to 127.0.0.1:PORT in the other. Sockets keep the namespace
# they were created in; setns() switches only the calling thread.
FORWARDER = r"""
import ctypes, os, socket, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
port, listen_in, connect_in = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def enter(path):
    fd = os.open(path, os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:
        raise OSError(ctypes.get_errno(), "setns " + path)
    os.close(fd)
home = "/proc/thread-self/ns/net"
here = os.open(home, os.O_RDONLY)
enter(listen_in)
lst = socket.socket()
lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("127.0.0.1", port))
lst.listen(64)
libc.setns(here, 0x40000000)
def pump(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(conn):
    enter(connect_in)
    try:
        up = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        conn.close()
        return
    up.settimeout(None)
    threading.Thread(target=pump, args=(up, conn), daemon=True).start()
    pump(conn, up)
print("ready", flush=True)
while True:
    conn, _ = lst.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""


class Forwarder:
    def __init__(self, port: int, listen_in: str, connect_in: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", FORWARDER, str(port), listen_in, connect_in],
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"forwarder for port {port} did not start")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


class Engine:
    """A second dockerd in a network namespace of its own, with its own socket, data
    root, exec root and config: restarting it cannot touch the machine's main engine,
    its bridges or anyone's containers. Forwarders carry the registry port into the
    namespace and published ports out of it (both 127.0.0.1 on each side)."""

    def __init__(self, registry_port: int):
        self.registry_port = registry_port
        self.ns = f"ecotrack-eng-{uuid.uuid4().hex[:6]}"
        self.root = Path(tempfile.mkdtemp(prefix="ecotrack-eng-", dir="/tmp"))
        self.data = Path(f"/var/lib/ecotrack-rollout-engine-{uuid.uuid4().hex[:6]}")
        self.host = f"unix://{self.root / 'docker.sock'}"
        self.proc = None
        self.forwarders: list[Forwarder] = []
        (self.root / "daemon.json").write_text("{}\n")

    def start(self) -> None:
        log = open(self.root / "dockerd.log", "ab")
        self.proc = subprocess.Popen(
            [
                # Enter the network namespace only (`ip netns exec` also remounts
                # /sys, which dockerd does not like).
                "nsenter",
                f"--net=/run/netns/{self.ns}",
                "dockerd",
                "--config-file",
                str(self.root / "daemon.json"),
                "--data-root",
                str(self.data),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "docker.pid"),
                "--host",
                self.host,
                "--iptables=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            probe = [
                "docker",
                "-H",
                self.host,
                "version",
                "--format",
                "{{.Server.Version}}",
            ]
            if subprocess.run(probe, capture_output=True).returncode == 0:
                return
            time.sleep(0.5)
        log = (self.root / "dockerd.log").read_text()[-2000:]
        raise RuntimeError(f"the test's dockerd did not start:\n{log}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=90)

    def restart(self) -> None:
        self.stop()
        self.start()

    def publish(self, port: int) -> None:
        """127.0.0.1:port on this machine reaches 127.0.0.1:port in the namespace."""
        self.forwarders.append(Forwarder(port, self.host_ns, self.netns))

    def __enter__(self) -> "Engine":
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        try:
            subprocess.run(
                ["ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up"],
                check=True,
            )
            self.host_ns = f"/proc/{os.getpid()}/ns/net"
            self.netns = f"/run/netns/{self.ns}"
            self.forwarders.append(
                Forwarder(self.registry_port, self.netns, self.host_ns)
            )
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        for f in self.forwarders:
            f.close()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        shutil.rmtree(self.data, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)


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
