"""The release flow end to end, as `.github/workflows/` runs it: replayed from the
workflow files themselves (testing/workflow_replay.py) against stand-ins for GitHub,
AWS and the two EC2 hosts (testing/release_flow.py says which).

One scenario, in order:
1. a one-line change to recycling, as a pull request: the matrix holds exactly
   recycling, which is linted, tested and packaged; nothing is published;
2. merged: recycling's image is in ECR and staging.json changes in one pushed commit;
3. that commit starts deploy.yml: staging rolls recycling under open-loop load with
   no failed request; prod is not deployed;
4. promote.yml opens a pull request changing prod.json; merged, deploy.yml rolls the
   same digest on prod, under load;
5. a broken release (its containers never become healthy) reaches staging: the
   staging deploy job fails with the container's last log lines, staging keeps
   serving the previous release, and prod is untouched.

The log of every job and step is written to $ECOTRACK_FLOW_LOG (default
/tmp/ecotrack-release-flow.log).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from testing.load_stats import percentile
from testing.release_flow import ReleaseWorld, release_records
from testing.rollout import Load
from testing.workflow_runner import FAILURE, SKIPPED, SUCCESS, Event

ROOT = Path(__file__).resolve().parents[1]

SERVICE = "recycling"
PATH = f"/{SERVICE}/guidelines"
RATE = 40.0  # requests per second, open loop, at the host's proxy
# Two replicas of the service that rolls, one of the others (a small host).
REPLICAS = {"auth": 1, "users": 1, "waste": 1, "recycling": 2, "locations": 1}
LOG = Path(os.environ.get("ECOTRACK_FLOW_LOG", "/tmp/ecotrack-release-flow.log"))


@pytest.fixture(scope="module")
def world(service_images):
    if os.geteuid() != 0:
        pytest.skip("the replay creates the runner's account and hosts: run as root")
    with ReleaseWorld(service_images, REPLICAS) as w:
        try:
            yield w
        finally:
            w.write_log(LOG)


def ok(run, *jobs: str) -> None:
    for job in jobs:
        if run.results[job].result != SUCCESS:
            failed = [s for s in run.runner.log if s.result == FAILURE]
            said = "\n".join(f"{s.job} | {s.name}\n{s.output[-4000:]}" for s in failed)
            pytest.fail(f"{run.name}/{job}: {run.results[job].result}\n{said}")


def digest(entry) -> str:
    return entry.image.rsplit("@", 1)[1]


def deploy_under_load(world, env: str, event: Event):
    # Through HTTPS, as users reach staging and prod (plain HTTP only redirects).
    https = world.https_port(env)
    with Load(https, PATH, rate=RATE, tls_ca=str(world.tls.ca)) as load:
        run = world.replay("deploy.yml", event)
    latencies = [r.latency for r in load.results if not r.error]
    world.note(
        f"open-loop HTTPS load at {env}'s proxy during the deploy: {len(load.results)} "
        f"requests at {RATE:g}/s over {load.stopped_at - load.started_at:.1f} s, "
        f"{len(load.failures)} failed, p99 {percentile(latencies, 0.99) * 1000:.0f} ms"
    )
    return run, load


def assert_served_throughout(load: Load) -> None:
    seconds = load.stopped_at - load.started_at
    assert load.failures == [], load.failures[:5]
    # Open loop: every request due during the deploy was sent and answered.
    assert len(load.results) >= 0.9 * RATE * seconds, (len(load.results), seconds)


def test_pull_request_to_prod_and_a_broken_release(world):
    # Both hosts run 1.0.0 first: a manual run of deploy.yml per environment.
    for env in ("staging", "prod"):
        start = Event("workflow_dispatch", world.head(), inputs={"environment": env})
        run = world.replay("deploy.yml", start)
        ok(run, "environments", env)
    first = digest(world.first[SERVICE])
    for env in ("staging", "prod"):
        assert [first in image for image in world.images_on(env, SERVICE)] == [True] * 2

    # 1. A pull request: exactly recycling is linted, tested and packaged.
    version = f"services/{SERVICE}/{SERVICE}_service/version.py"
    world.commit_change("release-1.1", version, '"1.0.0"', '"1.1.0"')
    pr = world.pull_request("release-1.1")
    assert world.workflows_for(pr) == ["ci.yml"]
    images_before = len(world.ecr.images(f"ecotrack/{SERVICE}"))
    ci = world.replay(
        "ci.yml", pr, leave_out={"shared": "not the flow", "e2e": "the suite itself"}
    )
    ok(ci, "changes", "service")
    assert ci.results["changes"].outputs["any"] == "true"
    matrix = ci.results["changes"].outputs["matrix"]
    assert '"service": "recycling"' in matrix and matrix.count('"service"') == 1
    assert ci.results["record"].result == SKIPPED
    assert len(world.ecr.images(f"ecotrack/{SERVICE}")) == images_before
    assert release_records(world.runner) == []

    # 2. Merged: the image goes to ECR, staging.json changes in one commit.
    merged = world.merge("release-1.1", "Merge pull request #1: recycling 1.1.0")
    ci = world.replay(
        "ci.yml",
        merged,
        leave_out={"shared": "not the flow", "e2e": "the suite itself"},
    )
    ok(ci, "changes", "service", "record")
    pushed = world.ecr.images(f"ecotrack/{SERVICE}")
    assert len(pushed) == images_before + 1
    staged = world.manifest("staging").services[SERVICE]
    new = digest(staged)
    assert new == max(pushed, key=lambda i: i["imagePushedAt"])["imageDigest"]
    assert staged.version == "1.1.0" and new != first
    assert world.commits_between(merged.sha, world.head()) == [world.head()]
    assert world.files_changed(merged.sha, world.head()) == [
        "gitops/versions/staging.json"
    ]

    # 3. The manifest commit deploys staging (only), under load.
    record_push = world.push_event(before=merged.sha)
    assert world.workflows_for(record_push) == ["ci.yml", "deploy.yml"]
    ci = world.replay(
        "ci.yml",
        record_push,
        leave_out={"shared": "not the flow", "e2e": "the suite itself"},
    )
    ok(ci, "changes")
    assert ci.results["changes"].outputs["any"] == "false"  # nothing to publish again
    assert ci.results["service"].result == SKIPPED
    deploy, load = deploy_under_load(world, "staging", record_push)
    ok(deploy, "environments", "staging")
    assert deploy.results["prod"].result == SKIPPED
    assert_served_throughout(load)
    assert [new in image for image in world.images_on("staging", SERVICE)] == [True] * 2
    assert [first in image for image in world.images_on("prod", SERVICE)] == [True] * 2

    # 4. Promote: a pull request changing prod.json; merged, prod rolls that digest.
    dispatch = Event("workflow_dispatch", world.head(), inputs={"services": SERVICE})
    promote = world.replay("promote.yml", dispatch)
    ok(promote, "promote")
    (pull,) = world.runner.pulls()
    assert pull["base"] == "main" and pull["head"].startswith("promote/")
    assert world.files_changed(world.head(), world.head(pull["head"])) == [
        "gitops/versions/prod.json"
    ]
    assert digest(world.manifest("prod", pull["head"]).services[SERVICE]) == new
    before = world.head()
    promoted = world.merge(pull["head"], f"Merge pull request #{pull['number']}")
    assert world.files_changed(before, promoted.sha) == ["gitops/versions/prod.json"]
    assert world.workflows_for(promoted) == ["ci.yml", "deploy.yml"]
    deploy, load = deploy_under_load(world, "prod", promoted)
    ok(deploy, "environments", "prod")
    assert deploy.results["staging"].result == SKIPPED
    assert_served_throughout(load)
    assert [new in image for image in world.images_on("prod", SERVICE)] == [True] * 2

    # 5. A broken release reaches staging: the job fails, staging keeps 1.1.0.
    cli = f"services/{SERVICE}/{SERVICE}_service/cli.py"
    broken = world.commit_change(
        "main",
        cli,
        '    settings = load_settings_or_exit("recycling")\n',
        '    settings = load_settings_or_exit("recycling")\n'
        '    open("/etc/ecotrack/recycling.toml").close()  # no host has this file\n',
    )
    ci = world.replay(
        "ci.yml",
        Event("push", broken, before=promoted.sha),
        leave_out={"shared": "not the flow", "e2e": "the suite itself"},
    )
    ok(ci, "changes", "service", "record")
    bad = digest(world.manifest("staging").services[SERVICE])
    assert bad != new
    deploy, load = deploy_under_load(world, "staging", world.push_event(before=broken))
    assert deploy.results["staging"].result == FAILURE
    assert deploy.results["prod"].result == SKIPPED
    failed_step = [
        s for s in world.runner.log if s.result == FAILURE and "Deploy" in s.name
    ][-1]
    assert "recycling.toml" in failed_step.output  # the container's last log lines
    assert_served_throughout(load)
    assert [new in image for image in world.images_on("staging", SERVICE)] == [True] * 2
    assert [new in image for image in world.images_on("prod", SERVICE)] == [True] * 2


def test_an_ecr_login_that_fails_is_one_line(world, helpers, tmp_path):
    """The registry refuses the login (as ECR does an expired token): publish stops
    before building, with one line, and the manifest and history are untouched."""
    repo = helpers.make_tooling_clone(tmp_path / "clone")
    path = repo / "gitops" / "versions" / "staging.json"
    before, log = path.read_bytes(), helpers.git_log(repo)
    env = {
        **world.ecr.env,
        "AWS_PROFILE": None,
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
    }
    world.ecr.refuse_logins = True
    try:
        r = helpers.inv_in(
            repo,
            *("publish", "--registry", "ecr", "--env", "staging", "--service", "waste"),
            env=env,
        )
    finally:
        world.ecr.refuse_logins = False
    assert r.returncode == 1
    (line,) = r.stderr.strip().splitlines()
    # What follows is Docker's own last line (for a registry on 127.0.0.1 it tries
    # https, which answers 401, then plain http, and names that).
    assert line.startswith(f"error: docker login to {world.ecr.host} failed: "), line
    assert path.read_bytes() == before and helpers.git_log(repo) == log
