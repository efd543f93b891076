"""`./inv rollback --env ENV --service NAME [--to VERSION | --steps N]`: a new manifest
commit that restores one service's earlier entry from git history; the other
services are untouched and no history is rewritten (git's revert model, scoped to one
service).

The earlier image must still be in the registry with the recorded digest. The task then
deploys the new desired state with the rollout engine (`release.targets.host.rollout`).
A dry run makes the same checks (they only read) and stops before the commit.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from release.adapters import manifest_git
from release.base import console, exit_codes
from release.base.errors import ReleaseError, UsageError
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
    after: ServiceEntry  # `before` itself when it already is the one asked for
    manifest: str
    commit: str | None = None
    message: str | None = None  # the commit's message (a dry run's: would be)
    dry_run: bool = False

    @property
    def changes(self) -> bool:
        return self.after.image != self.before.image

    @property
    def exit_code(self) -> int:
        # A real rollback with nothing to do fails in render(), as a promote does.
        return exit_codes.DIFFERS if self.dry_run and self.changes else exit_codes.OK

    def to_dict(self) -> dict:
        return {
            "env": self.env,
            "service": self.service,
            "dry_run": self.dry_run,
            "manifest": self.manifest,
            "commit": self.commit,
            "message": self.message,
            "from": asdict(self.before),
            "to": asdict(self.after),
        }


def rollback(
    env: str,
    service: str,
    to_version: str | None = None,
    steps: int | None = None,
    root: Path = ROOT,
    registry: Registry | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
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
    entries = history.timeline(env, manifest_git.file_history(root, rel), service)
    if _already_runs(entries, current, to_version):
        return RollbackResult(env, service, current, current, rel, dry_run=dry_run)
    target = history.rollback_target(
        entries,
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
    result = RollbackResult(
        env, service, current, restored, rel, message=message, dry_run=dry_run
    )
    if dry_run:
        return result
    commit = manifest_store.save(
        env, manifest.with_service(service, restored), message, root
    )
    return replace(result, commit=commit)


def _already_runs(
    entries: Sequence[ServiceEntry], current: ServiceEntry, to_version: str | None
) -> bool:
    """`--to` the version running now, with no other image of it to go back to: the
    answer is "already there", not "no such earlier release"."""
    return to_version == current.version and not any(
        e.version == to_version and e.image != current.image for e in entries
    )


def render(result: RollbackResult, as_json: bool = False) -> None:
    _refuse_no_op(result)
    if as_json:
        console.json_result({**result.to_dict(), "deploy": None})
        return
    if not result.changes:
        console.info(f"dry run: nothing to roll back, {_runs(result)}")
        return
    b, a = result.before, result.after
    console.table(
        f"{'dry run: ' if result.dry_run else ''}rollback of {result.service} "
        f"in {result.env}",
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
    if result.dry_run:
        console.info(f"dry run: would commit {result.manifest}: {result.message}")
        console.detail("nothing committed, nothing deployed")
        return
    where = f"commit {result.commit[:12]}" if result.commit else "not committed"
    console.info(f"recorded in {result.manifest}: {where}")


def _refuse_no_op(result: RollbackResult) -> None:
    # A failure, not a no-op, as for promote: the rollback workflow would open an
    # empty pull request. A dry run is only asked what would change (exit 0).
    if not result.changes and not result.dry_run:
        raise ReleaseError(f"nothing to roll back: {_runs(result)}")


def _runs(result: RollbackResult) -> str:
    b = result.before
    return f"{result.env} already runs {result.service} {b.version} ({b.image_ref.tag})"


@contextlib.contextmanager
def json_with_deploy(result: RollbackResult):
    """`--json` when the rollback is also deployed: the deploy prints its own JSON
    document, so it is caught and nested as "deploy", and stdout stays one document,
    printed also when the deploy fails (the commit is made either way)."""
    _refuse_no_op(result)
    caught = io.StringIO()
    try:
        with contextlib.redirect_stdout(caught):
            yield
    finally:
        console.json_result(
            {**result.to_dict(), "deploy": _document(caught.getvalue())}
        )


def _document(text: str) -> dict | None:
    """The deploy's JSON; None when it stopped before printing one (a held lock)."""
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:  # cut short (interrupted): pass it on rather than lose it
        sys.stderr.write(text)
        return None
