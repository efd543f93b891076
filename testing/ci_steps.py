"""One job of .github/workflows/ci.yml run step by step on this machine, without the
replay's runner account (testing/workflow_replay.py runs whole workflows): its
`run:` steps in bash as a runner runs them, `${{ }}` filled in from a flat context."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from testing.workflow_runner import read_pairs

EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def substitute(value: str, context: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        assert m.group(1) in context, f"no local value for ${{{{ {m.group(1)} }}}}"
        return context[m.group(1)]

    return EXPRESSION.sub(one, str(value))


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
    return r, read_pairs(output)
