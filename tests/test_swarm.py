"""A Swarm environment: `./inv deploy --hosts-file FILE` with `target: swarm` renders a
stack file and lets Swarm roll (testing/swarm.py: a single-node Swarm in a
network namespace of its own, reached over ssh://).

In order on one Swarm and one stack (-x stops at the first failure): the first
deploy and a rolling update of recycling under open-loop load through the stack's
host-mode proxy; a release whose healthcheck fails, which Swarm rolls back; drift
in sync, then after a hand-made `docker service scale`, then healed by a deploy;
the agent watching the Swarm (drift, then a pushed commit rolled under load).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from release.engine import deploy_log
from release.model.manifest import ServiceEntry
from testing.commands import inv
from testing.hosts_stack import HostsStack
from testing.loadgen import Load
from testing.rollout import (
    PATIENT_HEALTH,
    Releases,
)
from testing.swarm import SwarmNode

ROOT = Path(__file__).resolve().parents[1]

PATH = "/recycling/guidelines"


@pytest.fixture(scope="module")
def node(local_registry):
    why = SwarmNode.available()
    if why:
        pytest.skip(f"no simulated Swarm node here: {why}")
    port = int(local_registry.address.rsplit(":", 1)[1])
    with SwarmNode(port) as n:
        yield n


class SwarmStack(HostsStack):
    def __init__(self, node: SwarmNode, releases: Releases, workdir: Path):
        self.node = node
        self.releases = releases
        super().__init__(
            workdir,
            f"ecotrack-swarm-{uuid.uuid4().hex[:6]}",
            node.hosts_yaml(workdir / "hosts.yaml"),
        )

    def patient(self, version: str) -> ServiceEntry:
        return self.releases.entry("recycling", version, health=PATIENT_HEALTH)

    def manifest(self, recycling: ServiceEntry):
        return self.releases.manifest(recycling=recycling)

    def tasks(self, service: str = "recycling") -> list[tuple[str, str]]:
        """(state, image) of every task Swarm wants running."""
        out = self.node.docker(
            "service",
            "ps",
            f"{self.project}_{service}",
            "--filter",
            "desired-state=running",
            "--no-trunc",
            "--format",
            "{{.CurrentState}}|{{.Image}}",
        )
        return [
            (line.split("|")[0].split()[0], line.split("|")[1])
            for line in out.splitlines()
        ]

    def proxy_events(self) -> str:
        """HAProxy's server state changes (UP, DOWN, DNS): why requests failed."""
        try:  # a diagnostic: never the reason a test hangs (a busy engine)
            out = subprocess.run(
                ["docker", "-H", self.node.socket, "service", "logs", "--raw"]
                + ["--tail", "300", f"{self.project}_proxy"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
        except subprocess.TimeoutExpired:
            return "(docker service logs did not answer within 30 s)"
        keep = ("UP", "DOWN", "DNS", "maintenance", "no server")
        return "\n".join(x for x in out.splitlines() if any(k in x for k in keep))

    def history(self) -> str:
        return self.node.docker(
            "service", "ps", f"{self.project}_recycling", "--no-trunc", check=False
        )

    def get(self) -> int:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.node.proxy_port, timeout=10)
        try:
            conn.request("GET", PATH)
            r = conn.getresponse()
            r.read()
            return r.status
        except OSError:
            return 0
        finally:
            conn.close()


@pytest.fixture(scope="module")
def stack(node, releases, state_home, tmp_path_factory):
    s = SwarmStack(node, releases, tmp_path_factory.mktemp("swarm"))
    yield s
    node.docker("stack", "rm", s.project, check=False)


def test_rolling_update_under_load(node, stack):
    first = stack.deploy_ok(stack.manifest(stack.patient("1.0.0")))
    assert "stack_deploy" in first.stdout and "done" in first.stdout, first.stdout
    deadline = time.monotonic() + 120
    while stack.get() != 200 and time.monotonic() < deadline:
        time.sleep(1)
    assert stack.get() == 200
    v2 = stack.patient("1.1.0")
    with Load(node.proxy_port, PATH, rate=40) as load:
        r = stack.deploy_ok(stack.manifest(v2))
        time.sleep(2)
    if load.failures:  # shown by pytest with the failure: what the proxy saw
        print(stack.proxy_events()[-6000:], stack.history(), sep="\n")
    assert load.failures == [], load.failures[:3]
    assert len(load.results) > 100
    assert "1 change(s): recycling (roll)" in r.stdout, r.stdout
    assert "swarm_update" in r.stdout
    tasks = stack.tasks()
    assert [state for state, _ in tasks] == ["Running", "Running"], tasks
    digest = v2.image.split("@", 1)[1]
    assert all(image.endswith(digest) for _, image in tasks), tasks
    spec = json.loads(node.docker("service", "inspect", f"{stack.project}_recycling"))[
        0
    ]["Spec"]
    assert spec["EndpointSpec"]["Mode"] == "dnsrr"
    assert spec["UpdateConfig"]["Order"] == "start-first"
    assert spec["UpdateConfig"]["FailureAction"] == "rollback"
    record = deploy_log.read(stack.project)[-1]
    assert (record["result"], record["target"]) == ("ok", "swarm"), record
    # the environment's lock was taken on the manager and is gone
    assert node.docker("ps", "-aq", "--filter", "name=deploy-lock") == ""


def test_failing_healthcheck_rolls_back(node, stack):
    old = stack.patient("1.1.0")
    bad = stack.releases.entry("recycling", "1.2.0", healthy=False)
    with Load(node.proxy_port, PATH, rate=40) as load:
        r = stack.run("deploy", stack.manifest(bad), "--health-timeout", "120")
        time.sleep(2)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    error = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, r.stderr
    assert error[0].startswith("error: recycling: swarm rolled back: "), error
    print("deploy said:", error[0])  # shown with -rA
    if load.failures:  # shown by pytest with the failure: what the proxy saw
        print(stack.proxy_events()[-6000:], stack.history(), sep="\n")
    assert load.failures == [], load.failures[:3]
    # the generator ran: at least a quarter of the requests due, and 20
    assert len(load.results) >= max(20, load.scheduled() / 4), load.scheduled()
    tasks = stack.tasks()
    digest = old.image.split("@", 1)[1]
    assert len(tasks) == 2 and all(i.endswith(digest) for _, i in tasks), tasks
    record = deploy_log.read(stack.project)[-1]
    assert record["result"] == "rolled_back" and record["rolled_back"] == [
        "recycling"
    ], record
    assert record["reason"].startswith("recycling: swarm rolled back"), record
    # drift: the manifest still wants 1.2.0, Swarm runs 1.1.0 after its rollback
    d = stack.run("drift", stack.manifest(bad), "--json")
    assert d.returncode == 3, d.stdout[-3000:] + d.stderr[-2000:]
    kinds = {f["kind"] for f in json.loads(d.stdout)["findings"]}
    assert {"image", "update"} <= kinds, kinds


def test_drift_in_sync_then_scaled_by_hand(node, stack):
    m = stack.manifest(stack.patient("1.1.0"))
    r = stack.run("drift", m)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "in sync" in r.stdout
    node.docker("service", "scale", "--detach", f"{stack.project}_recycling=3")
    deadline = time.monotonic() + 120
    while len(stack.tasks()) < 3 and time.monotonic() < deadline:
        time.sleep(1)
    r = stack.run("drift", m, "--json")
    assert r.returncode == 3, r.stdout[-3000:] + r.stderr[-2000:]
    findings = json.loads(r.stdout)["findings"]
    assert [(f["service"], f["kind"], f["expected"]) for f in findings] == [
        ("recycling", "extra_replicas", "2")
    ], findings
    healed = stack.deploy_ok(m)
    assert "recycling (scale)" in healed.stdout, healed.stdout
    assert stack.run("drift", m).returncode == 0


def test_the_agent_keeps_the_swarm_on_the_manifest(node, stack, tmp_path):
    """The pull agent on a Swarm environment: it reads the services and tasks, sees
    a hand-made scale as drift, and rolls a pushed commit through Swarm."""
    from testing.agent_repo import AgentProcess, commit_manifest, gitops_repo_on

    repo = tmp_path / "remote"
    c0 = gitops_repo_on(
        repo,
        stack.manifest(stack.patient("1.1.0")),
        "recycling 1.1.0",
        stack.hosts_file.read_text(),
    )
    agent = AgentProcess(stack, repo, tmp_path / "agent").start()
    try:
        agent.wait(
            lambda s: s["synced_commit"] == c0 and s["sync"] == "IN_SYNC",
            300,
            "the Swarm in sync",
        )
        node.docker("service", "scale", "--detach", f"{stack.project}_recycling=3")
        # The third task shows as `stopped` while it starts, then as an extra one.
        status = agent.wait(
            lambda s: "extra_replicas" in {f["kind"] for f in s["findings"]},
            180,
            "the extra replica as drift",
        )
        assert status["sync"] == "OUT_OF_SYNC"

        v3 = stack.patient("1.3.0")
        with Load(node.proxy_port, PATH, rate=40) as load:
            c1 = commit_manifest(repo, stack.manifest(v3), "release(local): 1.3.0")
            agent.wait(
                lambda s: s["synced_commit"] == c1 and s["sync"] == "IN_SYNC",
                420,
                "the pushed commit rolled by Swarm",
            )
            time.sleep(2)
        if load.failures:  # shown by pytest with the failure: what the proxy saw
            print(stack.proxy_events()[-6000:], stack.history(), sep="\n")
        assert load.failures == [], load.failures[:3]
        # the generator ran: at least a quarter of the requests due, and 20
        assert len(load.results) >= max(20, load.scheduled() / 4), load.scheduled()
        tasks = stack.tasks()
        digest = v3.image.split("@", 1)[1]
        assert len(tasks) == 2 and all(i.endswith(digest) for _, i in tasks), tasks
        assert deploy_log.read(stack.project)[-1]["target"] == "swarm"
    finally:
        assert agent.stop() == 0, agent.output()[-3000:]


def test_swarm_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "hosts.yaml"
    bad.write_text("target: swarm\nmanager: tcp://10.0.0.1:2375\n")
    r = inv("deploy", "--hosts-file", str(bad), "--dry-run")
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [
        f"error: {bad}: manager: must be ssh://user@host[:port] or unix:///path "
        "(got 'tcp://10.0.0.1:2375')"
    ]


def _private_key_body(project: str) -> str:
    from release.gitops import secrets

    pem = secrets.ensure_keys(project)["jwt_private_key"].decode()
    return "".join(line for line in pem.splitlines() if "-----" not in line)


def test_stack_file_as_written_has_no_secret_value(node, stack, tmp_path):
    """The file `docker stack deploy` reads, rendered for a manifest with auth and
    users: the keys are external secrets mounted as files, their values absent."""
    from release.adapters import docker_host
    from release.adapters.host_access import DockerHostAccess
    from release.base.layout import GITOPS
    from release.targets.swarm import env as swarm_env
    from release.targets.swarm import rollout as swarm_rollout
    from release.targets.swarm import session as swarm_session

    m = stack.manifest(stack.patient("1.1.0"))
    # auth may run any image here: nothing is deployed, only rendered
    m = replace(
        m,
        services={
            **m.services,
            "auth": m.services["recycling"],
            "users": m.services["recycling"],
        },
    )
    value = _private_key_body(stack.project)
    assert len(value) >= 32
    target = swarm_env.SwarmEnv(node.endpoint, node.fleet.proxy_port, 5)
    client = docker_host.connect(node.endpoint)
    view = swarm_session.look(
        DockerHostAccess(),
        "local",
        target,
        stack.project,
        client,
        tmp_path,
        manifest=m,
        gitops=GITOPS,
    )
    written = swarm_rollout._write(view, list(view.document["services"]), tmp_path)
    text = written.read_text()
    doc = json.loads(text)
    assert "env_file" not in text and value not in text
    assert all(v == {"external": True} for v in doc["secrets"].values())
    assert doc["services"]["auth"]["environment"]["JWT_PRIVATE_KEY_FILE"] == (
        "/run/secrets/jwt_private_key"
    )
    assert [x["target"] for x in doc["services"]["users"]["secrets"]] == [
        "/run/secrets/jwt_public_keys"
    ]
    assert value not in (tmp_path / "haproxy.cfg").read_text()
    plan = {s.service: s.action for s in view.plan.services}
    assert plan["auth"] == "create", plan  # rendered, never deployed


def _call(port: int, method: str, path: str, body=None, token=None):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, json.dumps(body) if body else None, headers)
        r = conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw.startswith(b"{") else raw)
    except OSError:  # not listening yet
        return 0, None
    finally:
        conn.close()


