"""Several Compose hosts over SSH: `./inv deploy --env local --hosts-file FILE`
rolls the fleet host by host (testing/fleet.py: three engines, each in a network
namespace of its own behind a real sshd, a front HAProxy on 127.0.0.1).

The tests run in order on one fleet and one Compose project (-x stops at the first
failure): a rollout under load through the front proxy, a health gate that fails
on host 2 of 3, a deploy killed between two hosts and re-run, drift per host.

Failure mode (README: "A fleet"): hosts already rolled keep the new version (the
manifest's desired state); the failing host's new containers are removed and its
old ones keep serving; later hosts are not touched; the command exits 1 naming the
host. Host 2's failure is made real with a host quirk: its engine gives containers
a different open-files limit (daemon.json `default-ulimits`), and the release under
test has a healthcheck that fails on exactly that limit — a release that works on
some machines and not on another, the case a batched rollout exists for.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from release.adapters import docker_host
from release.model.manifest import ServiceEntry
from release.targets import environment
from testing.commands import inv
from testing.fleet import Fleet
from testing.hosts_stack import HostsStack
from testing.loadgen import Load
from testing.rollout import (
    INV,
    PATIENT_HEALTH,
    docker,
)

ROOT = Path(__file__).resolve().parents[1]

PATH = "/recycling/guidelines"
QUIRK = 4242  # host-2's default open-files limit
QUIRKY_HEALTH = (
    "HEALTHCHECK --interval=2s --timeout=10s --retries=3 --start-period=40s CMD "
    '["/app/bin/python", "-c", "import resource, sys, urllib.request; '
    f"sys.exit(3) if resource.getrlimit(resource.RLIMIT_NOFILE)[0] == {QUIRK} "
    "else urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=2)\"]"
)


@pytest.fixture(scope="module")
def fleet(local_registry):
    why = Fleet.available()
    if why:
        pytest.skip(f"no simulated fleet here: {why}")
    port = int(local_registry.address.rsplit(":", 1)[1])
    limits = {"nofile": {"Name": "nofile", "Soft": QUIRK, "Hard": QUIRK}}
    with Fleet(3, port, daemon_config={"host-2": {"default-ulimits": limits}}) as f:
        yield f


class FleetStack(HostsStack):
    """One Compose project on every host of the fleet, deployed with ./inv."""

    def __init__(self, fleet: Fleet, workdir: Path):
        self.fleet = fleet
        super().__init__(
            workdir,
            f"ecotrack-fleet-{uuid.uuid4().hex[:8]}",
            fleet.hosts_yaml(workdir / "hosts.yaml"),
            fleet.proxy_port,
        )

    def versions(self, host, service: str = "recycling") -> list[str]:
        client = docker_host.connect(host.socket)
        state = docker_host.snapshot(client, self.project, service)
        return sorted(c.version for c in state.containers if c.state == "running")

    def down(self) -> None:
        for h in self.fleet.hosts:
            label = f"label=com.docker.compose.project={self.project}"
            ids = docker("ps", "-aq", "--filter", label, host=h.socket, check=False)
            if ids:
                docker("rm", "-f", *ids.split(), host=h.socket, check=False)


@pytest.fixture(scope="module")
def stack(fleet, releases, state_home, tmp_path_factory):
    s = FleetStack(fleet, tmp_path_factory.mktemp("fleet"))
    yield s
    s.down()


def manifest(releases, version: str, entry: ServiceEntry | None = None):
    entry = entry or releases.entry("recycling", version, health=PATIENT_HEALTH)
    return releases.manifest(recycling=entry)


def quirky_entry(releases, version: str) -> ServiceEntry:
    """A release whose healthcheck fails on host-2's open-files limit only."""
    return releases.entry("recycling", version, health=QUIRKY_HEALTH)


