"""`./inv rollback --env ENV --service NAME [--to VERSION | --steps N]`: a new manifest
commit that restores one service's earlier entry from git history; the other
services are untouched and no history is rewritten (git's revert model, scoped to one
service).

The earlier image must still be in the registry with the recorded digest. The task then
deploys the new desired state with the rollout engine (`release.targets.host.rollout`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from release.adapters import manifest_git
from release.base import console
from release.base.errors import UsageError
from release.base.layout import ROOT, check_env, select_services
from release.gitops import history
from release.gitops import store as manifest_store
from release.images.registry import registry_holding
from release.model import releases
from release.model.manifest import ServiceEntry
from release.model.registry import Registry, short, verify_tag


@dataclass(frozen=True)
class RollbackResult:
    env: str
    service: str
    before: ServiceEntry
    after: ServiceEntry
    manifest: str
    commit: str | None


def rollback(
    env: str,
    service: str,
    to_version: str | None = None,
    steps: int | None = None,
    root: Path = ROOT,
    registry: Registry | None = None,
    now: datetime | None = None,
) -> RollbackResult:
    check_env(env)
    if not service:
        raise UsageError("name the service to roll back with --service")
    select_services([service], root)
    if to_version and steps:
        raise UsageError("give --to or --steps, not both")
    if not manifest_store.is_committed(env):
        raise UsageError(
            f"the {env} manifest is not kept in git (ignored on purpose), so it has "
            "no history to roll back; roll back staging or prod"
        )
    manifest = manifest_store.read(env, root)
    current = manifest.services.get(service)
    if current is None:
        raise UsageError(f"{service} is not in the {env} manifest")
    manifest_store.check_can_record(env, root)
    path = manifest_store.manifest_path(env, root)
    rel = manifest_git.relative(root, path)
    revisions = manifest_git.file_history(root, rel)
    target = history.rollback_target(
        history.timeline(env, revisions, service),
        current,
        env=env,
        service=service,
        to_version=to_version,
        steps=steps or 1,
    )
    ref = target.image_ref
    registry = registry or registry_holding({ref.registry})
    verify_tag(
        ref.repository, ref.tag, ref.digest, registry.digest_of(ref.path, ref.tag)
    )
    restored = releases.restored_entry(
        target, current, now or datetime.now(timezone.utc), manifest_git.actor(root)
    )
    message = releases.commit_message(
        env,
        [releases.Line(service, target.version, ref.tag)],
        note=f"rollback from {current.version} {current.image_ref.tag}",
    )
    commit = manifest_store.save(
        env, manifest.with_service(service, restored), message, root
    )
    return RollbackResult(env, service, current, restored, rel, commit)


def render(result: RollbackResult) -> None:
    b, a = result.before, result.after
    console.table(
        f"rollback of {result.service} in {result.env}",
        ["", "version", "image tag", "digest", "git sha"],
        [
            [
                "from",
                b.version,
                b.image_ref.tag,
                short(b.image_ref.digest),
                b.git_sha[:12],
            ],
            [
                "to",
                a.version,
                a.image_ref.tag,
                short(a.image_ref.digest),
                a.git_sha[:12],
            ],
        ],
    )
    where = f"commit {result.commit[:12]}" if result.commit else "not committed"
    console.info(f"recorded in {result.manifest}: {where}")
