"""A replay of `.github/workflows/*.yml`: their jobs run as a GitHub runner would run
them, on this machine, against a scratch repository with a bare remote.

    run = WorkflowRun(runner, ".github/workflows/deploy.yml", event)
    results = run.run()              # every job, in `needs` order
    results["environments"].outputs  # {"staging": "true", "prod": "false"}

- Triggers: `on.<event>` with `branches` and `paths` filters (GitHub's globs).
- Jobs in `needs` order; `if:` evaluated with the status functions (a job whose
  `needs` did not all succeed is skipped unless its `if:` says otherwise); matrices
  (lists, `include`, or one `fromJSON` expression); a job that `uses:` a local
  reusable workflow runs that workflow's jobs with its `inputs` and the caller's
  secrets.
- `run:` steps: bash (`--noprofile --norc -eo pipefail`, as GitHub's default shell),
  in the job's checkout, with GITHUB_OUTPUT, GITHUB_ENV, GITHUB_SHA, GITHUB_REF,
  GITHUB_EVENT_NAME, GITHUB_WORKSPACE, GITHUB_RUN_ID, RUNNER_TEMP; `${{ }}` evaluated
  by tests/workflow_expr.py (github, env, matrix, needs, steps, inputs, secrets,
  runner contexts).
- `uses:` steps: each action is mapped to a local equivalent (ACTIONS below: checkout
  → a clone of the bare remote; setup-python → this machine's interpreters; cache →
  nothing; upload/download-artifact → a folder). An action, expression or context
  the replay does not know fails the replay with ReplayError naming it: no step is
  ever skipped silently.
"""

from __future__ import annotations

import fnmatch
import itertools
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workflow_expr import (  # noqa: E402
    Evaluator,
    ExpressionError,
    Status,
    to_string,
)

SUCCESS, FAILURE, SKIPPED = "success", "failure", "skipped"


class ReplayError(Exception):
    """Something the replay cannot do as GitHub would: it stops, naming it."""


@dataclass
class Event:
    """What started the run: `push`, `pull_request` or `workflow_dispatch`."""

    name: str
    sha: str
    ref: str = "refs/heads/main"
    before: str = ""
    inputs: dict = field(default_factory=dict)
    base_sha: str = ""  # pull_request: the base branch's commit

    def payload(self) -> dict:
        if self.name == "push":
            return {"before": self.before, "after": self.sha, "ref": self.ref}
        if self.name == "pull_request":
            return {
                "pull_request": {
                    "base": {"sha": self.base_sha},
                    "head": {"sha": self.sha},
                }
            }
        if self.name == "workflow_dispatch":
            return {"inputs": dict(self.inputs)}
        raise ReplayError(f"events of kind {self.name!r} are not replayed")


@dataclass
class StepLog:
    job: str
    name: str
    result: str
    output: str = ""


@dataclass
class JobResult:
    result: str
    outputs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunnerUser:
    """The account steps run as: not root, passwordless sudo, in the docker group,
    as GitHub's `runner` user is."""

    name: str
    home: Path

    @classmethod
    def ensure(cls, name: str = "ecotrack-runner") -> "RunnerUser":
        """Creates the account (once; needs root)."""
        if os.geteuid() != 0:
            raise ReplayError("creating the runner's account needs root")
        if subprocess.run(["id", name], capture_output=True).returncode != 0:
            groups = ["-G", "docker"] if _group_exists("docker") else []
            subprocess.run(
                ["useradd", "--create-home", "--shell", "/bin/bash", *groups, name],
                check=True,
                capture_output=True,
            )
        sudoers = Path(f"/etc/sudoers.d/{name}")
        if not sudoers.exists():
            sudoers.write_text(f"{name} ALL=(ALL) NOPASSWD:ALL\n")
            sudoers.chmod(0o440)
        home = Path(
            subprocess.run(
                ["getent", "passwd", name], capture_output=True, text=True, check=True
            ).stdout.split(":")[5]
        )
        user = cls(name, home)
        # The remote belongs to the test (root): the account trusts other owners'
        # repositories, as actions/checkout makes a runner trust its workspace.
        subprocess.run(
            user.command(
                ["git", "config", "--global", "safe.directory", "*"],
                {"PATH": os.environ["PATH"]},
            ),
            check=True,
            capture_output=True,
        )
        return user

    def remove(self) -> None:
        Path(f"/etc/sudoers.d/{self.name}").unlink(missing_ok=True)
        subprocess.run(["userdel", "--remove", self.name], capture_output=True)

    def own(self, *paths: Path) -> None:
        subprocess.run(["chown", "-R", f"{self.name}:", *map(str, paths)], check=True)

    def command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        """`argv` as this user, with exactly `env` (plus its HOME and USER)."""
        full = {**env, "HOME": str(self.home), "USER": self.name}
        pairs = [f"{k}={v}" for k, v in full.items()]
        return ["sudo", "-n", "-u", self.name, "env", "-i", *pairs, *argv]


