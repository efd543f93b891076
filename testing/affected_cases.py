"""Changes with their true set of affected services, checked by hand against the code.

Used by tests/test_affected_scenarios.py (which asserts them) and bench/affected.py
(which scores us and the path-filter baseline against them). Each case is one commit
on a scratch branch of a ScenarioRepo; `prepare`, when given, is first committed on a
branch of its own that becomes the base of the comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from testing.scenario_repo import ScenarioRepo

ALL = ("auth", "locations", "recycling", "users", "waste")
Edit = Callable[[ScenarioRepo], None]


@dataclass(frozen=True)
class Case:
    id: str
    rule: str
    edit: Edit
    include: tuple[str, ...] = ()
    deploy_only: tuple[str, ...] = ()
    test_only: tuple[str, ...] = ()
    other_images: tuple[str, ...] = ()
    prepare: Edit | None = None
    # changed path → words its "why" must contain (files that affect no image)
    why: dict[str, str] = field(default_factory=dict)


def check_out(repo: ScenarioRepo, case: Case) -> str:
    """Commits the case on a scratch branch; returns the ref to compare with."""
    since = "main"
    if case.prepare:
        since = f"prepare-{case.id}"
        repo.branch(since)
        case.prepare(repo)
        repo.commit(f"prepare {case.id}")
    repo.branch(f"case-{case.id}", since)
    case.edit(repo)
    repo.commit(case.id)
    return since


def _edits(*edits: Edit) -> Edit:
    def run(repo: ScenarioRepo) -> None:
        for e in edits:
            e(repo)

    return run


def touch(path: str, text: str = "\n# edited by a scenario\n") -> Edit:
    return lambda repo: repo.append(path, text)


def replace(path: str, old: str, new: str) -> Edit:
    return lambda repo: repo.replace(path, old, new)


def _locked(data: dict, name: str) -> dict:
    for resolve in data["locked_resolves"]:
        for r in resolve["locked_requirements"]:
            if r["project_name"] == name:
                return r
    raise AssertionError(f"{name} is not locked")


def bump_lock(name: str, version: str | None = None) -> Edit:
    """A fake new locked version (and artifact hash) of one project."""

    def edit(data: dict) -> None:
        r = _locked(data, name)
        if version:
            r["version"] = version
        r["artifacts"][0]["hash"] = "0" * 64

    return lambda repo: repo.edit_lock("3rdparty/python/default.lock", edit)


def add_unused_requirement(repo: ScenarioRepo) -> None:
    repo.append("3rdparty/python/requirements.txt", "leftpad==1.0.0\n")

    def edit(data: dict) -> None:
        data["locked_resolves"][0]["locked_requirements"].append(
            {
                "project_name": "leftpad",
                "version": "1.0.0",
                "artifacts": [{"algorithm": "sha256", "hash": "1" * 64, "url": "u"}],
                "requires_dists": [],
                "requires_python": ">=3.8",
            }
        )

    repo.edit_lock("3rdparty/python/default.lock", edit)


def delete_geo(repo: ScenarioRepo) -> None:
    """core.geo goes away; locations keeps a copy of what it used."""
    repo.move("shared/core/geo.py", "services/locations/locations_service/geo.py")
    repo.delete("shared/core/tests/test_core_geo.py")
    for f in ("main.py", "dataset.py"):
        repo.replace(
            f"services/locations/locations_service/{f}",
            "from core.geo import",
            "from locations_service.geo import",
        )


def rename_categories(repo: ScenarioRepo) -> None:
    repo.move("shared/core/categories.py", "shared/core/taxonomy.py")
    for f in (
        "services/recycling/recycling_service/main.py",
        "services/waste/waste_service/main.py",
        "services/waste/waste_service/jobs.py",
        "services/waste/waste_service/worker.py",
        "shared/core/tests/test_core_categories.py",
    ):
        repo.replace(f, "from core.categories import", "from core.taxonomy import")


def add_geo_data(repo: ScenarioRepo) -> None:
    """Data files that core.geo depends on through a glob `resources` target."""
    repo.write("shared/core/data/a.json", '{"a": 1}\n')
    repo.write("shared/core/data/b.json", '{"b": 2}\n')
    repo.replace(
        "shared/core/BUILD",
        "python_sources()",
        'python_sources(overrides={"geo.py": {"dependencies": [":data"]}})\n\n'
        'resources(name="data", sources=["data/*.json"])',
    )


STAGING = """{
  "environment": "staging",
  "services": {
    "auth": {"image": "r/auth:1@sha256:%(d)s", "version": "1", "git_sha": "abcdef1",
             "deployed_at": "2026-01-01T00:00:00Z", "deployed_by": "ci",
             "replicas": 2, "feature_flags": {}},
    "users": {"image": "r/users:1@sha256:%(d)s", "version": "1", "git_sha": "abcdef1",
              "deployed_at": "2026-01-01T00:00:00Z", "deployed_by": "ci",
              "replicas": 2, "feature_flags": {}}
  }
}
""" % {"d": "a" * 64}

CASES: tuple[Case, ...] = (
    Case("own-source", "1", touch("services/waste/waste_service/jobs.py"), ("waste",)),
    Case(
        "own-tests",
        "1",
        touch("services/waste/tests/test_waste_api.py"),
        test_only=("waste",),
        why={"services/waste/tests/test_waste_api.py": "test_only"},
    ),
    Case("shared-geo", "2", touch("shared/core/geo.py"), ("locations",)),
    Case(
        "shared-categories",
        "2",
        touch("shared/core/categories.py"),
        ("recycling", "waste"),
    ),
    Case("shared-jwt", "2", touch("shared/common/jwt_tokens.py"), ("auth", "users")),
    Case("shared-settings", "2", touch("shared/common/settings.py"), ALL),
    Case(
        "shared-test-only",
        "2",
        touch("shared/core/tests/test_core_geo.py"),
        why={"shared/core/tests/test_core_geo.py": "no service depends on"},
    ),
    Case("lock-pyjwt", "3", bump_lock("pyjwt", "2.15.2"), ("auth", "users")),
    Case("lock-prometheus-hash", "3", bump_lock("prometheus-client"), ALL),
    Case("lock-test-tool", "3", bump_lock("hypothesis", "6.171.0"), test_only=ALL),
    Case(
        "new-requirement-unused",
        "3",
        add_unused_requirement,
        why={"3rdparty/python/default.lock": "leftpad"},
    ),
    # A service's image is defined by its BUILD's ecotrack_service(...) call (the
    # macro generates the Dockerfile): editing it affects that service only.
    Case("image-definition", "4", touch("services/auth/BUILD"), ("auth",)),
    Case("build-file", "4", touch("services/locations/BUILD"), ("locations",)),
    Case(
        "resource",
        "4",
        touch("services/locations/locations_service/data/points.json", "\n"),
        ("locations",),
    ),
    Case("delete-module", "5", delete_geo, ("locations",)),
    Case("rename-module", "5", rename_categories, ("recycling", "waste")),
    Case(
        "delete-data-file",
        "5",
        lambda repo: repo.delete("shared/core/data/b.json"),
        ("locations",),
        prepare=add_geo_data,
    ),
    Case(
        "compose-env",
        "6",
        replace(
            "gitops/environments/prod/compose.yaml",
            "waste:\n    deploy: { replicas: 3 }",
            "waste:\n    deploy: { replicas: 4 }",
        ),
        deploy_only=("waste",),
    ),
    Case(
        "compose-worker",
        "6",
        replace(
            "gitops/compose.base.yaml",
            "stop_grace_period: 30s",
            "stop_grace_period: 40s",
        ),
        deploy_only=("waste",),
    ),
    Case(
        "compose-comment",
        "6",
        touch("gitops/compose.base.yaml", "# a comment\n"),
        why={"gitops/compose.base.yaml": "no service entry changed"},
    ),
    Case(
        "manifest",
        "6",
        replace(
            "gitops/versions/staging.json",
            '"replicas": 2, "feature_flags": {}},\n    "users"',
            '"replicas": 3, "feature_flags": {}},\n    "users"',
        ),
        deploy_only=("auth",),
        prepare=lambda repo: repo.write("gitops/versions/staging.json", STAGING),
    ),
    Case(
        "global-pants-toml",
        "7",
        touch("pants.toml"),
        ALL,
        other_images=("gitops/proxy:image",),
    ),
    Case(
        "global-macros",
        "7",
        touch("build-support/macros.py"),
        ALL,
        other_images=("gitops/proxy:image",),
    ),
    Case(
        "global-base-image",
        "7",
        touch("build-support/base-image/base-image.toml"),
        ALL,
        other_images=("gitops/proxy:image",),
    ),
    Case(
        "docs-and-ci",
        "8",
        _edits(
            touch("README.md"),
            touch("services/waste/NOTES.md", "notes\n"),
            lambda repo: repo.write(".github/workflows/extra.yml", "on: push\n"),
        ),
        why={"README.md": "documentation", ".github/workflows/extra.yml": "CI"},
    ),
    Case(
        "tooling-only",
        "8",
        touch("build-support/release/cli/up.py"),
        why={"build-support/release/cli/up.py": "no service depends on"},
    ),
    Case(
        "proxy-config",
        "4",
        touch("gitops/proxy/haproxy.cfg"),
        other_images=("gitops/proxy:image",),
    ),
    Case(
        "unowned-in-service", "1", touch("services/users/notes.txt", "x\n"), ("users",)
    ),
    Case(
        "mixed",
        "2",
        _edits(
            touch("shared/core/geo.py"),
            touch("services/auth/BUILD"),
            touch("README.md"),
        ),
        ("auth", "locations"),
    ),
)
