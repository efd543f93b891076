"""Promote and rollback on a scratch git repository with an in-memory registry: what a
dry run reports, that it writes nothing, its exit code, and the --json documents.
(The same against a real registry: tests/test_promote_history_rollback.py.)"""

import json
import subprocess
from datetime import datetime, timezone

import pytest

from release.base.errors import ReleaseError
from release.gitops import promote, rollback
from release.gitops import store as manifest_store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
REGISTRY = "127.0.0.1:5000"


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def entry(service: str, n: int, version: str, tag: str = "") -> dict:
    tag = tag or f"main-{n:07x}"
    return {
        "image": f"{REGISTRY}/ecotrack/{service}:{tag}@{digest(n)}",
        "version": version,
        "git_sha": f"{n:07x}",
        "deployed_at": "2026-11-28T22:00:00Z",
        "deployed_by": "ci",
        "replicas": 2,
        "feature_flags": {},
    }


class Registry:
    """Tags by repository, in memory; re-tags are remembered."""

    kind, address = "local", REGISTRY

    def __init__(self):
        self.tags: dict[tuple[str, str], str] = {}
        self.retagged: list[tuple[str, str, str]] = []

    def holds(self, service: str, n: int, tag: str = "") -> None:
        self.tags[(f"ecotrack/{service}", tag or f"main-{n:07x}")] = digest(n)

    def digest_of(self, repository: str, tag: str) -> str | None:
        return self.tags.get((repository, tag))

    def retag(self, repository: str, digest_: str, new_tag: str) -> None:
        self.retagged.append((repository, digest_, new_tag))
        self.tags[(repository, new_tag)] = digest_


def git(root, *args) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def write(root, env: str, services: dict) -> None:
    path = manifest_store.manifest_path(env, root)
    path.write_text(json.dumps({"environment": env, "services": services}) + "\n")


