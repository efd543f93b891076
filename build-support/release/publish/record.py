"""Publish's last step: what was pushed is recorded, either in the environment's
manifest as one commit (local: written, not committed) or, with `--release-out DIR`,
as one release record per service in DIR for a later `./inv record`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from release.adapters import manifest_git
from release.gitops import records as release_records
from release.gitops import store as manifest_store
from release.model import releases
from release.model.manifest import Manifest
from release.publish.progress import Board

if TYPE_CHECKING:
    from release.publish.pipeline import Published, PublishPlan


def commit_manifest(
    plan: PublishPlan,
    published: list[Published],
    updated: Manifest,
    board: Board,
    root: Path,
) -> str | None:
    """One commit for the whole publish (none when nothing changed; local: none)."""
    changed = [p for p in published if p.image != image_of(plan.current, p.service)]
    commit = None
    if changed:
        lines = [releases.Line(p.service, p.version, p.tag) for p in changed]
        message = releases.commit_message(plan.env, lines)
        try:
            commit = manifest_store.save(
                plan.env, updated, message, root, plan.manifest
            )
        except BaseException:
            board.set_all(plan.names, "failed", "not recorded")
            raise
    for p in published:
        board.set(p.service, "done", "recorded" if p in changed else "unchanged")
    return commit


def write_records(
    plan: PublishPlan,
    published: list[Published],
    out_dir: Path,
    board: Board,
    root: Path,
) -> list[Path]:
    """Instead of a commit: one release record per pushed image (the manifest and git
    are left alone)."""
    actor = manifest_git.actor(root)
    records = [
        release_records.ReleaseRecord(
            env=plan.env,
            service=p.service,
            version=p.version,
            tag=p.tag,
            image=p.image,
            digest=p.digest,
            git_sha=plan.head,
            published_at=releases.timestamp(plan.now),
            published_by=actor,
        )
        for p in published
    ]
    try:
        written = release_records.write(records, out_dir)
    except BaseException:
        board.set_all(plan.names, "failed", "no release record")
        raise
    for p in published:
        board.set(p.service, "done", "release record written")
    return written


def image_of(manifest: Manifest, name: str) -> str | None:
    entry = manifest.services.get(name)
    return entry.image if entry else None
