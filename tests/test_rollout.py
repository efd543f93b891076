"""`./inv deploy` on the real Docker engine: plan, rolling update under load, the
worker restarted stop-first, automatic rollback, the deploy lock, scaling.

One stack for the module (proxy, waste with 2 replicas, waste-worker), deployed from
manifests whose images are in the run's own registry; tests run in file order and
each starts from the state the previous one left.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from release.adapters import deploy_lock, docker_host
from release.adapters.deploy_lock import lock_name
from release.adapters.proxy import Proxy, socket_from_here
from release.engine import deploy_log
from testing.rollout import Load, Stack, docker, running

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stack(state_home, tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("rollout"))
    yield s
    s.down()


def waste(releases, version="1.0.0", **kw):
    return releases.manifest(waste=releases.entry("waste", version, **kw))


def versions(stack, service="waste"):
    return sorted(c.version for c in running(stack.containers(service)))


def test_dry_run_plans_then_deploy_creates_then_in_sync(stack, releases):
    m = waste(releases)
    r = stack.deploy(m, "--dry-run")
    assert r.returncode == 3, r.stderr
    assert "create" in r.stdout and "waste-worker" in r.stdout
    assert stack.containers("waste") == []  # a dry run changes nothing

    r = stack.deploy(m, "--dry-run", "--json")
    assert r.returncode == 3
    plan = json.loads(r.stdout)["plan"]
    assert {s["service"]: s["action"] for s in plan["services"]} == {
        "proxy": "create",
        "waste": "create",
        "waste-worker": "create",
    }

    stack.deploy_ok(m)
    assert versions(stack) == ["1.0.0", "1.0.0"]
    assert len(running(stack.containers("waste-worker"))) == 1
    r = stack.deploy(m, "--dry-run")
    assert r.returncode == 0 and "in sync" in r.stdout, r.stdout
    # Compose still knows them as its own: `docker compose ps` sees every replica.
    names = docker(
        "ps",
        "--filter",
        f"label=com.docker.compose.project={stack.project}",
        "--format",
        "{{.Names}}",
    ).split()
    assert len(names) == 4


def test_rolling_update_under_load_drops_nothing_and_worker_goes_stop_first(
    stack, releases
):
    old = {c.id for c in running(stack.containers("waste"))}
    old_worker = running(stack.containers("waste-worker"))[0]
    jobs = [
        stack.get("/waste/jobs", method="POST", body={"description": f"glass jar {i}"})
        for i in range(5)
    ]
    assert all(status == 202 for status, _ in jobs)
    since = time.time() - 1
    m = waste(releases, "1.1.0", flags={"new_model": "on"})
    with Load(stack.internal_port, "/waste/version", rate=60) as load:
        r = stack.deploy_ok(m, "--json")
    assert len(load.results) > 100
    assert load.failures == []

    result = json.loads(r.stdout)
    assert result["result"] == "ok" and result["exit_code"] == 0
    rows = {s["service"]: s for s in result["services"]}
    assert rows["waste"]["action"] == "roll" and rows["waste"]["result"] == "ok"
    assert (
        rows["waste"]["to"].startswith("1.1.0")
        and "new_model=on" in rows["waste"]["to"]
    )
    assert "start_new" in r.stderr and "switch_traffic" in r.stderr  # live progress

    new = stack.healthy_by_docker("waste")
    assert len(new) == 2 and not old & {c.id for c in new}
    assert all(c.health == "healthy" and c.version == "1.1.0" for c in new)
    assert all(c.flags == {"new_model": "on"} for c in new)
    for _ in range(4):  # both replicas, through the proxy
        status, body = stack.get("/waste/version", port=stack.internal_port)
        assert status == 200 and body["feature_flags"] == {"new_model": "on"}
    everything = stack.containers("waste") + stack.containers("waste-worker")
    assert all(c.state == "running" for c in everything)  # no orphans

    # The old worker exited 0 (its current job done) before the new one started.
    events = list(
        stack.client.events(
            since=since,
            until=time.time(),
            decode=True,
            filters={
                "type": "container",
                "label": [
                    f"com.docker.compose.project={stack.project}",
                    "com.docker.compose.service=waste-worker",
                ],
            },
        )
    )
    died = [e for e in events if e["Action"] == "die" and e["id"] == old_worker.id]
    started = [e for e in events if e["Action"] == "start" and e["id"] != old_worker.id]
    assert died and started, events
    assert died[0]["Actor"]["Attributes"]["exitCode"] == "0"
    assert died[0]["timeNano"] < started[0]["timeNano"]
    for _, job in jobs:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status, body = stack.get(f"/waste/jobs/{job['id']}")
            if body["status"] == "done":
                break
            time.sleep(0.5)
        assert body["status"] == "done", body


def test_failed_health_gate_removes_new_containers_and_old_keep_serving(
    stack, releases
):
    before = sorted(c.id for c in running(stack.containers("waste")))
    worker = running(stack.containers("waste-worker"))[0].id
    with Load(stack.internal_port, "/waste/version", rate=40) as load:
        r = stack.deploy(waste(releases, "1.2.0", healthy=False))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "error: waste:" in r.stderr and "unhealthy" in r.stderr
    assert "last log lines of" in r.stderr  # the failing container's own words
    assert "abort" in r.stdout and "old keep serving" in r.stdout
    assert load.failures == []
    # the generator ran: at least a quarter of the requests due, and 20
    assert len(load.results) >= max(20, load.scheduled() / 4), load.scheduled()
    assert sorted(c.id for c in running(stack.containers("waste"))) == before
    assert all(c.version == "1.1.0" for c in stack.containers("waste"))  # none left
    assert running(stack.containers("waste-worker"))[0].id == worker  # not reached
    attempt = deploy_log.read(stack.project)[-1]
    assert attempt["result"] == "failed" and "unhealthy" in attempt["reason"]
    assert [s["result"] for s in attempt["services"]] == ["failed", "skipped"]
    # The manifest still says 1.2.0: the plan shows the difference.
    assert (
        stack.deploy(waste(releases, "1.2.0", healthy=False), "--dry-run").returncode
        == 3
    )


def test_an_image_missing_from_the_registry_is_one_line_and_old_ones_serve(
    stack, releases
):
    before = sorted(c.id for c in running(stack.containers("waste")))
    entry = releases.entry("waste", "1.1.0")
    gone = entry.image.split("@")[0].rsplit(":", 1)[0] + ":gone@sha256:" + "0" * 64
    m = releases.manifest(waste=dataclasses.replace(entry, image=gone, version="9"))
    with Load(stack.internal_port, "/waste/version", rate=20) as load:
        r = stack.deploy(m)
        time.sleep(2)  # the old ones serve on after the refusal; >= 40 requests due
    assert r.returncode == 1, r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr
    assert "Compose could not create waste" in errors[0], errors[0]
    assert "manifest unknown" in errors[0] or "not found" in errors[0], errors[0]
    assert load.failures == []
    # the generator ran: at least a quarter of the requests due, and 20
    assert len(load.results) >= max(20, load.scheduled() / 4), load.scheduled()
    assert sorted(c.id for c in running(stack.containers("waste"))) == before


def test_a_second_deploy_is_refused_while_one_runs(stack, releases):
    m = waste(releases, "1.3.0")
    # Held by this test process, alive: exactly what a running deploy looks like.
    client = docker_host.connect()
    held = deploy_lock.acquire(
        client, deploy_lock.mine(stack.project, "local", "proxy 1.0.0, waste 1.3.0")
    )
    try:
        started = time.monotonic()
        r = stack.deploy(m)
        assert time.monotonic() - started < 20  # at once, not after a wait
        assert r.returncode == 4, r.stdout + r.stderr
        assert "another deploy of" in r.stderr and "held by" in r.stderr
        assert "since" in r.stderr and "deploying proxy 1.0.0, waste 1.3.0" in r.stderr
        status = stack.inv("lock", "status", "--project", stack.project)
        assert "held by" in status.stdout and "waste 1.3.0" in status.stdout
        assert deploy_log.read(stack.project)[-1]["result"] == "refused"
    finally:
        del held  # `./inv lock release` below releases it, as an operator would
    released = stack.inv("lock", "release", "--project", stack.project)
    assert released.returncode == 0 and "released" in released.stdout
    assert "free" in stack.inv("lock", "status", "--project", stack.project).stdout
    assert docker("ps", "-aq", "--filter", f"name={lock_name(stack.project)}") == ""
    # A run killed once its new containers started leaves them beside the old ones
    # (and its lock, until its lease expires): a re-run takes it over and adopts them.
    first = stack.start_deploy(m, "--lock-lease", "3")
    first.wait_for_line("2 new beside 2 running")
    first.kill()
    time.sleep(3.5)
    assert "taking over an expired deploy lock" in stack.deploy_ok(m).stdout
    assert versions(stack) == ["1.3.0", "1.3.0"]


def test_scale_up_and_down_by_id(stack, releases):
    stack.deploy_ok(waste(releases, "1.3.0", replicas=3))
    assert versions(stack) == ["1.3.0"] * 3
    kept = sorted(running(stack.containers("waste")), key=lambda c: c.created)[:2]
    r = stack.deploy_ok(waste(releases, "1.3.0", replicas=2))
    assert "scale" in r.stdout
    assert sorted(c.id for c in running(stack.containers("waste"))) == sorted(
        c.id for c in kept
    )  # the oldest stay; the youngest is drained and removed


def test_the_proxy_socket_is_reached_from_here_with_the_same_answers(stack):
    # Root on the engine's own machine: the deploy talks to HAProxy's admin socket
    # without `docker exec`; both ways must see the same servers.
    container = stack.client.containers.get(running(stack.containers("proxy"))[0].id)
    path = socket_from_here(container)
    assert path.endswith("/root/run/haproxy/admin.sock"), path
    direct = Proxy(container, socket_path=path)
    seen = direct.all_servers()
    assert direct.socket_path == path  # it did not fall back to exec
    by_exec = Proxy(container).all_servers()

    def slots(servers):
        return {b: sorted((s.name, s.addr) for s in ss) for b, ss in servers.items()}

    assert slots(seen) == slots(by_exec) and seen["waste"], slots(seen)
