"""`./inv new-service` scaffolds a sixth service that works end to end.

In a scratch copy of this repository (testing/scenario_repo.py): the new service passes
lint and its unit tests, `./inv affected` lists it for a change to it, and `./inv up`
brings it up ready behind the proxy. Needs Docker, like the other end-to-end tests;
the copy's stack and pantsd are stopped at the end.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from release.adapters.daemons import free_port
from testing.commands import remove_host_state
from testing.scenario_repo import ScenarioRepo

ROOT = Path(__file__).resolve().parents[1]

NAME = "billing"


def output(r) -> str:
    return r.stdout[-3000:] + r.stderr[-3000:]


@pytest.fixture(scope="module")
def repo(state_home, local_registry, tmp_path_factory):
    """A copy with the new service scaffolded and committed. Created once the run's
    registry and state directory are in the environment, which the copy inherits."""
    r = ScenarioRepo.create(tmp_path_factory.mktemp("new-service") / "repo")
    try:
        created = r.run("./inv", "new-service", NAME)
        assert created.returncode == 0, output(created)
        r.commit(f"new service {NAME}")
        yield r
    finally:
        r.stop_pantsd()


def test_scaffold_writes_the_service_its_entry_route_and_graph(repo):
    for rel in ("BUILD", f"{NAME}_service/main.py", f"tests/test_{NAME}_api.py"):
        assert (repo.path / "services" / NAME / rel).is_file(), rel
    compose = repo.file("gitops/compose.base.yaml").read_text()
    assert f"${{{NAME.upper()}_IMAGE:?" in compose
    assert f"  {NAME}-data: {{}}" in compose
    haproxy = repo.file("gitops/proxy/haproxy.cfg").read_text()
    assert f"server-template {NAME} 10 {NAME}:8000" in haproxy
    assert f"| {NAME} | `common.db`" in repo.file("README.md").read_text()


def test_a_second_scaffold_is_refused_and_changes_nothing(repo):
    again = repo.run("./inv", "new-service", NAME)
    assert again.returncode == 2, output(again)
    errors = [line for line in again.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), again.stderr
    assert repo.git("status", "--porcelain") == ""


def test_lint_and_unit_tests_pass(repo):
    for goal in ("lint", "test"):
        r = repo.run("./pants", goal, f"services/{NAME}::")
        assert r.returncode == 0, output(r)


def test_affected_lists_the_new_service_for_a_change_to_it(repo):
    repo.append(f"services/{NAME}/{NAME}_service/main.py", "\n# a change\n")
    repo.commit(f"change {NAME}")
    data = repo.affected_json(since="HEAD~1")
    assert [i["service"] for i in data["include"]] == [NAME]


def test_it_comes_up_ready_behind_the_proxy(repo, tmp_path):
    project, port = f"ecotrack-new-{uuid.uuid4().hex[:8]}", free_port()
    internal = free_port()
    manifest = tmp_path / "local.json"
    try:
        up = repo.run(
            "./inv",
            "up",
            "--project",
            project,
            "--port",
            str(port),
            "--tls-port",
            "0",
            "--internal-port",
            str(internal),
            "--manifest",
            str(manifest),
            timeout=1800,
        )
        assert up.returncode == 0, output(up)
        assert NAME in json.loads(manifest.read_text())["services"]
        base = f"http://127.0.0.1:{port}/{NAME}"
        ready = f"http://127.0.0.1:{internal}/{NAME}/health/ready"  # loopback only
        assert httpx.get(ready, timeout=5).status_code == 200
        assert httpx.get(f"{base}/hello", timeout=5).json()["service"] == NAME
    finally:
        repo.run("./inv", "down", "--project", project, "--volumes")
        remove_host_state(project)
