"""Secrets come from the host and leak nowhere; rotating one rolls exactly the
services that read it.

The JWT signing key lives in the host's state dir (an env file, mode 0600, outside
the repository) and reaches auth and users as container environment through Compose.
The test checks that the value really is in the running containers (so the scan
below looks for the right thing) and that it is nowhere else: not in the repository
(tracked or untracked files), not in any manifest, not in the images' history or
config, not in any deploy output or the deploy log.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from release.engine import deploy_log
from release.gitops import secrets
from testing.rollout import Stack, docker, running

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stack(state_home, tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("secrets"))
    s.outputs = []  # every deploy's stdout and stderr, to scan
    yield s
    s.down()
    path = secrets.secrets_file(s.project)
    if path.exists():
        path.unlink()


def manifest(releases):
    return releases.manifest(
        auth=releases.entry("auth", replicas=1),
        users=releases.entry("users", replicas=1),
        recycling=releases.entry("recycling", replicas=1),
    )


def deploy(stack, m, *extra, expect=0):
    r = stack.deploy(m, *extra)
    stack.outputs += [r.stdout, r.stderr]
    assert r.returncode == expect, r.stdout[-2000:] + r.stderr[-2000:]
    return r


def jwt_secret(stack) -> str:
    return secrets.read_env_file(secrets.secrets_file(stack.project))["JWT_SECRET"]


def login(stack, username: str) -> str:
    creds = {"username": username, "password": "correct horse battery"}
    stack.get("/auth/register", method="POST", body=creds)
    status, body = stack.get("/auth/login", method="POST", body=creds)
    assert status == 200, body
    return body["access_token"]


def container_env(stack, service: str) -> dict:
    c = running(stack.containers(service))[0]
    env = stack.client.api.inspect_container(c.id)["Config"]["Env"]
    return dict(item.split("=", 1) for item in env)


def files_containing(value: bytes, paths) -> list[str]:
    found = []
    for path in paths:
        try:
            if value in Path(path).read_bytes():
                found.append(str(path))
        except (IsADirectoryError, FileNotFoundError):
            pass
    return found


def test_secret_comes_from_the_host_and_leaks_nowhere(stack, releases):
    m = manifest(releases)
    first = deploy(stack, m, "--parallel", "3")  # auth, users, recycling side by side
    assert all(f"{s} " in first.stdout for s in ("auth", "users", "recycling"))
    deploy(stack, m, "--dry-run", "--json")
    secret = jwt_secret(stack)
    assert len(secret) >= 32
    path = secrets.secrets_file(stack.project)
    assert not str(path).startswith(str(ROOT))  # outside the repository
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    # Delivered: auth signs and users verifies with the host's key.
    assert container_env(stack, "auth")["JWT_SECRET"] == secret
    assert container_env(stack, "users")["JWT_SECRET"] == secret
    assert "JWT_SECRET" not in container_env(stack, "recycling")
    token = login(stack, f"s_{uuid.uuid4().hex[:8]}")
    headers = {"Authorization": f"Bearer {token}"}
    status, _ = stack.get(
        "/users/profiles/me",
        method="POST",
        headers=headers,
        body={"display_name": "S", "email": "s@example.com"},
    )
    assert status == 201

    value = secret.encode()
    repo_files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    assert files_containing(value, [ROOT / p.decode() for p in repo_files if p]) == []
    manifests = list((ROOT / "gitops" / "versions").glob("*.json"))
    manifests += list(stack.workdir.glob("manifest-*.json"))
    assert manifests and files_containing(value, manifests) == []
    images = {
        c.image for s in ("auth", "users", "recycling") for c in stack.containers(s)
    } | {releases.base(s) for s in ("auth", "users", "recycling", "proxy")}
    for image in images:
        history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
        config = docker("image", "inspect", image)
        assert secret not in history and secret not in config, image
        assert "JWT_SECRET" not in json.loads(config)[0]["Config"].get("Env", [])
    assert [o for o in stack.outputs if secret in o] == []
    assert secret not in deploy_log.log_path(stack.project).read_text()


def test_rotating_the_secret_rolls_exactly_the_services_that_read_it(stack, releases):
    m = manifest(releases)
    old_token = login(stack, f"r_{uuid.uuid4().hex[:8]}")
    recycling = running(stack.containers("recycling"))[0].id
    secrets.rotate(stack.project)
    new_secret = jwt_secret(stack)

    plan = json.loads(deploy(stack, m, "--dry-run", "--json", expect=3).stdout)["plan"]
    actions = {s["service"]: (s["action"], s["reasons"]) for s in plan["services"]}
    assert actions == {
        "proxy": ("none", []),
        "auth": ("roll", ["secrets"]),
        "users": ("roll", ["secrets"]),
        "recycling": ("none", []),
    }
    deploy(stack, m)
    assert container_env(stack, "auth")["JWT_SECRET"] == new_secret
    assert running(stack.containers("recycling"))[0].id == recycling  # untouched
    # Tokens signed with the old key stop working; new ones work.
    status, _ = stack.get(
        "/users/profiles/me", headers={"Authorization": f"Bearer {old_token}"}
    )
    assert status == 401
    token = login(stack, f"n_{uuid.uuid4().hex[:8]}")
    status, _ = stack.get("/auth/verify", headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    assert [o for o in stack.outputs if new_secret in o] == []