def front_get(fleet: Fleet, path: str = PATH) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", fleet.front_port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def test_three_hosts_roll_one_by_one_under_load(fleet, stack, releases):
    # The first install goes to all three at once (one batch of 3, side by side).
    at_once = fleet.hosts_yaml(stack.workdir / "at-once.yaml", batch_size=3)
    first = stack.deploy_ok(manifest(releases, "1.0.0"), hosts=at_once)
    assert "fleet local" in first.stdout and "batch 1/1" in first.stdout
    assert [stack.versions(h) for h in fleet.hosts] == [["1.0.0", "1.0.0"]] * 3
    deadline = time.monotonic() + 30
    while front_get(fleet) != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert front_get(fleet) == 200
    with Load(fleet.front_port, PATH, rate=40) as load:
        r = stack.deploy_ok(manifest(releases, "1.1.0"))
        time.sleep(1)
    assert load.failures == [], load.failures[:5]
    assert len(load.results) > 100
    out = r.stdout
    # host by host, in the hosts file's order, each through the same steps
    starts = [out.index(f"host {h.name} ({h.endpoint})") for h in fleet.hosts]
    assert starts == sorted(starts)
    assert out.count("retire_old") >= 3
    assert [stack.versions(h) for h in fleet.hosts] == [["1.1.0", "1.1.0"]] * 3
    # every host's engine was reached through its sshd
    for h in fleet.hosts:
        assert "Accepted publickey" in (h.root / "sshd.log").read_text()
    # the environment's one lock lived on the first host and is gone
    for h in fleet.hosts:
        assert h.docker("ps", "-aq", "--filter", "name=deploy-lock") == ""


def test_failing_health_gate_on_host_2_stops_the_fleet(fleet, stack, releases):
    bad = manifest(releases, "", quirky_entry(releases, "1.2.0"))
    with Load(fleet.front_port, PATH, rate=40) as load:
        r = stack.run("deploy", bad, "--health-timeout", "120")
        time.sleep(1)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    error = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert error and "host host-2" in error[0] and "host-3" in error[0], r.stderr
    h1, h2, h3 = fleet.hosts
    assert stack.versions(h1) == ["1.2.0", "1.2.0"]  # keeps the new version
    assert stack.versions(h2) == ["1.1.0", "1.1.0"]  # aborted: the old ones serve
    assert stack.versions(h3) == ["1.1.0", "1.1.0"]  # untouched
    assert f"host {h3.name} (" not in r.stdout  # never even planned
    assert "untouched" in r.stdout
    assert load.failures == [], load.failures[:5]
    # the generator ran: at least a quarter of the requests due, and 20
    assert len(load.results) >= max(20, load.scheduled() / 4), load.scheduled()
    # host 2 kept no new container (the engine removed them), stopped or not
    everything = h2.docker(
        "ps",
        "-a",
        "--filter",
        f"label=com.docker.compose.project={stack.project}",
        "--format",
        "{{.Image}}",
    ).split()
    assert not [i for i in everything if "quirky" in i], everything


