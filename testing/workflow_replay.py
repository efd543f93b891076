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

import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from testing.workflow_actions import (
    ACTIONS,
    ActionCall,
    ReplayError,
)
from testing.workflow_expr import (
    Evaluator,
    ExpressionError,
    Status,
    to_string,
)
from testing.workflow_files import hash_files_in, job_order, load, matrix_rows, needs_of
from testing.workflow_runner import (
    FAILURE,
    SKIPPED,
    SUCCESS,
    Event,
    JobResult,
    Runner,
    StepLog,
    read_pairs,
)

ROOT = Path(__file__).resolve().parents[1]


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
        for name in job_order(all_jobs):
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
            for n in needs_of(job)
        }

    def _ancestors(self, job: dict) -> list[str]:
        seen: list[str] = []
        todo = needs_of(job)
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.append(n)
                todo += needs_of(self.workflow["jobs"][n])
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
        results = [self._one(name, job, row) for row in matrix_rows(matrix)]
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
        return result, read_pairs(output), read_pairs(github_env)


def _evaluator(context: dict, status: Status = Status()) -> Evaluator:
    """An evaluator whose hashFiles() reads the job's workspace (when it has one)."""
    workspace = context.get("github", {}).get("workspace")
    return Evaluator(
        context,
        status,
        hash_files=hash_files_in(Path(workspace)) if workspace else None,
    )
