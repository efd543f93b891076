"""End-to-end fixtures: one Compose project of our own, on the real Docker engine.

The project name, proxy port, volumes and secrets are the test run's own, so a stack
that `./inv up` left running is never touched; everything is removed afterwards.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build-support"))

from release import stack  # noqa: E402
from release.adapters import git  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def state_home(tmp_path_factory) -> Path:
    """Secrets and other host state for this run only."""
    path = tmp_path_factory.mktemp("state")
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(path)
    yield path
    if old is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = old


@pytest.fixture(scope="session")
def e2e_stack(state_home):
    """The whole stack, built with Pants and started under a unique project name."""
    opts = stack.StackOptions(
        env="local",
        project=f"ecotrack-e2e-{uuid.uuid4().hex[:8]}",
        proxy_port=free_port(),
    )
    try:
        statuses = stack.up(opts)
        yield opts, statuses
    finally:
        stack.down(opts, volumes=True)


@pytest.fixture(scope="session")
def head_sha() -> str:
    return git.head_sha()
