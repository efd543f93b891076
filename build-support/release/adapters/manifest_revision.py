"""The commit a manifest file's repository is at, and the file as that commit holds
it: what the deploy log records as the manifest's commit (engine/deploy_log.py).

Read-only and forgiving: a GitOps tree outside git (an exported copy) or a file git
ignores (local.json) is an answer, not an error; the deploy must never fail on it.
"""

from __future__ import annotations

from pathlib import Path

from release.adapters import proc
from release.base.errors import CommandError


def revision(manifest: Path) -> tuple[str, str | None]:
    """(HEAD's commit, or "" outside git; the file's text at HEAD, or None)."""
    where = manifest.parent
    if not where.is_dir():
        return "", None
    try:
        head = proc.run(["git", "rev-parse", "HEAD"], cwd=where, check=False)
        if head.returncode != 0:
            return "", None
        # `HEAD:./name` is the path relative to `where`, wherever the top level is.
        blob = proc.run(
            ["git", "cat-file", "blob", f"HEAD:./{manifest.name}"],
            cwd=where,
            check=False,
        )
    except CommandError:  # no git on this machine
        return "", None
    return head.stdout.strip(), blob.stdout if blob.returncode == 0 else None
