"""`./inv lint` and `./inv test`: Pants for lint and unit tests, pytest for e2e."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from release.adapters import actionlint, import_linter, machine, pants, proc
from release.adapters.docker_engine import ensure_engine
from release.base import console
from release.base.errors import CommandError
from release.base.layout import ROOT
from release.cli import doc_examples, reference
from release.devenv import module_map
from release.images.base import ensure_base_image
from release.machine import bootstrap

E2E_DIR = ROOT / "tests"


def prepare_machine(profile: tuple[str, ...] = bootstrap.TEST) -> None:
    """Everything `profile` needs (default: the whole suite's), installed or started
    first, once."""
    with console.step("bootstrap: checking this machine (./inv doctor shows it)"):
        machine.ensure(profile)


WORKFLOWS_DIR = ROOT / ".github" / "workflows"


def lint() -> None:
    """The checks that take seconds first (workflow files, module map, import
    contract), then black and flake8 (Pants)."""
    lint_workflows()
    lint_module_map()
    lint_docs()
    lint_import_contract()
    with console.step("lint (black, flake8) through Pants: ./pants lint ::"):
        pants.pants(["lint", "::"])


def lint_workflows() -> None:
    workflows = sorted(WORKFLOWS_DIR.glob("*.y*ml"))
    with console.step(f"lint of {len(workflows)} workflow files (actionlint)"):
        findings = [str(f) for f in actionlint.lint(workflows)]
        _refuse(findings)
    # The test suite replays these files (testing/workflow_replay.py; this check:
    # testing/workflow_files.py): what it would
    # stop on (an action it has no local equivalent for, an expression it cannot
    # read) fails here first, not after an hour of tests.
    with console.step("the workflow replay knows every step and expression"):
        r = proc.run(
            [sys.executable, "-m", "testing.workflow_files", *map(str, workflows)],
            cwd=ROOT,
            check=False,
        )
        found = r.stdout.splitlines()
        if r.returncode != 0 and not found:  # the check itself broke: never a pass
            said = (r.stderr.strip().splitlines() or ["no output"])[-1]
            raise CommandError(f"the workflow replay's check failed: {said}")
        _refuse(found)


def lint_module_map() -> None:
    with console.step("the module map in build-support/release/README.md is current"):
        found = module_map.sections()
        missing = module_map.undocumented(found)
        if missing:
            raise CommandError(
                f"{len(missing)} module(s) without a docstring, the first: "
                f"{missing[0]} (the module map is made of them)"
            )
        if not module_map.is_current():
            raise CommandError(
                "build-support/release/README.md's module map is stale: "
                "run ./inv module-map --write"
            )


def lint_docs() -> None:
    with console.step(
        "docs/reference is current and every ./inv example in the docs parses"
    ):
        reference.check()
        doc_examples.check()


IMPORT_CONTRACT = ROOT / "build-support" / "importlinter.ini"


def lint_import_contract() -> None:
    with console.step(
        "the import contract of build-support/release (import-linter: "
        f"{IMPORT_CONTRACT.relative_to(ROOT)})"
    ):
        if not import_linter.check(IMPORT_CONTRACT):
            raise CommandError(
                f"the import contract is broken (import-linter's report above; "
                f"the contract: {IMPORT_CONTRACT.relative_to(ROOT)})"
            )


def _refuse(findings: list[str]) -> None:
    for f in findings:
        console.detail(f)
    if findings:
        raise CommandError(
            f"{len(findings)} problem(s) in .github/workflows (listed above), "
            f"the first: {findings[0]}"
        )


def unit() -> None:
    with console.step(
        "unit tests with coverage through Pants: ./pants test --use-coverage ::"
    ):
        pants.pants(["test", "--use-coverage", "::"])


def end_to_end(pytest_args: list[str]) -> None:
    with console.step("end-to-end tests on the real Docker engine (pytest tests/)"):
        ensure_engine()
        # Built here once so the tests and their fixtures reuse it.
        os.environ["ECOTRACK_BASE_IMAGE"] = ensure_base_image()
        proc.run(
            [sys.executable, "-m", "pytest", *e2e_targets(pytest_args), *pytest_args],
            cwd=ROOT,
            capture=False,
        )


def e2e_targets(pytest_args: Sequence[str]) -> list[str]:
    """tests/, unless the arguments name test files themselves
    (`--pytest-args="tests/test_cli.py -k list"` runs that file only)."""
    named = [
        a
        for a in pytest_args
        if not a.startswith("-") and (ROOT / a.split("::")[0]).exists()
    ]
    return [] if named else [str(E2E_DIR)]


BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
BENCHES = (
    "loadgen",
    "rollout",
    "change_to_live",
    "affected",
    "publish",
    "gitops",
    "login_abuse",
    "fleet",
    "cache",
    "heal",
    "stalls",
    "walk",
)
DEFAULT_BENCHES = ("loadgen", "rollout", "change_to_live", "affected")


def bench(names: list[str], args: Sequence[str] = ()) -> int:
    """Runs bench/<name>.py for each name (default: DEFAULT_BENCHES) with `args` (one
    bench only); each writes bench/results/<name>.json and its PNGs, or, if it does
    not take --out, its output is kept there. Returns the worst exit code (1: a target
    not met)."""
    import json

    from release.base.errors import UsageError

    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        raise UsageError(f"unknown bench {', '.join(unknown)} ({', '.join(BENCHES)})")
    if args and len(names) != 1:
        raise UsageError("--args goes to one bench: name exactly one")
    with console.step("bootstrap: checking this machine (./inv doctor bench shows it)"):
        machine.ensure(bootstrap.BENCH)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    worst = 0
    for name in names or DEFAULT_BENCHES:
        script = BENCH_DIR / f"{name}.py"
        out = RESULTS_DIR / f"{name}.json"
        writes_json = "--out" in script.read_text()
        command = [sys.executable, str(script), *args]
        command += ["--out", str(out)] if writes_json else []
        console.info(f"bench {name}: {' '.join(command[1:])}")
        code, stdout = proc.run_teed(
            command, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        if not writes_json:
            out.write_text(json.dumps({"exit_code": code, "stdout": stdout}, indent=2))
        console.info(
            f"bench {name}: exit {code}"
            + (" (a target not met)" if code == 1 else "")
            + f"; results in {out.relative_to(ROOT)}"
        )
        worst = max(worst, code)
    return worst
