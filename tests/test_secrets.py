"""Secrets come from the host and leak nowhere; rotating one rolls exactly the
services that read it.

The token signing key lives in the host's state dir (mode 0600, outside the
repository) and reaches auth, alone, as a file on a read-only key volume; users gets
the public keys the same way. The test checks that the key really is in auth's
container (so the scan below looks for the right thing) and that it is nowhere else:
not in any container's `docker inspect` (environment included), not in the
repository (tracked or untracked files), not in any manifest, not in the images'
history or config, not in any deploy output or the deploy log.
"""

from __future__ import annotations

import json
import shutil
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
    shutil.rmtree(secrets.keys_dir(s.project), ignore_errors=True)


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


def private_key(stack) -> str:
    """The signing key's secret part: the base64 body of its PEM."""
    pem = secrets.ensure_keys(stack.project)["jwt_private_key"].decode()
    return "".join(line for line in pem.splitlines() if "-----" not in line)


def inspected(stack) -> str:
    """`docker inspect` of every container of the project and its holders."""
    ids = docker("ps", "-aq", "--filter", f"name={stack.project}").split()
    assert ids
    return docker("inspect", *ids)


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
    secret = private_key(stack)
    assert len(secret) >= 32
    path = secrets.keys_dir(stack.project) / "jwt_private_key"
    assert not str(path).startswith(str(ROOT))  # outside the repository
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    # Delivered as files: auth signs, users verifies, recycling has no key.
    assert container_env(stack, "auth")["JWT_PRIVATE_KEY_FILE"] == (
        "/run/secrets/jwt_private_key"
    )
    auth = running(stack.containers("auth"))[0].id
    assert secret in docker("exec", auth, "cat", "/run/secrets/jwt_private_key")
    users_env = container_env(stack, "users")
    assert (
        "JWT_PRIVATE_KEY_FILE" not in users_env and "JWT_PUBLIC_KEYS_FILE" in users_env
    )
    users = running(stack.containers("users"))[0].id
    assert docker("exec", users, "ls", "/run/secrets").split() == ["jwt_public_keys"]
    assert not any(k.startswith("JWT_") for k in container_env(stack, "recycling"))
    assert secret not in inspected(stack)
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
        assert not any(
            e.startswith("JWT_") for e in json.loads(config)[0]["Config"].get("Env", [])
        )
    assert [o for o in stack.outputs if secret in o] == []
    assert secret not in deploy_log.log_path(stack.project).read_text()


def test_rotating_the_key_keeps_tokens_valid_and_rolls_exactly_its_readers(
    stack, releases
):
    m = manifest(releases)
    old_token = login(stack, f"r_{uuid.uuid4().hex[:8]}")
    old_secret = private_key(stack)
    recycling = running(stack.containers("recycling"))[0].id
    secrets.rotate(stack.project)
    new_secret = private_key(stack)
    assert new_secret != old_secret

    plan = json.loads(deploy(stack, m, "--dry-run", "--json", expect=3).stdout)["plan"]
    actions = {s["service"]: (s["action"], s["reasons"]) for s in plan["services"]}
    assert actions == {
        "proxy": ("none", []),
        "auth": ("roll", ["secrets"]),
        "users": ("roll", ["secrets"]),
        "recycling": ("none", []),
    }
    deploy(stack, m)
    auth = running(stack.containers("auth"))[0].id
    assert new_secret in docker("exec", auth, "cat", "/run/secrets/jwt_private_key")
    assert running(stack.containers("recycling"))[0].id == recycling  # untouched
    # During the rotation both keys verify: the token signed before it still works
    # across services, and so does a new one.
    new_token = login(stack, f"n_{uuid.uuid4().hex[:8]}")
    for token in (old_token, new_token):
        headers = {"Authorization": f"Bearer {token}"}
        status, _ = stack.get("/users/profiles/me", headers=headers)
        assert status == 404  # authenticated; no profile yet
        status, _ = stack.get("/auth/verify", headers=headers)
        assert status == 200
    text = inspected(stack)
    assert new_secret not in text and old_secret not in text

    # The next rotation drops the first key: its tokens stop verifying.
    secrets.rotate(stack.project)
    deploy(stack, m)
    status, _ = stack.get(
        "/users/profiles/me", headers={"Authorization": f"Bearer {old_token}"}
    )
    assert status == 401
    status, _ = stack.get(
        "/users/profiles/me", headers={"Authorization": f"Bearer {new_token}"}
    )
    assert status == 404
    assert [o for o in stack.outputs if new_secret in o] == []
    assert private_key(stack) not in inspected(stack)
