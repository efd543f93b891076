"""One commit of a manifest file, as git gives it (adapters/manifest_git.py) and the
history reads it (gitops/history.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Revision:
    """One commit that touched a manifest file, with the file's content at that commit
    (None when the commit deleted it): bytes as git stores them, so a revision that is
    not UTF-8 is skipped like one that is not JSON."""

    commit: str
    author: str
    committed_at: str  # ISO 8601
    subject: str
    text: str | bytes | None
