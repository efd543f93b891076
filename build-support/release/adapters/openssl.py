"""The `openssl` command line, for the local CA and the proxy's local certificate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from release.adapters import proc


def run(args: Sequence[str], cwd: Path) -> str:
    return proc.run(["openssl", *args], cwd=cwd).stdout
