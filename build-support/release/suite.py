"""`./inv lint` and `./inv test`: Pants for lint and unit tests, pytest for e2e."""

from __future__ import annotations

import os
import sys

from release import bootstrap, console
from release.adapters import machine, pants, proc
from release.adapters.docker_engine import ensure_engine
from release.base_image import ensure_base_image
from release.layout import ROOT

E2E_DIR = ROOT / "tests"


def prepare_machine() -> None:
    """Everything the whole suite needs, installed or started first, once."""
    with console.step("bootstrap: checking this machine (./inv doctor shows it)"):
        machine.ensure(bootstrap.TEST)


def lint() -> None:
    with console.step("lint (black, flake8) through Pants: ./pants lint ::"):
        pants.pants(["lint", "::"])


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
            [sys.executable, "-m", "pytest", str(E2E_DIR), *pytest_args],
            cwd=ROOT,
            capture=False,
        )
