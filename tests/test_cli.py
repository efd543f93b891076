"""The ./inv entry point as a user runs it: help, and one-line errors on bad input."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def inv(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "inv"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_list_explains_every_task():
    r = inv("--list")
    assert r.returncode == 0
    for name in ("up", "down", "test", "lint"):
        assert f"  {name} " in r.stdout


def test_help_of_up_names_what_it_bootstraps():
    r = inv("--help", "up")
    assert r.returncode == 0
    assert "debootstrap" in r.stdout and "--port" in r.stdout


def test_unknown_environment_is_one_line_and_non_zero():
    r = inv("up", "--env", "moon")
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines == ["error: unknown environment 'moon' (known: local, staging, prod)"]
    assert "Traceback" not in r.stdout + r.stderr