def commit(root, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    for name in ("auth", "waste"):
        (root / "services" / name).mkdir(parents=True)
        (root / "services" / name / "BUILD").write_text(
            f'ecotrack_service(service="{name}", entry_point="x")\n'
        )
    (root / "gitops" / "versions").mkdir(parents=True)
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    git(root, "config", "user.name", "t")
    git(root, "config", "user.email", "t@example.invalid")
    write(root, "staging", {"auth": entry("auth", 1, "1.0.0")})
    write(root, "prod", {})
    commit(root, "base")
    return root


def state(root) -> tuple[str, bytes]:
    """HEAD and prod's manifest: what a dry run must leave as it was."""
    return (
        git(root, "rev-parse", "HEAD"),
        manifest_store.manifest_path("prod", root).read_bytes(),
    )


# -- promote -------------------------------------------------------------------------


def test_promote_dry_run_lists_the_change_and_writes_nothing(repo):
    registry = Registry()
    registry.holds("auth", 1)
    before = state(repo)
    result = promote.promote(
        "staging", "prod", root=repo, registry=registry, now=NOW, dry_run=True
    )
    assert state(repo) == before and registry.retagged == []
    assert result.exit_code == 3 and result.commit is None
    (p,) = result.promoted
    assert (p.service, p.previous_digest, p.digest, p.tag) == (
        "auth",
        None,
        digest(1),
        "prod-main-0000001",
    )
    assert result.message == (
        "release(prod): auth 1.0.0 prod-main-0000001 (promoted from staging)"
    )

    done = promote.promote("staging", "prod", root=repo, registry=registry, now=NOW)
    assert done.exit_code == 0 and done.commit == git(repo, "rev-parse", "HEAD")
    assert done.message == result.message
    assert registry.retagged == [("ecotrack/auth", digest(1), "prod-main-0000001")]

    again = promote.promote(
        "staging", "prod", root=repo, registry=registry, dry_run=True
    )
    assert (again.promoted, again.unchanged, again.exit_code) == ((), ("auth",), 0)


def test_promote_dry_run_still_checks_the_registry(repo):
    before = state(repo)
    with pytest.raises(ReleaseError, match="is not in the registry"):
        promote.promote("staging", "prod", root=repo, registry=Registry(), dry_run=True)
    assert state(repo) == before


def test_promote_json_has_the_documented_keys(repo, capsys):
    registry = Registry()
    registry.holds("auth", 1)
    result = promote.promote(
        "staging", "prod", root=repo, registry=registry, now=NOW, dry_run=True
    )
    promote.render(result, as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {
        "from",
        "env",
        "dry_run",
        "manifest",
        "commit",
        "message",
        "promoted",
        "unchanged",
    }
    assert (data["from"], data["env"], data["dry_run"]) == ("staging", "prod", True)
    assert data["manifest"] == "gitops/versions/prod.json"
    assert set(data["promoted"][0]) == {
        "service",
        "version",
        "previous_version",
        "digest",
        "previous_digest",
        "from_tag",
        "tag",
    }


def test_a_real_promote_with_nothing_to_do_fails_but_a_dry_run_does_not(repo, capsys):
    write(repo, "prod", {"auth": entry("auth", 1, "1.0.0", "prod-main-0000001")})
    commit(repo, "prod runs staging's auth")
    same = promote.promote("staging", "prod", root=repo, registry=Registry())
    with pytest.raises(ReleaseError, match="nothing to promote: prod already runs"):
        promote.render(same)
    dry = promote.promote("staging", "prod", root=repo, dry_run=True)
    promote.render(dry)
    assert dry.exit_code == 0
    assert "nothing to promote" in capsys.readouterr().out


def test_promote_refuses_the_same_environment_naming_the_flags(repo):
    with pytest.raises(ReleaseError, match="--from and --env are both staging"):
        promote.promote("staging", "staging", root=repo)


# -- rollback ------------------------------------------------------------------------


@pytest.fixture
def released(repo):
    """staging's auth went 1.0.0 → 1.1.0; the registry holds both images."""
    write(repo, "staging", {"auth": entry("auth", 2, "1.1.0")})
    commit(repo, "release(staging): auth 1.1.0")
    registry = Registry()
    registry.holds("auth", 1)
    registry.holds("auth", 2)
    return registry


def staging(root) -> tuple[str, bytes]:
    return (
        git(root, "rev-parse", "HEAD"),
        manifest_store.manifest_path("staging", root).read_bytes(),
    )


def test_rollback_dry_run_shows_the_entry_and_writes_nothing(repo, released, capsys):
    before = staging(repo)
    result = rollback.rollback(
        "staging", "auth", root=repo, registry=released, now=NOW, dry_run=True
    )
    assert staging(repo) == before
    assert (result.exit_code, result.commit) == (3, None)
    assert (result.before.version, result.after.version) == ("1.1.0", "1.0.0")
    assert result.message == (
        "release(staging): auth 1.0.0 main-0000001 (rollback from 1.1.0 main-0000002)"
    )
    rollback.render(result)
    out = capsys.readouterr().out
    assert "would commit gitops/versions/staging.json" in out
    assert "nothing committed, nothing deployed" in out

    done = rollback.rollback("staging", "auth", root=repo, registry=released, now=NOW)
    assert done.exit_code == 0 and done.commit == git(repo, "rev-parse", "HEAD")
    assert done.message == result.message


def test_rollback_to_the_version_running_is_already_done(repo, released):
    before = staging(repo)
    dry = rollback.rollback(
        "staging", "auth", to_version="1.1.0", root=repo, dry_run=True
    )
    assert (dry.changes, dry.exit_code) == (False, 0)
    real = rollback.rollback("staging", "auth", to_version="1.1.0", root=repo)
    with pytest.raises(ReleaseError, match="nothing to roll back: staging already"):
        rollback.render(real)
    assert staging(repo) == before


ENTRY = {
    "image",
    "version",
    "git_sha",
    "deployed_at",
    "deployed_by",
    "replicas",
    "feature_flags",
}
ROLLBACK_KEYS = {
    "env",
    "service",
    "dry_run",
    "manifest",
    "commit",
    "message",
    "from",
    "to",
    "deploy",
}


def test_rollback_json_has_the_documented_keys(repo, released, capsys):
    result = rollback.rollback(
        "staging", "auth", root=repo, registry=released, now=NOW, dry_run=True
    )
    rollback.render(result, as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert set(data) == ROLLBACK_KEYS and data["deploy"] is None
    assert set(data["from"]) == set(data["to"]) == ENTRY
    assert (data["from"]["version"], data["to"]["version"]) == ("1.1.0", "1.0.0")


def test_rollback_json_nests_the_deploys_document(repo, released, capsys):
    result = rollback.rollback("staging", "auth", root=repo, registry=released)
    with pytest.raises(ReleaseError, match="health gate"):
        with rollback.json_with_deploy(result):
            print(json.dumps({"environment": "staging", "exit_code": 1}))
            raise ReleaseError("auth failed its health gate")  # printed all the same
    data = json.loads(capsys.readouterr().out)
    assert set(data) == ROLLBACK_KEYS
    assert data["commit"] == result.commit
    assert data["deploy"] == {"environment": "staging", "exit_code": 1}
