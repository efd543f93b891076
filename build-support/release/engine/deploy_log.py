"""The deploy log: one JSON line per deploy attempt, successful, failed or refused.

Kept on the machine that deploys, outside git, next to the secrets
(`<state dir>/deploys/<project>.jsonl`): the manifest in git says what was desired,
this says what each attempt did and why it failed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from release.base.layout import state_dir


def log_path(project: str) -> Path:
    return state_dir() / "deploys" / f"{project}.jsonl"


def append(project: str, entry: dict) -> Path:
    path = log_path(project)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return path


def read(project: str) -> list[dict]:
    path = log_path(project)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
