"""Publishing on scratch git repositories against a real registry.

In-process tests replace only Pants (with images derived from the ones the session
built once) and the clock; the registry, Docker and git are real. The bad-input tests
run `./inv publish` in a copy of this repository, as a user would.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from release.adapters import manifest_git
from release.adapters.registry_local import LocalRegistry, LocalRegistryConfig
from release.base.errors import UsageError
from release.gitops import store as manifest_store
from release.model.manifest import ServiceEntry, dumps
from release.model.registry import RegistryError
from release.publish import pipeline as publish

NOW = datetime(2026, 11, 28, 22, 0, 0, tzinfo=timezone.utc)
D = "sha256:" + "d" * 64


class Builds:
    """Stands in for Pants: derives an image per service and records each call.
    `fixed` pins a service to a given local image (to publish the same image twice)."""

    def __init__(self, derive):
        self.derive = derive
        self.calls: list[list[str]] = []
        self.fixed: dict[str, str] = {}

    def __call__(self, selected, info):
        names = [s.name for s in selected]
        self.calls.append(names)
        return {n: self.fixed.get(n) or self.derive(n) for n in names}


class Affected:
    def __init__(self):
        self.table: dict[str, list[str]] = {}
        self.asked: list[str] = []

    def __call__(self, ref, root):
        self.asked.append(ref)
        return self.table.get(ref, [])


@pytest.fixture
def builds(derive_image):
    return Builds(derive_image)


@pytest.fixture
def affected():
    return Affected()


@pytest.fixture
def tools(local_registry, builds, affected):
    return publish.Tools(
        registry=local_registry, build=builds, affected=affected, now=lambda: NOW
    )


def run(repo, tools, **request):
    return publish.publish(publish.PublishRequest(**request), root=repo, tools=tools)


def manifest_bytes(repo, env):
    path = manifest_store.manifest_path(env, repo)
    return path.read_bytes() if path.exists() else None


def test_publish_records_digests_and_commits_only_the_manifest(
    scratch_repo, tools, local_registry, helpers
):
    repo = scratch_repo
    log_before = helpers.git_log(repo)
    sha = helpers.run_git(repo, "rev-parse", "HEAD")
    tag = f"main-{sha[:7]}"

    result = run(repo, tools, env="staging", services=("waste", "auth"))

    assert [p.service for p in result.published] == ["auth", "waste"]
    assert all(p.pushed for p in result.published)
    log = helpers.git_log(repo)
    assert log[1:] == log_before
    assert log[0].split(" ", 1)[1] == (
        f"release(staging): auth 1.0.0 {tag}, waste 1.0.0 {tag}"
    )
    assert result.commit == log[0].split()[0]
    shown = helpers.run_git(repo, "show", "--name-only", "--format=", "HEAD")
    assert shown == "gitops/versions/staging.json"

    manifest = manifest_store.read("staging", repo)
    assert manifest_bytes(repo, "staging").decode() == dumps(manifest)
    for p in result.published:
        entry = manifest.services[p.service]
        repository = f"ecotrack/{p.service}"
        assert entry.image == f"{local_registry.address}/{repository}:{tag}@{p.digest}"
        assert local_registry.digest_of(repository, tag) == p.digest
        assert (entry.version, entry.git_sha) == ("1.0.0", sha)
        assert (entry.deployed_at, entry.deployed_by) == (
            "2026-11-28T22:00:00Z",
            "releaser@example.com",
        )
        assert (entry.replicas, entry.feature_flags) == (2, {})


def test_the_commit_holds_only_the_manifest_whatever_else_is_staged(
    scratch_repo, helpers
):
    repo = scratch_repo
    (repo / "notes.txt").write_text("staged, not part of any release\n")
    helpers.run_git(repo, "add", "notes.txt")
    manifest = manifest_store.read("prod", repo).with_service(
        "waste", ServiceEntry(**NO_DIGEST | {"image": f"{NO_DIGEST['image']}@{D}"})
    )
    commit = manifest_store.save("prod", manifest, "release(prod): waste", repo)
    assert commit == helpers.run_git(repo, "rev-parse", "HEAD")
    shown = helpers.run_git(repo, "show", "--name-only", "--format=", "HEAD")
    assert shown == "gitops/versions/prod.json"
    assert helpers.run_git(repo, "diff", "--cached", "--name-only") == "notes.txt"


def test_unchanged_services_are_neither_built_nor_pushed(
    scratch_repo, tools, builds, affected, helpers
):
    repo = scratch_repo
    first = run(repo, tools, env="staging")  # nothing recorded yet: everything
    assert builds.calls == [["auth", "waste"]]
    assert first.selection == "changed since the staging manifest"
    released_at = first.published[0].image.split(":")[-2].split("@")[0]
    sha1 = helpers.run_git(repo, "rev-parse", "HEAD~1")
    assert released_at == f"main-{sha1[:7]}"
    auth_before = json.loads(manifest_bytes(repo, "staging"))["services"]["auth"]

    main_py = repo / "services" / "waste" / "waste_service" / "main.py"
    main_py.write_text(main_py.read_text() + "# a one-line change\n")
    sha2 = helpers.commit_all(repo, "waste: a one-line change")
    affected.table = {sha1: ["waste"]}

    second = run(repo, tools, env="staging")
    assert builds.calls[-1] == ["waste"]
    assert affected.asked == [sha1]
    assert [p.service for p in second.published] == ["waste"]
    assert second.unchanged == ("auth",)
    doc = json.loads(manifest_bytes(repo, "staging"))
    assert doc["services"]["auth"] == auth_before
    assert doc["services"]["waste"]["git_sha"] == sha2
    diff = helpers.run_git(repo, "diff", "-U0", "HEAD~1", "HEAD", "--", "gitops")
    changed = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert len(changed) == 4  # image and git_sha, old and new: a one-entry diff

    calls = len(builds.calls)
    third = run(repo, tools, env="staging")  # only the manifest commit since
    assert third.published == () and len(builds.calls) == calls
    assert third.commit is None


def test_publishing_the_same_image_again_is_a_no_op(
    scratch_repo, tools, builds, derive_image, helpers
):
    builds.fixed["waste"] = derive_image("waste")
    first = run(scratch_repo, tools, env="local", services=("waste",))
    again = run(scratch_repo, tools, env="local", services=("waste",))
    assert again.published[0].digest == first.published[0].digest
    assert not again.published[0].pushed  # the tag already held this very image
    assert again.published[0].previous_digest == first.published[0].digest


def test_local_is_written_but_never_committed(scratch_repo, tools, helpers):
    log_before = helpers.git_log(scratch_repo)
    result = run(scratch_repo, tools, services=("auth",))  # env local by default
    assert result.env == "local" and result.commit is None
    assert (
        manifest_store.read("local", scratch_repo).services["auth"].version == "1.0.0"
    )
    assert helpers.git_log(scratch_repo) == log_before
    assert helpers.run_git(scratch_repo, "status", "--porcelain") == ""


def test_replicas_and_flags_are_kept_and_new_services_get_compose_defaults(
    scratch_repo, tools, helpers
):
    old = {
        "image": f"127.0.0.1:1/ecotrack/waste:old-1111111@sha256:{'1' * 64}",
        "version": "0.9.0",
        "git_sha": "1111111",
        "deployed_at": "2026-01-01T00:00:00Z",
        "deployed_by": "someone",
        "replicas": 5,
        "feature_flags": {"new_model": "on"},
    }
    helpers.write_manifest(scratch_repo, "prod", {"waste": old})
    helpers.commit_all(scratch_repo, "prod runs waste 0.9.0")
    run(scratch_repo, tools, env="prod", services=("auth", "waste"))
    services = json.loads(manifest_bytes(scratch_repo, "prod"))["services"]
    assert (services["waste"]["replicas"], services["waste"]["feature_flags"]) == (
        5,
        {"new_model": "on"},
    )
    assert services["auth"]["replicas"] == 3  # gitops/environments/prod/compose.yaml


def test_deployed_by_is_the_ci_actor_in_ci(scratch_repo, tools, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    run(scratch_repo, tools, env="staging", services=("auth",))
    entry = manifest_store.read("staging", scratch_repo).services["auth"]
    assert entry.deployed_by == "octocat (ci)"


def test_a_dirty_tree_publishes_only_locally_with_a_dirty_tag(
    scratch_repo, tools, helpers
):
    version = scratch_repo / "services" / "auth" / "auth_service" / "version.py"
    version.write_text('VERSION = "1.0.1"\n')
    before, log = manifest_bytes(scratch_repo, "staging"), helpers.git_log(scratch_repo)
    with pytest.raises(UsageError, match="uncommitted changes to tracked files"):
        run(scratch_repo, tools, env="staging", services=("auth",))
    assert manifest_bytes(scratch_repo, "staging") == before
    assert helpers.git_log(scratch_repo) == log
    result = run(scratch_repo, tools, services=("auth",))
    assert re.search(r"-dirty-[0-9a-f]{12}$", result.tag), result.tag
    assert result.published[0].version == "1.0.1"
    # The tag hashes the uncommitted diff: the same edit gets the same tag (a
    # rebuild of it then finds its image in the registry), another edit another.
    assert result.tag.endswith(manifest_git.dirty_fingerprint(scratch_repo)[:12])


def test_a_tag_holding_another_digest_is_refused(
    scratch_repo, tools, local_registry, derive_image, helpers
):
    sha = helpers.run_git(scratch_repo, "rev-parse", "HEAD")
    local_registry.push(derive_image("waste"), "ecotrack/waste", f"main-{sha[:7]}")
    before, log = manifest_bytes(scratch_repo, "staging"), helpers.git_log(scratch_repo)
    with pytest.raises(RegistryError, match="already exists with digest"):
        run(scratch_repo, tools, env="staging", services=("waste",))
    assert manifest_bytes(scratch_repo, "staging") == before
    assert helpers.git_log(scratch_repo) == log


def test_a_registry_that_is_down_changes_nothing(
    scratch_repo, tools, registry_down_port, tmp_path, helpers
):
    config = LocalRegistryConfig(port=registry_down_port, home=tmp_path / "reg")
    tools.registry = LocalRegistry(config)
    before, log = manifest_bytes(scratch_repo, "staging"), helpers.git_log(scratch_repo)
    with pytest.raises(RegistryError, match="answers but not as a registry"):
        run(scratch_repo, tools, env="staging", services=("waste",))
    assert manifest_bytes(scratch_repo, "staging") == before
    assert helpers.git_log(scratch_repo) == log


def test_a_failing_commit_puts_the_manifest_back(scratch_repo, tools, helpers):
    hook = scratch_repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'refused by a hook' >&2\nexit 1\n")
    hook.chmod(0o755)
    before, log = manifest_bytes(scratch_repo, "staging"), helpers.git_log(scratch_repo)
    with pytest.raises(Exception, match="git commit"):
        run(scratch_repo, tools, env="staging", services=("auth",))
    assert manifest_bytes(scratch_repo, "staging") == before
    assert helpers.git_log(scratch_repo) == log
    assert helpers.run_git(scratch_repo, "status", "--porcelain") == ""


# -- bad input through the CLI: one line, non-zero, nothing changed -------------------

NO_DIGEST = {
    "image": "127.0.0.1:5000/ecotrack/waste:main-1234567",
    "version": "1.0.0",
    "git_sha": "1234567",
    "deployed_at": "2026-11-28T22:00:00Z",
    "deployed_by": "x",
    "replicas": 2,
    "feature_flags": {},
}
IMAGE = f"{NO_DIGEST['image']}@sha256:{'e' * 64}"


@pytest.fixture(scope="module")
def tooling_clone(tmp_path_factory, helpers):
    return helpers.make_tooling_clone(tmp_path_factory.mktemp("clone"))


def _set_staging(repo, helpers, text: str | None) -> None:
    if text is not None:
        (repo / "gitops" / "versions" / "staging.json").write_text(text)
        helpers.commit_all(repo, "test setup")


def _manifest_doc(services) -> str:
    return json.dumps({"environment": "staging", "services": services}, indent=2)


@pytest.mark.parametrize(
    "args, staging, expected",
    [
        pytest.param(
            ["publish", "--service", "nope", "--env", "staging"],
            None,
            "error: unknown service nope (known: auth, locations, recycling, users, "
            "waste, proxy)",
            id="unknown-service",
        ),
        pytest.param(
            ["publish", "--env", "moon"],
            None,
            "error: unknown environment 'moon' (known: local, staging, prod)",
            id="unknown-environment",
        ),
        pytest.param(
            ["publish", "--env", "staging", "--service", "waste"],
            "{oops\n",
            "staging.json: not valid JSON",
            id="manifest-not-json",
        ),
        pytest.param(
            ["publish", "--env", "staging", "--service", "waste"],
            _manifest_doc({"waste": {**NO_DIGEST, "image": IMAGE, "replicas": -1}}),
            "invalid manifest at services/waste/replicas",
            id="manifest-fails-schema",
        ),
        pytest.param(
            ["publish", "--env", "staging", "--service", "waste"],
            _manifest_doc({"waste": NO_DIGEST}),
            "invalid manifest at services/waste/image",
            id="image-without-digest",
        ),
        pytest.param(
            ["publish", "--env", "staging", "--registry", "quay"],
            None,
            "error: unknown registry 'quay' (known: local, ecr)",
            id="unknown-registry",
        ),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    tooling_clone, helpers, args, staging, expected
):
    repo = tooling_clone
    _set_staging(repo, helpers, staging)
    path = repo / "gitops" / "versions" / "staging.json"
    before, log = path.read_bytes(), helpers.git_log(repo)
    r = helpers.inv_in(repo, *args)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode != 0
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert expected in lines[0]
    assert "Traceback" not in r.stdout + r.stderr
    assert path.read_bytes() == before and helpers.git_log(repo) == log


def test_registry_down_through_the_cli(tooling_clone, helpers, registry_down_port):
    repo = tooling_clone
    _set_staging(repo, helpers, _manifest_doc({}))
    path = repo / "gitops" / "versions" / "staging.json"
    before, log = path.read_bytes(), helpers.git_log(repo)
    r = helpers.inv_in(
        repo,
        "publish",
        "--env",
        "staging",
        "--service",
        "waste",
        env={"ECOTRACK_REGISTRY_PORT": str(registry_down_port)},
    )
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"error: 127.0.0.1:{registry_down_port} answers but not as a registry "
        "(HTTP 503 on /v2/); free the port or set ECOTRACK_REGISTRY_PORT"
    )
    assert path.read_bytes() == before and helpers.git_log(repo) == log
