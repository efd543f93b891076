"""`./inv up` as a user runs it: the local pipeline, GitOps from the first command.

One stack of this module's own (project, proxy port, manifest file, the run's registry
and secrets), brought up through the CLI: a second `up` changes nothing, a replica
stopped by hand is drift that `./inv drift` names and `./inv deploy` heals, and
`./inv down` removes it all.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from release.adapters.daemons import free_port
from release.devenv import tls as local_tls
from testing import commands

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ["auth", "users", "waste", "recycling", "locations"]


def inv(*args: str) -> subprocess.CompletedProcess:
    """`./inv ARGS`; a first `up` bootstraps and builds everything: 20 minutes."""
    return commands.inv(*args, timeout=1200)


def containers(project: str) -> dict[str, str]:
    """{container id: state} of every container of the Compose project."""
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            f"label=com.docker.compose.project={project}",
        ]
        + ["--format", "{{.ID}} {{.State}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if line.strip())


def proxy_container(project: str) -> str:
    return commands.docker(
        "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
        "--filter", "label=com.docker.compose.service=proxy",
    ).split()[0]  # fmt: skip


class UpStack:
    def __init__(self, workdir: Path):
        self.project = f"ecotrack-up-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.internal_port = free_port()
        self.manifest = workdir / "local.json"

    @property
    def where(self) -> list[str]:
        return ["--project", self.project, "--manifest", str(self.manifest)]

    def up(self) -> subprocess.CompletedProcess:
        ports = ["--tls-port", "0", "--internal-port", str(self.internal_port)]
        return inv("up", "--port", str(self.port), *ports, *self.where)


@pytest.fixture(scope="module")
def up_stack(state_home, local_registry, tmp_path_factory):
    stack = UpStack(tmp_path_factory.mktemp("up"))
    first = stack.up()
    try:
        yield stack, first
    finally:
        inv("down", "--project", stack.project, "--volumes")
        commands.remove_host_state(stack.project)


def test_first_up_publishes_records_and_deploys_everything(up_stack):
    stack, first = up_stack
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    recorded = json.loads(stack.manifest.read_text())["services"]
    assert sorted(recorded) == sorted(SERVICES + ["proxy"])
    assert all("@sha256:" in e["image"] for e in recorded.values())
    for name in SERVICES:
        url = f"http://127.0.0.1:{stack.internal_port}/{name}/health/ready"
        assert httpx.get(url, timeout=5).status_code == 200, name
    # HTTPS with the local CA (up says where it is), on the port Docker picked.
    ca = local_tls.directory() / "ca.pem"
    said = (first.stdout + first.stderr).replace("\n", "")
    assert f"local CA (curl --cacert): {ca}" in said
    port = commands.docker("port", proxy_container(stack.project), "8443/tcp")
    url = f"https://127.0.0.1:{port.rsplit(':', 1)[-1]}/proxy/health"
    ctx = ssl.create_default_context(cafile=str(ca))
    assert httpx.get(url, verify=ctx).status_code == 200


def test_second_up_changes_nothing(up_stack):
    stack, first = up_stack
    assert first.returncode == 0
    before_manifest = stack.manifest.read_bytes()
    before = containers(stack.project)
    second = stack.up()
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert containers(stack.project) == before  # not one container recreated
    assert stack.manifest.read_bytes() == before_manifest
    assert "in sync" in second.stdout, second.stdout[-2000:]


def test_drift_right_after_up_is_named_and_healed(up_stack):
    stack, first = up_stack
    assert first.returncode == 0
    in_sync = inv("drift", *stack.where)
    assert in_sync.returncode == 0, in_sync.stdout + in_sync.stderr

    waste = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project=" f"{stack.project}",
            "--filter",
            "label=com.docker.compose.service=waste",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(waste) == 2
    subprocess.run(["docker", "stop", waste[0]], check=True, capture_output=True)

    drifted = inv("drift", *stack.where, "--json")
    assert drifted.returncode != 0
    findings = json.loads(drifted.stdout)
    assert "waste" in json.dumps(findings)

    healed = inv("deploy", *stack.where)
    assert healed.returncode == 0, healed.stdout[-2000:] + healed.stderr[-2000:]
    assert "waste: scale" in healed.stdout, healed.stdout[-2000:]
    assert "1 new beside 1 running" in healed.stdout, healed.stdout[-2000:]
    # In sync; on a busy host a replica may be momentarily unhealthy (drift names
    # it, as it should): the answer is asked again until the host has caught up.
    deadline = time.monotonic() + 90
    after = inv("drift", *stack.where)
    while after.returncode != 0 and time.monotonic() < deadline:
        assert "unhealthy" in after.stdout, after.stdout + after.stderr
        time.sleep(3)
        after = inv("drift", *stack.where)
    assert after.returncode == 0, after.stdout + after.stderr


def test_down_removes_every_container(up_stack):
    stack, first = up_stack
    assert first.returncode == 0
    r = inv("down", "--project", stack.project)
    assert r.returncode == 0, r.stderr
    assert containers(stack.project) == {}
