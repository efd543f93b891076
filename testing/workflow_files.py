"""The workflow files as data: reading one, whether an event triggers it (GitHub's
branch and path globs), the files a push changed, and the static check `./inv lint`
runs (`python -m testing.workflow_files FILE...`): what a replay would stop on."""

from __future__ import annotations

import hashlib
import itertools
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from testing.workflow_actions import ACTIONS, ReplayError
from testing.workflow_expr import (
    ExpressionError,
    check,
    expressions_in,
    to_string,
)
from testing.workflow_runner import Event

ROOT = Path(__file__).resolve().parents[1]


def glob_pattern(pattern: str) -> re.Pattern:
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
    if "branches" in spec and not any(
        glob_pattern(b).match(branch) for b in spec["branches"]
    ):
        return False
    if "paths" in spec and not any(
        glob_pattern(p).match(f) for p in spec["paths"] for f in changed
    ):
        return False
    return True


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


def hash_files_in(workspace: Path) -> Callable[..., str]:
    """GitHub's hashFiles(): the sha256 of the matched files' sha256s (paths sorted,
    relative to the workspace, `**` across directories); "" when none match."""

    def hash_files(*patterns) -> str:
        rules = [glob_pattern(to_string(p)) for p in patterns]
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


# -- jobs -------------------------------------------------------------------------


def job_order(jobs: Mapping[str, dict]) -> list[str]:
    """The jobs in an order that runs every `needs` first; ReplayError on a cycle
    or a job that does not exist."""
    done: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in done:
            return
        if name in path:
            raise ReplayError(f"jobs need each other: {' → '.join(path + (name,))}")
        if name not in jobs:
            raise ReplayError(f"a job needs {name!r}, which does not exist")
        for need in needs_of(jobs[name]):
            visit(need, path + (name,))
        done.append(name)

    for name in jobs:
        visit(name, ())
    return done


def needs_of(job: dict) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def matrix_rows(value) -> list[dict]:
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
    # python -m testing.workflow_files FILE...: one line a problem, exit 1 on any.
    lines = [p for f in sys.argv[1:] for p in problems(Path(f))]
    print("\n".join(lines), end="\n" if lines else "")
    sys.exit(1 if lines else 0)
