"""`./inv promote --from staging --env prod [--service NAME ...] [--dry-run]`: the exact
digests one environment runs, copied into another environment's manifest as one commit.

Each image is re-tagged `<env>-<tag>` inside the registry (ECR: batch_get_image +
put_image; local: the registry HTTP API): no pull, no push, no rebuild. Every source
image is checked first (its tag must exist and hold the recorded digest), so a bad
entry stops the promotion before anything changes. A dry run makes the same checks
(they only read) and stops before the first re-tag: nothing re-tagged, no commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from release.adapters import manifest_git
from release.base import console, exit_codes
from release.base.errors import ReleaseError, UsageError
from release.base.layout import ROOT, check_env, select_services
from release.gitops import store as manifest_store
from release.images.registry import registry_holding
from release.model import releases
from release.model.manifest import ImageRef, Manifest
from release.model.registry import Registry, short, verify_tag


@dataclass(frozen=True)
class Promoted:
    service: str
    version: str
    digest: str
    from_tag: str
    tag: str
    previous_version: str | None
    previous_digest: str | None = None  # what the target ran before


@dataclass(frozen=True)
class PromoteResult:
    source: str
    target: str
    promoted: tuple[Promoted, ...] = ()
    unchanged: tuple[str, ...] = ()
    manifest: str = ""
    commit: str | None = None
    message: str | None = None  # the commit's message (a dry run's: would be)
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        # A real promote with nothing to do fails in render(); a dry run says
        # "differs" when a real one would change something.
        return exit_codes.DIFFERS if self.dry_run and self.promoted else exit_codes.OK

    def to_dict(self) -> dict:
        return {
            "from": self.source,
            "env": self.target,
            "dry_run": self.dry_run,
            "manifest": self.manifest,
            "commit": self.commit,
            "message": self.message,
            "promoted": [asdict(p) for p in self.promoted],
            "unchanged": list(self.unchanged),
        }


def promote(
    source: str,
    target: str,
    names: Sequence[str] = (),
    root: Path = ROOT,
    registry: Registry | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PromoteResult:
    check_env(source)
    check_env(target)
    if source == target:
        raise UsageError(f"--from and --env are both {source}")
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
        return PromoteResult(
            source, target, unchanged=unchanged, manifest=rel, dry_run=dry_run
        )

    refs = {n: src.services[n].image_ref for n in copy}
    registry = registry or registry_holding({r.registry for r in refs.values()})
    for n, ref in refs.items():  # all checked before anything is re-tagged
        verify_tag(
            ref.repository, ref.tag, ref.digest, registry.digest_of(ref.path, ref.tag)
        )

    updated, promoted = _copied(src, dst, refs, target, root, now)
    message = releases.commit_message(
        target,
        [releases.Line(p.service, p.version, p.tag) for p in promoted],
        note=f"promoted from {source}",
    )
    result = PromoteResult(
        source, target, promoted, unchanged, rel, message=message, dry_run=dry_run
    )
    if dry_run:
        return result
    for p in promoted:
        registry.retag(refs[p.service].path, p.digest, p.tag)
    return replace(result, commit=manifest_store.save(target, updated, message, root))


def _copied(
    src: Manifest,
    dst: Manifest,
    refs: dict[str, ImageRef],
    target: str,
    root: Path,
    now: datetime | None,
) -> tuple[Manifest, tuple[Promoted, ...]]:
    """The target's manifest with each source entry copied under its new tag (the
    target keeps its own replicas; flags come along only for a new service)."""
    now = now or datetime.now(timezone.utc)
    actor = manifest_git.actor(root)
    updated, promoted = dst, []
    for n, ref in refs.items():
        tag = releases.promoted_tag(target, ref.tag)
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
                n,
                entry.version,
                ref.digest,
                ref.tag,
                tag,
                before and before.version,
                before and before.image_ref.digest,
            )
        )
    return updated, tuple(promoted)


def render(result: PromoteResult, as_json: bool = False) -> None:
    # A failure, not a no-op: a promote that was asked for and changes nothing must
    # not look like a release (the promote workflow would open an empty pull request).
    # A dry run is only asked what would change: "nothing" is an answer (exit 0).
    if not result.promoted and not result.dry_run:
        raise ReleaseError(f"nothing to promote: {_same(result)}")
    if as_json:
        console.json_result(result.to_dict())
        return
    if not result.promoted:
        console.info(f"dry run: nothing to promote, {_same(result)}")
        return
    would = "would promote" if result.dry_run else "promoted"
    console.table(
        f"{would} {result.source} → {result.target} (same digests, re-tagged)",
        ["service", "version", "digest", "from tag", "new tag"],
        [
            [
                p.service,
                f"{p.previous_version or '-'} → {p.version}",
                _digest_change(p),
                p.from_tag,
                p.tag,
            ]
            for p in result.promoted
        ],
    )
    if result.unchanged:
        console.detail(f"already the same: {', '.join(result.unchanged)}")
    if result.dry_run:
        console.info(f"dry run: would commit {result.manifest}: {result.message}")
        console.detail("nothing re-tagged, nothing committed")
        return
    where = f"commit {result.commit[:12]}" if result.commit else "not committed"
    console.info(f"recorded in {result.manifest}: {where}")


def _digest_change(p: Promoted) -> str:
    if p.previous_digest is None:
        return short(p.digest)
    return f"{short(p.previous_digest)} → {short(p.digest)}"


def _same(result: PromoteResult) -> str:
    services = ", ".join(result.unchanged) or "no services"
    return f"{result.target} already runs what {result.source} runs ({services})"
