"""Bad input to `./inv promote`, `history` and `rollback`, through the CLI in a copy
of this repository: one line, a non-zero exit, and the manifests and git history as
they were. And `./inv history --json` as a script reads it."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def tooling_clone(tmp_path_factory, helpers):
    return helpers.make_tooling_clone(tmp_path_factory.mktemp("clone-promote"))


def _entry(image: str, version: str = "1.0.0") -> dict:
    return {
        "image": image,
        "version": version,
        "git_sha": "1234567",
        "deployed_at": "2026-11-28T22:00:00Z",
        "deployed_by": "ci",
        "replicas": 2,
        "feature_flags": {},
    }


def _cli(helpers, repo, local_registry, *args):
    files = [repo / "gitops" / "versions" / f"{e}.json" for e in ("staging", "prod")]
    before = [f.read_bytes() for f in files], helpers.git_log(repo)
    env = {
        "ECOTRACK_REGISTRY_PORT": str(local_registry.config.port),
        "ECOTRACK_REGISTRY_DIR": str(local_registry.config.home),
    }
    r = helpers.inv_in(repo, *args, env=env)
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert ([f.read_bytes() for f in files], helpers.git_log(repo)) == before
    return lines[0]


def test_promote_a_tag_that_is_not_in_the_registry(
    tooling_clone, helpers, local_registry
):
    image = f"{local_registry.address}/ecotrack/waste:never-1234567@sha256:{'a' * 64}"
    helpers.write_manifest(tooling_clone, "staging", {"waste": _entry(image)})
    helpers.commit_all(tooling_clone, "staging names an image never pushed")
    line = _cli(helpers, tooling_clone, local_registry, "promote", "--env", "prod")
    assert line == (
        f"error: tag {local_registry.address}/ecotrack/waste:never-1234567 "
        "is not in the registry"
    )


def test_promote_with_nothing_to_promote(helpers, local_registry, tmp_path):
    clone = helpers.make_tooling_clone(tmp_path / "clone")  # prod changes here
    image = f"{local_registry.address}/ecotrack/waste:main-1234567@sha256:{'b' * 64}"
    for env in ("staging", "prod"):
        helpers.write_manifest(clone, env, {"waste": _entry(image)})
    helpers.commit_all(clone, "prod runs what staging runs")
    line = _cli(helpers, clone, local_registry, "promote", "--env", "prod")
    assert line == (
        "error: nothing to promote: prod already runs what staging runs (waste)"
    )


def test_promote_a_digest_that_does_not_match(
    tooling_clone, helpers, local_registry, derive_image
):
    digest = local_registry.push(derive_image("auth"), "ecotrack/auth", "main-7654321")
    wrong = "sha256:" + "b" * 64
    image = f"{local_registry.address}/ecotrack/auth:main-7654321@{wrong}"
    helpers.write_manifest(tooling_clone, "staging", {"auth": _entry(image)})
    helpers.commit_all(tooling_clone, "staging names the wrong digest")
    line = _cli(
        helpers,
        tooling_clone,
        local_registry,
        "promote",
        "--from",
        "staging",
        "--env",
        "prod",
    )
    name = f"{local_registry.address}/ecotrack/auth:main-7654321"
    assert line == (
        f"error: digest mismatch for {name}: expected {wrong[:19]}, "
        f"the registry has {digest[:19]}"
    )


def test_promote_dry_run_json_through_the_cli_changes_nothing(
    helpers, local_registry, derive_image, tmp_path
):
    clone = helpers.make_tooling_clone(tmp_path / "clone")
    digest = local_registry.push(derive_image("auth"), "ecotrack/auth", "main-5551234")
    image = f"{local_registry.address}/ecotrack/auth:main-5551234@{digest}"
    helpers.write_manifest(clone, "staging", {"auth": _entry(image)})
    helpers.commit_all(clone, "staging runs auth")
    prod = clone / "gitops" / "versions" / "prod.json"
    before = prod.read_bytes(), helpers.git_log(clone)
    env = {
        "ECOTRACK_REGISTRY_PORT": str(local_registry.config.port),
        "ECOTRACK_REGISTRY_DIR": str(local_registry.config.home),
    }
    r = helpers.inv_in(
        clone, "promote", "--env", "prod", "--dry-run", "--json", env=env
    )
    assert r.returncode == 3, r.stderr  # differs: a real promote would change prod
    data = json.loads(r.stdout)
    assert (data["dry_run"], data["commit"]) == (True, None)
    assert [(p["service"], p["digest"], p["tag"]) for p in data["promoted"]] == [
        ("auth", digest, "prod-main-5551234")
    ]
    assert (prod.read_bytes(), helpers.git_log(clone)) == before
    assert local_registry.digest_of("ecotrack/auth", "prod-main-5551234") is None


@pytest.mark.parametrize(
    "args, expected",
    [
        pytest.param(
            ["promote", "--from", "staging", "--env", "moon"],
            "error: unknown environment 'moon' (known: local, staging, prod)",
            id="promote-unknown-env",
        ),
        pytest.param(
            ["promote", "--env", "prod", "--service", "nope"],
            "error: unknown service nope (known: auth, locations, recycling, users, "
            "waste)",
            id="promote-unknown-service",
        ),
        pytest.param(
            ["history", "--env", "moon"],
            "error: unknown environment 'moon' (known: local, staging, prod)",
            id="history-unknown-env",
        ),
        pytest.param(
            ["history", "--service", "nope"],
            "error: unknown service nope",
            id="history-unknown-service",
        ),
        pytest.param(
            ["promote", "--from", "staging"],
            "error: --env is required: the environment to promote into",
            id="promote-without-env",
        ),
        pytest.param(
            ["rollback", "--service", "waste"],
            "error: --env is required: the environment to roll back",
            id="rollback-without-env",
        ),
        pytest.param(
            ["rollback", "--env", "local", "--service", "waste"],
            "error: the local manifest is not kept in git",
            id="rollback-local",
        ),
        pytest.param(
            ["rollback", "--env", "prod", "--service", "nope"],
            "error: unknown service nope",
            id="rollback-unknown-service",
        ),
        pytest.param(
            ["rollback", "--env", "prod", "--service", "waste"],
            "error: waste is not in the prod manifest",
            id="rollback-not-deployed",
        ),
    ],
)
def test_bad_input_is_one_line(tooling_clone, helpers, local_registry, args, expected):
    assert _cli(helpers, tooling_clone, local_registry, *args).startswith(expected)


def test_history_cli_prints_json(tooling_clone, helpers):
    image = f"127.0.0.1:5000/ecotrack/users:main-1234567@sha256:{'c' * 64}"
    helpers.write_manifest(tooling_clone, "prod", {"users": _entry(image, "2.0.0")})
    commit = helpers.commit_all(
        tooling_clone, "release(prod): users 2.0.0 main-1234567"
    )
    r = helpers.inv_in(tooling_clone, "history", "--env", "prod", "--json")
    assert r.returncode == 0, r.stderr
    events = json.loads(r.stdout)["events"]
    assert events[0] | {"committed_at": None} == {
        "env": "prod",
        "service": "users",
        "action": "added",
        "when": "2026-11-28T22:00:00Z",
        "who": "ci",
        "commit": commit,
        "committed_at": None,
        "subject": "release(prod): users 2.0.0 main-1234567",
        "from_version": None,
        "from_digest": None,
        "to_version": "2.0.0",
        "to_digest": f"sha256:{'c' * 64}",
        "to_image": image,
        "changed": [],
    }
    table = helpers.inv_in(tooling_clone, "history", "--service", "users")
    assert (
        table.returncode == 0
        and "users" in table.stdout
        and commit[:12] in table.stdout
    )
