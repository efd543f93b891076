"""Reads facts about the working copy from git."""

from __future__ import annotations

from pathlib import Path

from release.adapters import proc
from release.project import ROOT


def git(*args: str, cwd: Path = ROOT) -> str:
    return proc.output(["git", *args], cwd=cwd)


def head_sha(cwd: Path = ROOT) -> str:
    return git("rev-parse", "HEAD", cwd=cwd)


def is_dirty(cwd: Path = ROOT) -> bool:
    """Tracked changes only: untracked files do not make a build differ from HEAD."""
    return bool(git("status", "--porcelain", "--untracked-files=no", cwd=cwd))


def current_branch(cwd: Path = ROOT) -> str:
    name = git("rev-parse", "--abbrev-ref", "HEAD", cwd=cwd)
    return "detached" if name == "HEAD" else name
