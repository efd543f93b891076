"""Promote, history and rollback on scratch git repositories against a real registry
(this run's docker-registry), and a rollback through `./inv`, deploy included. Bad
input through the CLI: tests/test_promote_history_rollback_cli.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from release.base.errors import UsageError
from release.cli import history as history_cmd
from release.gitops import promote, rollback
from release.gitops import store as manifest_store
from release.model.registry import RegistryError
from release.publish import pipeline as publish

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)


class Releaser:
    """Publishes to a scratch repo the way CI would: a commit, then `publish`."""

    def __init__(self, repo, registry, derive_image, helpers):
        self.repo, self.helpers, self.n = repo, helpers, 0
        self.tools = publish.Tools(
            registry=registry,
            build=lambda selected, info: {
                s.name: derive_image(s.name) for s in selected
            },
            affected=lambda ref, root: [],
            now=lambda: T0 + timedelta(minutes=self.n),
        )

    def release(self, env="staging", **versions):
        """Sets each named service's version, commits, publishes those services."""
        self.n += 1
        for name, version in versions.items():
            path = self.repo / "services" / name / f"{name}_service" / "version.py"
            path.write_text(f'VERSION = "{version}"\n')
        if self.helpers.run_git(self.repo, "status", "--porcelain"):
            self.helpers.commit_all(self.repo, f"bump {versions}")
        request = publish.PublishRequest(env=env, services=tuple(versions))
        return publish.publish(request, root=self.repo, tools=self.tools)


@pytest.fixture
def releaser(scratch_repo, local_registry, derive_image, helpers):
    return Releaser(scratch_repo, local_registry, derive_image, helpers)


def snapshot(repo, env, helpers):
    return manifest_store.manifest_path(env, repo).read_bytes(), helpers.git_log(repo)


def test_promote_copies_the_exact_digests_and_retags_in_the_registry(
    releaser, scratch_repo, local_registry, helpers
):
    releaser.release(auth="1.0.0", waste="1.3.0")
    staging = manifest_store.read("staging", scratch_repo)
    log = helpers.git_log(scratch_repo)

    result = promote.promote("staging", "prod", root=scratch_repo)

    prod = manifest_store.read("prod", scratch_repo)
    assert [p.service for p in result.promoted] == ["auth", "waste"]
    for p in result.promoted:
        src, dst = staging.services[p.service], prod.services[p.service]
        assert dst.image_ref.digest == src.image_ref.digest == p.digest
        assert dst.image_ref.tag == f"prod-{src.image_ref.tag}" == p.tag
        assert (dst.version, dst.git_sha) == (src.version, src.git_sha)
        assert dst.replicas == 3  # prod's Compose default, not staging's 2
        assert local_registry.digest_of(f"ecotrack/{p.service}", p.tag) == p.digest
    new_log = helpers.git_log(scratch_repo)
    assert new_log[1:] == log
    assert (
        new_log[0].split(" ", 1)[1].startswith("release(prod): auth 1.0.0 prod-main-")
    )
    assert new_log[0].endswith("(promoted from staging)")
    shown = helpers.run_git(scratch_repo, "show", "--name-only", "--format=", "HEAD")
    assert shown == "gitops/versions/prod.json"

    again = promote.promote("staging", "prod", root=scratch_repo)
    assert again.promoted == () and again.commit is None
    assert helpers.git_log(scratch_repo) == new_log


def test_promote_one_service_leaves_the_others(releaser, scratch_repo, helpers):
    releaser.release(auth="1.0.0", waste="1.3.0")
    promote.promote("staging", "prod", root=scratch_repo)
    releaser.release(auth="1.0.1", waste="1.4.0")
    before = json.loads(manifest_store.manifest_path("prod", scratch_repo).read_text())
    result = promote.promote("staging", "prod", ["waste"], root=scratch_repo)
    after = json.loads(manifest_store.manifest_path("prod", scratch_repo).read_text())
    assert [p.service for p in result.promoted] == ["waste"]
    assert after["services"]["auth"] == before["services"]["auth"]
    assert after["services"]["waste"]["version"] == "1.4.0"


def test_history_shows_who_deployed_what_when(releaser, scratch_repo, helpers):
    releaser.release(auth="1.0.0", waste="1.0.0")
    releaser.release(waste="1.1.0")
    promote.promote("staging", "prod", ["waste"], root=scratch_repo)

    rep = history_cmd.report(root=scratch_repo)
    rows = [
        (e.env, e.service, e.action, e.from_version, e.to_version) for e in rep.events
    ]
    assert rows == [
        ("prod", "waste", "added", None, "1.1.0"),
        ("staging", "waste", "updated", "1.0.0", "1.1.0"),
        ("staging", "auth", "added", None, "1.0.0"),
        ("staging", "waste", "added", None, "1.0.0"),
    ]
    commits = helpers.run_git(
        scratch_repo, "log", "--format=%H", "--", "gitops/versions"
    ).split()
    assert [e.commit for e in rep.events] == [
        commits[0],
        commits[1],
        commits[2],
        commits[2],
    ]
    updated = rep.events[1]
    assert updated.who == "releaser@example.com"
    assert updated.when == "2026-11-28T12:02:00Z"
    assert updated.from_digest != updated.to_digest

    only = history_cmd.report(env="staging", services=["waste"], root=scratch_repo)
    assert {(e.env, e.service) for e in only.events} == {("staging", "waste")}
    data = json.loads(json.dumps(only.to_dict()))
    assert data["events"][0]["to_version"] == "1.1.0"


