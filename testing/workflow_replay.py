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
  secrets; a job in a GitHub `environment:` gets that environment's secrets.
- Every job starts clean (an emptied workspace at one fixed path, as on GitHub) and
  ends as a hosted runner's VM does: nothing it started keeps running.
- `run:` steps: bash (`--noprofile --norc -eo pipefail`, as GitHub's default shell),
  in the job's checkout, as the runner's account (RunnerUser: not root, passwordless
  sudo), with GITHUB_OUTPUT, GITHUB_ENV, GITHUB_SHA, GITHUB_REF, GITHUB_EVENT_NAME,
  GITHUB_WORKSPACE, GITHUB_RUN_ID, RUNNER_TEMP and a `gh` that records pull
  requests; `${{ }}` evaluated by testing/workflow_expr.py (github, env, matrix, needs,
  steps, inputs, secrets, runner contexts; hashFiles over the workspace).
- `uses:` steps: each action is mapped to a local equivalent
  (testing/workflow_actions.py).
  An action, expression or context the replay does not know fails the replay
  with ReplayError naming it: no step is ever skipped silently.
- The log (Runner.log, Runner.summary()): every job's steps, result, seconds, output.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from testing.workflow_actions import (
    ACTIONS,
    GH_STANDIN,
    ActionCall,
    ReplayError,
)
from testing.workflow_expr import (
    Evaluator,
    ExpressionError,
    Status,
    check,
    expressions_in,
    to_string,
)

ROOT = Path(__file__).resolve().parents[1]

SUCCESS, FAILURE, SKIPPED = "success", "failure", "skipped"


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
    seconds: float | None = None


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
    def ensure(cls, name: str = "ecotrack-runner", sudo: bool = True) -> "RunnerUser":
        """Creates the account (once; needs root); `sudo=False`: a runner without
        passwordless sudo (a self-hosted one, say)."""
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
        if sudo and not sudoers.exists():
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
        self.end_session()
        for d in _REACHED.pop(self.name, []):
            subprocess.run(["setfacl", "-x", f"u:{self.name}", d], capture_output=True)
        Path(f"/etc/sudoers.d/{self.name}").unlink(missing_ok=True)
        subprocess.run(["userdel", "--remove", self.name], capture_output=True)

    def reach(self, path: Path) -> None:
        """Lets the account traverse (only traverse: an ACL entry `x`, taken back by
        remove) each directory above `path` it could not, e.g. root's 0700 home above
        the interpreters setup-python hands out."""
        for d in reversed(Path(path).parents):
            probe = self.command(["test", "-x", str(d)], {"PATH": "/usr/bin:/bin"})
            if subprocess.run(probe, capture_output=True).returncode != 0:
                subprocess.run(
                    ["setfacl", "-m", f"u:{self.name}:x", str(d)], check=True
                )
                _REACHED.setdefault(self.name, []).append(str(d))

    def end_session(self) -> None:
        """What a hosted runner's VM does at a job's end: nothing of the job's keeps
        running (a pantsd, an ssh master)."""
        subprocess.run(["pkill", "-KILL", "-u", self.name], capture_output=True)

    def own(self, *paths: Path) -> None:
        subprocess.run(["chown", "-R", f"{self.name}:", *map(str, paths)], check=True)

    def command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        """`argv` as this user, with exactly `env` (plus its HOME and USER)."""
        full = {**env, "HOME": str(self.home), "USER": self.name}
        pairs = [f"{k}={v}" for k, v in full.items()]
        return ["sudo", "-n", "-u", self.name, "env", "-i", *pairs, *argv]