def _group_exists(name: str) -> bool:
    return (
        subprocess.run(["getent", "group", name], capture_output=True).returncode == 0
    )


@dataclass
class Runner:
    """The simulated GitHub: the bare remote, the repository's secrets, a work dir
    for checkouts, RUNNER_TEMP and artifacts, the environment every step gets, and
    the account steps run as (None: this process's own)."""

    remote: Path
    work: Path
    secrets: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    python: dict = field(default_factory=dict)  # setup-python version → interpreter
    user: RunnerUser | None = None
    prepare_checkout: Callable[[Path], None] | None = None
    log: list[StepLog] = field(default_factory=list)

    def artifacts(self) -> Path:
        path = self.work / "artifacts"
        path.mkdir(parents=True, exist_ok=True)
        if self.user:
            self.user.own(path)
        return path

    def command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        return self.user.command(argv, env) if self.user else argv

    def new_dir(self, path: Path) -> Path:
        path.mkdir(parents=True)
        if self.user:
            self.user.own(path)
        return path


# -- triggers ---------------------------------------------------------------------


def _glob(pattern: str) -> re.Pattern:
    """GitHub's filter globs: `*` within a path segment, `**` across them."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def load(path: Path) -> dict:
    data = yaml.safe_load(Path(path).read_text())
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def triggered(workflow: dict, event: Event, changed: list[str]) -> bool:
    on = workflow.get("on") or {}
    if isinstance(on, str):
        on = {on: None}
    if isinstance(on, list):
        on = {name: None for name in on}
    if event.name not in on:
        return False
    spec = on[event.name] or {}
    branch = event.ref.removeprefix("refs/heads/")
    if "branches" in spec and not any(_glob(b).match(branch) for b in spec["branches"]):
        return False
    if "paths" in spec and not any(
        _glob(p).match(f) for p in spec["paths"] for f in changed
    ):
        return False
    return True


# -- runs -------------------------------------------------------------------------


def _order(jobs: Mapping[str, dict]) -> list[str]:
    done: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:
            raise ReplayError(f"jobs need each other: {' → '.join(path + (name,))}")
        if name not in jobs:
            raise ReplayError(f"a job needs {name!r}, which does not exist")
        for need in _needs(jobs[name]):
            visit(need, path + (name,))
        done.append(name)

    for name in jobs:
        visit(name, ())
    return done


def _needs(job: dict) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _matrix(value) -> list[dict]:
    if value is None:
        return [{}]
    if not isinstance(value, dict):
        raise ReplayError(f"a matrix must be a mapping, got {value!r}")
    axes = {k: v for k, v in value.items() if k not in ("include", "exclude")}
    rows = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    rows = [r for r in rows if r] or ([] if value.get("include") else [{}])
    excluded = value.get("exclude") or []
    rows = [r for r in rows if not any(x.items() <= r.items() for x in excluded)]
    return rows + list(value.get("include") or [])


def _read_pairs(path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `key=value` lines and `key<<DELIM` blocks."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            out[key] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
        elif line.strip():
            raise ReplayError(f"{path.name}: cannot read line {line!r}")
        i += 1
    return out


class WorkflowRun:
    def __init__(
        self,
        runner: Runner,
        path: Path | str,
        event: Event,
        inputs: dict | None = None,
        caller: str = "",
    ):
        self.runner = runner
        self.path = Path(path)
        self.workflow = load(self._file())
        self.event = event
        self.inputs = inputs if inputs is not None else dict(event.inputs)
        self.caller = caller  # "ci/service" when called as a reusable workflow
        self.run_id = str(uuid.uuid4().int)[:10]
        self.results: dict[str, JobResult] = {}

    def _file(self) -> Path:
        return self.path if self.path.is_absolute() else ROOT / self.path

    @property
    def name(self) -> str:
        return self.caller or self.workflow.get("name") or self.path.stem

    def github(self) -> dict:
        return {
            "event_name": self.event.name,
            "event": self.event.payload(),
            "sha": self.event.sha,
            "ref": self.event.ref,
            "run_id": self.run_id,
            "repository": "ecotrack/ecotrack",
            "token": "replay-github-token",
            "workspace": "",
        }

    def run(self, jobs: list[str] | None = None) -> dict[str, JobResult]:
        """Every job (or only `jobs`: the others are then reported NOT REPLAYED and
        count as skipped for what needs them)."""
        all_jobs = self.workflow.get("jobs") or {}
        for name in _order(all_jobs):
            if jobs is not None and name not in jobs:
                self._note(name, "NOT REPLAYED (left out by the test)")
                self.results[name] = JobResult(SKIPPED)
                continue
            self.results[name] = self._job(name, all_jobs[name])
        return self.results

    def would_run(self, name: str) -> bool:
        """Whether `name`'s `if:` holds after the jobs already replayed."""
        job = self.workflow["jobs"][name]
        return self._condition(job)

    def _note(self, job: str, text: str) -> None:
        self.runner.log.append(StepLog(f"{self.name}/{job}", text, "note"))

    def _needs_ctx(self, job: dict) -> dict:
        return {
            n: {"result": self.results[n].result, "outputs": self.results[n].outputs}
            for n in _needs(job)
        }

    def _ancestors(self, job: dict) -> list[str]:
        seen: list[str] = []
        todo = _needs(job)
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.append(n)
                todo += _needs(self.workflow["jobs"][n])
        return seen

    def _context(self, job: dict, **extra) -> dict:
        return {
            "github": self.github(),
            "needs": self._needs_ctx(job),
            "inputs": self.inputs,
            "secrets": dict(self.runner.secrets),
            "vars": {},
            "env": {},
            "runner": {"os": "Linux", "temp": "", "arch": "X64"},
            "matrix": {},
            "steps": {},
            "job": {},
            **extra,
        }

    def _condition(self, job: dict) -> bool:
        ancestors = [self.results[n].result for n in self._ancestors(job)]
        status = Status(
            failed=FAILURE in ancestors,
            succeeded=all(r == SUCCESS for r in ancestors),
        )
        try:
            return Evaluator(self._context(job), status).condition(
                job.get("if", "success()")
            )
        except ExpressionError as exc:
            raise ReplayError(f"{self.name}: a job's if: {exc}") from None

    def _job(self, name: str, job: dict) -> JobResult:
        if not self._condition(job):
            self._note(name, "skipped (its if: is false)")
            return JobResult(SKIPPED)
        context = self._context(job)
        try:
            matrix = Evaluator(context).render(
                (job.get("strategy") or {}).get("matrix")
            )
        except ExpressionError as exc:
            raise ReplayError(f"{self.name}/{name}: matrix: {exc}") from None
        results = [self._one(name, job, row) for row in _matrix(matrix)]
        if not results:
            return JobResult(SKIPPED)
        failed = any(r.result == FAILURE for r in results)
        outputs: dict = {}
        for r in results:
            outputs.update(r.outputs)
        return JobResult(FAILURE if failed else SUCCESS, outputs)

    def _one(self, name: str, job: dict, row: dict) -> JobResult:
        label = name + (f" ({', '.join(map(to_string, row.values()))})" if row else "")
        if "uses" in job:
            return self._call(label, job, row)
        temp = self.runner.new_dir(
            self.runner.work / "temp" / f"{self.run_id}-{uuid.uuid4().hex[:6]}"
        )
        workspace = self.runner.new_dir(temp / "workspace")
        job_env = dict(self.runner.env)
        steps: dict[str, dict] = {}
        context = self._context(job, matrix=row)
        context["runner"]["temp"] = str(temp)
        context["github"]["workspace"] = str(workspace)
        failed = False
        for scope in (self.workflow, job):  # the workflow's env, then the job's
            for key, value in (scope.get("env") or {}).items():
                job_env[key] = self._render_text(
                    {**context, "env": job_env}, value, f"{label}: env"
                )
        for i, step in enumerate(job.get("steps") or []):
            step_name = step.get("name") or step.get("uses") or f"step {i + 1}"
            ctx = {**context, "env": job_env, "steps": steps}
            ev = Evaluator(ctx, Status(failed=failed))
            try:
                run_it = ev.condition(step.get("if", "success()"))
            except ExpressionError as exc:
                raise ReplayError(f"{label}/{step_name}: if: {exc}") from None
            if not run_it:
                self.runner.log.append(StepLog(label, step_name, SKIPPED))
                continue
            outcome, outputs, env_added = self._step(
                label, step, step_name, ctx, job_env, workspace, temp
            )
            job_env.update(env_added)
            if "id" in step:
                steps[step["id"]] = {"outputs": outputs, "outcome": outcome}
            failed = failed or outcome == FAILURE
        final = {**context, "env": job_env, "steps": steps}
        outputs = {
            k: self._render_text(final, v, f"{label}: outputs")
            for k, v in (job.get("outputs") or {}).items()
        }
        return JobResult(FAILURE if failed else SUCCESS, outputs)

    def _call(self, label: str, job: dict, row: dict) -> JobResult:
        uses = job["uses"]
        if not uses.startswith("./.github/workflows/"):
            raise ReplayError(f"{label}: reusable workflow {uses} is not local")
        ctx = self._context(job, matrix=row)
        inputs = Evaluator(ctx).render(job.get("with") or {})
        if job.get("secrets") not in ("inherit", None):
            raise ReplayError(f"{label}: only `secrets: inherit` is replayed")
        called = WorkflowRun(
            self.runner,
            ROOT / uses.removeprefix("./"),
            self.event,
            inputs=inputs,
            caller=f"{self.name}/{label}",
        )
        declared = ((called.workflow.get("on") or {}).get("workflow_call") or {}).get(
            "inputs"
        ) or {}
        unknown = sorted(set(inputs) - set(declared))
        if unknown:
            raise ReplayError(f"{label}: {uses} has no input {', '.join(unknown)}")
        for key, spec in declared.items():
            if key not in inputs:
                if spec.get("required"):
                    raise ReplayError(f"{label}: {uses} needs the input {key}")
                inputs[key] = spec.get("default", "")
        results = called.run()
        failed = any(r.result == FAILURE for r in results.values())
        return JobResult(FAILURE if failed else SUCCESS)

    def _render_text(self, context: dict, value, where: str) -> str:
        try:
            return Evaluator(context).render_text(value)
        except ExpressionError as exc:
            raise ReplayError(f"{self.name}/{where}: {exc}") from None

    def _step(self, label, step, step_name, ctx, job_env, workspace, temp):
        env = dict(job_env)
        for key, value in (step.get("env") or {}).items():
            env[key] = self._render_text(ctx, value, f"{label}/{step_name}: env")
        if "run" in step:
            script = self._render_text(ctx, step["run"], f"{label}/{step_name}: run")
            return self._run(label, step_name, script, env, workspace, temp)
        if "uses" in step:
            uses = step["uses"]
            action = ACTIONS.get(uses.split("@", 1)[0])
            if action is None:
                raise ReplayError(
                    f"{label}/{step_name}: no local equivalent for the action {uses}"
                )
            with_ = Evaluator(ctx).render(step.get("with") or {})
            call = ActionCall(self, label, with_, env, workspace, temp)
            try:
                outputs, env_added = action(call)
            except subprocess.CalledProcessError as exc:
                self.runner.log.append(
                    StepLog(label, step_name, FAILURE, to_string(exc.stderr))
                )
                return FAILURE, {}, {}
            self.runner.log.append(StepLog(label, step_name, SUCCESS, uses))
            return SUCCESS, outputs, env_added
        raise ReplayError(f"{label}/{step_name}: a step with neither run nor uses")

    def _run(self, label, step_name, script, env, workspace, temp):
        output, github_env = temp / "github_output", temp / "github_env"
        script_file = temp / "step.sh"
        for f, text in ((output, ""), (github_env, ""), (script_file, script)):
            f.write_text(text)
            if self.runner.user:
                self.runner.user.own(f)
        full = {
            **env,
            "GITHUB_OUTPUT": str(output),
            "GITHUB_ENV": str(github_env),
            "GITHUB_SHA": self.event.sha,
            "GITHUB_REF": self.event.ref,
            "GITHUB_EVENT_NAME": self.event.name,
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_RUN_ID": self.run_id,
            "GITHUB_REPOSITORY": "ecotrack/ecotrack",
            "GITHUB_ACTIONS": "true",
            "CI": "true",
            "RUNNER_TEMP": str(temp),
        }
        bash = ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)]
        r = subprocess.run(
            self.runner.command(bash, full),
            cwd=workspace,
            env=full,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        result = SUCCESS if r.returncode == 0 else FAILURE
        self.runner.log.append(StepLog(label, step_name, result, r.stdout + r.stderr))
        return result, _read_pairs(output), _read_pairs(github_env)


# -- actions ----------------------------------------------------------------------


@dataclass
class ActionCall:
    run: WorkflowRun
    job: str
    with_: dict
    env: dict
    workspace: Path
    temp: Path


def _checkout(call: ActionCall):
    runner = call.run.runner
    git = ["git"]
    env = {"PATH": os.environ["PATH"]}
    for argv in (
        [*git, "clone", "-q", str(runner.remote), str(call.workspace)],
        [*git, "-C", str(call.workspace), "checkout", "-q", call.run.event.sha],
    ):
        subprocess.run(
            runner.command(argv, env),
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
    if call.run.runner.prepare_checkout:
        call.run.runner.prepare_checkout(call.workspace)
    return {}, {}


def _setup_python(call: ActionCall):
    version = to_string(call.with_.get("python-version"))
    python = call.run.runner.python.get(version) or shutil.which(f"python{version}")
    if not python:
        raise ReplayError(f"{call.job}: no Python {version} on this machine")
    return {"python-version": version, "python-path": python}, {}


def _cache(call: ActionCall):
    return {"cache-hit": "false"}, {}  # nothing restored, nothing saved


def _upload_artifact(call: ActionCall):
    name = to_string(call.with_.get("name") or "artifact")
    dest = call.run.runner.artifacts() / name
    sources = [
        Path(p) for p in to_string(call.with_.get("path")).splitlines() if p.strip()
    ]
    found = [p for p in sources if p.exists()]
    if not found:
        if to_string(call.with_.get("if-no-files-found") or "warn") == "error":
            raise subprocess.CalledProcessError(1, "upload", stderr="no files found")
        return {}, {}
    dest.mkdir(parents=True, exist_ok=True)
    for p in found:
        (shutil.copytree if p.is_dir() else shutil.copy2)(p, dest / p.name)
    return {}, {}


def _download_artifact(call: ActionCall):
    pattern = to_string(call.with_.get("pattern") or call.with_.get("name") or "*")
    dest = Path(to_string(call.with_.get("path") or call.workspace))
    merge = to_string(call.with_.get("merge-multiple")) == "true"
    for art in sorted(call.run.runner.artifacts().iterdir()):
        if not fnmatch.fnmatchcase(art.name, pattern):
            continue
        target = dest if merge else dest / art.name
        shutil.copytree(art, target, dirs_exist_ok=True)
    return {}, {}


ACTIONS: dict[str, Callable[[ActionCall], tuple[dict, dict]]] = {
    "actions/checkout": _checkout,
    "actions/setup-python": _setup_python,
    "actions/cache": _cache,
    "actions/upload-artifact": _upload_artifact,
    "actions/download-artifact": _download_artifact,
}


def changed_files(repo: Path, before: str, after: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), "diff", "--name-only", before, after],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def env_of_machine() -> dict:
    """The variables a hosted runner has that the steps rely on (PATH, HOME, ...)."""
    keep = ("PATH", "HOME", "LANG", "USER", "XDG_CACHE_HOME", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}
