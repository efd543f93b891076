"""`./inv promote --from staging --to prod [--service NAME ...]`: the exact digests one
environment runs, copied into another environment's manifest as one commit.

Each image is re-tagged `<to>-<tag>` inside the registry (ECR: batch_get_image +
put_image; local: the registry HTTP API): no pull, no push, no rebuild. Every source
image is checked first (its tag must exist and hold the recorded digest), so a bad
entry stops the promotion before anything changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from release.adapters import manifest_git
from release.base import console
from release.base.errors import ReleaseError, UsageError
from release.base.layout import ROOT, check_env, select_services
from release.gitops import store as manifest_store
from release.images.registry import registry_holding
from release.model import releases
from release.model.registry import Registry, short, verify_tag


@dataclass(frozen=True)
class Promoted:
    service: str
    version: str
    digest: str
    from_tag: str
    tag: str
    previous_version: str | None


@dataclass(frozen=True)
class PromoteResult:
    source: str
    target: str
    promoted: tuple[Promoted, ...] = ()
    unchanged: tuple[str, ...] = ()
    manifest: str = ""
    commit: str | None = None


def promote(
    source: str,
    target: str,
    names: Sequence[str] = (),
    root: Path = ROOT,
    registry: Registry | None = None,
    now: datetime | None = None,
) -> PromoteResult:
    check_env(source)
    check_env(target)
    if source == target:
        raise UsageError(f"--from and --to are both {source}")
    if names:
        select_services(list(names), root)
    src = manifest_store.read(source, root)
    dst = manifest_store.read(target, root)
    chosen = sorted(set(names)) if names else sorted(src.services)
    missing = [n for n in chosen if n not in src.services]
    if missing:
        raise UsageError(f"not in the {source} manifest: {', '.join(missing)}")
    manifest_store.check_can_record(target, root)
    copy = [
        n
        for n in chosen
        if n not in dst.services
        or dst.services[n].image_ref.digest != src.services[n].image_ref.digest
    ]
    unchanged = tuple(n for n in chosen if n not in copy)
    rel = manifest_git.relative(root, manifest_store.manifest_path(target, root))
    if not copy:
        return PromoteResult(source, target, unchanged=unchanged, manifest=rel)

    refs = {n: src.services[n].image_ref for n in copy}
    registry = registry or registry_holding({r.registry for r in refs.values()})
    for n, ref in refs.items():  # all checked before anything is re-tagged
        verify_tag(
            ref.repository, ref.tag, ref.digest, registry.digest_of(ref.path, ref.tag)
        )

    now = now or datetime.now(timezone.utc)
    actor = manifest_git.actor(root)
    updated, promoted = dst, []
    for n, ref in refs.items():
        tag = releases.promoted_tag(target, ref.tag)
        registry.retag(ref.path, ref.digest, tag)
        entry = src.services[n]
        before = dst.services.get(n)
        updated = updated.with_service(
            n,
            releases.new_entry(
                before,
                image=f"{ref.repository}:{tag}@{ref.digest}",
                version=entry.version,
                git_sha=entry.git_sha,
                now=now,
                actor=actor,
                default_replicas=manifest_store.default_replicas(target, n, root),
                default_flags=entry.feature_flags,
            ),
        )
        promoted.append(
            Promoted(
                n, entry.version, ref.digest, ref.tag, tag, before and before.version
            )
        )
    message = releases.commit_message(
        target,
        [releases.Line(p.service, p.version, p.tag) for p in promoted],
        note=f"promoted from {source}",
    )
    commit = manifest_store.save(target, updated, message, root)
    return PromoteResult(source, target, tuple(promoted), unchanged, rel, commit)


def render(result: PromoteResult) -> None:
    # A failure, not a no-op: a promote that was asked for and changes nothing must
    # not look like a release (the promote workflow would open an empty pull request).
    if not result.promoted:
        raise ReleaseError(
            f"nothing to promote: {result.target} already runs what {result.source} "
            f"runs ({', '.join(result.unchanged) or 'no services'})"
        )
    console.table(
        f"promoted {result.source} → {result.target} (same digests, re-tagged)",
        ["service", "version", "digest", "from tag", "new tag"],
        [
            [
                p.service,
                f"{p.previous_version or '-'} → {p.version}",
                short(p.digest),
                p.from_tag,
                p.tag,
            ]
            for p in result.promoted
        ],
    )
    if result.unchanged:
        console.detail(f"already the same: {', '.join(result.unchanged)}")
    where = f"commit {result.commit[:12]}" if result.commit else "not committed"
    console.info(f"recorded in {result.manifest}: {where}")