def test_rollback_restores_one_services_earlier_entry(releaser, scratch_repo, helpers):
    releaser.release(auth="1.0.0", waste="1.0.0")
    releaser.release(waste="1.1.0")
    releaser.release(waste="1.2.0")
    timeline = history_cmd.report(env="staging", services=["waste"], root=scratch_repo)
    images = {e.to_version: e.to_image for e in timeline.events}
    before = json.loads(
        manifest_store.manifest_path("staging", scratch_repo).read_text()
    )
    log = helpers.git_log(scratch_repo)

    rollback.rollback("staging", "waste", root=scratch_repo)

    after = json.loads(
        manifest_store.manifest_path("staging", scratch_repo).read_text()
    )
    waste = after["services"]["waste"]
    assert (waste["image"], waste["version"]) == (images["1.1.0"], "1.1.0")
    assert after["services"]["auth"] == before["services"]["auth"]
    new_log = helpers.git_log(scratch_repo)
    assert new_log[1:] == log  # a new commit on top: nothing rewritten
    subject = new_log[0].split(" ", 1)[1]
    assert subject.startswith("release(staging): waste 1.1.0 main-")
    assert "(rollback from 1.2.0 main-" in subject

    rollback.rollback("staging", "waste", to_version="1.0.0", root=scratch_repo)
    waste = manifest_store.read("staging", scratch_repo).services["waste"]
    assert (waste.image, waste.version) == (images["1.0.0"], "1.0.0")

    before_bytes, log = snapshot(scratch_repo, "staging", helpers)
    with pytest.raises(UsageError, match="goes further back"):
        rollback.rollback("staging", "waste", steps=9, root=scratch_repo)
    with pytest.raises(UsageError, match=r"no earlier release of waste 7.0.0"):
        rollback.rollback("staging", "waste", to_version="7.0.0", root=scratch_repo)
    assert snapshot(scratch_repo, "staging", helpers) == (before_bytes, log)


def test_rollback_refuses_an_image_gone_from_the_registry(
    releaser, scratch_repo, local_registry, helpers
):
    releaser.release(waste="1.0.0")
    releaser.release(waste="1.1.0")
    # History names an image the registry no longer has (e.g. expired by policy).
    doc = json.loads(manifest_store.manifest_path("staging", scratch_repo).read_text())
    entry = doc["services"]["waste"]
    repository, _, digest = entry["image"].rpartition("@")
    entry["image"] = f"{repository.rsplit(':', 1)[0]}:gone-1234567@{digest}"
    entry["version"] = "1.1.1"
    helpers.write_manifest(scratch_repo, "staging", doc["services"])
    helpers.commit_all(scratch_repo, "hand edit")
    releaser.release(waste="1.2.0")
    before = snapshot(scratch_repo, "staging", helpers)
    with pytest.raises(
        RegistryError, match=r"waste:gone-1234567 is not in the registry"
    ):
        rollback.rollback("staging", "waste", root=scratch_repo)
    assert snapshot(scratch_repo, "staging", helpers) == before


# -- rollback through the CLI, deploy included ----------------------------------------


def test_rollback_cli_commits_then_deploys_the_earlier_image(
    tmp_path, helpers, local_registry, service_images
):
    from dataclasses import asdict

    from testing.commands import remove_host_state
    from testing.rollout import Releases, docker

    releases = Releases(local_registry, service_images)
    old, new = releases.entry("recycling", "1.0.0"), releases.entry(
        "recycling", "1.1.0"
    )
    repo = helpers.make_tooling_clone(tmp_path / "clone")
    helpers.write_manifest(repo, "staging", {"recycling": asdict(old)})
    helpers.commit_all(repo, "release(staging): recycling 1.0.0")
    helpers.write_manifest(repo, "staging", {"recycling": asdict(new)})
    helpers.commit_all(repo, "release(staging): recycling 1.1.0")
    project = f"ecotrack-rollback-{uuid.uuid4().hex[:8]}"
    where = ["--env", "staging", "--project", project]

    def running_images() -> list[str]:
        """What runs, as `<image without digest> <version label>`."""
        out = docker(
            "ps",
            "--filter",
            f"label=com.docker.compose.project={project}",
            "--filter",
            "label=com.docker.compose.service=recycling",
            "--format",
            '{{.Image}} {{.Label "io.ecotrack.version"}}',
        )
        return sorted(out.splitlines())

    def expected(entry) -> list[str]:
        return [f"{entry.image.split('@')[0]} {entry.version}"] * 2

    try:
        deployed = helpers.inv_in(repo, "deploy", *where, "--service", "recycling")
        assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr
        assert running_images() == expected(new)

        r = helpers.inv_in(repo, "rollback", *where, "--service", "recycling")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr
        assert "rollback from 1.1.0" in helpers.git_log(repo)[0]
        assert running_images() == expected(old)
    finally:
        ids = docker(
            "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"
        )
        if ids:
            docker("rm", "-f", *ids.split(), check=False)
        docker("network", "rm", f"{project}_backend", check=False)
        remove_host_state(project)
        releases.cleanup()