def test_killed_fleet_deploy_converges_on_rerun(fleet, stack, releases):
    from testing.rollout import Running

    m = manifest(releases, "1.3.0")
    proc = subprocess.Popen(
        [INV, *stack.args("deploy", m, "--lock-lease", "3")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    run = Running(proc)
    run.wait_for_line("host host-2 (", timeout=300)
    run.kill()
    assert run.proc.returncode == -9
    h1, h2, h3 = fleet.hosts
    assert stack.versions(h1) == ["1.3.0", "1.3.0"]
    assert stack.versions(h3) == ["1.1.0", "1.1.0"]
    time.sleep(3.5)  # the killed deploy's lease expires
    with Load(fleet.front_port, PATH, rate=40) as load:
        rerun = stack.deploy_ok(m)
        time.sleep(1)
    assert "taking over an expired deploy lock" in rerun.stdout
    assert load.failures == [], load.failures[:5]
    # the generator ran: at least a quarter of the requests due, and 20
    assert len(load.results) >= max(20, load.scheduled() / 4), load.scheduled()
    assert [stack.versions(h) for h in fleet.hosts] == [["1.3.0", "1.3.0"]] * 3
    dry = stack.run("deploy", m, "--dry-run")
    assert dry.returncode == 0, dry.stdout[-3000:]
    assert dry.stdout.count("in sync: nothing to do") == 3


def test_drift_and_dry_run_per_host(fleet, stack, releases):
    m = manifest(releases, "1.3.0")
    r = stack.run("drift", m)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    for h in fleet.hosts:
        assert f"host {h.name} ({h.endpoint})" in r.stdout
    # one replica stopped on host 3: drift names that host, and only that one
    h3 = fleet.hosts[2]
    victim = h3.docker(
        "ps",
        "-q",
        "--filter",
        f"label=com.docker.compose.project={stack.project}",
        "--filter",
        "label=com.docker.compose.service=recycling",
    ).split()[0]
    h3.docker("stop", victim)
    r = stack.run("drift", m, "--json")
    assert r.returncode == 3, r.stdout[-3000:] + r.stderr[-2000:]
    report = json.loads(r.stdout)
    by_host = {h["name"]: h for h in report["hosts"]}
    assert [by_host[h.name]["in_sync"] for h in fleet.hosts] == [True, True, False]
    dry = stack.run("deploy", m, "--dry-run", "--json")
    assert dry.returncode == 3, dry.stdout[-3000:] + dry.stderr[-2000:]
    plans = {h["name"]: h["plan"] for h in json.loads(dry.stdout)["hosts"]}
    assert [plans[h.name]["in_sync"] for h in fleet.hosts] == [True, True, False]
    stack.deploy_ok(m)  # heals host 3
    assert stack.run("drift", m).returncode == 0


def test_the_agent_watches_every_host_and_deploys_the_fleet(
    fleet, stack, releases, tmp_path
):
    """The pull agent on a fleet: the hosts file is part of the watched repository,
    the status and the dashboard show each host, a pushed commit rolls the fleet."""
    from testing.agent_repo import AgentProcess, commit_manifest, gitops_repo_on

    repo = tmp_path / "remote"
    c0 = gitops_repo_on(
        repo,
        manifest(releases, "1.3.0"),
        "release(local): 1.3.0",
        stack.hosts_file.read_text(),
    )
    agent = AgentProcess(stack, repo, tmp_path / "agent").start()
    try:
        status = agent.wait(
            lambda s: s["synced_commit"] == c0 and s["sync"] == "IN_SYNC",
            600,  # in sync already after the tests above; a first install alone
            "the fleet in sync",
        )
        names = [h["name"] for h in status["hosts"]]
        assert names == [h.name for h in fleet.hosts]
        assert all(h["sync"] == "IN_SYNC" for h in status["hosts"])

        # A replica stopped on host 3: the fleet is out of sync there, and only there.
        h3 = fleet.hosts[2]
        label = f"label=com.docker.compose.project={stack.project}"
        victim = h3.docker(
            "ps",
            "-q",
            "--filter",
            label,
            "--filter",
            "label=com.docker.compose.service=recycling",
        ).split()[0]
        h3.docker("stop", victim)
        status = agent.wait(
            lambda s: s["hosts"][2]["sync"] == "OUT_OF_SYNC", 120, "drift on host 3"
        )
        assert [h["sync"] for h in status["hosts"][:2]] == ["IN_SYNC"] * 2
        assert {f["host"] for f in status["findings"]} == {h3.name}
        code, page = agent.get("/")
        assert code == 200 and f'data-host="{h3.name}"' in page

        # A pushed commit is rolled out host by host, under load, without a failure.
        with Load(fleet.front_port, PATH, rate=40) as load:
            c1 = commit_manifest(
                repo, manifest(releases, "1.1.0"), "release(local): 1.1.0"
            )
            status = agent.wait(
                lambda s: s["synced_commit"] == c1 and s["sync"] == "IN_SYNC",
                400,
                "the pushed commit on every host",
            )
            time.sleep(1)
        assert load.failures == [], load.failures[:5]
        # the generator ran: at least a quarter of the requests due, and 20
        assert len(load.results) >= max(20, load.scheduled() / 4), load.scheduled()
        assert [stack.versions(h) for h in fleet.hosts] == [["1.1.0", "1.1.0"]] * 3
        assert {
            s["version"]
            for h in status["hosts"]
            for s in h["services"]
            if s["service"] == "recycling"
        } == {"1.1.0"}
    finally:
        assert agent.stop() == 0, agent.output()[-3000:]


def test_hosts_file_errors_are_one_line(stack, releases, tmp_path):
    bad = tmp_path / "hosts.yaml"
    bad.write_text("hosts:\n  - name: web-1\n    endpoint: tcp://10.0.0.1:2375\n")
    r = inv("deploy", "--hosts-file", str(bad), "--dry-run")
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [
        f"error: {bad}: hosts[0].endpoint: must be ssh://user@host[:port] or "
        "unix:///path (got 'tcp://10.0.0.1:2375')"
    ]
    assert environment.load(stack.hosts_file).batch_size == 1
