"""The stack as a user meets it: through the proxy, on the real Docker engine."""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import httpx
import pytest

from release.adapters import docker_host
from testing.rollout import docker_healthy

SERVICES = ["auth", "users", "waste", "recycling", "locations"]


@pytest.fixture(scope="module")
def client(e2e_stack):
    opts, _ = e2e_stack
    with httpx.Client(base_url=opts.base_url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def internal(e2e_stack):
    opts, _ = e2e_stack
    with httpx.Client(base_url=opts.internal_url, timeout=10) as c:
        yield c


@pytest.mark.parametrize("service", SERVICES)
def test_service_ready_through_proxy_with_commit(client, internal, head_sha, service):
    assert client.get(f"/{service}/health/live").status_code == 200
    assert internal.get(f"/{service}/health/ready").status_code == 200
    version = internal.get(f"/{service}/version").json()
    assert version["service"] == service
    assert version["git_sha"] == head_sha
    # The tag publish gave it: <branch>-<short sha>, `-dirty-<hash>` for an edited tree.
    assert f"-{head_sha[:7]}" in version["image_tag"]


def test_register_login_then_profile_with_real_jwt(client):
    username = f"e2e_{uuid.uuid4().hex[:8]}"
    creds = {"username": username, "password": "correct horse battery"}
    assert client.post("/auth/register", json=creds).status_code == 201
    login = client.post("/auth/login", json=creds)
    assert login.status_code == 200
    token = login.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    assert client.get("/auth/verify", headers=headers).json()["sub"] == username
    # users verifies the token auth signed: the secret reached both from the host.
    assert client.get("/users/profiles/me").status_code == 401
    created = client.post(
        "/users/profiles/me",
        headers=headers,
        json={"display_name": "E2E", "email": f"{username}@example.com"},
    )
    assert created.status_code == 201, created.text
    me = client.get("/users/profiles/me", headers=headers)
    assert me.status_code == 200 and me.json()["display_name"] == "E2E"


def test_waste_job_is_processed_by_the_worker(client):
    job = client.post("/waste/jobs", json={"description": "empty glass bottle"})
    assert job.status_code == 202
    job_id = job.json()["id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = client.get(f"/waste/jobs/{job_id}").json()
        if body["status"] == "done":
            break
        time.sleep(0.5)
    assert body["status"] == "done", body
    assert body["result"]["category"] == "glass"


def test_recycling_and_locations_answer(client):
    assert client.get("/recycling/guidelines/glass").status_code == 200
    nearest = client.get(
        "/locations/points/nearest", params={"lat": 52.52, "lon": 13.40}
    )
    assert nearest.status_code == 200 and len(nearest.json()) >= 1
    bad = client.get("/locations/points/nearest", params={"lat": 123, "lon": 0})
    assert bad.status_code == 422 and "error" in bad.json()


def test_unknown_path_gets_json_404(client):
    r = client.get("/nowhere")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def _project_containers(project: str) -> list[dict]:
    out = subprocess.run(
        [
            "docker",
            "ps",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--format",
            "{{json .}}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def _by_service(project: str) -> dict[str, list[dict]]:
    by_service: dict[str, list[dict]] = {}
    for c in _project_containers(project):
        name = dict(kv.split("=", 1) for kv in c["Labels"].split(",") if "=" in kv)[
            "com.docker.compose.service"
        ]
        by_service.setdefault(name, []).append(c)
    return by_service


def test_two_healthy_replicas_per_http_service_and_one_worker(e2e_stack):
    opts, _ = e2e_stack
    client = docker_host.connect()
    project = opts.project_name
    docker_healthy(lambda: list(docker_host.snapshot(client, project).containers))
    by_service = _by_service(project)
    for service in SERVICES:
        assert len(by_service[service]) == 2, service
        assert all("(healthy)" in c["Status"] for c in by_service[service]), service
    assert len(by_service["waste-worker"]) == 1
    assert len(by_service["proxy"]) == 1


@pytest.mark.parametrize("service", SERVICES)
def test_image_runs_as_non_root_with_labels_and_healthcheck(
    e2e_stack, head_sha, service
):
    opts, _ = e2e_stack
    container = next(
        c
        for c in _project_containers(opts.project_name)
        if f"com.docker.compose.service={service}," in c["Labels"] + ","
    )
    info = json.loads(
        subprocess.run(
            ["docker", "image", "inspect", container["Image"]],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )[0]["Config"]
    assert info["User"] not in ("", "root", "0")
    assert info["Labels"]["org.opencontainers.image.revision"] == head_sha
    assert info["Healthcheck"]["Test"][0] == "CMD"