_REACHED: dict[str, list[str]] = {}  # account → directories given an ACL entry


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
    aws_endpoint: str = ""  # the stand-in for AWS's APIs (STS, ECR): moto's server
    environments: dict = field(default_factory=dict)  # GitHub environment → secrets
    log: list[StepLog] = field(default_factory=list)

    def __post_init__(self):
        self.work.mkdir(parents=True, exist_ok=True)
        for name in ("bin", "pulls", "cache"):
            (self.work / name).mkdir(exist_ok=True)
        gh = self.work / "bin" / "gh"
        gh.write_text(GH_STANDIN.format(pulls=self.work / "pulls"))
        gh.chmod(0o755)
        if self.user:
            self.user.own(self.work / "pulls")

    def with_tools(self, env: Mapping[str, str]) -> dict:
        """`env` with the runner's own tools (the `gh` stand-in) first on PATH."""
        return {**env, "PATH": f"{self.work / 'bin'}:{env.get('PATH', '')}"}

    def summary(self, tail: int = 6) -> str:
        """The log: every job's steps, their results and the end of what they
        printed (more of it for a failed step)."""
        out = []
        for entry in self.log:
            took = f" | {entry.seconds:.1f} s" if entry.seconds is not None else ""
            out.append(f"{entry.job} | {entry.name} | {entry.result}{took}")
            lines = [line for line in entry.output.splitlines() if line.strip()]
            if entry.result != "note":
                keep = tail * 10 if entry.result == FAILURE else tail
                out += [f"    {line}" for line in lines[-keep:]]
        return "\n".join(out) + "\n"

    def pulls(self) -> list[dict]:
        """The pull requests `gh pr create` opened, oldest first."""
        files = sorted((self.work / "pulls").glob("*.json"), key=lambda p: int(p.stem))
        return [json.loads(p.read_text()) for p in files]

    def fresh_dir(self, path: Path) -> Path:
        """`path`, emptied: each job starts on a clean machine."""
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        if self.user:
            self.user.own(path)
        return path

    def artifacts(self) -> Path:
        path = self.work / "artifacts"
        path.mkdir(parents=True, exist_ok=True)
        if self.user:
            self.user.own(path)
        return path

    def command(self, argv: list[str], env: Mapping[str, str]) -> list[str]:
        return self.user.command(argv, env) if self.user else argv


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

    def run(
        self, jobs: list[str] | None = None, leave_out: Mapping[str, str] = {}
    ) -> dict[str, JobResult]:
        """Every job (or only `jobs`; or all but `leave_out`: job → why). A job left
        out is reported NOT REPLAYED, with the reason, and counts as skipped for the
        jobs that need it."""
        all_jobs = self.workflow.get("jobs") or {}
        unknown = sorted(set(leave_out) - set(all_jobs))
        if unknown:
            raise ReplayError(f"{self.name}: no job {', '.join(unknown)} to leave out")
        for name in _order(all_jobs):
            if (jobs is not None and name not in jobs) or name in leave_out:
                why = leave_out.get(name, "left out by the test")
                self._note(name, f"NOT REPLAYED ({why})")
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
        # One workspace path for every job, as on GitHub (its caches hold absolute
        # paths, e.g. .venv's scripts), emptied first: each job starts clean.
        temp = self.runner.fresh_dir(self.runner.work / "_temp")
        workspace = self.runner.fresh_dir(self.runner.work / "_work" / "ecotrack")
        job_env = self.runner.with_tools(self.runner.env)
        steps: dict[str, dict] = {}
        context = self._context(job, matrix=row)
        context["runner"]["temp"] = str(temp)
        context["github"]["workspace"] = str(workspace)
        if job.get("environment"):
            self._enter_environment(label, job["environment"], context)
        self._post: list[Callable[[], None]] = []
        self._permissions = job.get("permissions", self.workflow.get("permissions"))
        failed = False
        for scope in (self.workflow, job):  # the workflow's env, then the job's
            for key, value in (scope.get("env") or {}).items():
                job_env[key] = self._render_text(
                    {**context, "env": job_env}, value, f"{label}: env"
                )
        for i, step in enumerate(job.get("steps") or []):
            step_name = step.get("name") or step.get("uses") or f"step {i + 1}"
            ctx = {**context, "env": job_env, "steps": steps}
            ev = _evaluator(ctx, Status(failed=failed))
            try:
                run_it = ev.condition(step.get("if", "success()"))
            except ExpressionError as exc:
                raise ReplayError(f"{label}/{step_name}: if: {exc}") from None
            if not run_it:
                self.runner.log.append(
                    StepLog(f"{self.name}/{label}", step_name, SKIPPED)
                )
                continue
            started = time.monotonic()
            outcome, outputs, env_added = self._step(
                label, step, step_name, ctx, job_env, workspace, temp
            )
            self.runner.log[-1].seconds = round(time.monotonic() - started, 1)
            job_env.update(env_added)
            if "id" in step:
                steps[step["id"]] = {"outputs": outputs, "outcome": outcome}
            failed = failed or outcome == FAILURE
        if not failed:
            for post in self._post:  # e.g. actions/cache saves after a success
                post()
        if self.runner.user:
            self.runner.user.end_session()
        final = {**context, "env": job_env, "steps": steps}
        outputs = {
            k: self._render_text(final, v, f"{label}: outputs")
            for k, v in (job.get("outputs") or {}).items()
        }
        return JobResult(FAILURE if failed else SUCCESS, outputs)

    def _enter_environment(self, label: str, spec, context: dict) -> None:
        """A job in a GitHub environment gets that environment's secrets. Its
        protection rules (prod's required reviewers) are GitHub's to enforce: the
        replay approves, and says so in the log."""
        raw = spec.get("name") if isinstance(spec, dict) else spec
        name = self._render_text(context, raw, f"{label}: environment")
        if name not in self.runner.environments:
            raise ReplayError(f"{label}: the runner has no GitHub environment {name!r}")
        context["secrets"] = {**context["secrets"], **self.runner.environments[name]}
        self._note(label, f"environment {name}: its secrets (deployment approved)")

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
            return _evaluator(context).render_text(value)
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
            with_ = _evaluator(ctx).render(step.get("with") or {})
            call = ActionCall(
                runner=self.runner,
                event=self.event,
                run_id=self.run_id,
                permissions=self._permissions,
                job=label,
                with_=with_,
                env=env,
                workspace=workspace,
                temp=temp,
                post=self._post,
            )
            try:
                outputs, env_added = action(call)
            except subprocess.CalledProcessError as exc:
                self.runner.log.append(
                    StepLog(
                        f"{self.name}/{label}",
                        step_name,
                        FAILURE,
                        to_string(exc.stderr),
                    )
                )
                return FAILURE, {}, {}
            said = [uses] + [f"output {k}={v}" for k, v in outputs.items()]
            said += [f"env {k} set" for k in env_added]  # names only: secrets
            self.runner.log.append(
                StepLog(f"{self.name}/{label}", step_name, SUCCESS, "\n".join(said))
            )
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
        self.runner.log.append(
            StepLog(f"{self.name}/{label}", step_name, result, r.stdout + r.stderr)
        )
        return result, _read_pairs(output), _read_pairs(github_env)


