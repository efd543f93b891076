"""`./inv audit` and `./inv status` on the real engine, as a user runs them, against
the stack the rollout engine deployed (testing/gitops.py: GitopsStack).

The deploy log lives on the Docker host: after `./inv deploy`, this machine's copy
is deleted and `./inv audit` still shows the deploy with its commit; `./inv status`
shows the services ready and the lock free. A deploy refused by a held lock is in
the audit too, and status names the holder; a project with nothing running is
exit 5, and looking at it creates nothing on the host.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from release.adapters import deploy_lock, docker_host, worktree_git
from release.base import exit_codes
from release.engine import deploy_log
from testing.gitops import SERVICE, docker, inv

ROOT = Path(__file__).resolve().parents[1]
# Until tasks.py lists audit and status, they run from a collection of their own.
_REGISTERED = "operate." in (ROOT / "tasks.py").read_text()


@pytest.fixture(scope="module")
def operate(tmp_path_factory):
    """`./inv audit|status ARGS`, never raising on exit."""
    extra: list[str] = []
    if not _REGISTERED:
        where = tmp_path_factory.mktemp("operate-tasks")
        (where / "tasks.py").write_text(
            "from invoke import Collection\n"
            "from release.cli.tasks import operate\n"
            "namespace = Collection(operate.audit, operate.status)\n"
        )
        extra = ["--search-root", str(where)]
    return lambda *args: inv(*extra, *args)


@pytest.fixture(scope="session", autouse=True)
def _remove_the_stacks_deploy_log(gitops_stack):
    """The log outlives deploys on purpose; this run's own goes with the run."""
    yield
    name = f"{gitops_stack.project}-deploy-log"
    docker("rm", "-f", name, check=False)
    docker("volume", "rm", name, check=False)


def test_the_deploy_log_is_on_the_host_and_status_reads_it(gitops, operate):
    head = worktree_git.head_sha()
    manifest = gitops.write(gitops.manifest("v2"))
    deployed = gitops.inv_deploy(manifest)
    assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
    deploy_log.log_path(gitops.project).unlink()  # this machine forgets it

    r = operate("audit", "--env", "local", "--project", gitops.project, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    newest = doc["entries"][0]
    assert (newest["result"], newest["kept"], newest["log_host"]) == (
        "ok",
        "host",
        "local",
    )
    assert newest["commit"] == head and newest["manifest_committed"] is False
    assert newest["by"] == deploy_lock.who() and newest["env"] == "local"
    v2 = gitops.entries["v2"]
    assert newest["releases"][SERVICE] == {
        "version": "1.1.0",
        "digest": v2.image.split("@", 1)[1],
    }
    rolled = {s["service"]: s for s in newest["services"]}
    assert rolled[SERVICE]["result"] == "ok" and "1.1.0" in rolled[SERVICE]["to"]
    assert [(h["name"], h["endpoint"], h["error"]) for h in doc["hosts"]] == [
        ("local", "", "")
    ]

    r = operate(
        "status",
        "--env",
        "local",
        "--project",
        gitops.project,
        "--manifest",
        str(manifest),
        "--json",
    )
    assert r.returncode == exit_codes.OK, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert (doc["in_sync"], doc["ready"], doc["exit_code"]) == (True, True, 0)
    (host,) = doc["hosts"]
    assert host["lock"] is None
    assert host["last_deploy"]["id"] == newest["id"]
    services = {s["service"]: s for s in host["services"]}
    assert services[SERVICE]["version"] == "1.1.0"
    for name in (SERVICE, "auth"):
        s = services[name]
        assert (s["ready"], s["desired"], s["sync"]) == (2, 2, "IN_SYNC"), s

    r = operate("status", "--project", gitops.project, "--manifest", str(manifest))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "free" in r.stdout and "2/2" in r.stdout and "in sync" in r.stdout


def test_a_refused_deploy_is_in_the_audit_and_status_names_the_holder(gitops, operate):
    client = docker_host.connect()
    held = deploy_lock.acquire(
        client, deploy_lock.mine(gitops.project, "local", "auth 9.9.9")
    )
    try:
        manifest = gitops.write(gitops.manifest("v2"))
        r = gitops.inv_deploy(manifest)
        assert r.returncode == exit_codes.LOCKED, r.stdout + r.stderr

        r = operate(
            "audit",
            "--env",
            "local",
            "--project",
            gitops.project,
            "--limit",
            "1",
            "--json",
        )
        assert r.returncode == 0, r.stdout + r.stderr
        (refused,) = json.loads(r.stdout)["entries"]
        assert refused["result"] == "refused" and refused["kept"] == "host"
        assert "another deploy of" in refused["reason"]
        assert refused["releases"][SERVICE]["version"] == "1.1.0"

        r = operate(
            "status",
            "--project",
            gitops.project,
            "--manifest",
            str(gitops.write(gitops.baseline)),
            "--json",
        )
        # the lock is reported; what runs is still in sync and ready
        assert r.returncode == exit_codes.OK, r.stdout + r.stderr
        (host,) = json.loads(r.stdout)["hosts"]
        assert host["lock"]["holder"] == deploy_lock.who()
        assert "auth 9.9.9" in host["lock"]["description"]
        assert host["last_deploy"]["result"] == "refused"
    finally:
        deploy_lock.release(client, held)


def test_nothing_running_is_exit_5_and_looking_creates_nothing(gitops, operate):
    project = f"ecotrack-none-{uuid.uuid4().hex[:6]}"
    r = operate(
        "status",
        "--project",
        project,
        "--manifest",
        str(gitops.write(gitops.baseline)),
    )
    assert r.returncode == exit_codes.NOT_RUNNING, r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"no container of {project}" in errors[0]

    r = operate("audit", "--project", project)
    assert r.returncode == 0 and "no deploys of" in r.stdout, r.stdout + r.stderr
    assert docker("volume", "ls", "-q", "--filter", f"name={project}") == ""
    assert docker("ps", "-aq", "--filter", f"name={project}") == ""