def test_token_keys_are_swarm_secrets_seen_in_no_inspect(node, stack):
    """auth and users deployed on the Swarm: they sign and verify with the keys
    (a login's token is accepted by users), which `docker service inspect` of every
    service and `docker inspect` of every task show by secret name only."""
    r = stack.releases
    m = r.manifest(
        recycling=stack.patient("1.1.0"),
        auth=r.entry("auth", replicas=1),
        users=r.entry("users", replicas=1),
    )
    stack.deploy_ok(m)
    value = _private_key_body(stack.project)
    creds = {"username": f"sw_{uuid.uuid4().hex[:8]}", "password": "correct horse"}
    port = node.proxy_port
    deadline = time.monotonic() + 60
    while _call(port, "POST", "/auth/register", creds)[0] not in (201, 409):
        assert time.monotonic() < deadline, "auth never answered through the proxy"
        time.sleep(1)
    status, body = _call(port, "POST", "/auth/login", creds)
    assert status == 200, body
    status, _ = _call(port, "GET", "/users/profiles/me", token=body["access_token"])
    assert status == 404  # authenticated by users; no profile yet

    label = f"label=com.docker.stack.namespace={stack.project}"
    services = node.docker("service", "ls", "-q", "--filter", label).split()
    specs = node.docker("service", "inspect", *services)
    assert value not in specs
    auth = next(
        s for s in json.loads(specs) if s["Spec"]["Name"] == f"{stack.project}_auth"
    )["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert "JWT_PRIVATE_KEY_FILE=/run/secrets/jwt_private_key" in auth["Env"]
    assert {x["File"]["Name"] for x in auth["Secrets"]} == {
        "/run/secrets/jwt_private_key",
        "/run/secrets/jwt_public_keys",
    }
    tasks = node.docker("ps", "-aq", "--filter", label).split()
    assert len(tasks) >= 4  # proxy, recycling, auth, users
    assert value not in node.docker("inspect", *tasks)
    # The positive control: the key is in auth's task, as a file.
    auth_task = node.docker(
        "ps",
        "-q",
        "--filter",
        f"label=com.docker.swarm.service.name={stack.project}_auth",
    ).split()[0]
    assert value in node.docker(
        "exec", auth_task, "cat", "/run/secrets/jwt_private_key"
    )