def _evaluator(context: dict, status: Status = Status()) -> Evaluator:
    """An evaluator whose hashFiles() reads the job's workspace (when it has one)."""
    workspace = context.get("github", {}).get("workspace")
    return Evaluator(
        context, status, hash_files=_hash_files(Path(workspace)) if workspace else None
    )


def _hash_files(workspace: Path) -> Callable[..., str]:
    """GitHub's hashFiles(): the sha256 of the matched files' sha256s (paths sorted,
    relative to the workspace, `**` across directories); "" when none match."""

    def hash_files(*patterns) -> str:
        rules = [_glob(to_string(p)) for p in patterns]
        files = sorted(
            p
            for p in workspace.rglob("*")
            if p.is_file()
            and ".git" not in p.relative_to(workspace).parts
            and any(r.match(str(p.relative_to(workspace))) for r in rules)
        )
        if not files:
            return ""
        outer = hashlib.sha256()
        for f in files:
            outer.update(hashlib.sha256(f.read_bytes()).digest())
        return outer.hexdigest()

    return hash_files


def changed_files(repo: Path, before: str, after: str) -> list[str]:
    out = subprocess.run(
        [
            "git",
            "-c",
            "safe.directory=*",
            "-C",
            str(repo),
            "diff",
            "--name-only",
            before,
            after,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def env_of_machine() -> dict:
    """The variables a hosted runner has that the steps rely on (PATH, HOME, ...)."""
    keep = ("PATH", "HOME", "LANG", "USER", "XDG_CACHE_HOME", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}


# -- the static check (`./inv lint`) ------------------------------------------------


def problems(path: Path) -> list[str]:
    """What a replay of `path` would stop on, found without running it: an action
    with no local equivalent, a reusable workflow that is not local, a step with
    neither `run` nor `uses`, an expression the replay cannot read."""
    workflow = load(path)
    name = Path(path).name
    found: list[str] = []
    for job_name, job in (workflow.get("jobs") or {}).items():
        where = f"{name}: job {job_name}"
        uses = job.get("uses")
        if uses and not (
            uses.startswith("./.github/workflows/") and (ROOT / uses).is_file()
        ):
            found.append(f"{where}: reusable workflow {uses} is not in this repository")
        for i, step in enumerate(job.get("steps") or []):
            step_name = step.get("name") or step.get("uses") or f"step {i + 1}"
            if "uses" in step:
                if step["uses"].split("@", 1)[0] not in ACTIONS:
                    found.append(
                        f"{where}, step {step_name}: no local equivalent for the "
                        f"action {step['uses']}"
                    )
            elif "run" not in step:
                found.append(f"{where}, step {step_name}: neither run nor uses")
    body = {k: v for k, v in workflow.items() if k != "on"}
    conditions = [  # `if:` may be bare, without ${{ }}
        str(part["if"])
        for job in (workflow.get("jobs") or {}).values()
        for part in [job, *(job.get("steps") or [])]
        if "if" in part and "${{" not in str(part["if"])
    ]
    for expression in expressions_in(body) + conditions:
        try:
            check(expression)
        except ExpressionError as exc:
            found.append(f"{name}: ${{{{ {expression} }}}}: {exc}")
    return found


if __name__ == "__main__":
    # python -m testing.workflow_replay FILE...: one line a problem, exit 1 on any.
    lines = [p for f in sys.argv[1:] for p in problems(Path(f))]
    print("\n".join(lines), end="\n" if lines else "")
    sys.exit(1 if lines else 0)
